"""Live updates in Chromium: a reply, a like and "is replying" appear in another reader's open page
without a reload; a list says how many topics changed; a page without JavaScript stays complete."""

from __future__ import annotations

import re

import pytest

from tests.browser.conftest import log_in, require_playwright
from tests.server import free_port

require_playwright()
from playwright.sync_api import expect  # noqa: E402

pytestmark = pytest.mark.browser


def test_a_conversation_moves_in_front_of_the_reader(new_page, make_user, make_category, make_topic):
    ana = make_user("ana", tier="member")
    make_user("bea", tier="member")
    make_user("cai", tier="member")
    news = make_category("News")
    topic = make_topic(ana, news, title="Assembly agenda for the spring meeting")
    path = f"/t/{topic.slug}/{topic.id}"

    reader = new_page()
    log_in(reader, "bea")
    reader.goto(path)
    visitor = new_page()
    visitor.goto("/latest")
    expect(visitor.locator("[data-live-list]")).to_be_hidden()

    writer = new_page()
    log_in(writer, "ana")
    writer.goto(path)
    writer.locator("#reply-raw").fill("I am adding the worker buyouts item to the agenda.")
    expect(reader.locator("#live-presence")).to_have_text("ana is replying…")
    writer.get_by_role("button", name="Post reply").click()
    expect(writer.locator("#post_2")).to_be_visible()

    # The reply appears below, without a reload, with its own actions; "is replying" goes away.
    expect(reader.locator("#post_2 .cooked")).to_contain_text("worker buyouts item")
    expect(reader.locator("#post_2 .like-form")).to_have_count(1)
    expect(reader.locator("#live-presence")).to_be_hidden()
    expect(visitor.locator("[data-live-list]")).to_have_text("New or updated topics: 1")

    # A like from the reader shows in the writer's open page.
    reader.locator("#post_2 .like-form button").click()
    expect(writer.locator("#post_2 .post-actions")).to_contain_text(re.compile(r"1"))

    # Ana's notification badge follows (bea liked her post) without a reload.
    expect(writer.locator(".notifications-link .badge-count")).to_have_text("1")

    # A third member reads the topic for the first time: "Seen by" follows on the open pages.
    before = reader.locator("#topic-tools .seen-by").inner_text()
    newcomer = new_page()
    log_in(newcomer, "cai")
    newcomer.goto(path)
    expect(reader.locator("#topic-tools .seen-by")).not_to_have_text(before)
    expect(reader.locator("#topic-tools .seen-by")).to_contain_text("Seen by 3 of")


def test_without_javascript_the_page_is_complete_on_reload(new_page, make_user, make_category, make_topic, db,
                                                            settings):
    from forum import posting
    from forum.models import User
    from forum.permissions import Viewer

    ana = make_user("ana", tier="member")
    topic = make_topic(ana, make_category("News"), title="Assembly agenda for the spring meeting")
    page = new_page(javascript=False)
    page.goto(f"/t/{topic.slug}/{topic.id}")
    with db.write() as session:
        posting.create_reply(session, settings, Viewer(session.get(User, ana.id)), topic_id=topic.id,
                             raw="Added while the page was open.")
    page.reload()
    expect(page.locator("#post_2 .cooked")).to_contain_text("Added while the page was open.")


@pytest.mark.server_env(FORUM_REDIS_URL=f"redis://127.0.0.1:{free_port()}/0", FORUM_LIVE_POLL_SECONDS="1")
def test_while_redis_cannot_be_reached_open_pages_still_follow_changes_made_by_other_processes(
        new_page, make_user, make_category, make_topic, db, settings):
    from forum import posting
    from forum.models import User
    from forum.permissions import Viewer

    ana = make_user("ana", tier="member")
    news, events = make_category("News"), make_category("Events")
    topic = make_topic(ana, news, title="Assembly agenda for the spring meeting")
    make_topic(ana, events, title="Study visit to the Basque co-operatives")
    reader = new_page()
    reader.goto(f"/t/{topic.slug}/{topic.id}")
    everything = new_page()
    everything.goto("/latest")
    events_only = new_page()
    events_only.goto(f"/c/{events.slug}/{events.id}")
    expect(everything.locator("[data-live-list]")).to_be_hidden()

    # Written by another process: nothing reaches this server's streams, only its database.
    with db.write() as session:
        author = Viewer(session.get(User, ana.id))
        posting.create_reply(session, settings, author, topic_id=topic.id, raw="Written on another host.")
        posting.create_topic(session, settings, author, title="Call for expressions of interest",
                             raw="Members may apply until the end of the month.", category_id=news.id)

    expect(reader.locator("#post_2 .cooked")).to_contain_text("Written on another host.")
    expect(everything.locator("[data-live-list]")).to_have_text("New or updated topics: 2")
    # The events list has asked as often meanwhile, and is told of nothing: neither topic is in it.
    events_only.wait_for_timeout(2500)
    expect(events_only.locator("[data-live-list]")).to_be_hidden()
