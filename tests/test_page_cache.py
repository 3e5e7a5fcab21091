"""The anonymous page cache: fast for visitors, never stale after a change, never shared with accounts."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event, select

from forum import categories
from forum.app import create_app
from forum.db import Database
from forum.models import Topic
from forum.permissions import Viewer
from tests.conftest import login


def topic_path(topic) -> str:
    return f"/t/{topic.slug}/{topic.id}"


def test_anonymous_pages_are_served_from_the_cache_until_anything_changes(client, make_user, make_category,
                                                                           make_topic, make_reply):
    ana = make_user("ana", tier="member")
    news = make_category("News and events")
    topic = make_topic(ana, news, title="General assembly venue")

    first = client.get("/latest")
    again = client.get("/latest")
    assert first.status_code == again.status_code == 200
    assert "age" not in first.headers and "age" in again.headers  # the second came from the cache
    assert again.text == first.text

    make_reply(ana, topic, raw="The venue is confirmed for March.")
    page = client.get(topic_path(topic))
    assert "The venue is confirmed for March." in page.text
    make_reply(ana, topic, raw="Catering is booked as well.")
    assert "Catering is booked as well." in client.get(topic_path(topic)).text
    assert "age" not in client.get("/latest").headers  # re-rendered after the replies


def test_a_change_made_by_another_process_shows_at_once(settings, client, make_user, make_category, make_topic):
    ana = make_user("ana", tier="member")
    news = make_category("News and events")
    make_topic(ana, news, title="Board report for October")
    assert "Board report for October" in client.get("/latest").text
    assert "age" in client.get("/latest").headers

    other_db = Database(settings)  # a second app process: its own engine, pool and page cache
    try:
        other = create_app(settings, other_db)
        with TestClient(other) as member:
            login(member, "ana")
            r = member.post("/new-topic", data={
                "title": "Call for expressions of interest", "raw": "Tell us which working group you would join.",
                "category": str(news.id), "csrf_token": _csrf(member)}, follow_redirects=False)
            assert r.status_code == 303, r.text
    finally:
        other_db.dispose()
    assert "Call for expressions of interest" in client.get("/latest").text


def _csrf(client) -> str:
    import re

    return re.search(r'<meta name="csrf-token" content="([^"]+)"', client.get("/latest").text).group(1)


def test_a_topic_moved_to_a_members_only_category_vanishes_from_cached_pages(client, db, make_user, make_category,
                                                                              make_topic):
    ana = make_user("ana", tier="member")
    admin = make_user("carmen", admin=True)
    news = make_category("News and events")
    lounge = make_category("Members' lounge", "members_only")
    topic = make_topic(ana, news, title="Draft budget for next year")
    for path in ("/latest", f"/c/{news.slug}/{news.id}", topic_path(topic)):
        assert "Draft budget for next year" in client.get(path).text
        assert "age" in client.get(path).headers  # cached

    with db.write() as session:
        from forum import moderation

        moderation.move_topic(session, Viewer(admin), topic.id, lounge.id)
    assert client.get(topic_path(topic)).status_code == 404
    assert "Draft budget for next year" not in client.get("/latest").text
    assert "Draft budget for next year" not in client.get(f"/c/{news.slug}/{news.id}").text

    # Lowering a category's levels works the same way.
    other = make_topic(ana, news, title="Agenda of the general assembly")
    assert "Agenda of the general assembly" in client.get(topic_path(other)).text
    with db.write() as session:
        categories.set_levels(session, Viewer(admin), news.id, categories.PRESETS["signed_in"])
    assert client.get(topic_path(other)).status_code == 404


def test_cached_pages_carry_no_token_or_cookie_and_signed_in_readers_never_get_them(client, make_client,
                                                                                     make_user, make_category,
                                                                                     make_topic):
    ana = make_user("ana", tier="member")
    news = make_category("News and events")
    topic = make_topic(ana, news, title="Newsletter of November")
    page = client.get(topic_path(topic))
    assert "set-cookie" not in page.headers
    assert '<meta name="csrf-token" content="">' in page.text
    assert "age" in client.get(topic_path(topic)).headers

    member = make_client()
    login(member, "ana")
    own = member.get(topic_path(topic))
    assert "age" not in own.headers and "Log out" in own.text
    assert 'name="csrf-token" content=""' not in own.text
    assert "age" not in member.get(topic_path(topic)).headers
    # The login form still works for visitors: it has its own token and cookie.
    assert 'name="csrf_token"' in client.get("/login").text


def test_views_are_counted_for_pages_served_from_the_cache(app, db, make_user, make_category, make_topic):
    ana = make_user("ana", tier="member")
    news = make_category("News and events")
    topic = make_topic(ana, news, title="Solidarity fund report")
    for address in ("192.0.2.1", "192.0.2.2", "192.0.2.3"):
        with TestClient(app, client=(address, 50000)) as visitor:
            visitor.get(topic_path(topic))
            visitor.get(topic_path(topic))  # a reload within the window is not another view
    with db.read() as session:
        assert session.scalar(select(Topic.views).where(Topic.id == topic.id)) == 3


def test_the_cache_can_be_turned_off(settings, db, make_user, make_category, make_topic):
    settings.anon_cache_seconds = 0
    ana = make_user("ana", tier="member")
    make_topic(ana, make_category("News and events"), title="Events calendar")
    with TestClient(create_app(settings, db)) as visitor:
        visitor.get("/latest")
        assert "age" not in visitor.get("/latest").headers


def test_feeds_and_json_of_visitors_are_cached_and_change_with_the_forum(client, make_user, make_category,
                                                                         make_topic, make_reply):
    ana = make_user("ana", tier="member")
    news = make_category("News and events")
    topic = make_topic(ana, news, title="Newsletter of December")
    paths = ["/latest.rss", "/latest.json", f"/c/{news.slug}/{news.id}.json", f"/c/{news.slug}/{news.id}.rss",
             f"/t/{topic.slug}/{topic.id}.rss", f"/t/{topic.id}.json", "/categories.json"]
    for path in paths:
        first = client.get(path)
        assert first.status_code == 200, path
        again = client.get(path)
        assert "age" in again.headers and again.content == first.content, path
    assert "Newsletter of December" in client.get("/latest.rss").text

    make_reply(ana, topic, raw="The newsletter is out in four languages.")
    assert "The newsletter is out in four languages." in client.get(f"/t/{topic.slug}/{topic.id}.rss").text
    assert "The newsletter is out in four languages." in client.get(f"/t/{topic.id}.json").text
    # An API client that signs its requests is never answered from the cache.
    signed = client.get("/latest.json", headers={"Api-Key": "not-a-key", "Api-Username": "ana"})
    assert "age" not in signed.headers


def test_cached_answers_are_compressed_once_and_answer_conditional_requests(client, make_user, make_category,
                                                                            make_topic):
    import gzip

    import brotli

    ana = make_user("ana", tier="member")
    make_topic(ana, make_category("News and events"), title="Annual report on worker co-operatives")
    plain = client.get("/latest", headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers
    raw = {}
    for coding, decode in (("gzip", gzip.decompress), ("br", brotli.decompress)):
        r = client.get("/latest", headers={"Accept-Encoding": coding})
        assert r.headers["content-encoding"] == coding
        assert "Accept-Encoding" in r.headers["vary"]
        raw[coding] = r
        # httpx decodes gzip and brotli itself; the body on the wire is the page's, compressed.
        assert r.content == plain.content
        assert int(r.headers["content-length"]) < len(plain.content) / 2
        assert decode(_wire(client, "/latest", coding)) == plain.content
    tags = {plain.headers["etag"], raw["gzip"].headers["etag"], raw["br"].headers["etag"]}
    assert len(tags) == 3  # one tag per representation

    again = client.get("/latest", headers={"If-None-Match": raw["br"].headers["etag"], "Accept-Encoding": "br"})
    assert again.status_code == 304 and again.content == b""
    assert again.headers["etag"] == raw["br"].headers["etag"]
    stale = client.get("/latest", headers={"If-None-Match": '"something-else"'})
    assert stale.status_code == 200 and stale.content == plain.content

    feed = client.get("/latest.rss")
    since = client.get("/latest.rss", headers={"If-Modified-Since": feed.headers["last-modified"]})
    assert since.status_code == 304
    # Only the very date given: a later one may hide a deletion (the feed's rule, kept by the cache).
    later = client.get("/latest.rss", headers={"If-Modified-Since": "Fri, 01 Jan 2100 00:00:00 GMT"})
    assert later.status_code == 200
    assert client.head("/latest").content == b""


def _wire(client, path: str, coding: str) -> bytes:
    """The body as sent, before httpx decodes it."""
    with client.stream("GET", path, headers={"Accept-Encoding": coding}) as r:
        return b"".join(r.iter_raw())


def test_a_second_process_stops_showing_hidden_or_deleted_content_with_the_very_next_request(
        settings, db, client, make_user, make_category, make_topic, make_reply):
    from forum import moderation

    ana = make_user("ana", tier="member")
    admin = make_user("carmen", admin=True)
    news = make_category("News and events")
    topic = make_topic(ana, news, title="Delegates for the world congress")
    reply = make_reply(ana, topic, raw="Our co-operative proposes two delegates.")
    other_db = Database(settings)  # a second process: its own engine and caches
    try:
        with TestClient(create_app(settings, other_db)) as second:
            visitors = (client, second)
            pages = ("/latest", "/latest.rss", "/latest.json", topic_path(topic), f"/t/{topic.id}.json",
                     f"/t/{topic.slug}/{topic.id}.rss", f"/c/{news.slug}/{news.id}")
            for visitor in visitors:
                for path in pages:
                    visitor.get(path)
                    assert "age" in visitor.get(path).headers, path  # both caches hold every page

            with db.write() as session:
                moderation.delete_post(session, Viewer(admin), reply.id)
            for visitor in visitors:
                for path in (topic_path(topic), f"/t/{topic.id}.json", f"/t/{topic.slug}/{topic.id}.rss"):
                    assert "Our co-operative proposes two delegates." not in visitor.get(path).text, path

            with db.write() as session:
                categories.set_levels(session, Viewer(admin), news.id, categories.PRESETS["members_only"])
            for visitor in visitors:
                for path in ("/latest", "/latest.rss", "/latest.json"):
                    assert "Delegates for the world congress" not in visitor.get(path).text, path
                for path in (topic_path(topic), f"/t/{topic.id}.json", f"/t/{topic.slug}/{topic.id}.rss",
                             f"/c/{news.slug}/{news.id}"):
                    assert visitor.get(path).status_code == 404, path
    finally:
        other_db.dispose()


def test_visitors_arriving_together_after_a_change_cost_one_rendering(app, make_user, make_category, make_topic,
                                                                      make_reply):
    import asyncio
    from concurrent.futures import ThreadPoolExecutor

    import httpx

    from forum import observability

    ana = make_user("ana", tier="member")
    topic = make_topic(ana, make_category("News and events"), title="Theme of the general assembly")
    make_reply(ana, topic, raw="Proposals are open until Friday.")
    misses = observability.CACHE.labels("anonymous pages", "miss")

    async def crowd() -> list[httpx.Response]:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
                return await asyncio.gather(*(c.get(topic_path(topic)) for _ in range(12)))

    before = misses._value.get()
    # A loop of its own, in a thread: the test process may already run one (the browser tests' driver).
    with ThreadPoolExecutor(1) as runner:
        answers = runner.submit(asyncio.run, crowd()).result()
    assert [r.status_code for r in answers] == [200] * 12
    assert len({r.content for r in answers}) == 1
    assert misses._value.get() - before == 1


def test_json_and_feeds_from_the_cache_count_no_views(app, db, make_user, make_category, make_topic):
    ana = make_user("ana", tier="member")
    topic = make_topic(ana, make_category("News and events"), title="Minutes of the board")
    with TestClient(app, client=("192.0.2.9", 50000)) as visitor:
        for _ in range(2):
            visitor.get(f"/t/{topic.id}.json")
            visitor.get(f"/t/{topic.slug}/{topic.id}.rss")
    with db.read() as session:
        assert session.scalar(select(Topic.views).where(Topic.id == topic.id)) == 0


def test_pages_link_to_static_files_by_content_and_those_addresses_are_kept_for_a_year(client):
    import re

    from forum import STATIC_DIR
    from forum.web.assets import fingerprint

    page = client.get("/latest").text
    styles = re.search(r'href="(/static/forum\.css\?v=([0-9a-f]{12}))"', page)
    assert styles is not None, "the style sheet is linked by its content's hash"
    import hashlib

    assert styles.group(2) == hashlib.sha256((STATIC_DIR / "forum.css").read_bytes()).hexdigest()[:12]
    assert styles.group(2) == fingerprint("forum.css")
    versioned = client.get(styles.group(1))
    assert versioned.status_code == 200
    assert versioned.headers["cache-control"] == "public, max-age=31536000, immutable"
    # An address without the version, or with an old one, is asked about again on each use.
    for other in ("/static/forum.css", "/static/forum.css?v=000000000000"):
        r = client.get(other)
        assert r.status_code == 200 and r.headers["cache-control"] == "no-cache", other
        assert client.get(other, headers={"If-None-Match": r.headers["etag"]}).status_code == 304
    for script in ("forum.js", "notify.js", "decide.js", "live.js"):
        assert f'src="/static/{script}?v={fingerprint(script)}"' in page
    assert client.get("/static/../forum/app.py").status_code == 404


def test_the_cache_keys_a_page_by_the_language_the_app_renders_it_in(client, make_user, make_category, make_topic):
    """A visitor whose headers the cache and the app could read differently never leaves a page in
    their language for everyone else: a quoted cookie value, a second Cookie or Accept-Language."""
    ana = make_user("ana", tier="member")
    make_topic(ana, make_category("News and events"), title="Newsletter of the federation")
    odd_visitors = [
        [("cookie", 'forum_locale="fr"'), ("accept-language", "en")],
        [("cookie", "forum_js=1"), ("cookie", "forum_locale=fr"), ("accept-language", "en")],
        [("accept-language", "fr"), ("accept-language", "en")],
    ]
    for headers in odd_visitors:
        client.cookies.clear()
        for _ in range(2):
            client.get("/latest", headers=headers)
        client.cookies.clear()
        plain = client.get("/latest", headers={"Accept-Language": "en"})
        assert '<html lang="en"' in plain.text, headers
        french = client.get("/latest", headers={"Accept-Language": "fr"})
        assert '<html lang="fr"' in french.text, headers


def test_compression_follows_what_the_client_accepts_and_refuses():
    from forum.pagecache import accepted_encoding

    assert accepted_encoding("gzip, deflate, br") == "br"
    assert accepted_encoding("gzip, br;q=0") == "gzip"
    assert accepted_encoding("br;q=0, gzip;q=0, *") == ""  # "*" covers only codings not named
    assert accepted_encoding("*") == "br"
    assert accepted_encoding("identity") == accepted_encoding("") == ""


def test_the_store_counts_every_form_it_keeps_and_stays_within_its_bytes():
    from forum.pagecache import Entry, PageStore

    store = PageStore(max_entries=100, max_bytes=60_000)
    for n in range(20):
        entry = Entry(1, 0.0, 200, [(b"content-type", b"text/html")], (f"page {n} " * 3000).encode(), f"t{n}")
        entry.variant("gzip")
        store.put(("page", n), entry)
        before = entry.size
        entry.variant("br")
        store.grew(("page", n), entry, entry.size - before)
        assert store.bytes == sum(e.size for e in store.entries.values()) <= 60_000
    assert 0 < len(store.entries) < 20


def test_on_a_sqlite_file_the_caches_read_the_generation_beside_the_pool_also_after_it_was_emptied(db):
    """A hit of the caches in front of routing reads the content generation on a connection of its
    own thread, not through SQLAlchemy's pool: also in a worker forked after its parent emptied the
    pool (forum serve --workers N), where a closed connection was once kept and every hit paid for
    a pooled read."""
    if db._sqlite_file() is None:
        pytest.skip("on PostgreSQL the generation is read through the pool or the event loop's connection")
    checkouts = []
    event.listen(db.engine, "checkout", lambda *_: checkouts.append(1))
    first = db.generation()
    db.dispose()
    assert db.generation() == db.generation() == first
    assert checkouts == []
