"""Test fixtures: every test that touches the database runs once on SQLite and once on PostgreSQL.

Each backend gets a fresh database created for this run and migrated with Alembic; tables are
emptied after every test. Set FORUM_TEST_BACKENDS=sqlite (or postgresql) to run one backend only.
Under CI=true a missing PostgreSQL is a failure, not a skip.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Iterator

import pytest
from argon2 import PasswordHasher
from sqlalchemy import text

from forum import accounts, auth, categories, posting
from forum.config import Settings
from forum.db import Database
from forum.migrate import upgrade
from forum.models import Base, Post, Topic, User
from forum.permissions import Viewer

PG_ADMIN_URL = os.environ.get("FORUM_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
IN_CI = os.environ.get("CI", "").lower() == "true"
BACKENDS = [b for b in os.environ.get("FORUM_TEST_BACKENDS", "sqlite,postgresql").split(",") if b]
PASSWORD = "correct-horse-battery"

# Still argon2id, with cheap parameters: the suite hashes hundreds of passwords.
auth._hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


def _unavailable(reason: str):
    if IN_CI:
        pytest.fail(f"{reason} (CI=true: services are required)")
    pytest.skip(reason)


def _create_pg_database() -> str:
    import psycopg

    name = f"forum_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    admin = PG_ADMIN_URL.replace("postgresql+psycopg://", "postgresql://")
    try:
        with psycopg.connect(admin, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
    except psycopg.OperationalError as e:
        _unavailable(f"PostgreSQL is not reachable at {PG_ADMIN_URL}: {e}")
    return PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"


def _drop_pg_database(url: str) -> None:
    import psycopg

    name = url.rsplit("/", 1)[1]
    admin = PG_ADMIN_URL.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session", params=BACKENDS)
def database_url(request, tmp_path_factory) -> Iterator[str]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('sqlite') / 'forum.db'}"
        upgrade(url)
        yield url
    else:
        url = _create_pg_database()
        upgrade(url)
        yield url
        _drop_pg_database(url)


@pytest.fixture(scope="session")
def _database(database_url) -> Iterator[Database]:
    database = Database(Settings(database_url=database_url))
    yield database
    database.dispose()


def _empty_tables(database: Database) -> None:
    tables = [t.name for t in reversed(Base.metadata.sorted_tables)]
    with database.engine.begin() as conn:
        if database.engine.dialect.name == "postgresql":
            conn.execute(text("TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " RESTART IDENTITY CASCADE"))
        else:
            for t in tables:
                conn.execute(text(f'DELETE FROM "{t}"'))
            conn.execute(text("DELETE FROM sqlite_sequence")) if conn.execute(
                text("SELECT 1 FROM sqlite_master WHERE name='sqlite_sequence'")).first() else None


@pytest.fixture
def settings(database_url, tmp_path) -> Settings:
    # Generous limits so tests that post a lot are not throttled; rate-limit tests set their own.
    # Factories post the same default text many times: the duplicate-post check is off unless a test
    # turns it on.
    return Settings(database_url=database_url, posts_per_minute=1000, topics_per_hour=1000,
                    login_attempts_per_ip=1000, signups_per_ip_per_hour=1000, base_url="http://testserver",
                    inprocess_worker=False, unique_post_window=0, uploads_dir=str(tmp_path / "uploads"))


@pytest.fixture
def db(_database) -> Iterator[Database]:
    _empty_tables(_database)
    yield _database
    _empty_tables(_database)


@pytest.fixture
def app(settings, db):
    from forum.app import create_app

    return create_app(settings, db)


@pytest.fixture
def client(app):
    from fastapi.testclient import TestClient

    with TestClient(app) as c:
        yield c


@pytest.fixture
def make_client(app):
    """Several independent browsers against the same app."""
    from fastapi.testclient import TestClient

    clients = []

    def make():
        c = TestClient(app)
        clients.append(c)
        return c

    yield make
    for c in clients:
        c.close()


# --- factories --------------------------------------------------------------------------------

@pytest.fixture
def make_user(db):
    counter = {"n": 0}

    def make(username: str | None = None, *, tier: str = "participant", moderator: bool = False,
             admin: bool = False, name: str = "", password: str = PASSWORD) -> User:
        counter["n"] += 1
        username = username or f"user{counter['n']}"
        with db.write() as session:
            return accounts.create_user(session, username=username, email=f"{username.lower()}@example.org",
                                        password=password, name=name, tier=tier, moderator=moderator,
                                        admin=admin)

    return make


@pytest.fixture
def staff(make_user) -> User:
    return make_user("staffer", tier="member", admin=True)


LEVEL_PRESETS = categories.PRESETS


@pytest.fixture
def make_category(db, staff):
    def make(name: str, preset: str = "public", *, levels: dict[str, int] | None = None,
             parent_id: int | None = None):
        with db.write() as session:
            return categories.create_category(session, Viewer(staff), name=name, parent_id=parent_id,
                                              levels=levels or LEVEL_PRESETS[preset])

    return make


@pytest.fixture
def make_topic(db, settings):
    def make(user: User, category, title: str = "A topic about co-operation", raw: str = "The first post of it.") -> Topic:
        with db.write() as session:
            post = posting.create_topic(session, settings, Viewer(user), title=title, raw=raw,
                                        category_id=category.id)
            return session.get(Topic, post.topic_id)

    return make


@pytest.fixture
def make_reply(db, settings):
    def make(user: User, topic: Topic, raw: str = "A reply with enough text.", reply_to: int | None = None) -> Post:
        with db.write() as session:
            return posting.create_reply(session, settings, Viewer(user), topic_id=topic.id, raw=raw,
                                        reply_to_post_number=reply_to)

    return make


# --- browser-ish helpers ----------------------------------------------------------------------

CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(client, path: str = "/latest") -> str:
    page = client.get(path)
    match = CSRF_RE.search(page.text) or re.search(r'<meta name="csrf-token" content="([^"]+)"', page.text)
    if match is None and path == "/latest":
        # Pages anonymous visitors share (the page cache) carry no token; the login form has one.
        page = client.get("/login")
        match = CSRF_RE.search(page.text)
    assert match, f"no CSRF token on {path}"
    return match.group(1)


def login(client, username: str, password: str = PASSWORD) -> None:
    token = csrf_of(client, "/login")
    r = client.post("/login", data={"login": username, "password": password, "csrf_token": token},
                    follow_redirects=False)
    assert r.status_code == 303, r.text


def post_form(client, path: str, data: dict, *, csrf_from: str = "/latest", **kw):
    data = dict(data)
    data.setdefault("csrf_token", csrf_of(client, csrf_from))
    return client.post(path, data=data, follow_redirects=False, **kw)


# --- the permission matrix: who is asked, and which category presets each may see ---------------

VIEWERS = ["anonymous", "participant", "worker", "member", "moderator"]
SEES = {  # category preset -> the viewers who may see it
    "public": {"anonymous", "participant", "worker", "member", "moderator"},
    "signed_in": {"participant", "worker", "member", "moderator"},
    "members_and_workers": {"worker", "member", "moderator"},
    "members_only": {"member", "moderator"},
    "staff_only": {"moderator"},
}


@pytest.fixture
def people(make_user):
    return {
        "participant": make_user("pia", tier="participant"),
        "worker": make_user("wes", tier="worker"),
        "member": make_user("mei", tier="member"),
        "moderator": make_user("moe", tier="participant", moderator=True),
    }


@pytest.fixture
def redis_url() -> str:
    """The machine's Redis (database 15); tests give their keys a prefix of their own."""
    import redis

    url = "redis://127.0.0.1:6379/15"
    try:
        redis.Redis.from_url(url).ping()
    except redis.ConnectionError as e:
        _unavailable(f"Redis is not reachable: {e}")
    return url
