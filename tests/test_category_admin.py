"""Category settings: the level summary, rename/recolour/nest/reorder/delete, "view as", and a move of a
topic to a members-only category taking effect in every place content appears."""

import re

import pytest
from sqlalchemy import select

from forum.models import Category, ModerationLog, Topic
from tests.conftest import login, post_form


@pytest.fixture
def admin(make_client, staff):
    c = make_client()
    login(c, staff.username)
    return c


def settings_form(category, **changes):
    data = {"name": category.name, "description": category.description, "color": category.color,
            "parent_id": str(category.parent_id or ""), "new_participant_post_interval": "0"}
    data.update(changes)
    return data


def summary_of(html):
    found = re.search(r'<section aria-labelledby="summary-heading" class="level-summary">(.*?)</section>', html, re.S)
    assert found
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", found.group(1)))


@pytest.mark.parametrize("levels,expected", [
    ({"everyone": "none", "participant": "see", "worker": "create", "member": "create"},
     "Participants can read but not reply. Workers can start topics. Members can start topics."),
    ({"everyone": "see", "participant": "reply", "worker": "reply", "member": "create"},
     "Participants can read and reply but not start topics. Workers can read and reply but not start topics. "
     "Members can start topics."),
    ({"everyone": "none", "participant": "none", "worker": "none", "member": "see"},
     "Participants cannot see it. Workers cannot see it. Members can read but not reply."),
])
def test_the_levels_are_summarised_in_plain_words(admin, make_category, levels, expected):
    category = make_category("Co-op finances")
    r = post_form(admin, f"/admin/categories/{category.id}", {f"level_{a}": v for a, v in levels.items()},
                  csrf_from="/admin")
    assert r.status_code == 200
    assert expected in summary_of(r.text)
    visitors = "can read it" if levels["everyone"] != "none" else "cannot see it"
    assert f"Visitors who are not signed in {visitors}" in summary_of(r.text)


def test_presets_fill_the_matrix_and_the_page_marks_the_one_in_force(admin, make_category):
    category = make_category("Co-op finances")
    r = post_form(admin, f"/admin/categories/{category.id}", {"preset": "members_and_workers"}, csrf_from="/admin")
    assert "Participants cannot see it. Workers can start topics. Members can start topics." in summary_of(r.text)
    assert re.search(r'value="members_and_workers"><button type="submit" aria-current="true"', r.text)
    assert re.search(r'aria-label="Worker: Start topics" checked', r.text)


def test_rename_describe_and_recolour_change_the_slug_and_are_logged(admin, make_category, client, db):
    category = make_category("Co-op finances")
    r = post_form(admin, f"/admin/categories/{category.id}/settings",
                  settings_form(category, name="Money matters", description="Budgets and dues", color="#a1b"),
                  csrf_from="/admin")
    assert r.status_code == 200 and "Category settings saved." in r.text
    with db.read() as s:
        saved = s.get(Category, category.id)
        assert (saved.name, saved.slug, saved.color, saved.description) == (
            "Money matters", "money-matters", "AA11BB", "Budgets and dues")
        entry = s.scalar(select(ModerationLog).where(ModerationLog.action == "update_category"))
        assert "Co-op finances" in entry.details and "Money matters" in entry.details
    assert client.get(f"/c/money-matters/{category.id}").status_code == 200
    assert client.get(f"/c/co-op-finances/{category.id}", follow_redirects=False).status_code == 301


def test_bad_settings_are_refused_inline_with_the_typed_values_kept(admin, make_category, db):
    make_category("Events")
    category = make_category("Co-op finances")
    r = post_form(admin, f"/admin/categories/{category.id}/settings",
                  settings_form(category, name="events", color="purple", description="Typed text stays"),
                  csrf_from="/admin")
    assert r.status_code == 422
    assert "A category with that name already exists." in r.text and "hex codes" in r.text
    assert "Typed text stays" in r.text
    with db.read() as s:
        assert s.get(Category, category.id).name == "Co-op finances"


def test_subcategories_nest_one_level_under_a_top_level_category(admin, make_category, db):
    parent = make_category("Regions")
    child = make_category("Iberia")
    grandchild = make_category("Lisbon")
    r = post_form(admin, f"/admin/categories/{child.id}/settings", settings_form(child, parent_id=str(parent.id)),
                  csrf_from="/admin")
    assert r.status_code == 200
    r = post_form(admin, f"/admin/categories/{grandchild.id}/settings",
                  settings_form(grandchild, parent_id=str(child.id)), csrf_from="/admin")
    assert r.status_code == 422 and "nest one level deep" in r.text
    r = post_form(admin, f"/admin/categories/{parent.id}/settings", settings_form(parent, parent_id=str(grandchild.id)),
                  csrf_from="/admin")
    assert r.status_code == 422 and "has subcategories" in r.text
    with db.read() as s:
        assert s.get(Category, child.id).parent_id == parent.id
        assert s.get(Category, grandchild.id).parent_id is None


def test_reordering_moves_a_category_among_its_siblings(admin, make_category, client):
    for name in ("Alpha news", "Beta news", "Gamma news"):
        make_category(name)
    with client.app.state.db.read() as s:
        gamma = s.scalar(select(Category).where(Category.name == "Gamma news"))
    for _ in range(2):
        assert post_form(admin, f"/admin/categories/{gamma.id}/move", {"direction": "up"},
                         csrf_from="/admin").status_code == 303
    page = client.get("/categories").text
    assert page.index("Gamma news") < page.index("Alpha news") < page.index("Beta news")
    post_form(admin, f"/admin/categories/{gamma.id}/move", {"direction": "up"}, csrf_from="/admin")  # already first
    page = client.get("/categories").text
    assert page.index("Gamma news") < page.index("Alpha news")


def test_a_category_is_deleted_only_when_empty_or_after_moving_its_topics(admin, make_category, make_topic,
                                                                         make_user, client, db):
    ana = make_user("ana", tier="member")
    old = make_category("Old news")
    archive = make_category("Archive")
    topic = make_topic(ana, old, title="A topic from the old days", raw="Harvest festival memories.")
    r = post_form(admin, f"/admin/categories/{old.id}/delete", {}, csrf_from="/admin")
    assert r.status_code == 422 and "still has 1 topics" in r.text
    with db.read() as s:
        assert s.get(Category, old.id) is not None
    r = post_form(admin, f"/admin/categories/{old.id}/delete", {"move_to": str(archive.id)}, csrf_from="/admin")
    assert r.status_code == 303
    with db.read() as s:
        assert s.get(Category, old.id) is None
        assert s.get(Topic, topic.id).category_id == archive.id
        assert s.get(Category, archive.id).topic_count == 1
    assert client.get(f"/t/{topic.slug}/{topic.id}").status_code == 200
    assert "A topic from the old days" in client.get("/search", params={"q": "harvest"}).text
    empty = make_category("Empty corner")
    assert post_form(admin, f"/admin/categories/{empty.id}/delete", {}, csrf_from="/admin").status_code == 303


def test_a_category_with_subcategories_cannot_be_deleted(admin, make_category, db):
    parent = make_category("Regions")
    make_category("Iberia", parent_id=parent.id)
    r = post_form(admin, f"/admin/categories/{parent.id}/delete", {}, csrf_from="/admin")
    assert r.status_code == 422 and "subcategories first" in r.text


def test_view_as_shows_staff_what_each_tier_sees(admin, make_category, make_topic, make_user):
    ana = make_user("ana", tier="member")
    make_category("Open chat")
    lounge = make_category("Members' lounge", "members_only")
    topic = make_topic(ana, lounge, title="Pension fund questions")

    as_participant = admin.get("/admin/preview/participant/categories").text
    assert "Open chat" in as_participant and "Members&#39; lounge" not in as_participant
    assert "Preview: you see this page as a participant sees it." in as_participant
    as_member = admin.get("/admin/preview/member/categories").text
    assert "Members&#39; lounge" in as_member
    hidden = admin.get(f"/admin/preview/participant/t/{topic.id}")
    assert hidden.status_code == 200 and "Page not found" in hidden.text and "hidden from this audience" in hidden.text
    shown = admin.get(f"/admin/preview/member/t/{topic.id}").text
    assert "Pension fund questions" in shown and "Moderate topic" not in shown  # seen without staff tools
    assert "Pension fund questions" not in admin.get("/admin/preview/anonymous/latest").text
    assert admin.get("/admin/preview/overlord/categories").status_code == 404


def test_a_topic_moved_to_a_members_only_category_disappears_for_participants_everywhere(
        make_client, make_user, make_category, make_topic, make_reply, staff, db):
    ana = make_user("ana", tier="member")
    make_user("pia", tier="participant")
    news = make_category("News")
    lounge = make_category("Members' lounge", "members_only")
    topic = make_topic(ana, news, title="Quarterly surplus allocation", raw="We discuss the zanzibarian surplus.")
    make_reply(ana, topic, raw="@pia what does your co-op think of the zanzibarian plan?")
    make_topic(ana, news, title="An unrelated public topic")
    pia = make_client()
    login(pia, "pia")
    anon = make_client()
    title = "Quarterly surplus allocation"

    places = {
        "topic page": lambda: pia.get(f"/t/{topic.slug}/{topic.id}"),
        "latest": lambda: pia.get("/latest"),
        "category page": lambda: pia.get(f"/c/{news.slug}/{news.id}"),
        "author's profile": lambda: pia.get("/u/ana"),
        "search page": lambda: pia.get("/search", params={"q": "zanzibarian"}),
        "search json": lambda: pia.get("/search.json", params={"q": "zanzibarian"}),
        "notifications": lambda: pia.get("/notifications.json"),
        "notifications page": lambda: pia.get("/u/pia/notifications"),
        "latest json": lambda: pia.get("/latest.json"),
        "topic json": lambda: pia.get(f"/t/{topic.id}.json"),
        "latest posts json": lambda: pia.get("/posts.json"),
        "latest feed": lambda: anon.get("/latest.rss"),
        "category feed": lambda: anon.get(f"/c/{news.slug}/{news.id}.rss"),
        "posts feed": lambda: anon.get("/posts.rss"),
        "activity feed": lambda: anon.get("/u/ana/activity.rss"),
        # A visitor's pages come from the anonymous page cache once seen: they must not linger.
        "visitor's topic page": lambda: anon.get(f"/t/{topic.slug}/{topic.id}"),
        "visitor's latest": lambda: anon.get("/latest"),
        "visitor's category page": lambda: anon.get(f"/c/{news.slug}/{news.id}"),
    }

    def shows(name):
        r = places[name]()
        return r.status_code == 200 and title in r.text

    assert {name for name in places if not shows(name)} == set()
    assert "age" in anon.get("/latest").headers  # served from the cache before the move
    counts_before = pia.get("/u/ana.json").json()["user"]

    admin = make_client()
    login(admin, staff.username)
    r = post_form(admin, f"/admin/topics/{topic.id}/category", {"category_id": str(lounge.id)}, csrf_from="/admin")
    assert r.status_code == 303

    assert {name for name in places if shows(name)} == set()
    assert pia.get(f"/t/{topic.slug}/{topic.id}").status_code == 404
    assert pia.get(f"/t/{topic.id}.json").status_code == 404
    counts_after = pia.get("/u/ana.json").json()["user"]
    assert counts_after["topic_count"] == counts_before["topic_count"] - 1
    categories = {c["name"]: c for c in pia.get("/categories.json").json()["category_list"]["categories"]}
    assert "Members' lounge" not in categories and categories["News"]["topic_count"] == 1
    member = make_client()
    login(member, "ana")
    assert member.get(f"/t/{topic.slug}/{topic.id}").status_code == 200
