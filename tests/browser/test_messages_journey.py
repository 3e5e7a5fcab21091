"""A member writes to the moderators from the header's Messages page, a moderator finds it in the
moderators' folder and answers, and the member reads the answer; another member never sees it."""

from __future__ import annotations

import re

import pytest

from tests.browser.conftest import log_in, require_playwright

require_playwright()
from playwright.sync_api import expect  # noqa: E402

pytestmark = pytest.mark.browser


def test_a_member_messages_the_moderators_and_a_moderator_replies(new_page, make_user):
    make_user("mara", tier="member")
    make_user("moss", tier="member", moderator=True)
    make_user("olaf", tier="member")

    member = new_page()
    log_in(member, "mara")
    member.goto("/latest")
    member.get_by_role("link", name=re.compile("^Messages")).first.click()
    member.get_by_role("link", name="New message").click()
    member.get_by_label("To (usernames or groups, separated by commas)").fill("moderators")
    member.get_by_label("Title").fill("Someone keeps posting my address")
    member.get_by_label("Message (Markdown)").fill("Could you remove my street address from the events thread?")
    member.get_by_role("button", name="Send message").click()
    expect(member.locator("h1#topic-title")).to_have_text("Someone keeps posting my address")
    expect(member.get_by_text("Only these people and groups see this conversation")).to_be_visible()

    moderator = new_page()
    log_in(moderator, "moss")
    moderator.goto("/u/moss/messages/group/moderators")
    moderator.get_by_role("link", name="Someone keeps posting my address").click()
    moderator.get_by_label("Your reply (Markdown)").fill("Done: the address is gone, and we have warned the poster.")
    moderator.get_by_role("button", name="Post reply").click()
    expect(moderator.get_by_text("Done: the address is gone")).to_be_visible()

    member.goto("/u/mara/messages")
    member.get_by_role("link", name="Someone keeps posting my address").click()
    expect(member.get_by_text("Done: the address is gone")).to_be_visible()

    other = new_page()
    log_in(other, "olaf")
    other.goto("/u/olaf/messages")
    expect(other.get_by_text("No messages here.")).to_be_visible()
    response = other.goto(member.url)
    assert response is not None and response.status == 404
