"""Bad input gets a clear 4xx and loses nothing; no request produces a 500."""

import html
import sqlite3

import pytest
from sqlalchemy import func, select, update

from forum.models import Post, Topic
from tests.conftest import login, post_form


@pytest.fixture
def member_client(client, make_user):
    make_user("ana", tier="member")
    login(client, "ana")
    return client


def _count(db, model):
    with db.read() as session:
        return session.scalar(select(func.count()).select_from(model))


@pytest.mark.parametrize("title, raw, category, field_message", [
    ("", "A perfectly fine body.", "ok", "Title must be at least"),
    ("x" * 300, "A perfectly fine body.", "ok", "Title may be at most"),
    ("A fine title here", "", "ok", "Post must be at least"),
    ("A fine title here", "   \n  ", "ok", "Post must be at least"),
    ("A fine title here", "y" * 40000, "ok", "Post may be at most"),
    ("A fine title here", "A perfectly fine body.", "999", "Please choose a category"),
    ("A fine title here", "A perfectly fine body.", "not-a-number", "Please choose a category"),
])
def test_new_topic_errors_are_inline_and_keep_text(member_client, make_category, db, title, raw, category,
                                                   field_message):
    news = make_category("News and events")
    r = post_form(member_client, "/new-topic", {"title": title, "raw": raw,
                                                "category": news.id if category == "ok" else category})
    assert r.status_code == 422
    assert field_message in r.text
    page = html.unescape(r.text)
    if raw.strip() and len(raw) < 1000:
        assert raw in page
    if title and len(title) < 255:
        assert f'value="{title}"' in page
    assert _count(db, Topic) == 0 and _count(db, Post) == 0


def test_topic_in_hidden_category_is_refused_without_revealing_it(member_client, make_category, db):
    hidden = make_category("Staff room", "staff_only")
    r = post_form(member_client, "/new-topic", {"title": "Sneaking in here", "raw": "Hello there.",
                                                "category": hidden.id})
    assert r.status_code == 422 and "Please choose a category" in r.text
    assert "Staff room" not in r.text
    assert _count(db, Topic) == 0


def test_reply_to_closed_topic_is_refused_and_keeps_text(member_client, make_category, make_topic, staff, db):
    topic = make_topic(staff, make_category("News and events"))
    with db.write() as session:
        session.execute(update(Topic).where(Topic.id == topic.id).values(closed=True))
    page = member_client.get(f"/t/{topic.slug}/{topic.id}")
    assert "This topic is closed" in page.text and f'action="/t/{topic.id}/reply"' not in page.text
    r = post_form(member_client, f"/t/{topic.id}/reply", {"raw": "My carefully written reply."})
    assert r.status_code == 403
    assert "closed" in r.text and "My carefully written reply." in r.text
    assert _count(db, Post) == 1


def test_reply_to_hidden_topic_is_404(member_client, make_category, make_topic, staff):
    topic = make_topic(staff, make_category("Staff room", "staff_only"))
    assert post_form(member_client, f"/t/{topic.id}/reply", {"raw": "Hello hidden world."}).status_code == 404


def test_reply_to_missing_post_number(member_client, make_category, make_topic, staff, db):
    topic = make_topic(staff, make_category("News and events"))
    r = post_form(member_client, f"/t/{topic.id}/reply", {"raw": "Replying to a ghost.",
                                                           "reply_to_post_number": "77"})
    assert r.status_code == 422 and "does not exist" in r.text and "Replying to a ghost." in r.text
    assert _count(db, Post) == 1


@pytest.mark.parametrize("token", [None, "", "forged-token-value"])
def test_missing_or_forged_csrf_is_refused_and_text_is_kept(member_client, make_category, make_topic, staff,
                                                            db, token):
    topic = make_topic(staff, make_category("News and events"))
    data = {"raw": "Text I do not want to lose."}
    if token is not None:
        data["csrf_token"] = token
    r = member_client.post(f"/t/{topic.id}/reply", data=data)
    assert r.status_code == 403
    assert "expired" in r.text and "Text I do not want to lose." in r.text
    assert _count(db, Post) == 1


def test_csrf_token_of_another_session_is_refused(make_client, make_user, make_category, make_topic, staff):
    make_user("ana", tier="member")
    make_user("bob", tier="member")
    topic = make_topic(staff, make_category("News and events"))
    ana, bob = make_client(), make_client()
    login(ana, "ana")
    login(bob, "bob")
    from tests.conftest import csrf_of
    r = bob.post(f"/t/{topic.id}/reply", data={"raw": "Cross-session attempt.", "csrf_token": csrf_of(ana)})
    assert r.status_code == 403


@pytest.mark.parametrize("path", [
    "/t/abc", "/t/abc/xyz", "/t/slug/99999999999999999999", "/t/slug/-1", "/t/slug/1/abc",
    "/t/slug/1/0", "/c/x/abc", "/c/abc", "/u/nobody-here", "/u/%00", "/posts/abc/edit",
    "/posts/abc/revisions", "/latest?page=abc", "/latest?page=-4", "/t/%ff%fe/1", "/admin/categories/x",
    "/nothing/here",
])
def test_malformed_paths_are_not_errors(member_client, make_category, make_topic, staff, path):
    make_topic(staff, make_category("News and events"))
    r = member_client.get(path)
    assert r.status_code in (200, 404), (path, r.status_code)


@pytest.mark.parametrize("path", ["/posts/abc/like", "/posts/0/like", "/posts/abc/delete", "/t/abc/reply",
                                  "/posts/99999/unlike", "/posts/99999999999999999999999/like"])
def test_malformed_writes_are_not_errors(member_client, path):
    r = post_form(member_client, path, {"raw": "hello there"})
    assert 400 <= r.status_code < 500, (path, r.status_code)


def test_control_characters_never_reach_output(member_client, make_category, db):
    news = make_category("News and events")
    r = post_form(member_client, "/new-topic", {"title": "Null\x00 and bell\x07 title", "raw": "Body\x00 with\x1b junk",
                                                "category": news.id})
    assert r.status_code == 303
    page = member_client.get(r.headers["location"])
    assert "\x00" not in page.text and "\x1b" not in page.text and "\x07" not in page.text
    assert "Null and bell title" in page.text
    with db.read() as session:
        assert session.scalar(select(Post.raw)) == "Body with junk"


def test_busy_sqlite_answers_503_with_retry_after(settings, make_user, make_category, make_topic, staff, db):
    if not settings.is_sqlite:
        pytest.skip("SQLite's write lock is what this test holds")
    from fastapi.testclient import TestClient

    from forum.app import create_app
    from forum.config import Settings
    from forum.db import Database

    topic = make_topic(staff, make_category("News and events"))
    make_user("ana", tier="member")
    impatient = Settings(**{**settings.model_dump(), "sqlite_busy_timeout_ms": 200})
    database = Database(impatient)
    try:
        client = TestClient(create_app(impatient, database))
        login(client, "ana")
        token_page = client.get("/latest")
        from tests.conftest import CSRF_RE
        token = CSRF_RE.search(token_page.text).group(1)
        path = settings.database_url.removeprefix("sqlite:///")
        blocker = sqlite3.connect(path, isolation_level=None)
        blocker.execute("BEGIN IMMEDIATE")
        try:
            r = client.post(f"/t/{topic.id}/reply", data={"raw": "Waiting for the lock.", "csrf_token": token},
                            follow_redirects=False)
        finally:
            blocker.execute("ROLLBACK")
            blocker.close()
        assert r.status_code == 503 and r.headers["Retry-After"]
        assert _count(db, Post) == 1
    finally:
        database.dispose()
