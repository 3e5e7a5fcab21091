"""Private messages with the real pydiscourse client (unmodified) against a running server."""

import pytest
from pydiscourse import DiscourseClient
from pydiscourse.exceptions import DiscourseClientError, DiscourseError

from tests.server import running_server

pytestmark = pytest.mark.server


@pytest.fixture(scope="module")
def server(database_url):
    with running_server(database_url) as base:
        yield base


@pytest.fixture
def client_for(server, make_key):
    def make(user) -> DiscourseClient:
        return DiscourseClient(server, api_username=user.username, api_key=make_key(user), timeout=30)

    return make


def test_a_bot_sends_reads_and_answers_private_messages(make_user, make_category, make_topic, client_for):
    ana, bob, eve = make_user("ana", tier="member"), make_user("bob", tier="member"), make_user("eve", tier="member")
    make_topic(ana, make_category("News"), title="Something public to read", raw="Public words.")
    a, b, e = client_for(ana), client_for(bob), client_for(eve)

    post = a.create_post("The delegates' travel budget, between us.", title="Travel budget for the delegation",
                         archetype="private_message", target_recipients="bob")
    topic_id = post["topic_id"]
    inbox = b.private_messages()
    assert [t["id"] for t in inbox["topic_list"]["topics"]] == [topic_id]
    assert [t["id"] for t in b.private_messages_unread()["topic_list"]["topics"]] == [topic_id]
    topic = b.topic("travel-budget-for-the-delegation", topic_id)
    assert topic["archetype"] == "private_message"
    assert {u["username"] for u in topic["details"]["allowed_users"]} == {"ana", "bob"}
    b.create_post("Agreed, I will send the figures.", topic_id=topic_id)
    assert a.topic_posts(topic_id)["post_stream"]["posts"][1]["username"] == "bob"

    # Someone outside: nothing in their lists, 404 on the topic and on the others' inboxes.
    assert e.private_messages()["topic_list"]["topics"] == []
    assert "Travel budget" not in str(e.latest_topics()) and "Travel budget" not in str(e.search("travel"))
    with pytest.raises(DiscourseClientError):
        e.topic("travel-budget-for-the-delegation", topic_id)
    with pytest.raises(DiscourseClientError):
        e.private_messages("bob")

    # Bad input is a clear error, not a message to nobody.
    with pytest.raises(DiscourseError, match="There is no person or group named nobody-such"):
        a.create_post("Hello there, anyone home?", title="A message to nobody at all",
                      archetype="private_message", target_recipients="nobody-such")
