"""Sign-up, log-in, sessions, passwords, profiles and the first administrator."""

import re
import uuid

import pytest
from sqlalchemy import select

from forum import accounts
from forum.models import User, UserSession
from tests.conftest import PASSWORD, csrf_of, login, post_form


def signup(client, **fields):
    data = {"username": "coopworker", "email": "cw@example.org", "password": "long-enough-pass", **fields}
    return post_form(client, "/signup", data, csrf_from="/signup")


def test_signup_signs_in_with_default_tier(client, db):
    r = signup(client)
    assert r.status_code == 303
    assert "coopworker" in client.get("/latest").text
    with db.read() as session:
        user = session.scalar(select(User).where(User.username_lower == "coopworker"))
        assert user.tier == "participant"
        assert user.password_hash.startswith("$argon2id$")


def test_default_tier_is_configurable(app, client, db):
    app.state.settings.default_tier = "worker"
    try:
        assert signup(client).status_code == 303
    finally:
        app.state.settings.default_tier = "participant"
    with db.read() as session:
        assert session.scalar(select(User.tier).where(User.username_lower == "coopworker")) == "worker"


@pytest.mark.parametrize("username, message", [
    ("ab", "3 to 20 characters"),
    ("a" * 21, "3 to 20 characters"),
    ("bad name", "letters, digits"),
    ("-dash", "letters, digits"),
    ("admin", "reserved"),
    ("System", "reserved"),
    ("two..dots", "two dots"),
])
def test_signup_rejects_bad_usernames_and_keeps_input(client, db, username, message):
    r = signup(client, username=username, email="keep@example.org")
    assert r.status_code == 422
    assert message in r.text
    assert 'value="keep@example.org"' in r.text
    with db.read() as session:
        assert session.scalar(select(User.id)) is None


def test_usernames_are_unique_case_insensitively(client, make_client, make_user):
    make_user("Ana_Coop")
    r = signup(client, username="ana_coop")
    assert r.status_code == 422 and "already taken" in r.text


def test_signup_rejects_short_password_and_duplicate_email(client, make_user):
    make_user("ana")
    r = signup(client, password="short")
    assert r.status_code == 422 and "at least 10 characters" in r.text
    r = signup(client, email="ana@example.org")
    assert r.status_code == 422 and "already in use" in r.text


def test_login_failure_is_the_same_for_unknown_user_and_wrong_password(client, make_user):
    make_user("ana")
    token = csrf_of(client, "/login")
    wrong = client.post("/login", data={"login": "ana", "password": "nope-nope-nope", "csrf_token": token})
    unknown = client.post("/login", data={"login": "nobody", "password": "nope-nope-nope", "csrf_token": token})
    assert wrong.status_code == unknown.status_code == 401
    assert "Incorrect username, email or password." in wrong.text
    # The pages differ only by the name typed (and the time in their CSRF tokens, which are dated).
    def masked(page: str, name: str) -> str:
        page = re.sub(r'(name="csrf_token" value|name="csrf-token" content)="[^"]+"', r'\1=""', page)
        return page.replace(f'value="{name}"', "")

    assert masked(wrong.text, "ana") == masked(unknown.text, "nobody")


def test_login_by_email_and_session_cookie_flags(client, make_user):
    make_user("ana")
    token = csrf_of(client, "/login")
    r = client.post("/login", data={"login": "ANA@example.org", "password": PASSWORD, "csrf_token": token},
                    follow_redirects=False)
    assert r.status_code == 303
    cookie = r.headers["set-cookie"]
    assert "_t=" in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie.replace("Lax", "lax")


def test_logout_ends_the_server_side_session(client, make_client, make_user, db):
    make_user("ana")
    login(client, "ana")
    stolen = client.cookies.get("_t")
    assert post_form(client, "/logout", {}).status_code == 303
    with db.read() as session:
        assert session.scalar(select(UserSession.id)) is None
    replay = make_client()
    replay.cookies.set("_t", stolen)
    assert "Log out" not in replay.get("/latest").text


def test_login_rate_limited_per_account_with_retry_after(app, client, make_user):
    make_user("ana")
    app.state.settings.login_attempts_per_account = 3
    token = csrf_of(client, "/login")
    codes = [client.post("/login", data={"login": "ana", "password": "wrong-wrong-wrong", "csrf_token": token}
                         ).status_code for _ in range(4)]
    assert codes == [401, 401, 401, 429]
    r = client.post("/login", data={"login": "ana", "password": PASSWORD, "csrf_token": token})
    assert r.status_code == 429 and int(r.headers["Retry-After"]) > 0


def test_login_rate_limited_per_ip(app, client, make_user):
    app.state.settings.login_attempts_per_ip = 2
    token = csrf_of(client, "/login")
    codes = [client.post("/login", data={"login": f"user{i}", "password": "x" * 12, "csrf_token": token}
                         ).status_code for i in range(3)]
    assert codes == [401, 401, 429]


def test_change_password_ends_other_sessions(make_client, make_user):
    make_user("ana")
    laptop, phone = make_client(), make_client()
    login(laptop, "ana")
    login(phone, "ana")
    r = post_form(laptop, "/my/password", {"current_password": PASSWORD, "new_password": "a-brand-new-secret"},
                  csrf_from="/my/preferences")
    assert r.status_code == 200 and "password has been changed" in r.text
    assert "Log out" in laptop.get("/latest").text
    assert "Log out" not in phone.get("/latest").text
    fresh = make_client()
    login(fresh, "ana", "a-brand-new-secret")


def test_change_password_needs_current_one(client, make_user):
    make_user("ana")
    login(client, "ana")
    r = post_form(client, "/my/password", {"current_password": "not-it-at-all", "new_password": "another-secret"},
                  csrf_from="/my/preferences")
    assert r.status_code == 422 and "current password is not correct" in r.text


def test_change_display_name(client, make_user, db):
    make_user("ana")
    login(client, "ana")
    r = post_form(client, "/my/preferences", {"name": "Ana from Coop Norte"}, csrf_from="/my/preferences")
    assert r.status_code == 200 and "saved" in r.text
    assert "Ana from Coop Norte" in client.get("/u/ana").text


def test_first_admin_through_setup_link(client, db):
    with db.write() as session:
        token = accounts.setup_token(session)
    assert client.get("/setup?token=wrong").status_code == 404
    page = client.get(f"/setup?token={token}")
    assert page.status_code == 200
    r = post_form(client, "/setup", {"token": token, "username": "founder", "email": "f@example.org",
                                     "password": "founding-secret"}, csrf_from=f"/setup?token={token}")
    assert r.status_code == 303 and r.headers["location"] == "/admin"
    assert client.get("/admin").status_code == 200
    # the link works once only
    assert client.get(f"/setup?token={token}").status_code == 404
    with db.read() as session:
        assert accounts.admin_exists(session)


def test_open_redirects_are_refused(client, make_user):
    make_user("ana")
    token = csrf_of(client, "/login")
    r = client.post("/login", data={"login": "ana", "password": PASSWORD, "csrf_token": token,
                                    "next": "//evil.example/phish"}, follow_redirects=False)
    assert r.headers["location"] == "/"


def test_posting_rate_limit_answers_429_and_keeps_text(app, client, make_user, make_category, make_topic, staff):
    make_user("ana", tier="member")
    topic = make_topic(staff, make_category("News and events"))
    app.state.settings.posts_per_minute = 2
    login(client, "ana")
    codes = [post_form(client, f"/t/{topic.id}/reply", {"raw": f"Quick reply number {i}."}).status_code
             for i in range(2)]
    assert codes == [303, 303]
    r = post_form(client, f"/t/{topic.id}/reply", {"raw": "One reply too many."})
    assert r.status_code == 429 and "too many times" in r.text and "One reply too many." in r.text


def test_rate_limits_shared_through_redis(settings, db, make_user):
    import redis as redis_lib
    from fastapi.testclient import TestClient

    from forum.app import create_app
    from forum.config import Settings

    url = "redis://127.0.0.1:6379/15"
    prefix = f"forumtest-{uuid.uuid4().hex}"
    try:
        redis_lib.Redis.from_url(url).ping()
    except redis_lib.ConnectionError as e:
        from tests.conftest import _unavailable
        _unavailable(f"Redis is not reachable: {e}")
    make_user("ana")
    limited = Settings(**{**settings.model_dump(), "redis_url": url, "redis_prefix": prefix,
                                        "login_attempts_per_account": 2})
    first, second = TestClient(create_app(limited, db)), TestClient(create_app(limited, db))
    try:
        for c in (first, second):  # two app instances stand for two server processes
            token = csrf_of(c, "/login")
            assert c.post("/login", data={"login": "ana", "password": "wrong-wrong-1",
                                          "csrf_token": token}).status_code == 401
        token = csrf_of(first, "/login")
        r = first.post("/login", data={"login": "ana", "password": PASSWORD, "csrf_token": token})
        assert r.status_code == 429 and int(r.headers["Retry-After"]) > 0
    finally:
        client = redis_lib.Redis.from_url(url)
        for key in client.scan_iter(f"{prefix}:*"):
            client.delete(key)
