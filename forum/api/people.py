"""People: the users directory (`/directory_items.json`) and a person's summary (`/u/{username}/summary.json`).

Counts are of what the viewer may see (forum/directory.py); sign-ups awaiting approval are listed
to staff only.
"""

from __future__ import annotations

from html import escape
from typing import Any
from urllib.parse import urlencode

from forum import accounts, directory, permissions
from forum.api import serializers
from forum.api.base import ParamsDep, api_router
from forum.deps import SessionDep, ViewerDep
from forum.errors import NotFound
from forum.models import SEE, Topic, User, utcnow

router = api_router()


def _directory_user(user: User) -> dict[str, Any]:
    return {**serializers.basic_user(user), "title": None}


@router.get("/directory_items.json")
def directory_items(session: SessionDep, viewer: ViewerDep, params: ParamsDep):
    page = directory.directory(session, viewer, period=params.str("period"), order=params.str("order"),
                               ascending=params.str("asc") == "true", page=params.int("page") or 0)
    items = [{"id": item.user.id, "likes_received": item.likes_received, "likes_given": item.likes_given,
              "topics_entered": item.topics_entered, "topic_count": item.topic_count,
              "post_count": item.post_count, "posts_read": item.posts_read, "days_visited": item.days_visited,
              "user": _directory_user(item.user)} for item in page.items]
    query = {"order": page.order, "page": page.page + 1, "period": page.period}
    if page.ascending:
        query["asc"] = "true"
    return {"directory_items": items,
            "meta": {"last_updated_at": serializers.iso(utcnow()),
                     "total_rows_directory_items": page.total,
                     "load_more_directory_items": f"/directory_items?{urlencode(query)}"}}


def _summary_topic(topic: Topic) -> dict[str, Any]:
    return {"id": topic.id, "title": topic.title, "fancy_title": escape(topic.title, quote=False),
            "slug": topic.slug, "posts_count": topic.posts_count, "created_at": serializers.iso(topic.created_at),
            "category_id": topic.category_id, "like_count": topic.like_count}


def _user_with_count(entry: directory.UserCount) -> dict[str, Any]:
    return {**serializers.basic_user(entry.user), "count": entry.count}


@router.get("/u/{username}/summary.json")
@router.get("/users/{username}/summary.json")
def user_summary(session: SessionDep, viewer: ViewerDep, username: str):
    user = accounts.get_user(session, username)
    if not permissions.can_see_user(viewer, user):
        raise NotFound()
    summary = directory.summary(session, viewer, user)
    topics = {t.id: t for t in summary.top_topics}
    for _post, topic in summary.top_replies:
        topics.setdefault(topic.id, topic)
    body: dict[str, Any] = {
        "likes_given": summary.likes_given, "likes_received": summary.likes_received,
        "topics_entered": summary.topics_entered, "posts_read_count": summary.posts_read, "days_visited": 0,
        "topic_count": summary.topic_count, "post_count": summary.post_count, "time_read": 0,
        "recent_time_read": 0, "can_see_summary": True,
        "topic_ids": [t.id for t in summary.top_topics],
        "replies": [{"post_number": p.post_number, "like_count": p.like_count,
                     "created_at": serializers.iso(p.created_at), "topic_id": t.id} for p, t in summary.top_replies],
        "links": [], "most_liked_by_users": [_user_with_count(e) for e in summary.most_liked_by],
        "most_liked_users": [_user_with_count(e) for e in summary.most_liked],
        "most_replied_to_users": [_user_with_count(e) for e in summary.most_replied_to],
        "badges": [],
        "top_categories": [{"id": c.category.id, "name": c.category.name, "color": c.category.color,
                            "text_color": c.category.text_color, "slug": c.category.slug,
                            "read_restricted": c.category.level_everyone < SEE,
                            "parent_category_id": c.category.parent_id, "topic_count": c.topic_count,
                            "post_count": c.post_count} for c in summary.top_categories],
    }
    if viewer.id == user.id:
        body["bookmark_count"] = 0
    return {"topics": [_summary_topic(t) for t in topics.values()], "badges": [], "badge_types": [], "users": [],
            "user_summary": body}
