"""Moderators' journeys in Chromium: a viewing level set with a preset, a flag reviewed, and an
invitation-only sign-up through an invitation link.

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


def test_moderator_sets_a_viewing_level_with_a_preset_and_reads_it_in_plain_words(
        new_page, make_user, make_category, make_topic):
    make_user("moe", tier="participant", moderator=True)
    ana = make_user("ana", tier="member")
    make_user("pat", tier="participant")
    finances = make_category("Co-op finances")
    topic = make_topic(ana, finances, title="Quarterly surplus allocation")

    participant = new_page()
    log_in(participant, "pat")
    response = participant.goto(topic_path(topic))
    assert response is not None and response.status == 200

    mod = new_page()
    log_in(mod, "moe")
    mod.get_by_role("navigation", name="Main").get_by_role("link", name="Admin").click()
    mod.locator("table.levels tr", has_text="Co-op finances").get_by_role("link", name="Edit levels").click()
    summary = mod.locator("section.level-summary")
    expect(summary).to_contain_text("Participants can start topics. Workers can start topics. Members can start topics.")
    expect(summary).to_contain_text("Visitors who are not signed in can read it")

    mod.get_by_role("button", name="Members only").click()

    expect(mod.get_by_role("status")).to_contain_text("Viewing levels saved")
    summary = mod.locator("section.level-summary")
    expect(summary).to_contain_text("Participants cannot see it. Workers cannot see it. Members can start topics.")
    expect(summary).to_contain_text("Visitors who are not signed in cannot see it")
    expect(mod.get_by_label("Participant: No access")).to_be_checked()
    expect(mod.get_by_label("Member: Start topics")).to_be_checked()
    expect(mod.get_by_role("button", name="Members only")).to_have_attribute("aria-current", "true")

    # The preview shows what a participant now meets: nothing.
    summary.get_by_role("link", name="a participant").click()
    expect(mod.get_by_role("status")).to_contain_text("you see this page as a participant sees it")
    expect(mod.get_by_role("heading", level=1)).to_have_text("Page not found")

    response = participant.goto(topic_path(topic))
    assert response is not None and response.status == 404
    participant.goto("/categories")
    expect(participant.locator("a.category-name", has_text="Co-op finances")).to_have_count(0)

    mod.goto("/admin/log")
    expect(mod.locator("table.modlog tbody tr").first).to_contain_text("changed viewing levels")
    expect(mod.locator("table.modlog tbody tr").first).to_contain_text("moe")


def test_a_member_flags_a_post_and_a_moderator_agrees_and_deletes_it(new_page, make_user, make_category,
                                                                     make_topic, make_reply):
    make_user("moe", tier="participant", moderator=True)
    ana = make_user("ana", tier="member")
    spammer = make_user("spammer", tier="participant")
    make_user("bob", tier="member")
    topic = make_topic(ana, make_category("Assemblies"), title="Catering for the assembly")
    make_reply(spammer, topic, raw="Cheap watches at example.com, best prices!")

    member = new_page(javascript=False)
    log_in(member, "bob")
    member.goto(topic_path(topic))
    member.locator("#post_2").get_by_role("link", name="Flag").click()
    expect(member.get_by_role("heading", level=1)).to_have_text("Flag post #2 by spammer")
    member.get_by_label("Spam").check()
    member.get_by_role("button", name="Flag post").click()
    expect(member.get_by_role("status")).to_have_text("The moderators will look at this post.")
    member.get_by_role("link", name="Back to the post").click()
    expect(member.locator("#post_2 .flagged")).to_have_text("Flagged")

    mod = new_page()
    log_in(mod, "moe")
    mod.goto("/admin")
    expect(mod.get_by_role("navigation", name="Moderation")).to_contain_text("1 post flagged")
    mod.get_by_role("link", name="Review queue").click()
    item = mod.locator("article.review-item", has_text="Catering for the assembly #2")
    expect(item.locator(".flag-counts")).to_contain_text("Spam: 1")
    expect(item).to_contain_text("Cheap watches at example.com")
    expect(item.locator("ul.flaggers")).to_contain_text("bob")
    item.get_by_label("delete the post").check()
    item.get_by_role("button", name="Agree", exact=True).click()

    expect(mod).to_have_url(re.compile(r"/admin/review$"))
    expect(mod.locator("article.review-item")).to_have_count(0)
    expect(mod.get_by_text("Nothing to review.")).to_be_visible()

    member.goto(topic_path(topic))
    expect(member.locator("#post_2 .cooked")).to_have_text("(post deleted)")
    expect(member.locator("main")).not_to_contain_text("Cheap watches")

    mod.goto("/admin/log")
    rows = mod.locator("table.modlog tbody tr")
    expect(rows.nth(0)).to_contain_text("agreed with flags")
    expect(rows.nth(1)).to_contain_text("deleted post")


def test_invitation_only_sign_up_through_an_invitation_link(new_page, make_user, make_category):
    make_user("federation_admin", tier="member", admin=True)
    lounge = make_category("Members' lounge", "members_only")

    admin = new_page()
    log_in(admin, "federation_admin")
    admin.goto("/admin")
    admin.get_by_role("link", name="Sign-up, flags, limits and languages").click()
    admin.get_by_label("Invitation only").check()
    admin.get_by_role("button", name="Save settings").click()
    expect(admin.get_by_role("status")).to_contain_text("Settings saved")

    visitor = new_page()
    visitor.goto("/signup")
    expect(visitor.get_by_role("heading", level=1)).to_have_text("Joining is by invitation")
    expect(visitor.locator("form[action='/signup']")).to_have_count(0)

    admin.goto("/admin/invitations")
    admin.get_by_label("Tier of the new account").select_option("member")
    admin.get_by_label("Land in category (optional)").select_option(label="Members' lounge")
    admin.get_by_role("button", name="Create invitation").click()
    expect(admin.get_by_role("status")).to_contain_text("Invitation created. Share this link:")
    link = admin.locator("#created-link").input_value()
    assert re.search(r"/invites/[A-Za-z0-9_-]+$", link)

    visitor.goto(link)
    expect(visitor.get_by_role("heading", level=1)).to_contain_text("You are invited")
    expect(visitor.locator("main")).to_contain_text("federation_admin invites you to join the forum. Your tier: Member.")
    visitor.get_by_label("Username").fill("lucia_bakery")
    visitor.get_by_label("Email").fill("lucia@bakery.coop")
    visitor.get_by_label("Password").fill(PASSWORD)
    visitor.get_by_role("button", name="Accept and create account").click()

    expect(visitor).to_have_url(re.compile(rf"/c/{lounge.slug}/{lounge.id}$"))
    expect(visitor.get_by_role("heading", level=1)).to_have_text("Members' lounge")
    expect(visitor.locator("header.site-header a.me")).to_have_text("lucia_bakery")

    # The link was single-use.
    other = new_page()
    response = other.goto(link)
    assert response is not None and response.status == 410
    expect(other.get_by_role("alert")).to_have_text("This invitation has already been used.")

    admin.goto("/admin/invitations/tree")
    expect(admin.locator(".invite-tree")).to_contain_text("lucia_bakery")
