"""The composer in Chromium: drafts that survive a closed tab and follow the writer to another
device, two devices racing for one draft, Discard that asks first, and the Preview button with and
without JavaScript."""

from __future__ import annotations

import re

import pytest

from tests.browser.conftest import log_in, require_playwright

require_playwright()
from playwright.sync_api import expect  # noqa: E402

pytestmark = pytest.mark.browser

TEXT = "Our co-operative can host the housing working group in Bologna."


def _topic(make_user, make_category, make_topic):
    ana = make_user("ana", tier="member")
    make_user("bea", tier="member")
    return make_topic(ana, make_category("Working groups"), title="Housing working group")


def test_a_draft_comes_back_in_a_new_browser_and_a_racing_device_is_told(
        new_page, make_user, make_category, make_topic):
    topic = _topic(make_user, make_category, make_topic)
    path = f"/t/{topic.slug}/{topic.id}"
    laptop = new_page()
    log_in(laptop, "bea")
    laptop.goto(path)
    laptop.locator("#reply-raw").fill(TEXT)
    expect(laptop.locator(".draft-status")).to_have_text("Draft saved")
    laptop.context.close()  # the tab, and the whole browser, closed without posting

    phone = new_page()  # a new browser context: no cookies, no local storage of the laptop's
    log_in(phone, "bea")
    phone.goto(path)
    expect(phone.locator("#reply-raw")).to_have_value(TEXT)
    expect(phone.locator(".draft-status")).to_contain_text("is back in the box")

    tablet = new_page()  # a second device with the same draft open
    log_in(tablet, "bea")
    tablet.goto(path)
    expect(tablet.locator("#reply-raw")).to_have_value(TEXT)

    phone.locator("#reply-raw").fill(TEXT + " From the phone.")
    expect(phone.locator(".draft-status")).to_have_text("Draft saved")
    tablet.locator("#reply-raw").fill(TEXT + " From the tablet.")
    status = tablet.locator(".draft-status")
    expect(status).to_contain_text("changed on another device")
    expect(tablet.locator("#reply-raw")).to_have_value(TEXT + " From the tablet.")  # nothing lost here…
    phone.reload()
    expect(phone.locator("#reply-raw")).to_have_value(TEXT + " From the phone.")  # …nor there
    status.get_by_role("button", name="Save my text over it").click()
    expect(status).to_have_text("Draft saved")
    phone.reload()
    expect(phone.locator("#reply-raw")).to_have_value(TEXT + " From the tablet.")

    # Discard asks first: dismissing keeps the draft, accepting ends it.
    phone.once("dialog", lambda dialog: dialog.dismiss())
    phone.get_by_role("button", name="Discard draft").click()
    phone.reload()
    expect(phone.locator("#reply-raw")).to_have_value(TEXT + " From the tablet.")
    phone.once("dialog", lambda dialog: dialog.accept())
    with phone.expect_navigation():
        phone.get_by_role("button", name="Discard draft").click()
    expect(phone.locator("#reply-raw")).to_have_value("")
    tablet.reload()
    expect(tablet.locator("#reply-raw")).to_have_value("")


@pytest.mark.parametrize("javascript", [True, False], ids=["js", "nojs"])
def test_preview_then_post(new_page, make_user, make_category, make_topic, javascript):
    topic = _topic(make_user, make_category, make_topic)
    page = new_page(javascript=javascript)
    log_in(page, "bea")
    page.goto(f"/t/{topic.slug}/{topic.id}")
    page.locator("#reply-raw").fill("We agree, **warmly**, @ana.")
    page.get_by_role("button", name="Preview").click()
    preview = page.locator(".preview")
    expect(preview.locator("strong")).to_have_text("warmly")
    expect(preview.locator("a.mention")).to_have_text("@ana")
    expect(page.locator("#reply-raw")).to_have_value("We agree, **warmly**, @ana.")
    page.get_by_role("button", name="Post reply").click()
    expect(page).to_have_url(re.compile(r"/2#post_2$"))
    expect(page.locator("#post_2 .cooked strong")).to_have_text("warmly")
    expect(page.locator("#reply-raw")).to_have_value("")  # posting ended the draft
