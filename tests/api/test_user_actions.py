"""GET /user_actions.json: a person's topics, replies and likes, never in a topic the viewer may not see."""

import pytest
from pydiscourse import DiscourseClient
from sqlalchemy import select

from forum import posting
from forum.models import Post
from forum.permissions import Viewer
from tests.api.conftest import JSON
from tests.server import running_server


@pytest.fixture
def forum(db, make_user, make_category, make_topic, make_reply, staff):
    ana = make_user("ana", tier="member", name="Ana Lima")
    bea = make_user("bea", tier="member")
    pia = make_user("pia", tier="participant")
    news = make_category("News and events")
    lounge = make_category("Members' lounge", "members_only")
    assembly = make_topic(ana, news, title="General assembly in Lisbon", raw="Where shall we meet in Lisbon?")
    fair = make_topic(bea, news, title="Budget for the spring fair", raw="Numbers for the spring fair.")
    fair_reply = make_reply(ana, fair, raw="The stalls cost less this year.")
    pension = make_topic(ana, lounge, title="Pension fund talks", raw="The pension numbers, members only.")
    retreat = make_topic(bea, lounge, title="Secret retreat plans", raw="A weekend away, members only.")
    make_reply(ana, retreat, raw="Count me in for the retreat.")
    with db.write() as s:
        # ana likes bea's public and members-only posts; bea likes ana's public post
        posting.like_post(s, Viewer(ana), post_id=_first_post_id(s, fair))
        posting.like_post(s, Viewer(ana), post_id=_first_post_id(s, retreat))
        posting.like_post(s, Viewer(bea), post_id=_first_post_id(s, assembly))
    return {"ana": ana, "bea": bea, "pia": pia, "assembly": assembly, "fair": fair, "fair_reply": fair_reply,
            "pension": pension}


def _first_post_id(s, topic) -> int:
    return s.scalar(select(Post.id).where(Post.topic_id == topic.id, Post.post_number == 1))


def actions(client, headers=None, **params):
    r = client.get("/user_actions.json", params=params, headers=headers or {})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == JSON
    return r.json()["user_actions"]


def summary(items):
    return [(a["action_type"], a["title"], a["post_number"]) for a in items]


def test_topics_and_replies_of_a_person_as_a_visitor_sees_them(client, forum):
    items = actions(client, username="ana", filter="4,5")
    assert summary(items) == [(5, "Budget for the spring fair", 2), (4, "General assembly in Lisbon", 1)]
    first = items[1]
    assert first["username"] == first["acting_username"] == first["target_username"] == "ana"
    assert first["acting_name"] == "Ana Lima" and first["excerpt"] == "Where shall we meet in Lisbon?"
    assert first["topic_id"] == forum["assembly"].id and first["slug"] == forum["assembly"].slug
    assert "{size}" in first["avatar_template"] and first["deleted"] is False
    assert actions(client, username="ana", filter="4") == [items[1]]


def test_a_member_sees_the_members_only_actions_too(client, forum, as_user):
    items = actions(client, as_user(forum["bea"]), username="ana", filter="4,5")
    assert [t for _k, t, _n in summary(items)] == [
        "Secret retreat plans", "Pension fund talks", "Budget for the spring fair", "General assembly in Lisbon"]


@pytest.mark.parametrize("who", ["anonymous", "pia"])
def test_nothing_from_a_hidden_topic_ever_shows(client, forum, as_user, who):
    headers = as_user(forum["pia"]) if who == "pia" else {}
    for query in ({"filter": "1,4,5"}, {"filter": "1"}, {"filter": "5"}, {}):
        r = client.get("/user_actions.json", params={"username": "ana", **query}, headers=headers)
        assert r.status_code == 200
        for secret in ("Pension fund", "pension numbers", "Secret retreat", "retreat"):
            assert secret not in r.text, (query, secret)


def test_likes_given_are_public_likes_received_are_the_persons_own(client, forum, as_user, staff):
    liked = actions(client, username="ana", filter="1")
    assert summary(liked) == [(1, "Budget for the spring fair", 1)]
    assert liked[0]["acting_username"] == "ana" and liked[0]["username"] == "bea"
    # Likes received are listed to the person and admins only (Discourse's private action types).
    assert client.get("/user_actions.json", params={"username": "ana", "filter": "2"}).status_code == 404
    r = client.get("/user_actions.json", params={"username": "ana", "filter": "1,2"}, headers=as_user(forum["bea"]))
    assert r.status_code == 404 and r.json()["error_type"] == "not_found"
    for viewer in (forum["ana"], staff):
        received = actions(client, as_user(viewer), username="ana", filter="2")
        assert summary(received) == [(2, "General assembly in Lisbon", 1)]
        assert received[0]["acting_username"] == "bea" and received[0]["username"] == "ana"
    # Without a filter: every public kind, and the private ones only for the person.
    assert {a["action_type"] for a in actions(client, username="ana")} == {1, 4, 5}
    assert {a["action_type"] for a in actions(client, as_user(forum["ana"]), username="ana")} == {1, 2, 4, 5}


def test_deleted_posts_are_listed_to_staff_only(client, db, forum, as_user, staff):
    with db.write() as s:
        posting.delete_post(s, Viewer(forum["ana"]), post_id=forum["fair_reply"].id)
    assert [a["post_id"] for a in actions(client, username="ana", filter="5")] == []
    seen_by_staff = actions(client, as_user(staff), username="ana", filter="5")
    assert [(a["post_id"], a["deleted"]) for a in seen_by_staff if a["title"] == "Budget for the spring fair"] == [
        (forum["fair_reply"].id, True)]


def test_paging_with_offset_and_limit(client, forum, as_user):
    member = as_user(forum["bea"])
    everything = actions(client, member, username="ana", filter="4,5")
    assert len(everything) == 4
    assert actions(client, member, username="ana", filter="4,5", offset=1) == everything[1:]
    assert actions(client, member, username="ana", filter="4,5", offset=1, limit=2) == everything[1:3]
    assert actions(client, member, username="ana", filter="4,5", offset=10) == []


def test_bad_requests(client, forum):
    r = client.get("/user_actions.json")
    assert r.status_code == 400 and r.json()["errors"] == ["param is missing or the value is empty: username"]
    assert client.get("/user_actions.json", params={"username": "nobody"}).status_code == 404
    assert client.get("/user_actions.json", params={"username": "ana", "offset": "x"}).status_code == 400
    # Kinds of action this forum does not have simply list nothing.
    assert actions(client, username="ana", filter="17") == []


@pytest.mark.server
def test_pydiscourse_user_actions(database_url, forum, make_key):
    with running_server(database_url) as base:
        client = DiscourseClient(base, api_username="pia", api_key=make_key(forum["pia"]), timeout=30)
        items = client.user_actions("ana", "4,5")
        assert [a["title"] for a in items] == ["Budget for the spring fair", "General assembly in Lisbon"]
        assert [a["title"] for a in client.user_actions("ana", "4,5", offset=1)] == ["General assembly in Lisbon"]
