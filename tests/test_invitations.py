"""Invitations by email and by link, sign-up modes, member quotas and the invitation tree."""

import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from forum import outbox
from forum.models import Invitation, ModerationLog, User, utcnow
from tests.conftest import PASSWORD, csrf_of, login, post_form
from tests.smtp import mail_settings, smtp_server  # noqa: F401  (fixtures)

LINK_RE = re.compile(r"http://testserver/invites/[A-Za-z0-9_-]+")


def browser(make_client, username):
    c = make_client()
    login(c, username)
    return c


def invite(c, path="/admin/invitations", **data):
    data.setdefault("tier", "participant")
    return post_form(c, path, data, csrf_from="/my/preferences" if path.startswith("/my") else "/admin")


def created_link(response) -> str:
    found = re.search(r'id="created-link"[^>]*value="([^"]+)"', response.text)
    assert found, response.text[-2000:]
    return found.group(1)


def accept(c, link, **data):
    path = link.replace("http://testserver", "")
    token = csrf_of(c, path)
    data = {"username": "newcomer", "email": "newcomer@example.org", "password": PASSWORD, **data,
            "csrf_token": token}
    return c.post(path, data=data, follow_redirects=False)


def set_policy(c, **values):
    values.setdefault("signup_mode", "open")
    r = post_form(c, "/admin/settings", {k: str(v) for k, v in values.items()}, csrf_from="/admin")
    assert r.status_code == 200, r.text


def test_email_invitation_is_sent_over_smtp_and_its_link_creates_the_account_with_its_tier(
        make_client, make_category, staff, smtp_server, mail_settings, db):  # noqa: F811
    lounge = make_category("Members' lounge", "members_only")
    admin = browser(make_client, staff.username)
    r = invite(admin, email="lucia@bakery.coop", tier="member", category_id=str(lounge.id),
               message="Welcome to the federation, Lucia!")
    assert r.status_code == 200 and "Invitation sent to lucia@bakery.coop" in r.text
    assert outbox.drain(db, mail_settings) == 1
    [message] = smtp_server.wait_for(1)
    assert message["To"] == "lucia@bakery.coop"
    assert "invites you to" in message["Subject"]
    parts = {p.get_content_type(): p.get_payload(decode=True).decode() for p in message.walk()
             if not p.is_multipart()}
    body = parts["text/plain"]
    assert "Welcome to the federation, Lucia!" in body and "Welcome to the federation, Lucia!" in parts["text/html"]
    link = LINK_RE.search(body).group(0)

    visitor = make_client()
    landing = visitor.get(link.replace("http://testserver", ""))
    assert landing.status_code == 200 and "Your tier: Member." in landing.text and "Members&#39; lounge" in landing.text
    wrong = accept(visitor, link, username="lucia", email="someone.else@example.org")
    assert wrong.status_code == 422 and "This invitation is for lucia@bakery.coop" in wrong.text
    assert 'value="lucia"' in wrong.text
    r = accept(visitor, link, username="lucia", email="lucia@bakery.coop")
    assert r.status_code == 303 and r.headers["location"] == f"/c/{lounge.slug}/{lounge.id}"
    assert visitor.get(r.headers["location"]).status_code == 200  # a member, signed in, sees the lounge
    with db.read() as s:
        lucia = s.scalar(select(User).where(User.username == "lucia"))
        assert (lucia.tier, lucia.invited_by_id) == ("member", staff.id)
    # Single use: the link is spent.
    again = accept(make_client(), link, username="lucia2", email="lucia@bakery.coop")
    assert again.status_code == 403 and "already been used" in again.text


def test_a_shareable_link_admits_as_many_people_as_it_allows(make_client, staff, db):
    admin = browser(make_client, staff.username)
    link = created_link(invite(admin, tier="worker", max_uses="2"))
    assert accept(make_client(), link, username="first_one", email="one@example.org").status_code == 303
    assert accept(make_client(), link, username="second_one", email="two@example.org").status_code == 303
    third = accept(make_client(), link, username="third_one", email="three@example.org")
    assert third.status_code == 403
    with db.read() as s:
        assert s.scalar(select(User).where(User.username == "third_one")) is None
        assert s.scalar(select(Invitation.uses)) == 2
        assert {u.tier for u in s.scalars(select(User).where(User.invited_by_id == staff.id))} == {"worker"}


def test_expired_and_revoked_invitations_no_longer_work(make_client, staff, db):
    admin = browser(make_client, staff.username)
    expired = created_link(invite(admin))
    revoked = created_link(invite(admin))
    with db.write() as s:
        first = s.scalar(select(Invitation).order_by(Invitation.id))
        first.expires_at = utcnow() - timedelta(minutes=1)
        second_id = s.scalar(select(Invitation.id).order_by(Invitation.id.desc()))
    assert post_form(admin, f"/admin/invitations/{second_id}/revoke", {}, csrf_from="/admin").status_code == 303
    page = make_client().get(expired.replace("http://testserver", ""))
    assert page.status_code == 410 and "has expired" in page.text
    assert accept(make_client(), expired).status_code == 403
    assert "withdrawn" in make_client().get(revoked.replace("http://testserver", "")).text
    assert accept(make_client(), revoked).status_code == 403
    assert make_client().get("/invites/not-a-real-code").status_code == 404
    with db.read() as s:
        assert s.scalar(select(User).where(User.username == "newcomer")) is None
        assert [e.action for e in s.scalars(select(ModerationLog).order_by(ModerationLog.id))] == [
            "create_invitation", "create_invitation", "revoke_invitation"]


def test_a_domain_invitation_admits_only_addresses_at_that_domain(make_client, staff):
    admin = browser(make_client, staff.username)
    link = created_link(invite(admin, email_domain="@Bakery.coop", max_uses="20"))
    r = accept(make_client(), link, email="ana@gmail.example")
    assert r.status_code == 422 and "addresses at bakery.coop" in r.text
    assert accept(make_client(), link, email="ana@bakery.coop").status_code == 303
    bad = invite(admin, email_domain="not a domain")
    assert bad.status_code == 422 and "Enter a domain" in bad.text


def test_invite_only_mode_closes_open_sign_up_but_invitations_still_work(make_client, staff, db):
    admin = browser(make_client, staff.username)
    set_policy(admin, signup_mode="invite_only")
    visitor = make_client()
    page = visitor.get("/signup")
    assert page.status_code == 200 and "invitation only" in page.text and 'action="/signup"' not in page.text
    r = post_form(visitor, "/signup", {"username": "sneaky", "email": "s@example.org", "password": PASSWORD},
                  csrf_from="/login")
    assert r.status_code == 403
    link = created_link(invite(admin))
    assert accept(make_client(), link).status_code == 303
    with db.read() as s:
        assert s.scalar(select(User).where(User.username == "sneaky")) is None
        assert s.scalar(select(User).where(User.username == "newcomer")) is not None


def test_approval_mode_keeps_new_accounts_out_until_a_moderator_approves(
        make_client, make_user, staff, smtp_server, mail_settings, db):  # noqa: F811
    admin = browser(make_client, staff.username)
    set_policy(admin, signup_mode="approval")
    visitor = make_client()
    assert "approves new accounts" in visitor.get("/signup").text
    r = post_form(visitor, "/signup", {"username": "waiting", "email": "w@example.org", "password": PASSWORD},
                  csrf_from="/signup")
    assert r.status_code == 200 and "waits for a moderator's approval" in r.text
    refused = make_client()
    token = csrf_of(refused, "/login")
    r = refused.post("/login", data={"login": "waiting", "password": PASSWORD, "csrf_token": token})
    assert r.status_code == 403 and "waiting for a moderator" in r.text

    make_user("moe", moderator=True)
    moe = browser(make_client, "moe")
    queue = moe.get("/admin/review").text
    assert "Approve waiting" in queue
    with db.read() as s:
        waiting_id = s.scalar(select(User.id).where(User.username == "waiting"))
    assert post_form(moe, f"/admin/users/{waiting_id}/approve", {}, csrf_from="/admin").status_code == 303
    assert outbox.drain(db, mail_settings) >= 1
    assert any(m["To"] == "w@example.org" for m in smtp_server.wait_for(1))
    login(make_client(), "waiting")

    post_form(visitor, "/signup", {"username": "rejected", "email": "r@example.org", "password": PASSWORD},
              csrf_from="/signup")
    with db.read() as s:
        rejected_id = s.scalar(select(User.id).where(User.username == "rejected"))
    assert post_form(moe, f"/admin/users/{rejected_id}/reject", {}, csrf_from="/admin").status_code == 303
    with db.read() as s:
        assert s.get(User, rejected_id) is None
        assert s.scalar(select(ModerationLog.summary).where(ModerationLog.action == "reject_user")).startswith(
            "rejected")


def test_members_invite_within_their_tiers_quota_and_never_above_their_own_tier(make_client, make_user, staff, db):
    make_user("ana", tier="member")
    make_user("wes", tier="worker")
    admin = browser(make_client, staff.username)
    set_policy(admin, invite_quota_member=2, invite_quota_worker=0)
    wes = browser(make_client, "wes")
    assert "not open to your tier" in wes.get("/my/invitations").text
    assert invite(wes, "/my/invitations", tier="participant").status_code == 404

    ana = browser(make_client, "ana")
    page = ana.get("/my/invitations").text
    assert "2 more people" in page
    assert invite(ana, "/my/invitations", tier="member").status_code == 200
    link = created_link(invite(ana, "/my/invitations", tier="worker"))
    third = invite(ana, "/my/invitations", tier="participant")
    assert third.status_code == 403 and "used all your invitations" in third.text
    assert accept(make_client(), link, username="invitee_of_ana").status_code == 303
    with db.read() as s:
        invitee = s.scalar(select(User).where(User.username == "invitee_of_ana"))
        assert invitee.tier == "worker"
        assert invitee.invited_by_id == s.scalar(select(User.id).where(User.username == "ana"))
        # A member's invitations are not staff actions.
        assert s.scalar(select(ModerationLog).where(ModerationLog.action == "create_invitation")) is None


def test_a_worker_cannot_invite_to_a_higher_tier(make_client, make_user, staff):
    make_user("wes", tier="worker")
    admin = browser(make_client, staff.username)
    set_policy(admin, invite_quota_worker=5)
    wes = browser(make_client, "wes")
    r = invite(wes, "/my/invitations", tier="member")
    assert r.status_code == 422 and "Choose a tier you may invite people to." in r.text
    assert invite(wes, "/my/invitations", tier="worker").status_code == 200


def test_the_invitation_tree_shows_who_invited_whom_with_their_tiers(make_client, make_user, staff):
    make_user("ana", tier="member")
    admin = browser(make_client, staff.username)
    set_policy(admin, invite_quota_member=5)
    ana = browser(make_client, "ana")
    accept(make_client(), created_link(invite(admin, tier="member")), username="first_gen", email="f@example.org")
    second_link = created_link(invite(ana, "/my/invitations", tier="participant"))
    accept(make_client(), second_link, username="second_gen", email="s@example.org")
    tree = admin.get("/admin/invitations/tree").text
    assert staff.username in tree and "first_gen" in tree
    assert re.search(r"first_gen</a> <span class=\"tag\">Member", tree)
    # Everyone who invited without having been invited is a root of the tree.
    assert re.search(r">ana</a> <span class=\"tag\">Member</span>\s*<ul>\s*<li><a [^>]*>second_gen", tree)
    ana_tree = admin.get("/admin/invitations/tree", params={"user": "ana"}).text
    assert re.search(r"second_gen</a> <span class=\"tag\">Participant", ana_tree)
    assert admin.get("/admin/invitations/tree", params={"user": "nobody_here"}).status_code == 404


@pytest.mark.parametrize("field,value,message", [
    ("email", "not-an-email", "valid email address"),
    ("max_uses", "0", "whole number from 1"),
    ("expires_days", "400", "whole number from 1 to 365"),
])
def test_bad_invitation_input_is_refused_inline_and_keeps_what_was_typed(make_client, staff, db, field, value,
                                                                        message):
    admin = browser(make_client, staff.username)
    r = invite(admin, **{field: value, "message": "Kept message text"})
    assert r.status_code == 422 and message in r.text and "Kept message text" in r.text
    with db.read() as s:
        assert s.scalar(select(Invitation)) is None
