"""Engine and sessions, and the order in which write transactions lock rows.

SQLite runs in WAL mode with foreign keys on and a busy timeout. Write transactions start with
BEGIN IMMEDIATE so that the busy timeout applies to them: a deferred transaction that upgrades to
a write lock fails at once instead of waiting, which is how concurrent repliers used to lose posts.
One writer at a time means SQLite never deadlocks.

PostgreSQL runs writers side by side, and two transactions that each wait for a row the other holds
deadlock: the server then rolls one back. So every write transaction takes its row locks in this
order, skipping what it does not need but never going back up the list:

1. The acting person's own `users` row. A signed-in request's write transaction takes it first
   (forum/web/deps.py `Writer`), and the posting services take it again for callers outside a
   request (`posting.lock_author`): it orders one person's simultaneous posts, so the second of two
   identical ones sees the first, and the least time between a newcomer's posts holds.
2. Rate-limit buckets (forum/ratelimit.py): keyed by the actor, so only their own requests meet there.
3. Other people's `users` rows whose counters change (the author of a post a moderator deletes),
   in id order (`posting.lock_users`).
4. `topics` rows, in id order (`posting.lock_topics`). The topic row is the gate to its posts:
   whatever changes a post, or adds a row that refers to one (a like, a flag), holds the topic first.
   A reply allocates its number under it; a moderator closes or moves under it; a like counts under it.
5. `posts` rows of those topics (reply and like counts, edits, deletion, renumbering).
6. `categories` rows, in id order (topic and post counts).
7. Rows that hang off the above: notifications, topic_users, search documents, polls, outbox items,
   the moderation log.
8. The page cache's `content_generation` row, bumped just before commit (forum/pagecache.py).

The locks are the weakest that serve. A row that is updated but never deleted or re-keyed is locked
`FOR NO KEY UPDATE` (`with_for_update(key_share=True)`), not `FOR UPDATE`: inserting a row that
refers to it (a notification for that person, a post in that topic) takes `FOR KEY SHARE` on it,
which `FOR NO KEY UPDATE` lets through and `FOR UPDATE` does not. Counters change by
`UPDATE … SET n = n + 1`, never by reading, adding and writing back.

A deadlock or serialization failure that happens anyway is not shown to anyone: the request is run
again (forum/retry.py).
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import anyio.to_thread
from sqlalchemy import Engine, create_engine, event, exc, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from forum import retry
from forum.config import Settings

SQLITE_POOL_KEPT = 6  # connections a process keeps open between bursts (bench/README.md)
SQLITE_POOL_MAX = 40  # connections open at once, at most


def make_engine(settings: Settings) -> Engine:
    url = make_url(settings.database_url)
    if url.get_backend_name() == "sqlite":
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": settings.sqlite_busy_timeout_ms / 1000},
            # Each SQLite connection kept open holds its own parsed schema, prepared statements and
            # page cache inside the worker. A few are kept for the request threads and the jobs; the
            # rest of a burst (up to the same 40 at once) gets connections closed when given back.
            pool_size=SQLITE_POOL_KEPT,
            max_overflow=SQLITE_POOL_MAX - SQLITE_POOL_KEPT,
        )
        busy_ms = settings.sqlite_busy_timeout_ms
        # SQLite's bound on its memory is one per process: every connection sets the same value.
        heap_limit = int(settings.sqlite_memory_mb * 1024 * 1024)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):
            # Let SQLAlchemy, not the driver, decide when transactions begin.
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute(f"PRAGMA busy_timeout={int(busy_ms)}")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute(f"PRAGMA soft_heap_limit={heap_limit}")
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
ASYNC_GENERATION_TIMEOUT = 2.0  # seconds a read of the generation on the event loop may take
ASYNC_GENERATION_RETRY = 5.0  # seconds before the loop's own connection is tried again after a failure


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
        from forum import observability

        observability.watch_pool(self.engine)
        self._local = threading.local()
        self._lock = threading.Lock()
        self._generation_conns: list[sqlite3.Connection] = []
        self._async_generation: tuple | None = None  # (event loop, psycopg.AsyncConnection)
        self._async_generation_retry = 0.0
        self.read_sessions = sessionmaker(self.engine, expire_on_commit=False)
        self.write_sessions = sessionmaker(
            self.engine.execution_options(forum_write=True), expire_on_commit=False
        )
        from forum.pagecache import QUIET, WROTE, track_writes

        self._quiet, self._wrote = QUIET, WROTE

        track_writes(self.read_sessions)
        track_writes(self.write_sessions)
        from forum import live

        # Where committed changes are announced (forum/live.py): set by the server while it runs,
        # and by `forum worker` when several processes share Redis.
        self.live_sink = None
        live.watch(self.read_sessions, lambda: self.live_sink)
        live.watch(self.write_sessions, lambda: self.live_sink)

    @contextmanager
    def write(self) -> Iterator[Session]:
        """A session whose transaction takes the write lock at once (SQLite) and commits on success."""
        with self.write_sessions() as session:
            with session.begin():
                yield session
                changed = not session.info.get(self._quiet) and bool(
                    session.info.get(self._wrote) or session.new or session.dirty or session.deleted)
            if changed:
                retry.note_change()  # a request that committed a real change is not run again

    @contextmanager
    def read(self) -> Iterator[Session]:
        with self.read_sessions() as session:
            yield session

    GENERATION = "SELECT value FROM content_generation WHERE id = 1"

    @staticmethod
    def _generations_sql(reader: int) -> str:
        row = -int(reader)  # a reader's own generation is kept in the row of their negated id
        return (f"SELECT coalesce(max(CASE WHEN id = 1 THEN value END), 0), "
                f"coalesce(max(CASE WHEN id = {row} THEN value END), 0) "
                f"FROM content_generation WHERE id IN (1, {row})")

    def generation(self) -> int:
        """The content generation (forum/pagecache.py), read as cheaply as this database allows.

        The caches in front of routing ask it on every hit, so it skips the ORM: on a SQLite file,
        each thread keeps a read-only connection of its own in autocommit mode, so every read is a
        fresh snapshot of what is committed (exact, as a session's read would be) for a few
        microseconds; elsewhere one Core statement on a pooled connection.
        """
        row = self._fetch(self.GENERATION)
        return row[0] if row else 0

    def generations(self, reader: int) -> tuple[int, int]:
        """The content generation and one signed-in reader's own (forum/pagecache.py), in one read."""
        row = self._fetch(self._generations_sql(reader))
        return (row[0], row[1]) if row else (0, 0)

    def _fetch(self, sql: str) -> tuple | None:
        path = self._sqlite_file()
        if path is not None:
            conn = getattr(self._local, "conn", None)
            try:
                if conn is None:
                    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=True,
                                           timeout=self.settings.sqlite_busy_timeout_ms / 1000)
                    conn.execute("PRAGMA query_only = 1")
                    self._local.conn = conn
                    with self._lock:
                        self._generation_conns.append(conn)
                return conn.execute(sql).fetchone()
            except sqlite3.Error:
                # The ordinary read below answers, or raises SQLAlchemy's error for the caller; this
                # thread's next read opens a connection of its own again.
                self._local.conn = None
        with self.engine.connect() as conn:
            found = conn.execute(text(sql)).first()
            return tuple(found) if found is not None else None

    def _sqlite_file(self) -> str | None:
        url = self.engine.url
        if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:" \
                or url.database.startswith("file:") or url.query:
            return None
        return url.database

    async def generation_async(self) -> int:
        """generation(), for code on the event loop. On PostgreSQL the read goes over a connection
        of the loop's own in autocommit mode (each read sees every commit), with no thread hand-off;
        if that connection fails, generation() in a thread answers (or raises SQLAlchemy's error)."""
        row = await self._fetch_async(self.GENERATION)
        return row[0] if row else 0

    async def generations_async(self, reader: int) -> tuple[int, int]:
        """generations(), for code on the event loop, as generation_async()."""
        row = await self._fetch_async(self._generations_sql(reader))
        return (row[0], row[1]) if row else (0, 0)

    async def _fetch_async(self, sql: str) -> tuple | None:
        if self.engine.dialect.name != "postgresql" or time.monotonic() < self._async_generation_retry:
            return await anyio.to_thread.run_sync(self._fetch, sql)
        import psycopg

        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(ASYNC_GENERATION_TIMEOUT):
                held = self._async_generation
                if held is None or held[0] is not loop or held[1].closed:
                    self.close_async_generation()
                    url = self.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
                    held = self._async_generation = (loop, await psycopg.AsyncConnection.connect(
                        url, autocommit=True, connect_timeout=5, keepalives=1, keepalives_idle=10))
                cursor = await held[1].execute(sql)
                return await cursor.fetchone()
        except (psycopg.Error, TimeoutError):
            # A server gone, restarting or not answering: the pool's read decides (and raises
            # SQLAlchemy's error for the caller); the loop's connection is tried again later.
            self.close_async_generation()
            self._async_generation_retry = time.monotonic() + ASYNC_GENERATION_RETRY
            return await anyio.to_thread.run_sync(self._fetch, sql)

    def close_async_generation(self) -> None:
        held, self._async_generation = self._async_generation, None
        if held is not None and not held[1].closed:
            held[1].pgconn.finish()  # without the (possibly finished) loop it was opened on

    def dispose(self) -> None:
        self.close_async_generation()
        with self._lock:
            conns, self._generation_conns = self._generation_conns, []
            # Forgotten by every thread, so that none reads through a closed one (a worker forked
            # after this would otherwise have read every generation through the pool).
            self._local = threading.local()
        for conn in conns:
            try:
                conn.close()
            except sqlite3.Error:
                pass
        self.engine.dispose()
