"""Headers every HTML page carries, and caching of viewer-dependent pages."""

import pytest

from tests.conftest import login


@pytest.mark.parametrize("path", ["/latest", "/categories", "/login", "/signup", "/nowhere"])
def test_html_pages_carry_security_headers(client, path):
    r = client.get(path)
    csp = r.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp.split("script-src")[1].split(";")[0]
    assert "frame-ancestors 'self'" in csp
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["referrer-policy"]
    assert "private" in r.headers["cache-control"]


def test_signed_in_pages_are_private(client, make_user):
    make_user("ana")
    login(client, "ana")
    assert "private" in client.get("/latest").headers["cache-control"]


def test_secure_cookie_behind_https(settings, db, make_user):
    from fastapi.testclient import TestClient

    from forum.app import create_app
    from forum.config import Settings
    from tests.conftest import csrf_of

    https = Settings(**{**settings.model_dump(), "base_url": "https://forum.example.org"})
    make_user("ana")
    c = TestClient(create_app(https, db), base_url="https://testserver")
    token = csrf_of(c, "/login")
    r = c.post("/login", data={"login": "ana", "password": "correct-horse-battery", "csrf_token": token},
               follow_redirects=False)
    assert "Secure" in r.headers["set-cookie"]
