"""Journey: tag a report. A member starts a topic with tags and finds it again from the tag's page."""

from __future__ import annotations

import re

import pytest

from forum import tags as forum_tags
from forum.permissions import Viewer
from tests.browser.conftest import log_in, require_playwright

require_playwright()
from playwright.sync_api import expect  # noqa: E402

pytestmark = pytest.mark.browser


def test_tag_a_report_and_find_it_from_the_tag(page, db, staff, make_user, make_category):
    with db.write() as session:
        for name in ("italy", "social-coops"):
            forum_tags.create_tag(session, Viewer(staff), name)
    make_category("International reports")
    make_user("giulia", tier="member")

    log_in(page, "giulia")
    page.get_by_role("link", name="New topic").first.click()
    page.get_by_label("Category").select_option(label="International reports")
    page.get_by_label("Title").fill("Report from the Emilia-Romagna co-ops")
    page.get_by_label("Body (Markdown)").fill("Social co-operatives grew again this year.")
    page.get_by_label("Tags").fill("italy, social-coops")
    page.get_by_role("button", name="Create topic").click()

    expect(page).to_have_url(re.compile(r"/t/report-from-the-emilia-romagna-co-ops/\d+$"))
    tags = page.locator(".topic-head .topic-tags a[rel=tag]")
    expect(tags).to_have_text(["italy", "social-coops"])

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Tags").click()
    expect(page).to_have_url(re.compile(r"/tags$"))
    page.get_by_role("link", name="italy", exact=True).click()
    expect(page).to_have_url(re.compile(r"/tag/italy$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Topics tagged italy")
    row = page.locator("table.topic-list tbody tr").filter(has_text="Report from the Emilia-Romagna co-ops")
    expect(row).to_have_count(1)
    row.get_by_role("link", name="Report from the Emilia-Romagna co-ops").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Report from the Emilia-Romagna co-ops")
