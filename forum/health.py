"""Is this process fit to serve? What `/health/ready` answers: cheap checks, each named.

* database: one `SELECT 1` through the pool;
* migrations: the database's Alembic revision is the code's head (a process started on an older
  schema, or a database upgraded by newer code, is not ready);
* redis: answers a PING (only when `FORUM_REDIS_URL` is set);
* outbox: no background item has waited longer than `STUCK_AFTER` (no worker is draining).
"""

from __future__ import annotations

from datetime import timedelta
from functools import lru_cache

from sqlalchemy import func, select, text
from sqlalchemy.exc import SQLAlchemyError

from forum.models import OutboxItem, utcnow

STUCK_AFTER = timedelta(minutes=15)


@lru_cache(maxsize=1)
def head_revision() -> str | None:
    from forum.migrate import alembic_config, head_revision

    found = head_revision()
    if found is not None:
        return found
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()


def readiness(db, limiter) -> dict[str, str]:
    """{check: "ok" | what is wrong}; every value "ok" means ready."""
    checks: dict[str, str] = {}
    try:
        with db.read() as session:
            session.execute(text("SELECT 1"))
            checks["database"] = "ok"
            current = session.execute(text("SELECT version_num FROM alembic_version")).scalar()
            checks["migrations"] = "ok" if current == head_revision() else f"at {current}, code expects {head_revision()}"
            oldest = session.scalar(select(func.min(OutboxItem.available_at)).where(
                OutboxItem.done_at.is_(None), OutboxItem.failed_at.is_(None)))
            late = oldest is not None and utcnow() - _aware(oldest) > STUCK_AFTER
            checks["outbox"] = "ok" if not late else "items waiting over 15 minutes: is a worker running?"
    except SQLAlchemyError as e:
        checks.setdefault("database", f"unreachable ({type(e.orig if hasattr(e, 'orig') else e).__name__})")
    if limiter is not None and limiter.configured:
        status = limiter.redis_status()
        checks["redis"] = "ok" if status == "ok" else "unreachable"
    return checks


def _aware(value):
    from datetime import UTC

    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
