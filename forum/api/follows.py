"""Following people as Discourse's follow plugin answers it: PUT and DELETE /follow/{username}.json,
GET /u/{username}/follow/following.json and /u/{username}/follow/followers.json (the person's own,
and staff's; 404 to anyone else)."""

from __future__ import annotations

from typing import Any

from forum import accounts, follows
from forum.api import serializers
from forum.api.base import api_router
from forum.deps import SessionDep, UserViewerDep, WriteDep

router = api_router()


@router.put("/follow/{username}.json")
def follow(write: WriteDep, viewer: UserViewerDep, username: str) -> dict[str, Any]:
    with write() as session:
        follows.follow(session, viewer, accounts.get_user(session, username))
    return {"success": "OK", "following": True}


@router.delete("/follow/{username}.json")
def unfollow(write: WriteDep, viewer: UserViewerDep, username: str) -> dict[str, Any]:
    with write() as session:
        follows.unfollow(session, viewer, accounts.get_user(session, username))
    return {"success": "OK", "following": False}


@router.get("/u/{username}/follow/following.json")
def following(session: SessionDep, viewer: UserViewerDep, username: str) -> list[dict[str, Any]]:
    return [serializers.basic_user(u) for u in
            follows.people(session, viewer, accounts.get_user(session, username), "following")]


@router.get("/u/{username}/follow/followers.json")
def followers(session: SessionDep, viewer: UserViewerDep, username: str) -> list[dict[str, Any]]:
    return [serializers.basic_user(u) for u in
            follows.people(session, viewer, accounts.get_user(session, username), "followers")]
