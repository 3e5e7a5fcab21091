"""Members invite within their tier's quota, counted in people: links for several people work for them too."""

from sqlalchemy import select

from forum.models import Invitation, User
from tests.conftest import csrf_of
from tests.test_invitations import accept, browser, created_link, invite, set_policy


def test_a_members_link_for_several_people_admits_that_many_and_counts_them_against_the_quota(
        make_client, make_user, staff, db):
    ana = make_user("ana", tier="member")
    set_policy(browser(make_client, staff.username), invite_quota_member=5, invite_quota_worker=1)
    c = browser(make_client, "ana")
    assert "You may invite 5 more people" in c.get("/my/invitations").text
    link = created_link(invite(c, "/my/invitations", tier="worker", max_uses="3"))
    assert "You may invite 2 more people" in c.get("/my/invitations").text
    for n in range(3):
        assert accept(make_client(), link, username=f"guest{n}", email=f"guest{n}@example.org").status_code == 303
    fourth = accept(make_client(), link, username="guest3", email="guest3@example.org")
    assert fourth.status_code == 403 and "already been used" in fourth.text
    with db.read() as s:
        guests = list(s.scalars(select(User).where(User.username.like("guest%")).order_by(User.username)))
        assert [(g.username, g.tier, g.invited_by_id) for g in guests] == [
            (f"guest{n}", "worker", ana.id) for n in range(3)]

    # More places than are left is refused inline, keeping what was typed; the rest can still be used.
    r = invite(c, "/my/invitations", tier="participant", max_uses="3", message="Come to the assembly")
    assert r.status_code == 422 and "You may invite 2 more people" in r.text and "Come to the assembly" in r.text
    created_link(invite(c, "/my/invitations", tier="participant", max_uses="2"))
    used_up = invite(c, "/my/invitations", tier="participant")
    assert used_up.status_code == 403 and "used all your invitations" in used_up.text


def test_withdrawing_a_members_unused_link_gives_its_places_back(make_client, make_user, staff, db):
    make_user("ana", tier="member")
    set_policy(browser(make_client, staff.username), invite_quota_member=4)
    c = browser(make_client, "ana")
    link = created_link(invite(c, "/my/invitations", tier="member", max_uses="4"))
    accept(make_client(), link, username="early_bird", email="early@example.org")
    assert "You may invite 0 more people" in c.get("/my/invitations").text
    with db.read() as s:
        invitation_id = s.scalar(select(Invitation.id))
    token = csrf_of(c, "/my/invitations")
    assert c.post(f"/my/invitations/{invitation_id}/revoke", data={"csrf_token": token},
                  follow_redirects=False).status_code == 303
    # One place was used; the other three come back.
    assert "You may invite 3 more people" in c.get("/my/invitations").text


def test_members_create_links_for_several_people_through_the_api(make_client, make_user, staff, db):
    make_user("wes", tier="worker")
    set_policy(browser(make_client, staff.username), invite_quota_worker=3)
    c = browser(make_client, "wes")
    c.headers.update({"X-CSRF-Token": csrf_of(c), "Accept": "application/json"})
    r = c.post("/invites.json", data={"tier": "worker", "max_redemptions_allowed": "3"})
    assert r.status_code == 200, r.text
    assert r.json()["max_redemptions_allowed"] == 3 and r.json()["tier"] == "worker"
    over = c.post("/invites.json", data={"tier": "participant", "max_redemptions_allowed": "1"})
    assert over.status_code == 403 and "used all your invitations" in over.json()["errors"][0]
    assert c.post("/invites.json", data={"tier": "member"}).status_code in (403, 422)
    with db.read() as s:
        assert [(i.max_uses, i.tier) for i in s.scalars(select(Invitation))] == [(3, "worker")]
