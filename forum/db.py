"""Engine and sessions.

SQLite runs in WAL mode with foreign keys on and a busy timeout. Write transactions start with
BEGIN IMMEDIATE so that the busy timeout applies to them: a deferred transaction that upgrades to
a write lock fails at once instead of waiting, which is how concurrent repliers used to lose posts.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine, create_engine, event, exc
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from forum.config import Settings


def make_engine(settings: Settings) -> Engine:
    url = make_url(settings.database_url)
    if url.get_backend_name() == "sqlite":
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": settings.sqlite_busy_timeout_ms / 1000},
            pool_size=20,
            max_overflow=20,
        )
        busy_ms = settings.sqlite_busy_timeout_ms

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):
            # Let SQLAlchemy, not the driver, decide when transactions begin.
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute(f"PRAGMA busy_timeout={int(busy_ms)}")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn):
            if conn.get_execution_options().get("forum_write"):
                conn.exec_driver_sql("BEGIN IMMEDIATE")
            else:
                conn.exec_driver_sql("BEGIN")

        return engine
    engine = create_engine(url, pool_size=10, max_overflow=20)
    _ping_when_idle(engine)
    return engine


PING_AFTER_IDLE_SECONDS = 10.0


def _ping_when_idle(engine: Engine) -> None:
    """Check a pooled connection before use only when it sat unused for a while.

    pool_pre_ping would add a round trip to every request. A connection that was in use seconds
    ago is alive unless the server restarted in between; then the request fails with a
    disconnection (answered 503 with Retry-After, see forum/app.py), SQLAlchemy empties the pool,
    and the next requests connect afresh.
    """

    @event.listens_for(engine, "checkin")
    def _checked_in(_dbapi_conn, record):
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checkout(dbapi_conn, record, _proxy):
        since = record.info.get("idle_since")
        if since is None or time.monotonic() - since < PING_AFTER_IDLE_SECONDS:
            return
        try:
            alive = engine.dialect.do_ping(dbapi_conn)
        except engine.dialect.loaded_dbapi.Error:
            alive = False
        if not alive:
            raise exc.DisconnectionError("the connection did not answer a ping")  # the pool retries anew


class Database:
    """Holds the engine and the two session factories (reads and writes)."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.engine = make_engine(settings)
        # SQLite is a library reading a local file: a read is a function call, not a network round
        # trip, and in WAL mode readers never wait for writers. Request code may run such reads on
        # the event loop (see forum/deps.py); writes, which may wait for the lock, never do.
        self.reads_in_process = self.engine.dialect.name == "sqlite"
        self.read_sessions = sessionmaker(self.engine, expire_on_commit=False)
        self.write_sessions = sessionmaker(
            self.engine.execution_options(forum_write=True), expire_on_commit=False
        )
        from forum.pagecache import track_writes

        track_writes(self.read_sessions)
        track_writes(self.write_sessions)

    @contextmanager
    def write(self) -> Iterator[Session]:
        """A session whose transaction takes the write lock at once (SQLite) and commits on success."""
        with self.write_sessions() as session, session.begin():
            yield session

    @contextmanager
    def read(self) -> Iterator[Session]:
        with self.read_sessions() as session:
            yield session

    def dispose(self) -> None:
        self.engine.dispose()
