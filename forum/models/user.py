from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Integer, String, false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from forum.models.base import Base, utcnow

TIERS = ("participant", "worker", "member")


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(40))
    username_lower: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(100), default="")
    email: Mapped[str | None] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    tier: Mapped[str] = mapped_column(String(20), default="participant")
    is_moderator: Mapped[bool] = mapped_column(Boolean, default=False)
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    timezone: Mapped[str | None] = mapped_column(String(64))
    locale: Mapped[str | None] = mapped_column(String(16))
    # "light" or "dark"; None follows the system's setting (prefers-color-scheme).
    theme: Mapped[str | None] = mapped_column(String(8))
    # A picture the person uploaded (forum/uploads.py), shown instead of their letter avatar.
    uploaded_avatar_id: Mapped[int | None] = mapped_column(ForeignKey("uploads.id", ondelete="SET NULL",
                                                                      use_alter=True), nullable=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime | None]
    last_posted_at: Mapped[datetime | None]
    post_count: Mapped[int] = mapped_column(Integer, default=0)
    topic_count: Mapped[int] = mapped_column(Integer, default=0)
    # Moderation: sign-ups awaiting approval cannot log in; suspended users neither; silenced users read only.
    approved: Mapped[bool] = mapped_column(Boolean, default=True)
    suspended_until: Mapped[datetime | None]
    suspend_reason: Mapped[str] = mapped_column(String(500), default="")
    silenced_until: Mapped[datetime | None]
    silence_reason: Mapped[str] = mapped_column(String(500), default="")
    invited_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    # Made by an import (forum/imports/mbox.py) for someone known only by an e-mail address: no
    # password, nobody has logged in. Whoever proves the address (a password reset link sent to it)
    # takes the account over with its posts, and it stops being staged.
    staged: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())

    @property
    def is_staff(self) -> bool:
        return self.is_admin or self.is_moderator

    @property
    def display_name(self) -> str:
        return self.name or self.username


class UserSession(Base):
    """A server-side login session. The cookie holds a random token; only its hash is stored."""

    __tablename__ = "user_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    csrf_secret: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime] = mapped_column(default=utcnow)
    user_agent: Mapped[str] = mapped_column(String(255), default="")

    user: Mapped[User] = relationship(lazy="joined")


class SiteSetting(Base):
    """Key/value state kept in the database so that every process shares it (secret key, setup token)."""

    __tablename__ = "site_settings"

    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    value: Mapped[str] = mapped_column(String(2000))


class RateLimitBucket(Base):
    """Fixed-window counters shared by every process when no Redis is configured."""

    __tablename__ = "rate_limit_buckets"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    window_start: Mapped[datetime]
    count: Mapped[int] = mapped_column(Integer, default=0)

