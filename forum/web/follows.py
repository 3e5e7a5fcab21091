"""Following people on pages: the Follow button on a profile, and one's own lists of whom one
follows and who follows one (/u/{username}/follow/following, /u/{username}/follow/followers)."""

from __future__ import annotations

from fastapi import APIRouter, Request

from forum import accounts, follows, urls
from forum.deps import CsrfDep, SessionDep, UserViewerDep, WriteDep, see_other
from forum.web.templating import render

router = APIRouter(dependencies=[CsrfDep])


@router.post("/u/{username}/follow")
def follow(write: WriteDep, viewer: UserViewerDep, username: str):
    with write() as session:  # a refusal is shown as a 422 page with its reason
        follows.follow(session, viewer, accounts.get_user(session, username))
    return see_other(f"/u/{username}")


@router.post("/u/{username}/unfollow")
def unfollow(write: WriteDep, viewer: UserViewerDep, username: str):
    with write() as session:
        follows.unfollow(session, viewer, accounts.get_user(session, username))
    return see_other(f"/u/{username}")


@router.get("/u/{username}/follow/following")
def following(request: Request, session: SessionDep, viewer: UserViewerDep, username: str):
    return _people(request, session, viewer, username, "following")


@router.get("/u/{username}/follow/followers")
def followers(request: Request, session: SessionDep, viewer: UserViewerDep, username: str):
    return _people(request, session, viewer, username, "followers")


def _people(request: Request, session, viewer, username: str, which: str):
    user = accounts.get_user(session, username)
    listed = follows.people(session, viewer, user, which)
    return render(request, "follows.html", {"user": user, "which": which, "people": listed,
                                            "user_url": urls.user_url})
