"""The Alembic history builds exactly the models' schema and upgrades databases that hold data."""

import uuid
from datetime import UTC, datetime

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import MetaData, Table, create_engine, select, text

from forum import posting
from forum.config import Settings
from forum.db import Database
from forum.migrate import alembic_config, downgrade, upgrade
from forum.models import Base, Post, Topic, User
from forum.permissions import Viewer
from tests.conftest import _create_pg_database, _drop_pg_database


@pytest.fixture
def scratch_url(database_url, tmp_path):
    """A database of its own, separate from the suite's, on the same backend."""
    if database_url.startswith("sqlite"):
        yield f"sqlite:///{tmp_path / f'migrate-{uuid.uuid4().hex}.db'}"
    else:
        url = _create_pg_database()
        yield url
        _drop_pg_database(url)


def _revisions(url):
    script = ScriptDirectory.from_config(alembic_config(url))
    return [r.revision for r in reversed(list(script.walk_revisions()))]


# The full-text index lives outside the models on purpose: SQLite's FTS5 virtual table `search_fts`
# (and the shadow tables FTS5 makes for it) and PostgreSQL's GIN index on search_documents.tsv are
# created by raw SQL in migration 0005. They are the only objects the comparison leaves out.
SEARCH_INDEX_OBJECTS = ("search_fts",)
SEARCH_INDEX_NAMES = {"ix_search_documents_tsv"}


def _not_search_index(obj, name, type_, reflected, compare_to):
    if type_ == "table" and name and name.startswith(SEARCH_INDEX_OBJECTS):
        return False
    return not (type_ == "index" and name in SEARCH_INDEX_NAMES)


def _schema_diff(conn, **opts):
    return compare_metadata(MigrationContext.configure(conn, opts={"include_object": _not_search_index, **opts}),
                            Base.metadata)


def test_migrations_produce_the_models_schema(scratch_url):
    upgrade(scratch_url)
    engine = create_engine(scratch_url)
    with engine.connect() as conn:
        diff = _schema_diff(conn, compare_type=False)
    engine.dispose()
    assert diff == []


def test_single_head():
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    assert len(script.get_heads()) == 1


def _insert(conn, table_name: str, **values) -> int:
    """Insert a row into the table as it exists at the current revision (not as the models say)."""
    table = Table(table_name, MetaData(), autoload_with=conn)
    row = {k: v for k, v in values.items() if k in table.c}
    return conn.execute(table.insert().values(**row)).inserted_primary_key[0]


def _write_forum_content(url: str) -> None:
    # Rows go in through Core with the columns of the first revision: the current models may
    # already have columns that later revisions add.
    now = datetime.now(UTC)
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            user_id = _insert(conn, "users", username="keeper", username_lower="keeper", name="",
                              email="k@example.org", password_hash="x", tier="member", is_moderator=True,
                              is_admin=True, created_at=now, post_count=2, topic_count=1)
            levels = {f"level_{a}": 3 for a in ("everyone", "participant", "worker", "member")}
            category_id = _insert(conn, "categories", name="Archive", slug="archive", description="",
                                  color="0088CC", text_color="FFFFFF", position=1, topic_count=1,
                                  post_count=2, created_at=now, **levels)
            topic_id = _insert(conn, "topics", title="Kept across upgrades", slug="kept-across-upgrades",
                               category_id=category_id, user_id=user_id, last_post_user_id=user_id,
                               created_at=now, bumped_at=now, last_posted_at=now, highest_post_number=2,
                               posts_count=2, like_count=0, views=0, participant_count=1, pinned=False,
                               pinned_globally=False, closed=False, archived=False, visible=True)
            for number, raw in ((1, "This text must survive every migration."), (2, "And this reply.")):
                _insert(conn, "posts", topic_id=topic_id, post_number=number, user_id=user_id, raw=raw,
                        cooked=f"<p>{raw}</p>", created_at=now, updated_at=now, version=1, like_count=0,
                        reply_count=0, hidden=False)
    finally:
        engine.dispose()


def test_each_upgrade_keeps_existing_data(scratch_url):
    """Upgrade one revision at a time from the first, with forum content written before the rest."""
    revisions = _revisions(scratch_url)
    upgrade(scratch_url, revisions[0])
    _write_forum_content(scratch_url)
    for revision in revisions[1:]:
        upgrade(scratch_url, revision)
    upgrade(scratch_url)
    settings = Settings(database_url=scratch_url)
    database = Database(settings)
    try:
        with database.read() as session:
            assert session.scalar(select(User.username)) == "keeper"
            assert session.scalar(select(User.staged)) is False  # 0023: people who were here are nobody's import
            topic = session.scalar(select(Topic))
            assert topic.title == "Kept across upgrades" and topic.posts_count == 2
            assert session.scalar(select(Post.raw).where(Post.post_number == 1)) == \
                "This text must survive every migration."
        # The upgraded content still works through the services.
        with database.write() as session:
            keeper = session.scalar(select(User))
            posting.create_reply(session, settings, Viewer(keeper), topic_id=topic.id,
                                 raw="Written after the upgrade.")
        with database.read() as session:
            assert session.get(Topic, topic.id).posts_count == 3
            # The page cache's counter, created with its first value by 0008, moved with the reply.
            from forum.pagecache import current_generation

            assert current_generation(session) == 2
    finally:
        database.dispose()


def test_downgrade_to_base_and_back(scratch_url):
    upgrade(scratch_url)
    downgrade(scratch_url, "base")
    upgrade(scratch_url)
    engine = create_engine(scratch_url)
    with engine.connect() as conn:
        assert _schema_diff(conn) == []
    engine.dispose()


def test_serving_gives_the_query_planner_statistics(scratch_url):
    """`forum serve` analyses the database, so topic lists use their indexes from the first start."""
    from sqlalchemy import text

    from forum.migrate import refresh_statistics

    upgrade(scratch_url)
    _write_forum_content(scratch_url)
    refresh_statistics(scratch_url)
    engine = create_engine(scratch_url)
    try:
        with engine.connect() as conn:
            if engine.dialect.name == "sqlite":
                rows = conn.execute(text("SELECT count(*) FROM sqlite_stat1 WHERE tbl = 'topics'")).scalar()
            else:
                rows = conn.execute(text("SELECT count(*) FROM pg_stats WHERE tablename = 'topics'")).scalar()
        assert rows > 0
    finally:
        engine.dispose()


def test_instances_started_together_migrate_one_after_the_other(scratch_url):
    """Two hosts (or two systemd instances) starting at once on an empty database: each waits for
    the other, none fails half-way, the schema ends at head."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "FORUM_DATABASE_URL": scratch_url}
    runs = [subprocess.Popen([sys.executable, "-m", "forum.cli", "migrate"], env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True) for _ in range(3)]
    outputs = [p.communicate(timeout=120)[0] for p in runs]
    assert [p.returncode for p in runs] == [0, 0, 0], outputs
    from sqlalchemy import create_engine, text

    engine = create_engine(scratch_url)
    try:
        with engine.connect() as conn:
            assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == _revisions(scratch_url)[-1]
    finally:
        engine.dispose()


def test_the_newest_migration_is_found_without_alembic_as_alembic_finds_it():
    from forum.migrate import head_revision

    assert head_revision() == ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()


def test_a_start_on_a_database_at_head_runs_no_migration_and_analyses_only_when_needed(scratch_url, monkeypatch):
    """`forum serve` on an up-to-date database costs a query, not Alembic's checks and an ANALYZE."""
    from alembic import command

    from forum import migrate

    upgrade(scratch_url)
    _write_forum_content(scratch_url)
    migrate.refresh_statistics(scratch_url)
    analysed = []
    monkeypatch.setattr(migrate, "refresh_statistics", lambda url: analysed.append(url))

    def no_migration(*_args, **_kwargs):
        raise AssertionError("Alembic ran for a database already at head")

    monkeypatch.setattr(command, "upgrade", no_migration)
    upgrade(scratch_url)
    assert analysed == []
    upgrade(scratch_url, statistics=True)  # `forum migrate` always analyses
    assert analysed == [scratch_url]


def test_a_database_without_statistics_gets_them_at_start(scratch_url):
    from forum import migrate

    upgrade(scratch_url)
    _write_forum_content(scratch_url)
    engine = create_engine(scratch_url)
    try:
        with engine.begin() as conn:
            if engine.dialect.name == "sqlite":
                conn.execute(text("DELETE FROM sqlite_stat1"))
        if engine.dialect.name == "sqlite":
            assert migrate._state(scratch_url) == (migrate.head_revision(), False)
        upgrade(scratch_url)
        assert migrate._state(scratch_url) == (migrate.head_revision(), True)
    finally:
        engine.dispose()


def test_statistics_of_a_sqlite_forum_that_has_more_than_doubled_are_refreshed(scratch_url):
    if not scratch_url.startswith("sqlite"):
        pytest.skip("PostgreSQL's autovacuum keeps its statistics up to date itself")
    from forum import migrate

    upgrade(scratch_url)
    _write_forum_content(scratch_url)
    migrate.refresh_statistics(scratch_url)
    assert migrate._state(scratch_url)[1]
    engine = create_engine(scratch_url)
    try:
        with engine.begin() as conn:  # analysed when it had no topics; it has one now
            conn.execute(text("UPDATE sqlite_stat1 SET stat = '0 1' WHERE tbl = 'topics'"))
        assert migrate._state(scratch_url) == (migrate.head_revision(), False)
        upgrade(scratch_url)
        assert migrate._state(scratch_url)[1]
    finally:
        engine.dispose()
