"""Moderators are emailed, each in their own language, when a sign-up waits for their approval."""
# ruff: noqa: F811  (the SMTP fixtures are imported by name, then requested by name)

import functools
from email.header import decode_header, make_header

from babel.messages.catalog import Catalog
from babel.messages.pofile import write_po
from sqlalchemy import select

from forum import emails, i18n, outbox
from forum.models import User, UserOption, utcnow
from tests.conftest import PASSWORD, login, post_form
from tests.smtp import mail_settings, smtp_server  # noqa: F401  (fixtures)
from tests.test_invitations import set_policy

SUBJECT = "New sign-up awaiting approval: %(username)s"
SUBJECT_ES = "Nueva cuenta pendiente de aprobación: %(username)s"
ACTION = "Approve or reject it in the review queue:"
ACTION_ES = "Apruébala o recházala en la cola de revisión:"


def spanish_catalog(tmp_path, monkeypatch):
    """A Spanish catalog holding the alert's strings, used as the installed catalogs would be."""
    catalog = Catalog(locale="es")
    catalog.add(SUBJECT, SUBJECT_ES)
    catalog.add(ACTION, ACTION_ES)
    folder = tmp_path / "es" / "LC_MESSAGES"
    folder.mkdir(parents=True)
    with (folder / "messages.po").open("wb") as f:
        write_po(f, catalog)
    monkeypatch.setattr(i18n, "AVAILABLE_LOCALES", ("en", "es"))
    monkeypatch.setattr(emails, "translations", functools.partial(i18n.translations, locale_dir=tmp_path))


def subject_of(message) -> str:
    return str(make_header(decode_header(message["Subject"])))


def text_of(message) -> str:
    return next(p.get_payload(decode=True).decode() for p in message.walk() if p.get_content_type() == "text/plain")


def drain(db, settings):
    # First the alert job, then the emails it queued.
    while outbox.drain(db, settings):
        pass


def sign_up(c, username):
    return post_form(c, "/signup", {"username": username, "email": f"{username}@example.org",
                                    "password": PASSWORD}, csrf_from="/signup")


def test_each_moderator_gets_an_email_in_their_language_when_a_sign_up_waits(
        make_client, make_user, staff, smtp_server, mail_settings, db, tmp_path, monkeypatch):
    spanish_catalog(tmp_path, monkeypatch)
    admin = make_client()
    login(admin, staff.username)
    set_policy(admin, signup_mode="approval")
    moe = make_user("moe", moderator=True)
    quiet = make_user("quiet", moderator=True)
    gone = make_user("gone", moderator=True)
    make_user("pat", tier="member")  # not staff: never told
    with db.write() as s:
        s.get(User, moe.id).locale = "es"
        s.add(UserOption(user_id=quiet.id, email_notifications="none"))
        s.get(User, gone.id).suspended_until = utcnow().replace(year=2099)

    assert sign_up(make_client(), "waiting").status_code == 200
    drain(db, mail_settings)
    # (The newcomer also gets the usual address confirmation.)
    messages = [m for m in smtp_server.wait_for(3) if m["To"] != "waiting@example.org"]
    assert sorted(m["To"] for m in messages) == sorted([f"{staff.username}@example.org", "moe@example.org"])
    by_recipient = {m["To"]: m for m in messages}
    english, spanish = by_recipient[f"{staff.username}@example.org"], by_recipient["moe@example.org"]
    assert english["Subject"] == f"[{mail_settings.site_title}] New sign-up awaiting approval: waiting"
    assert "waiting (waiting@example.org) signed up" in text_of(english)
    assert "http://testserver/admin/review" in text_of(english)
    assert english["List-Unsubscribe"]  # staff can turn these off like any notification email
    assert subject_of(spanish) == f"[{mail_settings.site_title}] Nueva cuenta pendiente de aprobación: waiting"
    assert ACTION_ES in text_of(spanish) and "http://testserver/admin/review" in text_of(spanish)


def test_a_sign_up_approved_before_the_email_goes_out_sends_nothing(
        make_client, make_user, staff, smtp_server, mail_settings, db):
    admin = make_client()
    login(admin, staff.username)
    set_policy(admin, signup_mode="approval")
    sign_up(make_client(), "quick")
    with db.read() as s:
        quick = s.scalar(select(User.id).where(User.username == "quick"))
    assert post_form(admin, f"/admin/users/{quick}/approve", {}, csrf_from="/admin").status_code == 303
    drain(db, mail_settings)
    # Only the newcomer's own emails (confirm the address; the account is ready): the moderators' alert
    # found nothing left to do.
    assert {m["To"] for m in smtp_server.wait_for(3, timeout=2)} == {"quick@example.org"}


def test_no_email_to_moderators_in_open_mode(make_client, make_user, staff, smtp_server, mail_settings, db):
    sign_up(make_client(), "open_door")
    drain(db, mail_settings)
    assert all("awaiting approval" not in (m["Subject"] or "") for m in smtp_server.wait_for(1, timeout=1))


def test_signing_up_through_the_api_follows_the_sign_up_mode(make_client, staff, smtp_server, mail_settings, db):
    admin = make_client()
    login(admin, staff.username)
    set_policy(admin, signup_mode="approval")
    c = make_client()
    csrf = c.get("/session/csrf.json").json()["csrf"]
    hp = c.get("/session/hp.json").json()
    data = {"username": "via_api", "email": "via_api@example.org", "password": PASSWORD,
            "password_confirmation": hp["value"], "challenge": hp["challenge"][::-1]}
    r = c.post("/users.json", data=data, headers={"X-CSRF-Token": csrf})
    body = r.json()
    assert body["success"] is True and body["approved"] is False and "approval" in body["message"]
    with db.read() as s:
        assert s.scalar(select(User.approved).where(User.username == "via_api")) is False
    drain(db, mail_settings)
    by_recipient = {m["To"]: m for m in smtp_server.wait_for(2)}
    assert subject_of(by_recipient[staff.email]) == \
        f"[{mail_settings.site_title}] New sign-up awaiting approval: via_api"
    # The newcomer is asked to confirm the address, as after the sign-up page.
    assert "/confirm-email/" in text_of(by_recipient["via_api@example.org"])

    set_policy(admin, signup_mode="invite_only")
    hp = c.get("/session/hp.json").json()
    r = c.post("/users.json", data={**data, "username": "closed_out", "email": "closed@example.org",
                                    "password_confirmation": hp["value"], "challenge": hp["challenge"][::-1]},
               headers={"X-CSRF-Token": csrf})
    assert r.status_code == 200 and r.json()["success"] is False and "invitation only" in r.json()["message"]
    with db.read() as s:
        assert s.scalar(select(User).where(User.username == "closed_out")) is None


READY = "Your account at %(site)s is ready"
READY_ES = "Tu cuenta en %(site)s está lista"


def test_the_account_ready_email_is_in_the_newcomers_language(
        make_client, staff, smtp_server, mail_settings, db, tmp_path, monkeypatch):
    spanish_catalog(tmp_path, monkeypatch)
    catalog_file = tmp_path / "es" / "LC_MESSAGES" / "messages.po"
    catalog = Catalog(locale="es")
    catalog.add(READY, READY_ES)
    with catalog_file.open("wb") as f:
        write_po(f, catalog)
    admin = make_client()
    login(admin, staff.username)
    set_policy(admin, signup_mode="approval")
    sign_up(make_client(), "lucia")
    with db.write() as s:
        lucia = s.scalar(select(User).where(User.username == "lucia"))
        lucia.locale = "es"
        lucia_id = lucia.id
    assert post_form(admin, f"/admin/users/{lucia_id}/approve", {}, csrf_from="/admin").status_code == 303
    drain(db, mail_settings)
    subjects = {subject_of(m) for m in smtp_server.wait_for(2, timeout=3) if m["To"] == "lucia@example.org"}
    assert READY_ES % {"site": mail_settings.site_title} in subjects
