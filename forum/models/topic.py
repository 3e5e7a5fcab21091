from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from forum.models.base import Base, utcnow
from forum.models.category import Category
from forum.models.user import User


class Topic(Base):
    __tablename__ = "topics"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(255))
    slug: Mapped[str] = mapped_column(String(255))
    # None for a private message (archetype "private_message"), which belongs to no category.
    category_id: Mapped[int | None] = mapped_column(ForeignKey("categories.id"))
    archetype: Mapped[str] = mapped_column(String(20), default="regular", server_default="regular")
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    last_post_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    bumped_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_posted_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Counters kept by the services in the post's own transaction.
    highest_post_number: Mapped[int] = mapped_column(Integer, default=0)
    posts_count: Mapped[int] = mapped_column(Integer, default=0)
    like_count: Mapped[int] = mapped_column(Integer, default=0)
    views: Mapped[int] = mapped_column(Integer, default=0)
    participant_count: Mapped[int] = mapped_column(Integer, default=1)
    # Distinct signed-in people who opened the topic (see forum/tracking.py).
    seen_by_count: Mapped[int] = mapped_column(Integer, default=0)
    pinned: Mapped[bool] = mapped_column(Boolean, default=False)
    pinned_globally: Mapped[bool] = mapped_column(Boolean, default=False)
    closed: Mapped[bool] = mapped_column(Boolean, default=False)
    archived: Mapped[bool] = mapped_column(Boolean, default=False)
    visible: Mapped[bool] = mapped_column(Boolean, default=True)
    deleted_at: Mapped[datetime | None]
    # Slow mode: the least number of seconds between two replies of one person (0: off).
    slow_mode_seconds: Mapped[int] = mapped_column(Integer, default=0)

    category: Mapped[Category | None] = relationship(lazy="joined")
    user: Mapped[User] = relationship(foreign_keys=[user_id], lazy="joined", innerjoin=True)
    last_post_user: Mapped[User | None] = relationship(foreign_keys=[last_post_user_id], lazy="joined")

    @property
    def is_private_message(self) -> bool:
        return self.archetype == "private_message"

    @property
    def reply_count(self) -> int:
        return max(self.posts_count - 1, 0)


Index("ix_topics_bumped", Topic.bumped_at.desc())
Index("ix_topics_category_bumped", Topic.category_id, Topic.bumped_at.desc())
Index("ix_topics_user", Topic.user_id, Topic.created_at.desc())
# Topic lists read these in order: the pinned and unpinned streams of /latest and of a category,
# and "new" topics by creation time.
Index("ix_topics_global_stream", Topic.pinned_globally, Topic.bumped_at.desc(), Topic.id.desc())
Index("ix_topics_category_stream", Topic.category_id, Topic.pinned, Topic.bumped_at.desc(), Topic.id.desc())
Index("ix_topics_created", Topic.created_at)
