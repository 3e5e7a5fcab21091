"""Every device: the home-screen manifest and icons, the light and dark themes."""

from __future__ import annotations

import re

from sqlalchemy import select

from forum.models import Topic, User
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


def _dangling(html: str) -> set[str]:
    ids = set(re.findall(r'\sid="([^"]+)"', html))
    wanted = set()
    for attr in ("aria-labelledby", "aria-describedby", "aria-controls", "for"):
        for value in re.findall(rf'\s{attr}="([^"]+)"', html):
            wanted |= set(value.split())
    return wanted - ids


def test_posts_and_their_buttons_say_which_post(client, make_user, make_category, make_topic, make_reply):
    ana, bob = make_user("ana", tier="member"), make_user("bob", tier="member")
    topic = make_topic(ana, make_category("News and events"), title="Assembly in Lisbon")
    make_reply(bob, topic, raw="A reply from bob.")
    path = f"/t/{topic.slug}/{topic.id}"
    visitor = client.get(path).text
    assert re.search(r'<article class="post[^"]*" id="post_2" [^>]*aria-label="Post 2 by bob, [^"]+ UTC"', visitor)
    assert _dangling(visitor) == set()
    login(client, "ana")
    member = client.get(path).text
    assert _dangling(member) == set()
    like = re.search(r'<button type="submit" class="like" aria-pressed="false" aria-label="([^"]+)" '
                     r'aria-describedby="(likes-\d+)">', member)
    assert like and like.group(1) == "Like post 2 by bob" and f'id="{like.group(2)}"' in member
    assert 'aria-label="Reply to post 2 by bob"' in member and 'aria-label="Quote post 2 by bob"' in member
    assert 'aria-label="Edit post 1"' in member and 'aria-label="Flag post 2 by bob"' in member
    assert 'id="live-status"' in member and 'aria-live="polite"' in member


def test_no_page_points_at_an_element_it_lacks(client, make_user, make_category, make_topic, staff):
    category = make_category("News and events")
    topic = make_topic(make_user("ana", tier="member"), category)
    pages = ["/latest", "/categories", f"/c/{category.slug}/{category.id}", f"/t/{topic.slug}/{topic.id}", "/login",
             "/signup", "/search?q=topic", "/events", "/u/ana"]
    for path in pages:
        assert _dangling(client.get(path).text) == set(), path
    login(client, staff.username)
    for path in [*pages, "/new-topic", "/my/preferences", "/my/email", "/admin", "/admin/settings", "/admin/users",
                 f"/admin/categories/{category.id}", f"/t/{topic.id}/reply"]:
        assert _dangling(client.get(path).text) == set(), path


def test_a_topic_page_stays_light(client, make_user, make_category, make_topic, make_reply):
    """A first visit to a 20-post topic page, with its styles and scripts, under 100 KB as sent (gzip)."""
    ana = make_user("ana", tier="member")
    topic = make_topic(ana, make_category("News and events"), raw="A first post of a realistic length. " * 20)
    for n in range(19):
        make_reply(ana, topic, raw=f"Reply {n}: " + "a sentence of a realistic reply. " * 12)
    gzip_only = {"Accept-Encoding": "gzip"}
    page = client.get(f"/t/{topic.slug}/{topic.id}", headers=gzip_only)
    assert page.status_code == 200 and 'id="post_20"' in page.text
    assert page.headers["content-encoding"] == "gzip"
    assets = re.findall(r'(?:href|src)="(/static/[^"]+\.(?:css|js|svg)(?:\?v=[0-9a-f]+)?)"', page.text)
    assert any(".css" in a for a in assets) and any(".js" in a for a in assets)
    total = int(page.headers["content-length"])  # bytes on the wire
    for asset in set(assets):
        r = client.get(asset, headers=gzip_only)
        assert r.status_code == 200, asset
        total += int(r.headers["content-length"])
    assert total < 100_000, f"{total} bytes"


def test_jump_to_the_first_unread_post_and_the_last(client, db, make_user, make_category, make_topic, make_reply):
    from forum import tracking
    from forum.permissions import Viewer

    ana, bob = make_user("ana", tier="member"), make_user("bob", tier="member")
    topic = make_topic(ana, make_category("News and events"))
    for n in range(4):
        make_reply(ana, topic, raw=f"Reply number {n}.")
    path = f"/t/{topic.slug}/{topic.id}"
    visitor = client.get(path).text
    assert f'href="{path}/5#post_5">Jump to the last post</a>' in visitor
    assert "first unread" not in visitor
    with db.write() as session:
        tracking.mark_read(session, Viewer(session.get(User, bob.id)), session.get(Topic, topic.id), 2)
    login(client, "bob")
    client.cookies.set("forum_js", "1")  # with scripts, posts count as read as they scroll by, not by page views
    page = client.get(path).text
    assert f'href="{path}/3#post_3">Jump to the first unread post</a>' in page
