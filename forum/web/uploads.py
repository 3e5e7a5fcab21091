"""Serving files attached to posts, each fetch checked against the posts that hold it; and the
guard that refuses a request body larger than an upload may be before it is read."""

from __future__ import annotations

import json
import re
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, RedirectResponse, Response
from starlette.requests import Request as StarletteRequest

from forum import permissions, uploads
from forum.deps import SessionDep, SettingsDep, ViewerDep
from forum.errors import NotFound
from forum.i18n import _, translate
from forum.models import Upload
from forum.permissions import Viewer

router = APIRouter()

ORIGINAL_RE = re.compile(r"^([0-9a-f]{40})\.([a-z0-9]{1,10})$")
OPTIMIZED_RE = re.compile(r"^([0-9a-f]{40})_2_(\d{1,5})x(\d{1,5})\.([a-z0-9]{1,10})$")
PUBLIC_MAX_AGE = 300


def _disposition(upload: Upload) -> str:
    """Raster images inline; everything else (SVG, HTML, documents) as a download, with a safe name."""
    kind = "inline" if uploads.is_image(upload) else "attachment"
    name = upload.original_filename.replace("\r", "").replace("\n", "")
    fallback = re.sub(r"[^A-Za-z0-9._-]", "_", name)[:100] or "file"
    return f"{kind}; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"


def _send(request: Request, session, viewer: Viewer, settings, upload: Upload, key: str, etag: str) -> Response:
    path = uploads.store_for(settings).path(key)
    if not path.is_file():
        raise NotFound()
    public = permissions.can_fetch_upload(session, Viewer(user=None), upload)
    headers = {
        "ETag": etag,
        "Cache-Control": f"public, max-age={PUBLIC_MAX_AGE}" if public else "private, no-cache",
        "Content-Disposition": _disposition(upload),
        "Content-Security-Policy": "sandbox",
        "X-Content-Type-Options": "nosniff",
        "Vary": "Cookie",
    }
    if etag in [t.strip() for t in request.headers.get("if-none-match", "").split(",")]:
        return Response(status_code=304, headers=headers)
    return FileResponse(path, media_type=upload.mime_type, headers=headers)


@router.get("/uploads/default/original/{depth}/{name}")
def original(request: Request, session: SessionDep, viewer: ViewerDep, settings: SettingsDep, depth: str,
             name: str):
    m = ORIGINAL_RE.match(name)
    if depth != "1X" or not m:
        raise NotFound()
    upload = uploads.fetchable(session, viewer, m.group(1), m.group(2))
    return _send(request, session, viewer, settings, upload, uploads.original_key(upload), f'"{upload.sha1}"')


@router.get("/uploads/default/optimized/{depth}/{name}")
def optimized(request: Request, session: SessionDep, viewer: ViewerDep, settings: SettingsDep, depth: str,
              name: str):
    m = OPTIMIZED_RE.match(name)
    if depth != "1X" or not m:
        raise NotFound()
    upload = uploads.fetchable(session, viewer, m.group(1), m.group(4))
    key = uploads.optimized_key(upload)
    if key is None or key != f"optimized/1X/{name}":
        raise NotFound()
    return _send(request, session, viewer, settings, upload, key, f'"{upload.sha1}-2"')


@router.get("/uploads/short-url/{name}")
def short(session: SessionDep, viewer: ViewerDep, name: str):
    upload = uploads.by_short_name(session, viewer, name)
    return RedirectResponse(uploads.url(upload), status_code=302, headers={"Cache-Control": "private, no-cache"})


class BodyLimit:
    """Answers 413 at once to a request whose declared body is larger than any upload may be (plus
    room for the form around it), before a byte of it is read. Bodies sent without a length are cut
    off while they are stored (forum/uploads.py)."""

    def __init__(self, app, *, settings, renderer):
        self.app, self.settings, self.renderer = app, settings, renderer

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and scope["method"] in ("POST", "PUT"):
            for header, value in scope.get("headers", []):
                if header == b"content-length":
                    if value.isdigit() and int(value) > self.settings.max_upload_bytes + 1024 * 1024:
                        return await self._refuse(scope, send)
                    break
        await self.app(scope, receive, send)

    async def _refuse(self, scope, send):
        request = StarletteRequest(scope)
        message = translate(_("This file is larger than %(size)s, the most the forum accepts.",
                              size=uploads.human_size(self.settings.max_upload_bytes)),
                            self.renderer.gettext(request))
        wants_json = scope["path"].endswith(".json") or b"application/json" in dict(scope["headers"]).get(b"accept", b"")
        if wants_json:
            body, kind = json.dumps({"errors": [message], "error_type": "too_large"}).encode(), b"application/json"
        else:
            body, kind = message.encode(), b"text/plain; charset=utf-8"
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", kind), (b"content-length", str(len(body)).encode()),
                                (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": body})
