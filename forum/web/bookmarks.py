"""Bookmarks on pages: the Bookmark button on each post, the bookmark page (name and reminder, in the
person's own zone), and the person's own list at /u/{username}/activity/bookmarks.

The button is a form: without JavaScript it saves the bookmark and opens its page, where a name and
a reminder can be added; our script sends it with fetch and toggles it in place.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import JSONResponse

from forum import accounts, bookmarks, permissions, posting, reading, timezones, urls
from forum.deps import CsrfDep, SessionDep, UserViewerDep, ViewerDep, WriteDep, is_fetch, see_other
from forum.errors import ValidationFailed
from forum.markdown import excerpt
from forum.models import utcnow
from forum.text import parse_id
from forum.web.templating import render

router = APIRouter(dependencies=[CsrfDep])
KEEP = "keep"


def _post_anchor(topic, post) -> str:
    return urls.post_url(topic, post.post_number) + f"#post_{post.post_number}"


def _form_page(request: Request, session, viewer, post, topic, bookmark, *, form: dict | None = None,
               errors: dict | None = None, status_code: int = 200, saved: bool = False):
    renderer = request.app.state.renderer
    locale = renderer.locale(request)
    zone = bookmarks.user_zone(viewer.user)
    current = bookmarks.when_text(bookmark.reminder_at, bookmark.reminder_zone or zone, locale) \
        if bookmark is not None and bookmark.reminder_at is not None else None
    if form is None:
        form = {"name": (bookmark.name or "") if bookmark is not None else "",
                "reminder": KEEP if current else "none"}
    return render(request, "bookmarks/edit.html", {
        "post": post, "topic": topic, "bookmark": bookmark, "form": form, "errors": errors or {},
        "options": bookmarks.reminder_options(zone, locale=locale), "zone": zone,
        "zone_label": timezones.zoned_text(utcnow(), zone, locale).label,
        "current": current, "saved": saved, "back": _post_anchor(topic, post)}, status_code=status_code)


def _readable_post(session, viewer, post_id: str):
    post, topic = posting.get_post(session, post_id)
    permissions.ensure_can_bookmark(session, viewer, topic, post)  # 404 for what the viewer may not read
    return post, topic


@router.get("/posts/{post_id}/bookmark")
def bookmark_page(request: Request, session: SessionDep, viewer: UserViewerDep, post_id: str, saved: str = ""):
    post, topic = _readable_post(session, viewer, post_id)
    return _form_page(request, session, viewer, post, topic, bookmarks.for_post(session, viewer, post.id),
                      saved=saved == "1")


@router.post("/posts/{post_id}/bookmark")
def save_bookmark(request: Request, session: SessionDep, write: WriteDep, viewer: UserViewerDep, post_id: str,
                  quick: Annotated[str, Form()] = "", name: Annotated[str, Form()] = "",
                  reminder: Annotated[str, Form()] = "none", reminder_date: Annotated[str, Form()] = "",
                  reminder_time: Annotated[str, Form()] = ""):
    post, topic = _readable_post(session, viewer, post_id)
    existing = bookmarks.for_post(session, viewer, post.id)
    page = f"/posts/{post.id}/bookmark"
    if quick == "1":  # the Bookmark button on the post
        if existing is None:
            with write() as tx:
                bookmarks.create(tx, viewer, bookmarkable_type="Post", bookmarkable_id=post.id)
        if is_fetch(request):
            made = bookmarks.for_post(session, viewer, post.id)
            return JSONResponse({"post_id": post.id, "bookmarked": True, "bookmark_id": made.id if made else None,
                                 "edit_url": page})
        return see_other(page + "?saved=1")
    form = {"name": name, "reminder": reminder, "reminder_date": reminder_date, "reminder_time": reminder_time}
    zone = bookmarks.user_zone(viewer.user)
    try:
        at = bookmarks._UNSET if reminder == KEEP and existing is not None else \
            bookmarks.reminder_from_form(reminder, reminder_date, reminder_time, zone)
        with write() as tx:
            if existing is None:
                bookmarks.create(tx, viewer, bookmarkable_type="Post", bookmarkable_id=post.id, name=name,
                                 reminder_at=None if at is bookmarks._UNSET else at)
            else:
                bookmarks.update_bookmark(tx, viewer, existing.id, name=name, reminder_at=at)
    except ValidationFailed as e:
        errors = dict(e.fields) or {"_": e.messages[0]}
        if "reminder_at" in errors:
            errors["reminder"] = errors.pop("reminder_at")
        return _form_page(request, session, viewer, post, topic, existing, form=form, errors=errors,
                          status_code=422)
    return see_other(_post_anchor(topic, post))


@router.post("/posts/{post_id}/unbookmark")
def remove_bookmark(request: Request, session: SessionDep, write: WriteDep, viewer: UserViewerDep, post_id: str):
    post, topic = _readable_post(session, viewer, post_id)
    existing = bookmarks.for_post(session, viewer, post.id)
    if existing is not None:
        with write() as tx:
            bookmarks.delete(tx, viewer, existing.id)
    if is_fetch(request):
        return JSONResponse({"post_id": post.id, "bookmarked": False})
    return see_other(_post_anchor(topic, post))


@router.post("/t/{topic_id}/bookmark")
def bookmark_topic(request: Request, session: SessionDep, write: WriteDep, viewer: UserViewerDep, topic_id: str):
    """The topic's own Bookmark button (Discourse's topic footer): a bookmark on the topic itself."""
    with write() as tx:
        if not bookmarks.topic_bookmarked(tx, viewer, parse_id(topic_id) or 0):
            bookmarks.create(tx, viewer, bookmarkable_type="Topic", bookmarkable_id=topic_id)
    topic = reading.get_topic(session, viewer, topic_id)
    return see_other(urls.topic_url(topic))


@router.post("/t/{topic_id}/remove-bookmarks")
def remove_topic_bookmarks(request: Request, session: SessionDep, write: WriteDep, viewer: UserViewerDep,
                           topic_id: str):
    """Clear all of one's bookmarks in the topic: on it and on its posts."""
    with write() as tx:
        bookmarks.delete_for_topic(tx, viewer, topic_id)
    topic = reading.get_topic(session, viewer, topic_id)
    return see_other(urls.topic_url(topic))


@router.post("/bookmarks/{bookmark_id}/delete")
def delete_bookmark(request: Request, session: SessionDep, write: WriteDep, viewer: UserViewerDep, bookmark_id: str):
    with write() as tx:
        bookmarks.delete(tx, viewer, bookmark_id)  # someone else's: 404
    assert viewer.user is not None
    return see_other(f"/u/{viewer.user.username}/activity/bookmarks")


@router.get("/u/{username}/activity/bookmarks")
def bookmarks_page(request: Request, session: SessionDep, viewer: ViewerDep, username: str, q: str = "",
                   page: str = "1"):
    owner = permissions.ensure_can_see_bookmarks(viewer, accounts.find_user(session, username))
    number = int(page) if page.isdigit() and 0 < len(page) <= 5 else 1
    found = bookmarks.list_for(session, viewer, owner, q=q, page=max(number, 1) - 1)
    locale = request.app.state.renderer.locale(request)
    zone = bookmarks.user_zone(owner)
    reminders = {i.bookmark.id: bookmarks.when_text(i.bookmark.reminder_at, i.bookmark.reminder_zone or zone, locale)
                 for i in found.items if i.bookmark.reminder_at is not None}
    return render(request, "bookmarks/list.html", {
        "owner": owner, "found": found, "q": found.q, "page": number, "reminders": reminders,
        "excerpt": lambda post: excerpt(post.cooked, 200)})
