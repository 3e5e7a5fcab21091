"""Discourse's user API keys are not offered: a request carrying one is refused with Discourse's 403
shape and a clear message, never served as if it came from an anonymous visitor."""

import pytest
from sqlalchemy import func, select

from forum.models import Post
from tests.api.conftest import JSON

REFUSED = ("User API keys are not supported on this forum. Ask an administrator for an API key and send it "
           "in the Api-Key and Api-Username headers.")


@pytest.fixture
def forum(make_user, make_category, make_topic, staff):
    news = make_category("News and events")
    return {"topic": make_topic(staff, news, title="General assembly in Lisbon")}


def refused(response):
    assert response.status_code == 403
    assert response.headers["content-type"] == JSON
    assert response.json() == {"errors": [REFUSED], "error_type": "invalid_access"}


def test_reads_with_a_user_api_key_are_refused_not_anonymous(client, forum):
    t = forum["topic"]
    headers = {"User-Api-Key": "a" * 32, "User-Api-Client-Id": "mobile-app"}
    for path in ("/latest.json", f"/t/{t.id}.json", "/categories.json", "/session/current.json", "/site.json"):
        refused(client.get(path, headers=headers))
    refused(client.get("/latest", headers={**headers, "Accept": JSON}))


def test_writes_with_a_user_api_key_are_refused_and_write_nothing(client, db, forum):
    t = forum["topic"]
    r = client.post("/posts.json", headers={"User-Api-Key": "a" * 32},
                    data={"topic_id": t.id, "raw": "A reply through a user API key."})
    refused(r)  # the key is refused before anything else is looked at, CSRF included
    with db.read() as s:
        assert s.scalar(select(func.count(Post.id))) == 1


def test_feeds_refuse_user_api_keys_in_the_header_or_the_address(client, forum):
    for request in ({"headers": {"User-Api-Key": "a" * 32}}, {"params": {"user_api_key": "a" * 32}},
                    {"params": {"user_api_key": "a" * 32, "api_username": "ana"}}):
        r = client.get("/latest.rss", **request)
        assert r.status_code == 403, request
        assert "General assembly" not in r.text and "User API keys are not supported" in r.text
    assert client.get("/latest.rss").status_code == 200  # a feed without credentials is the public one


def test_an_api_key_still_works_next_to_a_user_api_key_header(client, make_user, make_key, forum):
    ana = make_user("ana")
    r = client.get("/session/current.json", headers={"Api-Key": make_key(ana), "User-Api-Key": "x"})
    assert r.status_code == 200 and r.json()["current_user"]["username"] == "ana"
