"""SQLite's memory in a process stays within FORUM_SQLITE_MEMORY_MB, however many pooled
connections have read: each connection would otherwise keep a page cache of its own."""

from __future__ import annotations

import _sqlite3
import ctypes
import sqlite3

import pytest
from sqlalchemy import text

from forum.config import Settings
from forum.db import make_engine

_lib = ctypes.CDLL(_sqlite3.__file__)  # the SQLite the sqlite3 module uses
_lib.sqlite3_memory_used.restype = ctypes.c_int64
MB = 1024 * 1024


@pytest.fixture
def big_file(tmp_path):
    """A database of about 12 MB: more than the page cache of one connection (2 MB) holds."""
    path = tmp_path / "big.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, body BLOB)")
        conn.executemany("INSERT INTO t (body) VALUES (randomblob(3000))", ([] for _ in range(4000)))
    yield path
    with sqlite3.connect(":memory:") as conn:  # the bound is the process's: the other tests' default
        conn.execute(f"PRAGMA soft_heap_limit={int(Settings().sqlite_memory_mb * MB)}")


def _read_on_many_connections(path, memory_mb: float, connections: int = 8) -> int:
    engine = make_engine(Settings(database_url=f"sqlite:///{path}", sqlite_memory_mb=memory_mb))
    held = [engine.connect() for _ in range(connections)]  # all checked out at once, as under load
    try:
        before = _lib.sqlite3_memory_used()
        for conn in held:
            assert conn.execute(text("SELECT count(*), sum(length(body)) FROM t")).one() == (4000, 12_000_000)
        return _lib.sqlite3_memory_used() - before
    finally:
        for conn in held:
            conn.close()
        engine.dispose()


def test_the_page_caches_of_every_connection_stay_within_the_bound(big_file):
    unbounded = _read_on_many_connections(big_file, 0)
    assert unbounded > 8 * MB  # eight connections, each with its own cache of up to 2 MB
    bounded = _read_on_many_connections(big_file, 2)
    assert bounded < 3 * MB, f"SQLite grew by {bounded / MB:.1f} MB with a 2 MB bound"


def test_the_bound_is_the_setting(big_file):
    engine = make_engine(Settings(database_url=f"sqlite:///{big_file}", sqlite_memory_mb=5))
    with engine.connect() as conn:
        assert conn.execute(text("PRAGMA soft_heap_limit")).scalar() == 5 * MB
    engine.dispose()


def test_after_a_burst_only_a_few_connections_stay_open_and_their_memory_is_given_back(big_file):
    """Each open SQLite connection holds its own schema, prepared statements and cache in the
    worker: a burst gets as many as it needs (up to forum.db.SQLITE_POOL_MAX at once), and once it
    is over the process keeps only SQLITE_POOL_KEPT of them."""
    from forum.db import SQLITE_POOL_KEPT, SQLITE_POOL_MAX

    engine = make_engine(Settings(database_url=f"sqlite:///{big_file}", sqlite_memory_mb=0))
    try:
        before = _lib.sqlite3_memory_used()
        held = [engine.connect() for _ in range(SQLITE_POOL_MAX)]  # every one served at once
        for conn in held:
            assert conn.execute(text("SELECT count(*) FROM t")).scalar() == 4000
        during = _lib.sqlite3_memory_used() - before
        for conn in held:
            conn.close()
        after = _lib.sqlite3_memory_used() - before
        assert engine.pool.checkedin() == SQLITE_POOL_KEPT < SQLITE_POOL_MAX
        assert after < during * (SQLITE_POOL_KEPT + 2) / SQLITE_POOL_MAX, (during, after)
    finally:
        engine.dispose()
