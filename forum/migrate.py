"""Running Alembic migrations from code (`forum migrate`, `forum serve`, the tests)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from forum import MIGRATIONS_DIR, ROOT


def alembic_config(database_url: str) -> Config:
    config = Config(str(ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["database_url"] = database_url
    config.attributes["skip_logging"] = True
    return config


MIGRATION_LOCK = 7_331_208  # the PostgreSQL advisory lock key that `forum serve` instances queue on


@contextmanager
def one_at_a_time(database_url: str) -> Iterator[None]:
    """Several instances started together (two hosts, or systemd starting `forum@8001` and
    `forum@8002`) migrate one after the other: the first upgrades, the others then find the schema
    at head. PostgreSQL: an advisory lock; a SQLite file: an exclusive flock on it."""
    url = make_url(database_url)
    if url.get_backend_name() == "postgresql":
        engine = create_engine(database_url, poolclass=NullPool)
        try:
            with engine.connect() as conn:
                conn.exec_driver_sql(f"SELECT pg_advisory_lock({MIGRATION_LOCK})")
                try:
                    yield
                finally:
                    conn.exec_driver_sql(f"SELECT pg_advisory_unlock({MIGRATION_LOCK})")
        finally:
            engine.dispose()
    elif url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:") \
            and not url.database.startswith("file:") and Path(url.database).parent.is_dir():
        import fcntl

        path = Path(url.database)  # (a folder that does not exist is SQLite's error to report)
        with open(path, "ab") as handle:  # flock does not touch SQLite's own (fcntl) locks
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
    else:
        yield


def upgrade(database_url: str, revision: str = "head") -> None:
    with one_at_a_time(database_url):
        command.upgrade(alembic_config(database_url), revision)
    refresh_statistics(database_url)


def refresh_statistics(database_url: str) -> None:
    """Give the query planner table statistics; without them SQLite picks poor indexes for topic lists."""
    engine = create_engine(database_url, poolclass=NullPool)
    try:
        with engine.begin() as conn:
            if engine.dialect.name == "sqlite":
                # PRAGMA optimize leaves a database that was never analysed without statistics, so
                # analyse every table, sampling at most a thousand rows per index to stay fast.
                conn.exec_driver_sql("PRAGMA analysis_limit=1000")
            conn.exec_driver_sql("ANALYZE")
    finally:
        engine.dispose()


def downgrade(database_url: str, revision: str) -> None:
    command.downgrade(alembic_config(database_url), revision)
