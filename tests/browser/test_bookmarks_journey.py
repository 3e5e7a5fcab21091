"""Bookmark a post with the b key, give it a name and a "tomorrow morning" reminder, and find it on
the bookmarks page with the reminder shown in the person's own zone."""

from __future__ import annotations

import re

import pytest

from forum import emails
from forum.models import User
from tests.browser.conftest import log_in, require_playwright

require_playwright()
from playwright.sync_api import expect  # noqa: E402

pytestmark = pytest.mark.browser


def test_bookmark_a_post_with_a_reminder_tomorrow_morning(page, db, make_user, make_category, make_topic):
    ana = make_user("ana", tier="member")
    rita = make_user("rita", tier="member")
    with db.write() as session:
        emails.set_preferences(session, session.get(User, rita.id), timezone="Europe/Madrid",
                               email_notifications="immediate", email_digest="none", digest_hour=8, digest_weekday=0)
    topic = make_topic(ana, make_category("Calls"), title="Call for expressions of interest",
                       raw="Send your expression of interest by Friday at 9.")
    log_in(page, "rita")
    page.goto(f"/t/{topic.slug}/{topic.id}")

    # j selects the first post; b bookmarks it in place.
    page.keyboard.press("j")
    expect(page.locator("#post_1")).to_be_focused()
    page.keyboard.press("b")
    button = page.locator("#post_1 button.bookmark")
    expect(button).to_have_attribute("aria-pressed", "true")

    page.locator("#post_1 a.bookmark-edit").click()
    expect(page.get_by_text("Times are in your time zone, Madrid")).to_be_visible()
    page.get_by_label("Name (optional)").fill("Answer the call")
    page.get_by_label(re.compile("Tomorrow morning")).check()
    page.get_by_role("button", name="Save bookmark").click()
    expect(page).to_have_url(re.compile(rf"/t/{topic.slug}/{topic.id}"))

    page.goto("/u/rita/activity/bookmarks")
    item = page.locator("li.bookmark")
    expect(item).to_have_count(1)
    expect(item).to_contain_text("Call for expressions of interest")
    expect(item).to_contain_text("Answer the call")
    expect(item.locator(".reminder")).to_have_text(re.compile(r"Reminder: \w{3} \d+ \w{3} \d{4}, 08:00 Madrid \(CES?T\)"))
