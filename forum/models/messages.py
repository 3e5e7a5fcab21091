"""Private messages and the groups they may be sent to.

A private message is a Topic with `archetype = "private_message"` and no category; who is in it is
written down here, person by person (TopicAllowedUser) and group by group (TopicAllowedGroup).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from forum.models.base import Base, utcnow

REGULAR = "regular"
PRIVATE_MESSAGE = "private_message"

# Who sees a group and its members: anyone signed in, or its members (and staff) only.
GROUP_PUBLIC, GROUP_MEMBERS = "public", "members"
GROUP_VISIBILITIES = (GROUP_PUBLIC, GROUP_MEMBERS)
# Who may send a message to a group.
MESSAGEABLE_EVERYONE, MESSAGEABLE_MEMBERS, MESSAGEABLE_OWNERS = "everyone", "members", "owners"
MESSAGEABLE_LEVELS = (MESSAGEABLE_EVERYONE, MESSAGEABLE_MEMBERS, MESSAGEABLE_OWNERS)
# The built-in staff group: its members are the forum's moderators and admins, never listed in group_users.
MODERATORS_GROUP = "moderators"


class Group(Base):
    __tablename__ = "groups"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(40))
    name_lower: Mapped[str] = mapped_column(String(40), unique=True)
    full_name: Mapped[str] = mapped_column(String(100), default="")
    visibility: Mapped[str] = mapped_column(String(10), default=GROUP_PUBLIC)
    messageable_level: Mapped[str] = mapped_column(String(10), default=MESSAGEABLE_EVERYONE)
    # Built-in: membership follows the staff flags (the `moderators` group).
    automatic: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class GroupUser(Base):
    __tablename__ = "group_users"
    __table_args__ = (UniqueConstraint("group_id", "user_id", name="uq_group_users_group_user"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("groups.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    owner: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class TopicAllowedUser(Base):
    __tablename__ = "topic_allowed_users"
    __table_args__ = (UniqueConstraint("topic_id", "user_id", name="uq_topic_allowed_users_topic_user"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    topic_id: Mapped[int] = mapped_column(ForeignKey("topics.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    # The person's own inbox state: an archived message leaves the inbox until someone replies.
    archived: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class TopicAllowedGroup(Base):
    __tablename__ = "topic_allowed_groups"
    __table_args__ = (UniqueConstraint("topic_id", "group_id", name="uq_topic_allowed_groups_topic_group"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    topic_id: Mapped[int] = mapped_column(ForeignKey("topics.id", ondelete="CASCADE"))
    group_id: Mapped[int] = mapped_column(ForeignKey("groups.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


Index("ix_group_users_user", GroupUser.user_id)
Index("ix_topic_allowed_users_user", TopicAllowedUser.user_id, TopicAllowedUser.topic_id)
Index("ix_topic_allowed_groups_group", TopicAllowedGroup.group_id, TopicAllowedGroup.topic_id)
