"""Discourse's staff API routes run the same moderation services (and log) as the pages."""

from datetime import timedelta

from sqlalchemy import select

from forum.models import Invitation, ModerationLog, Post, Topic, User, UserSession, utcnow
from tests.conftest import csrf_of, login


def json_client(make_client, username):
    c = make_client()
    login(c, username)
    c.headers.update({"X-CSRF-Token": csrf_of(c), "Accept": "application/json"})
    return c


def actions(db):
    with db.read() as s:
        return [e.action for e in s.scalars(select(ModerationLog).order_by(ModerationLog.id))]


def test_suspend_and_silence_through_the_api(make_client, make_user, db):
    bob = make_user("bob")
    make_user("moe", moderator=True)
    victim_session = make_client()
    login(victim_session, "bob")
    moe = json_client(make_client, "moe")
    r = moe.put(f"/admin/users/{bob.id}/suspend.json", data={"suspend_until": "2099-01-01T00:00:00Z",
                                                             "reason": "Spam run"})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/json; charset=utf-8"
    assert r.json()["suspension"]["suspended_till"].startswith("2099-01-01")
    with db.read() as s:
        assert s.scalar(select(UserSession).where(UserSession.user_id == bob.id)) is None
    assert moe.put(f"/admin/users/{bob.id}/unsuspend.json").status_code == 200
    r = moe.put(f"/admin/users/{bob.id}/silence.json", data={"silenced_till": "2099-01-01", "reason": "Calm"})
    assert r.status_code == 200 and r.json()["silence"]["silenced"] is True
    bad = moe.put(f"/admin/users/{bob.id}/silence.json", data={"silenced_till": "soon", "reason": "Calm"})
    assert bad.status_code == 422 and bad.json()["errors"]
    assert actions(db)[-3:] == ["suspend_user", "unsuspend_user", "silence_user"]


def test_staff_roles_through_the_api_are_for_admins_only(make_client, make_user, staff, db):
    bob = make_user("bob")
    make_user("moe", moderator=True)
    moe = json_client(make_client, "moe")
    assert moe.put(f"/admin/users/{bob.id}/grant_moderation.json").status_code == 404
    admin = json_client(make_client, staff.username)
    r = admin.put(f"/admin/users/{bob.id}/grant_moderation.json")
    assert r.status_code == 200 and r.json()["admin_user"]["moderator"] is True
    assert admin.put(f"/admin/users/{bob.id}/revoke_moderation.json").json()["admin_user"]["moderator"] is False
    assert admin.put(f"/admin/users/{bob.id}/make_king.json").status_code == 404


def test_move_posts_merge_and_recover_through_the_api(make_client, make_user, make_category, make_topic,
                                                      make_reply, staff, db):
    ana = make_user("ana", tier="member")
    category = make_category("Assemblies")
    topic = make_topic(ana, category, title="Venue and catering")
    replies = [make_reply(ana, topic, raw=f"Reply number {n}") for n in (2, 3, 4)]
    admin = json_client(make_client, staff.username)
    r = admin.post(f"/t/{topic.id}/move-posts.json", data={"post_ids[]": [str(replies[1].id)],
                                                           "title": "Catering on its own",
                                                           "category_id": str(category.id)})
    assert r.status_code == 200, r.text
    assert r.json()["success"] == "OK" and r.json()["url"].startswith("/t/catering-on-its-own/")
    with db.read() as s:
        assert [p.post_number for p in s.scalars(select(Post).where(Post.topic_id == topic.id)
                                                 .order_by(Post.post_number))] == [1, 2, 3]
    other = make_topic(ana, category, title="The main thread")
    r = admin.post(f"/t/{topic.id}/merge-topic.json", data={"destination_topic_id": str(other.id)})
    assert r.status_code == 200 and r.json()["url"] == f"/t/the-main-thread/{other.id}"
    with db.read() as s:
        assert s.get(Topic, other.id).posts_count == 4
    admin.delete(f"/posts/{replies[0].id}.json")
    assert admin.put(f"/posts/{replies[0].id}/recover.json").status_code == 200
    with db.read() as s:
        assert s.get(Post, replies[0].id).deleted_at is None
    assert actions(db)[-4:] == ["move_posts", "merge_topic", "delete_post", "restore_post"]


def test_invites_through_the_api(make_client, make_user, staff, db):
    admin = json_client(make_client, staff.username)
    in_a_month = (utcnow() + timedelta(days=30)).date().isoformat()
    r = admin.post("/invites.json", data={"max_redemptions_allowed": "5", "tier": "worker",
                                          "expires_at": in_a_month})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["max_redemptions_allowed"] == 5 and body["link"].endswith("/invites/" + body["invite_key"])
    assert body["expired"] is False and body["expires_at"].startswith(in_a_month) and body["tier"] == "worker"
    assert admin.delete("/invites.json", params={"id": str(body["id"])}).status_code == 200
    with db.read() as s:
        assert s.get(Invitation, body["id"]).revoked_at is not None
    make_user("pia")
    pia = json_client(make_client, "pia")
    assert pia.post("/invites.json", data={"tier": "participant"}).status_code == 404


def test_non_staff_get_404_from_every_staff_api_route(make_client, make_user, make_category, make_topic,
                                                      make_reply, db):
    ana = make_user("ana", tier="member")
    bob = make_user("bob")
    topic = make_topic(ana, make_category("Assemblies"))
    reply = make_reply(ana, topic)
    c = json_client(make_client, "ana")
    calls = [
        ("put", f"/admin/users/{bob.id}/suspend.json", {"suspend_until": "2099-01-01", "reason": "x"}),
        ("put", f"/admin/users/{bob.id}/silence.json", {"silenced_till": "2099-01-01", "reason": "x"}),
        ("put", f"/admin/users/{bob.id}/unsuspend.json", {}),
        ("put", f"/admin/users/{bob.id}/grant_admin.json", {}),
        ("post", f"/t/{topic.id}/move-posts.json", {"post_ids[]": str(reply.id), "title": "Split it here"}),
        ("post", f"/t/{topic.id}/merge-topic.json", {"destination_topic_id": str(topic.id)}),
        ("put", f"/posts/{reply.id}/recover.json", {}),
        ("put", f"/t/{topic.id}/status.json", {"status": "closed", "enabled": "true"}),
    ]
    for method, path, data in calls:
        r = getattr(c, method)(path, data=data)
        assert r.status_code == 404, (path, r.text)
        assert r.json()["error_type"] == "not_found"
    with db.read() as s:
        assert s.get(User, bob.id).suspended_until is None
        assert not s.get(Topic, topic.id).closed
