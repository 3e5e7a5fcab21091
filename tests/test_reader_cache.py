"""A signed-in reader's own pages kept per session: answered again without rendering, and never
stale for them, whatever changed and in whichever process (forum/pagecache.py ReaderPageCache)."""

from __future__ import annotations

import json
import re
import time
from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import select, update

from forum import categories, pagecache, user_admin
from forum.app import create_app
from forum.db import Database
from forum.models import Topic, TopicUser, utcnow
from forum.permissions import Viewer
from tests.conftest import csrf_of, login, post_form


def topic_path(topic) -> str:
    return f"/t/{topic.slug}/{topic.id}"


def cached(client, path: str):
    """The page, asked until it is answered from the cache (the first request of a session learns
    whose it is, the next keeps the page)."""
    for _ in range(4):
        page = client.get(path)
        if "age" in page.headers:
            return page
    raise AssertionError(f"{path} was never answered from the cache")


def _two_members_signed_in(make_client, make_user, make_category, make_topic, title: str):
    """ana's topic in a public category, and ana and bea each signed in on a browser of their own."""
    ana = make_user("ana", tier="member")
    make_user("bea", tier="member")
    topic = make_topic(ana, make_category("News and events"), title=title)
    browsers = make_client(), make_client()
    login(browsers[0], "ana")
    login(browsers[1], "bea")
    return topic, *browsers


def test_a_readers_repeated_views_are_kept_for_them_alone(make_client, make_user, make_category, make_topic):
    topic, first, second = _two_members_signed_in(make_client, make_user, make_category, make_topic,
                                                  "Newsletter of November")
    for path in (topic_path(topic), "/latest", f"/t/{topic.id}.json"):
        mine, theirs = cached(first, path), cached(second, path)
        assert mine.status_code == theirs.status_code == 200
    page, other = cached(first, "/latest").text, cached(second, "/latest").text
    assert 'class="me">ana<' in page and 'class="me">bea<' in other  # each their own header
    token = re.search(r'<meta name="csrf-token" content="([^"]+)"', page).group(1)
    assert token and token not in other  # and their own form token, which still works
    assert post_form(first, "/notifications/mark-all-read", {"csrf_token": token}).status_code in (302, 303)


def test_reading_a_topic_shows_at_once_in_the_readers_own_cached_list(make_client, make_user, make_category,
                                                                        make_topic, make_reply):
    ana = make_user("ana", tier="member")
    make_user("bea", tier="member")
    topic = make_topic(ana, make_category("News and events"), title="Board report for October")
    bea = make_client()
    login(bea, "bea")
    bea.get(topic_path(topic))  # she has read it
    make_reply(ana, topic, raw="The treasurer's figures are attached.")
    assert "1 unread" in cached(bea, "/latest").text
    bea.get(topic_path(topic))  # reading it (without JavaScript: the page reads every post shown) …
    assert "1 unread" not in bea.get("/latest").text  # … is in her list at once, though no other page changed


def test_a_draft_shows_at_once_in_its_authors_cached_composer(client, make_client, make_user, make_category,
                                                                make_topic):
    ana = make_user("ana", tier="member")
    make_user("bea", tier="member")
    topic = make_topic(ana, make_category("Working groups"), title="Working group on housing co-ops")
    path = topic_path(topic)
    bea, phone = make_client(), make_client()
    login(bea, "bea")
    login(phone, "bea")
    page = cached(bea, path).text
    sequence = int(re.search(r'name="draft_sequence" value="(\d+)"', page).group(1))
    r = phone.post("/drafts.json", data={"draft_key": f"topic_{topic.id}", "sequence": str(sequence),
                                         "data": json.dumps({"reply": "Bologna can host us.", "action": "reply"})},
                   headers={"X-CSRF-Token": csrf_of(phone, path)})
    assert r.status_code == 200, r.text
    assert "Bologna can host us." in bea.get(path).text


def test_another_readers_bookkeeping_leaves_a_readers_pages_cached(make_client, make_user, make_category,
                                                                     make_topic):
    topic, ana_client, bea = _two_members_signed_in(make_client, make_user, make_category, make_topic,
                                                    "Solidarity fund report")
    cached(ana_client, "/latest")
    bea.get(topic_path(topic))  # her read position and view: quiet writes of her own
    assert "age" in ana_client.get("/latest").headers


def test_log_out_suspension_and_a_stricter_category_in_another_process_end_cached_pages_at_once(
        settings, db, make_client, make_user, make_category, make_topic):
    ana = make_user("ana", tier="member")
    make_user("bea", tier="member")
    admin = make_user("carmen", admin=True)
    news = make_category("News and events")
    topic = make_topic(ana, news, title="Delegates for the world congress")
    path = topic_path(topic)
    laptop, phone, other = make_client(), make_client(), make_client()
    login(laptop, "bea")
    login(other, "ana")
    phone.cookies.update(laptop.cookies)  # the same session on a second device

    second_db = Database(settings)  # a second app process: its own engine and caches
    try:
        with TestClient(create_app(settings, second_db)) as second:
            second.cookies.update(laptop.cookies)
            assert "Delegates for the world congress" in cached(laptop, path).text
            # Logged out through the other process: the old cookie no longer opens the kept page.
            assert post_form(second, "/logout", {}, csrf_from=path).status_code == 303
            page = phone.get(path)
            assert "age" not in page.headers and 'class="me">bea<' not in page.text

        cached(other, path)
        with db.write() as session:
            categories.set_levels(session, Viewer(admin), news.id, categories.PRESETS["staff_only"])
        assert other.get(path).status_code == 404

        with db.write() as session:
            categories.set_levels(session, Viewer(admin), news.id, categories.PRESETS["public"])
        cached(other, path)
        with db.write() as session:
            user_admin.suspend(session, Viewer(admin), ana.id, until=utcnow() + timedelta(days=3), reason="Spam")
        page = other.get(path)
        assert "age" not in page.headers and 'class="me">ana<' not in page.text
    finally:
        second_db.dispose()


def test_a_readers_view_still_counts_once_per_window(make_client, db, make_user, make_category, make_topic,
                                                     monkeypatch):
    topic, _ana, bea = _two_members_signed_in(make_client, make_user, make_category, make_topic, "Events calendar")
    cached(bea, topic_path(topic))

    def views() -> int:
        with db.read() as session:
            return session.scalar(select(Topic.views).where(Topic.id == topic.id))

    counted = views()
    cached(bea, topic_path(topic))
    assert views() == counted  # reloads within the window count nothing
    # Half an hour later (the clock of the cache, and her last counted view, moved back).
    with db.write() as session:
        pagecache.quiet(session)
        session.execute(update(TopicUser).where(TopicUser.topic_id == topic.id)
                        .values(last_visited_at=utcnow() - timedelta(minutes=31)))
    later = time.time() + 31 * 60
    monkeypatch.setattr(pagecache.time, "time", lambda: later)
    assert "age" not in bea.get(topic_path(topic)).headers
    assert views() == counted + 1


def test_the_readers_cache_can_be_turned_off(settings, db, make_user, make_category, make_topic):
    settings.reader_cache_seconds = 0
    ana = make_user("ana", tier="member")
    make_topic(ana, make_category("News and events"), title="Events calendar")
    with TestClient(create_app(settings, db)) as member:
        login(member, "ana")
        for _ in range(4):
            assert "age" not in member.get("/latest").headers


def test_a_reload_asks_for_the_page_afresh(make_client, make_user, make_category, make_topic):
    topic, _ana, bea = _two_members_signed_in(make_client, make_user, make_category, make_topic,
                                              "Study visit to Mondragon")
    cached(bea, topic_path(topic))
    for asked in ("no-cache", "max-age=0"):  # a forced reload, a reload
        fresh = bea.get(topic_path(topic), headers={"Cache-Control": asked})
        assert fresh.status_code == 200 and "age" not in fresh.headers, asked
    assert "age" in bea.get(topic_path(topic)).headers  # and kept again
