"""In Chromium: when the server refuses a vote sent by static/decide.js, its JSON error shows inside
the poll, without a reload, and the votes stay as they were."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from forum import polls
from forum.models import Poll, PollVote, Post
from forum.permissions import Viewer
from tests.browser.conftest import log_in, require_playwright

require_playwright()
from playwright.sync_api import expect  # noqa: E402

pytestmark = pytest.mark.browser

POLL = "Where do we meet in spring?\n\n[poll]\n* Lisbon\n* Ghent\n[/poll]"


def test_a_vote_refused_after_the_page_loaded_shows_the_reason_in_the_poll(db, page, make_user, make_category,
                                                                           make_topic):
    ana = make_user("ana")
    make_user("bob")
    topic = make_topic(ana, make_category("Assemblies"), raw=POLL)
    with db.read() as s:
        poll = s.scalar(select(Poll).join(Post, Post.id == Poll.post_id).where(Post.topic_id == topic.id))
    log_in(page, "bob")
    page.goto(f"/t/{topic.slug}/{topic.id}")
    page.evaluate("window.__sameDocument = true")
    with db.write() as s:  # the author closes the poll while bob is choosing
        polls.close(s, Viewer(ana), poll_id=poll.id)

    widget = page.locator(f"#poll-{poll.id}")
    widget.get_by_role("radio", name="Ghent").check()
    widget.get_by_role("button", name="Vote").click()
    expect(widget.get_by_role("alert")).to_have_text("This poll is closed.")
    assert page.evaluate("window.__sameDocument") is True  # shown in place: no reload, no error page
    with db.read() as s:
        assert s.scalar(select(PollVote.id)) is None
