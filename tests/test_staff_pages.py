"""Every staff page and action answers 404 to everyone who is not staff, exactly like a missing page;
admin-only ones answer 404 to moderators too."""

import pytest
from sqlalchemy import select

from forum import flags, invitations
from forum.models import ModerationLog, Post, Topic
from forum.permissions import Viewer
from tests.conftest import csrf_of, login


@pytest.fixture
def world(make_user, make_category, make_topic, make_reply, db, staff, settings):
    ana = make_user("ana", tier="member")
    make_user("pia", tier="participant")
    make_user("moe", tier="participant", moderator=True)
    category = make_category("Assemblies")
    topic = make_topic(ana, category)
    reply = make_reply(ana, topic)
    with db.write() as s:
        flags.flag_post(s, Viewer(staff), post_id=reply.id, flag_type=8)
    with db.write() as s:
        invitation = invitations.create_invitation(s, settings, Viewer(staff), tier="member")
        invitation_id = invitation.id
    return {"user": ana.id, "category": category.id, "topic": topic.id, "post": reply.id,
            "invitation": invitation_id}


STAFF_GETS = [
    "/admin", "/admin/users", "/admin/users/{user}", "/admin/categories/{category}", "/admin/topics/{topic}",
    "/admin/posts/{post}", "/admin/review", "/admin/log", "/admin/invitations", "/admin/invitations/tree",
    "/admin/preview/member/categories", "/admin/preview/member/latest", "/admin/preview/member/c/{category}",
    "/admin/preview/member/t/{topic}",
]
STAFF_POSTS = [
    ("/admin/categories", {"name": "Sneaky", "preset": "public"}),
    ("/admin/categories/{category}", {"preset": "staff_only"}),
    ("/admin/categories/{category}/settings", {"name": "Renamed"}),
    ("/admin/categories/{category}/move", {"direction": "up"}),
    ("/admin/categories/{category}/delete", {}),
    ("/admin/topics/{topic}/status", {"change": "closed:1"}),
    ("/admin/topics/{topic}/category", {"category_id": "{category}"}),
    ("/admin/topics/{topic}/slow-mode", {"seconds": "60"}),
    ("/admin/topics/{topic}/delete", {}),
    ("/admin/topics/{topic}/restore", {}),
    ("/admin/topics/{topic}/merge", {"destination_topic_id": "{topic}"}),
    ("/admin/topics/{topic}/move-posts", {"post_ids": "{post}", "title": "Split off"}),
    ("/admin/posts/{post}/hide", {}),
    ("/admin/posts/{post}/unhide", {}),
    ("/admin/posts/{post}/delete", {}),
    ("/admin/posts/{post}/restore", {}),
    ("/admin/review/{post}", {"decision": "agree"}),
    ("/admin/users/{user}/tier", {"tier": "worker"}),
    ("/admin/users/{user}/suspend", {"until": "2099-01-01", "reason": "x"}),
    ("/admin/users/{user}/unsuspend", {}),
    ("/admin/users/{user}/silence", {"until": "2099-01-01", "reason": "x"}),
    ("/admin/users/{user}/unsilence", {}),
    ("/admin/users/{user}/approve", {}),
    ("/admin/users/{user}/reject", {}),
    ("/admin/users/{user}/role", {"role": "admin", "enabled": "1"}),
    ("/admin/invitations", {"tier": "member"}),
    ("/admin/invitations/{invitation}/revoke", {}),
    ("/admin/settings", {"signup_mode": "open"}),
]
ADMIN_ONLY_GETS = ["/admin/settings"]
ADMIN_ONLY_POSTS = [("/admin/settings", {"signup_mode": "invite_only"}),
                    ("/admin/users/{user}/role", {"role": "moderator", "enabled": "1"})]


def as_who(make_client, who):
    c = make_client()
    if who != "anonymous":
        login(c, who)
    return c


@pytest.mark.parametrize("who", ["anonymous", "pia", "ana"])
def test_non_staff_get_404_on_every_staff_page_and_action(make_client, world, who, db):
    c = as_who(make_client, who)
    token = csrf_of(c)
    for path in STAFF_GETS:
        r = c.get(path.format(**world))
        assert r.status_code == 404, path
        assert "Page not found" in r.text
    for path, data in STAFF_POSTS:
        filled = {k: v.format(**world) for k, v in data.items()}
        r = c.post(path.format(**world), data={**filled, "csrf_token": token}, follow_redirects=False)
        assert r.status_code == 404, path
    api = c.put(f"/t/{world['topic']}/status.json", data={"status": "closed", "enabled": "true"},
                headers={"X-CSRF-Token": token})
    assert api.status_code in (403, 404) if who == "anonymous" else api.status_code == 404
    with db.read() as s:
        topic = s.get(Topic, world["topic"])
        assert not topic.closed and topic.deleted_at is None
        assert s.get(Post, world["post"]).hidden is False
        assert s.scalar(select(ModerationLog).where(
            ModerationLog.action.not_in(["create_category", "create_invitation"]))) is None


def test_moderators_get_404_on_admin_only_pages(make_client, world, db):
    c = as_who(make_client, "moe")
    token = csrf_of(c)
    for path in ADMIN_ONLY_GETS:
        assert c.get(path).status_code == 404, path
    for path, data in ADMIN_ONLY_POSTS:
        r = c.post(path.format(**world), data={**data, "csrf_token": token}, follow_redirects=False)
        assert r.status_code == 404, path
    assert c.get("/admin/review").status_code == 200
    assert "/admin/settings" not in c.get("/admin").text
    with db.read() as s:
        assert s.scalar(select(ModerationLog).where(
            ModerationLog.action.not_in(["create_category", "create_invitation"]))) is None


def test_staff_forms_need_the_csrf_token(make_client, world, staff, db):
    c = as_who(make_client, staff.username)
    r = c.post(f"/admin/topics/{world['topic']}/status", data={"change": "closed:1", "csrf_token": "forged"})
    assert r.status_code == 403
    with db.read() as s:
        assert not s.get(Topic, world["topic"]).closed
