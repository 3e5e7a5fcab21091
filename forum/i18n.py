"""Translations. Every user-facing string goes through gettext; catalogs live in forum/locale."""

from __future__ import annotations

import io
from functools import lru_cache
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations

from forum import LOCALE_DIR

SOURCE_LOCALE = "en"


def available_locales(locale_dir: Path = LOCALE_DIR) -> tuple[str, ...]:
    """English plus every language with a catalog in forum/locale/<lang>/LC_MESSAGES/messages.po."""
    found = sorted(p.parent.parent.name for p in locale_dir.glob("*/LC_MESSAGES/messages.po"))
    return (SOURCE_LOCALE, *[code for code in found if code != SOURCE_LOCALE])


AVAILABLE_LOCALES = available_locales()


@lru_cache
def translations(locale: str, locale_dir: Path = LOCALE_DIR) -> NullTranslations:
    """The catalog for a language, compiled from its .po file when the process starts using it."""
    po_path = locale_dir / locale / "LC_MESSAGES" / "messages.po"
    if locale == SOURCE_LOCALE or not po_path.exists():
        return NullTranslations()
    with po_path.open("rb") as f:
        catalog = read_po(f, locale=locale)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return Translations(buffer, domain="messages")


def pick_locale(accept_language: str | None, user_locale: str | None, default: str,
                available: tuple[str, ...] | None = None) -> str:
    available = available or AVAILABLE_LOCALES
    if user_locale in available:
        return user_locale  # type: ignore[return-value]
    for part in (accept_language or "").split(","):
        code = part.split(";")[0].strip().lower().split("-")[0]
        if code in available:
            return code
    return default if default in available else SOURCE_LOCALE


class Text(str):
    """A user-facing message from Python code: English as a str, translatable where it is shown.

    It keeps its msgid and parameters so a page can render it in the reader's language.
    """

    msgid: str
    params: dict

    def __new__(cls, msgid: str, **params) -> Text:
        obj = super().__new__(cls, msgid % params if params else msgid)
        obj.msgid, obj.params = msgid, params
        return obj

    def translate(self, gettext) -> str:
        text = gettext(self.msgid)
        return text % self.params if self.params else text


def _(msgid: str, **params) -> Text:
    """Mark a message for extraction (pybabel keyword `_`) and keep it translatable."""
    return Text(msgid, **params)


def translate(message, gettext) -> str:
    if isinstance(message, Text):
        return message.translate(gettext)
    return gettext(message) if message else message
