"""Input hygiene and slugs."""

from __future__ import annotations

import re
import unicodedata

# C0 controls except tab, newline and carriage return; DEL; C1 controls; lone surrogates.
_CONTROL_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")


def clean(text: str | None, *, single_line: bool = False) -> str:
    """Strip characters that would break HTML, JSON or XML output, and normalise newlines."""
    if not text:
        return ""
    text = _CONTROL_RE.sub("", text).replace("\r\n", "\n").replace("\r", "\n")
    if single_line:
        text = " ".join(text.split())
    return text


def slugify(text: str, fallback: str = "topic") -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")
    return slug[:80].rstrip("-") or fallback


MAX_ID = 2**31 - 1


def parse_id(value: object) -> int | None:
    """A database id from user input, or None when it is not one (never an overflow downstream)."""
    if isinstance(value, int):
        number = value
    elif isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 10:
        number = int(value)
    else:
        return None
    return number if 0 < number <= MAX_ID else None
