"""Per-user state: notifications, reading and watching, email options and tokens, and the search index."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, SmallInteger, String, Text, false
from sqlalchemy.dialects.postgresql import TSVECTOR
from sqlalchemy.orm import Mapped, mapped_column

from forum.models.base import Base, utcnow

# Watching levels, numbered as Discourse numbers them (`notification_level`).
MUTED, NORMAL, TRACKING, WATCHING = 0, 1, 2, 3
WATCH_LEVEL_NAMES = {MUTED: "muted", NORMAL: "normal", TRACKING: "tracking", WATCHING: "watching"}


class Notification(Base):
    """Something that happened that one person should hear about.

    The text shown is built when it is read, from the topic and post as they are then and only if the
    reader may still see them: nothing copied from the post is stored here.
    """

    __tablename__ = "notifications"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(40))
    topic_id: Mapped[int | None] = mapped_column(ForeignKey("topics.id", ondelete="CASCADE"))
    post_id: Mapped[int | None] = mapped_column(ForeignKey("posts.id", ondelete="CASCADE"))
    post_number: Mapped[int | None] = mapped_column(Integer)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    # JSON: usernames of a grouped like, parameters a kind's message needs.
    data: Mapped[str] = mapped_column(Text, default="{}")
    count: Mapped[int] = mapped_column(Integer, default=1)
    read: Mapped[bool] = mapped_column(Boolean, default=False)
    high_priority: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    emailed_at: Mapped[datetime | None]


Index("ix_notifications_user_read", Notification.user_id, Notification.read, Notification.id)
Index("ix_notifications_user_topic", Notification.user_id, Notification.topic_id)


class TopicUser(Base):
    """One person's state in one topic: how far they have read, whether they opened it, how closely they watch it."""

    __tablename__ = "topic_users"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    topic_id: Mapped[int] = mapped_column(ForeignKey("topics.id", ondelete="CASCADE"), primary_key=True)
    last_read_post_number: Mapped[int] = mapped_column(Integer, default=0)
    # None: follow the category's level (or normal).
    notification_level: Mapped[int | None] = mapped_column(SmallInteger)
    # Set when the person opened the topic page: "seen by" counts these, never emails or dismissals.
    first_visited_at: Mapped[datetime | None]
    last_visited_at: Mapped[datetime | None]


Index("ix_topic_users_topic_level", TopicUser.topic_id, TopicUser.notification_level)


class CategoryUser(Base):
    __tablename__ = "category_users"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    category_id: Mapped[int] = mapped_column(ForeignKey("categories.id", ondelete="CASCADE"), primary_key=True)
    notification_level: Mapped[int] = mapped_column(SmallInteger, default=NORMAL)


Index("ix_category_users_category_level", CategoryUser.category_id, CategoryUser.notification_level)


# Email choices.
EMAIL_IMMEDIATE, EMAIL_NONE = "immediate", "none"
DIGEST_NONE, DIGEST_DAILY, DIGEST_WEEKLY = "none", "daily", "weekly"


class UserOption(Base):
    """Email preferences of one account; an account without a row has the defaults."""

    __tablename__ = "user_options"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    # Mentions, replies, quotes, likes, watched topics: "immediate" or "none".
    email_notifications: Mapped[str] = mapped_column(String(10), default=EMAIL_IMMEDIATE)
    email_digest: Mapped[str] = mapped_column(String(10), default=DIGEST_NONE)
    # The recipient's own clock: hour 0-23 in users.timezone; weekday 0 = Monday (weekly digests).
    digest_hour: Mapped[int] = mapped_column(SmallInteger, default=8)
    digest_weekday: Mapped[int] = mapped_column(SmallInteger, default=0)
    next_digest_at: Mapped[datetime | None] = mapped_column(index=True)
    last_digest_at: Mapped[datetime | None]
    # Notification emails and digests only go to confirmed addresses.
    email_confirmed_at: Mapped[datetime | None]
    # Others are not told "… is replying" while this person writes (forum/live.py).
    hide_presence: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # Who may start private messages with this person: "everyone", "following" (people this person
    # follows) or "nobody". Staff always may.
    messages_from: Mapped[str] = mapped_column(String(10), default="everyone", server_default="everyone")


class EmailToken(Base):
    """A single-use, expiring token sent by email (password reset, address confirmation). Only its hash is kept."""

    __tablename__ = "email_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    purpose: Mapped[str] = mapped_column(String(20))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    email: Mapped[str] = mapped_column(String(254))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]


class TopicViewMark(Base):
    """When a viewer (account or address) last counted as a view of a topic, so reloads do not add views."""

    __tablename__ = "topic_view_marks"

    key: Mapped[str] = mapped_column(String(120), primary_key=True)
    viewed_at: Mapped[datetime] = mapped_column(index=True)


class SearchDocument(Base):
    """One post in the full-text index.

    Terms are stems prefixed with the post's category (see forum/search.py), so a search reads only
    the index entries of categories the searcher may see. SQLite indexes the terms with an FTS5 table
    (`search_fts`, kept in step by triggers); PostgreSQL with the `tsv` column and a GIN index.
    """

    __tablename__ = "search_documents"

    post_id: Mapped[int] = mapped_column(ForeignKey("posts.id", ondelete="CASCADE"), primary_key=True)
    topic_id: Mapped[int] = mapped_column(ForeignKey("topics.id", ondelete="CASCADE"), index=True)
    category_id: Mapped[int] = mapped_column(Integer)
    title_terms: Mapped[str] = mapped_column(Text, default="")
    body_terms: Mapped[str] = mapped_column(Text, default="")
    tsv: Mapped[str | None] = mapped_column(Text().with_variant(TSVECTOR(), "postgresql"))
