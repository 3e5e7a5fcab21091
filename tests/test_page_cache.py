"""The anonymous page cache: fast for visitors, never stale after a change, never shared with accounts."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select

from forum import categories
from forum.app import create_app
from forum.db import Database
from forum.models import Topic
from forum.permissions import Viewer
from tests.conftest import login


def topic_path(topic) -> str:
    return f"/t/{topic.slug}/{topic.id}"


def test_anonymous_pages_are_served_from_the_cache_until_anything_changes(client, make_user, make_category,
                                                                           make_topic, make_reply):
    ana = make_user("ana", tier="member")
    news = make_category("News and events")
    topic = make_topic(ana, news, title="General assembly venue")

    first = client.get("/latest")
    again = client.get("/latest")
    assert first.status_code == again.status_code == 200
    assert "age" not in first.headers and "age" in again.headers  # the second came from the cache
    assert again.text == first.text

    make_reply(ana, topic, raw="The venue is confirmed for March.")
    page = client.get(topic_path(topic))
    assert "The venue is confirmed for March." in page.text
    make_reply(ana, topic, raw="Catering is booked as well.")
    assert "Catering is booked as well." in client.get(topic_path(topic)).text
    assert "age" not in client.get("/latest").headers  # re-rendered after the replies


def test_a_change_made_by_another_process_shows_at_once(settings, client, make_user, make_category, make_topic):
    ana = make_user("ana", tier="member")
    news = make_category("News and events")
    make_topic(ana, news, title="Board report for October")
    assert "Board report for October" in client.get("/latest").text
    assert "age" in client.get("/latest").headers

    other_db = Database(settings)  # a second app process: its own engine, pool and page cache
    try:
        other = create_app(settings, other_db)
        with TestClient(other) as member:
            login(member, "ana")
            r = member.post("/new-topic", data={
                "title": "Call for expressions of interest", "raw": "Tell us which working group you would join.",
                "category": str(news.id), "csrf_token": _csrf(member)}, follow_redirects=False)
            assert r.status_code == 303, r.text
    finally:
        other_db.dispose()
    assert "Call for expressions of interest" in client.get("/latest").text


def _csrf(client) -> str:
    import re

    return re.search(r'<meta name="csrf-token" content="([^"]+)"', client.get("/latest").text).group(1)


def test_a_topic_moved_to_a_members_only_category_vanishes_from_cached_pages(client, db, make_user, make_category,
                                                                              make_topic):
    ana = make_user("ana", tier="member")
    admin = make_user("carmen", admin=True)
    news = make_category("News and events")
    lounge = make_category("Members' lounge", "members_only")
    topic = make_topic(ana, news, title="Draft budget for next year")
    for path in ("/latest", f"/c/{news.slug}/{news.id}", topic_path(topic)):
        assert "Draft budget for next year" in client.get(path).text
        assert "age" in client.get(path).headers  # cached

    with db.write() as session:
        from forum import moderation

        moderation.move_topic(session, Viewer(admin), topic.id, lounge.id)
    assert client.get(topic_path(topic)).status_code == 404
    assert "Draft budget for next year" not in client.get("/latest").text
    assert "Draft budget for next year" not in client.get(f"/c/{news.slug}/{news.id}").text

    # Lowering a category's levels works the same way.
    other = make_topic(ana, news, title="Agenda of the general assembly")
    assert "Agenda of the general assembly" in client.get(topic_path(other)).text
    with db.write() as session:
        categories.set_levels(session, Viewer(admin), news.id, categories.PRESETS["signed_in"])
    assert client.get(topic_path(other)).status_code == 404


def test_cached_pages_carry_no_token_or_cookie_and_signed_in_readers_never_get_them(client, make_client,
                                                                                     make_user, make_category,
                                                                                     make_topic):
    ana = make_user("ana", tier="member")
    news = make_category("News and events")
    topic = make_topic(ana, news, title="Newsletter of November")
    page = client.get(topic_path(topic))
    assert "set-cookie" not in page.headers
    assert '<meta name="csrf-token" content="">' in page.text
    assert "age" in client.get(topic_path(topic)).headers

    member = make_client()
    login(member, "ana")
    own = member.get(topic_path(topic))
    assert "age" not in own.headers and "Log out" in own.text
    assert 'name="csrf-token" content=""' not in own.text
    assert "age" not in member.get(topic_path(topic)).headers
    # The login form still works for visitors: it has its own token and cookie.
    assert 'name="csrf_token"' in client.get("/login").text


def test_views_are_counted_for_pages_served_from_the_cache(app, db, make_user, make_category, make_topic):
    ana = make_user("ana", tier="member")
    news = make_category("News and events")
    topic = make_topic(ana, news, title="Solidarity fund report")
    for address in ("192.0.2.1", "192.0.2.2", "192.0.2.3"):
        with TestClient(app, client=(address, 50000)) as visitor:
            visitor.get(topic_path(topic))
            visitor.get(topic_path(topic))  # a reload within the window is not another view
    with db.read() as session:
        assert session.scalar(select(Topic.views).where(Topic.id == topic.id)) == 3


def test_the_cache_can_be_turned_off(settings, db, make_user, make_category, make_topic):
    settings.anon_cache_seconds = 0
    ana = make_user("ana", tier="member")
    make_topic(ana, make_category("News and events"), title="Events calendar")
    with TestClient(create_app(settings, db)) as visitor:
        visitor.get("/latest")
        assert "age" not in visitor.get("/latest").headers
