"""RSS feeds: paths, shape (feedparser-clean), links that open, conditional requests, discovery, cost."""

import re
from datetime import timedelta
from urllib.parse import urlsplit

import feedparser
import pytest
from sqlalchemy import event, insert, update

from forum.models import Post, Topic, utcnow
from tests.conftest import login


def parse(response):
    assert response.status_code == 200, response.text[:300]
    assert response.headers["content-type"] == "application/rss+xml; charset=utf-8"
    feed = feedparser.parse(response.content)
    assert not feed.bozo, feed.get("bozo_exception")
    return feed


def local(url: str) -> str:
    parts = urlsplit(url)
    assert parts.scheme == "http" and parts.netloc == "testserver", url  # absolute, on our base URL
    return parts.path + (f"?{parts.query}" if parts.query else "")


@pytest.fixture
def forum(make_user, make_category, make_topic, make_reply, staff):
    ana = make_user("ana", tier="member", name="Ana Lima")
    news = make_category("News and events")
    lounge = make_category("Members' lounge", "members_only")
    assembly = make_topic(ana, news, title="General assembly in Lisbon", raw="Where shall we **meet**? Ask @ana.")
    make_reply(staff, assembly, raw="At the co-op hall, reply one.")
    make_reply(ana, assembly, raw="Agreed, see you there.", reply_to=2)
    secret = make_topic(ana, lounge, title="Pension fund talks", raw="Members only: the pension numbers.")
    return {"ana": ana, "news": news, "lounge": lounge, "assembly": assembly, "secret": secret}


def feed_paths(f):
    t, c = f["assembly"], f["news"]
    return ["/latest.rss", "/top.rss", "/top/monthly.rss", "/posts.rss", f"/c/{c.slug}/{c.id}.rss",
            f"/c/{c.id}.rss", f"/t/{t.slug}/{t.id}.rss", f"/t/{t.id}.rss", "/u/ana/activity.rss"]


def test_every_feed_parses_cleanly_and_its_links_open(client, forum):
    for path in feed_paths(forum):
        feed = parse(client.get(path))
        channel = feed.feed
        assert channel.title and channel.link and channel.get("description") is not None, path
        assert channel.language == "en"
        assert channel.updated_parsed is not None  # lastBuildDate
        self_links = [link.href for link in channel.links if link.rel == "self"]
        assert self_links == [f"http://testserver{path}"]
        assert client.get(local(channel.link)).status_code == 200
        assert feed.entries, path
        for entry in feed.entries:
            assert entry.id and entry.published_parsed and entry.author and entry.summary
            assert entry.tags[0].term == "News and events"
            assert client.get(local(entry.link)).status_code == 200, entry.link


def test_latest_feed_items(client, forum):
    feed = parse(client.get("/latest.rss"))
    assert [e.title for e in feed.entries] == ["General assembly in Lisbon"]
    entry = feed.entries[0]
    t = forum["assembly"]
    assert entry.link == f"http://testserver/t/{t.slug}/{t.id}"
    assert entry.id == f"testserver-topic-{t.id}"
    assert entry.author == "ana"
    assert "<strong>meet</strong>" in entry.summary
    assert "3 posts - 2 participants" in entry.summary
    # Links inside the cooked HTML are absolute too.
    assert 'href="http://testserver/u/ana"' in entry.summary
    raw = client.get("/latest.rss").text
    assert "<discourse:topicPinned>No</discourse:topicPinned>" in raw
    assert f'<source url="http://testserver/t/{t.slug}/{t.id}.rss">' in raw


def test_topic_feed_holds_posts_newest_first(client, forum):
    t = forum["assembly"]
    feed = parse(client.get(f"/t/{t.slug}/{t.id}.rss"))
    assert feed.feed.title == "General assembly in Lisbon"
    assert [e.link for e in feed.entries] == [
        f"http://testserver/t/{t.slug}/{t.id}/{n}" for n in (3, 2, 1)]
    assert [e.id for e in feed.entries] == [f"testserver-post-{t.id}-{n}" for n in (3, 2, 1)]
    assert feed.entries[0].author == "@ana"
    assert "@ana wrote:" in feed.entries[0].summary and "Agreed, see you there." in feed.entries[0].summary


def test_posts_and_user_feeds(client, forum):
    feed = parse(client.get("/posts.rss"))
    assert [e.summary.strip() for e in feed.entries][:1] == ["<p>Agreed, see you there.</p>"]
    assert len(feed.entries) == 3  # the members-only topic's post is not public
    user_feed = parse(client.get("/u/ana/activity.rss"))
    assert "Posts by ana" in user_feed.feed.title
    assert {e.author for e in user_feed.entries} == {"ana"}
    assert client.get("/u/nobody/activity.rss").status_code == 404


def test_anonymous_feeds_hold_only_public_content(client, forum):
    for path in ["/latest.rss", "/top.rss", "/posts.rss", "/u/ana/activity.rss"]:
        body = client.get(path).text
        assert "Pension fund" not in body and "pension numbers" not in body, path
    lounge, secret = forum["lounge"], forum["secret"]
    assert client.get(f"/c/{lounge.slug}/{lounge.id}.rss").status_code == 404
    assert client.get(f"/t/{secret.slug}/{secret.id}.rss").status_code == 404
    assert client.get("/t/999999.rss").status_code == 404


def test_a_signed_in_browser_still_gets_the_public_feed(client, forum):
    """Feeds ignore the session cookie: a feed URL means the same in the browser and the reader."""
    login(client, "ana")
    assert "Pension fund" not in client.get("/latest.rss").text
    secret = forum["secret"]
    assert client.get(f"/t/{secret.slug}/{secret.id}.rss").status_code == 404


def test_deleted_posts_leave_the_feeds(client, forum, db, staff):
    from forum import posting
    from forum.permissions import Viewer

    t = forum["assembly"]
    with db.write() as s:
        reply = s.query(Post).filter_by(topic_id=t.id, post_number=3).one()
        posting.delete_post(s, Viewer(forum["ana"]), post_id=reply.id)
    assert "Agreed, see you there" not in client.get(f"/t/{t.slug}/{t.id}.rss").text
    assert "Agreed, see you there" not in client.get("/posts.rss").text


def test_conditional_requests_answer_304_until_something_changes(client, forum, make_reply):
    t = forum["assembly"]
    path = f"/t/{t.slug}/{t.id}.rss"
    first = client.get(path)
    etag, modified = first.headers["etag"], first.headers["last-modified"]
    # One tag per representation: the feed's own, marked when sent compressed (test clients ask br).
    assert re.fullmatch(r'"[0-9a-f]{32}(?:-br|-gzip)?"', etag)
    assert modified.endswith(" GMT")
    assert first.headers["cache-control"] == "public, no-cache"
    assert first.headers["x-robots-tag"] == "noindex"
    again = client.get(path, headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b"" and again.headers["etag"] == etag
    assert client.get(path, headers={"If-None-Match": f"W/{etag}"}).status_code == 304
    assert client.get(path, headers={"If-Modified-Since": modified}).status_code == 304
    make_reply(forum["ana"], t, raw="A late reply changes the feed.")
    changed = client.get(path, headers={"If-None-Match": etag})
    assert changed.status_code == 200 and "A late reply" in changed.text
    assert changed.headers["etag"] != etag
    later = changed.headers["last-modified"]
    assert client.get(path, headers={"If-Modified-Since": later}).status_code == 304


def test_last_modified_follows_edits(client, forum, db, settings):
    from forum import posting
    from forum.permissions import Viewer

    t = forum["assembly"]
    path = f"/t/{t.slug}/{t.id}.rss"
    before = client.get(path)
    with db.write() as s:
        first = s.query(Post).filter_by(topic_id=t.id, post_number=1).one()
        first.updated_at = utcnow() + timedelta(seconds=5)  # an edit, a moment later
        posting.edit_post(s, settings, Viewer(forum["ana"]), post_id=first.id, raw="Where shall we meet, then?")
    after = client.get(path, headers={"If-Modified-Since": before.headers["last-modified"],
                                      "If-None-Match": before.headers["etag"]})
    assert after.status_code == 200 and "Where shall we meet, then?" in after.text


def test_pages_advertise_their_feed(client, forum):
    t, c = forum["assembly"], forum["news"]
    pages = {
        "/latest": "/latest.rss",
        f"/c/{c.slug}/{c.id}": f"/c/{c.slug}/{c.id}.rss",
        f"/t/{t.slug}/{t.id}": f"/t/{t.slug}/{t.id}.rss",
        "/u/ana": "/u/ana/activity.rss",
    }
    for page, feed in pages.items():
        html = client.get(page).text
        links = re.findall(r'<link rel="alternate" type="application/rss\+xml" title="[^"]*" href="([^"]+)">', html)
        assert links == [feed], page
        assert "nofollow" not in re.search(r'<link rel="alternate"[^>]*>', html).group(0)
        assert client.get(feed).status_code == 200
    for page in (f"/c/{c.slug}/{c.id}", f"/t/{t.slug}/{t.id}"):
        html = client.get(page).text
        assert re.search(rf'<a class="feed-link" href="{re.escape(pages[page])}"', html), page


def test_private_feed_link_offered_to_signed_in_readers(client, forum):
    t = forum["assembly"]
    assert "Private feed link" not in client.get(f"/t/{t.slug}/{t.id}").text
    login(client, "ana")
    html = client.get(f"/t/{t.slug}/{t.id}").text
    assert f'name="scope" value="topic:{t.id}"' in html


def test_topic_lists_are_capped(client, make_category, make_topic, staff):
    news = make_category("News and events")
    for i in range(32):
        make_topic(staff, news, title=f"Announcement number {i:02d}")
    feed = parse(client.get("/latest.rss"))
    assert len(feed.entries) == 30
    assert feed.entries[0].title == "Announcement number 31"  # newest created first


def _bulk_thread(db, topic: Topic, user_id: int, count: int) -> None:
    """Posts written straight to the table: the feed's cost is the point here, not posting."""
    now = utcnow()
    rows = [dict(topic_id=topic.id, post_number=n, user_id=user_id, raw=f"Post number {n} in the thread",
                 cooked=f"<p>Post number {n} in the thread</p>", created_at=now + timedelta(seconds=n),
                 updated_at=now + timedelta(seconds=n), version=1, like_count=0, reply_count=0, hidden=False)
            for n in range(2, count + 1)]
    with db.write() as s:
        for i in range(0, len(rows), 1000):
            s.execute(insert(Post), rows[i:i + 1000])
        s.execute(update(Topic).where(Topic.id == topic.id).values(highest_post_number=count, posts_count=count))


class WorkMeter:
    """Measures how much the database works for a request: rows the engine reads, not wall time.

    SQLite: virtual-machine steps, counted by a progress handler. PostgreSQL: the rows each scan node
    produced, from EXPLAIN ANALYZE of the statements the request ran.
    """

    def __init__(self, db):
        self.db, self.statements = db, []

    def __enter__(self):
        event.listen(self.db.engine, "before_cursor_execute", self._record)
        return self

    def __exit__(self, *exc):
        event.remove(self.db.engine, "before_cursor_execute", self._record)

    def _record(self, conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith("SELECT") and "posts" in statement:
            self.statements.append((statement, parameters))

    def work(self) -> int:
        total = 0
        with self.db.engine.connect() as conn:
            raw = conn.connection.driver_connection
            for statement, parameters in self.statements:
                if self.db.engine.dialect.name == "sqlite":
                    steps = [0]

                    def tick(steps=steps):
                        steps[0] += 1
                        return 0

                    raw.set_progress_handler(tick, 100)
                    raw.execute(statement, parameters).fetchall()
                    raw.set_progress_handler(None, 0)
                    total += steps[0]
                else:
                    cur = raw.cursor()
                    cur.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + statement, parameters)
                    plan = cur.fetchone()[0][0]["Plan"]
                    total += _scanned_rows(plan)
        return total


def _scanned_rows(node) -> int:
    rows = node.get("Actual Rows", 0) * node.get("Actual Loops", 1) if "Scan" in node["Node Type"] else 0
    rows += node.get("Rows Removed by Filter", 0)
    return rows + sum(_scanned_rows(child) for child in node.get("Plans", []))


def test_thread_feed_costs_the_same_on_5000_posts_as_on_50(client, db, make_category, make_topic, staff):
    news = make_category("News and events")
    small = make_topic(staff, news, title="A small thread")
    large = make_topic(staff, news, title="A very large thread")
    _bulk_thread(db, small, staff.id, 50)
    _bulk_thread(db, large, staff.id, 5000)

    costs = {}
    for topic in (small, large):
        with WorkMeter(db) as meter:
            feed = parse(client.get(f"/t/{topic.slug}/{topic.id}.rss"))
        assert len(feed.entries) == 50
        costs[topic.id] = meter.work()
    newest = parse(client.get(f"/t/{large.slug}/{large.id}.rss")).entries
    assert newest[0].link.endswith(f"/{large.id}/5000") and newest[-1].link.endswith(f"/{large.id}/4951")
    small_cost, large_cost = costs[small.id], costs[large.id]
    assert large_cost <= small_cost * 1.5 + 50, (small_cost, large_cost)


def test_thread_feed_skips_deleted_posts_at_the_end(client, db, make_category, make_topic, staff):
    news = make_category("News and events")
    topic = make_topic(staff, news, title="A thread whose last posts were removed")
    _bulk_thread(db, topic, staff.id, 300)
    with db.write() as s:
        s.execute(update(Post).where(Post.topic_id == topic.id, Post.post_number > 200)
                  .values(deleted_at=utcnow()))
    entries = parse(client.get(f"/t/{topic.slug}/{topic.id}.rss")).entries
    assert len(entries) == 50
    assert entries[0].link.endswith(f"/{topic.id}/200") and entries[-1].link.endswith(f"/{topic.id}/151")


def test_feed_readers_may_ask_with_head(client, forum):
    r = client.head("/latest.rss")
    assert r.status_code == 200 and r.headers["etag"] and r.headers["content-type"].startswith("application/rss+xml")


def test_feed_text_is_escaped_by_the_xml_library_and_reads_back_exactly(client, make_user, make_category, make_topic,
                                                                         make_reply):
    from xml.etree import ElementTree

    ana = make_user("ana", tier="member")
    category = make_category("Fish & <chips>")
    title = 'Tips & "tricks" for <co-ops> ]]> today'
    topic = make_topic(ana, category, title=title, raw="Use `a < b && c` and ]]> freely.\n\nEnd.")
    make_reply(ana, topic, raw="A reply with a \x07bell and ]]> in it.")
    for path in ("/latest.rss", f"/t/{topic.slug}/{topic.id}.rss", "/posts.rss", f"/c/{category.id}.rss"):
        response = client.get(path)
        feed = parse(response)
        assert feed.entries[0].title == title, path
        assert feed.entries[0].tags[0].term == "Fish & <chips>", path
        root = ElementTree.fromstring(response.content)  # well-formed XML, namespaces declared
        item = root.find("channel/item")
        assert item.findtext("title") == title
        assert item.findtext("{http://purl.org/dc/elements/1.1/}creator") in ("ana", "@ana")
        assert "]]&gt; freely" in item.findtext("description") or "]]&gt; in it" in item.findtext("description"), path
    summaries = " ".join(e.summary for e in parse(client.get("/posts.rss")).entries)
    assert "<code>a &lt; b &amp;&amp; c</code>" in summaries and "bell" in summaries
