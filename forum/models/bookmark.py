"""Bookmarks: a person's own marks on posts and topics, with an optional name and reminder (Discourse's bookmarks)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, SmallInteger, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from forum.models.base import Base, utcnow

# What to do once the reminder was sent, numbered as Discourse numbers `auto_delete_preference`.
AUTO_DELETE_NEVER, AUTO_DELETE_WHEN_REMINDER_SENT, AUTO_DELETE_ON_OWNER_REPLY, AUTO_DELETE_CLEAR_REMINDER = 0, 1, 2, 3
BOOKMARKABLE_TYPES = ("Post", "Topic")


class Bookmark(Base):
    """One person's bookmark on one post or topic.

    Nothing of the post is copied here: its title and text are read when the bookmark is shown, and
    only while its owner may still read them. `reminder_zone` is the zone the reminder was chosen in
    ("tomorrow morning" in Madrid), so it is shown as it was meant. A reminder is sent once: the
    worker that sets `reminder_last_sent_at` from empty is the one that sends it.
    """

    __tablename__ = "bookmarks"
    __table_args__ = (UniqueConstraint("user_id", "bookmarkable_type", "bookmarkable_id",
                                       name="uq_bookmarks_user_bookmarkable"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    bookmarkable_type: Mapped[str] = mapped_column(String(10))
    bookmarkable_id: Mapped[int] = mapped_column(Integer)
    name: Mapped[str | None] = mapped_column(String(100))
    reminder_at: Mapped[datetime | None]
    reminder_zone: Mapped[str | None] = mapped_column(String(64))
    reminder_set_at: Mapped[datetime | None]
    reminder_last_sent_at: Mapped[datetime | None]
    auto_delete_preference: Mapped[int] = mapped_column(SmallInteger, default=AUTO_DELETE_CLEAR_REMINDER)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


Index("ix_bookmarks_user_updated", Bookmark.user_id, Bookmark.updated_at)
# The worker's question every tick: which reminders are due and not yet sent.
Index("ix_bookmarks_due", Bookmark.reminder_at, Bookmark.reminder_last_sent_at)
