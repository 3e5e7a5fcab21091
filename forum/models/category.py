from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Integer, SmallInteger, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from forum.models.base import Base, utcnow

# Levels a category grants an audience, ordered: each includes the ones below it.
NONE, SEE, REPLY, CREATE = 0, 1, 2, 3
LEVEL_NAMES = {NONE: "none", SEE: "see", REPLY: "reply", CREATE: "create"}
LEVELS_BY_NAME = {v: k for k, v in LEVEL_NAMES.items()}
AUDIENCES = ("everyone", "participant", "worker", "member")


class Category(Base):
    __tablename__ = "categories"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(80))
    slug: Mapped[str] = mapped_column(String(80), index=True)
    description: Mapped[str] = mapped_column(Text, default="")
    color: Mapped[str] = mapped_column(String(6), default="0088CC")
    text_color: Mapped[str] = mapped_column(String(6), default="FFFFFF")
    position: Mapped[int] = mapped_column(Integer, default=0)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("categories.id"))
    # The viewing-level matrix: one level per audience.
    level_everyone: Mapped[int] = mapped_column(SmallInteger, default=CREATE)
    level_participant: Mapped[int] = mapped_column(SmallInteger, default=CREATE)
    level_worker: Mapped[int] = mapped_column(SmallInteger, default=CREATE)
    level_member: Mapped[int] = mapped_column(SmallInteger, default=CREATE)
    # Least seconds between two posts of a new participant in this category (0: only the site-wide rule).
    new_participant_post_interval: Mapped[int] = mapped_column(Integer, default=0)
    topic_count: Mapped[int] = mapped_column(Integer, default=0)
    post_count: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # The name and description in other languages: {"es": {"name": ..., "description": ...}}. The
    # slug (and so every URL) stays the one of `name`.
    localized: Mapped[dict | None] = mapped_column(JSON)

    def name_in(self, locale: str | None) -> str:
        return ((self.localized or {}).get(locale or "") or {}).get("name") or self.name

    def description_in(self, locale: str | None) -> str:
        return ((self.localized or {}).get(locale or "") or {}).get("description") or self.description

    def level_for(self, audience: str) -> int:
        return getattr(self, f"level_{audience}")

    def set_level(self, audience: str, level: int) -> None:
        if audience not in AUDIENCES or level not in LEVEL_NAMES:
            raise ValueError(f"bad audience or level: {audience}={level}")
        setattr(self, f"level_{audience}", level)
