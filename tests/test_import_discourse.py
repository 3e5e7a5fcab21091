"""`forum import discourse`: from a second running forum (which speaks Discourse's API), from recorded
Discourse answers served by a small local server, and refused cleanly when the source cannot be read."""

from __future__ import annotations

import io
import json
import threading
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from PIL import Image
from sqlalchemy import func, select

from forum import apikeys, categories, messages, moderation, posting, uploads
from forum.config import Settings, get_settings
from forum.db import Database
from forum.imports import discourse
from forum.migrate import upgrade
from forum.models import (
    CREATE,
    NONE,
    SEE,
    Category,
    ImportedRecord,
    Poll,
    PollOption,
    PollVote,
    Post,
    PostAction,
    PostUpload,
    Topic,
    TopicAllowedUser,
    Upload,
    User,
)
from forum.permissions import Viewer
from forum.uploads import sha1_of_base62, short_url, url
from tests.conftest import PASSWORD
from tests.server import free_port, running_server

FIXTURES = Path(__file__).parent / "fixtures" / "discourse"
OLD = datetime(2023, 5, 1, 9, 30, tzinfo=UTC)


def _count(db, model) -> int:
    with db.read() as s:
        return s.scalar(select(func.count()).select_from(model))


def _posts(db, topic_id: int) -> list[Post]:
    with db.read() as s:
        return list(s.scalars(select(Post).where(Post.topic_id == topic_id).order_by(Post.post_number)))


def _local(db, kind: str, source_id) -> int | None:
    with db.read() as s:
        return s.scalar(select(ImportedRecord.local_id).where(ImportedRecord.kind == kind,
                                                             ImportedRecord.source_id == str(source_id)))


# --- (a) from a second running forum ---------------------------------------------------------------

@pytest.fixture
def source_forum(tmp_path):
    """Another forum on its own SQLite database, with content, served by uvicorn."""
    url = f"sqlite:///{tmp_path / 'source.db'}"
    upgrade(url)
    settings = Settings(database_url=url, unique_post_window=0, posts_per_minute=1000, topics_per_hour=1000,
                        inprocess_worker=False, uploads_dir=str(tmp_path / "source-uploads"))
    src = Database(settings)
    from forum import accounts

    with src.write() as s:
        boss = accounts.create_user(s, username="boss", email="boss@example.org", password=PASSWORD,
                                    tier="member", admin=True)
        people = {name: accounts.create_user(s, username=name, email=f"{name}@example.org", password=PASSWORD,
                                             tier=tier, name=name.title())
                  for name, tier in (("alice", "member"), ("bob", "worker"), ("carol", "participant"))}
        open_cat = categories.create_category(s, Viewer(boss), name="Open square", levels=categories.PRESETS["public"])
        members_cat = categories.create_category(s, Viewer(boss), name="Members room",
                                                 levels=categories.PRESETS["members_only"])
        key = apikeys.create_api_key(s, Viewer(boss), description="import").secret
    with src.write() as s:
        first = posting.create_topic(s, settings, Viewer(people["alice"]), title="How we share the harvest",
                                     raw="Every member brings a basket.\n\n[poll]\n* Yes\n* No\n[/poll]",
                                     category_id=open_cat.id)
        t1 = first.topic_id
    with src.write() as s:  # a photo, attached as the composer does
        bob = Viewer(s.get(type(people["bob"]), people["bob"].id))
        allowed = uploads.limits(s, settings, bob)
        png = io.BytesIO()
        Image.new("RGB", (30, 20), (10, 160, 90)).save(png, "PNG")
        checked = uploads.prepare(settings, bob, allowed, filename="baskets.png", source=io.BytesIO(png.getvalue()))
        photo = uploads.markdown_for(uploads.record(s, settings, bob, checked, allowed, filename="baskets.png"))
    with src.write() as s:
        reply = posting.create_reply(s, settings, Viewer(people["bob"]), topic_id=t1,
                                     raw=f"Workers bring two baskets.\n\n{photo}", reply_to_post_number=1)
    with src.write() as s:
        posting.create_reply(s, settings, Viewer(people["carol"]), topic_id=t1,
                             raw=f'[quote="bob, post:2, topic:{t1}"]\nWorkers bring two baskets.\n[/quote]\n\nAgreed.',
                             reply_to_post_number=2)
    with src.write() as s:
        posting.like_post(s, Viewer(people["bob"]), post_id=first.id)
        posting.like_post(s, Viewer(people["carol"]), post_id=first.id)
        posting.like_post(s, Viewer(people["alice"]), post_id=reply.id)
        moderation.set_topic_status(s, Viewer(boss), t1, "pinned", True)
    with src.write() as s:
        t2 = posting.create_topic(s, settings, Viewer(people["alice"]), title="Minutes of the members meeting",
                                  raw="Only members read this.", category_id=members_cat.id).topic_id
        moderation.set_topic_status(s, Viewer(boss), t2, "closed", True)
    with src.write() as s:  # longer than one chunk of a topic page (20 posts)
        t3 = posting.create_topic(s, settings, Viewer(people["bob"]), title="Roll call for the spring assembly",
                                  raw="Reply here if you come.", category_id=open_cat.id).topic_id
        for n in range(1, 25):
            posting.create_reply(s, settings, Viewer(people["carol" if n % 2 else "alice"]), topic_id=t3,
                                 raw=f"Present, reply number {n}.")
    with src.write() as s:
        pm = messages.create_private_message(s, settings, Viewer(people["alice"]), title="A word between us two",
                                             raw="Shall we meet on Friday?", recipients="bob").topic_id
    with src.write() as s:
        posting.create_reply(s, settings, Viewer(people["bob"]), topic_id=pm, raw="Friday suits me well.")
    with src.write() as s:  # dates from long ago, to see them kept
        for n, post in enumerate(s.scalars(select(Post).order_by(Post.id))):
            post.created_at = post.updated_at = OLD + timedelta(hours=n)
        for topic in s.scalars(select(Topic)):
            topic.created_at = OLD + timedelta(hours=topic.id * 10 - 10)
    with running_server(url, env={"FORUM_UPLOADS_DIR": settings.uploads_dir}) as base:
        yield {"url": base, "key": key, "db": src, "settings": settings, "people": people, "t1": t1, "t2": t2,
               "t3": t3, "pm": pm}
    src.dispose()


@pytest.mark.server
def test_import_from_a_running_forum_keeps_everything_and_reruns_bring_only_what_is_new(db, settings, source_forum):
    if db.engine.dialect.name != "sqlite":
        pytest.skip("the import has no dialect-specific paths: one target backend is enough here")
    src = source_forum
    options = discourse.Options(url=src["url"], api_key=src["key"], api_username="boss")
    report = discourse.run(db, settings, options, terminal=False)
    assert report.ok, report.failed
    assert report.done["topics"] == 3 and report.done["private messages"] == 1
    assert report.done["posts"] == 6 + 25 and report.done["likes"] == 3

    with db.read() as s:
        cats = {c.name: c for c in s.scalars(select(Category))}
        assert {"Open square", "Members room"} <= set(cats)
        room = cats["Members room"]
        assert (room.level_everyone, room.level_participant, room.level_worker, room.level_member) == \
            (NONE, NONE, NONE, CREATE)
        assert cats["Open square"].level_everyone == CREATE
        users = {u.username: u for u in s.scalars(select(User))}
        assert {"boss", "alice", "bob", "carol"} <= set(users)
        assert users["alice"].tier == "member" and users["bob"].tier == "worker"
        assert users["carol"].tier == "participant" and users["carol"].email == "carol@example.org"
        assert users["boss"].is_moderator and not users["boss"].is_admin
        assert not users["alice"].password_hash.startswith("$")  # no password until "forgot password"

        t1 = s.get(Topic, _local(db, "topic", src["t1"]))
        t2 = s.get(Topic, _local(db, "topic", src["t2"]))
        assert t1.title == "How we share the harvest" and t1.category_id == cats["Open square"].id
        assert t1.pinned and not t1.closed and t2.closed and not t2.pinned
        assert t2.category_id == room.id
        assert t1.posts_count == 3 and t1.like_count == 3 and t1.highest_post_number == 3
        assert s.scalar(select(func.count()).select_from(Poll)) == 1

    roll_call = _posts(db, _local(db, "topic", src["t3"]))
    assert [p.post_number for p in roll_call] == list(range(1, 26))
    assert [p.raw for p in roll_call[1:]] == [f"Present, reply number {n}." for n in range(1, 25)]
    posts = _posts(db, t1.id)
    assert [p.post_number for p in posts] == [1, 2, 3]
    assert [p.user.username for p in posts] == ["alice", "bob", "carol"]
    assert posts[0].raw.startswith("Every member brings a basket.")
    assert posts[1].reply_to_post_number == 1 and posts[2].reply_to_post_number == 2
    assert f'post:2, topic:{t1.id}"' in posts[2].raw
    assert posts[0].like_count == 2 and posts[1].like_count == 1
    assert report.done["uploaded files"] == 1
    with db.read() as s:  # the photo, downloaded and stored here, and the reply pointing at it
        photo = s.scalar(select(Upload).join(PostUpload, PostUpload.upload_id == Upload.id)
                         .where(PostUpload.post_id == posts[1].id))
        assert photo is not None and photo.original_filename == "baskets.png" and (photo.width, photo.height) == (30, 20)
        assert f"![baskets|30x20]({short_url(photo)})" in posts[1].raw and url(photo) in posts[1].cooked
    assert [p.created_at.replace(tzinfo=UTC) for p in posts] == [OLD, OLD + timedelta(hours=1), OLD + timedelta(hours=2)]
    with db.read() as s:
        assert s.scalar(select(func.count()).select_from(PostAction)) == 3
        pm = s.get(Topic, _local(db, "topic", src["pm"]))
        assert pm.is_private_message and pm.category_id is None
        allowed = set(s.scalars(select(User.username).join(TopicAllowedUser, TopicAllowedUser.user_id == User.id)
                                .where(TopicAllowedUser.topic_id == pm.id)))
        assert allowed == {"alice", "bob"}
        from forum.models import Notification

        assert s.scalar(select(func.count()).select_from(Notification)) == 0  # nobody was told

    again = discourse.run(db, settings, options, terminal=False)
    assert not again.done and again.ok

    with src["db"].write() as s:
        posting.create_reply(s, src["settings"], Viewer(src["people"]["carol"]), topic_id=src["t1"],
                             raw="One more thought, added after the import.")
    with src["db"].write() as s:
        posting.create_reply(s, src["settings"], Viewer(src["people"]["alice"]), topic_id=src["pm"],
                             raw="See you on Friday then.")
    third = discourse.run(db, settings, options, terminal=False)
    assert dict(third.done) == {"posts": 2}
    assert _posts(db, pm.id)[-1].raw == "See you on Friday then."
    posts = _posts(db, t1.id)
    assert [p.post_number for p in posts] == [1, 2, 3, 4] and posts[3].raw == "One more thought, added after the import."


# --- (b) recorded Discourse answers ----------------------------------------------------------------

class _Recorded(BaseHTTPRequestHandler):
    """Discourse as recorded in tests/fixtures/discourse: the answers of a real site's API."""

    key = "fixture-key"  # an admin's key for all users
    member_key = "member-key"  # bob's own key: no staff, and no one else's name
    busy_once: set[str] = set()
    broken: set[str] = set()  # paths answered 500, as a site in trouble does
    downloads: list[str] = []  # files served, to see that a second run fetches none again
    member = False

    def log_message(self, *args):  # quiet
        pass

    def _as_member(self, path: str, body):
        """What Discourse shows bob instead: no permissions, no whispers, no deleted posts."""
        if path == "/session/current.json":
            return {"current_user": {**body["current_user"], "id": 3, "username": "bob", "name": "Bob Okafor",
                                     "admin": False, "moderator": False, "staff": False, "trust_level": 2,
                                     "groups": [{"id": 42, "name": "co_op_members"}]}}
        if path.endswith("/show.json"):
            return {"category": {k: v for k, v in body["category"].items() if k != "group_permissions"}}
        if isinstance(body, dict) and "post_stream" in body:
            staff_only = {1002, 1004}  # the whisper, and the deleted post
            stream = {**body["post_stream"], "posts": [p for p in body["post_stream"]["posts"]
                                                       if p["id"] not in staff_only]}
            if "stream" in stream:
                stream["stream"] = [i for i in stream["stream"] if i not in staff_only]
            return {**body, "post_stream": stream}
        return body

    def _send(self, status: int, body, headers: dict[str, str] | None = None):
        if self.member and status == 200:
            body = self._as_member(urlsplit(self.path).path, body)
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        url = urlsplit(self.path)
        q = parse_qs(url.query)
        path = url.path
        key = self.headers.get("Api-Key")
        self.member = key == self.member_key
        if key != self.key and not (self.member and self.headers.get("Api-Username") == "bob"):
            return self._send(403, {"errors": ["You are not permitted to view the requested resource. The API "
                                               "username or key is invalid."], "error_type": "invalid_access"})
        if self.member and (path.startswith("/admin/") or path.startswith("/topics/private-messages")
                            and not path.endswith("/bob.json")):
            return self._send(404 if path.startswith("/admin/") else 403,
                              {"errors": ["You are not permitted to view the requested resource."],
                               "error_type": "invalid_access"})
        if path == "/latest.json" and "latest" not in self.busy_once:
            self.busy_once.add("latest")
            return self._send(429, {"errors": ["You’ve performed this action too many times."],
                                    "error_type": "rate_limit", "extras": {"wait_seconds": 3, "time_left": "3 seconds"}},
                              {"Retry-After": "3"})
        if path in self.broken:
            return self._send(500, {"errors": ["Internal Server Error"]})
        page = int((q.get("page") or ["0"])[0])
        empty_list = {"users": [], "topic_list": {"can_create_topic": True, "per_page": 30, "topics": []}}
        if path == "/admin/users/list/all.json":
            return self._send(200, _fixture("admin_users_list.json") if page <= 1 else [])
        if path == "/latest.json":
            return self._send(200, _fixture("latest.json") if page == 0 else empty_list)
        if path.startswith("/groups/") and path.endswith("/members.json"):
            name = path.split("/")[2]
            found = FIXTURES / f"group_{name}_members.json"
            if not found.exists():
                return self._send(404, {"errors": ["The requested URL or resource could not be found."],
                                        "error_type": "not_found"})
            data = json.loads(found.read_text())
            if int((q.get("offset") or ["0"])[0]) > 0:
                data = {**data, "members": []}
            return self._send(200, data)
        if path.endswith("/posts.json") and path.startswith("/t/"):
            topic_id = path.split("/")[2]
            wanted = {int(i) for i in q.get("post_ids[]", [])}
            posts = _fixture(f"topic_{topic_id}_posts.json")
            chosen = [p for p in posts if p["id"] in wanted]
            if "include_raw" not in q:
                chosen = [{k: v for k, v in p.items() if k != "raw"} for p in chosen]
            return self._send(200, {"post_stream": {"posts": chosen}, "id": int(topic_id)})
        if path == "/post_action_users.json":
            data = _fixture("post_action_users.json").get(q["id"][0], [])
            return self._send(200, {"post_action_users": data, "total_rows_post_action_users": len(data)})
        if path.startswith("/topics/private-messages"):
            username = path.rsplit("/", 1)[1].removesuffix(".json")
            box = path.split("/")[2]
            found = FIXTURES / f"{box}_{username}.json"
            return self._send(200, json.loads(found.read_text()) if found.exists() and page == 0 else empty_list)
        if path == "/polls/voters.json":  # public polls only, 50 a page, as the poll plugin answers
            found = _fixture("polls_voters.json").get(q["post_id"][0], {}).get(q["poll_name"][0], {})
            option = q["option_id"][0]
            return self._send(200, {"voters": {option: found.get(option, []) if page <= 1 else []}})
        if path.startswith("/uploads/short-url/"):  # Discourse redirects a short URL to the file
            name, ext = path.rsplit("/", 1)[1].split(".")
            self.send_response(302)
            self.send_header("Location", f"/uploads/default/original/1X/{sha1_of_base62(name)}.{ext}")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return None
        if path.startswith("/uploads/default/original/1X/"):
            found = FIXTURES / "uploads" / path.rsplit("/", 1)[1]
            if not found.exists():
                return self._send(404, {"errors": ["not found"]})
            _Recorded.downloads.append(path)
            data = found.read_bytes()
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return None
        name = {"/session/current.json": "session_current.json", "/site.json": "site.json"}.get(path)
        if name is None and path.startswith("/u/"):
            name = f"user_{path.split('/')[2].removesuffix('.json')}.json"
        if name is None and path.startswith("/c/") and path.endswith("/show.json"):
            name = f"category_{path.split('/')[2]}_show.json"
        if name is None and path.startswith("/t/") and path.count("/") == 2:
            name = f"topic_{path.split('/')[2].removesuffix('.json')}.json"
        if name is None or not (FIXTURES / name).exists():
            return self._send(404, {"errors": ["The requested URL or resource could not be found."],
                                    "error_type": "not_found"})
        return self._send(200, _fixture(name))


def _fixture(name: str):
    return json.loads((FIXTURES / name).read_text())


@pytest.fixture
def recorded_site():
    _Recorded.busy_once = {"latest"}  # the rate limit is one test's business
    _Recorded.broken = set()
    _Recorded.downloads = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Recorded)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _recorded_import(db, settings, url, *, dry_run=False, waits=None, key="fixture-key", username="system"):
    options = discourse.Options(url=url, api_key=key, api_username=username, dry_run=dry_run,
                                tiers=discourse.parse_group_map("board = member\nco_op_members: worker\n"))
    client = discourse.Client(url, options.api_key, options.api_username,
                              sleep=(waits.append if waits is not None else lambda s: None))
    return discourse.run(db, settings, options, client=client, terminal=False)


def test_recorded_discourse_site_imports_its_own_variants(db, settings, recorded_site):
    settings = settings.model_copy(update={"max_upload_bytes": 20_000})  # the 30 KB budget.pdf is too big
    _Recorded.busy_once = set()
    waits: list[float] = []
    dry = _recorded_import(db, settings, recorded_site, dry_run=True, waits=waits)
    assert waits == [4.0]  # Retry-After 3, and a second more, as Discourse asks
    assert dry.done["topics"] == 2 and dry.done["posts"] == 7
    assert _count(db, Topic) == 0 and _count(db, User) == 0 and _count(db, ImportedRecord) == 0
    assert dry.done["uploaded files"] == 3 and dry.done["poll votes"] == 3 and _Recorded.downloads == []

    report = _recorded_import(db, settings, recorded_site)
    assert report.ok, report.failed
    assert report.done["categories"] == 3
    assert report.done["topics"] == 2 and report.done["private messages"] == 1 and report.done["posts"] == 7
    assert report.done["likes"] == 2
    skipped = {reason for (_kind, reason) in report.skipped}
    assert "group trust_level_3 has no tier (see --map-groups)" in skipped  # it gives nobody anything
    assert {"whisper (staff-only)", "small action (status change)", "deleted in the source"} <= skipped
    assert report.done["uploaded files"] == 2 and report.done["poll votes"] == 3
    assert ("uploaded files", "larger than 19.5 KB, the most accepted here") in report.skipped
    assert sorted(_Recorded.downloads) == [  # the image from the cooked HTML, the PDFs through their short URLs
        "/uploads/default/original/1X/44a4fb8173995ca2f61920cb0f2ed07cc5c3f0f2.pdf",  # refused by its length
        "/uploads/default/original/1X/78eadb967288318ba63fb1484d1dce71567f2815.pdf",
        "/uploads/default/original/1X/add5b6045a39c37670344b5f9e95423313d00d71.png"]

    with db.read() as s:
        users = {u.username: u for u in s.scalars(select(User))}
        assert "dave" not in users  # staged (e-mail only) and never posted here
        assert users["alice"].tier == "member" and users["bob"].tier == "worker"
        assert users["alice"].email == "alice@example.com" and users["carol"].email is None
        assert users["system1"].email is None  # Discourse's own "system" account, renamed (reserved here)
        # Her last public post; the later private message counts nowhere public.
        assert users["alice"].last_posted_at.replace(tzinfo=UTC) == datetime(2024, 2, 7, 8, 0, tzinfo=UTC)
        assert users["alice"].post_count == 2 and users["alice"].topic_count == 2
        board = s.scalar(select(Category).where(Category.name == "Board room"))
        governance = s.scalar(select(Category).where(Category.name == "Governance"))
        assert board.parent_id == governance.id
        assert (board.level_everyone, board.level_participant, board.level_worker, board.level_member) == \
            (NONE, NONE, SEE, CREATE)
        assert governance.description == "How the co-operative decides."
        topic = s.get(Topic, _local(db, "topic", 100))
        assert topic.pinned and topic.closed and topic.posts_count == 4 and topic.highest_post_number == 4
        assert topic.created_at.replace(tzinfo=UTC) == datetime(2024, 2, 3, 10, 0, tzinfo=UTC)
        poll_topic = s.get(Topic, _local(db, "topic", 101))
        assert poll_topic.category_id == board.id
        assert s.scalar(select(func.count()).select_from(Poll)) == 1
        pm = s.get(Topic, _local(db, "topic", 300))
        assert pm.is_private_message and pm.posts_count == 2
    posts = _posts(db, topic.id)
    assert [(p.post_number, p.user.username) for p in posts] == [(1, "alice"), (2, "bob"), (3, "carol"), (4, "bob")]
    assert posts[1].reply_to_post_number == 1 and posts[2].reply_to_post_number == 2
    assert f'[quote="carol, post:3, topic:{topic.id}"]' in posts[3].raw  # source #6 is #3 here
    assert posts[1].created_at.replace(tzinfo=UTC) == datetime(2024, 2, 3, 11, 15, 20, 123000, tzinfo=UTC)
    assert posts[0].like_count == 0 and posts[1].like_count == 1
    with db.read() as s:
        files = {u.original_filename: u for u in s.scalars(select(Upload))}
        assert set(files) == {"statutes.png", "minutes.pdf"}
        image, pdf = files["statutes.png"], files["minutes.pdf"]
        assert (image.width, image.height, pdf.mime_type) == (40, 24, "application/pdf")
        assert set(s.scalars(select(PostUpload.upload_id).where(PostUpload.post_id == posts[3].id))) == \
            {image.id, pdf.id}
        assert f"![statutes|690x388]({short_url(image)})" in posts[3].raw
        assert f"[minutes.pdf|attachment]({short_url(pdf)})" in posts[3].raw
        assert "upload://9nFwM9QqUm62nAX4IJR1rMWGylW.pdf" in posts[3].raw  # too big: the text stays
        assert url(image) in posts[3].cooked and url(pdf) in posts[3].cooked
        votes = s.execute(select(User.username, PollOption.label).join(PollVote, PollVote.user_id == User.id)
                          .join(PollOption, PollOption.id == PollVote.option_id)).all()
        assert sorted(votes) == [("alice", "Open it this year"), ("bob", "Wait a year"),
                                 ("carol", "Open it this year")]

    again = _recorded_import(db, settings, recorded_site)
    assert not again.done and again.ok
    assert len(_Recorded.downloads) == 3  # nothing fetched again


def test_a_topic_the_source_fails_to_serve_is_reported_and_comes_in_on_the_next_run(db, settings, recorded_site):
    _Recorded.broken = {"/t/101.json"}
    first = _recorded_import(db, settings, recorded_site)
    assert not first.ok and first.done["topics"] == 1 and first.done["posts"] == 6
    assert [kind for kind, _reason in first.failed] == ["topics"]
    assert _local(db, "topic", 101) is None and _local(db, "topic", 100) is not None

    _Recorded.broken = set()
    second = _recorded_import(db, settings, recorded_site)
    assert second.ok and dict(second.done) == {"topics": 1, "posts": 1, "likes": 1, "poll votes": 3}
    with db.read() as s:
        assert s.scalar(select(func.count()).select_from(Topic)) == 3


def test_a_members_key_imports_what_it_may_read_and_says_what_it_could_not(db, settings, recorded_site):
    report = _recorded_import(db, settings, recorded_site, key="member-key", username="bob")
    assert report.ok, report.failed
    assert report.done["topics"] == 2 and report.done["posts"] == 7 and report.done["private messages"] == 1
    assert report.done["people"] == 3  # met as authors and likers: no user list for a member
    reasons = {(kind, reason) for (kind, reason) in report.skipped}
    assert ("category permissions", "the key cannot read them: restricted categories are staff-only here") in reasons
    assert any(kind == "user list" for kind, _r in reasons)
    with db.read() as s:
        users = {u.username: u for u in s.scalars(select(User))}
        assert set(users) == {"alice", "bob", "carol"} and all(u.email is None for u in users.values())
        assert users["alice"].tier == "member"  # group members are public in Discourse
        assert users["carol"].name == "Carol Díaz"  # from her profile, /u/carol.json, with when she joined
        assert users["carol"].created_at.replace(tzinfo=UTC) == datetime(2024, 1, 20, 9, 0, tzinfo=UTC)
        board = s.scalar(select(Category).where(Category.name == "Board room"))
        governance = s.scalar(select(Category).where(Category.name == "Governance"))
        assert board.level_everyone == board.level_member == NONE  # restricted there: staff-only here
        assert governance.level_everyone == CREATE


def test_an_interrupted_import_keeps_what_it_committed_and_the_next_run_continues(db, settings, recorded_site):
    _Recorded.busy_once = set()  # the topic list answers 429 first: the operator presses Ctrl+C meanwhile

    def interrupt(seconds):
        raise KeyboardInterrupt

    options = discourse.Options(url=recorded_site, api_key="fixture-key", api_username="system")
    client = discourse.Client(recorded_site, options.api_key, options.api_username, sleep=interrupt)
    first = discourse.run(db, settings, options, client=client, terminal=False)
    assert ("import", "interrupted: run the same command again to continue") in first.failed
    assert first.done["categories"] == 3 and first.done["people"] == 4 and not first.done["topics"]

    second = _recorded_import(db, settings, recorded_site)
    assert second.ok and not second.done["categories"] and not second.done["people"]
    assert second.done["topics"] == 2 and second.done["posts"] == 7


# --- (c) a source that cannot be read --------------------------------------------------------------

def _cli(monkeypatch, database_url, *args):
    from forum import cli

    monkeypatch.setenv("FORUM_DATABASE_URL", database_url)
    get_settings.cache_clear()
    try:
        return cli.main(["import", "discourse", *args])
    finally:
        get_settings.cache_clear()


def test_wrong_key_or_unreachable_source_stops_with_one_line_and_writes_nothing(db, database_url, recorded_site,
                                                                                 monkeypatch, capsys):
    code = _cli(monkeypatch, database_url, "--url", recorded_site, "--api-key", "wrong", "--api-username", "system")
    err = capsys.readouterr().err.strip()
    assert code == 1 and len(err.splitlines()) == 1
    assert "refused the API key (403)" in err and "nothing was imported" in err

    code = _cli(monkeypatch, database_url, "--url", f"http://127.0.0.1:{free_port()}", "--api-key", "k",
                "--api-username", "system")
    err = capsys.readouterr().err.strip()
    assert code == 1 and len(err.splitlines()) == 1 and "cannot reach" in err

    code = _cli(monkeypatch, database_url, "--url", "forum.example.org", "--api-key", "k", "--api-username", "x")
    assert code == 1 and "--url must be" in capsys.readouterr().err
    assert _count(db, User) == 0 and _count(db, Category) == 0 and _count(db, ImportedRecord) == 0


def test_group_mapping_file_and_flags():
    assert discourse.parse_group_map('{"Board": "members", "staff_helpers": "worker"}') == \
        {"board": "member", "staff_helpers": "worker"}
    assert discourse.group_tiers(member="a,b", participant="c") == {"a": "member", "b": "member", "c": "participant"}
    assert discourse.group_tiers() == discourse.DEFAULT_GROUP_TIERS
    with pytest.raises(ValueError, match="tiers are member"):
        discourse.parse_group_map("board = admin")
    with pytest.raises(ValueError, match="not both"):
        discourse.group_tiers(map_text="a = member", worker="b")



def test_cli_dry_run_prints_what_would_be_imported_and_writes_nothing(db, database_url, recorded_site, monkeypatch,
                                                                     capsys, tmp_path):
    mapping = tmp_path / "groups.txt"
    mapping.write_text("# Discourse group = tier here\nboard = member\nco_op_members = worker\n")
    code = _cli(monkeypatch, database_url, "--url", recorded_site, "--api-key", "fixture-key",
                "--api-username", "system", "--map-groups", str(mapping), "--dry-run")
    out = capsys.readouterr().out
    assert code == 0
    assert "dry run: nothing written" in out and "would import" in out and "whisper" in out
    assert _count(db, User) == 0 and _count(db, Topic) == 0 and _count(db, ImportedRecord) == 0


def test_files_only_from_the_source_and_private_polls_give_only_the_keys_own_vote(db, settings):
    client = discourse.Client("https://old.example.org", "k", "system")
    importer = discourse.DiscourseImport(db, settings, discourse.Options(url=client.url, api_key="k",
                                                                         api_username="system"), client=client)
    with pytest.raises(discourse.Refused):  # no request made: the key never travels to another site
        client.download("https://elsewhere.example/uploads/default/original/1X/a.png", 1000, set())
    sha1 = "ab" * 20
    post = {"id": 7, "raw": "![a](https://elsewhere.example/uploads/x.png) and [old.pdf|attachment]"
                            "(/uploads/default/original/1X/" + sha1 + ".pdf) and ![photo|40x20](upload://"
                            + uploads.base62("cd" * 20) + ".jpeg)",
            "cooked": '<img src="https://cdn.example.net/original/1X/' + "cd" * 20 + '.jpeg">'}
    refs = importer._file_refs(post)
    assert [(key, name, where) for _text, key, name, where in refs] == [
        ("cd" * 20, "photo.jpeg", "https://cdn.example.net/original/1X/" + "cd" * 20 + ".jpeg"),
        (sha1, "old.pdf", f"/uploads/default/original/1X/{sha1}.pdf")]  # the other site's link stays a link

    importer.me = {"id": 3, "username": "bob"}
    poll = {"name": "poll", "type": "regular", "public": False, "voters": 4,
            "options": [{"id": "aa", "html": "Yes"}, {"id": "bb", "html": "No"}]}
    votes = importer._votes_of({"id": 7, "polls": [poll], "polls_votes": {"poll": ["bb"]}})
    assert votes == {"poll": [({"id": 3, "username": "bob"}, "bb")]}
    assert importer.report.skipped[("poll votes", "private poll: only the key's own vote is readable")] == 3
    client.close()
