"""The real pydiscourse client (from PyPI, unmodified) and feedparser against a real running server."""

import feedparser
import httpx
import pytest
from pydiscourse import DiscourseClient
from pydiscourse.exceptions import DiscourseClientError, DiscourseRateLimitedError
from sqlalchemy import select

from forum.models import Category, User
from tests.server import running_server

pytestmark = pytest.mark.server


@pytest.fixture(scope="module")
def server(database_url):
    with running_server(database_url) as base:
        yield base


@pytest.fixture
def forum(make_user, make_category, make_topic, make_reply, staff):
    ana = make_user("ana", tier="member", name="Ana Lima")
    bob = make_user("bob", tier="participant")
    news = make_category("News and events")
    lounge = make_category("Members' lounge", "members_only")
    topic = make_topic(ana, news, title="General assembly in Lisbon", raw="Where shall we meet in Lisbon?")
    make_reply(bob, topic, raw="At the co-op hall near the river.")
    secret = make_topic(staff, lounge, title="Pension fund talks", raw="The pension numbers, members only.")
    return {"ana": ana, "bob": bob, "news": news, "lounge": lounge, "topic": topic, "secret": secret}


@pytest.fixture
def client_for(server, make_key):
    def make(user) -> DiscourseClient:
        return DiscourseClient(server, api_username=user.username, api_key=make_key(user), timeout=30)

    return make


def test_reading_with_pydiscourse(server, forum, client_for):
    bob = client_for(forum["bob"])
    t, news = forum["topic"], forum["news"]

    latest = bob.latest_topics()
    assert [x["title"] for x in latest["topic_list"]["topics"]] == ["General assembly in Lisbon"]
    assert bob.top_topics()["topic_list"]["topics"][0]["id"] == t.id
    assert [c["name"] for c in bob.categories()] == ["News and events"]
    assert bob.category(news.id)["category"]["slug"] == news.slug
    assert [x["id"] for x in bob.category_topics(news.id)["topic_list"]["topics"]] == [t.id]
    assert [x["id"] for x in bob.category_latest_topics(news.slug)["topic_list"]["topics"]] == [t.id]

    topic = bob.topic(t.slug, t.id)
    assert topic["title"] == t.title and len(topic["post_stream"]["stream"]) == 2
    posts = bob.topic_posts(t.id)["post_stream"]["posts"]
    assert [p["post_number"] for p in posts] == [1, 2]
    stream = topic["post_stream"]["stream"]
    assert [p["id"] for p in bob.posts(t.id, post_ids=stream[1:])["post_stream"]["posts"]] == stream[1:]
    assert bob.post_by_id(stream[0])["raw"] == "Where shall we meet in Lisbon?"
    assert bob.post_by_number(t.id, 2)["raw"] == "At the co-op hall near the river."
    assert 2 in [p["post_number"] for p in bob.post(t.id, 2)["post_stream"]["posts"]]
    assert [p["post_number"] for p in bob.latest_posts()["latest_posts"]] == [2, 1]
    assert bob.user("ana")["username"] == "ana"
    assert bob.about()["about"]["stats"]["topic_count"] == 1
    assert "notification_types" in bob.get_site_info()
    assert [p["topic_id"] for p in bob.search("Lisbon")["posts"]] == [t.id]
    assert [x["id"] for x in bob.topics_by("ana")] == [t.id]
    assert bob.post_action_users(stream[0], post_action_type_id=2)["post_action_users"] == []


def test_members_see_more_through_pydiscourse(server, forum, client_for):
    ana, bob = client_for(forum["ana"]), client_for(forum["bob"])
    s = forum["secret"]
    assert ana.topic(s.slug, s.id)["title"] == "Pension fund talks"
    with pytest.raises(DiscourseClientError) as e:
        bob.topic(s.slug, s.id)
    assert e.value.response.status_code == 404
    assert "Pension fund talks" in [x["title"] for x in ana.latest_topics()["topic_list"]["topics"]]
    assert "Pension fund talks" not in [x["title"] for x in bob.latest_topics()["topic_list"]["topics"]]
    with pytest.raises(DiscourseClientError):
        bob.category_topics(forum["lounge"].id)


def test_writing_with_pydiscourse(server, db, forum, client_for, staff, make_key):
    ana = client_for(forum["ana"])
    news = forum["news"]

    first = ana.create_post("Shall we add a cooking co-op to the federation?", category_id=news.id,
                            title="A cooking co-op joins")
    assert first["post_number"] == 1 and first["username"] == "ana" and first["raw"].startswith("Shall we")
    topic_id = first["topic_id"]
    reply = ana.create_post("Adding a note to my own proposal.", topic_id=topic_id, reply_to_post_number=1)
    assert reply["post_number"] == 2 and reply["reply_to_post_number"] == 1

    edited = ana.update_post(reply["id"], "Adding a clearer note to my proposal.", edit_reason="clarity")
    assert edited["post"]["raw"] == "Adding a clearer note to my proposal." and edited["post"]["version"] == 2
    assert ana.post_by_id(reply["id"])["cooked"] == "<p>Adding a clearer note to my proposal.</p>\n"

    # pydiscourse has no delete_post: the raw call, as the Ruby gem makes it.
    r = httpx.delete(f"{server}/posts/{reply['id']}.json",
                     headers={"Api-Key": make_key(forum["ana"]), "Api-Username": "ana"})
    assert r.status_code == 200 and r.content == b""
    topic = ana.topic("any-slug", topic_id)
    # Its author still reads it, marked deleted (as Discourse shows authors and staff); nobody else does.
    assert topic["posts_count"] == 1
    own = [p for p in topic["post_stream"]["posts"] if p["id"] == reply["id"]]
    assert own and own[0]["deleted_at"] is not None
    others = httpx.get(f"{server}/t/{topic_id}.json").json()
    assert reply["id"] not in others["post_stream"]["stream"]

    with pytest.raises(DiscourseClientError) as e:
        ana.create_post("x", category_id=news.id, title="no")
    assert e.value.response.status_code == 422

    renamed = ana.update_topic(f"/t/a-cooking-co-op-joins/{topic_id}", "A cooking co-op joins us")
    assert renamed["basic_topic"]["title"] == "A cooking co-op joins us"
    assert ana.topic_timings(topic_id, 5000, timings={1: 5000}) is None

    assert ana.delete_topic(topic_id) is None
    with pytest.raises(DiscourseClientError):
        ana.topic("a-cooking-co-op-joins", topic_id)


def test_staff_work_with_pydiscourse(server, db, forum, client_for, staff):
    admin = client_for(staff)
    created = admin.create_category("Workers' corner", "AA3300", permissions={"workers": 1, "members": 1})
    category = created["category"]
    assert category["name"] == "Workers' corner" and category["read_restricted"] is True
    child = admin.create_category("Shift swaps", "112233", parent="Workers' corner")
    assert child["category"]["parent_category_id"] == category["id"]
    with db.read() as s:
        row = s.get(Category, category["id"])
        assert (row.level_everyone, row.level_participant, row.level_worker, row.level_member) == (0, 0, 3, 3)
    updated = admin.update_category(category["id"], name="Workers' room", color="AA3300")
    assert updated["category"]["name"] == "Workers' room"
    assert admin.delete_category(child["category"]["id"]) == {"success": "OK"}

    result = admin.create_user("Cris Mendes", "cris", "cris@example.org", "a-long-password-3")
    assert result["success"] is True and result["active"] is True
    with db.read() as s:
        assert s.scalar(select(User.name).where(User.username_lower == "cris")) == "Cris Mendes"
    assert admin.user("cris")["name"] == "Cris Mendes"
    with pytest.raises(Exception) as e:  # a taken username: a 200 with errors, which pydiscourse raises
        admin.create_user("Cris Again", "cris", "cris2@example.org", "a-long-password-4")
    assert "already taken" in str(e.value)

    t = forum["topic"]
    assert admin.update_topic_status(t.id, "closed", True)["success"] == "OK"
    assert admin.topic(t.slug, t.id)["closed"] is True
    assert admin.notifications(forum["news"].id, notification_level=3)["success"] == "OK"


def test_bad_key_is_a_client_error(server, forum):
    client = DiscourseClient(server, api_username="ana", api_key="0" * 64)
    with pytest.raises(DiscourseClientError) as e:
        client.latest_topics()
    assert e.value.response.status_code == 403
    assert "The API username or key is invalid." in str(e.value)


def test_pydiscourse_backs_off_on_429(database_url, db, forum, make_key, monkeypatch):
    import pydiscourse.client

    waits: list[float] = []
    with running_server(database_url, env={"FORUM_POSTS_PER_MINUTE": "1"}) as base:
        monkeypatch.setattr(pydiscourse.client.time, "sleep", waits.append)  # do not really wait out the minute
        ana = DiscourseClient(base, api_username="ana", api_key=make_key(forum["ana"]))
        ana.create_post("The one reply allowed this minute.", topic_id=forum["topic"].id)
        with pytest.raises(DiscourseRateLimitedError):
            ana.create_post("One reply too many this minute.", topic_id=forum["topic"].id)
        monkeypatch.undo()
    # pydiscourse read extras.wait_seconds from our 429 body and backed off three times before giving up.
    assert len(waits) == 3 and all(1 < w <= 62 for w in waits)


def test_feedparser_reads_the_running_server(server, db, forum):
    from forum import feedtokens
    from forum.permissions import Viewer

    feed = feedparser.parse(f"{server}/latest.rss")
    assert feed.status == 200 and not feed.bozo
    assert [e.title for e in feed.entries] == ["General assembly in Lisbon"]
    for entry in feed.entries:
        assert httpx.get(entry.link).status_code == 200
    again = feedparser.parse(f"{server}/latest.rss", etag=feed.etag, modified=feed.modified)
    assert again.status == 304 and again.entries == []

    with db.write() as s:
        secret = feedtokens.create_feed_token(s, Viewer(forum["ana"])).secret
    s_topic = forum["secret"]
    private = feedparser.parse(f"{server}/t/{s_topic.slug}/{s_topic.id}.rss?token={secret}")
    assert private.status == 200 and not private.bozo and private.entries[0].title == "Pension fund talks"
    assert feedparser.parse(f"{server}/t/{s_topic.slug}/{s_topic.id}.rss").status == 404


def test_uploading_with_pydiscourse(server, forum, client_for, tmp_path):
    from PIL import Image

    ana, bob = client_for(forum["ana"]), client_for(forum["bob"])
    photo = tmp_path / "lounge.png"
    Image.new("RGB", (40, 30), (10, 90, 160)).save(photo)
    upload = ana.upload_image(str(photo), "composer", True)
    assert upload["original_filename"] == "lounge.png" and (upload["width"], upload["height"]) == (40, 30)
    assert upload["short_url"].startswith("upload://") and upload["url"].startswith("/uploads/default/original/1X/")
    ana.create_post(f"The lounge: ![lounge|40x30]({upload['short_url']})", topic_id=forum["secret"].id)
    member = httpx.get(server + upload["url"], headers={"Api-Key": ana.api_key, "Api-Username": "ana"})
    assert member.status_code == 200 and member.headers["content-type"] == "image/png"
    participant = httpx.get(server + upload["url"], headers={"Api-Key": bob.api_key, "Api-Username": "bob"})
    assert participant.status_code == 404  # the members' lounge is not theirs
    assert httpx.get(server + upload["url"]).status_code == 404
