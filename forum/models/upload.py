"""Files attached to posts, and which posts refer to them."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from forum.models.base import Base, utcnow


class Upload(Base):
    """A stored file, addressed by the SHA-1 of its (cleaned) content, as Discourse's uploads are.

    Identical files are stored once. Who may fetch it is decided by the posts that refer to it
    (`PostUpload`), see permissions.can_fetch_upload. Images keep their pixel size; an image wider
    than the display width has an optimized copy (`optimized_width` × `optimized_height`)."""

    __tablename__ = "uploads"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), nullable=True)
    sha1: Mapped[str] = mapped_column(String(40), unique=True)
    original_filename: Mapped[str] = mapped_column(String(255))
    extension: Mapped[str] = mapped_column(String(10))
    mime_type: Mapped[str] = mapped_column(String(100))
    filesize: Mapped[int] = mapped_column(Integer)
    width: Mapped[int | None] = mapped_column(Integer, nullable=True)
    height: Mapped[int | None] = mapped_column(Integer, nullable=True)
    optimized_width: Mapped[int | None] = mapped_column(Integer, nullable=True)
    optimized_height: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class PostUpload(Base):
    """Post `post_id` refers to upload `upload_id` (kept in step with the post's text on every edit)."""

    __tablename__ = "post_uploads"

    post_id: Mapped[int] = mapped_column(ForeignKey("posts.id", ondelete="CASCADE"), primary_key=True)
    upload_id: Mapped[int] = mapped_column(ForeignKey("uploads.id", ondelete="CASCADE"), primary_key=True)


Index("ix_post_uploads_upload", PostUpload.upload_id)
Index("ix_uploads_user_created", Upload.user_id, Upload.created_at)
