"""Email over real SMTP: notification emails, digests, unsubscribing, password reset and confirmation."""
# ruff: noqa: F811  (the SMTP fixtures are imported by name, then requested by name)

import re
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import select, update

from forum import emails, outbox, pagecache
from forum.models import EmailToken, User, UserOption, utcnow
from forum.permissions import Viewer
from tests.conftest import PASSWORD, csrf_of, login, post_form
from tests.smtp import mail_settings, smtp_server  # noqa: F401  (fixtures)


def _confirm(db, user, timezone=None):
    with db.write() as session:
        emails.confirm_address(session, user.id)
        if timezone:
            session.get(User, user.id).timezone = timezone


def _parts(message) -> dict[str, str]:
    return {p.get_content_type(): p.get_payload(decode=True).decode() for p in message.walk() if not p.is_multipart()}


def test_a_mention_emails_the_person_with_unsubscribe_headers_and_times_in_their_zone(
        app, client, db, mail_settings, smtp_server, make_user, make_category, make_topic, make_reply):
    ana, bob = make_user("ana", tier="member"), make_user("bob", tier="member")
    _confirm(db, bob, "Europe/Madrid")
    topic = make_topic(ana, make_category("News"), title="Cheese co-op annual report")
    make_reply(ana, topic, raw="@bob please check the cheese figures.")
    with db.read() as session:
        generation = pagecache.current_generation(session)
    outbox.drain(db, mail_settings)
    [message] = smtp_server.wait_for(1)
    with db.read() as session:  # emailing about the reply changed no page: every cached page stays
        assert pagecache.current_generation(session) == generation
    assert message["To"] == "bob@example.org"
    assert message["Subject"] == f"[{mail_settings.site_title}] ana mentioned you in Cheese co-op annual report"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    unsubscribe = re.fullmatch(r"<(http://testserver(/email/unsubscribe/\d+/notifications/[\w-]+))>",
                               message["List-Unsubscribe"])
    assert unsubscribe
    parts = _parts(message)
    assert "please check the cheese figures." in parts["text/plain"]
    assert re.search(r"Posted \w{3} \d+ \w{3} 2026, \d\d:\d\d Madrid \(CET\)", parts["text/plain"])
    assert "Times in this email are in Europe/Madrid." in parts["text/plain"]
    assert f'href="http://testserver/t/{topic.slug}/{topic.id}/2#post_2"' in parts["text/html"]
    assert unsubscribe.group(1) in parts["text/html"]
    # A mail client's one-click POST carries no cookie and no CSRF token.
    fresh = client.__class__(app)
    r = fresh.post(unsubscribe.group(2), data={"List-Unsubscribe": "One-Click"})
    assert r.status_code == 200
    make_reply(ana, topic, raw="@bob one more thing.")
    outbox.drain(db, mail_settings)
    assert len(smtp_server.messages) == 1
    # A forged link changes nothing.
    assert fresh.post(unsubscribe.group(2)[:-3] + "abc").status_code == 404


def test_no_email_about_a_post_the_recipient_can_no_longer_read_when_it_is_sent(
        db, mail_settings, smtp_server, make_user, make_category, make_topic, make_reply):
    ana, bob = make_user("ana", tier="member"), make_user("bob", tier="member")
    _confirm(db, bob)
    topic = make_topic(ana, make_category("Board", "members_only"), title="Redundancy plans")
    make_reply(ana, topic, raw="@bob the redundancy list is attached.")
    with db.write() as session:  # bob's tier drops before the worker runs
        session.execute(update(User).where(User.id == bob.id).values(tier="participant"))
    outbox.drain(db, mail_settings)
    assert smtp_server.wait_for(1, timeout=1) == []


def test_unconfirmed_addresses_get_no_notification_emails(db, mail_settings, smtp_server, make_user, make_category,
                                                         make_topic, make_reply):
    ana = make_user("ana", tier="member")
    make_user("bob", tier="member")
    topic = make_topic(ana, make_category("News"))
    make_reply(ana, topic, raw="@bob hello.")
    outbox.drain(db, mail_settings)
    assert smtp_server.wait_for(1, timeout=1) == []


def test_digest_goes_out_at_the_recipients_hour_in_their_zone_without_hidden_topics(
        client, db, mail_settings, smtp_server, make_user, make_category, make_topic):
    ana, pat = make_user("ana", tier="member"), make_user("pat", tier="participant")
    _confirm(db, pat)
    login(client, "pat")
    r = post_form(client, "/my/email", {"timezone": "Pacific/Auckland", "email_notifications": "none",
                                        "email_digest": "daily", "digest_hour": "7", "digest_weekday": "0"},
                  csrf_from="/my/email")
    assert r.status_code == 200 and "Your email settings have been saved." in r.text
    with db.read() as session:
        slot = session.get(UserOption, pat.id).next_digest_at
    # 07:00 in Auckland (NZDT, UTC+13 in November) is 18:00 UTC the day before.
    assert (slot.hour, slot.minute) == (18, 0) and utcnow() < slot <= utcnow() + timedelta(days=1)
    public = make_topic(ana, make_category("News"), title="Open day at the brewery")
    secret = make_topic(ana, make_category("Board", "members_only"), title="Brewery sale negotiations")
    outbox.tick(db, mail_settings, now=slot - timedelta(minutes=1))
    outbox.drain(db, mail_settings)
    assert smtp_server.messages == []  # not before its hour
    outbox.tick(db, mail_settings, now=slot)
    outbox.drain(db, mail_settings)
    [message] = smtp_server.wait_for(1)
    assert message["Subject"].endswith("Your daily digest")
    assert message["List-Unsubscribe"].startswith("<http://testserver/email/unsubscribe/")
    text = _parts(message)["text/plain"]
    assert public.title in text and secret.title not in text
    assert "Auckland (NZDT)" in text and "07:00 Auckland (NZDT)" in text
    with db.read() as session:
        assert session.get(UserOption, pat.id).next_digest_at == slot + timedelta(days=1)
    outbox.tick(db, mail_settings, now=slot)
    outbox.drain(db, mail_settings)
    assert len(smtp_server.messages) == 1  # sent once


def test_digest_times_follow_daylight_saving_in_the_recipients_zone():
    # Weekly on Mondays at 09:00 in London: GMT in winter, BST in summer.
    winter = emails.next_digest_time(datetime(2026, 11, 25, tzinfo=UTC), "Europe/London", 9, 0, True)
    summer = emails.next_digest_time(datetime(2026, 6, 3, tzinfo=UTC), "Europe/London", 9, 0, True)
    assert winter == datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
    assert summer == datetime(2026, 6, 8, 8, 0, tzinfo=UTC)


def test_email_settings_refuse_an_unknown_time_zone(client, make_user):
    make_user("pat", tier="participant")
    login(client, "pat")
    r = post_form(client, "/my/email", {"timezone": "Mars/Olympus_Mons", "email_notifications": "immediate",
                                        "email_digest": "weekly", "digest_hour": "25"}, csrf_from="/my/email")
    assert r.status_code == 422
    assert "Choose a time zone from the list" in r.text and "Choose an hour from 0 to 23." in r.text


def _link(message, pattern) -> str:
    return re.search(pattern, _parts(message)["text/plain"]).group(0)


def test_password_reset_link_works_once_and_expires(client, db, mail_settings, smtp_server, make_user):
    make_user("pat", tier="participant")
    r = post_form(client, "/password-reset", {"login": "pat@example.org"}, csrf_from="/password-reset")
    assert "If an account matches" in r.text
    r = post_form(client, "/password-reset", {"login": "nobody"}, csrf_from="/password-reset")
    assert "If an account matches" in r.text  # same answer, no email
    outbox.drain(db, mail_settings)
    [message] = smtp_server.wait_for(1)
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    link = _link(message, r"http://testserver/password-reset/[\w-]+")
    path = httpx.URL(link).path
    assert client.get(path).status_code == 200
    assert post_form(client, path, {"password": "short"}, csrf_from=path).status_code == 422
    r = post_form(client, path, {"password": "a-brand-new-password"}, csrf_from=path)
    assert r.status_code == 200 and "Your password has been changed." in r.text
    assert client.get(path).status_code == 400  # single use
    login(client, "pat", "a-brand-new-password")
    # A second link, expired before it is used.
    post_form(client, "/password-reset", {"login": "pat"}, csrf_from="/password-reset")
    outbox.drain(db, mail_settings)
    second = httpx.URL(_link(smtp_server.wait_for(2)[1], r"http://testserver/password-reset/[\w-]+")).path
    with db.write() as session:
        session.execute(update(EmailToken).values(expires_at=utcnow() - timedelta(seconds=1)))
    r = post_form(client.__class__(client.app), second, {"password": "yet-another-password"}, csrf_from="/login")
    assert r.status_code == 400 and "expired or has already been used" in r.text


def test_sign_up_sends_a_confirmation_link_that_confirms_the_address_once(client, db, mail_settings, smtp_server):
    r = post_form(client, "/signup", {"username": "newcomer", "email": "newcomer@example.org",
                                      "password": PASSWORD}, csrf_from="/signup")
    assert r.status_code == 303
    outbox.drain(db, mail_settings)
    [message] = smtp_server.wait_for(1)
    assert message["To"] == "newcomer@example.org" and "Confirm your email address" in message["Subject"]
    path = httpx.URL(_link(message, r"http://testserver/confirm-email/[\w-]+")).path
    assert "not confirmed yet" in client.get("/my/email").text
    assert post_form(client, path, {}, csrf_from=path).status_code == 200
    assert "confirmed" in client.get("/my/email").text and "not confirmed yet" not in client.get("/my/email").text
    assert post_form(client, path, {}, csrf_from="/login").status_code == 400
    with db.read() as session:
        user = session.scalar(select(User).where(User.username == "newcomer"))
        assert emails.options(session, user.id).email_confirmed_at is not None
        assert Viewer(user).id == user.id


def test_a_used_reset_link_cannot_set_another_password(client, db, mail_settings, smtp_server, make_user):
    make_user("pat", tier="participant")
    post_form(client, "/password-reset", {"login": "pat"}, csrf_from="/password-reset")
    outbox.drain(db, mail_settings)
    path = httpx.URL(_link(smtp_server.wait_for(1)[0], r"http://testserver/password-reset/[\w-]+")).path
    assert post_form(client, path, {"password": "a-brand-new-password"}, csrf_from=path).status_code == 200
    # Someone who saw the link (a shared inbox, a browser history) tries it again.
    other = client.__class__(client.app)
    r = post_form(other, path, {"password": "an-attackers-password"}, csrf_from="/login")
    assert r.status_code == 400 and "expired or has already been used" in r.text
    login(other, "pat", "a-brand-new-password")
    r = other.post("/login", data={"login": "pat", "password": "an-attackers-password",
                                   "csrf_token": csrf_of(other, "/login")}, follow_redirects=False)
    assert r.status_code != 303


def test_an_expired_confirmation_link_confirms_nothing(client, db, mail_settings, smtp_server):
    r = post_form(client, "/signup", {"username": "newcomer", "email": "newcomer@example.org",
                                      "password": PASSWORD}, csrf_from="/signup")
    assert r.status_code == 303
    outbox.drain(db, mail_settings)
    path = httpx.URL(_link(smtp_server.wait_for(1)[0], r"http://testserver/confirm-email/[\w-]+")).path
    with db.write() as session:  # seven days later
        session.execute(update(EmailToken).values(expires_at=utcnow() - timedelta(seconds=1)))
    assert client.get(path).status_code == 400
    r = post_form(client, path, {}, csrf_from="/login")
    assert r.status_code == 400 and "expired or has already been used" in r.text
    assert "not confirmed yet" in client.get("/my/email").text
    with db.read() as session:
        user = session.scalar(select(User).where(User.username == "newcomer"))
        assert emails.options(session, user.id).email_confirmed_at is None
