"""Posting limits live in the services (forum/posting.py, forum/polls.py), so every door meets the
same limit, and staff are exempt from them (permissions.exempt_from_post_limits)."""

from __future__ import annotations

import pytest

from forum import posting
from forum.config import Settings
from forum.errors import RateLimited
from forum.permissions import Viewer
from forum.ratelimit import RateLimiter
from tests.conftest import login, post_form


@pytest.fixture
def tight(settings, db):
    from fastapi.testclient import TestClient

    from forum.app import create_app

    tight = Settings(**{**settings.model_dump(), "posts_per_minute": 2, "topics_per_hour": 1})
    with TestClient(create_app(tight, db)) as c:
        yield c


@pytest.fixture
def news(make_category):
    return make_category("News and events")


def test_replying_through_the_service_is_limited_whoever_calls_it(db, settings, make_user, make_topic, news, staff):
    ana = make_user("ana", tier="member")
    topic = make_topic(staff, news)
    limited = Settings(**{**settings.model_dump(), "posts_per_minute": 2})
    limiter = RateLimiter()
    for i in range(2):
        with db.write() as s:
            posting.create_reply(s, limited, Viewer(ana), topic_id=topic.id, raw=f"Reply number {i} here.",
                                 limiter=limiter)
    with pytest.raises(RateLimited), db.write() as s:
        posting.create_reply(s, limited, Viewer(ana), topic_id=topic.id, raw="One reply too many.", limiter=limiter)


def test_staff_are_exempt_from_the_posting_limits_on_pages_and_in_the_api(tight, db, make_user, make_topic, news,
                                                                         staff):
    from forum import apikeys

    make_user("modo", tier="member", moderator=True)
    topic = make_topic(staff, news)
    login(tight, "modo")
    for i in range(3):
        r = post_form(tight, f"/t/{topic.id}/reply", {"raw": f"Moderator reply {i} on the page."})
        assert r.status_code == 303, r.text
    with db.write() as s:
        key = apikeys.create_api_key(s, Viewer(staff), username="modo").secret
    headers = {"Api-Key": key, "Api-Username": "modo"}
    for i in range(2):
        r = tight.post("/posts.json", headers=headers, data={"raw": f"Moderator reply {i} by API.", "topic_id": topic.id})
        assert r.status_code == 200, r.text
    for i in range(2):
        r = tight.post("/posts.json", headers=headers, data={"raw": f"Moderator topic number {i} here.",
                                                             "title": f"Moderator notice number {i}",
                                                             "category": news.id})
        assert r.status_code == 200, r.text


def test_a_new_event_and_a_new_topic_share_the_topics_per_hour_limit(tight, make_user, news):
    make_user("ana", tier="member")
    login(tight, "ana")
    r = post_form(tight, "/new-topic", {"title": "Spring assembly agenda", "raw": "What should we discuss?",
                                        "category": news.id})
    assert r.status_code == 303
    r = post_form(tight, "/new-event", {"title": "Spring assembly in Lisbon", "raw": "Come and meet us there.",
                                        "category": news.id, "start_date": "2099-04-01", "start_time": "18:00",
                                        "timezone": "UTC"})
    assert r.status_code == 429
