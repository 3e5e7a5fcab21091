"""On a phone: no page scrolls sideways, the header folds into a menu that works without JavaScript,
and a reply can be written and posted. On a desktop the menu is simply there."""

from __future__ import annotations

import re

import pytest

from tests.browser.conftest import ACTION_TIMEOUT_MS, log_in, require_playwright

require_playwright()
from playwright.sync_api import expect  # noqa: E402

pytestmark = pytest.mark.browser

PHONE = {"viewport": {"width": 360, "height": 740}, "is_mobile": True, "has_touch": True, "device_scale_factor": 2}
LONG_WORD = "Genossenschaftsverbandsversammlungsprotokoll" * 2
LONG_URL = "https://example.org/" + "reports/" * 12 + "annual-report-on-worker-co-operatives-2026.pdf"


@pytest.fixture
def phone(chromium, live_server):
    contexts = []

    def make(*, javascript: bool = True, width: int = 360):
        context = chromium.new_context(base_url=live_server, java_script_enabled=javascript, locale="en-GB",
                                       timezone_id="UTC", **{**PHONE, "viewport": {"width": width, "height": 740}})
        context.set_default_timeout(ACTION_TIMEOUT_MS)
        contexts.append(context)
        return context.new_page()

    yield make
    for context in contexts:
        context.close()


def _fits(page, path: str) -> None:
    page.goto(path)
    scroll, inner = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert scroll <= inner, f"{path} is {scroll}px wide on a {inner}px screen"


@pytest.fixture
def forum(make_user, make_category, make_topic, make_reply, staff):
    ana = make_user("ana", tier="member")
    make_user("bob", tier="participant")
    news = make_category("News and events of the International Federation of Worker Co-operatives")
    topic = make_topic(ana, news, title="Annual report on worker co-operatives, with every regional annex attached",
                       raw=f"Read it here: {LONG_URL}\n\n{LONG_WORD}\n\n| Country | Co-ops | Members | Workers |\n"
                           "|---|---|---|---|\n| Italy | 25000 | 1200000 | 1100000 |\n\n"
                           "```\n" + "x = 1  # a long line of code that must scroll inside its own box " * 3 + "\n```")
    for n in range(3):
        make_reply(ana, topic, raw=f"Reply number {n} about the annex.")
    return {"topic": topic, "category": news, "staff": staff}


@pytest.mark.parametrize("width", [320, 360, 390, 430])
def test_no_page_scrolls_sideways_on_a_phone(phone, forum, width):
    topic, category = forum["topic"], forum["category"]
    pages = ["/latest", "/categories", f"/c/{category.slug}/{category.id}", f"/t/{topic.slug}/{topic.id}",
             "/search?q=report", "/login", "/signup", "/u/ana", "/events"]
    visitor = phone(width=width)
    for path in pages:
        _fits(visitor, path)
    member = phone(width=width)
    log_in(member, "bob")
    for path in [*pages, "/new-topic", "/my/preferences", "/u/bob/notifications", f"/t/{topic.id}/reply"]:
        _fits(member, path)
    if width == 360:
        admin = phone(width=width)
        log_in(admin, forum["staff"].username)
        for path in ("/admin", "/admin/users", "/admin/settings", f"/admin/categories/{category.id}", "/admin/review",
                     "/admin/log", "/admin/invitations", f"/admin/topics/{topic.id}"):
            _fits(admin, path)


@pytest.mark.parametrize("javascript", [True, False], ids=["js", "no-js"])
def test_the_header_menu_on_a_phone_and_a_reply_from_it(phone, forum, javascript):
    topic = forum["topic"]
    page = phone(javascript=javascript)
    log_in(page, "bob")
    page.goto("/latest")
    nav = page.get_by_role("navigation", name="Main")
    # Folded: search and notifications stay in reach, the rest waits behind "Menu".
    expect(nav).to_be_hidden()
    expect(page.locator("header .quick").get_by_role("link", name="Search")).to_be_visible()
    expect(page.locator("header .quick .notifications-link")).to_be_visible()
    page.get_by_text("Menu", exact=True).click()
    expect(nav).to_be_visible()
    expect(page.get_by_role("button", name="Log out")).to_be_visible()
    box = nav.get_by_role("link", name="Categories").bounding_box()
    assert box["height"] >= 44 and box["width"] >= 44
    nav.get_by_role("link", name="Categories").click()
    expect(page).to_have_url(re.compile(r"/categories$"))

    # Topic rows stack: title, category, replies and activity all on screen.
    page.goto("/latest")
    row = page.locator("table.topic-list tbody tr").filter(has_text="Annual report")
    for cell in ("td.title a", "a.badge", "td[data-label='Replies']", "td[data-label='Activity']"):
        target = row.locator(cell).first
        expect(target).to_be_visible()
        right = target.bounding_box()["x"] + target.bounding_box()["width"]
        assert right <= 360, cell

    page.goto(f"/t/{topic.slug}/{topic.id}")
    composer = page.locator("#reply-raw")
    composer.scroll_into_view_if_needed()
    composer.fill("Read on my phone between shifts: thank you for the annex.")
    page.get_by_role("button", name="Post reply").click()
    expect(page.locator("#post_5 .cooked")).to_have_text("Read on my phone between shifts: thank you for the annex.")


def test_on_a_desktop_the_menu_is_open_and_has_no_button(new_page, forum):
    page = new_page()
    page.set_viewport_size({"width": 1280, "height": 800})
    log_in(page, "bob")
    page.goto("/latest")
    expect(page.get_by_role("navigation", name="Main")).to_be_visible()
    expect(page.get_by_text("Menu", exact=True)).to_be_hidden()
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def test_quote_mention_and_emoji_by_touch(phone, forum):
    """On a touch screen: tap Quote, pick a mention from the suggestions with a tap, write an emoji
    shortcode, preview, post."""
    topic = forum["topic"]
    page = phone()
    log_in(page, "bob")
    page.goto(f"/t/{topic.slug}/{topic.id}")
    page.locator("#post_2").get_by_role("link", name="Quote").tap()
    expect(page).to_have_url(re.compile(rf"/t/{topic.id}/reply\?quote=2$"))
    box = page.get_by_label("Your reply (Markdown)")
    expect(box).to_have_value(re.compile(r'^\[quote="ana, post:2, topic:\d+"\]\nReply number 0 about the annex\.'))
    box.tap()
    page.keyboard.press("End")
    box.press("Control+End")
    box.press_sequentially("Agreed @an")
    suggestion = page.get_by_role("option", name=re.compile("@ana"))
    expect(suggestion).to_be_visible()
    suggestion.tap()
    expect(box).to_have_value(re.compile(r"Agreed @ana $"))
    box.press_sequentially("thanks :tada:")
    page.get_by_role("button", name="Preview").tap()
    preview = page.locator(".preview")
    expect(preview.locator("a.mention")).to_have_text("@ana")
    expect(preview).to_contain_text("thanks 🎉")
    page.get_by_role("button", name="Post reply").tap()
    posted = page.locator("#post_5")
    expect(posted.locator("aside.quote blockquote")).to_contain_text("Reply number 0 about the annex.")
    expect(posted.locator(".cooked > p")).to_have_text("Agreed @ana thanks 🎉")
