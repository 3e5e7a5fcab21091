"""Views through the topic JSON: counted only when the client asks (`track_visit=true` or the
`Discourse-Track-View` header), once per viewer per window, shared with page views."""

import pytest
from sqlalchemy import select

from forum.models import Topic, TopicUser
from tests.api.conftest import JSON
from tests.conftest import login


@pytest.fixture
def forum(make_user, make_category, make_topic, make_reply, staff):
    ana = make_user("ana", tier="member")
    bea = make_user("bea", tier="member")
    news = make_category("News and events")
    lounge = make_category("Members' lounge", "members_only")
    topic = make_topic(staff, news, title="General assembly in Lisbon", raw="Where shall we meet this year?")
    make_reply(staff, topic, raw="At the co-op hall.")
    secret = make_topic(staff, lounge, title="Pension fund talks", raw="Members only: the numbers.")
    return {"ana": ana, "bea": bea, "topic": topic, "secret": secret}


def counters(db, topic) -> tuple[int, int]:
    with db.read() as s:
        t = s.get(Topic, topic.id)
        return t.views, t.seen_by_count


def test_reading_the_json_does_not_count_a_view_unless_asked(client, db, forum, as_user):
    t = forum["topic"]
    before = counters(db, t)
    for path in (f"/t/{t.id}.json", f"/t/{t.slug}/{t.id}.json", f"/t/{t.slug}/{t.id}/2.json"):
        assert client.get(path).status_code == 200
        assert client.get(path, headers=as_user(forum["ana"])).status_code == 200
    assert counters(db, t) == before


def test_track_visit_counts_once_per_viewer_however_often_they_reload(client, db, forum, as_user):
    t = forum["topic"]
    views, seen = counters(db, t)
    ana = as_user(forum["ana"])
    for path in (f"/t/{t.id}.json", f"/t/{t.slug}/{t.id}.json", f"/t/{t.slug}/{t.id}/2.json"):
        assert client.get(path, params={"track_visit": "true"}, headers=ana).status_code == 200
    assert counters(db, t) == (views + 1, seen + 1)  # one view, and ana now counts in "seen by"
    assert client.get(f"/t/{t.id}.json", params={"track_visit": "true"}, headers=as_user(forum["bea"])).json()
    assert counters(db, t) == (views + 2, seen + 2)
    # An anonymous client counts once per address, and not in "seen by".
    for _ in range(3):
        assert client.get(f"/t/{t.id}.json", params={"track_visit": "true"}).status_code == 200
    assert counters(db, t) == (views + 3, seen + 2)


def test_the_discourse_track_view_header_asks_too(client, db, forum, as_user):
    t = forum["topic"]
    views, _seen = counters(db, t)
    headers = {**as_user(forum["ana"]), "Discourse-Track-View": "1", "Discourse-Track-View-Topic-Id": str(t.id)}
    assert client.get(f"/t/{t.slug}/{t.id}.json", headers=headers).status_code == 200
    assert client.get(f"/t/{t.slug}/{t.id}.json", headers=headers).status_code == 200
    assert counters(db, t)[0] == views + 1
    off = {**as_user(forum["bea"]), "Discourse-Track-View": "false"}
    assert client.get(f"/t/{t.slug}/{t.id}.json", headers=off).status_code == 200
    assert counters(db, t)[0] == views + 1


def test_a_page_view_and_a_tracked_json_view_by_one_person_count_once(client, db, forum):
    t = forum["topic"]
    views, seen = counters(db, t)
    login(client, "ana")
    assert client.get(f"/t/{t.slug}/{t.id}").status_code == 200
    assert counters(db, t) == (views + 1, seen + 1)
    r = client.get(f"/t/{t.id}.json?track_visit=true", headers={"Accept": JSON})
    assert r.status_code == 200
    assert counters(db, t) == (views + 1, seen + 1)


def test_track_visit_does_not_move_the_reading_position(client, db, forum, as_user):
    t = forum["topic"]
    client.get(f"/t/{t.id}.json", params={"track_visit": "true"}, headers=as_user(forum["ana"]))
    with db.read() as s:
        row = s.scalar(select(TopicUser).where(TopicUser.topic_id == t.id, TopicUser.user_id == forum["ana"].id))
        assert row is not None and row.first_visited_at is not None
        assert row.last_read_post_number == 0  # /topics/timings moves it, as in Discourse


def test_a_hidden_topic_counts_nothing_and_answers_404(client, db, forum, make_user, as_user):
    s = forum["secret"]
    pia = make_user("pia", tier="participant")
    before = counters(db, s)
    for headers in ({}, as_user(pia)):
        r = client.get(f"/t/{s.id}.json", params={"track_visit": "true"}, headers=headers)
        assert r.status_code == 404 and r.json()["error_type"] == "not_found"
    assert counters(db, s) == before
