"""The forum's own scripts, styles and icons, addressed by their content.

Pages link to `/static/forum.css?v=<hash of the file>`. Such an address never changes meaning (a
new version of the file is a new address), so browsers and proxies keep it for a year without
asking again; any other address of a static file is revalidated on each use (ETag, 304).
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from urllib.parse import parse_qs

from fastapi.staticfiles import StaticFiles

from forum import STATIC_DIR

IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"


@lru_cache(maxsize=256)
def fingerprint(name: str) -> str:
    """The first 12 hex digits of the file's SHA-256 (read once per process: files change with a
    new release, which restarts it)."""
    try:
        return hashlib.sha256((STATIC_DIR / name).read_bytes()).hexdigest()[:12]
    except OSError:
        return ""


def static_url(name: str) -> str:
    version = fingerprint(name)
    return f"/static/{name}?v={version}" if version else f"/static/{name}"


class Assets(StaticFiles):
    """StaticFiles, with the caching rule above."""

    async def get_response(self, path: str, scope):
        response = await super().get_response(path, scope)
        if response.status_code in (200, 304):
            wanted = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("v", [""])[0]
            current = fingerprint(path)
            response.headers["cache-control"] = IMMUTABLE if current and wanted == current else REVALIDATE
        return response
