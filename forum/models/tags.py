"""Tags: names that cross categories (`italy`, `social-coops`), their groups, where they may be used,
the topics that carry them and who watches them.

No counts are stored: how many topics carry a tag depends on who asks (forum/permissions.py), so it
is counted when asked, through the same visibility clause every list uses.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, SmallInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from forum.models.base import Base, utcnow
from forum.models.notifications import NORMAL

TAG_NAME_MAX = 40


class Tag(Base):
    __tablename__ = "tags"

    id: Mapped[int] = mapped_column(primary_key=True)
    # Lowercase letters, digits, "-" and "_" (forum/tags.py normalises and checks).
    name: Mapped[str] = mapped_column(String(TAG_NAME_MAX), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class TagGroup(Base):
    """Tags gathered under a name ("Countries", "Sectors"), allowed in categories together."""

    __tablename__ = "tag_groups"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class TagGroupMembership(Base):
    __tablename__ = "tag_group_memberships"

    tag_group_id: Mapped[int] = mapped_column(ForeignKey("tag_groups.id", ondelete="CASCADE"), primary_key=True)
    tag_id: Mapped[int] = mapped_column(ForeignKey("tags.id", ondelete="CASCADE"), primary_key=True)


class CategoryTag(Base):
    """A tag allowed in a category. A category with no allowed tags or groups allows every tag."""

    __tablename__ = "category_tags"

    category_id: Mapped[int] = mapped_column(ForeignKey("categories.id", ondelete="CASCADE"), primary_key=True)
    tag_id: Mapped[int] = mapped_column(ForeignKey("tags.id", ondelete="CASCADE"), primary_key=True)


class CategoryTagGroup(Base):
    __tablename__ = "category_tag_groups"

    category_id: Mapped[int] = mapped_column(ForeignKey("categories.id", ondelete="CASCADE"), primary_key=True)
    tag_group_id: Mapped[int] = mapped_column(ForeignKey("tag_groups.id", ondelete="CASCADE"), primary_key=True)


class TopicTag(Base):
    __tablename__ = "topic_tags"

    topic_id: Mapped[int] = mapped_column(ForeignKey("topics.id", ondelete="CASCADE"), primary_key=True)
    tag_id: Mapped[int] = mapped_column(ForeignKey("tags.id", ondelete="CASCADE"), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


Index("ix_topic_tags_tag", TopicTag.tag_id, TopicTag.topic_id)


class TagUser(Base):
    """One person's watching level for one tag (as CategoryUser for a category)."""

    __tablename__ = "tag_users"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    tag_id: Mapped[int] = mapped_column(ForeignKey("tags.id", ondelete="CASCADE"), primary_key=True)
    notification_level: Mapped[int] = mapped_column(SmallInteger, default=NORMAL)


Index("ix_tag_users_tag_level", TagUser.tag_id, TagUser.notification_level)
