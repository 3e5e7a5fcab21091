"""The unmodified pydiscourse client against a running server: what a Discourse bot reads back after
it deletes, watches, posts and administers."""

import pydiscourse.client
import pytest
from pydiscourse import DiscourseClient
from pydiscourse.exceptions import DiscourseClientError, DiscourseRateLimitedError

from tests.server import running_server

pytestmark = pytest.mark.server


@pytest.fixture(scope="module")
def server(database_url):
    # Members' posting limits stay tight here: the staff exemption is what is tested.
    with running_server(database_url, env={"FORUM_POSTS_PER_MINUTE": "2"}) as base:
        yield base


@pytest.fixture
def forum(make_user, make_category, make_topic, make_reply, staff):
    ana = make_user("ana", tier="member", name="Ana Lima")
    bob = make_user("bob", tier="participant")
    news = make_category("News and events")
    topic = make_topic(ana, news, title="General assembly in Lisbon", raw="Where shall we meet in Lisbon?")
    make_reply(bob, topic, raw="At the co-op hall near the river.")
    make_reply(ana, topic, raw="Agreed, see you there.")
    doomed = make_topic(bob, news, title="Bike repair workshop dates", raw="When shall we fix the bikes?")
    return {"ana": ana, "bob": bob, "news": news, "topic": topic, "doomed": doomed}


@pytest.fixture
def client_for(server, make_key):
    def make(user) -> DiscourseClient:
        return DiscourseClient(server, api_username=user.username, api_key=make_key(user), timeout=30)

    return make


def test_a_bot_reads_back_what_it_did(forum, client_for, staff, monkeypatch):
    admin, bob = client_for(staff), client_for(forum["bob"])
    news, t, doomed = forum["news"], forum["topic"], forum["doomed"]

    admin.delete_topic(doomed.id)
    assert [x["id"] for x in admin.latest_topics()["topic_list"]["topics"]] == [t.id]
    assert [x["id"] for x in admin.latest_topics(status="deleted")["topic_list"]["topics"]] == [doomed.id]

    bob.notifications(news.id, notification_level=3)
    assert [c["notification_level"] for c in bob.categories()] == [3]
    assert bob.category(news.id)["category"]["notification_level"] == 3

    stats = bob.about()["about"]["stats"]
    assert isinstance(stats["active_users_7_days"], int) and stats["post_count"] == 3

    latest = bob.latest_topics()
    posters = latest["topic_list"]["topics"][0]["posters"]
    assert [p["description"] for p in posters] == ["Original Poster, Most Recent Poster", "Frequent Poster"]

    # An admin's bot posts past the members' limit of two a minute.
    for i in range(3):
        admin.create_post(f"Weekly report number {i} for the assembly.", topic_id=t.id)
    bob.create_post("One reply from Bob here.", topic_id=t.id)
    bob.create_post("Another reply from Bob here.", topic_id=t.id)
    monkeypatch.setattr(pydiscourse.client.time, "sleep", lambda seconds: None)  # do not wait out the minute
    with pytest.raises(DiscourseRateLimitedError):
        bob.create_post("A third one, too quickly.", topic_id=t.id)


def test_a_bot_administers_accounts(forum, client_for, staff, make_user):
    admin = client_for(staff)
    bob, lurker = forum["bob"], make_user("lurker")
    assert admin.user_by_id(bob.id)["username"] == "bob"
    assert "bob" in [u["username"] for u in admin.list_users("active")]
    admin.deactivate(bob.id)
    assert [u["username"] for u in admin.list_users("pending")] == ["bob"]
    admin.activate(bob.id)
    admin.log_out(bob.id)
    assert admin.delete_user(lurker.id) == {"deleted": True}
    assert [m["username"] for m in admin.group_members("members")] == ["ana", staff.username]
    assert admin.group_owners("members") == []
    assert admin.group("workers")["group"]["user_count"] == 0
    with pytest.raises(DiscourseClientError):
        client_for(bob).user_by_id(bob.id)
