"""Files for posts, as Discourse has them: POST /uploads.json (pydiscourse's upload_image), and the
files themselves under /uploads/default/… and /uploads/short-url/…, each fetch checked against the
posts that hold the file (permissions.can_fetch_upload), for a browser session or an API key."""

from __future__ import annotations

import re
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import File, Form, Request, UploadFile
from fastapi.responses import RedirectResponse, Response

from forum import accounts, permissions, uploads
from forum.api.base import ParamsDep, api_router
from forum.deps import LimiterDep, SessionDep, SettingsDep, UserViewerDep, ViewerDep, WriteDep
from forum.errors import NotFound, ValidationFailed
from forum.i18n import _
from forum.models import Upload, User
from forum.permissions import Viewer

router = api_router()


def serialize(upload: Upload) -> dict[str, Any]:
    shown_w, shown_h = uploads.shown_size(upload) if uploads.is_image(upload) else (None, None)
    return {
        "id": upload.id, "url": uploads.url(upload), "original_filename": upload.original_filename,
        "filesize": upload.filesize, "width": upload.width, "height": upload.height,
        "thumbnail_width": shown_w, "thumbnail_height": shown_h, "extension": upload.extension,
        "short_url": uploads.short_url(upload), "short_path": "/uploads/short-url/" + uploads.short_name(upload),
        "retain_hours": None, "human_filesize": uploads.human_size(upload.filesize), "dominant_color": None,
        "markdown": uploads.markdown_for(upload),
    }


@router.post("/uploads.json")
def create(session: SessionDep, write: WriteDep, viewer: UserViewerDep, settings: SettingsDep, limiter: LimiterDep,
           file: Annotated[UploadFile | None, File()] = None, type: Annotated[str, Form()] = "composer",
           upload_type: Annotated[str, Form()] = ""):
    """`file` (multipart), `type` or `upload_type` (`composer`, `avatar`, …: all are kept the same way;
    an avatar is then chosen with the avatar pick), `synchronous` (always)."""
    if file is None or not file.filename:
        raise ValidationFailed(_("Choose a file to upload."))
    allowed = uploads.limits(session, settings, viewer)
    checked = uploads.prepare(settings, viewer, allowed, filename=file.filename, source=file.file)
    with write() as tx:
        upload = uploads.record(tx, settings, viewer, checked, allowed, filename=file.filename, limiter=limiter)
        return serialize(upload)


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
    store = uploads.store_for(settings)
    # Lets the fast path (forum/web/uploads.py, which put this dict in the scope) answer this
    # person's next fetch of this file.
    sent = request.scope.get("forum.file_sent")
    if isinstance(sent, dict):
        sent["path"] = store.local_path(key)
    return store.response(key, media_type=upload.mime_type, headers=headers,
                          range_header=request.headers.get("range"))


@router.get("/uploads/default/original/1X/{name}")
def original(request: Request, session: SessionDep, viewer: ViewerDep, settings: SettingsDep, name: str):
    m = ORIGINAL_RE.match(name)
    if not m:
        raise NotFound()
    upload = uploads.fetchable(session, viewer, m.group(1), m.group(2))
    return _send(request, session, viewer, settings, upload, uploads.original_key(upload), f'"{upload.sha1}"')


@router.get("/uploads/default/optimized/1X/{name}")
def optimized(request: Request, session: SessionDep, viewer: ViewerDep, settings: SettingsDep, name: str):
    m = OPTIMIZED_RE.match(name)
    if not m:
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


@router.put("/u/{username}/preferences/avatar/pick.json")
def pick_avatar(session: SessionDep, write: WriteDep, viewer: UserViewerDep, params: ParamsDep, username: str):
    """`type=uploaded` with `upload_id` (an image from POST /uploads.json), or `type=system` for the
    letter avatar again; one's own picture, or anyone's for staff."""
    user = accounts.get_user(session, username)
    with write() as tx:
        target = tx.get(User, user.id)
        if (params.str("type") or "uploaded") in ("uploaded", "custom"):
            uploads.pick_avatar(tx, viewer, target, params.int("upload_id"))
        else:
            uploads.clear_avatar(tx, viewer, target)
    return {"success": "OK"}
