"""What a Discourse client (a bot, a mobile app) reads back after the writes it makes: deleted topics
out of lists, its watch levels, the site's stats, who took part in a topic, and staff posting
without the members' rate limits."""

from datetime import timedelta

import pytest
from sqlalchemy import update

from forum.config import Settings
from forum.models import User, utcnow
from tests.api.conftest import JSON
from tests.conftest import login, post_form


@pytest.fixture
def forum(make_user, make_category, make_topic, make_reply, staff):
    ana = make_user("ana", tier="member", name="Ana Lima")
    bob = make_user("bob", tier="participant")
    cy = make_user("cyd", tier="worker")
    news = make_category("News and events")
    topic = make_topic(ana, news, title="General assembly in Lisbon", raw="Where shall we meet in Lisbon?")
    return {"ana": ana, "bob": bob, "cy": cy, "news": news, "topic": topic}


def _titles(body) -> list[str]:
    return [t["title"] for t in body["topic_list"]["topics"]]


# --- deleted topics ---------------------------------------------------------------------------

def test_a_deleted_topic_leaves_the_lists_of_staff_too(client, forum, make_topic, as_user, staff):
    other = make_topic(forum["bob"], forum["news"], title="Bike repair workshop dates")
    admin = as_user(staff)
    assert client.delete(f"/t/{other.id}.json", headers=admin).status_code == 200

    for path in ("/latest.json", f"/c/{forum['news'].id}.json", "/top.json"):
        titles = _titles(client.get(path, headers=admin).json())
        assert "Bike repair workshop dates" not in titles and "General assembly in Lisbon" in titles, path
    # Staff find it with status=deleted; the topic itself says when and by whom.
    deleted = client.get("/latest.json", headers=admin, params={"status": "deleted"}).json()
    assert _titles(deleted) == ["Bike repair workshop dates"]
    topic = client.get(f"/t/{other.id}.json", headers=admin).json()
    assert topic["deleted_at"] is not None and topic["deleted_by"]["username"] == staff.username
    # Members asking for deleted topics get the ordinary list.
    bob = client.get("/latest.json", headers=as_user(forum["bob"]), params={"status": "deleted"}).json()
    assert _titles(bob) == ["General assembly in Lisbon"]
    assert client.get(f"/t/{other.id}.json", headers=as_user(forum["bob"])).status_code == 404


def test_status_filters_the_latest_list(client, forum, make_topic, as_user, staff):
    closed = make_topic(forum["ana"], forum["news"], title="Last year's budget vote")
    admin = as_user(staff)
    r = client.put(f"/t/{closed.id}/status.json", headers=admin, data={"status": "closed", "enabled": "true"})
    assert r.status_code == 200
    assert _titles(client.get("/latest.json", headers=admin, params={"status": "closed"}).json()) == [closed.title]
    assert _titles(client.get("/latest.json", headers=admin, params={"status": "open"}).json()) == [
        "General assembly in Lisbon"]


# --- category watch levels --------------------------------------------------------------------

def test_category_lists_show_the_viewers_watch_level(client, forum, as_user):
    news = forum["news"]
    ana = as_user(forum["ana"])
    r = client.post(f"/category/{news.id}/notifications.json", headers=ana, data={"notification_level": 3})
    assert r.status_code == 200

    def level(categories):
        return next(c["notification_level"] for c in categories if c["id"] == news.id)

    assert level(client.get("/categories.json", headers=ana).json()["category_list"]["categories"]) == 3
    assert client.get(f"/c/{news.slug}/{news.id}/show.json", headers=ana).json()["category"]["notification_level"] == 3
    assert client.get(f"/c/{news.id}/show.json", headers=ana).json()["category"]["notification_level"] == 3
    assert level(client.get("/site.json", headers=ana).json()["categories"]) == 3
    # Someone else's level is their own.
    bob = as_user(forum["bob"])
    assert level(client.get("/categories.json", headers=bob).json()["category_list"]["categories"]) == 1
    client.post(f"/category/{news.id}/notifications.json", headers=ana, data={"notification_level": 0})
    assert level(client.get("/categories.json", headers=ana).json()["category_list"]["categories"]) == 0


# --- /about.json ------------------------------------------------------------------------------

def test_about_fills_its_stats(client, db, forum, make_user, make_reply, make_category, make_topic, as_user, staff):
    make_reply(forum["bob"], forum["topic"], raw="At the co-op hall near the river.")
    lounge = make_category("Members' lounge", "members_only")
    make_topic(staff, lounge, title="Pension fund talks")
    r = client.post("/post_actions.json", headers=as_user(forum["bob"]), data={"id": 1, "post_action_type_id": 2})
    assert r.status_code == 200
    now = utcnow()
    with db.write() as s:
        s.execute(update(User).where(User.username == "ana").values(last_seen_at=now - timedelta(days=2)))
        s.execute(update(User).where(User.username == "bob").values(last_seen_at=now - timedelta(days=20)))
        s.execute(update(User).where(User.username == "cyd").values(last_seen_at=now - timedelta(days=90)))
        s.execute(update(User).where(User.username == staff.username).values(last_seen_at=None))

    stats = client.get("/about.json").json()["about"]["stats"]
    assert stats["active_users_7_days"] == 1 and stats["active_users_30_days"] == 2
    assert stats["active_users_last_day"] == 0
    assert stats["user_count"] == 4 and stats["users_7_days"] == 4 and stats["users_30_days"] == 4
    # Content counts are those of what the asker may see: the lounge is members only.
    assert stats["topic_count"] == 1 and stats["topics_7_days"] == 1 and stats["topics_30_days"] == 1
    assert stats["post_count"] == 2 and stats["posts_7_days"] == 2 and stats["posts_last_day"] == 2
    assert stats["likes_count"] == 1 and stats["likes_7_days"] == 1 and stats["likes_30_days"] == 1
    assert all(isinstance(v, int) for v in stats.values())
    member = client.get("/about.json", headers=as_user(forum["ana"])).json()["about"]["stats"]
    assert member["topic_count"] == 2 and member["topics_7_days"] == 2


# --- participants and posters -----------------------------------------------------------------

def test_participants_and_posters_name_who_replied(client, forum, make_user, make_reply, as_user):
    t = forum["topic"]
    dee = make_user("dee", tier="member")
    eve = make_user("eve", tier="member")
    fay = make_user("fay", tier="member")
    for who, n in ((forum["bob"], 3), (forum["cy"], 2), (dee, 1), (eve, 1)):
        for i in range(n):
            make_reply(who, t, raw=f"A reply by {who.username}, number {i}.")
    make_reply(fay, t, raw="The most recent word.")
    bob = as_user(forum["bob"])

    details = client.get(f"/t/{t.id}.json", headers=bob).json()["details"]
    counts = {p["username"]: p["post_count"] for p in details["participants"]}
    assert counts == {"ana": 1, "bob": 3, "cyd": 2, "dee": 1, "eve": 1, "fay": 1}

    body = client.get("/latest.json", headers=bob).json()
    item = next(x for x in body["topic_list"]["topics"] if x["id"] == t.id)
    users = {u["id"]: u["username"] for u in body["users"]}
    posters = [(users[p["user_id"]], p["description"], p["extras"]) for p in item["posters"]]
    # The original poster, the most frequent posters, and the most recent one last: five at most.
    assert posters == [("ana", "Original Poster", None), ("bob", "Frequent Poster", None),
                       ("cyd", "Frequent Poster", None), ("dee", "Frequent Poster", None),
                       ("fay", "Most Recent Poster", "latest")]


def test_a_lone_poster_is_original_and_most_recent(client, forum, as_user):
    body = client.get("/latest.json", headers=as_user(forum["bob"])).json()
    posters = body["topic_list"]["topics"][0]["posters"]
    assert [(p["description"], p["extras"]) for p in posters] == [
        ("Original Poster, Most Recent Poster", "latest single")]


def test_posters_leave_out_authors_of_posts_the_viewer_may_not_read(client, forum, make_user, make_reply,
                                                                      as_user, staff):
    t = forum["topic"]
    troll = make_user("troll", tier="participant")
    for i in range(3):
        make_reply(troll, t, raw=f"Something regrettable, take {i}.")
    make_reply(forum["cy"], t, raw="Back to the topic, please.")
    admin = as_user(staff)
    stream = client.get(f"/t/{t.id}.json", headers=admin).json()["post_stream"]["posts"]
    for p in stream:
        if p["username"] == "troll":
            assert client.delete(f"/posts/{p['id']}.json", headers=admin).status_code == 200
    item = client.get("/latest.json", headers=as_user(forum["bob"])).json()["topic_list"]["topics"][0]
    assert "troll" not in client.get("/latest.json", headers=as_user(forum["bob"])).text
    assert len(item["posters"]) == 2
    details = client.get(f"/t/{t.id}.json", headers=as_user(forum["bob"])).json()["details"]
    assert "troll" not in [p["username"] for p in details["participants"]]


# --- staff and the posting rate limits --------------------------------------------------------

@pytest.fixture
def tight_client(settings, db):
    from fastapi.testclient import TestClient

    from forum.app import create_app

    tight = Settings(**{**settings.model_dump(), "posts_per_minute": 2, "topics_per_hour": 1})
    with TestClient(create_app(tight, db)) as c:
        yield c


def test_staff_post_without_the_members_rate_limits(tight_client, forum, make_user, as_user):
    moderator = make_user("modo", tier="member", moderator=True)
    t, news = forum["topic"], forum["news"]
    headers = as_user(moderator)
    for i in range(4):
        r = tight_client.post("/posts.json", headers=headers, data={"raw": f"Moderator note number {i}.",
                                                                    "topic_id": t.id})
        assert r.status_code == 200, r.text
    for i in range(2):
        r = tight_client.post("/posts.json", headers=headers, data={
            "raw": "Split from the assembly thread.", "title": f"Split thread about the assembly {i}",
            "category": news.id})
        assert r.status_code == 200, r.text
    # The same pages a moderator uses are not limited either.
    login(tight_client, "modo")
    for i in range(3):
        assert post_form(tight_client, f"/t/{t.id}/reply", {"raw": f"Page note number {i}."}).status_code == 303
    # Members still are.
    member = as_user(forum["ana"])
    codes = [tight_client.post("/posts.json", headers=member, data={"raw": f"Member reply {i} here.",
                                                                    "topic_id": t.id}).status_code
             for i in range(3)]
    assert codes == [200, 200, 429]
    assert JSON
