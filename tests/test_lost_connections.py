"""A PostgreSQL server that drops connections (a restart, a failover) costs at most one 503 per
process, never a 500, and idle pooled connections are checked before they are used."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, text

from forum import db as forum_db
from tests.conftest import PG_ADMIN_URL


def _terminate_pool_connections(database) -> int:
    """Kill the server side of every connection the app's pool holds, as a restart would."""
    name = database.engine.url.database
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            return len(conn.execute(text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = :name AND pid <> pg_backend_pid()"), {"name": name}).all())
    finally:
        admin.dispose()


@pytest.fixture
def pg_only(database_url, db):
    if not database_url.startswith("postgresql"):
        pytest.skip("dropped server connections are a PostgreSQL matter (SQLite has no server)")
    yield
    db.engine.dispose()  # connections the test killed must not reach the next test's clean-up


def test_an_idle_connection_killed_by_the_server_is_replaced_before_use(pg_only, client, db, monkeypatch,
                                                                        make_user, make_category, make_topic):
    make_topic(make_user("ana", tier="member"), make_category("News and events"), title="Assembly agenda")
    assert client.get("/latest").status_code == 200
    monkeypatch.setattr(forum_db, "PING_AFTER_IDLE_SECONDS", 0.0)  # every pooled connection counts as idle
    assert _terminate_pool_connections(db) >= 1
    page = client.get("/latest", headers={"Accept-Language": "en"})
    assert page.status_code == 200 and "Assembly agenda" in page.text


def test_a_connection_lost_while_in_use_answers_503_once_then_pages_work(pg_only, client, db, monkeypatch,
                                                                         make_user, make_category, make_topic):
    make_topic(make_user("ana", tier="member"), make_category("News and events"), title="Assembly agenda")
    assert client.get("/categories").status_code == 200
    monkeypatch.setattr(forum_db, "PING_AFTER_IDLE_SECONDS", 3600.0)  # no check: the loss shows in the request
    assert _terminate_pool_connections(db) >= 1
    statuses = [client.get("/categories").status_code for _ in range(3)]
    assert 500 not in statuses
    assert statuses[-1] == 200
    lost = [s for s in statuses if s != 200]
    assert lost in ([], [503])
