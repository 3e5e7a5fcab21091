"""Bookmarks as Discourse answers them: POST /bookmarks.json, PUT and DELETE /bookmarks/{id}.json,
GET /u/{username}/bookmarks.json (Discourse's `user_bookmark_list`), and a topic's own
PUT /t/{id}/bookmark.json and /t/{id}/remove_bookmarks.json.

Every route acts on the caller's own bookmarks; someone else's answer 404, as missing ones do. A
bookmark whose post its owner may no longer read is listed with its own fields only (id, name,
reminder) and `"unavailable": true`: no title, excerpt, slug or address.
"""

from __future__ import annotations

import html
from datetime import timedelta
from typing import Any
from urllib.parse import quote

from fastapi import Request

from forum import accounts, bookmarks, permissions, urls
from forum.api import serializers
from forum.api.base import DiscourseJSON, ParamsDep, api_router, empty, tr
from forum.deps import SessionDep, UserViewerDep, ViewerDep, WriteDep
from forum.errors import ValidationFailed
from forum.i18n import _
from forum.markdown import excerpt
from forum.permissions import Viewer

router = api_router()
SUCCESS = {"success": "OK"}


def item_json(item: bookmarks.BookmarkItem) -> dict[str, Any]:
    """One bookmark in the shape of Discourse's UserPostBookmarkSerializer / UserTopicBookmarkSerializer."""
    b = item.bookmark
    shaped: dict[str, Any] = {
        "id": b.id, "created_at": serializers.iso(b.created_at), "updated_at": serializers.iso(b.updated_at),
        "name": b.name, "reminder_at": serializers.iso(b.reminder_at),
        "reminder_at_ics_start": b.reminder_at.strftime("%Y%m%dT%H%M%SZ") if b.reminder_at else None,
        "reminder_at_ics_end": (b.reminder_at + timedelta(hours=1)).strftime("%Y%m%dT%H%M%SZ")
        if b.reminder_at else None,
        "reminder_zone": b.reminder_zone, "reminder_last_sent_at": serializers.iso(b.reminder_last_sent_at),
        "pinned": False, "auto_delete_preference": b.auto_delete_preference,
        "bookmarkable_id": b.bookmarkable_id, "bookmarkable_type": b.bookmarkable_type,
    }
    if not item.available:
        shaped["unavailable"] = True
        return shaped
    topic, post, author = item.topic, item.post, item.author
    assert topic is not None
    number = post.post_number if post is not None else 1
    shaped.update({
        "unavailable": False,
        "title": topic.title, "fancy_title": html.escape(topic.title, quote=False),
        "excerpt": excerpt(post.cooked, 300) if post is not None else "",
        "bookmarkable_url": urls.post_url(topic, number) if post is not None else urls.topic_url(topic),
        "topic_id": topic.id, "linked_post_number": number, "slug": topic.slug,
        "deleted": bool(topic.deleted_at or (post is not None and post.deleted_at)),
        "hidden": bool(post is not None and post.hidden), "category_id": topic.category_id,
        "closed": topic.closed, "archived": topic.archived, "archetype": topic.archetype or "regular",
        "highest_post_number": topic.highest_post_number, "bumped_at": serializers.iso(topic.bumped_at),
        "tags": [],
    })
    if author is not None:
        shaped["user"] = {"id": author.id, "username": author.username, "name": author.name or None,
                          "avatar_template": urls.avatar_template(author)}
    return shaped


def add_to_posts(session, viewer: Viewer, posts, data: list[dict[str, Any]]) -> None:
    """The asker's own bookmarks on these posts, as Discourse's post serializer carries them."""
    found = bookmarks.for_posts(session, viewer, [p.id for p in posts])
    for post, shaped in zip(posts, data, strict=True):
        b = found.get(post.id)
        if b is not None:
            shaped.update(bookmarked=True, bookmark_id=b.id, bookmark_name=b.name,
                          bookmark_reminder_at=serializers.iso(b.reminder_at),
                          bookmark_auto_delete_preference=b.auto_delete_preference)


def _reminder(params, viewer: Viewer):
    if params.get("reminder_at") is None:
        return bookmarks._UNSET
    return bookmarks.parse_reminder_at(params.str("reminder_at"), bookmarks.user_zone(viewer.user))


@router.post("/bookmarks.json")
def create(session: SessionDep, write: WriteDep, viewer: UserViewerDep, params: ParamsDep):
    reminder = _reminder(params, viewer)
    with write() as tx:
        bookmark = bookmarks.create(
            tx, viewer, bookmarkable_type=params.str("bookmarkable_type") or "Post",
            bookmarkable_id=params.str("bookmarkable_id"), name=params.str("name"),
            reminder_at=None if reminder is bookmarks._UNSET else reminder,
            auto_delete_preference=params.str("auto_delete_preference"))
        tx.flush()
        bookmark_id = bookmark.id
    return {**SUCCESS, "id": bookmark_id}


@router.put("/bookmarks/{bookmark_id}.json")
def update(session: SessionDep, write: WriteDep, viewer: UserViewerDep, params: ParamsDep, bookmark_id: str):
    reminder = _reminder(params, viewer)
    with write() as tx:
        bookmarks.update_bookmark(
            tx, viewer, bookmark_id, reminder_at=reminder,
            name=params.str("name") if params.get("name") is not None else bookmarks._UNSET,
            auto_delete_preference=params.str("auto_delete_preference")
            if params.get("auto_delete_preference") is not None else bookmarks._UNSET)
    return DiscourseJSON(SUCCESS)


@router.delete("/bookmarks/{bookmark_id}.json")
def destroy(session: SessionDep, write: WriteDep, viewer: UserViewerDep, bookmark_id: str):
    with write() as tx:
        still = bookmarks.delete(tx, viewer, bookmark_id)
    return DiscourseJSON({**SUCCESS, "topic_bookmarked": still})


@router.put("/t/{topic_id}/bookmark.json")
def bookmark_topic(request: Request, session: SessionDep, write: WriteDep, viewer: UserViewerDep, topic_id: str):
    """Discourse's TopicsController#bookmark: a bookmark on the topic itself; an empty 200, or 400
    with the reason (already bookmarked, too many bookmarks); 404 for a topic the asker may not see."""
    try:
        with write() as tx:
            bookmarks.create(tx, viewer, bookmarkable_type="Topic", bookmarkable_id=topic_id)
    except ValidationFailed as e:
        return DiscourseJSON({"errors": [tr(request, m) for m in e.messages], "error_type": e.error_type},
                             status_code=400)
    return empty()


@router.put("/t/{topic_id}/remove_bookmarks.json")
def remove_topic_bookmarks(session: SessionDep, write: WriteDep, viewer: UserViewerDep, topic_id: str):
    """Discourse's TopicsController#remove_bookmarks: every bookmark of the asker's in the topic (on
    the topic and on its posts) goes; an empty 200."""
    with write() as tx:
        bookmarks.delete_for_topic(tx, viewer, topic_id)
    return empty()


@router.get("/u/{username}/bookmarks.json")
def user_bookmarks(request: Request, session: SessionDep, viewer: ViewerDep, params: ParamsDep, username: str):
    owner = permissions.ensure_can_see_bookmarks(viewer, accounts.find_user(session, username))
    found = bookmarks.list_for(session, viewer, owner, q=params.str("q") or "", page=params.int("page") or 0,
                               per_page=params.int("per_page") or bookmarks.PER_PAGE)
    if not found.items:
        return {"bookmarks": [], "no_results_help": tr(request, _(
            "Bookmark a post to find it here; add a reminder to be told about it at a time of your choosing."))}
    shaped: dict[str, Any] = {"bookmarks": [item_json(i) for i in found.items]}
    if found.has_more:
        query = f"?page={found.page + 1}" + (f"&q={quote(found.q)}" if found.q else "")
        shaped["more_bookmarks_url"] = f"/u/{owner.username}/bookmarks.json{query}"
    return {"user_bookmark_list": shaped}
