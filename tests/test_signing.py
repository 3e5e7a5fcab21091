"""Signed CSRF tokens and unsubscribe links: expiry, key rotation, and links mailed before the change."""

import hashlib
import hmac
import time

from fastapi.testclient import TestClient
from sqlalchemy import select

from forum import auth, emails, honeypot, signing, sitestate
from forum.models import UserOption
from forum.models.notifications import EMAIL_IMMEDIATE
from tests.conftest import csrf_of, login
from tests.test_cli import forum


def _restarted(settings, db):
    from forum.app import create_app

    return TestClient(create_app(settings, db))


def _wants_email(db, user_id) -> bool:
    with db.read() as session:
        opts = session.scalar(select(UserOption).where(UserOption.user_id == user_id))
        return opts is None or opts.email_notifications == EMAIL_IMMEDIATE


def test_csrf_token_is_signed_for_its_session_and_refused_once_it_is_too_old(client, app, make_user):
    make_user("ana")
    login(client, "ana")
    token = csrf_of(client, "/my/preferences")
    r = client.post("/my/preferences", data={"name": "Ana", "csrf_token": token})
    assert r.status_code == 200 and "saved" in r.text

    # The same session, with a token dated past the limit: the form is refused, its text kept.
    old_signer = signing.timed_signer(app.state.secret_keys, signing.CSRF)
    old_signer.get_timestamp = lambda: int(time.time()) - auth.CSRF_MAX_AGE - 60
    value = token.split(".")[0]
    stale = old_signer.sign(value).decode()
    r = client.post("/my/preferences", data={"name": "Ana Old Tab", "csrf_token": stale})
    assert r.status_code == 403 and "This form has expired" in r.text
    assert "Ana Old Tab" not in client.get("/u/ana").text


def test_csrf_token_does_not_reveal_the_session_it_belongs_to(client, make_user):
    make_user("ana")
    login(client, "ana")
    token = csrf_of(client, "/my/preferences")
    assert client.cookies.get(auth.SESSION_COOKIE) not in token


def test_forms_and_unsubscribe_links_from_before_a_key_rotation_keep_working(settings, db, app, client, make_user):
    ana = make_user("ana")
    login(client, "ana")
    token = csrf_of(client, "/my/preferences")
    link = emails.unsubscribe_path(app.state.secret_key, ana.id, "notifications")

    sitestate.rotate_secret_key(db)
    with _restarted(settings, db) as after:
        after.cookies.update(client.cookies)
        assert after.app.state.secret_key != app.state.secret_key
        r = after.post("/my/preferences", data={"name": "Ana", "csrf_token": token})
        assert r.status_code == 200 and "saved" in r.text
        # New links are signed with the new key.
        assert emails.unsubscribe_path(after.app.state.secret_key, ana.id, "notifications") != link
        assert after.post(link).status_code == 200
        assert not _wants_email(db, ana.id)


def test_a_key_dropped_by_rotations_no_longer_verifies(settings, db, app, make_user):
    ana = make_user("ana")
    link = emails.unsubscribe_path(app.state.secret_key, ana.id, "notifications")
    sitestate.rotate_secret_key(db, keep=1)
    sitestate.rotate_secret_key(db, keep=1)  # the first key is dropped now
    with _restarted(settings, db) as after:
        assert after.post(link).status_code == 404
        assert _wants_email(db, ana.id)


def test_unsubscribe_links_mailed_before_signed_links_changed_still_work(client, app, db, make_user):
    ana = make_user("ana")
    old = hmac.new(app.state.secret_key.encode(), f"unsubscribe:{ana.id}:all".encode(),
                   hashlib.sha256).hexdigest()[:40]
    # A link signed for another person or another choice is refused, in the old format as in the new.
    assert client.post(f"/email/unsubscribe/{ana.id}/notifications/{old}").status_code == 404
    assert client.post(f"/email/unsubscribe/{ana.id + 1}/all/{old}").status_code == 404
    assert client.post(f"/email/unsubscribe/{ana.id}/all/{old}").status_code == 200
    assert not _wants_email(db, ana.id)


def test_an_unsubscribe_signature_is_good_for_nothing_else(client, app, db, make_user):
    ana = make_user("ana")
    signature = emails.unsubscribe_signature(app.state.secret_key, ana.id, "digest")
    assert client.post(f"/email/unsubscribe/{ana.id}/notifications/{signature}").status_code == 404
    # Nor is a CSRF signature made with the same key a valid unsubscribe signature.
    csrf = signing.signature(app.state.secret_key, signing.CSRF, f"{ana.id}:notifications")
    assert client.post(f"/email/unsubscribe/{ana.id}/notifications/{csrf}").status_code == 404
    assert client.get(f"/email/unsubscribe/{ana.id}/notifications/not-a-signature-é").status_code == 404
    assert _wants_email(db, ana.id)


def test_rotate_secret_key_command_keeps_the_previous_keys_it_is_asked_to(database_url, db):
    first = sitestate.secret_key(db)
    r = forum(database_url, "rotate-secret-key")
    assert r.returncode == 0, r.stderr
    assert "Restart every forum process" in r.stdout
    keys = sitestate.secret_keys(db)
    assert keys[0] != first and keys[1:] == (first,)
    r = forum(database_url, "rotate-secret-key", "--keep", "0")
    assert r.returncode == 0, r.stderr
    assert len(sitestate.secret_keys(db)) == 1
    assert forum(database_url, "rotate-secret-key", "--keep", "-1").returncode == 2


def test_a_honeypot_answer_is_refused_once_its_five_minutes_are_over(app):
    keys = app.state.secret_keys
    fresh = honeypot.new_challenge(app.state.secret_key)
    assert honeypot.passes(keys, fresh["value"], fresh["challenge"][::-1])
    assert not honeypot.passes(keys, fresh["value"], fresh["challenge"])  # not reversed
    old = signing.timed_signer(keys, signing.HONEYPOT)
    old.get_timestamp = lambda: int(time.time()) - honeypot.EXPIRES_IN - 5
    challenge = "ab" * 16
    assert not honeypot.passes(keys, old.sign(challenge).decode(), challenge[::-1])
    # A value signed for another purpose with the same key is no answer either.
    csrf_like = signing.timed_signer(keys, signing.CSRF).sign(challenge).decode()
    assert not honeypot.passes(keys, csrf_like, challenge[::-1])
