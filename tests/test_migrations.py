"""The Alembic history builds exactly the models' schema and upgrades databases that hold data."""

import uuid

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, select

from forum import accounts, categories, posting
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


def test_migrations_produce_the_models_schema(scratch_url):
    upgrade(scratch_url)
    engine = create_engine(scratch_url)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": False}), Base.metadata)
    engine.dispose()
    assert diff == []


def test_single_head():
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    assert len(script.get_heads()) == 1


def test_each_upgrade_keeps_existing_data(scratch_url):
    """Upgrade one revision at a time from the first, with forum content written before the rest."""
    revisions = _revisions(scratch_url)
    upgrade(scratch_url, revisions[0])
    settings = Settings(database_url=scratch_url)
    database = Database(settings)
    try:
        with database.write() as session:
            admin = accounts.create_user(session, username="keeper", email="k@example.org",
                                         password="keeper-password", tier="member", admin=True)
            category = categories.create_category(session, Viewer(admin), name="Archive")
            post = posting.create_topic(session, settings, Viewer(admin), title="Kept across upgrades",
                                        raw="This text must survive every migration.", category_id=category.id)
            posting.create_reply(session, settings, Viewer(admin), topic_id=post.topic_id, raw="And this reply.")
    finally:
        database.dispose()
    for revision in revisions[1:]:
        upgrade(scratch_url, revision)
    upgrade(scratch_url)
    database = Database(settings)
    try:
        with database.read() as session:
            assert session.scalar(select(User.username)) == "keeper"
            topic = session.scalar(select(Topic))
            assert topic.title == "Kept across upgrades" and topic.posts_count == 2
            assert session.scalar(select(Post.raw).where(Post.post_number == 1)) == \
                "This text must survive every migration."
    finally:
        database.dispose()


def test_downgrade_to_base_and_back(scratch_url):
    upgrade(scratch_url)
    downgrade(scratch_url, "base")
    upgrade(scratch_url)
    engine = create_engine(scratch_url)
    with engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []
    engine.dispose()
