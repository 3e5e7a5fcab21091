"""Personal feed tokens: made, listed and revoked in preferences; they open feeds only, as their owner
may read now; wrong ones answer 404 and are rate-limited per address."""

import re
import uuid

import feedparser
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from forum import auth, feedtokens
from forum.config import Settings
from forum.models import FeedToken, User
from forum.permissions import Viewer
from tests.conftest import SEES, VIEWERS, csrf_of, login, post_form

TOKEN_URL_RE = re.compile(r'value="(http://testserver/[^"?]+\?token=([A-Za-z0-9_-]+))"')


@pytest.fixture
def lounge(make_category, make_topic, make_reply, staff):
    category = make_category("Members' lounge", "members_only")
    topic = make_topic(staff, category, title="Pension fund talks", raw="The pension numbers, members only.")
    make_reply(staff, topic, raw="Second post on pensions.")
    return category, topic


def mint(db, user, scope="all") -> str:
    with db.write() as s:
        return feedtokens.create_feed_token(s, Viewer(user), scope=scope).secret


def entries(response):
    assert response.status_code == 200, response.text[:200]
    feed = feedparser.parse(response.content)
    assert not feed.bozo
    return feed.entries


# --- preferences ------------------------------------------------------------------------------

def test_create_list_and_revoke_in_preferences(client, db, people, lounge):
    category, topic = lounge
    login(client, "mei")
    assert 'href="/my/preferences/feeds"' in client.get("/my/preferences").text
    page = client.get("/my/preferences/feeds")
    assert page.status_code == 200 and "You have no private feed links." in page.text

    r = post_form(client, "/my/feed-tokens", {"feed": "", "label": "My reader"}, csrf_from="/my/preferences/feeds")
    assert r.status_code == 200
    urls = TOKEN_URL_RE.findall(r.text)
    assert urls and all(secret == urls[0][1] for _url, secret in urls)
    secret = urls[0][1]
    assert "shown only once" in r.text
    # Only a hash is kept: the secret is nowhere in the table, and the list never shows it again.
    with db.read() as s:
        row = s.scalar(select(FeedToken))
        assert row.token_hash == auth.token_hash(secret) and secret not in (row.scope, row.label)
    listing = client.get("/my/preferences/feeds").text
    assert "All your feeds" in listing and "My reader" in listing and secret not in listing

    # It reads the members-only topic that an anonymous reader cannot.
    feed = f"/t/{topic.slug}/{topic.id}.rss"
    assert client.get(feed).status_code == 404
    assert [e.title for e in entries(client.get(f"{feed}?token={secret}"))] == ["Pension fund talks"] * 2

    r = post_form(client, f"/my/feed-tokens/{row.id}/revoke", {}, csrf_from="/my/preferences/feeds")
    assert r.status_code == 303
    assert client.get(f"{feed}?token={secret}").status_code == 404
    assert "You have no private feed links." in client.get("/my/preferences/feeds").text


def test_scoped_token_from_a_pasted_feed_address(client, db, people, lounge, make_category, make_topic, staff):
    category, topic = lounge
    other = make_category("Members' archive", "members_only")
    other_topic = make_topic(staff, other, title="Archived minutes of 2019")
    login(client, "mei")
    r = post_form(client, "/my/feed-tokens", {"feed": f"http://testserver/c/{category.slug}/{category.id}.rss"},
                  csrf_from="/my/preferences/feeds")
    (url, secret), = TOKEN_URL_RE.findall(r.text)
    assert url == f"http://testserver/c/{category.slug}/{category.id}.rss?token={secret}"
    assert "Category: Members&#39; lounge" in client.get("/my/preferences/feeds").text
    assert [e.title for e in entries(client.get(f"/c/{category.slug}/{category.id}.rss?token={secret}"))] == \
        ["Pension fund talks"]
    # Minted for one category's feed: every other feed answers 404.
    for path in (f"/c/{other.slug}/{other.id}.rss", f"/t/{topic.slug}/{topic.id}.rss", "/latest.rss",
                 "/posts.rss", f"/t/{other_topic.slug}/{other_topic.id}.rss", "/u/staffer/activity.rss"):
        assert client.get(f"{path}?token={secret}").status_code == 404, path


def test_private_feed_button_on_a_topic_page_makes_a_topic_token(client, db, people, lounge):
    category, topic = lounge
    login(client, "mei")
    r = post_form(client, "/my/feed-tokens", {"scope": f"topic:{topic.id}"}, csrf_from=f"/t/{topic.slug}/{topic.id}")
    (url, secret), = TOKEN_URL_RE.findall(r.text)
    assert url == f"http://testserver/t/{topic.slug}/{topic.id}.rss?token={secret}"
    assert client.get(f"/t/{topic.slug}/{topic.id}.rss?token={secret}").status_code == 200
    assert client.get(f"/c/{category.slug}/{category.id}.rss?token={secret}").status_code == 404


def test_no_token_for_a_feed_one_cannot_read(client, people, lounge):
    category, topic = lounge
    login(client, "pia")
    for form in ({"feed": f"/c/{category.slug}/{category.id}.rss"}, {"scope": f"topic:{topic.id}"},
                 {"feed": "/not/a/feed"}, {"scope": "everything"}):
        r = post_form(client, "/my/feed-tokens", form, csrf_from="/my/preferences/feeds")
        assert r.status_code == 422 and "?token=" not in r.text, form


def test_feed_token_pages_need_a_signed_in_user(client):
    assert client.get("/my/preferences/feeds").status_code == 403
    token = csrf_of(client, "/latest")
    assert client.post("/my/feed-tokens", data={"csrf_token": token}).status_code == 403


def test_nobody_revokes_someone_elses_token(make_client, db, people):
    with db.write() as s:
        theirs = feedtokens.create_feed_token(s, Viewer(people["member"])).token.id
    c = make_client()
    login(c, "pia")
    r = post_form(c, f"/my/feed-tokens/{theirs}/revoke", {}, csrf_from="/my/preferences/feeds")
    assert r.status_code == 404
    with db.read() as s:
        assert s.get(FeedToken, theirs) is not None


# --- what a token opens -----------------------------------------------------------------------

def test_a_token_opens_feeds_only_never_pages_or_the_api(client, db, people, lounge):
    category, topic = lounge
    secret = mint(db, people["member"])
    assert client.get(f"/t/{topic.slug}/{topic.id}?token={secret}").status_code == 404
    assert "Pension fund" not in client.get(f"/latest?token={secret}").text
    assert client.get(f"/t/{topic.id}.json?token={secret}").status_code == 404
    assert "Pension fund" not in client.get(f"/latest.json?token={secret}").text
    assert client.get(f"/session/current.json?token={secret}").status_code == 404
    assert client.get("/latest.json", headers={"Api-Key": secret, "Api-Username": "mei"}).status_code == 403
    assert client.get(f"/my/preferences?token={secret}").status_code == 403


def test_revocation_and_a_lower_tier_take_effect_on_the_next_request(client, db, people, lounge):
    category, topic = lounge
    secret = mint(db, people["member"])
    feed = f"/t/{topic.slug}/{topic.id}.rss?token={secret}"
    assert client.get(feed).status_code == 200
    with db.write() as s:
        s.get(User, people["member"].id).tier = "participant"
    assert client.get(feed).status_code == 404
    assert "Pension fund" not in client.get(f"/latest.rss?token={secret}").text
    with db.write() as s:
        s.get(User, people["member"].id).tier = "member"
    assert client.get(feed).status_code == 200
    with db.write() as s:
        token_id = s.scalar(select(FeedToken.id))
        feedtokens.revoke_feed_token(s, Viewer(people["member"]), token_id)
    assert client.get(feed).status_code == 404


def test_a_token_records_when_it_was_last_used(client, db, people, lounge):
    secret = mint(db, people["member"])
    assert client.get(f"/latest.rss?token={secret}").status_code == 200
    with db.read() as s:
        assert s.scalar(select(FeedToken.last_used_at)) is not None


def test_personal_feeds_stay_out_of_shared_caches(client, db, people):
    secret = mint(db, people["member"])
    r = client.get(f"/latest.rss?token={secret}")
    assert r.headers["cache-control"] == "private, no-cache"
    assert f"/latest.rss?token={secret}" in r.text  # the self link keeps the token, so readers keep access


# --- wrong tokens -----------------------------------------------------------------------------

@pytest.fixture
def strict_client(settings, db):
    from forum.app import create_app

    strict = Settings(**{**settings.model_dump(), "feed_token_failures_per_ip": 3, "feed_token_failure_window": 600})
    with TestClient(create_app(strict, db)) as c:
        yield c


def test_wrong_tokens_404_then_429_from_the_same_address(strict_client, db, people, lounge):
    category, topic = lounge
    good = mint(db, people["member"])
    feed = f"/t/{topic.slug}/{topic.id}.rss"
    for i in range(3):
        r = strict_client.get(f"{feed}?token=wrong-{i}")
        assert r.status_code == 404
    limited = strict_client.get(f"{feed}?token=wrong-again")
    assert limited.status_code == 429 and int(limited.headers["Retry-After"]) > 0
    # Once limited, even a right guess is refused: the limit must stop guessing, not just slow it.
    assert strict_client.get(f"{feed}?token={good}").status_code == 429
    # Feeds without a token are not affected.
    assert strict_client.get("/latest.rss").status_code == 200


def test_a_token_for_another_feed_counts_as_wrong(strict_client, db, people, lounge):
    category, topic = lounge
    scoped = mint(db, people["member"], f"topic:{topic.id}")
    for _ in range(3):
        assert strict_client.get(f"/latest.rss?token={scoped}").status_code == 404
    assert strict_client.get(f"/latest.rss?token={scoped}").status_code == 429


def test_wrong_token_limit_is_shared_through_redis(settings, db, people, lounge):
    import redis as redis_lib

    from forum.app import create_app

    url = "redis://127.0.0.1:6379/15"
    prefix = f"forumtest-{uuid.uuid4().hex}"
    try:
        redis_lib.Redis.from_url(url).ping()
    except redis_lib.ConnectionError as e:
        from tests.conftest import _unavailable
        _unavailable(f"Redis is not reachable: {e}")
    limited = Settings(**{**settings.model_dump(), "redis_url": url, "redis_prefix": prefix,
                          "feed_token_failures_per_ip": 2})
    first, second = TestClient(create_app(limited, db)), TestClient(create_app(limited, db))
    good = mint(db, people["member"])
    try:
        assert first.get("/latest.rss?token=nope-1").status_code == 404
        assert second.get("/latest.rss?token=nope-2").status_code == 404
        assert first.get("/latest.rss?token=nope-3").status_code == 429
        assert second.get(f"/latest.rss?token={good}").status_code == 429
    finally:
        client = redis_lib.Redis.from_url(url)
        for key in client.scan_iter(f"{prefix}:*"):
            client.delete(key)


# --- the matrix -------------------------------------------------------------------------------

@pytest.mark.parametrize("preset", list(SEES))
@pytest.mark.parametrize("who", VIEWERS)
def test_private_feeds_show_each_tier_exactly_what_it_may_read(preset, who, client, db, people, make_category,
                                                                 make_topic, make_reply, staff):
    category = make_category("Secret garden", preset)
    topic = make_topic(staff, category, title="Seeds for the spring exchange", raw="We swap seeds in March.")
    make_reply(staff, topic, raw="Bring labelled envelopes.")
    query = "" if who == "anonymous" else f"?token={mint(db, people[who])}"
    allowed = who in SEES[preset]

    for path in (f"/c/{category.slug}/{category.id}.rss", f"/t/{topic.slug}/{topic.id}.rss",
                 f"/t/{topic.id}.rss", f"/c/{category.id}.rss"):
        assert client.get(path + query).status_code == (200 if allowed else 404), path
    for path in ("/latest.rss", "/top.rss", "/posts.rss", f"/u/{staff.username}/activity.rss"):
        body = client.get(path + query).text
        assert ("Seeds for the spring exchange" in body) == allowed, path
        assert ("labelled envelopes" in body) == allowed or path in ("/latest.rss", "/top.rss"), path


def test_discourse_style_api_key_in_the_feed_url(client, db, people, lounge, staff):
    """For compatibility, feeds also take ?api_key=&api_username= (Discourse's way for private sites)."""
    from forum import apikeys

    category, topic = lounge
    with db.write() as s:
        key = apikeys.create_api_key(s, Viewer(staff), username="mei").secret
    feed = f"/t/{topic.slug}/{topic.id}.rss"
    r = client.get(feed, params={"api_key": key, "api_username": "mei"})
    assert r.status_code == 200 and r.headers["cache-control"] == "private, no-cache"
    assert client.get(feed, headers={"Api-Key": key, "Api-Username": "mei"}).status_code == 200
    assert client.get(feed, params={"api_key": key, "api_username": "pia"}).status_code == 403
    assert client.get(feed, params={"api_key": "0" * 64, "api_username": "mei"}).status_code == 403
