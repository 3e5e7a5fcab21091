"""Bookmarks with reminders: set in each person's own zone, fired at that local minute across
summer-time changes (the worker's clock injected, as the digest tests do), sent once with two workers,
their owner's alone, and silent about posts their owner may no longer read."""

import os
import re
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, text, update

from forum import bookmarks, emails, outbox, posting
from forum.models import Category, Notification, Post, User
from forum.models.bookmark import Bookmark
from forum.permissions import Viewer
from tests.api.conftest import JSON, as_user, errors_of, make_key  # noqa: F401  (fixtures)
from tests.conftest import login, post_form
from tests.smtp import mail_settings, smtp_server  # noqa: F401  (fixtures)
from tests.test_migrations import _insert, _revisions, _write_forum_content, scratch_url  # noqa: F401

SECRET_TITLE = "Brewery sale negotiations"
SECRET_TEXT = "The offer from Hopcraft stands at nine hundred thousand."


def _zone(db, user, zone: str, *, emails_too: bool = False) -> None:
    with db.write() as session:
        if emails_too:
            emails.confirm_address(session, user.id)
        emails.set_preferences(session, session.get(User, user.id), timezone=zone, email_notifications="immediate",
                               email_digest="none", digest_hour=8, digest_weekday=0)


def _reminders(db, user) -> list[Notification]:
    with db.read() as session:
        return list(session.scalars(select(Notification).where(Notification.user_id == user.id,
                                                               Notification.kind.like("bookmark_reminder%"))))


def _bookmark(db, user, post, *, reminder_at=None, name=None, now=None) -> int:
    with db.write() as session:
        b = bookmarks.create(session, Viewer(session.get(User, user.id)), bookmarkable_type="Post",
                             bookmarkable_id=post.id, name=name, reminder_at=reminder_at, now=now)
        session.flush()
        return b.id


def _first_post(db, topic) -> Post:
    with db.read() as session:
        return session.scalar(select(Post).where(Post.topic_id == topic.id, Post.post_number == 1))


# --- reminders in the person's own zone, across summer-time changes ------------------------------

# Set at 23:30 local on the night the clocks change; "tomorrow morning" is 08:00 local the next day.
DST_NIGHTS = [
    ("America/New_York", datetime(2027, 3, 14, 3, 30, tzinfo=UTC), datetime(2027, 3, 14, 12, 0, tzinfo=UTC)),   # EST -> EDT
    ("Europe/Madrid", datetime(2027, 3, 27, 22, 30, tzinfo=UTC), datetime(2027, 3, 28, 6, 0, tzinfo=UTC)),      # CET -> CEST
    ("Europe/Madrid", datetime(2027, 10, 30, 21, 30, tzinfo=UTC), datetime(2027, 10, 31, 7, 0, tzinfo=UTC)),    # CEST -> CET
    ("Asia/Kolkata", datetime(2027, 3, 27, 18, 0, tzinfo=UTC), datetime(2027, 3, 28, 2, 30, tzinfo=UTC)),       # no change
]


@pytest.mark.parametrize("zone,set_at,expected", DST_NIGHTS, ids=["new-york-spring", "madrid-spring",
                                                                  "madrid-autumn", "kolkata"])
def test_tomorrow_morning_fires_at_eight_local_across_a_summer_time_change(
        db, settings, make_user, make_category, make_topic, zone, set_at, expected):
    ana = make_user("ana", tier="member")
    reader = make_user("rita", tier="member")
    _zone(db, reader, zone)
    post = _first_post(db, make_topic(ana, make_category("News"), title="Call for expressions of interest"))
    with db.read() as session:
        at = bookmarks.preset_time("tomorrow", bookmarks.user_zone(session.get(User, reader.id)), now=set_at)
    assert at == expected
    _bookmark(db, reader, post, reminder_at=at, now=set_at)

    outbox.tick(db, settings, now=expected - timedelta(minutes=1))
    assert _reminders(db, reader) == []  # not a minute early
    outbox.tick(db, settings, now=expected)
    outbox.tick(db, settings, now=expected + timedelta(minutes=1))
    sent = _reminders(db, reader)
    assert len(sent) == 1 and sent[0].topic_id == post.topic_id and sent[0].post_id == post.id


def test_the_other_presets_are_wall_clock_times_in_the_zone():
    # Friday 4 Dec 2026, 10:20 in Madrid.
    now = datetime(2026, 12, 4, 9, 20, tzinfo=UTC)
    assert bookmarks.preset_time("later_today", "Europe/Madrid", now) == datetime(2026, 12, 4, 13, 0, tzinfo=UTC)
    assert bookmarks.preset_time("next_monday", "Europe/Madrid", now) == datetime(2026, 12, 7, 7, 0, tzinfo=UTC)
    # Late in the evening there is no "later today".
    assert bookmarks.preset_time("later_today", "Asia/Kolkata", now + timedelta(hours=9)) is None
    options = bookmarks.reminder_options("Europe/Madrid", now)
    assert [o.key for o in options] == ["later_today", "tomorrow", "next_monday"]
    assert options[1].text == "Sat 5 Dec 2026, 08:00 Madrid (CET)"


def test_a_reminder_sends_one_email_to_someone_who_takes_notification_emails(
        db, mail_settings, smtp_server, make_user, make_category, make_topic):
    ana = make_user("ana", tier="member")
    reader = make_user("rita", tier="member")
    _zone(db, reader, "Europe/Madrid", emails_too=True)
    post = _first_post(db, make_topic(ana, make_category("News"), title="Call for expressions of interest",
                                      raw="Send your expression of interest by Friday."))
    due = datetime(2027, 1, 8, 8, 0, tzinfo=UTC)
    _bookmark(db, reader, post, reminder_at=due, name="Answer the call", now=due - timedelta(days=1))
    for _ in range(2):
        outbox.tick(db, mail_settings, now=due)
        outbox.drain(db, mail_settings)
    smtp_server.wait_for(1, timeout=2)
    assert len(smtp_server.messages) == 1
    message = smtp_server.messages[0]
    assert message["To"] == "rita@example.org"
    assert "Answer the call" in message["Subject"] and "Call for expressions of interest" in message["Subject"]


def test_two_workers_send_each_reminder_once(db, settings, make_user, make_category, make_topic, make_reply):
    ana = make_user("ana", tier="member")
    readers = [make_user(f"reader{i}", tier="member") for i in range(4)]
    topic = make_topic(ana, make_category("News"))
    posts = [_first_post(db, topic)] + [make_reply(ana, topic, raw=f"Reply number {i} with text.") for i in range(4)]
    due = datetime(2027, 2, 1, 9, 0, tzinfo=UTC)
    for reader in readers:
        for post in posts:
            _bookmark(db, reader, post, reminder_at=due, now=due - timedelta(hours=1))

    barrier = threading.Barrier(2)
    failures: list[BaseException] = []

    def worker():
        try:
            barrier.wait()
            bookmarks._reminders_tick(db, settings, due)
        except BaseException as e:  # noqa: BLE001  (reported below)
            failures.append(e)

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []
    for reader in readers:
        sent = _reminders(db, reader)
        assert sorted(n.post_id for n in sent) == sorted(p.id for p in posts)  # each once
    with db.read() as session:
        assert session.scalar(select(Bookmark.id).where(Bookmark.reminder_last_sent_at.is_(None))) is None


@pytest.mark.server
def test_two_forum_worker_processes_send_each_reminder_once(database_url, db, make_user, make_category, make_topic,
                                                           make_reply):
    """Two `forum worker` processes on one database, as a scaled-out site runs them."""
    ana = make_user("ana", tier="member")
    readers = [make_user(f"reader{i}", tier="member") for i in range(4)]
    topic = make_topic(ana, make_category("News"))
    posts = [_first_post(db, topic)] + [make_reply(ana, topic, raw=f"Reply number {i} with text.") for i in range(9)]
    due = datetime.now(UTC) - timedelta(minutes=1)
    for reader in readers:
        for post in posts:
            _bookmark(db, reader, post, reminder_at=due, now=due - timedelta(hours=1))

    env = {**os.environ, "FORUM_DATABASE_URL": database_url, "FORUM_OUTBOX_POLL_SECONDS": "0.2"}
    workers = [subprocess.Popen([sys.executable, "-m", "forum.cli", "worker"], env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, text=True) for _ in range(2)]
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with db.read() as session:
                if session.scalar(select(Bookmark.id).where(Bookmark.reminder_last_sent_at.is_(None))) is None:
                    break
            assert all(w.poll() is None for w in workers), "a worker stopped"
            time.sleep(0.2)
        time.sleep(1)  # let a late second claim show, if there were one
    finally:
        for w in workers:
            w.send_signal(signal.SIGTERM)
        errors = [w.communicate(timeout=30)[1] for w in workers]
    assert all("Traceback" not in e for e in errors), errors
    for reader in readers:
        sent = _reminders(db, reader)
        assert sorted(n.post_id for n in sent) == sorted(p.id for p in posts)  # each once


# --- a post its owner may no longer read -------------------------------------------------------

def _lose_sight(db, how: str, reader, author, post) -> None:
    with db.write() as session:
        if how == "tier dropped":
            session.execute(update(User).where(User.id == reader.id).values(tier="participant"))
        elif how == "category tightened":
            topic_category = session.scalar(text("SELECT category_id FROM topics WHERE id = :t"), {"t": post.topic_id})
            session.execute(update(Category).where(Category.id == topic_category).values(level_member=0))
        else:
            posting.delete_post(session, Viewer(session.get(User, author.id)), post_id=post.id)


@pytest.mark.parametrize("how", ["tier dropped", "category tightened", "post deleted"])
def test_a_bookmark_on_a_post_its_owner_can_no_longer_read_leaks_nothing(
        db, mail_settings, smtp_server, make_user, make_category, make_topic, make_reply, make_client, as_user, how):
    author = make_user("ana", tier="member")
    reader = make_user("rita", tier="member")
    _zone(db, reader, "Europe/Madrid", emails_too=True)
    topic = make_topic(author, make_category("Board", "members_only"), title=SECRET_TITLE,
                       raw="We met the buyer today, details follow below.")
    post = make_reply(author, topic, raw=SECRET_TEXT)
    due = datetime(2027, 1, 8, 8, 0, tzinfo=UTC)
    _bookmark(db, reader, post, reminder_at=due, name="Board follow-up", now=due - timedelta(days=1))
    _lose_sight(db, how, reader, author, post)

    client = make_client()
    login(client, "rita")
    page = client.get("/u/rita/activity/bookmarks")
    assert page.status_code == 200
    assert "Board follow-up" in page.text and "A post you can no longer see" in page.text
    assert "Hopcraft" not in page.text and "Brewery" not in page.text and topic.slug not in page.text
    # Searching the bookmarks finds its own name, never the post's words.
    assert "Board follow-up" not in client.get("/u/rita/activity/bookmarks", params={"q": "Hopcraft"}).text
    assert "Board follow-up" in client.get("/u/rita/activity/bookmarks", params={"q": "follow"}).text

    headers = as_user(reader)
    listed = client.get("/u/rita/bookmarks.json", headers=headers).json()["user_bookmark_list"]["bookmarks"]
    assert len(listed) == 1 and listed[0]["unavailable"] is True and listed[0]["name"] == "Board follow-up"
    for key in ("title", "fancy_title", "excerpt", "slug", "bookmarkable_url", "topic_id"):
        assert key not in listed[0]
    assert "Hopcraft" not in str(listed) and "Brewery" not in str(listed)
    assert client.get("/u/rita/bookmarks.json", params={"q": "Hopcraft"}, headers=headers).json()["bookmarks"] == []

    outbox.tick(db, mail_settings, now=due)
    outbox.drain(db, mail_settings)
    sent = _reminders(db, reader)
    assert [n.kind for n in sent] == ["bookmark_reminder_unavailable"]
    assert sent[0].topic_id is None and sent[0].post_id is None
    shown = client.get("/notifications.json", headers=headers).json()
    assert "Brewery" not in str(shown) and "Hopcraft" not in str(shown)
    assert any(n["notification_type"] == 24 for n in shown["notifications"])
    smtp_server.wait_for(1, timeout=2)
    for message in smtp_server.messages:
        body = message.as_string()
        assert "Brewery" not in body and "Hopcraft" not in body and topic.slug not in body


# --- their owner's alone -----------------------------------------------------------------------

def test_someone_elses_bookmarks_answer_404_everywhere(db, make_user, make_category, make_topic, make_client,
                                                       as_user):
    ana = make_user("ana", tier="member")
    rita = make_user("rita", tier="member")
    mod = make_user("moe", tier="member", moderator=True)
    post = _first_post(db, make_topic(ana, make_category("News")))
    bid = _bookmark(db, rita, post, name="Mine")
    client = make_client()
    assert client.get("/u/rita/activity/bookmarks").status_code == 404
    for other in (ana, mod):
        headers = as_user(other)
        assert client.get("/u/rita/bookmarks.json", headers=headers).status_code == 404
        assert client.put(f"/bookmarks/{bid}.json", data={"name": "Taken"}, headers=headers).status_code == 404
        assert client.delete(f"/bookmarks/{bid}.json", headers=headers).status_code == 404
    login(client, "ana")
    assert client.get("/u/rita/activity/bookmarks").status_code == 404
    assert post_form(client, f"/bookmarks/{bid}/delete", {}).status_code == 404
    with db.read() as session:
        assert session.get(Bookmark, bid).name == "Mine"


# --- the API as Discourse answers it -----------------------------------------------------------

def test_api_creates_lists_updates_and_deletes_bookmarks_in_discourses_shapes(
        db, make_user, make_category, make_topic, make_reply, make_client, as_user):
    ana = make_user("ana", tier="member")
    rita = make_user("rita", tier="member")
    _zone(db, rita, "Asia/Kolkata")
    topic = make_topic(ana, make_category("News"), title="Call for expressions of interest")
    reply = make_reply(ana, topic, raw="Deadline is Friday at noon.")
    client = make_client()
    headers = as_user(rita)

    made = client.post("/bookmarks.json", data={"bookmarkable_id": reply.id, "bookmarkable_type": "Post",
                                                "name": "Deadline", "reminder_at": "2030-01-02T03:30:00Z"},
                       headers=headers)
    assert made.status_code == 200, made.text
    assert made.headers["content-type"] == JSON
    assert made.json()["success"] == "OK" and isinstance(made.json()["id"], int)
    on_topic = client.post("/bookmarks.json", data={"bookmarkable_id": topic.id, "bookmarkable_type": "Topic"},
                           headers=headers)
    assert on_topic.status_code == 200

    listed = client.get("/u/rita/bookmarks.json", headers=headers).json()
    items = listed["user_bookmark_list"]["bookmarks"]
    assert "more_bookmarks_url" not in listed["user_bookmark_list"]
    by_type = {i["bookmarkable_type"]: i for i in items}
    post_item = by_type["Post"]
    assert post_item["id"] == made.json()["id"] and post_item["name"] == "Deadline"
    assert post_item["reminder_at"] == "2030-01-02T03:30:00.000Z" and post_item["reminder_zone"] == "Asia/Kolkata"
    assert post_item["title"] == "Call for expressions of interest" and post_item["linked_post_number"] == 2
    assert post_item["bookmarkable_url"] == f"/t/{topic.slug}/{topic.id}/2"
    assert "Deadline is Friday" in post_item["excerpt"] and post_item["user"]["username"] == "ana"
    assert post_item["auto_delete_preference"] == 3 and post_item["topic_id"] == topic.id
    assert by_type["Topic"]["bookmarkable_url"] == f"/t/{topic.slug}/{topic.id}"

    stream = client.get(f"/t/{topic.id}.json", headers=headers).json()["post_stream"]["posts"]
    assert [(p["post_number"], p["bookmarked"]) for p in stream] == [(1, False), (2, True)]
    assert stream[1]["bookmark_id"] == post_item["id"] and stream[1]["bookmark_name"] == "Deadline"
    assert client.get(f"/t/{topic.id}.json", headers=as_user(ana)).json()["post_stream"]["posts"][1]["bookmarked"] is False

    changed = client.put(f"/bookmarks/{post_item['id']}.json",
                         data={"name": "Deadline (noon)", "reminder_at": "2030-01-03T03:30:00Z"}, headers=headers)
    assert changed.status_code == 200 and changed.json() == {"success": "OK"}
    paged = client.get("/u/rita/bookmarks.json", params={"per_page": 1}, headers=headers).json()
    assert paged["user_bookmark_list"]["more_bookmarks_url"] == "/u/rita/bookmarks.json?page=1"
    again = client.get("/u/rita/bookmarks.json", params={"q": "noon"}, headers=headers).json()
    [found] = again["user_bookmark_list"]["bookmarks"]
    assert found["name"] == "Deadline (noon)" and found["reminder_at"] == "2030-01-03T03:30:00.000Z"

    gone = client.delete(f"/bookmarks/{post_item['id']}.json", headers=headers)
    assert gone.json() == {"success": "OK", "topic_bookmarked": True}  # the topic's own bookmark is left
    gone = client.delete(f"/bookmarks/{by_type['Topic']['id']}.json", headers=headers)
    assert gone.json() == {"success": "OK", "topic_bookmarked": False}
    assert client.get("/u/rita/bookmarks.json", headers=headers).json()["bookmarks"] == []


def test_api_bookmarks_a_topic_and_removes_its_bookmarks_as_discourses_topic_routes(
        db, make_user, make_category, make_topic, make_reply, make_client, as_user):
    ana = make_user("ana", tier="member")
    rita = make_user("rita", tier="member")
    pia = make_user("pia", tier="participant")
    topic = make_topic(ana, make_category("News"), title="Call for expressions of interest")
    reply = make_reply(ana, topic, raw="Deadline is Friday at noon.")
    hidden = make_topic(ana, make_category("Board", "members_only"), title=SECRET_TITLE)
    client = make_client()
    headers = as_user(rita)

    def bookmarked(who_headers, topic_id=topic.id):
        return client.get(f"/t/{topic_id}.json", headers=who_headers).json()["bookmarked"]

    assert bookmarked(headers) is False
    made = client.put(f"/t/{topic.id}/bookmark.json", headers=headers)
    assert made.status_code == 200 and made.text == ""
    [item] = client.get("/u/rita/bookmarks.json", headers=headers).json()["user_bookmark_list"]["bookmarks"]
    assert item["bookmarkable_type"] == "Topic" and item["bookmarkable_id"] == topic.id
    assert bookmarked(headers) is True and bookmarked(as_user(ana)) is False
    twice = client.put(f"/t/{topic.id}/bookmark.json", headers=headers)
    assert twice.status_code == 400 and errors_of(twice) == ["You have already bookmarked this topic."]
    # A topic the asker may not see, or none: 404, as missing; a visitor is refused.
    refused = client.put(f"/t/{hidden.id}/bookmark.json", headers=as_user(pia))
    assert refused.status_code == 404 and SECRET_TITLE not in refused.text
    assert client.put("/t/999999/bookmark.json", headers=headers).status_code == 404
    assert client.put(f"/t/{hidden.id}/remove_bookmarks.json", headers=as_user(pia)).status_code == 404
    assert client.put(f"/t/{topic.id}/bookmark.json", headers={"Accept": JSON}).status_code in (403, 404)

    # A bookmark on one of its posts counts too; remove_bookmarks takes both away, and only the asker's.
    client.post("/bookmarks.json", data={"bookmarkable_id": reply.id}, headers=headers)
    ana_headers = as_user(ana)
    assert client.put(f"/t/{topic.id}/bookmark.json", headers=ana_headers).status_code == 200
    gone = client.put(f"/t/{topic.id}/remove_bookmarks.json", headers=headers)
    assert gone.status_code == 200 and gone.text == ""
    assert client.get("/u/rita/bookmarks.json", headers=headers).json()["bookmarks"] == []
    assert bookmarked(headers) is False and bookmarked(ana_headers) is True
    assert client.put(f"/t/{topic.id}/remove_bookmarks.json", headers=headers).status_code == 200

    # Topic lists say `bookmarked` per asker: a bookmark on the topic or on one of its posts.
    def listed(who_headers, path="/latest.json"):
        return {t["id"]: t["bookmarked"] for t in client.get(path, headers=who_headers).json()["topic_list"]["topics"]}

    assert listed(headers)[topic.id] is False and listed(ana_headers)[topic.id] is True
    client.post("/bookmarks.json", data={"bookmarkable_id": reply.id}, headers=headers)
    assert listed(headers)[topic.id] is True
    assert listed(headers, f"/c/{topic.category.slug}/{topic.category_id}.json")[topic.id] is True
    assert listed(as_user(pia))[topic.id] is False


def test_api_bad_input_answers_4xx_with_the_reason(db, make_user, make_category, make_topic, make_client, as_user):
    ana = make_user("ana", tier="member")
    pia = make_user("pia", tier="participant")
    hidden = _first_post(db, make_topic(ana, make_category("Board", "members_only"), title=SECRET_TITLE))
    public = _first_post(db, make_topic(ana, make_category("News")))
    client = make_client()
    headers = as_user(pia)

    def post(**data):
        return client.post("/bookmarks.json", data=data, headers=headers)

    assert post(bookmarkable_id=999999, bookmarkable_type="Post").status_code == 404
    refused = post(bookmarkable_id=hidden.id, bookmarkable_type="Post")
    assert refused.status_code == 404 and SECRET_TITLE not in refused.text
    past = post(bookmarkable_id=public.id, bookmarkable_type="Post", reminder_at="2020-01-01T09:00:00Z")
    assert past.status_code == 422 and errors_of(past) == ["You cannot set a bookmark reminder in the past."]
    assert post(bookmarkable_id=public.id, bookmarkable_type="Comment").status_code == 422
    assert post(bookmarkable_id=public.id, reminder_at="next week").status_code == 422
    assert post(bookmarkable_id=public.id, reminder_at="0001-01-01T00:00:00+05:30").status_code == 422
    assert post(bookmarkable_id="abc").status_code == 404
    assert client.put("/bookmarks/abc.json", data={"name": "x"}, headers=headers).status_code == 404
    assert post(bookmarkable_id=public.id, name="x" * 101).status_code == 422
    assert post(bookmarkable_id=public.id, auto_delete_preference="9").status_code == 422
    assert post(bookmarkable_id=public.id).status_code == 200
    twice = post(bookmarkable_id=public.id)
    assert twice.status_code == 422 and errors_of(twice) == ["You have already bookmarked this post."]
    anonymous = client.post("/bookmarks.json", data={"bookmarkable_id": public.id}, headers={"Accept": JSON})
    assert anonymous.status_code in (403, 404)


# --- pages, without JavaScript -------------------------------------------------------------------

def test_bookmark_a_whole_topic_from_its_page_and_clear_it(db, make_user, make_category, make_topic, make_client):
    ana = make_user("ana", tier="member")
    make_user("rita", tier="member")
    make_user("pia", tier="participant")
    topic = make_topic(ana, make_category("News"), title="Call for expressions of interest")
    hidden = make_topic(ana, make_category("Board", "members_only"), title=SECRET_TITLE)
    client = make_client()
    login(client, "rita")
    url = f"/t/{topic.slug}/{topic.id}"
    assert f'action="/t/{topic.id}/bookmark"' in client.get(url).text
    made = post_form(client, f"/t/{topic.id}/bookmark", {}, csrf_from=url)
    assert made.status_code == 303 and made.headers["location"] == url
    page = client.get(url)
    assert f'action="/t/{topic.id}/remove-bookmarks"' in page.text and "Clear bookmarks" in page.text
    listed = client.get("/u/rita/activity/bookmarks")
    assert "Call for expressions of interest" in listed.text
    assert post_form(client, f"/t/{topic.id}/bookmark", {}, csrf_from=url).status_code == 303  # once only
    with db.read() as session:
        assert session.scalar(select(func.count()).select_from(Bookmark)) == 1
    cleared = post_form(client, f"/t/{topic.id}/remove-bookmarks", {}, csrf_from=url)
    assert cleared.status_code == 303
    assert f'action="/t/{topic.id}/bookmark"' in client.get(url).text
    # A topic the person may not see is missing to them; visitors see no button.
    other = make_client()
    login(other, "pia")
    refused = post_form(other, f"/t/{hidden.id}/bookmark", {}, csrf_from=url)
    assert refused.status_code == 404 and SECRET_TITLE not in refused.text
    assert f'action="/t/{topic.id}/bookmark"' not in make_client().get(url).text


def test_bookmark_a_post_with_a_reminder_through_forms(db, make_user, make_category, make_topic, make_client):
    ana = make_user("ana", tier="member")
    rita = make_user("rita", tier="member")
    _zone(db, rita, "Europe/Madrid")
    topic = make_topic(ana, make_category("News"), title="Call for expressions of interest")
    post = _first_post(db, topic)
    client = make_client()
    login(client, "rita")
    page = client.get(f"/t/{topic.slug}/{topic.id}")
    assert f'action="/posts/{post.id}/bookmark"' in page.text and 'aria-pressed="false"' in page.text

    quick = post_form(client, f"/posts/{post.id}/bookmark", {"quick": "1"})
    assert quick.status_code == 303 and quick.headers["location"] == f"/posts/{post.id}/bookmark?saved=1"
    form = client.get(quick.headers["location"])
    assert "Tomorrow morning" in form.text and "Madrid (CE" in form.text

    nowhere = post_form(client, f"/posts/{post.id}/bookmark", {"reminder": "custom", "reminder_date": "2027-03-28",
                                                              "reminder_time": "02:30", "name": "Apply"})
    assert nowhere.status_code == 422 and "the clocks skip that hour" in nowhere.text
    past = post_form(client, f"/posts/{post.id}/bookmark", {"reminder": "custom", "reminder_date": "2020-03-02",
                                                           "reminder_time": "09:00", "name": "Apply"})
    assert past.status_code == 422 and "You cannot set a bookmark reminder in the past." in past.text
    ancient = post_form(client, f"/posts/{post.id}/bookmark", {"reminder": "custom", "reminder_date": "0001-01-01",
                                                              "reminder_time": "00:30", "name": "Apply"})
    assert ancient.status_code == 422
    saved = post_form(client, f"/posts/{post.id}/bookmark", {"reminder": "tomorrow", "name": "Apply"})
    assert saved.status_code == 303

    listed = client.get("/u/rita/activity/bookmarks")
    assert "Call for expressions of interest" in listed.text and "Apply" in listed.text
    assert re.search(r"Reminder: \w{3} \d+ \w{3} \d{4}, 08:00 Madrid \(CES?T\)", listed.text)
    page = client.get(f"/t/{topic.slug}/{topic.id}")
    assert f'action="/posts/{post.id}/unbookmark"' in page.text

    # Our script toggles it in place.
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    off = client.post(f"/posts/{post.id}/unbookmark", headers={"X-Requested-With": "fetch", "X-CSRF-Token": token})
    assert off.json() == {"post_id": post.id, "bookmarked": False}
    on = client.post(f"/posts/{post.id}/bookmark", data={"quick": "1"},
                     headers={"X-Requested-With": "fetch", "X-CSRF-Token": token})
    assert on.json()["bookmarked"] is True
    assert "Apply" not in client.get("/u/rita/activity/bookmarks").text  # a new bookmark, without the old name


# --- the migration -----------------------------------------------------------------------------

def test_the_bookmarks_migration_upgrades_a_forum_with_content(scratch_url):
    from forum.migrate import downgrade, upgrade

    revisions = _revisions(scratch_url)
    before = revisions[revisions.index("0019") - 1]
    upgrade(scratch_url, before)
    _write_forum_content(scratch_url)
    upgrade(scratch_url, "0019")
    from sqlalchemy import create_engine

    engine = create_engine(scratch_url)
    try:
        with engine.begin() as conn:
            post_id = conn.execute(text("SELECT id FROM posts WHERE post_number = 2")).scalar()
            user_id = conn.execute(text("SELECT id FROM users")).scalar()
            now = datetime.now(UTC)
            _insert(conn, "bookmarks", user_id=user_id, bookmarkable_type="Post", bookmarkable_id=post_id,
                    name="Kept", reminder_at=now + timedelta(days=1), reminder_zone="Europe/Madrid",
                    auto_delete_preference=3, created_at=now, updated_at=now)
            with pytest.raises(Exception):  # noqa: B017  (one bookmark per person per post)
                with conn.begin_nested():
                    _insert(conn, "bookmarks", user_id=user_id, bookmarkable_type="Post", bookmarkable_id=post_id,
                            auto_delete_preference=3, created_at=now, updated_at=now)
            assert conn.execute(text("SELECT name FROM bookmarks")).scalar() == "Kept"
            assert conn.execute(text("SELECT raw FROM posts WHERE post_number = 1")).scalar() == \
                "This text must survive every migration."
    finally:
        engine.dispose()
    downgrade(scratch_url, before)
    engine = create_engine(scratch_url)
    try:
        with engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM posts")).scalar() == 2
    finally:
        engine.dispose()
    upgrade(scratch_url)


def test_a_bookmark_set_to_go_on_reply_goes_when_its_owner_replies(db, settings, make_user, make_category,
                                                                  make_topic, make_client, as_user):
    ana = make_user("ana", tier="member")
    rita = make_user("rita", tier="member")
    topic = make_topic(ana, make_category("News"))
    post = _first_post(db, topic)
    client = make_client()
    headers = as_user(rita)
    made = client.post("/bookmarks.json", data={"bookmarkable_id": post.id, "auto_delete_preference": "2"},
                       headers=headers)
    assert made.status_code == 200
    with db.write() as session:
        posting.create_reply(session, settings, Viewer(session.get(User, ana.id)), topic_id=topic.id,
                             raw="Someone else replying changes nothing.")
    assert len(client.get("/u/rita/bookmarks.json", headers=headers).json()["user_bookmark_list"]["bookmarks"]) == 1
    with db.write() as session:
        posting.create_reply(session, settings, Viewer(session.get(User, rita.id)), topic_id=topic.id,
                             raw="My own reply ends the bookmark.")
    assert client.get("/u/rita/bookmarks.json", headers=headers).json()["bookmarks"] == []


def test_a_private_message_is_bookmarked_by_the_people_in_it_only(db, make_user, make_client, as_user):
    make_user("ana", tier="member")
    rita = make_user("rita", tier="member")
    mei = make_user("mei", tier="member")
    client = make_client()
    sent = client.post("/posts.json", data={"archetype": "private_message", "target_recipients": "rita",
                                            "title": "About the delegation to Geneva",
                                            "raw": "Can you travel on the 12th? Tell me privately."},
                       headers=as_user(make_user("sol", tier="member")))
    assert sent.status_code == 200, sent.text
    post_id = sent.json()["id"]
    assert client.post("/bookmarks.json", data={"bookmarkable_id": post_id}, headers=as_user(mei)).status_code == 404
    headers = as_user(rita)
    assert client.post("/bookmarks.json", data={"bookmarkable_id": post_id}, headers=headers).status_code == 200
    [item] = client.get("/u/rita/bookmarks.json", headers=headers).json()["user_bookmark_list"]["bookmarks"]
    assert item["unavailable"] is False and item["title"] == "About the delegation to Geneva"
