"""Staff through the Discourse API: the review queue, tiers as groups, and what Discourse clients are told
about suspended log-ins and flag types this forum does not offer."""

from datetime import timedelta

from sqlalchemy import select

from forum.models import Flag, ModerationLog, Post, User, utcnow
from tests.conftest import PASSWORD, csrf_of, login
from tests.test_invitations import set_policy

JSON = "application/json; charset=utf-8"


def json_client(make_client, username):
    c = make_client()
    login(c, username)
    c.headers.update({"X-CSRF-Token": csrf_of(c), "Accept": "application/json"})
    return c


def flag(c, post_id, kind="4", message=""):
    r = c.post("/post_actions.json", data={"id": str(post_id), "post_action_type_id": kind, "message": message})
    assert r.status_code in (200, 204), r.text
    return r


def log_actions(db):
    with db.read() as s:
        return [e.action for e in s.scalars(select(ModerationLog).order_by(ModerationLog.id))]


def _flagged_reply(make_user, make_category, make_topic, make_reply, make_client, flaggers=("cyd", "dee")):
    ana = make_user("ana", tier="member")
    topic = make_topic(ana, make_category("Assembly"), title="Venue and catering")
    reply = make_reply(ana, topic, raw="Buy my miracle pills at example.com")
    for name in flaggers:
        make_user(name, tier="member")
        flag(json_client(make_client, name), reply.id, "8" if name == "cyd" else "4")
    return ana, topic, reply


# --- the review queue -------------------------------------------------------------------------

def test_the_review_queue_lists_flagged_posts_and_waiting_sign_ups(make_user, make_category, make_topic, make_reply,
                                                                   make_client, staff, db):
    ana, topic, reply = _flagged_reply(make_user, make_category, make_topic, make_reply, make_client)
    admin = json_client(make_client, staff.username)
    set_policy(admin, signup_mode="approval")
    hopeful = make_client()
    csrf = csrf_of(hopeful, "/signup")
    hopeful.post("/signup", data={"username": "hopeful", "email": "hopeful@example.org", "password": PASSWORD,
                                  "csrf_token": csrf})
    r = admin.get("/review.json")
    assert r.status_code == 200 and r.headers["content-type"] == JSON
    body = r.json()
    flagged, signup = body["reviewables"]
    assert flagged["type"] == "ReviewableFlaggedPost" and flagged["target_id"] == reply.id
    assert flagged["topic_id"] == topic.id and flagged["target_url"] == f"/t/{topic.slug}/{topic.id}/2"
    assert sorted(s["reviewable_score_type"] for s in flagged["reviewable_scores"]) == [4, 8]
    assert flagged["score"] == 2.0 and flagged["status"] == 0 and flagged["version"] == 2
    assert "agree_and_hide" in flagged["bundled_action_ids"]
    assert signup["type"] == "ReviewableUser" and signup["payload"]["username"] == "hopeful"
    assert signup["bundled_action_ids"] == ["approve_user", "reject_user_delete"]
    assert {"ana", "cyd", "dee", "hopeful"} <= {u["username"] for u in body["users"]}
    assert body["meta"]["total_rows_reviewables"] == 2 and body["meta"]["reviewable_count"] == 2
    assert [x["type"] for x in admin.get("/review.json", params={"type": "ReviewableUser"}).json()["reviewables"]] \
        == ["ReviewableUser"]
    assert admin.get("/review/count.json").json() == {"count": 2}
    assert admin.get(f"/review/{flagged['id']}.json").json()["reviewable"]["target_id"] == reply.id
    assert admin.get("/review.json", params={"type": "ReviewableQueuedPost"}).status_code == 400


def test_performing_review_actions_through_the_api(make_user, make_category, make_topic, make_reply, make_client,
                                                   staff, db):
    set_policy(json_client(make_client, staff.username), flags_to_hide=10)  # flags alone hide nothing here
    ana, topic, reply = _flagged_reply(make_user, make_category, make_topic, make_reply, make_client)
    make_user("moe", moderator=True)
    moe = json_client(make_client, "moe")
    [item] = moe.get("/review.json").json()["reviewables"]
    path = f"/review/{item['id']}/perform/agree_and_hide.json"
    missing = moe.put(path)
    assert missing.status_code == 422 and missing.json()["errors"]
    # Someone flags again meanwhile: the decision taken on the old view is refused.
    make_user("eve", tier="member")
    flag(json_client(make_client, "eve"), reply.id, "3")
    stale = moe.put(path, data={"version": str(item["version"])})
    assert stale.status_code == 409
    assert moe.put(f"/review/{item['id']}/perform/approve_user.json", data={"version": "3"}).status_code == 403
    r = moe.put(path, data={"version": "3", "reason": "Spam"})
    assert r.status_code == 200, r.text
    result = r.json()["reviewable_perform_result"]
    assert result["success"] is True and result["transition_to"] == "approved"
    assert result["remove_reviewable_ids"] == [item["id"]] and result["reviewable_count"] == 0
    with db.read() as s:
        assert s.get(Post, reply.id).hidden
        assert set(s.scalars(select(Flag.status))) == {"agreed"}
    assert log_actions(db)[-2:] == ["hide_post", "agree_flags"]
    assert moe.get("/review.json").json()["reviewables"] == []
    # Reviewed flags are no longer in the queue.
    assert moe.put(path, data={"version": "3"}).status_code == 404


def test_ignoring_and_deleting_and_disagreeing(make_user, make_category, make_topic, make_reply, make_client,
                                               staff, client, db):
    ana, topic, reply = _flagged_reply(make_user, make_category, make_topic, make_reply, make_client)
    admin = json_client(make_client, staff.username)
    [item] = admin.get("/review.json").json()["reviewables"]
    r = admin.put(f"/review/{item['id']}/perform/delete_and_ignore.json", data={"version": str(item["version"])})
    assert r.json()["reviewable_perform_result"]["transition_to"] == "ignored"
    with db.read() as s:
        assert s.get(Post, reply.id).deleted_at is not None
        assert set(s.scalars(select(Flag.status))) == {"deferred"}
    assert "Buy my miracle pills" not in client.get(f"/t/{topic.slug}/{topic.id}").text

    other = make_reply(ana, topic, raw="A perfectly fine opinion about catering.")
    for name in ("cyd", "dee", "fay"):
        if name == "fay":
            make_user("fay", tier="member")
        flag(json_client(make_client, name), other.id)
    [item] = admin.get("/review.json").json()["reviewables"]
    assert item["bundled_action_ids"][0] == "agree_and_keep_hidden"  # three flags hid it
    r = admin.put(f"/review/{item['id']}/perform/disagree_and_restore.json", data={"version": str(item["version"])})
    assert r.json()["reviewable_perform_result"]["transition_to"] == "rejected"
    assert "A perfectly fine opinion" in client.get(f"/t/{topic.slug}/{topic.id}").text


def test_approving_and_rejecting_sign_ups_through_the_review_api(make_client, staff, db):
    admin = json_client(make_client, staff.username)
    set_policy(admin, signup_mode="approval")
    for name in ("welcome", "unwanted"):
        c = make_client()
        c.post("/signup", data={"username": name, "email": f"{name}@example.org", "password": PASSWORD,
                                "csrf_token": csrf_of(c, "/signup")})
    items = {i["payload"]["username"]: i for i in admin.get("/review.json").json()["reviewables"]}
    r = admin.put(f"/review/{items['welcome']['id']}/perform/approve_user.json", data={"version": "0"})
    assert r.json()["reviewable_perform_result"]["transition_to"] == "approved"
    r = admin.put(f"/review/{items['unwanted']['id']}/perform/reject_user_delete.json", data={"version": "0"})
    assert r.json()["reviewable_perform_result"]["transition_to"] == "rejected"
    with db.read() as s:
        assert s.scalar(select(User.approved).where(User.username == "welcome")) is True
        assert s.scalar(select(User).where(User.username == "unwanted")) is None
    login(make_client(), "welcome")
    assert log_actions(db)[-2:] == ["approve_user", "reject_user"]


def test_non_staff_get_404_from_the_review_and_tier_routes(make_user, make_category, make_topic, make_reply,
                                                           make_client, db):
    ana, topic, reply = _flagged_reply(make_user, make_category, make_topic, make_reply, make_client)
    bob = make_user("bob")
    c = json_client(make_client, "ana")
    item_id = reply.id * 2
    for method, path, data in [
        ("get", "/review.json", None), ("get", "/review/count.json", None), ("get", f"/review/{item_id}.json", None),
        ("put", f"/review/{item_id}/perform/agree_and_hide.json", {"version": "2"}),
        ("put", "/groups/10/members.json", {"usernames": "bob"}),
        ("delete", "/groups/10/members.json", None),
        ("post", f"/admin/users/{bob.id}/groups.json", {"group_id": "10"}),
    ]:
        r = getattr(c, method)(path, **({"data": data} if data else {}))
        assert r.status_code == 404 and r.json()["error_type"] == "not_found", (path, r.text)
    with db.read() as s:
        assert not s.get(Post, reply.id).hidden and s.get(User, bob.id).tier == "participant"


# --- tiers as groups --------------------------------------------------------------------------

def test_staff_change_tiers_by_adding_people_to_tier_groups(make_user, make_client, staff, db):
    bob, cyd = make_user("bob"), make_user("cyd")
    make_user("moe", moderator=True)
    moe = json_client(make_client, "moe")
    r = moe.put("/groups/11/members.json", data={"usernames": "bob,cyd"})
    assert r.status_code == 200 and r.json() == {"success": "OK", "usernames": ["bob", "cyd"], "emails": []}
    again = moe.put("/groups/11/members.json", data={"usernames": "bob"})
    assert again.status_code == 422 and "already" in again.json()["errors"][0].lower()
    assert moe.put("/groups/members/members.json", data={"user_emails": "cyd@example.org"}).status_code == 200
    r = moe.post(f"/admin/users/{bob.id}/groups.json", data={"group_id": "10"})
    assert r.status_code == 200 and r.json() == {"success": "OK"}
    with db.read() as s:
        assert (s.get(User, bob.id).tier, s.get(User, cyd.id).tier) == ("member", "member")
        changes = [(e.summary, e.details) for e in s.scalars(
            select(ModerationLog).where(ModerationLog.action == "set_tier").order_by(ModerationLog.id))]
    assert [name for name, _d in changes] == ["bob", "cyd", "cyd", "bob"]
    assert '"to": "member"' in changes[-1][1]
    assert bob.username in moe.get(f"/u/{bob.username}.json").json()["user"]["username"]
    assert moe.get(f"/u/{bob.username}.json").json()["user"]["primary_group_name"] == "members"
    # One tier each: leaving a group means joining another.
    leave = moe.delete("/groups/10/members.json", params={"usernames": "bob"})
    assert leave.status_code == 422 and "exactly one tier" in leave.json()["errors"][0]
    assert moe.delete(f"/admin/users/{bob.id}/groups/10.json").status_code == 422
    assert moe.put("/groups/0/members.json", data={"usernames": "bob"}).status_code == 404  # everyone
    assert moe.put("/groups/99/members.json", data={"usernames": "bob"}).status_code == 404
    missing = moe.put("/groups/12/members.json", data={"usernames": "nobody_here"})
    assert missing.status_code == 422 and "nobody_here" in missing.json()["errors"][0]
    # Moderators act on ordinary accounts only.
    assert moe.put("/groups/12/members.json", data={"usernames": staff.username}).status_code == 403
    with db.read() as s:
        assert s.get(User, staff.id).tier == "member"


# --- log-in of a suspended account, and flag types --------------------------------------------

def test_a_suspended_accounts_log_in_says_suspended_with_the_reason(make_user, make_client, db):
    bob = make_user("bob")
    with db.write() as s:
        user = s.get(User, bob.id)
        user.suspended_until = utcnow() + timedelta(days=30)
        user.suspend_reason = "Repeated spam"
    c = make_client()
    csrf = c.get("/session/csrf.json").json()["csrf"]
    r = c.post("/session", data={"login": "bob", "password": PASSWORD}, headers={"X-CSRF-Token": csrf,
                                                                               "Accept": "application/json"})
    body = r.json()
    assert r.status_code == 200 and body["reason"] == "suspended"
    assert "suspended until" in body["error"] and "Repeated spam" in body["error"]
    wrong = c.post("/session", data={"login": "bob", "password": "not-the-password"},
                   headers={"X-CSRF-Token": csrf, "Accept": "application/json"})
    assert wrong.json() == {"error": "Incorrect username, email or password"}  # no reason without the password
    # The log-in page says the same.
    page = c.post("/login", data={"login": "bob", "password": PASSWORD, "csrf_token": csrf_of(c, "/login")})
    assert page.status_code == 403 and "suspended until" in page.text and "Repeated spam" in page.text


def test_a_sign_up_waiting_for_approval_is_told_so_at_log_in(make_client, staff, db):
    admin = json_client(make_client, staff.username)
    set_policy(admin, signup_mode="approval")
    c = make_client()
    c.post("/signup", data={"username": "patient", "email": "patient@example.org", "password": PASSWORD,
                            "csrf_token": csrf_of(c, "/signup")})
    csrf = c.get("/session/csrf.json").json()["csrf"]
    body = c.post("/session", data={"login": "patient", "password": PASSWORD},
                  headers={"X-CSRF-Token": csrf, "Accept": "application/json"}).json()
    assert body["reason"] == "not_approved" and "approval" in body["error"]


def test_discourse_flag_types_through_post_actions(make_user, make_category, make_topic, make_reply, make_client,
                                                   db):
    ana = make_user("ana", tier="member")
    topic = make_topic(ana, make_category("Assembly"))
    replies = [make_reply(ana, topic, raw=f"Reply number {n} here.") for n in range(5)]
    expected = {}
    for n, (kind, message) in enumerate([("3", ""), ("4", ""), ("7", "Personal data in this post"), ("8", "")]):
        make_user(f"flagger{n}", tier="member")
        c = json_client(make_client, f"flagger{n}")
        r = c.post("/post_actions.json", data={"id": str(replies[n].id), "post_action_type_id": kind,
                                               "message": message})
        assert r.status_code == 200, (kind, r.text)
        expected[replies[n].id] = int(kind)
    with db.read() as s:
        assert {p: k for p, k in s.execute(select(Flag.post_id, Flag.flag_type))} == expected
        assert s.scalar(select(Flag.message).where(Flag.flag_type == 7)) == "Personal data in this post"
    c = json_client(make_client, "flagger0")
    # Something else without a message, and a message to the author (there are no private messages).
    r = c.post("/post_actions.json", data={"id": str(replies[4].id), "post_action_type_id": "7"})
    assert r.status_code == 422 and r.json()["errors"] == ["Tell the moderators what is wrong."]
    r = c.post("/post_actions.json", data={"id": str(replies[4].id), "post_action_type_id": "6",
                                           "message": "Please fix the date"})
    assert r.status_code == 422 and "private messages" in r.json()["errors"][0]
    with db.read() as s:
        assert s.scalar(select(Flag).where(Flag.post_id == replies[4].id)) is None
