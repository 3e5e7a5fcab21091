"""Who sees what: the permission matrix, asked of every place content can appear."""

import re

import pytest

from forum import permissions
from forum.models import CREATE, NONE, REPLY, SEE
from forum.permissions import ANONYMOUS, Viewer
from tests.conftest import SEES, VIEWERS, login, post_form


def browser_for(make_client, people, who):
    c = make_client()
    if who != "anonymous":
        login(c, people[who].username)
    return c


@pytest.mark.parametrize("preset", list(SEES))
@pytest.mark.parametrize("who", VIEWERS)
def test_category_and_its_topic_are_visible_only_to_allowed_tiers(
        preset, who, people, make_client, make_category, make_topic, staff):
    category = make_category("Secret garden", preset)
    topic = make_topic(staff, category, title="Seeds for the spring exchange", raw="We swap seeds in March.")
    c = browser_for(make_client, people, who)
    allowed = who in SEES[preset]

    assert c.get(f"/t/{topic.slug}/{topic.id}").status_code == (200 if allowed else 404)
    assert c.get(f"/t/{topic.slug}/{topic.id}/1").status_code == (200 if allowed else 404)
    assert c.get(f"/c/{category.slug}/{category.id}").status_code == (200 if allowed else 404)
    assert ("Seeds for the spring exchange" in c.get("/latest").text) == allowed
    assert ("Secret garden" in c.get("/categories").text) == allowed
    profile = c.get(f"/u/{staff.username}")
    assert profile.status_code == 200
    assert ("Seeds for the spring exchange" in profile.text) == allowed
    assert ("We swap seeds" in profile.text) == allowed


def test_hidden_topic_answers_exactly_like_a_missing_one(client, make_category, make_topic, staff):
    category = make_category("Members' lounge", "members_only")
    topic = make_topic(staff, category)
    hidden = client.get(f"/t/{topic.slug}/{topic.id}")
    missing = client.get(f"/t/{topic.slug}/{topic.id + 1000}")
    assert hidden.status_code == missing.status_code == 404

    def scrub(html, topic_id):
        html = re.sub(r'(content|value)="[0-9a-f]{64}"', "", html)
        return html.replace(f"/{topic_id}", "/ID")

    assert scrub(hidden.text, topic.id) == scrub(missing.text, topic.id + 1000)


def test_profile_counts_do_not_reveal_hidden_posts(client, make_category, make_topic, make_reply, make_user):
    mei = make_user("mei", tier="member")
    public = make_category("News and events")
    lounge = make_category("Members' lounge", "members_only")
    make_topic(mei, public)
    hidden_topic = make_topic(mei, lounge, title="Our internal budget talk")
    make_reply(mei, hidden_topic)
    page = client.get("/u/mei")
    assert "Our internal budget talk" not in page.text
    assert "<dt>Topics</dt><dd>1</dd>" in page.text
    assert "<dt>Posts</dt><dd>1</dd>" in page.text


def test_subcategory_is_hidden_where_its_parent_is(client, make_category, make_topic, staff):
    parent = make_category("Board reports", "members_and_workers")
    child = make_category("Board minutes", "public", parent_id=parent.id)
    topic = make_topic(staff, child, title="Minutes of the October board")
    assert client.get(f"/c/{child.slug}/{child.id}").status_code == 404
    assert client.get(f"/t/{topic.slug}/{topic.id}").status_code == 404
    assert "Minutes of the October board" not in client.get("/latest").text


@pytest.mark.parametrize("level, can_reply, can_create", [
    (SEE, False, False), (REPLY, True, False), (CREATE, True, True)])
def test_levels_decide_reply_and_create(client, make_user, make_category, make_topic, staff, db,
                                        level, can_reply, can_create):
    pia = make_user("pia", tier="participant")
    category = make_category("Introductions", levels={"everyone": NONE, "participant": level,
                                                      "worker": CREATE, "member": CREATE})
    topic = make_topic(staff, category)
    login(client, "pia")
    page = client.get(f"/t/{topic.slug}/{topic.id}")
    assert (f'action="/t/{topic.id}/reply"' in page.text) == can_reply
    r = post_form(client, f"/t/{topic.id}/reply", {"raw": "Hello from a participant co-op."})
    assert r.status_code == (303 if can_reply else 403)
    r = post_form(client, "/new-topic", {"title": "My new topic here", "raw": "Some body text.",
                                         "category": category.id})
    assert r.status_code == (303 if can_create else 403)
    with db.read() as session:
        assert permissions.can_create_topic(session, Viewer(pia), category) == can_create


def test_highest_of_everyone_and_tier_level_applies(db, make_user, make_category):
    pia = make_user("pia", tier="participant")
    category = make_category("Open call", levels={"everyone": REPLY, "participant": SEE,
                                                  "worker": NONE, "member": NONE})
    with db.read() as session:
        assert permissions.category_levels(session, Viewer(pia))[category.id] == REPLY
        assert permissions.category_levels(session, ANONYMOUS)[category.id] == REPLY


def test_anonymous_visitors_never_write(client, make_category, make_topic, staff):
    category = make_category("News and events")
    topic = make_topic(staff, category)
    r = post_form(client, f"/t/{topic.id}/reply", {"raw": "drive-by reply text"})
    assert r.status_code == 403
    assert client.get("/new-topic", follow_redirects=False).status_code == 403


def test_non_staff_get_404_on_admin_pages(make_client, make_user, people):
    for who in ("anonymous", "participant", "member"):
        c = browser_for(make_client, people, who)
        assert c.get("/admin").status_code == 404
        assert c.get("/admin/users").status_code == 404
        r = c.post("/admin/users/1/tier", data={"tier": "member", "csrf_token": "x"})
        assert r.status_code in (403, 404)


def test_tier_change_takes_effect_on_next_request(make_client, make_user, make_category, make_topic,
                                                  staff, people):
    lounge = make_category("Members' lounge", "members_only")
    topic = make_topic(staff, lounge, title="Lounge chat about pensions")
    member = browser_for(make_client, people, "member")
    assert member.get(f"/t/{topic.slug}/{topic.id}").status_code == 200
    admin = make_client()
    login(admin, staff.username)
    r = post_form(admin, f"/admin/users/{people['member'].id}/tier", {"tier": "participant"},
                  csrf_from="/admin/users")
    assert r.status_code == 303
    assert member.get(f"/t/{topic.slug}/{topic.id}").status_code == 404
    assert "Lounge chat about pensions" not in member.get("/latest").text


def test_staff_set_levels_in_the_admin_page(make_client, make_category, make_topic, staff, people):
    category = make_category("News and events")
    topic = make_topic(staff, category, title="Assembly venue announced")
    pia = browser_for(make_client, people, "participant")
    assert "Assembly venue announced" in pia.get("/latest").text
    admin = make_client()
    login(admin, staff.username)
    form = {f"level_{a}": lvl for a, lvl in
            {"everyone": "none", "participant": "none", "worker": "see", "member": "create"}.items()}
    r = post_form(admin, f"/admin/categories/{category.id}", form, csrf_from="/admin")
    assert r.status_code == 200 and "Viewing levels saved" in r.text
    assert pia.get(f"/t/{topic.slug}/{topic.id}").status_code == 404
    assert "Assembly venue announced" not in pia.get("/latest").text
    wes = browser_for(make_client, people, "worker")
    page = wes.get(f"/t/{topic.slug}/{topic.id}")
    assert page.status_code == 200 and f'action="/t/{topic.id}/reply"' not in page.text


def test_moderator_sees_deleted_content_others_see_placeholder(make_client, make_category, make_topic,
                                                               make_reply, people, db, staff):
    category = make_category("News and events")
    topic = make_topic(staff, category)
    reply = make_reply(people["member"], topic, raw="A regrettable remark about budgets.")
    member = browser_for(make_client, people, "member")
    r = post_form(member, f"/posts/{reply.id}/delete", {})
    assert r.status_code == 303
    anon = make_client()
    page = anon.get(f"/t/{topic.slug}/{topic.id}")
    assert "regrettable remark" not in page.text and "(post deleted)" in page.text
    mod = browser_for(make_client, people, "moderator")
    assert "regrettable remark" in mod.get(f"/t/{topic.slug}/{topic.id}").text
