"""Where the posts of a merged topic went, so links to the emptied topic still find them."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer
from sqlalchemy.orm import Mapped, mapped_column

from forum.models.base import Base, utcnow


class MovedPost(Base):
    """Post `old_post_number` of topic `old_topic_id` is now the post `post_id`, wherever that is.

    Written when a topic is merged into another (its numbers are then never reused). The row follows
    the post itself, so later moves and merges are followed too. `old_topic_id` has no foreign key:
    the record outlives the emptied topic.
    """

    __tablename__ = "moved_posts"

    old_topic_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    old_post_number: Mapped[int] = mapped_column(Integer, primary_key=True)
    post_id: Mapped[int] = mapped_column(ForeignKey("posts.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


Index("ix_moved_posts_post", MovedPost.post_id)
