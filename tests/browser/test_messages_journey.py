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


def test_reply_privately_quoting_a_post(new_page, make_user, make_category, make_topic):
    rosa = make_user("rosa", tier="member")
    make_user("tomas", tier="member")
    make_user("olaf", tier="member")
    topic = make_topic(rosa, make_category("Calls"), title="Call for expressions of interest: youth exchange",
                       raw="We look for three co-ops to host a youth exchange in May.")

    member = new_page()
    log_in(member, "tomas")
    member.goto(f"/t/{topic.slug}/{topic.id}")
    member.locator("#post_1").get_by_role("link", name="Reply privately").click()
    expect(member.get_by_label("To (usernames or groups, separated by commas)")).to_have_value("rosa")
    expect(member.get_by_label("Title")).to_have_value("Re: Call for expressions of interest: youth exchange")
    body = member.get_by_label("Message (Markdown)")
    expect(body).to_have_value(re.compile(r'\[quote="rosa, post:1, topic:\d+"\]\nWe look for three co-ops'))
    body.press("End")
    body.type("Our bakery could host two people; may we talk about costs first?")
    member.get_by_role("button", name="Send message").click()

    expect(member.locator("h1#topic-title")).to_have_text("Re: Call for expressions of interest: youth exchange")
    quote = member.locator("#post_1 blockquote")
    expect(quote).to_contain_text("We look for three co-ops to host a youth exchange in May.")
    expect(member.locator("#post_1 aside.quote")).to_contain_text("rosa")
    expect(member.get_by_text("Our bakery could host two people")).to_be_visible()
    message_url = member.url

    author = new_page()
    log_in(author, "rosa")
    author.goto("/u/rosa/messages")
    author.get_by_role("link", name="Re: Call for expressions of interest: youth exchange").click()
    expect(author.get_by_text("Our bakery could host two people")).to_be_visible()
    # The public topic shows nothing of it, and nobody else opens it.
    author.goto(f"/t/{topic.slug}/{topic.id}")
    expect(author.get_by_text("Our bakery could host two people")).to_have_count(0)
    other = new_page()
    log_in(other, "olaf")
    response = other.goto(message_url)
    assert response is not None and response.status == 404
