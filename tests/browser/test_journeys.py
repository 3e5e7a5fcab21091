"""User journeys through the real server in Chromium: what a person does and what they then see.

Every test runs once per database backend (SQLite, PostgreSQL) against its own uvicorn process.
"""

from __future__ import annotations

import re

import pytest

from tests.browser.conftest import log_in, require_playwright
from tests.conftest import PASSWORD

require_playwright()
from playwright.sync_api import expect  # noqa: E402

pytestmark = pytest.mark.browser


def topic_path(topic) -> str:
    return f"/t/{topic.slug}/{topic.id}"


# --- (1) sign up and start a topic ------------------------------------------------------------

def test_sign_up_then_start_a_topic(page, make_category):
    make_category("News and events")

    page.goto("/")
    page.get_by_role("link", name="Sign up").click()
    expect(page.get_by_role("heading", name="Create your account")).to_be_visible()
    page.get_by_label("Username").fill("carla_coop")
    page.get_by_label("Display name (optional)").fill("Carla of the Bakery Co-op")
    page.get_by_label("Email").fill("carla@example.org")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign up").click()

    # Signed in at once, on the front page.
    expect(page).to_have_url(re.compile(r"/$"))
    expect(page.locator("header.site-header a.me")).to_have_text("carla_coop")
    expect(page.get_by_role("button", name="Log out")).to_be_visible()

    page.get_by_role("link", name="New topic").click()
    expect(page.get_by_role("heading", name="New topic")).to_be_visible()
    page.get_by_label("Category").select_option(label="News and events")
    page.get_by_label("Title").fill("Bread prices at the autumn assembly")
    page.get_by_label("Body (Markdown)").fill("Shall we put **flour costs** on the agenda?")
    page.get_by_role("button", name="Create topic").click()

    expect(page).to_have_url(re.compile(r"/t/bread-prices-at-the-autumn-assembly/\d+$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Bread prices at the autumn assembly")
    first = page.locator("#post_1")
    expect(first.locator("a.author")).to_have_text("carla_coop")
    expect(first.locator(".cooked")).to_have_text("Shall we put flour costs on the agenda?")
    expect(first.locator(".cooked strong")).to_have_text("flour costs")
    expect(page.locator(".topic-head a.badge")).to_have_text("News and events")

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Latest").click()
    expect(page).to_have_url(re.compile(r"/latest$"))
    row = page.locator("table.topic-list tbody tr").filter(has_text="Bread prices at the autumn assembly")
    expect(row).to_have_count(1)
    expect(row.locator("td.title .by")).to_have_text("by carla_coop")
    expect(row.locator("a.badge")).to_have_text("News and events")


# --- (2) reply with a quote -------------------------------------------------------------------

@pytest.mark.parametrize("javascript", [True, False], ids=["select-and-quote", "quote-link-no-js"])
def test_reply_quoting_another_post(new_page, make_user, make_category, make_topic, javascript):
    ana = make_user("ana", tier="member")
    make_user("bob")
    topic = make_topic(ana, make_category("Assemblies"), title="General assembly 2027",
                       raw="We meet in Lisbon in spring.\n\nBring your delegates' names.")
    page = new_page(javascript=javascript)
    log_in(page, "bob")

    page.goto("/latest")
    page.get_by_role("link", name="General assembly 2027").click()
    expect(page).to_have_url(re.compile(re.escape(topic_path(topic)) + "$"))
    first = page.locator("#post_1")
    quote_head = f'[quote="ana, post:1, topic:{topic.id}"]'
    if javascript:
        # Select the first paragraph (triple click), then "Quote" copies just that into the composer.
        first.locator(".cooked p").first.click(click_count=3)
        first.get_by_role("link", name="Quote").click()
        expect(page).to_have_url(re.compile(re.escape(topic_path(topic)) + "$"))
        composer = page.locator("#reply-raw")
        expect(composer).to_have_value(re.compile(
            "^" + re.escape(quote_head) + r"\nWe meet in Lisbon in spring\.\n\[/quote\]\n"))
        expect(composer).to_be_focused()
        page.keyboard.type("Lisbon suits our delegation.")
    else:
        # Without JavaScript the link opens the reply page with the whole post quoted.
        first.get_by_role("link", name="Quote").click()
        expect(page).to_have_url(re.compile(rf"/t/{topic.id}/reply\?quote=1$"))
        composer = page.get_by_label("Your reply (Markdown)")
        expect(composer).to_have_value(re.compile("^" + re.escape(quote_head) + r"\nWe meet in Lisbon"))
        composer.fill(composer.input_value() + "Lisbon suits our delegation.")
    page.get_by_role("button", name="Post reply").click()

    expect(page).to_have_url(re.compile(re.escape(topic_path(topic)) + r"/2#post_2$"))
    reply = page.locator("#post_2")
    expect(reply.locator("a.author")).to_have_text("bob")
    quote = reply.locator("aside.quote")
    expect(quote).to_have_count(1)
    expect(quote).to_have_attribute("data-username", "ana")
    expect(quote.locator(".title")).to_have_text("ana:")
    expect(quote.locator("blockquote")).to_contain_text("We meet in Lisbon in spring.")
    if javascript:
        expect(quote.locator("blockquote")).not_to_contain_text("delegates' names")
    expect(reply.locator(".cooked > p")).to_have_text("Lisbon suits our delegation.")


# --- (3) like without leaving the page --------------------------------------------------------

def test_like_updates_in_place_and_persists(page, make_user, make_category, make_topic):
    ana = make_user("ana", tier="member")
    make_user("bob")
    topic = make_topic(ana, make_category("Assemblies"), title="Thanks to the organisers")
    log_in(page, "bob")

    page.goto(topic_path(topic))
    button = page.locator("#post_1 button.like")
    expect(button.locator(".like-label")).to_have_text("Like")
    expect(button.locator(".like-count")).to_have_text("0")
    expect(button).to_have_attribute("aria-pressed", "false")
    url = page.url
    page.evaluate("window.__sameDocument = true")  # lost if the browser navigates

    button.click()

    expect(button.locator(".like-count")).to_have_text("1")
    expect(button.locator(".like-label")).to_have_text("Unlike")
    expect(button).to_have_attribute("aria-pressed", "true")
    expect(button).to_be_enabled()
    assert page.url == url
    assert page.evaluate("window.__sameDocument === true"), "liking reloaded the page"

    page.reload()
    button = page.locator("#post_1 button.like")
    expect(button.locator(".like-count")).to_have_text("1")
    expect(button.locator(".like-label")).to_have_text("Unlike")
    expect(button).to_have_class(re.compile(r"\bliked\b"))
    expect(button).to_have_attribute("aria-pressed", "true")


# --- (4) edit a post --------------------------------------------------------------------------

def test_author_edits_post_and_sees_revisions(page, make_user, make_category, make_topic):
    ana = make_user("ana", tier="member")
    topic = make_topic(ana, make_category("Assemblies"), title="Agenda for the spring assembly",
                       raw="First item: the budgett.")
    log_in(page, "ana")

    page.goto(topic_path(topic))
    first = page.locator("#post_1")
    expect(first.locator("a.edited")).to_have_count(0)
    first.get_by_role("link", name="Edit").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Edit post #1")
    body = page.get_by_label("Post (Markdown)")
    expect(body).to_have_value("First item: the budgett.")
    body.fill("First item: the budget. Second item: new members.")
    page.get_by_label("Reason for the edit (optional)").fill("typo")
    page.get_by_role("button", name="Save edit").click()

    expect(page).to_have_url(re.compile(re.escape(topic_path(topic)) + r"/1#post_1$"))
    first = page.locator("#post_1")
    expect(first.locator(".cooked")).to_have_text("First item: the budget. Second item: new members.")
    edited = first.locator("a.edited")
    expect(edited).to_have_text("edited")

    edited.click()
    expect(page).to_have_url(re.compile(r"/posts/\d+/revisions$"))
    versions = page.locator("ol.revisions > li")
    expect(versions).to_have_count(2)
    expect(versions.nth(0).locator("h2")).to_have_text("Version 1")
    expect(versions.nth(0).locator("pre.raw")).to_have_text("First item: the budgett.")
    expect(versions.nth(0)).to_contain_text("typo")
    expect(versions.nth(1).locator("h2")).to_have_text("Version 2 (current)")
    expect(versions.nth(1).locator("pre.raw")).to_have_text("First item: the budget. Second item: new members.")


# --- (5) viewing levels -----------------------------------------------------------------------

def test_members_only_preset_hides_category_from_participant(new_page, make_user, make_category, make_topic):
    make_user("federation_admin", tier="member", admin=True)
    ana = make_user("ana", tier="member")
    make_user("pat", tier="participant")
    finances = make_category("Co-op finances")
    make_category("Open chat")
    topic = make_topic(ana, finances, title="Quarterly surplus allocation")
    url = topic_path(topic)

    participant = new_page()
    log_in(participant, "pat")
    participant.goto("/categories")
    expect(participant.locator("a.category-name", has_text="Co-op finances")).to_have_count(1)
    participant.goto("/latest")
    expect(participant.get_by_role("link", name="Quarterly surplus allocation")).to_have_count(1)
    response = participant.goto(url)
    assert response is not None and response.status == 200
    expect(participant.get_by_role("heading", level=1)).to_have_text("Quarterly surplus allocation")

    admin = new_page()
    log_in(admin, "federation_admin")
    admin.get_by_role("navigation", name="Main").get_by_role("link", name="Admin").click()
    expect(admin.get_by_role("heading", name="Administration")).to_be_visible()
    admin.locator("table.levels tr", has_text="Co-op finances").get_by_role("link", name="Edit levels").click()
    expect(admin.get_by_role("heading", level=1)).to_have_text("Viewing levels: Co-op finances")
    admin.get_by_role("button", name="members only").click()
    expect(admin.get_by_role("status")).to_contain_text("Viewing levels saved")
    expect(admin.get_by_label("Everyone: No access")).to_be_checked()
    expect(admin.get_by_label("Participant: No access")).to_be_checked()
    expect(admin.get_by_label("Worker: No access")).to_be_checked()
    expect(admin.get_by_label("Member: Start topics")).to_be_checked()

    # The participant's next requests no longer show the category or its topic.
    response = participant.goto(url)
    assert response is not None and response.status == 404
    expect(participant.get_by_role("heading", level=1)).to_have_text("Page not found")
    expect(participant.locator("main")).not_to_contain_text("Quarterly surplus allocation")
    participant.goto("/categories")
    expect(participant.locator("a.category-name", has_text="Open chat")).to_have_count(1)
    expect(participant.locator("a.category-name", has_text="Co-op finances")).to_have_count(0)
    participant.goto("/latest")
    expect(participant.get_by_role("heading", name="Latest topics")).to_be_visible()
    expect(participant.get_by_role("link", name="Quarterly surplus allocation")).to_have_count(0)

    # A member still reads it.
    member = new_page()
    log_in(member, "ana")
    response = member.goto(url)
    assert response is not None and response.status == 200
    expect(member.get_by_role("heading", level=1)).to_have_text("Quarterly surplus allocation")


# --- (6) bad input ----------------------------------------------------------------------------

@pytest.mark.parametrize("typed", ["x", "   "], ids=["one-character", "whitespace-only"])
def test_too_short_reply_shows_inline_error_and_keeps_text(page, make_user, make_category, make_topic, typed):
    ana = make_user("ana", tier="member")
    make_user("bob")
    topic = make_topic(ana, make_category("Assemblies"), title="Where shall we meet?")
    log_in(page, "bob")

    page.goto(topic_path(topic))
    page.get_by_label("Your reply (Markdown)").fill(typed)
    page.get_by_role("button", name="Post reply").click()

    error = page.locator("#raw-error")
    expect(error).to_have_text("Post must be at least 2 characters.")
    expect(error).to_have_attribute("role", "alert")
    composer = page.get_by_label("Your reply (Markdown)")
    expect(composer).to_have_value(typed)
    expect(composer).to_have_attribute("aria-invalid", "true")
    expect(composer).to_have_attribute("aria-describedby", "raw-error")

    # Nothing was posted.
    page.goto(topic_path(topic))
    expect(page.locator("article.post")).to_have_count(1)


# --- (7) keyboard -----------------------------------------------------------------------------

def test_first_tab_reaches_skip_link(page, make_user, make_category, make_topic):
    ana = make_user("ana", tier="member")
    topic = make_topic(ana, make_category("Assemblies"))

    for path in ("/latest", topic_path(topic)):
        page.goto(path)
        page.keyboard.press("Tab")
        focused = page.locator(":focus")
        expect(focused).to_have_text("Skip to content")
        expect(focused).to_have_attribute("href", "#main")
        page.keyboard.press("Enter")
        expect(page.locator("main#main")).to_be_focused()


# --- regressions ------------------------------------------------------------------------------

def test_login_form_survives_a_not_found_page_in_another_tab(new_page, make_user):
    make_user("bob")
    page = new_page(favicon=True)
    page.goto("/login")
    page.get_by_label("Username or email").fill("bob")
    page.get_by_label("Password").fill(PASSWORD)

    # What Chromium itself does after the first page of a visit: it asks for /favicon.ico.
    other_tab = page.context.new_page()
    response = other_tab.goto("/favicon.ico")
    assert response is not None and response.status == 404
    other_tab.close()

    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Not allowed")).to_have_count(0)
    expect(page.locator("header.site-header a.me")).to_have_text("bob")
