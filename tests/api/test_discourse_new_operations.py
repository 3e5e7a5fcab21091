"""The Discourse operations clients use daily: topic watching, the users directory, tiers as groups,
the admin user API, password reset, a user's summary and a post's replies. Each answers in
Discourse's shape and only with what the asker may see."""

import pytest
from sqlalchemy import func, select

from forum import emails
from forum.models import EmailToken, ModerationLog, Post, Topic, User, UserSession
from tests.api.conftest import JSON, errors_of
from tests.conftest import PASSWORD, login, post_form


@pytest.fixture
def forum(make_user, make_category, make_topic, make_reply, staff):
    ana = make_user("ana", tier="member", name="Ana Lima")
    bob = make_user("bob", tier="participant")
    cyd = make_user("cyd", tier="worker")
    news = make_category("News and events")
    lounge = make_category("Members' lounge", "members_only")
    topic = make_topic(ana, news, title="General assembly in Lisbon", raw="Where shall we meet in Lisbon?")
    make_reply(bob, topic, raw="At the co-op hall near the river.", reply_to=1)
    make_reply(cyd, topic, raw="Or in the park, if it is sunny.", reply_to=1)
    secret = make_topic(ana, lounge, title="Pension fund talks", raw="The pension numbers, members only.")
    return {"ana": ana, "bob": bob, "cyd": cyd, "news": news, "lounge": lounge, "topic": topic, "secret": secret}


def _like(client, as_user, who, post_id):
    r = client.post("/post_actions.json", headers=as_user(who), data={"id": post_id, "post_action_type_id": 2})
    assert r.status_code == 200, r.text


def _post_id(db, topic, number) -> int:
    with db.read() as s:
        return s.scalar(select(Post.id).where(Post.topic_id == topic.id, Post.post_number == number))


# --- topic watching ---------------------------------------------------------------------------

def test_watch_a_topic(client, forum, as_user, make_user):
    t = forum["topic"]
    bob = as_user(make_user("dee"))
    assert client.get(f"/t/{t.id}.json", headers=bob).json()["details"]["notification_level"] == 1
    r = client.post(f"/t/{t.id}/notifications.json", headers=bob, json={"notification_level": "3"})
    assert r.status_code == 200 and r.json() == {"success": "OK"}
    assert client.get(f"/t/{t.id}.json", headers=bob).json()["details"]["notification_level"] == 3
    # pydiscourse-style form post without the suffix.
    r = client.post(f"/t/{t.id}/notifications", headers=bob, data={"notification_level": 0})
    assert r.status_code == 200
    assert client.get(f"/t/{t.id}.json", headers=bob).json()["details"]["notification_level"] == 0
    # A topic one may not see is missing; a level that does not exist is refused.
    secret = forum["secret"]
    assert client.post(f"/t/{secret.id}/notifications.json", headers=bob,
                       data={"notification_level": 3}).status_code == 404
    bad = client.post(f"/t/{t.id}/notifications.json", headers=bob, data={"notification_level": 7})
    assert bad.status_code == 422 and errors_of(bad)


# --- the directory ----------------------------------------------------------------------------

def test_directory_counts_only_what_the_viewer_sees(client, db, forum, as_user, make_user, make_reply, staff):
    _like(client, as_user, forum["bob"], _post_id(db, forum["topic"], 1))
    _like(client, as_user, forum["cyd"], _post_id(db, forum["topic"], 1))
    _like(client, as_user, staff, _post_id(db, forum["secret"], 1))  # a like in the members' lounge
    with db.write() as s:
        s.get(User, make_user("newbie").id).approved = False

    def items(headers, **params):
        r = client.get("/directory_items.json", headers=headers, params={"period": "all", **params})
        assert r.status_code == 200, r.text
        return r.json()

    bob = items(as_user(forum["bob"]), order="likes_received")
    by_name = {i["user"]["username"]: i for i in bob["directory_items"]}
    assert bob["directory_items"][0]["user"]["username"] == "ana"
    # Ana's like in the lounge, and her topic there, are not the participants' business.
    assert by_name["ana"]["likes_received"] == 2 and by_name["ana"]["topic_count"] == 1
    assert by_name["bob"]["likes_given"] == 1 and by_name["bob"]["post_count"] == 1
    assert by_name[staff.username]["likes_given"] == 0
    assert "newbie" not in by_name and bob["meta"]["total_rows_directory_items"] == 4
    assert bob["meta"]["load_more_directory_items"] == "/directory_items?order=likes_received&page=1&period=all"
    assert set(bob["directory_items"][0]) == {"id", "likes_received", "likes_given", "topics_entered",
                                               "topic_count", "post_count", "posts_read", "days_visited", "user"}
    assert set(bob["directory_items"][0]["user"]) == {"id", "username", "name", "avatar_template", "title"}

    member = {i["user"]["username"]: i for i in items(as_user(forum["ana"]))["directory_items"]}
    assert member["ana"]["likes_received"] == 3 and member["ana"]["topic_count"] == 2
    admin = items(as_user(staff))
    assert "newbie" in [i["user"]["username"] for i in admin["directory_items"]]

    by_topics = items(as_user(forum["bob"]), order="topic_count", asc="true")["directory_items"]
    assert by_topics[-1]["user"]["username"] == "ana"
    assert client.get("/directory_items.json", params={"period": "all", "order": "karma"}).status_code == 400
    assert client.get("/directory_items.json", params={"period": "fortnightly"}).status_code == 400
    assert client.get("/directory_items.json", params={"period": "weekly"}).json()["directory_items"]


# --- tiers as groups --------------------------------------------------------------------------

def test_tiers_read_as_groups(client, db, forum, as_user, make_user, staff):
    with db.write() as s:
        s.get(User, make_user("newbie").id).approved = False
    bob = as_user(forum["bob"])
    body = client.get("/groups.json", headers=bob).json()
    groups = {g["name"]: g for g in body["groups"]}
    assert list(groups) == ["members", "workers", "participants"]
    assert groups["members"]["user_count"] == 2 and groups["participants"]["user_count"] == 1
    assert groups["participants"]["is_group_user"] is True and groups["members"]["is_group_user"] is False
    assert groups["members"]["id"] == 10 and not groups["members"]["can_admin_group"]
    assert body["total_rows_groups"] == 3

    group = client.get("/groups/workers.json", headers=bob).json()
    assert group["group"]["name"] == "workers" and group["group"]["user_count"] == 1
    assert group["extras"]["visible_group_names"] == ["members", "workers", "participants"]
    assert client.get("/groups/staff.json", headers=bob).status_code == 404

    members = client.get("/groups/participants/members.json", headers=bob).json()
    assert [m["username"] for m in members["members"]] == ["bob"]
    assert members["meta"] == {"total": 1, "limit": 50, "offset": 0} and members["owners"] == []
    assert isinstance(members["members"][0]["last_seen_at"], str)
    staff_view = client.get("/groups/participants/members.json", headers=as_user(staff)).json()
    assert [m["username"] for m in staff_view["members"]] == ["bob", "newbie"]
    paged = client.get("/groups/members/members.json", params={"limit": 1, "offset": 1}).json()
    assert [m["username"] for m in paged["members"]] == [staff.username] and paged["meta"]["total"] == 2
    assert client.get("/groups/nobody/members.json").status_code == 404


# --- the admin user API -----------------------------------------------------------------------

def test_admin_user_lists_are_staff_only(client, db, forum, as_user, make_user, staff):
    pending = make_user("newbie")
    with db.write() as s:
        s.get(User, pending.id).approved = False
    admin = as_user(staff)
    everyone = client.get("/admin/users.json", headers=admin, params={"order": "username", "asc": "true"})
    assert [u["username"] for u in everyone.json()] == ["ana", "bob", "cyd", "newbie", staff.username]
    assert "email" not in everyone.json()[0]
    shown = client.get("/admin/users/list/all.json", headers=admin, params={"email": "bob@example.org",
                                                                            "show_emails": "true"}).json()
    assert [(u["username"], u["email"]) for u in shown] == [("bob", "bob@example.org")]
    assert [u["username"] for u in client.get("/admin/users/list/pending.json", headers=admin).json()] == ["newbie"]
    assert [u["username"] for u in client.get("/admin/users/list/staff.json", headers=admin).json()] == [
        staff.username]
    active = client.get("/admin/users/list/active.json", headers=admin).json()
    assert "newbie" not in [u["username"] for u in active] and all(u["active"] for u in active)
    assert client.get("/admin/users/list/suspect.json", headers=admin).json() == []
    assert client.get("/admin/users/list/wizards.json", headers=admin).status_code == 404

    detail = client.get(f"/admin/users/{forum['ana'].id}.json", headers=admin)
    assert detail.status_code == 200 and detail.headers["content-type"] == JSON
    ana = detail.json()
    assert ana["username"] == "ana" and ana["active"] is True and ana["topic_count"] == 2
    assert ana["can_deactivate"] is True and ana["can_be_deleted"] is False
    assert ana["groups"][0]["name"] == "members" and ana["primary_group_id"] == 10
    assert client.get("/admin/users/999999.json", headers=admin).status_code == 404

    # Members, and visitors, find nothing there.
    bob = as_user(forum["bob"])
    for path in ("/admin/users.json", "/admin/users/list/active.json", f"/admin/users/{forum['ana'].id}.json"):
        assert client.get(path, headers=bob).status_code == 404, path
        assert client.get(path).status_code == 404, path


def test_activate_deactivate_and_log_out(client, db, forum, as_user, make_user, make_client, staff):
    admin = as_user(staff)
    bob = forum["bob"]
    browser = make_client()
    login(browser, "bob")
    assert browser.get("/session/current.json").status_code == 200

    r = client.post(f"/admin/users/{bob.id}/log_out.json", headers=admin)
    assert r.status_code == 200 and r.json() == {"success": "OK"}
    assert browser.get("/session/current.json").status_code == 404

    login(browser, "bob")
    r = client.put(f"/admin/users/{bob.id}/deactivate.json", headers=admin)
    assert r.status_code == 200 and r.json() == {"success": "OK"}
    assert browser.get("/session/current.json").status_code == 404
    assert post_form(make_client(), "/login", {"login": "bob", "password": PASSWORD},
                     csrf_from="/login").status_code != 303
    assert client.get(f"/admin/users/{bob.id}.json", headers=admin).json()["can_activate"] is True
    assert client.put(f"/admin/users/{bob.id}/deactivate.json", headers=admin).status_code == 409

    r = client.put(f"/admin/users/{bob.id}/activate.json", headers=admin)
    assert r.status_code == 200 and r.json() == {"success": "OK"}
    login(make_client(), "bob")

    with db.read() as s:
        actions = list(s.scalars(select(ModerationLog.action).where(ModerationLog.target_user_id == bob.id)
                                 .order_by(ModerationLog.id)))
    assert actions == ["log_out_user", "deactivate_user", "approve_user"]

    # Members may not; a moderator may not act on an admin.
    assert client.post(f"/admin/users/{bob.id}/log_out.json", headers=as_user(forum["ana"])).status_code == 404
    assert client.put(f"/admin/users/{bob.id}/deactivate.json").status_code in (403, 404)
    moderator = as_user(make_user("modo", tier="member", moderator=True))
    assert client.put(f"/admin/users/{staff.id}/deactivate.json", headers=moderator).status_code == 403
    assert client.post(f"/admin/users/{staff.id}/log_out", headers=moderator).status_code == 403


def test_delete_an_account_that_never_posted(client, db, forum, as_user, make_user, staff):
    admin = as_user(staff)
    lurker = make_user("lurker", tier="member")
    _like(client, as_user, lurker, _post_id(db, forum["topic"], 1))
    r = client.delete(f"/admin/users/{lurker.id}.json", headers=admin)
    assert r.status_code == 200 and r.json() == {"deleted": True}
    with db.read() as s:
        assert s.get(User, lurker.id) is None
        assert s.scalar(select(Topic.like_count).where(Topic.id == forum["topic"].id)) == 0
        entry = s.scalar(select(ModerationLog).where(ModerationLog.action == "delete_user"))
        assert "lurker" in entry.summary and entry.actor_id == staff.id
    assert client.get(f"/admin/users/{lurker.id}.json", headers=admin).status_code == 404
    # Someone with posts is kept: suspend them instead.
    r = client.delete(f"/admin/users/{forum['bob'].id}.json", headers=admin)
    assert r.status_code == 403 and "suspend" in errors_of(r)[0]
    assert client.delete(f"/admin/users/{forum['bob'].id}.json", headers=as_user(forum["ana"])).status_code == 404


# --- password reset ---------------------------------------------------------------------------

def test_forgot_password_sends_a_reset_link(client, db, forum, as_user, staff):
    def tokens():
        with db.read() as s:
            return s.scalar(select(func.count(EmailToken.id)).where(EmailToken.purpose == emails.RESET))

    # A browser sends its CSRF token, as Discourse's own log-in form does.
    browser = {"X-CSRF-Token": client.get("/session/csrf.json").json()["csrf"], "Accept": JSON}
    r = client.post("/session/forgot_password.json", headers=browser, json={"login": "bob@example.org"})
    assert r.status_code == 200 and r.json() == {"success": "OK", "user_found": True}
    assert tokens() == 1
    # Who has an account is not told to strangers; staff are told.
    r = client.post("/session/forgot_password.json", headers=browser, data={"login": "nobody"})
    assert r.json()["user_found"] is True and tokens() == 1
    r = client.post("/session/forgot_password.json", headers=as_user(staff), data={"login": "nobody"})
    assert r.json()["user_found"] is False
    r = client.post("/session/forgot_password", headers=as_user(staff), data={"login": "ana"})
    assert r.json()["user_found"] is True and tokens() == 2
    missing = client.post("/session/forgot_password.json", headers=browser, json={})
    assert missing.status_code == 400 and errors_of(missing)
    # The page's limit on reset emails per account holds here too.
    for _ in range(3):
        assert client.post("/session/forgot_password.json", headers=browser, json={"login": "bob"}).status_code == 200
    assert client.post("/session/forgot_password.json", headers=browser, json={"login": "bob"}).status_code == 429
    with db.read() as s:
        assert s.scalar(select(func.count(UserSession.id))) == 0


# --- a user's summary -------------------------------------------------------------------------

def test_user_summary_counts_what_the_viewer_sees(client, db, forum, as_user, make_user, staff):
    _like(client, as_user, forum["bob"], _post_id(db, forum["topic"], 1))
    _like(client, as_user, staff, _post_id(db, forum["secret"], 1))
    _like(client, as_user, forum["ana"], _post_id(db, forum["topic"], 2))
    bob = client.get("/u/ana/summary.json", headers=as_user(forum["bob"])).json()
    summary = bob["user_summary"]
    assert summary["likes_received"] == 1 and summary["likes_given"] == 1
    assert summary["topic_count"] == 1 and summary["post_count"] == 1
    assert [t["title"] for t in bob["topics"]] == ["General assembly in Lisbon"]
    assert summary["topic_ids"] == [forum["topic"].id]
    assert [u["username"] for u in summary["most_liked_by_users"]] == ["bob"]
    assert [(u["username"], u["count"]) for u in summary["most_liked_users"]] == [("bob", 1)]
    assert [c["name"] for c in summary["top_categories"]] == ["News and events"]
    assert "bookmark_count" not in summary

    member = client.get("/u/ana/summary.json", headers=as_user(forum["ana"])).json()
    assert member["user_summary"]["likes_received"] == 2 and member["user_summary"]["topic_count"] == 2
    assert {c["name"] for c in member["user_summary"]["top_categories"]} == {"News and events", "Members' lounge"}
    assert member["user_summary"]["bookmark_count"] == 0

    replier = client.get("/u/bob/summary.json").json()["user_summary"]
    assert [(u["username"], u["count"]) for u in replier["most_replied_to_users"]] == [("ana", 1)]
    assert [r["post_number"] for r in replier["replies"]] == [2]
    assert client.get("/u/nobody/summary.json").status_code == 404
    with db.write() as s:
        s.get(User, make_user("newbie").id).approved = False
    assert client.get("/u/newbie/summary.json").status_code == 404
    assert client.get("/u/newbie/summary.json", headers=as_user(staff)).status_code == 200


# --- a post's replies -------------------------------------------------------------------------

def test_post_replies_lists_readable_replies(client, db, forum, as_user, make_reply, staff):
    t = forum["topic"]
    first = _post_id(db, t, 1)
    bob = as_user(forum["bob"])
    replies = client.get(f"/posts/{first}/replies.json", headers=bob)
    assert replies.status_code == 200 and replies.headers["content-type"] == JSON
    body = replies.json()
    assert [(p["post_number"], p["username"], p["reply_to_post_number"]) for p in body] == [(2, "bob", 1),
                                                                                          (3, "cyd", 1)]
    assert body[0]["reply_to_user"]["username"] == "ana" and body[0]["yours"] is True
    assert body[0]["reviewable_id"] == 0 and body[0]["can_see_hidden_post"] is False
    # A deleted reply leaves the list; a post one may not read has no replies to show.
    third = _post_id(db, t, 3)
    assert client.delete(f"/posts/{third}.json", headers=as_user(staff)).status_code == 200
    assert [p["post_number"] for p in client.get(f"/posts/{first}/replies.json", headers=bob).json()] == [2]
    assert client.get(f"/posts/{_post_id(db, forum['secret'], 1)}/replies.json", headers=bob).status_code == 404
    assert client.get(f"/posts/{_post_id(db, t, 2)}/replies.json").json() == []
    assert client.get("/posts/999999/replies.json").status_code == 404
