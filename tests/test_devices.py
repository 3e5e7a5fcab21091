"""Every device: the home-screen manifest and icons, the light and dark themes."""

from __future__ import annotations

from sqlalchemy import select

from forum.models import User
from tests.conftest import login, post_form


def test_the_forum_can_be_added_to_a_home_screen(client, settings):
    page = client.get("/latest").text
    assert '<link rel="manifest" href="/manifest.webmanifest">' in page
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in page
    manifest = client.get("/manifest.webmanifest", headers={"Accept-Language": "fr"})
    assert manifest.status_code == 200 and manifest.headers["content-type"].startswith("application/manifest+json")
    body = manifest.json()
    assert body["name"] == settings.site_title and body["start_url"] == "/" and body["display"] == "standalone"
    assert body["lang"] == "fr"
    for icon in body["icons"]:
        r = client.get(icon["src"])
        assert r.status_code == 200 and r.headers["content-type"].startswith(icon["type"])
        if icon["type"] == "image/png":
            width, height = int.from_bytes(r.content[16:20], "big"), int.from_bytes(r.content[20:24], "big")
            assert f"{width}x{height}" == icon["sizes"]


def test_the_theme_follows_the_device_unless_a_member_chooses(client, make_user, db):
    page = client.get("/latest").text
    assert "data-theme" not in page and '<meta name="color-scheme" content="light dark">' in page
    make_user("ana", tier="member")
    login(client, "ana")
    assert 'id="theme"' in client.get("/my/preferences").text
    r = post_form(client, "/my/preferences", {"name": "Ana", "theme": "dark"}, csrf_from="/my/preferences")
    assert r.status_code == 200 and '<html lang="en" data-theme="dark">' in r.text
    assert '<meta name="color-scheme" content="dark">' in client.get("/latest").text
    r = post_form(client, "/my/preferences", {"name": "Ana", "theme": "purple"}, csrf_from="/my/preferences")
    assert r.status_code == 422 and 'id="theme-error"' in r.text
    with db.read() as session:
        assert session.scalar(select(User.theme).where(User.username == "ana")) == "dark"
    post_form(client, "/my/preferences", {"name": "Ana", "theme": "system"}, csrf_from="/my/preferences")
    assert "data-theme" not in client.get("/latest").text
