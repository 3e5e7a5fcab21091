"""Running Alembic migrations from code (`forum migrate`, `forum serve`, the tests)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool

from forum import MIGRATIONS_DIR, ROOT

REVISION_LINE = re.compile(r"^(revision|down_revision)\b[^=\n]*=\s*(.*?)\s*$", re.M)
PLAIN_VALUE = re.compile(r"""^(?:None|'([^']+)'|"([^"]+)")$""")


def alembic_config(database_url: str):
    from alembic.config import Config

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


@lru_cache(maxsize=1)
def head_revision() -> str | None:
    """The newest migration, read from the `revision` and `down_revision` lines of the migration
    files (what Alembic finds, without loading it); None when the files say something this reading
    does not follow (a merge, a computed value), and Alembic then decides."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in (MIGRATIONS_DIR / "versions").glob("*.py"):
        found = dict(REVISION_LINE.findall(path.read_text(encoding="utf-8")))
        values = {}
        for name in ("revision", "down_revision"):
            match = PLAIN_VALUE.match(found.get(name, ""))
            if match is None:
                return None
            values[name] = match.group(1) or match.group(2)
        if values["revision"] is None:
            return None
        revisions.add(values["revision"])
        if values["down_revision"] is not None:
            parents.add(values["down_revision"])
    heads = revisions - parents
    return heads.pop() if len(heads) == 1 else None


def _state(database_url: str) -> tuple[str | None, bool]:
    """(the database's migration revision or None, whether its query planner has statistics that
    still describe it)."""
    engine = create_engine(database_url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            try:
                current = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
            except SQLAlchemyError:
                conn.rollback()
                return None, False
            return current, _has_statistics(conn)
    finally:
        engine.dispose()


def _has_statistics(conn: Connection) -> bool:
    if conn.dialect.name == "sqlite":
        if not conn.execute(text("SELECT count(*) FROM sqlite_master WHERE name = 'sqlite_stat1'")).scalar():
            return False
        stats = conn.execute(text("SELECT stat FROM sqlite_stat1 WHERE tbl = 'topics'")).scalars().all()
        if not stats:
            return False
        # SQLite never refreshes them itself: statistics of a forum that has since more than
        # doubled in topics are refreshed too. (Partial indexes hold fewer rows: the largest counts.)
        analysed_rows = max(int(str(stat).split()[0]) for stat in stats)
        return 2 * analysed_rows >= (conn.execute(text("SELECT max(id) FROM topics")).scalar() or 0)
    if conn.dialect.name == "postgresql":
        return bool(conn.execute(text(
            "SELECT coalesce(last_analyze, last_autoanalyze) IS NOT NULL FROM pg_stat_user_tables "
            "WHERE relname = 'topics' AND schemaname = current_schema()")).scalar())
    return True


def upgrade(database_url: str, revision: str = "head", *, statistics: bool | None = None) -> None:
    """Bring the schema to `revision` (instances started together take turns), then give the query
    planner statistics when migrations ran, when it has none, or when asked (`statistics=True`).

    A database already at head is left as it is without loading Alembic: a start costs a query,
    not a second of migration checks and a full ANALYZE."""
    current, analysed = _state(database_url)
    ran = False
    if revision != "head" or current is None or current != head_revision():
        from alembic import command

        with one_at_a_time(database_url):
            command.upgrade(alembic_config(database_url), revision)
        after, analysed = _state(database_url)
        ran = after != current
    if statistics or (statistics is None and (ran or not analysed)):
        refresh_statistics(database_url)


def has_admin(database_url: str) -> bool:
    """Whether the forum has an administrator: one query, without loading the models."""
    engine = create_engine(database_url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            return conn.execute(text("SELECT 1 FROM users WHERE is_admin LIMIT 1")).first() is not None
    finally:
        engine.dispose()


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
    from alembic import command

    command.downgrade(alembic_config(database_url), revision)
