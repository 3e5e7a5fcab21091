"""Polls, proposals and events in Chromium: voting without reloads, the tally, and times in browser zones."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select, update

from forum import events, proposals
from forum.models import Poll, PollOption, Post, Proposal, Topic, User
from forum.permissions import Viewer
from tests.browser.conftest import ACTION_TIMEOUT_MS, log_in, require_playwright

require_playwright()
from playwright.sync_api import expect  # noqa: E402

pytestmark = pytest.mark.browser

POLL = "Where do we meet in spring?\n\n[poll public=true]\n* Lisbon\n* Ghent\n[/poll]"


@pytest.fixture
def page_in(chromium, live_server):
    """A page in a fresh browser context whose clock is in the given IANA zone."""
    contexts = []

    def make(zone: str, *, javascript: bool = True):
        context = chromium.new_context(base_url=live_server, locale="en-GB", timezone_id=zone,
                                       java_script_enabled=javascript)
        context.set_default_timeout(ACTION_TIMEOUT_MS)
        context.route("**/favicon.ico", lambda route: route.fulfill(status=404, body=""))
        contexts.append(context)
        return context.new_page()

    yield make
    for context in contexts:
        context.close()


def topic_path(topic) -> str:
    return f"/t/{topic.slug}/{topic.id}"


def test_vote_and_change_a_vote_and_see_results_without_a_reload(db, page, make_user, make_category, make_topic):
    ana = make_user("ana")
    make_user("bob")
    topic = make_topic(ana, make_category("Assemblies"), raw=POLL)
    with db.read() as s:
        poll = s.scalar(select(Poll).join(Post, Post.id == Poll.post_id).where(Post.topic_id == topic.id))
        lisbon, ghent = s.scalars(select(PollOption).where(PollOption.poll_id == poll.id).order_by(PollOption.position))
    log_in(page, "bob")
    page.goto(topic_path(topic))
    page.evaluate("window.__sameDocument = true")
    widget = page.locator(f"#poll-{poll.id}")
    widget.locator(f"input[value='{lisbon.id}']").check()
    widget.get_by_role("button", name="Vote").click()

    results = page.locator(f"#poll-{poll.id} .poll-results li")
    expect(results.filter(has_text="Lisbon")).to_contain_text("1 vote · 100%")
    expect(results.filter(has_text="Lisbon")).to_contain_text("bob")
    expect(page.locator(f"#poll-{poll.id}").get_by_role("button", name="Change my vote")).to_be_visible()
    assert page.evaluate("window.__sameDocument") is True  # no reload happened

    page.locator(f"#poll-{poll.id} input[value='{ghent.id}']").check()
    page.locator(f"#poll-{poll.id}").get_by_role("button", name="Change my vote").click()
    expect(results.filter(has_text="Ghent")).to_contain_text("1 vote · 100%")
    expect(results.filter(has_text="Lisbon")).to_contain_text("0 votes · 0%")
    assert page.evaluate("window.__sameDocument") is True

    page.reload()
    expect(page.locator(f"#poll-{poll.id} .poll-results li").filter(has_text="Ghent")).to_contain_text("1 vote")


def test_vote_with_javascript_off_uses_the_plain_form(db, new_page, make_user, make_category, make_topic):
    ana = make_user("ana")
    make_user("bob")
    topic = make_topic(ana, make_category("Assemblies"), raw=POLL)
    page = new_page(javascript=False)
    log_in(page, "bob")
    page.goto(topic_path(topic))
    page.get_by_role("radio", name="Ghent").check()
    page.get_by_role("button", name="Vote").click()
    expect(page.locator(".poll-results li").filter(has_text="Ghent")).to_contain_text("1 vote · 100%")


def test_take_a_position_with_a_reason_and_see_the_tally(db, page, settings, make_user, make_category):
    category = make_category("General assembly", "members_and_workers")
    ana = make_user("ana", tier="member")
    make_user("wes", tier="worker")
    with db.write() as s:
        post = proposals.create_proposal(s, settings, Viewer(s.get(User, ana.id)), title="Adopt the kitchen charter",
                                         raw="We propose to adopt the charter.", category_id=category.id,
                                         closes_date="2026-12-14", closes_time="15:00", timezone="Europe/London")
        topic = s.get(Topic, post.topic_id)
        path = topic_path(topic)
    log_in(page, "wes")
    page.goto(path)
    panel = page.locator("#proposal")
    expect(panel).to_contain_text("0 of 3 have responded")
    panel.get_by_role("radio", name="Block").check()
    panel.get_by_role("button", name="Take this position").click()
    expect(page.locator("#proposal")).to_contain_text("A block needs a reason")
    page.locator("#proposal").get_by_label("Reason (required for a block)").fill("It breaks our hygiene rules.")
    page.locator("#proposal").get_by_role("button", name="Take this position").click()
    panel = page.locator("#proposal")
    expect(panel.locator(".blocks")).to_contain_text("wes: It breaks our hygiene rules.")
    expect(panel.locator('[data-position="block"]')).to_have_text("1")
    expect(panel).to_contain_text("1 of 3 have responded")
    panel.get_by_role("radio", name="Agree", exact=True).check()
    panel.get_by_role("button", name="Change my position").click()
    expect(page.locator('#proposal [data-position="agree"]')).to_have_text("1")
    expect(page.locator('#proposal [data-position="block"]')).to_have_text("0")
    expect(page.locator("#proposal .blocks")).to_have_count(0)


def _event(db, settings, make_user, make_category):
    ana = make_user("ana")
    category = make_category("Housing")
    with db.write() as s:
        post = events.create_event(s, settings, Viewer(s.get(User, ana.id)), title="Online assembly",
                                   raw="Rents and repairs.", category_id=category.id, start_date="2026-12-14",
                                   start_time="15:00", timezone="Europe/London")
        return topic_path(s.get(Topic, post.topic_id))


def test_an_event_time_in_two_browser_time_zones(db, settings, page_in, make_user, make_category):
    path = _event(db, settings, make_user, make_category)
    paris = page_in("Europe/Paris")
    paris.goto(path)
    start = paris.locator(".event-start")
    expect(start).to_contain_text("Mon 14 Dec 2026, 15:00 London (GMT)")
    expect(start).to_contain_text(re.compile(r"16:00 your time \(Paris, (CET|GMT\+1)\)"))

    new_york = page_in("America/New_York")
    new_york.goto(path)
    start = new_york.locator(".event-start")
    expect(start).to_contain_text("Mon 14 Dec 2026, 15:00 London (GMT)")
    expect(start).to_contain_text(re.compile(r"10:00 your time \(New York, (EST|GMT-5)\)"))

    london = page_in("Europe/London")
    london.goto(path)
    expect(london.locator(".event-start")).to_contain_text("15:00 London (GMT) · your time")


def test_the_zone_mismatch_notice_fixes_the_profile_in_one_click(db, settings, page_in, make_user, make_category):
    path = _event(db, settings, make_user, make_category)
    make_user("pierre")
    with db.write() as s:
        s.execute(update(User).where(User.username == "pierre").values(timezone="Europe/London"))
    page = page_in("Europe/Paris")
    log_in(page, "pierre")
    page.goto(path)
    # Server-rendered from the profile: London twice, which is wrong for where pierre now is.
    expect(page.locator(".event-start")).to_contain_text("15:00 London (GMT) · your time")
    notice = page.locator("#zone-notice")
    expect(notice).to_be_visible()
    expect(notice).to_contain_text("Your profile says London; this device is on Paris time.")
    notice.get_by_role("button", name="Use Paris time").click()
    expect(page).to_have_url(re.compile(re.escape(path) + "$"))
    expect(page.locator("#zone-notice")).to_be_hidden()
    expect(page.locator(".event-start")).to_contain_text("16:00 your time (Paris, CET)")
    with db.read() as s:
        assert s.scalar(select(User.timezone).where(User.username == "pierre")) == "Europe/Paris"


def test_the_notice_stays_away_when_the_zones_agree(db, settings, page_in, make_user, make_category):
    path = _event(db, settings, make_user, make_category)
    make_user("pierre")
    with db.write() as s:
        s.execute(update(User).where(User.username == "pierre").values(timezone="Europe/Paris"))
        assert s.scalar(select(Proposal.id)) is None
    page = page_in("Europe/Paris")
    log_in(page, "pierre")
    page.goto(path)
    expect(page.locator(".event-start")).to_contain_text("16:00 your time (Paris, CET)")
    expect(page.locator("#zone-notice")).to_be_hidden()
