"""Staff acting on accounts: suspension, silencing, tiers and staff roles."""

from sqlalchemy import select

from forum.models import ModerationLog, User
from tests.conftest import PASSWORD, csrf_of, login, post_form


def browser(make_client, username):
    c = make_client()
    login(c, username)
    return c


def staff_post(c, path, data=None):
    return post_form(c, path, data or {}, csrf_from="/admin")


def try_login(c, username):
    token = csrf_of(c, "/login")
    return c.post("/login", data={"login": username, "password": PASSWORD, "csrf_token": token},
                  follow_redirects=False)


def test_suspension_ends_every_session_at_once_and_blocks_login_with_the_reason(make_client, make_user, db):
    bob = make_user("bob")
    make_user("moe", moderator=True)
    laptop, phone = browser(make_client, "bob"), browser(make_client, "bob")
    assert laptop.get("/my/preferences").status_code == 200
    moe = browser(make_client, "moe")
    r = staff_post(moe, f"/admin/users/{bob.id}/suspend", {"until": "2099-06-30", "reason": "Repeated spam"})
    assert r.status_code == 303
    assert laptop.get("/my/preferences").status_code == 403
    assert phone.get("/my/preferences").status_code == 403
    refused = try_login(make_client(), "bob")
    assert refused.status_code == 403
    assert "suspended until 2099-06-30" in refused.text and "Repeated spam" in refused.text
    wrong_password = make_client()
    token = csrf_of(wrong_password, "/login")
    r = wrong_password.post("/login", data={"login": "bob", "password": "not-the-password", "csrf_token": token})
    assert "suspended" not in r.text  # the reason is only told to someone who knows the password

    assert staff_post(moe, f"/admin/users/{bob.id}/unsuspend").status_code == 303
    assert try_login(make_client(), "bob").status_code == 303
    with db.read() as s:
        actions = [e.action for e in s.scalars(select(ModerationLog).where(ModerationLog.target_user_id == bob.id))]
    assert actions == ["suspend_user", "unsuspend_user"]


def test_suspending_needs_a_reason_and_a_future_end_date(make_client, make_user, db):
    bob = make_user("bob")
    make_user("moe", moderator=True)
    moe = browser(make_client, "moe")
    r = staff_post(moe, f"/admin/users/{bob.id}/suspend", {"until": "2099-06-30", "reason": ""})
    assert r.status_code == 422 and "Give a reason" in r.text
    r = staff_post(moe, f"/admin/users/{bob.id}/suspend", {"until": "2001-01-01", "reason": "Spam"})
    assert r.status_code == 422 and "in the future" in r.text and 'value="Spam"' in r.text
    r = staff_post(moe, f"/admin/users/{bob.id}/suspend", {"until": "next tuesday", "reason": "Spam"})
    assert r.status_code == 422 and "YYYY-MM-DD" in r.text
    with db.read() as s:
        assert s.get(User, bob.id).suspended_until is None


def test_silenced_user_reads_but_cannot_post_reply_edit_or_flag(make_client, make_user, make_category, make_topic,
                                                               make_reply, db):
    ana = make_user("ana", tier="member")
    bob = make_user("bob", tier="member")
    make_user("moe", moderator=True)
    category = make_category("Assemblies")
    topic = make_topic(ana, category, title="Agenda for the spring meeting")
    own = make_reply(bob, topic, raw="My earlier reply.")
    moe = browser(make_client, "moe")
    assert staff_post(moe, f"/admin/users/{bob.id}/silence", {"until": "2099-01-01",
                                                             "reason": "Heated week"}).status_code == 303
    c = browser(make_client, "bob")
    page = c.get(f"/t/{topic.slug}/{topic.id}")
    assert page.status_code == 200 and "Agenda for the spring meeting" in page.text
    assert "you can read, but not post" in page.text and f'action="/t/{topic.id}/reply"' not in page.text
    assert post_form(c, f"/t/{topic.id}/reply", {"raw": "Still talking"}).status_code == 403
    assert post_form(c, "/new-topic", {"title": "A brand new topic", "raw": "Body text",
                                       "category": str(category.id)}).status_code == 403
    edit = post_form(c, f"/posts/{own.id}/edit", {"raw": "Edited while silenced"})
    assert edit.status_code == 403 and "you can read, but not post" in edit.text
    with db.read() as s:
        from forum.models import Post
        first = s.scalar(select(Post.id).where(Post.topic_id == topic.id, Post.post_number == 1))
    assert post_form(c, f"/posts/{first}/flag", {"flag_type": "8"}).status_code == 403
    # The JSON API runs the same rule.
    token = csrf_of(c)
    r = c.post("/posts.json", data={"topic_id": str(topic.id), "raw": "Through the API"},
               headers={"X-CSRF-Token": token})
    assert r.status_code in (403, 422) and "Through the API" not in c.get(f"/t/{topic.slug}/{topic.id}").text

    assert staff_post(moe, f"/admin/users/{bob.id}/unsilence").status_code == 303
    assert post_form(c, f"/t/{topic.id}/reply", {"raw": "Back again"}).status_code == 303


def test_moderators_act_on_ordinary_accounts_only_admins_on_moderators(make_client, make_user, staff, db):
    make_user("moe", moderator=True)
    mia = make_user("mia", moderator=True)
    moe = browser(make_client, "moe")
    r = staff_post(moe, f"/admin/users/{mia.id}/silence", {"until": "2099-01-01", "reason": "Testing"})
    assert r.status_code == 403 and "You may not act on this account." in r.text
    assert staff_post(moe, f"/admin/users/{staff.id}/suspend", {"until": "2099-01-01",
                                                               "reason": "Coup"}).status_code == 403
    admin = browser(make_client, staff.username)
    assert staff_post(admin, f"/admin/users/{mia.id}/silence", {"until": "2099-01-01",
                                                               "reason": "Needs a break"}).status_code == 303
    assert staff_post(admin, f"/admin/users/{staff.id}/suspend",
                      {"until": "2099-01-01", "reason": "Myself"}).status_code == 403


def test_only_admins_grant_and_revoke_staff_roles_and_one_admin_always_remains(make_client, make_user, staff, db):
    bob = make_user("bob", tier="member")
    make_user("moe", moderator=True)
    moe = browser(make_client, "moe")
    r = staff_post(moe, f"/admin/users/{bob.id}/role", {"role": "moderator", "enabled": "1"})
    assert r.status_code == 404
    admin = browser(make_client, staff.username)
    assert staff_post(admin, f"/admin/users/{bob.id}/role", {"role": "moderator", "enabled": "1"}).status_code == 303
    bob_browser = browser(make_client, "bob")
    assert bob_browser.get("/admin").status_code == 200
    assert staff_post(admin, f"/admin/users/{bob.id}/role", {"role": "moderator", "enabled": "0"}).status_code == 303
    assert bob_browser.get("/admin").status_code == 404
    r = staff_post(admin, f"/admin/users/{staff.id}/role", {"role": "admin", "enabled": "0"})
    assert r.status_code == 422 and "your own staff role" in r.text
    assert staff_post(admin, f"/admin/users/{bob.id}/role", {"role": "admin", "enabled": "1"}).status_code == 303
    with db.read() as s:
        promoted = s.get(User, bob.id)
        assert promoted.is_admin and promoted.is_moderator
        actions = [e.action for e in s.scalars(select(ModerationLog).where(ModerationLog.target_user_id == bob.id)
                                               .order_by(ModerationLog.id))]
    assert actions == ["grant_moderator", "revoke_moderator", "grant_admin"]


def test_tier_changes_are_logged_with_before_and_after(make_client, make_user, staff, db):
    bob = make_user("bob", tier="participant")
    admin = browser(make_client, staff.username)
    r = post_form(admin, f"/admin/users/{bob.id}/tier", {"tier": "worker", "reason": "Joined the co-op staff",
                                                         "next": "user"}, csrf_from="/admin")
    assert r.status_code == 303 and r.headers["location"] == f"/admin/users/{bob.id}"
    page = admin.get(f"/admin/users/{bob.id}").text
    assert "changed tier" in page and "participant → worker" in page and "Joined the co-op staff" in page
    assert post_form(admin, f"/admin/users/{bob.id}/tier", {"tier": "overlord"},
                     csrf_from="/admin").status_code == 422


def test_user_page_shows_their_flags_history_and_inviter(make_client, make_user, make_category, make_topic,
                                                        make_reply, staff):
    ana = make_user("ana", tier="member")
    bob = make_user("bob")
    make_user("cyd")
    topic = make_topic(ana, make_category("Assemblies"))
    reply = make_reply(bob, topic, raw="Loud reply.")
    cyd = browser(make_client, "cyd")
    post_form(cyd, f"/posts/{reply.id}/flag", {"flag_type": "7", "message": "Shouting at everyone"})
    admin = browser(make_client, staff.username)
    staff_post(admin, f"/admin/users/{bob.id}/silence", {"until": "2099-01-01", "reason": "Too loud"})
    page = admin.get(f"/admin/users/{bob.id}").text
    assert "Shouting at everyone" in page and "silenced user" in page and "Too loud" in page
    assert "silenced until" in page
    assert "Shouting at everyone" not in admin.get(f"/admin/users/{ana.id}").text
