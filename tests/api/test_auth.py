"""API keys (admin-made, hashed, one user or all users), the browser session routes and sign-up."""

import re
from datetime import timedelta

from sqlalchemy import select

from forum import apikeys, auth
from forum.models import ApiKey, User, utcnow
from forum.permissions import Viewer
from tests.api.conftest import JSON, errors_of
from tests.conftest import PASSWORD, csrf_of, login, post_form

INVALID = "You are not permitted to view the requested resource. The API username or key is invalid."


def test_single_user_key_acts_only_as_its_user(client, make_user, make_key):
    ana = make_user("ana", tier="member")
    make_user("bob")
    key = make_key(ana)
    me = client.get("/session/current.json", headers={"Api-Key": key, "Api-Username": "ana"})
    assert me.status_code == 200 and me.json()["current_user"]["username"] == "ana"
    # No Api-Username: the key's own user.
    assert client.get("/session/current.json", headers={"Api-Key": key}).json()["current_user"]["username"] == "ana"
    assert client.get("/session/current.json", headers={"Api-Key": key, "Api-User-Id": str(ana.id)}).status_code == 200
    r = client.get("/latest.json", headers={"Api-Key": key, "Api-Username": "bob"})
    assert r.status_code == 403 and errors_of(r) == [INVALID]


def test_all_users_key_acts_as_the_named_user(client, make_user, make_key):
    make_user("ana", tier="member")
    make_user("bob")
    key = make_key()
    for name in ("ana", "bob"):
        r = client.get("/session/current.json", headers={"Api-Key": key, "Api-Username": name})
        assert r.json()["current_user"]["username"] == name
    assert client.get("/latest.json", headers={"Api-Key": key}).status_code == 403
    assert client.get("/latest.json", headers={"Api-Key": key, "Api-Username": "nobody"}).status_code == 403
    # Header names are case-insensitive.
    r = client.get("/session/current.json", headers={"api-key": key, "api-username": "ANA"})
    assert r.json()["current_user"]["username"] == "ana"


def test_revoked_and_unknown_keys_are_refused(client, db, make_user, make_key, staff):
    ana = make_user("ana")
    key = make_key(ana)
    assert client.get("/latest.json", headers={"Api-Key": key}).status_code == 200
    with db.write() as s:
        key_id = s.scalar(select(ApiKey.id))
        apikeys.revoke_api_key(s, Viewer(staff), key_id)
    r = client.get("/latest.json", headers={"Api-Key": key})
    assert r.status_code == 403 and errors_of(r) == [INVALID]
    assert client.get("/latest.json", headers={"Api-Key": "f" * 64, "Api-Username": "ana"}).status_code == 403
    assert client.get("/latest.json", headers={"User-Api-Key": "whatever"}).status_code == 403


def test_keys_of_suspended_accounts_stop_working(client, db, make_user, make_key):
    ana = make_user("ana")
    key = make_key(ana)
    with db.write() as s:
        s.get(User, ana.id).suspended_until = utcnow() + timedelta(days=3)
    assert client.get("/latest.json", headers={"Api-Key": key}).status_code == 403


def test_only_a_hash_of_the_key_is_stored(db, make_user, make_key):
    secret = make_key(make_user("ana"))
    assert re.fullmatch(r"[0-9a-f]{64}", secret)
    with db.read() as s:
        row = s.scalar(select(ApiKey))
        assert row.key_hash == auth.token_hash(secret) and row.truncated_key == secret[:4]
        assert secret not in (row.key_hash, row.description)
        assert row.last_used_at is None


def test_key_use_is_recorded(client, db, make_user, make_key):
    key = make_key(make_user("ana"))
    client.get("/latest.json", headers={"Api-Key": key})
    with db.read() as s:
        assert s.scalar(select(ApiKey.last_used_at)) is not None


def test_the_api_key_form_needs_the_csrf_token(client, db, staff):
    login(client, staff.username)
    r = client.post("/admin/api-keys", data={"description": "Forged", "scope": "all", "csrf_token": "forged"})
    assert r.status_code == 403
    with db.read() as s:
        assert s.scalar(select(ApiKey)) is None


def test_admins_create_and_revoke_keys_in_the_admin_pages(client, make_user, staff):
    make_user("ana", tier="member")
    login(client, staff.username)
    assert 'href="/admin/api-keys"' in client.get("/admin").text
    page = client.get("/admin/api-keys")
    assert page.status_code == 200 and "There are no API keys." in page.text

    r = post_form(client, "/admin/api-keys", {"description": "Newsletter bot", "scope": "user", "username": "ana"},
                  csrf_from="/admin/api-keys")
    assert r.status_code == 200
    secret = re.search(r'class="api-key" readonly value="([0-9a-f]{64})"', r.text).group(1)
    assert client.get("/session/current.json", headers={"Api-Key": secret, "Api-Username": "ana",
                                                         "Accept": JSON}).status_code == 200
    listing = client.get("/admin/api-keys").text
    assert "Newsletter bot" in listing and secret[:4] in listing and secret not in listing

    r = post_form(client, "/admin/api-keys", {"description": "Sync", "scope": "all"}, csrf_from="/admin/api-keys")
    every = re.search(r'class="api-key" readonly value="([0-9a-f]{64})"', r.text).group(1)
    me = client.get("/session/current.json", headers={"Api-Key": every, "Api-Username": "staffer"})
    assert me.status_code == 200, me.text  # a refusal says why, instead of a KeyError on its body
    assert me.json()["current_user"]["username"] == "staffer"

    r = post_form(client, "/admin/api-keys", {"description": "Oops", "scope": "user", "username": "ghost"},
                  csrf_from="/admin/api-keys")
    assert r.status_code == 422 and "There is no user with that username." in r.text

    key_id = re.search(r'action="/admin/api-keys/(\d+)/revoke"', client.get("/admin/api-keys").text).group(1)
    r = post_form(client, f"/admin/api-keys/{key_id}/revoke", {}, csrf_from="/admin/api-keys")
    assert r.status_code == 303
    assert "Revoked" in client.get("/admin/api-keys").text


def test_only_admins_manage_keys(make_client, make_user):
    make_user("moe", moderator=True)
    make_user("mei", tier="member")
    for who in ("moe", "mei"):
        c = make_client()
        login(c, who)
        assert c.get("/admin/api-keys").status_code == 404
        r = post_form(c, "/admin/api-keys", {"description": "x", "scope": "all"})
        assert r.status_code == 404
    anon = make_client()
    assert anon.get("/admin/api-keys").status_code == 404


def test_an_api_key_cannot_make_api_keys(client, make_user, make_key, staff):
    key = make_key(staff)
    r = client.post("/admin/api-keys", headers={"Api-Key": key, "Api-Username": staff.username},
                    data={"description": "x", "scope": "all"})
    assert r.status_code in (403, 404)  # the admin pages read the browser session only


# --- the browser session ----------------------------------------------------------------------

def test_log_in_and_out_through_session_json(client, make_user):
    make_user("ana", tier="member")
    assert client.get("/session/current.json").status_code == 404
    assert client.get("/session/current.json").content == b""
    csrf = client.get("/session/csrf.json").json()["csrf"]
    assert csrf
    bad = client.post("/session", data={"login": "ana", "password": "wrong-password"},
                      headers={"X-CSRF-Token": csrf, "Accept": JSON})
    assert bad.status_code == 200 and bad.json() == {"error": "Incorrect username, email or password"}
    ok = client.post("/session", data={"login": "ana", "password": PASSWORD},
                     headers={"X-CSRF-Token": csrf, "Accept": JSON})
    assert ok.status_code == 200 and ok.json()["user"]["username"] == "ana"
    assert auth.SESSION_COOKIE in ok.cookies
    me = client.get("/session/current.json").json()["current_user"]
    assert me["username"] == "ana" and me["unread_notifications"] == 0
    csrf = client.get("/session/csrf.json").json()["csrf"]
    r = client.delete("/session/ana", headers={"X-CSRF-Token": csrf, "Accept": JSON})
    assert r.status_code == 200 and r.json()["redirect_url"] == "/"
    assert client.get("/session/current.json").status_code == 404


def test_session_post_without_csrf_is_refused(client, make_user):
    make_user("ana")
    r = client.post("/session.json", data={"login": "ana", "password": PASSWORD})
    assert r.status_code == 403


def test_log_in_through_json_counts_with_the_login_page(client, make_user, settings, db):
    from fastapi.testclient import TestClient

    from forum.app import create_app
    from forum.config import Settings

    make_user("ana")
    strict = Settings(**{**settings.model_dump(), "login_attempts_per_account": 2})
    with TestClient(create_app(strict, db)) as c:
        token = csrf_of(c, "/login")
        assert c.post("/login", data={"login": "ana", "password": "nope-nope-1", "csrf_token": token}).status_code == 401
        csrf = c.get("/session/csrf.json").json()["csrf"]
        assert c.post("/session.json", data={"login": "ana", "password": "nope-2"},
                      headers={"X-CSRF-Token": csrf}).json()["error"]
        r = c.post("/session.json", data={"login": "ana", "password": PASSWORD}, headers={"X-CSRF-Token": csrf})
        assert r.status_code == 429 and r.json()["extras"]["wait_seconds"] > 0


# --- sign-up and the honeypot -----------------------------------------------------------------

def _signup(client, **fields):
    csrf = client.get("/session/csrf.json").json()["csrf"]
    hp = client.get("/session/hp.json").json()
    assert set(hp) == {"value", "challenge", "expires_in"}
    data = {"name": "Bea Santos", "username": "bea", "email": "bea@example.org", "password": "a-long-password-1",
            "password_confirmation": hp["value"], "challenge": hp["challenge"][::-1], **fields}
    return client.post("/users", data=data, headers={"X-CSRF-Token": csrf, "Accept": JSON})


def test_sign_up_with_the_honeypot_dance(client, db):
    r = _signup(client)
    assert r.status_code == 200 and r.json()["success"] is True and r.json()["active"] is True
    with db.read() as s:
        user = s.get(User, r.json()["user_id"])
        assert user.username == "bea" and user.tier == "participant"


def test_a_failed_honeypot_pretends_success_and_creates_nobody(client, db):
    for fields in ({"password_confirmation": "wrong"}, {"challenge": "not-reversed"}, {"challenge": ""}):
        r = _signup(client, **fields)
        assert r.json()["success"] is True and r.json()["active"] is False
    with db.read() as s:
        assert s.scalar(select(User).where(User.username_lower == "bea")) is None


def test_sign_up_failures_are_200_with_field_errors(client):
    r = _signup(client, username="x", email="not-an-email")
    body = r.json()
    assert r.status_code == 200 and body["success"] is False
    assert set(body["errors"]) >= {"username", "email"} and body["values"]["email"] == "not-an-email"


def test_sign_ups_share_the_per_address_limit_with_the_sign_up_page(settings, db):
    from fastapi.testclient import TestClient

    from forum.app import create_app
    from forum.config import Settings

    strict = Settings(**{**settings.model_dump(), "signups_per_ip_per_hour": 1})
    with TestClient(create_app(strict, db)) as c:
        assert _signup(c).json()["success"] is True
        token = csrf_of(c, "/signup")
        r = c.post("/signup", data={"username": "cid", "email": "cid@example.org", "password": "a-long-password-2",
                                    "csrf_token": token})
        assert r.status_code == 429


def test_api_keys_in_the_query_string_are_ignored_outside_feeds(client, make_user, make_category, make_topic,
                                                                  staff, make_key):
    """As in Discourse since 2020: only headers carry keys, except on feeds."""
    mei = make_user("mei", tier="member")
    lounge = make_category("Members' lounge", "members_only")
    topic = make_topic(staff, lounge, title="Pension fund talks")
    key = make_key(mei)
    assert client.get(f"/t/{topic.id}.json", params={"api_key": key, "api_username": "mei"}).status_code == 404
    assert client.get(f"/t/{topic.id}.json", headers={"Api-Key": key, "Api-Username": "mei"}).status_code == 200
