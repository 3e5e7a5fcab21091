"""What an import brought in: one row per imported thing, so a re-run imports only what is new."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from forum.models.base import Base, utcnow


class ImportedRecord(Base):
    """`source` names the origin ("discourse:https://forum.example.org", "mbox:<list address>",
    "loomio:<group key>"); `kind` the thing ("user", "category", "topic", "post", "poll", ...);
    `source_id` its id there; `local_id` its id here."""

    __tablename__ = "import_map"
    __table_args__ = (UniqueConstraint("source", "kind", "source_id", name="uq_import_map_source_kind_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    source: Mapped[str] = mapped_column(String(300))
    kind: Mapped[str] = mapped_column(String(30))
    source_id: Mapped[str] = mapped_column(String(300))
    local_id: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
