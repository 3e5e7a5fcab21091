"""What someone is writing and has not posted yet, kept on the server (Discourse's drafts)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from forum.models.base import Base, utcnow


class Draft(Base):
    """One person's draft under one key: `new_topic`, or `topic_<id>` for a reply in that topic.

    `data` is the composer's state as Discourse keeps it, a JSON text (`reply`, `title`,
    `categoryId`, `action`, …); None once the draft was posted or discarded. `sequence` only ever
    grows, once per save and once per clear, and a save must name the sequence it started from, so
    two devices writing the same draft cannot overwrite each other's newer text unawares. The row
    outlives a clear for that reason (it holds the sequence, like Discourse's draft_sequences).
    """

    __tablename__ = "drafts"
    __table_args__ = (UniqueConstraint("user_id", "draft_key", name="uq_drafts_user_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    draft_key: Mapped[str] = mapped_column(String(40))
    sequence: Mapped[int] = mapped_column(Integer, default=0)
    data: Mapped[str | None] = mapped_column(Text, nullable=True)
    revisions: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


Index("ix_drafts_user_updated", Draft.user_id, Draft.updated_at)
