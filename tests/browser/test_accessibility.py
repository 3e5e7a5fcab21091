"""axe-core over every page type, as a visitor, a member and an admin, in the light and the dark theme
and on a phone: no critical or serious violation (WCAG 2.1 AA rules, colour contrast included)."""

from __future__ import annotations

import pytest
from argon2 import PasswordHasher
from sqlalchemy import select

from forum import auth
from forum.demo import load_demo
from forum.models import Category, Topic
from tests.browser.conftest import ACTION_TIMEOUT_MS, log_in, require_playwright
from tests.conftest import PASSWORD

require_playwright()
from axe_playwright_python.sync_playwright import Axe  # noqa: E402

pytestmark = pytest.mark.browser


@pytest.fixture
def demo(db, settings, monkeypatch):
    monkeypatch.setattr(auth, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
    load_demo(db, settings, PASSWORD)
    with db.read() as session:
        topics = {t.title: f"/t/{t.slug}/{t.id}" for t in session.scalars(select(Topic))}
        category = session.scalars(select(Category).where(Category.name == "News and events")).one()
        return {"topics": topics, "category": f"/c/{category.slug}/{category.id}", "category_id": category.id}


def _pages(demo) -> dict[str | None, list[str]]:
    topics = demo["topics"]
    def find(word: str) -> str:
        return next(path for title, path in topics.items() if word in title)

    public = ["/latest", "/categories", demo["category"], "/search?q=co-operative", "/login", "/signup", "/events",
              "/u/marta.ferreira", find("Welcome"), find("Webinar")]
    # A proposal, an event with answers and a poll, in categories for members.
    member = [*public, find("Proposal: the five themes"), find("Online meet-up"), find("proposals for event themes"),
              "/new-topic", "/my/preferences", "/my/email", "/u/marta.ferreira/notifications", "/unread",
              "/my/invitations", "/my/preferences/feeds"]
    admin = ["/admin", "/admin/users", "/admin/settings", f"/admin/categories/{demo['category_id']}", "/admin/review",
             "/admin/log", "/admin/invitations", "/admin/api-keys"]
    return {None: public, "marta.ferreira": member, "niko.h": admin}


def _serious(axe: Axe, page) -> list[str]:
    result = axe.run(page)
    return [f"{v['id']} ({v['impact']}): {[n['target'] for n in v['nodes']][:3]} {v['help']}"
            for v in result.response["violations"] if v["impact"] in ("critical", "serious")]


@pytest.mark.parametrize("scheme,width", [("light", 1280), ("dark", 1280), ("light", 360)])
def test_no_serious_accessibility_violation(chromium, live_server, demo, scheme, width):
    axe = Axe()
    problems: dict[str, list[str]] = {}
    for who, paths in _pages(demo).items():
        context = chromium.new_context(base_url=live_server, color_scheme=scheme, locale="en-GB", timezone_id="UTC",
                                       viewport={"width": width, "height": 800})
        context.set_default_timeout(ACTION_TIMEOUT_MS)
        try:
            page = context.new_page()
            if who:
                log_in(page, who)
            for path in paths:
                response = page.goto(path)
                assert response is not None and response.status == 200, (who, path)
                if found := _serious(axe, page):
                    problems[f"{who or 'visitor'} {path}"] = found
        finally:
            context.close()
    assert not problems, "\n".join(f"{k}: {v}" for k, v in problems.items())
