"""The avatar images that `avatar_template` names: letter avatars (forum/avatars.py draws them)
and pictures people uploaded.

A plain router, without the API-key or CSRF dependencies. A letter avatar is the same for every
visitor, so a page of forty of them costs no session lookup, and nothing there reads the database
(an address cannot reveal whether an account exists). An uploaded picture is served only under its
owner's name and current picture id, and only to those who may see that person.
"""

from __future__ import annotations

import re

from fastapi import APIRouter
from fastapi.responses import Response

from forum import accounts, avatars, permissions, uploads
from forum.deps import SessionDep, SettingsDep, ViewerDep
from forum.errors import NotFound
from forum.models import Upload
from forum.permissions import Viewer

router = APIRouter(include_in_schema=False)

# Wider than the usernames accounts may take (forum/accounts.py), so that every one of them is drawn.
USERNAME = re.compile(r"^[A-Za-z0-9_.-]{1,60}$")
VERSION = re.compile(r"^[A-Za-z0-9_]{1,40}$")
SIZE = re.compile(r"^[0-9]{1,4}$")
HEX = re.compile(r"^[0-9a-f]{6}$")
LETTER = re.compile(r"^[A-Za-z0-9]$")
VERSIONED = f"public, max-age={365 * 24 * 3600}, immutable"
# An older drawing's address gets today's image, kept for a day only.
OLDER_VERSION = "public, max-age=86400"


def _image(svg: str, cache_control: str) -> Response:
    return Response(svg, media_type="image/svg+xml", headers={"Cache-Control": cache_control})


def _missing() -> Response:
    # Not the error page: that one reads the site's languages, and a broken image needs no page.
    return Response(b"", status_code=404, media_type="text/plain")


@router.get("/letter_avatar/{username}/{size}/{version}.svg")
def letter_avatar(username: str, size: str, version: str):
    if not (USERNAME.match(username) and SIZE.match(size) and VERSION.match(version)):
        return _missing()
    return _image(avatars.letter_avatar(username, avatars.nearest_size(int(size))),
                  VERSIONED if version == avatars.VERSION else OLDER_VERSION)


@router.get("/letter_avatar_proxy/v4/letter/{letter}/{color}/{size}.png")
def letter_avatar_proxy(letter: str, color: str, size: str):
    """Discourse's CDN shape: letter and colour in the address (an SVG, whatever the suffix says)."""
    if not (LETTER.match(letter) and HEX.match(color) and SIZE.match(size)):
        return _missing()
    return _image(avatars.svg(letter.upper(), color, avatars.nearest_size(int(size))), VERSIONED)


PICTURE = re.compile(r"^([0-9]{1,10})_2\.png$")


@router.get("/user_avatar/{host}/{username}/{size}/{name}")
def user_avatar(session: SessionDep, viewer: ViewerDep, settings: SettingsDep, host: str, username: str, size: str,
                name: str):
    m = PICTURE.match(name)
    if not (m and SIZE.match(size) and USERNAME.match(username)):
        return _missing()
    try:
        user = accounts.get_user(session, username)
    except NotFound:
        return _missing()
    if user.uploaded_avatar_id != int(m.group(1)) or not permissions.can_see_user(viewer, user):
        return _missing()  # an old picture, or any other upload, is never served under this name
    upload = session.get(Upload, user.uploaded_avatar_id)
    if upload is None:
        return _missing()
    png = uploads.avatar_png(settings, upload, avatars.nearest_size(int(size)))
    shared = permissions.can_see_user(Viewer(user=None), user)
    return Response(png, media_type="image/png", headers={
        "Cache-Control": "public, max-age=86400" if shared else "private, max-age=86400",
        "X-Content-Type-Options": "nosniff"})
