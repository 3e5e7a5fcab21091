"""Every feed, public and personal: parses cleanly, every item link opens for the one the feed is
for, conditional requests answer 304 only while nothing changed, and a token made for one feed
opens that feed alone."""

from datetime import timedelta
from email.utils import format_datetime
from urllib.parse import urlsplit

import feedparser
import pytest
from sqlalchemy import select, update

from forum import feedtokens, posting
from forum.models import Post, utcnow
from forum.permissions import Viewer
from tests.conftest import login


@pytest.fixture
def settings(settings):
    # This file asks many feeds with other feeds' tokens on purpose; the limit has its own tests.
    return settings.model_copy(update={"feed_token_failures_per_ip": 10_000})


@pytest.fixture
def forum(db, make_user, make_category, make_topic, make_reply, staff):
    ana = make_user("ana", tier="member", name="Ana Lima")
    mei = make_user("mei", tier="member")
    news = make_category("News and events")
    lounge = make_category("Members' lounge", "members_only")
    assembly = make_topic(ana, news, title="General assembly in Lisbon", raw="Where shall we meet?")
    make_reply(staff, assembly, raw="At the co-op hall.")
    pension = make_topic(ana, lounge, title="Pension fund talks", raw="Members only: the pension numbers.")
    make_reply(staff, pension, raw="The actuary's report is in.")
    with db.write() as s:  # a like, so /top has an order to keep
        first = s.scalar(select(Post.id).where(Post.topic_id == pension.id, Post.post_number == 1))
        posting.like_post(s, Viewer(mei), post_id=first)
    return {"ana": ana, "mei": mei, "news": news, "lounge": lounge, "assembly": assembly, "pension": pension}


def public_paths(f):
    t, c = f["assembly"], f["news"]
    return ["/latest.rss", "/top.rss", "/top/weekly.rss", "/posts.rss", f"/c/{c.slug}/{c.id}.rss",
            f"/t/{t.slug}/{t.id}.rss", "/u/ana/activity.rss"]


def private_paths(f):
    t, c = f["pension"], f["lounge"]
    return ["/latest.rss", "/top.rss", "/posts.rss", f"/c/{c.slug}/{c.id}.rss", f"/c/{c.id}.rss",
            f"/t/{t.slug}/{t.id}.rss", f"/t/{t.id}.rss", "/u/ana/activity.rss"]


def mint(db, user, scope="all") -> str:
    with db.write() as s:
        return feedtokens.create_feed_token(s, Viewer(user), scope=scope).secret


def parse(response):
    assert response.status_code == 200, response.text[:200]
    feed = feedparser.parse(response.content)
    assert not feed.bozo, feed.get("bozo_exception")
    assert feed.entries
    return feed


def local(url: str) -> str:
    parts = urlsplit(url)
    assert parts.netloc == "testserver", url
    return parts.path


def test_public_feeds_parse_and_every_link_opens_for_a_visitor(client, forum):
    for path in public_paths(forum):
        feed = parse(client.get(path))
        for entry in feed.entries:
            assert "Pension" not in entry.title
            assert client.get(local(entry.link)).status_code == 200, (path, entry.link)


def test_personal_feeds_parse_and_every_link_opens_for_their_owner(make_client, db, forum):
    secret = mint(db, forum["mei"])
    reader, browser, visitor = make_client(), make_client(), make_client()
    login(browser, "mei")
    for path in private_paths(forum):
        feed = parse(reader.get(f"{path}?token={secret}"))
        assert any("Pension fund talks" in e.title for e in feed.entries), path
        for entry in feed.entries:
            assert browser.get(local(entry.link)).status_code == 200, (path, entry.link)
            if "Pension" in entry.title:
                assert visitor.get(local(entry.link)).status_code == 404  # the link itself gives nothing away


@pytest.mark.parametrize("personal", [False, True])
def test_every_feed_answers_304_while_unchanged(client, db, forum, personal):
    query = f"?token={mint(db, forum['mei'])}" if personal else ""
    for path in (private_paths(forum) if personal else public_paths(forum)):
        first = client.get(path + query)
        etag, modified = first.headers["etag"], first.headers["last-modified"]
        assert first.headers["cache-control"] == ("private, no-cache" if personal else "public, no-cache")
        for headers in ({"If-None-Match": etag}, {"If-Modified-Since": modified},
                        {"If-None-Match": etag, "If-Modified-Since": modified}):
            again = client.get(path + query, headers=headers)
            assert again.status_code == 304 and again.content == b"", (path, headers)
            assert again.headers["etag"] == etag
        assert client.get(path + query, headers={"If-None-Match": '"something-else"'}).status_code == 200


def test_a_removed_newest_post_is_a_change_for_if_modified_since_too(client, db, forum, staff):
    """The newest date of a feed goes back when its newest post goes: that must not answer 304."""
    t = forum["assembly"]
    with db.write() as s:  # the reply is clearly the newest post, by seconds
        s.execute(update(Post).where(Post.post_number == 1).values(created_at=utcnow() - timedelta(minutes=5),
                                                                   updated_at=utcnow() - timedelta(minutes=5)))
    first = client.get("/posts.rss")
    assert "At the co-op hall" in first.text
    with db.write() as s:
        newest = s.scalar(select(Post.id).where(Post.topic_id == t.id, Post.post_number == 2))
        posting.delete_post(s, Viewer(staff), post_id=newest, reason="Spam")
    again = client.get("/posts.rss", headers={"If-Modified-Since": first.headers["last-modified"]})
    assert again.status_code == 200 and "At the co-op hall" not in again.text
    # A date the forum never gave is not trusted either: the feed is sent again.
    later = format_datetime(utcnow().replace(microsecond=0), usegmt=True)
    assert client.get("/posts.rss", headers={"If-Modified-Since": later}).status_code == 200
    assert client.get("/posts.rss", headers={"If-Modified-Since": again.headers["last-modified"]}).status_code == 304


def test_a_lower_tier_changes_the_personal_feed_and_its_etag(client, db, forum):
    from forum.models import User

    secret = mint(db, forum["mei"])
    path = f"/latest.rss?token={secret}"
    first = client.get(path)
    assert "Pension fund talks" in first.text
    with db.write() as s:
        s.get(User, forum["mei"].id).tier = "participant"
    again = client.get(path, headers={"If-None-Match": first.headers["etag"],
                                      "If-Modified-Since": first.headers["last-modified"]})
    assert again.status_code == 200 and "Pension fund talks" not in again.text


def test_a_token_made_for_one_feed_opens_that_feed_and_no_other(client, db, forum):
    f = forum
    pension, lounge = f["pension"], f["lounge"]
    others = private_paths(f) + ["/u/mei/activity.rss", "/top/monthly.rss"]
    own = {
        "latest": ["/latest.rss"],
        "posts": ["/posts.rss"],
        "top": ["/top.rss", "/top/weekly.rss", "/top/monthly.rss"],
        f"category:{lounge.id}": [f"/c/{lounge.slug}/{lounge.id}.rss", f"/c/{lounge.id}.rss"],
        f"topic:{pension.id}": [f"/t/{pension.slug}/{pension.id}.rss", f"/t/{pension.id}.rss"],
        f"user:{f['ana'].id}": ["/u/ana/activity.rss"],
    }
    for scope, paths in own.items():
        secret = mint(db, f["mei"], scope)
        for path in paths:
            assert client.get(f"{path}?token={secret}").status_code == 200, (scope, path)
        for path in others:
            if path not in paths:
                assert client.get(f"{path}?token={secret}").status_code == 404, (scope, path)
