"""POST /uploads.json: a file for a post, as Discourse answers it (pydiscourse's upload_image)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import File, Form, UploadFile

from forum import uploads
from forum.api.base import api_router
from forum.deps import LimiterDep, SettingsDep, UserViewerDep, WriteDep
from forum.errors import ValidationFailed
from forum.i18n import _
from forum.models import Upload

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
def create(write: WriteDep, viewer: UserViewerDep, settings: SettingsDep, limiter: LimiterDep,
           file: Annotated[UploadFile | None, File()] = None, type: Annotated[str, Form()] = "composer"):
    """`file` (multipart), `type` (`composer`; others are taken as the same), `synchronous` (always)."""
    if file is None or not file.filename:
        raise ValidationFailed(_("Choose a file to upload."))
    checked = uploads.prepare(settings, viewer, filename=file.filename, source=file.file)
    with write() as tx:
        upload = uploads.record(tx, settings, viewer, checked, filename=file.filename, limiter=limiter)
        return serialize(upload)
