"""Request parameters the way Discourse clients send them.

Query string, `application/x-www-form-urlencoded`, `multipart/form-data` and JSON bodies are all
accepted, and Rails bracket names are decoded: `post[raw]` → {"post": {"raw": …}}, `tags[]` → a
list, `permissions[everyone]=1` → {"permissions": {"everyone": "1"}}, `timings[3]=1200`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from fastapi import Request

from forum.errors import ForumError
from forum.i18n import _

_NAME_RE = re.compile(r"^([^\[\]]+)((?:\[[^\[\]]*\])*)$")
_PART_RE = re.compile(r"\[([^\[\]]*)\]")
MAX_DEPTH = 4


def decode(items: Iterable[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in items:
        m = _NAME_RE.match(key)
        if not m:
            continue
        parts = [m.group(1), *_PART_RE.findall(m.group(2))][:MAX_DEPTH]
        _assign(result, parts, value)
    return result


def _assign(container: dict[str, Any], parts: list[str], value: Any) -> None:
    cur: Any = container
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        if part == "":
            # `name[]`: the container we are in is a list.
            if isinstance(cur, list):
                cur.append(value)
            return
        nxt_is_list = not last and parts[i + 1] == ""
        if last:
            cur[part] = value
            return
        child = cur.get(part)
        if nxt_is_list:
            if not isinstance(child, list):
                child = cur[part] = []
        elif not isinstance(child, dict):
            child = cur[part] = {}
        cur = child


def _merge(into: dict[str, Any], other: dict[str, Any]) -> None:
    for key, value in other.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            _merge(into[key], value)
        else:
            into[key] = value


class Params:
    """Typed access to decoded parameters: `params.str("post", "raw")`."""

    def __init__(self, data: dict[str, Any]):
        self.data = data

    def get(self, *path: str) -> Any:
        cur: Any = self.data
        for part in path:
            if not isinstance(cur, dict) or part not in cur:
                return None
            cur = cur[part]
        return cur

    def str(self, *path: str) -> str | None:
        value = self.get(*path)
        if isinstance(value, list):
            value = value[-1] if value else None
        if value is None or isinstance(value, dict):
            return None
        if isinstance(value, bool):
            return "true" if value else "false"
        return str(value)

    def int(self, *path: str) -> int | None:
        value = self.str(*path)
        if value is None or value.strip() == "":
            return None
        try:
            number = int(value.strip())
        except ValueError:
            raise ForumError(_("Parameter %(name)s must be a number.", name=".".join(path))) from None
        if abs(number) > 2**31 - 1:
            raise ForumError(_("Parameter %(name)s must be a number.", name=".".join(path)))
        return number

    def bool(self, *path: str) -> bool:
        value = self.get(*path)
        if isinstance(value, bool):
            return value
        return (self.str(*path) or "").lower() in ("true", "1", "yes", "on")

    def list(self, *path: str) -> list[str]:
        value = self.get(*path)
        if value is None:
            return []
        if isinstance(value, dict):
            return [str(v) for v in value.values()]
        if not isinstance(value, list):
            value = [value]
        return [str(v) for v in value if v is not None and not isinstance(v, dict | list)]

    def dict(self, *path: str) -> dict[str, Any]:
        value = self.get(*path)
        return value if isinstance(value, dict) else {}


async def read_params(request: Request) -> Params:
    items: list[tuple[str, Any]] = list(request.query_params.multi_items())
    json_body: dict[str, Any] = {}
    if request.method not in ("GET", "HEAD"):
        ctype = request.headers.get("content-type", "").lower()
        if ctype.startswith("application/json"):
            raw = await request.body()
            if raw.strip():
                try:
                    body = await request.json()
                except ValueError:
                    raise ForumError(_("The request body is not valid JSON.")) from None
                if isinstance(body, dict):
                    json_body = body
        elif ctype.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
            form = await request.form()
            items += [(k, v) for k, v in form.multi_items() if isinstance(v, str)]
    data = decode(items)
    # JSON bodies may also use bracket names at the top level.
    flat = {k: v for k, v in json_body.items() if "[" in k}
    nested = {k: v for k, v in json_body.items() if "[" not in k}
    _merge(data, decode(flat.items()))
    _merge(data, nested)
    return Params(data)
