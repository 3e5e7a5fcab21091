from __future__ import annotations

from sqlalchemy import BigInteger
from sqlalchemy.orm import Mapped, mapped_column

from forum.models.base import Base


class ContentGeneration(Base):
    """One row whose value goes up with every committed change that a page might show.

    Every process compares it with the value a cached anonymous page was rendered at, so a change
    made through any process shows at once everywhere (forum/pagecache.py).
    """

    __tablename__ = "content_generation"

    id: Mapped[int] = mapped_column(primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger, default=0)
