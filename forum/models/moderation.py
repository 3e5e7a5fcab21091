"""Moderation records: the staff action log, flags on posts, and invitations."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, SmallInteger, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from forum.models.base import Base, utcnow

# Discourse's post_action_type_id values for flags.
FLAG_OFF_TOPIC, FLAG_INAPPROPRIATE, FLAG_SOMETHING_ELSE, FLAG_SPAM = 3, 4, 7, 8
FLAG_TYPES = (FLAG_OFF_TOPIC, FLAG_INAPPROPRIATE, FLAG_SPAM, FLAG_SOMETHING_ELSE)
FLAG_NAMES = {FLAG_OFF_TOPIC: "off_topic", FLAG_INAPPROPRIATE: "inappropriate", FLAG_SPAM: "spam",
              FLAG_SOMETHING_ELSE: "notify_moderators"}

FLAG_PENDING, FLAG_AGREED, FLAG_DISAGREED, FLAG_DEFERRED = "pending", "agreed", "disagreed", "deferred"


class ModerationLog(Base):
    """One staff action (or an automatic one, with no actor): who, what, when, on what, why."""

    __tablename__ = "moderation_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    action: Mapped[str] = mapped_column(String(40))
    target_type: Mapped[str] = mapped_column(String(20))
    target_id: Mapped[int | None] = mapped_column(Integer)
    # The person whose account or content the action concerns, so a user's history is one lookup.
    target_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    topic_id: Mapped[int | None] = mapped_column(Integer)
    # What the object was called at the time: names and titles change, the log does not.
    summary: Mapped[str] = mapped_column(String(500), default="")
    reason: Mapped[str] = mapped_column(Text, default="")
    details: Mapped[str] = mapped_column(Text, default="")


class Flag(Base):
    """A signed-in user's report of a post; each user flags a post at most once."""

    __tablename__ = "flags"
    __table_args__ = (UniqueConstraint("post_id", "user_id", name="uq_flags_post_user"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    post_id: Mapped[int] = mapped_column(ForeignKey("posts.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    flag_type: Mapped[int] = mapped_column(SmallInteger)
    message: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(12), default=FLAG_PENDING)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    reviewed_at: Mapped[datetime | None]
    reviewed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))


class Invitation(Base):
    """An invitation by email or as a shareable link; the code in the link is the capability."""

    __tablename__ = "invitations"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    created_by_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    email: Mapped[str | None] = mapped_column(String(254))
    email_domain: Mapped[str | None] = mapped_column(String(254))
    tier: Mapped[str] = mapped_column(String(20))
    category_id: Mapped[int | None] = mapped_column(ForeignKey("categories.id", ondelete="SET NULL"))
    max_uses: Mapped[int] = mapped_column(Integer, default=1)
    uses: Mapped[int] = mapped_column(Integer, default=0)
    message: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]


Index("ix_moderation_log_action", ModerationLog.action, ModerationLog.id)
Index("ix_moderation_log_actor", ModerationLog.actor_id, ModerationLog.id)
Index("ix_moderation_log_target_user", ModerationLog.target_user_id, ModerationLog.id)
Index("ix_flags_status_post", Flag.status, Flag.post_id)
Index("ix_flags_user", Flag.user_id, Flag.created_at)
Index("ix_invitations_created_by", Invitation.created_by_id, Invitation.created_at)
