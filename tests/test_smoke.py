from tests.conftest import login, post_form


def test_member_starts_topic_and_participant_replies(client, make_client, make_user, make_category):
    news = make_category("News and events")
    make_user("ana", tier="member")
    make_user("bob", tier="participant")
    login(client, "ana")
    r = post_form(client, "/new-topic", {"title": "General assembly 2027", "raw": "Where shall we meet?",
                                         "category": news.id})
    assert r.status_code == 303
    topic_url = r.headers["location"]
    other = make_client()
    login(other, "bob")
    r = post_form(other, "/t/1/reply", {"raw": "In Lisbon, @ana!"})
    assert r.status_code == 303
    page = client.get(topic_url)
    assert "In Lisbon" in page.text and 'href="/u/ana"' in page.text
