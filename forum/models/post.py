from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, SmallInteger, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from forum.models.base import Base, utcnow
from forum.models.user import User

LIKE = 2  # Discourse's post_action_type_id for a like


class Post(Base):
    __tablename__ = "posts"
    __table_args__ = (UniqueConstraint("topic_id", "post_number", name="uq_posts_topic_number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    topic_id: Mapped[int] = mapped_column(ForeignKey("topics.id", ondelete="CASCADE"))
    post_number: Mapped[int] = mapped_column(Integer)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    reply_to_post_number: Mapped[int | None] = mapped_column(Integer)
    raw: Mapped[str] = mapped_column(Text)
    cooked: Mapped[str] = mapped_column(Text)
    # The language the post is written in ("es"); None for posts from before languages were recorded.
    language: Mapped[str | None] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    edited_at: Mapped[datetime | None]
    version: Mapped[int] = mapped_column(Integer, default=1)
    like_count: Mapped[int] = mapped_column(Integer, default=0)
    reply_count: Mapped[int] = mapped_column(Integer, default=0)
    hidden: Mapped[bool] = mapped_column(Boolean, default=False)
    hidden_at: Mapped[datetime | None]
    # "flags" (hidden by enough community flags) or "moderator".
    hidden_reason: Mapped[str] = mapped_column(String(20), default="")
    deleted_at: Mapped[datetime | None]
    deleted_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    user: Mapped[User] = relationship(foreign_keys=[user_id], lazy="joined", innerjoin=True)


class PostRevision(Base):
    """The state of a post before an edit; revision n holds what version n said."""

    __tablename__ = "post_revisions"
    __table_args__ = (UniqueConstraint("post_id", "number", name="uq_post_revisions_post_number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    post_id: Mapped[int] = mapped_column(ForeignKey("posts.id", ondelete="CASCADE"))
    number: Mapped[int] = mapped_column(Integer)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    raw: Mapped[str] = mapped_column(Text)
    title: Mapped[str | None] = mapped_column(String(255))
    reason: Mapped[str] = mapped_column(String(255), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class PostAction(Base):
    """Likes (and, later, flags): at most one of each kind per user and post."""

    __tablename__ = "post_actions"
    __table_args__ = (
        UniqueConstraint("post_id", "user_id", "action_type", name="uq_post_actions_once"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    post_id: Mapped[int] = mapped_column(ForeignKey("posts.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    action_type: Mapped[int] = mapped_column(SmallInteger, default=LIKE)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


Index("ix_posts_user_created", Post.user_id, Post.created_at.desc())
Index("ix_posts_created", Post.created_at.desc())
Index("ix_post_actions_user", PostAction.user_id, PostAction.action_type)


class PostTranslation(Base):
    """A member's translation of a post into another language, shown in its place to readers of that
    language. It lives beside the post, not in the topic's numbered stream: it is no reply, moves no
    counter and bumps nothing, and whoever may read the post may read its translations."""

    __tablename__ = "post_translations"
    __table_args__ = (UniqueConstraint("post_id", "language", name="uq_post_translations_language"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    post_id: Mapped[int] = mapped_column(ForeignKey("posts.id", ondelete="CASCADE"), index=True)
    language: Mapped[str] = mapped_column(String(16))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    raw: Mapped[str] = mapped_column(Text)
    cooked: Mapped[str] = mapped_column(Text)
    version: Mapped[int] = mapped_column(Integer, default=1)
    like_count: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    user: Mapped[User] = relationship(foreign_keys=[user_id], lazy="joined", innerjoin=True)


class PostTranslationRevision(Base):
    """A translation before an edit; revision n holds what version n said."""

    __tablename__ = "post_translation_revisions"
    __table_args__ = (UniqueConstraint("translation_id", "number", name="uq_post_translation_revisions_number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    translation_id: Mapped[int] = mapped_column(ForeignKey("post_translations.id", ondelete="CASCADE"))
    number: Mapped[int] = mapped_column(Integer)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    raw: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    user: Mapped[User] = relationship(foreign_keys=[user_id], lazy="joined", innerjoin=True)


class PostTranslationLike(Base):
    """A reader's thanks for a translation, once per person."""

    __tablename__ = "post_translation_likes"

    translation_id: Mapped[int] = mapped_column(ForeignKey("post_translations.id", ondelete="CASCADE"),
                                                primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
