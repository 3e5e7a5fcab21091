"""Journeys in Chromium: mention someone, they see it in the notifications menu; search; reading without JavaScript."""

from __future__ import annotations

import re

import pytest

from tests.browser.conftest import log_in, require_playwright

require_playwright()
from playwright.sync_api import expect  # noqa: E402

pytestmark = pytest.mark.browser


def test_mention_with_autocomplete_then_the_notification_menu_leads_to_the_post(
        new_page, make_user, make_category, make_topic):
    ana = make_user("ana", tier="member")
    make_user("bobbie", tier="member", name="Roberta")
    topic = make_topic(ana, make_category("Assembly"), title="Agenda for the autumn assembly")

    writer = new_page()
    log_in(writer, "ana")
    writer.goto(f"/t/{topic.slug}/{topic.id}")
    box = writer.locator("#reply-raw")
    box.click()
    box.press_sequentially("Could @bob")
    suggestion = writer.get_by_role("option", name=re.compile("@bobbie"))
    expect(suggestion).to_be_visible()
    box.press("Enter")
    expect(box).to_have_value("Could @bobbie ")
    box.press_sequentially("read the budget section?")
    writer.get_by_role("button", name="Post reply").click()
    expect(writer.locator("#post_2 .cooked a.mention")).to_have_text("@bobbie")

    reader = new_page()
    log_in(reader, "bobbie")
    bell = reader.locator("a.notifications-link")
    expect(bell.locator(".badge-count")).to_have_text("1")
    bell.click()
    item = reader.locator(".notification-dropdown").get_by_role(
        "link", name="ana mentioned you in Agenda for the autumn assembly")
    expect(item).to_be_visible()
    item.click()
    expect(reader).to_have_url(re.compile(rf"/t/{topic.slug}/{topic.id}/2#post_2$"))
    # Seen on screen: the post is read, and so is its notification.
    expect(bell.locator(".badge-count")).to_have_count(0, timeout=8000)
    reader.reload()
    expect(reader.locator("a.notifications-link .badge-count")).to_have_count(0)


def test_without_javascript_search_lists_and_notifications_still_work(
        new_page, make_user, make_category, make_topic, make_reply):
    ana = make_user("ana", tier="member")
    make_user("bob", tier="member")
    topic = make_topic(ana, make_category("Housing"), title="Cooperative housing finance",
                       raw="How the federation finances cooperative housing.")
    make_reply(ana, topic, raw="@bob the financing plan is ready.")

    page = new_page(javascript=False)
    log_in(page, "bob")
    page.get_by_role("link", name=re.compile("Notifications")).click()
    expect(page.get_by_role("heading", name="Notifications")).to_be_visible()
    page.get_by_role("link", name="ana mentioned you in Cooperative housing finance").click()
    expect(page).to_have_url(re.compile(r"/2#post_2$"))

    page.locator("header .quick").get_by_role("link", name="Search").click()
    page.get_by_label("Search for").fill("financing @ana")
    page.get_by_role("button", name="Search").click()
    results = page.locator(".search-result")
    expect(results).to_have_count(2)
    expect(page.locator(".search-result mark").first).to_be_visible()
