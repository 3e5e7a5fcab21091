"""Read tracking: unread and new counts, jumping to the first unread post, marking read, seen-by and views."""

import html
import re

from sqlalchemy import update

from forum import tracking
from forum.models import Topic, TopicUser, User
from forum.permissions import Viewer
from tests.conftest import csrf_of, login, post_form


def _topic(db, topic_id) -> Topic:
    with db.read() as session:
        return session.get(Topic, topic_id)


def test_lists_show_unread_counts_that_jump_to_the_first_unread_post(client, db, make_user, make_category, make_topic,
                                                                     make_reply):
    ana = make_user("ana", tier="member")
    make_user("bob", tier="member")
    topic = make_topic(ana, make_category("News"), title="Harvest share rota")
    login(client, "bob")
    client.get(f"/t/{topic.slug}/{topic.id}")  # a page view without JavaScript reads the page
    for i in range(3):
        make_reply(ana, topic, raw=f"Rota change number {i}.")
    listing = html.unescape(client.get("/latest").text)
    assert f'href="/t/{topic.slug}/{topic.id}/2#post_2"' in listing
    assert "3 unread" in listing
    assert "Unread (1)" in listing
    assert topic.title in client.get("/unread").text
    # Reading the second page of posts up to post 3 leaves one unread.
    r = client.post(f"/t/{topic.id}/read", data={"post_number": "3"},
                    headers={"X-CSRF-Token": csrf_of(client), "X-Requested-With": "fetch"})
    assert r.json() == {"last_read_post_number": 3}
    assert "1 unread" in client.get("/latest").text
    assert post_form(client, f"/t/{topic.id}/mark-read", {}).status_code == 303
    assert "unread-count" not in client.get("/latest").text
    assert topic.title not in client.get("/unread").text


def test_with_javascript_posts_count_as_read_only_when_they_scroll_into_view(client, db, make_user, make_category,
                                                                             make_topic, make_reply):
    ana, bob = make_user("ana", tier="member"), make_user("bob", tier="member")
    topic = make_topic(ana, make_category("News"))
    for _ in range(4):
        make_reply(ana, topic)
    login(client, "bob")
    client.cookies.set("forum_js", "1")
    client.get(f"/t/{topic.slug}/{topic.id}")
    with db.read() as session:
        row = session.get(TopicUser, (bob.id, topic.id))
        assert row.first_visited_at is not None and row.last_read_post_number == 0


def test_new_tab_lists_topics_never_opened_and_mark_all_read_empties_it(client, make_user, make_category,
                                                                        make_topic):
    ana = make_user("ana", tier="member")
    make_user("bob", tier="member")
    news = make_category("News")
    fresh = make_topic(ana, news, title="Fresh topic about pensions")
    seen = make_topic(ana, news, title="Seen topic about budgets")
    login(client, "bob")
    client.get(f"/t/{seen.slug}/{seen.id}")
    page = client.get("/new").text
    assert fresh.title in page and seen.title not in page
    assert "New (1)" in page
    assert post_form(client, "/mark-all-read", {"next": "/new"}).headers["location"] == "/new"
    page = client.get("/new").text
    assert fresh.title not in page and "New (0)" in page
    assert client.get("/new", follow_redirects=False).status_code == 200
    anonymous = client.__class__(client.app)
    assert anonymous.get("/new", follow_redirects=False).status_code == 303


def test_marking_a_category_read_leaves_other_categories_unread(client, make_user, make_category, make_topic):
    ana = make_user("ana", tier="member")
    make_user("bob", tier="member")
    news, housing = make_category("News"), make_category("Housing")
    in_news = make_topic(ana, news, title="News item about wages")
    in_housing = make_topic(ana, housing, title="Housing item about rents")
    login(client, "bob")
    assert post_form(client, f"/c/{news.id}/mark-read", {}).status_code == 303
    page = client.get("/new").text
    assert in_news.title not in page and in_housing.title in page


def test_seen_by_counts_people_who_opened_it_against_those_allowed_to_see_it(
        client, db, make_user, make_category, make_topic, staff):
    ana = make_user("ana", tier="member")
    make_user("bob", tier="member")
    make_user("wendy", tier="worker")
    make_user("pat", tier="participant")
    topic = make_topic(ana, make_category("Members and workers", "members_and_workers"), title="Shift swap rules")
    # Allowed: ana, bob (members), wendy (worker), staffer: 4. The author opened it by writing it.
    login(client, "bob")
    page = html.unescape(client.get(f"/t/{topic.slug}/{topic.id}").text)
    assert "Seen by 2 of 4" in page
    assert "who?" not in page
    assert re.search(r'title="Opened by 2 of the 4 people who may see it"', html.unescape(client.get("/latest").text))
    # A member whose tier drops no longer counts on either side.
    with db.write() as session:
        session.execute(update(User).where(User.username == "bob").values(tier="participant"))
        assert tracking.seen_by(session, session.get(Topic, topic.id)) == tracking.SeenBy(1, 3)
    login(client, "staffer")
    client.get(f"/t/{topic.slug}/{topic.id}")
    breakdown = html.unescape(client.get(f"/t/{topic.id}/seen-by").text)
    assert "ana" in breakdown and "Seen by 2 of 3" in breakdown  # ana and now the staffer
    with db.read() as session:
        by_tier = tracking.seen_by_breakdown(session, Viewer(staff), session.get(Topic, topic.id)).by_tier
    # (opened it, may see it) per group: bob no longer counts, wendy may see it but has not opened it.
    assert by_tier == {"participant": (0, 0), "worker": (0, 1), "member": (1, 1), "staff": (1, 1)}
    login(client, "wendy")
    assert client.get(f"/t/{topic.id}/seen-by").status_code == 404


def test_an_email_or_a_mark_read_is_not_a_visit(db, make_user, make_category, make_topic):
    ana, bob = make_user("ana", tier="member"), make_user("bob", tier="member")
    topic = make_topic(ana, make_category("News"))
    with db.write() as session:
        tracking.mark_read(session, Viewer(bob), session.get(Topic, topic.id))
        tracking.dismiss(session, Viewer(bob))
    assert _topic(db, topic.id).seen_by_count == 1  # only the author


def test_views_count_once_per_viewer_within_the_window_across_app_instances(db, settings, make_user, make_category,
                                                                            make_topic):
    from fastapi.testclient import TestClient

    from forum.app import create_app

    topic = make_topic(make_user("ana", tier="member"), make_category("News"))
    first, second = TestClient(create_app(settings, db)), TestClient(create_app(settings, db))
    for client in (first, second, first, second):  # two processes, one visitor address
        client.get(f"/t/{topic.slug}/{topic.id}")
    assert _topic(db, topic.id).views == 1
    with db.write() as session:
        session.execute(update(tracking.TopicViewMark).values(viewed_at=tracking.utcnow() - tracking.VIEW_WINDOW))
    first.get(f"/t/{topic.slug}/{topic.id}")
    assert _topic(db, topic.id).views == 2


def test_watching_level_forms_take_effect_and_reject_nonsense(client, db, make_user, make_category, make_topic):
    ana, bob = make_user("ana", tier="member"), make_user("bob", tier="member")
    news = make_category("News")
    topic = make_topic(ana, news)
    login(client, "bob")
    assert post_form(client, f"/t/{topic.id}/notification-level", {"notification_level": "3"}).status_code == 303
    assert post_form(client, f"/c/{news.id}/notification-level", {"notification_level": "0"}).status_code == 303
    with db.read() as session:
        assert tracking.topic_level(session, bob.id, session.get(Topic, topic.id)) == tracking.WATCHING
        assert tracking.category_level(session, bob.id, news.id) == tracking.MUTED
    r = post_form(client, f"/t/{topic.id}/notification-level", {"notification_level": "7"})
    assert r.status_code == 422 and "Choose watching, tracking, normal or muted." in r.text


def test_watch_and_read_forms_on_hidden_topics_answer_404(client, make_user, make_category, make_topic):
    ana = make_user("ana", tier="member")
    make_user("pat", tier="participant")
    board = make_category("Board", "members_only")
    topic = make_topic(ana, board)
    login(client, "pat")
    assert post_form(client, f"/t/{topic.id}/notification-level", {"notification_level": "3"}).status_code == 404
    assert post_form(client, f"/t/{topic.id}/mark-read", {}).status_code == 404
    assert post_form(client, f"/c/{board.id}/mark-read", {}).status_code == 404


def test_read_progress_needs_a_post_number(client, make_user, make_category, make_topic):
    topic = make_topic(make_user("ana", tier="member"), make_category("News"))
    login(client, "ana")
    r = client.post(f"/t/{topic.id}/read", data={"post_number": "lots"},
                    headers={"X-CSRF-Token": csrf_of(client), "Accept": "application/json"})
    assert r.status_code == 422 and r.json()["errors"] == ["Say up to which post number you have read."]
