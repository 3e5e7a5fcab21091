"""Backups and restores: a forum backed up on one engine and restored on the other reads the same to
everyone; damaged archives, newer schemas and forums already there are refused, leaving the target
as it was."""

from __future__ import annotations

import errno
import gzip
import io
import json
import os
import subprocess
import sys
import tarfile
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from PIL import Image
from sqlalchemy import create_engine, func, inspect, select, text

from forum import apikeys, backup, outbox
from forum.config import Settings
from forum.db import Database
from forum.demo import load_demo
from forum.migrate import head_revision, upgrade
from forum.models import OutboxItem, Post, Topic, User, utcnow
from forum.permissions import Viewer
from tests.conftest import BACKENDS, PASSWORD, _create_pg_database, _drop_pg_database

VIEWERS = {"anonymous": None, "participant": "claire_dubois", "worker": "lucia.moreno",
           "member": "marta.ferreira", "moderator": "olga.petrenko"}


@dataclass
class Forum:
    settings: Settings
    db: Database
    folder: Path

    @property
    def url(self) -> str:
        return self.settings.database_url


def _settings(url: str, folder: Path) -> Settings:
    return Settings(database_url=url, uploads_dir=str(folder / "uploads"), backup_dir=str(folder / "backups"),
                    base_url="http://testserver", inprocess_worker=False, unique_post_window=0,
                    posts_per_minute=1000, topics_per_hour=1000, anon_cache_seconds=0, reader_cache_seconds=0)


def _empty_database(kind: str, folder: Path) -> str:
    if kind == "sqlite":
        return f"sqlite:///{folder / 'forum.db'}"
    return _create_pg_database()


OTHER = "postgresql" if "postgresql" in BACKENDS else "sqlite"


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    """Databases made by this module, dropped at its end."""
    urls: list[str] = []
    dbs: list[Database] = []

    def make(kind: str) -> Forum:
        folder = tmp_path_factory.mktemp(f"backup-{kind}")
        url = _empty_database(kind, folder)
        urls.append(url)
        settings = _settings(url, folder)
        forum = Forum(settings, Database(settings), folder)
        dbs.append(forum.db)
        return forum

    yield make
    for db in dbs:
        db.dispose()
    for url in urls:
        if url.startswith("postgresql"):
            _drop_pg_database(url)


def _headers(keys: dict[str, str], viewer: str) -> dict[str, str]:
    name = VIEWERS[viewer]
    return {} if name is None else {"Api-Key": keys[name], "Api-Username": name}


def _png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (40, 30), (20, 120, 60)).save(out, "PNG")
    return out.getvalue()


@pytest.fixture(scope="module")
def source(made):
    """The demo federation on SQLite, plus what the demo lacks: a file in a post, a private
    message, a bookmark, and an API key for each kind of reader."""
    from fastapi.testclient import TestClient

    from forum.app import create_app

    forum = made("sqlite")
    upgrade(forum.url)
    load_demo(forum.db, forum.settings, password=PASSWORD)
    keys = {}
    with forum.db.write() as s:
        admin = Viewer(s.scalar(select(User).where(User.username == "niko.h")))
        for name in VIEWERS.values():
            if name:
                keys[name] = apikeys.create_api_key(s, admin, description="backup test", username=name).secret
    with TestClient(create_app(forum.settings, forum.db)) as client:
        marta = _headers(keys, "member")
        uploaded = client.post("/uploads.json", files={"file": ("plan.png", _png())}, data={"type": "composer"},
                               headers=marta)
        assert uploaded.status_code == 200, uploaded.text
        with forum.db.read() as s:
            topic_id = s.scalar(select(Topic.id).where(Topic.category_id.is_not(None)).order_by(Topic.id))
        reply = client.post("/posts.json", headers=marta, data={
            "topic_id": topic_id, "raw": f"The plan, as a picture: ![plan]({uploaded.json()['short_url']})"})
        assert reply.status_code == 200, reply.text
        message = client.post("/posts.json", headers=marta, data={
            "archetype": "private_message", "title": "Between the two of us, about the audit",
            "raw": "The Zanzibar-walnut audit is between us for now.", "target_recipients": "lucia.moreno"})
        assert message.status_code == 200, message.text
        marked = client.post("/bookmarks.json", headers=_headers(keys, "worker"), data={
            "bookmarkable_id": reply.json()["id"], "bookmarkable_type": "Post", "name": "The plan"})
        assert marked.status_code == 200, marked.text
    return forum, keys


def _seen(forum: Forum, keys: dict[str, str]) -> dict:
    """Everything each kind of reader gets from the JSON pages, and which files they may fetch."""
    from fastapi.testclient import TestClient

    from forum.app import create_app

    with forum.db.read() as s:
        last_topic = s.scalar(select(func.max(Topic.id)))
        files = [f"/uploads/default/original/1X/{name}" for name in s.scalars(
            text("SELECT sha1 || '.' || extension FROM uploads"))]
    assert files
    seen = {}
    with TestClient(create_app(forum.settings, forum.db)) as client:
        for viewer in VIEWERS:
            headers = _headers(keys, viewer)
            pages = ["/latest.json", "/categories.json", "/search.json?q=co-operative%20order:latest",
                     "/search.json?q=Zanzibar-walnut%20in:messages",
                     *(f"/t/{i}.json" for i in range(1, last_topic + 2))]
            for path in pages:
                r = client.get(path, headers=headers)
                body = r.json() if r.status_code == 200 else None
                if body and path.startswith("/search"):
                    # Each engine ranks by its own measure of relevance: the same posts, maybe not in order.
                    body = {"posts": sorted(json.dumps(p, sort_keys=True) for p in body["posts"]),
                            "topics": sorted(json.dumps(t, sort_keys=True) for t in body["topics"])}
                seen[(viewer, path)] = (r.status_code, body)
            for path in files:
                r = client.get(path, headers=headers, follow_redirects=True)
                seen[(viewer, path)] = (r.status_code, r.content if r.status_code == 200 else None)
    return seen


def _forum_cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "forum.cli", *args], capture_output=True, text=True,
                          env={**os.environ, **env}, timeout=120)


def _env(forum: Forum) -> dict[str, str]:
    return {"FORUM_DATABASE_URL": forum.url, "FORUM_UPLOADS_DIR": forum.settings.uploads_dir,
            "FORUM_BACKUP_DIR": forum.settings.backup_dir}


@pytest.fixture(scope="module")
def moved(source, made):
    """The source backed up with `forum backup` and restored with `forum restore` on the other engine."""
    forum, keys = source
    archive = forum.folder / "moving.tar.gz"
    r = _forum_cli(_env(forum), "backup", str(archive))
    assert r.returncode == 0, r.stderr
    assert "Backup written to" in r.stdout and "posts" in r.stdout
    target = made(OTHER)
    r = _forum_cli(_env(target), "restore", str(archive))
    assert r.returncode == 0, r.stderr
    assert "Restored" in r.stdout
    return forum, target, keys, archive


def test_a_sqlite_backup_restores_on_the_other_engine_and_reads_the_same_to_everyone(moved):
    forum, target, keys, _archive = moved
    before, after = _seen(forum, keys), _seen(target, keys)
    assert before.keys() == after.keys()
    differences = [key for key in before if before[key] != after[key]]
    assert not differences, differences[:5]
    # The pages asked for hold what this is about: hidden topics are 404 to some, the message only
    # to its two people, the file only where its post may be read.
    assert any(status == 404 for (viewer, _p), (status, _b) in before.items() if viewer == "anonymous")
    hits = {viewer for (viewer, p), (status, body) in before.items()
            if "in:messages" in p and status == 200 and body.get("posts")}
    assert hits == {"member", "worker"}
    with target.db.read() as s:
        assert s.scalar(select(func.count()).select_from(Post)) > 100
        assert s.scalar(text("SELECT version_num FROM alembic_version")) == head_revision()
    # Every index is there again (PostgreSQL's are set aside during the load and rebuilt).
    def names(engine, table):
        return {i["name"] for i in inspect(engine).get_indexes(table) if not i.get("duplicates_constraint")}

    assert names(target.db.engine, "posts") == names(forum.db.engine, "posts")
    indexes = inspect(target.db.engine)
    if OTHER == "postgresql":
        assert "ix_search_documents_tsv" in {i["name"] for i in indexes.get_indexes("search_documents")}


def test_a_restored_forum_takes_new_posts_and_the_search_index_follows(moved):
    _forum, target, keys, _archive = moved
    from fastapi.testclient import TestClient

    from forum.app import create_app

    with target.db.read() as s:
        category = s.scalar(select(Topic.category_id).where(Topic.category_id.is_not(None)).order_by(Topic.id))
    with TestClient(create_app(target.settings, target.db)) as client:
        headers = _headers(keys, "member")
        made = client.post("/posts.json", headers=headers, data={
            "title": "After the move: the new server's first topic", "raw": "Quinoa-lighthouse is on the agenda.",
            "category": category})
        assert made.status_code == 200, made.text  # the ids continue after the restored ones
        with target.db.read() as s:
            assert made.json()["id"] == s.scalar(select(func.max(Post.id)))
        found = client.get("/search.json?q=Quinoa-lighthouse", headers=headers).json()
        assert [p["id"] for p in found["posts"]] == [made.json()["id"]]


def test_a_backup_of_the_other_engine_restores_on_sqlite(moved, made):
    _forum, target, keys, _archive = moved
    archive = target.folder / "back.tar.gz"
    backup.backup(target.db.engine, target.settings, archive)
    back = made("sqlite")
    restored = backup.restore(archive, back.url, back.settings)
    assert restored.revision == head_revision()
    before, after = _seen(target, keys), _seen(back, keys)
    assert [key for key in before if before[key] != after[key]] == []
    files = list((Path(back.settings.uploads_dir) / "original").rglob("*.png"))
    assert len(files) == 1


def test_a_forum_already_there_is_refused_unless_replaced(moved, made):
    forum, _target, keys, archive = moved
    fresh = made("sqlite")
    upgrade(fresh.url)  # `forum migrate` on the new database first is fine: it holds no forum yet
    backup.restore(archive, fresh.url, fresh.settings)
    r = _forum_cli(_env(forum), "restore", str(archive))
    assert r.returncode == 3
    assert "not empty" in r.stderr and "--replace" in r.stderr and "Traceback" not in r.stderr
    with forum.db.read() as s:
        posts = s.scalar(select(func.count()).select_from(Post))
        s.execute(text("UPDATE posts SET raw = 'changed after the backup' WHERE id = 1"))
        s.commit()
    generation = forum.db.generation()
    r = _forum_cli(_env(forum), "restore", "--replace", str(archive))
    assert r.returncode == 0, r.stderr
    with forum.db.read() as s:
        assert s.scalar(select(func.count()).select_from(Post)) == posts
        assert s.scalar(text("SELECT raw FROM posts WHERE id = 1")) != "changed after the backup"
    # Pages cached by running processes before the restore are all stale now.
    assert forum.db.generation() > generation


def _rewrite(archive: Path, out: Path, change) -> None:
    """Copy an archive member by member, letting `change(name, data)` alter or drop each."""
    with tarfile.open(archive, "r:gz") as source, tarfile.open(out, "w:gz") as target:
        for member in source:
            data = change(member.name, source.extractfile(member).read())
            if data is None:
                continue
            info = tarfile.TarInfo(member.name)
            info.size = len(data)
            target.addfile(info, io.BytesIO(data))


def _tables_of(url: str) -> list[str]:
    engine = create_engine(url)
    try:
        return inspect(engine).get_table_names()
    finally:
        engine.dispose()


@pytest.mark.parametrize("damage", ["truncated", "altered row", "no manifest", "not an archive", "newer schema"])
def test_damaged_archives_and_newer_schemas_are_refused_leaving_the_target_untouched(moved, made, damage, tmp_path):
    _forum, _target, _keys, archive = moved
    bad = tmp_path / "bad.tar.gz"
    if damage == "truncated":
        bad.write_bytes(archive.read_bytes()[: archive.stat().st_size // 2])
    elif damage == "altered row":
        _rewrite(archive, bad, lambda name, data: data.replace(b"co-operative", b"co-operativa")
                 if name.startswith("tables/posts/") else data)
    elif damage == "no manifest":
        _rewrite(archive, bad, lambda name, data: None if name == "manifest.json" else data)
    elif damage == "not an archive":
        bad.write_bytes(gzip.compress(b"just some text\n"))
    else:
        def newer(name, data):
            if name in ("header.json", "manifest.json"):
                return json.dumps({**json.loads(data), "revision": "9999_from_the_future"}).encode()
            return data
        _rewrite(archive, bad, newer)
    target = made("sqlite")
    r = _forum_cli(_env(target), "restore", str(bad))
    assert r.returncode == (4 if damage == "newer schema" else 1), r.stderr
    assert r.stderr.splitlines()[-1].startswith("forum restore: ") and "Traceback" not in r.stderr
    expected = {"truncated": "cut short", "altered row": "checksum", "no manifest": "manifest",
                "not an archive": "not a forum backup", "newer schema": "upgrade the forum"}[damage]
    assert expected in r.stderr
    assert _tables_of(target.url) == []


def test_a_full_disk_leaves_no_partial_archive_and_says_so(source, monkeypatch, tmp_path, capsys):
    forum, _keys = source
    real_add = backup._add

    def full(tar, name, data, mtime):
        if name.startswith("tables/posts/"):
            raise OSError(errno.ENOSPC, "No space left on device")
        real_add(tar, name, data, mtime)

    monkeypatch.setattr(backup, "_add", full)
    with pytest.raises(backup.BackupError, match="No space left on device"):
        backup.backup(forum.db.engine, forum.settings, tmp_path / "full.tar.gz")
    assert list(tmp_path.iterdir()) == []


def test_a_backup_is_one_snapshot_while_the_forum_writes(source, monkeypatch, tmp_path):
    forum, _keys = source
    real_dump = backup._dump_table

    def write_meanwhile(conn, tar, table, dump, *args):
        if table.name == "topics":  # users are written; a post and its topic come now, from elsewhere
            with forum.db.write() as s:
                s.execute(text("UPDATE users SET name = 'Renamed meanwhile' WHERE username = 'niko.h'"))
                s.execute(text("DELETE FROM search_documents WHERE post_id = 1"))
        return real_dump(conn, tar, table, dump, *args)

    monkeypatch.setattr(backup, "_dump_table", write_meanwhile)
    with forum.db.read() as s:
        indexed = s.scalar(text("SELECT count(*) FROM search_documents"))
    written = backup.backup(forum.db.engine, forum.settings, tmp_path / "during.tar.gz")
    with tarfile.open(written.path) as tar:
        manifest = json.loads(tar.extractfile("manifest.json").read())
        users = tar.extractfile("tables/users/00001.jsonl").read().decode()
    assert {t["name"]: t["rows"] for t in manifest["tables"]}["search_documents"] == indexed
    assert "Renamed meanwhile" not in users


def test_scheduled_backups_are_taken_once_per_period_and_the_newest_kept(source, tmp_path):
    forum, _keys = source
    settings = forum.settings.model_copy(update={"backup_every_hours": 6, "backup_keep": 2,
                                                 "backup_dir": str(tmp_path / "scheduled")})
    old = tmp_path / "scheduled"
    old.mkdir()
    for stamp in ("20260101-000000", "20260102-000000"):
        (old / f"forum-scheduled-{stamp}.tar.gz").write_bytes(b"old")
    (old / "forum-backup-20250101-000000.tar.gz").write_bytes(b"taken by hand")
    now = utcnow()
    assert backup.schedule(forum.db, settings, now) is True
    assert backup.schedule(forum.db, settings, now + timedelta(seconds=1)) is False  # another process's tick
    assert outbox.drain(forum.db, settings) >= 1
    with forum.db.read() as s:
        item = s.scalar(select(OutboxItem).where(OutboxItem.kind == "backup"))
        assert item.done_at is not None and not item.last_error
    names = sorted(p.name for p in old.iterdir())
    assert names[0] == "forum-backup-20250101-000000.tar.gz"  # a backup taken by hand stays
    assert names[1] == "forum-scheduled-20260102-000000.tar.gz" and len(names) == 3
    assert backup.read_header(old / names[2])["revision"] == head_revision()
    assert backup.schedule(forum.db, settings.model_copy(update={"backup_every_hours": 0}), now) is False


def test_an_archive_from_an_older_schema_is_restored_and_brought_up_to_date(tmp_path, monkeypatch):
    """An archive an earlier version wrote (schema 0022, before staged accounts) loads at its own
    revision, then migrates to this version's: the rows come through and gain the new column. The
    earlier version is played by reading that database's own tables instead of this code's models."""
    from sqlalchemy import MetaData

    from forum import migrate
    from forum.models import Base
    from tests.test_migrations import _insert, _write_forum_content

    old = "0022"
    source_url = f"sqlite:///{tmp_path / 'old.db'}"
    upgrade(source_url, old)
    _write_forum_content(source_url)
    engine = create_engine(source_url)
    with engine.begin() as conn:
        _insert(conn, "users", username="second", username_lower="second", name="Second one",
                email="s@example.org", password_hash="x", tier="worker", is_moderator=False, is_admin=False,
                created_at=utcnow().replace(tzinfo=None), post_count=0, topic_count=0, approved=True,
                suspend_reason="", silence_reason="")
        then = MetaData()
        then.reflect(conn, only=[name for name in Base.metadata.tables if inspect(conn).has_table(name)])
    monkeypatch.setattr(migrate, "head_revision", lambda: old)
    monkeypatch.setattr(backup, "_tables", lambda: [then.tables[t.name] for t in Base.metadata.sorted_tables
                                                     if t.name in then.tables])
    archive = tmp_path / "old.tar.gz"
    backup.backup(engine, _settings(source_url, tmp_path), archive)
    engine.dispose()
    monkeypatch.undo()
    assert backup.read_header(archive)["revision"] == old

    target_url = f"sqlite:///{tmp_path / 'new.db'}"
    restored = backup.restore(archive, target_url, _settings(target_url, tmp_path))
    assert restored.revision == old
    target = create_engine(target_url)
    try:
        with target.connect() as conn:
            assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == head_revision()
            assert conn.execute(text("SELECT username, tier, staged FROM users ORDER BY id")).all() == [
                ("keeper", "member", False), ("second", "worker", False)]
            assert conn.execute(text("SELECT raw FROM posts WHERE post_number = 1")).scalar() == \
                "This text must survive every migration."
    finally:
        target.dispose()
