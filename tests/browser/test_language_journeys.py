"""A Spanish and a French browser through a whole visit: sign up, read, reply, vote, say they are going,
get a notification — every interface word in their language. And the footer switcher."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from forum import events
from forum.i18n import translations
from forum.models import Topic, User, utcnow
from forum.permissions import Viewer
from tests.browser.conftest import ACTION_TIMEOUT_MS, require_playwright
from tests.conftest import PASSWORD

require_playwright()
from playwright.sync_api import expect  # noqa: E402

pytestmark = pytest.mark.browser

# Interface words an English page is full of; none may show on a page in another language.
ENGLISH = ("Reply", "Latest", "Log out", "Categories", "Seen by", "Search", "Events", "Preferences", "Vote",
           "Going", "Notifications", "Post reply", "Sign up")


def t(lang: str, message: str) -> str:
    return translations(lang).gettext(message)


def _no_english(page, lang: str) -> None:
    text = page.locator("body").inner_text()
    for word in ENGLISH:
        if t(lang, word) == word:
            continue  # the same word in this language ("Notifications" in French)
        assert not re.search(rf"\b{re.escape(word)}\b", text), f"{word!r} left in English on {page.url}"


@pytest.fixture
def browser_in(chromium, live_server):
    contexts = []

    def make(locale: str):
        context = chromium.new_context(base_url=live_server, locale=locale, timezone_id="Europe/Madrid")
        context.set_default_timeout(ACTION_TIMEOUT_MS)
        contexts.append(context)
        return context.new_page()

    yield make
    for context in contexts:
        context.close()


@pytest.mark.parametrize("locale,lang", [("es-ES", "es"), ("fr-FR", "fr")])
def test_a_whole_visit_in_the_browsers_language(db, settings, browser_in, make_user, make_category, make_topic,
                                                make_reply, locale, lang):
    ana = make_user("ana", tier="member")
    category = make_category("Asambleas")
    topic = make_topic(ana, category, title="Asamblea de primavera",
                       raw="¿Dónde nos reunimos?\n\n[poll]\n* Lisboa\n* Gante\n[/poll]")
    start = (utcnow() + timedelta(days=10)).strftime("%Y-%m-%d")
    with db.write() as session:
        post = events.create_event(session, settings, Viewer(session.get(User, ana.id)), title="Encuentro en línea",
                                   raw="Preparamos los talleres.", category_id=category.id, start_date=start,
                                   start_time="15:00", timezone="Europe/Madrid")
        event_topic = session.get(Topic, post.topic_id)
        event_path = f"/t/{event_topic.slug}/{event_topic.id}"

    page = browser_in(locale)
    page.goto("/")
    expect(page.locator("html")).to_have_attribute("lang", lang)
    expect(page.get_by_role("heading", name=t(lang, "Latest topics"))).to_be_visible()
    _no_english(page, lang)

    # Sign up.
    page.locator("header").get_by_role("link", name=t(lang, "Sign up")).click()
    expect(page.get_by_role("heading", name=t(lang, "Create your account"))).to_be_visible()
    page.get_by_label(t(lang, "Username")).fill("lucia_coop")
    page.get_by_label(t(lang, "Email")).fill("lucia@example.org")
    page.get_by_label(t(lang, "Password"), exact=True).fill(PASSWORD)
    page.locator("main").get_by_role("button", name=t(lang, "Sign up")).click()
    expect(page.locator("header.site-header a.me")).to_have_text("lucia_coop")
    _no_english(page, lang)

    # Read and reply.
    page.get_by_role("link", name="Asamblea de primavera").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Asamblea de primavera")
    _no_english(page, lang)
    page.get_by_label(t(lang, "Your reply (Markdown)")).fill("Lisboa nos viene bien.")
    page.get_by_role("button", name=t(lang, "Post reply")).click()
    expect(page.locator("#post_2 .cooked")).to_have_text("Lisboa nos viene bien.")

    # Vote in the poll.
    widget = page.locator(".poll-widget")
    widget.get_by_label("Lisboa").check()
    widget.get_by_role("button", name=t(lang, "Vote")).click()
    expect(page.locator(".poll-widget .poll-results")).to_contain_text("Lisboa")
    _no_english(page, lang)

    # Say they are going to the event.
    page.goto(event_path)
    page.locator("#event").get_by_role("button", name=t(lang, "Going"), exact=True).click()
    expect(page.locator('#event .rsvp-count[data-status="going"]')).to_have_text("1")
    _no_english(page, lang)

    # Ana mentions them: the header shows it, and the notifications page says it in their language.
    make_reply(ana, topic, raw="@lucia_coop gracias, apuntado.")
    page.goto("/latest")
    link = page.locator("header .notifications-link")
    expect(link.locator(".badge-count")).to_have_text("1")
    page.goto("/u/lucia_coop/notifications")
    expected = t(lang, "%(actor)s mentioned you in %(topic)s") % {"actor": "ana", "topic": "Asamblea de primavera"}
    expect(page.locator("main")).to_contain_text(expected)
    _no_english(page, lang)


def test_the_footer_switcher_changes_the_language_and_it_sticks(browser_in, make_user, make_category, make_topic):
    make_topic(make_user("ana"), make_category("News and events"))
    page = browser_in("en-GB")
    page.goto("/latest")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    page.get_by_role("navigation", name="Language").get_by_role("link", name="Italiano").click()
    expect(page.locator("html")).to_have_attribute("lang", "it")
    expect(page).to_have_url(re.compile(r"/latest$"))
    expect(page.get_by_role("heading", name=t("it", "Latest topics"))).to_be_visible()
    page.goto("/categories")
    expect(page.locator("html")).to_have_attribute("lang", "it")
    _no_english(page, "it")
