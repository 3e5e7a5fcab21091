"""Without a mouse: open a topic, move between posts, like one, reply — keys only."""

from __future__ import annotations

import re

import pytest

from tests.browser.conftest import log_in, require_playwright

require_playwright()
from playwright.sync_api import expect  # noqa: E402

pytestmark = pytest.mark.browser


def test_keyboard_only_journey(page, make_user, make_category, make_topic, make_reply):
    ana = make_user("ana", tier="member")
    make_user("bob", tier="member")
    topic = make_topic(ana, make_category("Assemblies"), title="Agenda of the spring assembly")
    make_reply(ana, topic, raw="The second post, to be liked.")
    log_in(page, "bob")
    page.goto("/latest")

    # Tab to the topic's link and open it.
    for _ in range(40):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.textContent.trim()") == "Agenda of the spring assembly":
            break
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(rf"/t/{topic.slug}/{topic.id}$"))

    # ? shows the shortcuts; Escape closes them.
    page.keyboard.press("?")
    expect(page.get_by_role("dialog", name="Keyboard shortcuts")).to_be_visible()
    page.keyboard.press("Escape")
    expect(page.get_by_role("dialog", name="Keyboard shortcuts")).to_be_hidden()

    # j, j: the second post; l likes it.
    page.keyboard.press("j")
    expect(page.locator("#post_1")).to_be_focused()
    page.keyboard.press("j")
    expect(page.locator("#post_2")).to_be_focused()
    page.keyboard.press("l")
    like = page.locator("#post_2 button.like")
    expect(like).to_have_attribute("aria-pressed", "true")
    expect(like.locator(".like-count")).to_have_text("1")
    page.keyboard.press("k")
    expect(page.locator("#post_1")).to_be_focused()

    # r: the reply box, where letters are text, not shortcuts.
    page.keyboard.press("r")
    composer = page.locator("#reply-raw")
    expect(composer).to_be_focused()
    page.keyboard.type("jkl? are letters here: the agenda suits us.")
    expect(composer).to_have_value("jkl? are letters here: the agenda suits us.")
    for _ in range(6):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.textContent.trim()") == "Post reply":
            break
    page.keyboard.press("Enter")
    expect(page.locator("#post_3 .cooked")).to_have_text("jkl? are letters here: the agenda suits us.")
