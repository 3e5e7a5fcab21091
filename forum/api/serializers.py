"""Discourse-shaped JSON for our models. Pure functions of what the services return: no queries
that decide access, and nothing here that a permission check has not already allowed.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from html import escape
from typing import Any

from sqlalchemy.orm import Session

from forum import permissions, urls
from forum.models import CREATE, REPLY, SEE, Category, Post, Topic, User
from forum.permissions import Viewer

# Tiers appear to Discourse clients as groups.
TIER_GROUPS = {"member": "members", "worker": "workers", "participant": "participants"}
GROUP_TIERS = {v: k for k, v in TIER_GROUPS.items()}
GROUP_IDS = {"everyone": 0, "members": 10, "workers": 11, "participants": 12}
TIER_TRUST_LEVELS = {"participant": 1, "worker": 2, "member": 3}
# Discourse's category permission types, and our levels.
PERMISSION_TYPES = {CREATE: 1, REPLY: 2, SEE: 3}
LEVELS_BY_PERMISSION_TYPE = {v: k for k, v in PERMISSION_TYPES.items()}

NOTIFICATION_TYPES = {
    "mentioned": 1, "replied": 2, "quoted": 3, "edited": 4, "liked": 5, "private_message": 6,
    "invited_to_private_message": 7, "invitee_accepted": 8, "posted": 9, "moved_post": 10, "linked": 11,
    "granted_badge": 12, "invited_to_topic": 13, "custom": 14, "group_mentioned": 15,
    "group_message_summary": 16, "watching_first_post": 17, "topic_reminder": 18, "liked_consolidated": 19,
    "post_approved": 20, "code_review_commit_approved": 21, "membership_request_accepted": 22,
    "membership_request_consolidated": 23, "bookmark_reminder": 24, "reaction": 25, "votes_released": 26,
    "event_reminder": 27, "event_invitation": 28, "chat_mention": 29, "chat_message": 30,
}
POST_TYPES = {"regular": 1, "moderator_action": 2, "small_action": 3, "whisper": 4}
TRUST_LEVELS = {"newuser": 0, "basic": 1, "member": 2, "regular": 3, "leader": 4}


def iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def avatar_template(user: User) -> str:
    letter = (user.username[:1] or "x").lower()
    color = hashlib.md5(user.username_lower.encode(), usedforsecurity=False).hexdigest()[:6]
    return f"/letter_avatar_proxy/v4/letter/{letter}/{color}/{{size}}.png"


def trust_level(user: User) -> int:
    return 4 if user.is_admin else TIER_TRUST_LEVELS.get(user.tier, 1)


def basic_user(user: User) -> dict[str, Any]:
    return {"id": user.id, "username": user.username, "name": user.name or None,
            "avatar_template": avatar_template(user)}


def list_user(user: User) -> dict[str, Any]:
    return {**basic_user(user), "trust_level": trust_level(user), "admin": user.is_admin,
            "moderator": user.is_moderator, "primary_group_name": TIER_GROUPS.get(user.tier)}


def current_user(user: User, *, can_create_topic: bool, unread_notifications: int = 0) -> dict[str, Any]:
    return {
        **basic_user(user), "admin": user.is_admin, "moderator": user.is_moderator, "staff": user.is_staff,
        "trust_level": trust_level(user), "title": None, "unread_notifications": unread_notifications,
        "unread_high_priority_notifications": 0, "read_first_notification": True,
        "can_create_topic": can_create_topic, "timezone": user.timezone, "locale": user.locale,
        "groups": [{"id": GROUP_IDS[TIER_GROUPS[user.tier]], "name": TIER_GROUPS[user.tier]}]
        if user.tier in TIER_GROUPS else [],
        "primary_group_name": TIER_GROUPS.get(user.tier),
    }


def user_detail(user: User, *, topic_count: int, post_count: int, viewer: Viewer) -> dict[str, Any]:
    detail = {
        **basic_user(user),
        "created_at": iso(user.created_at), "last_posted_at": iso(user.last_posted_at),
        "last_seen_at": iso(user.last_seen_at), "trust_level": trust_level(user), "admin": user.is_admin,
        "moderator": user.is_moderator, "title": None, "badge_count": 0, "post_count": post_count,
        "topic_count": topic_count, "profile_view_count": 0, "time_read": 0, "recent_time_read": 0,
        "primary_group_name": TIER_GROUPS.get(user.tier), "flair_name": None, "can_edit": viewer.id == user.id,
        "can_send_private_messages": False, "can_send_private_message_to_user": False,
        "groups": [{"id": GROUP_IDS[TIER_GROUPS[user.tier]], "name": TIER_GROUPS[user.tier]}]
        if user.tier in TIER_GROUPS else [],
    }
    if permissions.can_see_email(viewer, user):
        detail["email"] = user.email
        detail["tier"] = user.tier
    return detail


# --- posts ------------------------------------------------------------------------------------

def post(session: Session, viewer: Viewer, p: Post, topic: Topic, *, liked: bool = False,
         include_raw: bool = False, reply_to_user: User | None = None,
         edit_reason: str | None = None) -> dict[str, Any]:
    author = p.user
    can_like = permissions.can_like_post(session, viewer, p, topic)
    summary: list[dict[str, Any]] = []
    if p.like_count or liked or can_like:
        like: dict[str, Any] = {"id": 2, "count": p.like_count}
        if liked:
            like.update(acted=True, can_undo=True)
        elif can_like:
            like["can_act"] = True
        summary.append(like)
    data: dict[str, Any] = {
        "id": p.id, "name": author.name or None, "username": author.username,
        "avatar_template": avatar_template(author), "created_at": iso(p.created_at), "cooked": p.cooked,
        "post_number": p.post_number, "post_type": POST_TYPES["regular"], "posts_count": topic.posts_count,
        "updated_at": iso(p.updated_at), "reply_count": p.reply_count,
        "reply_to_post_number": p.reply_to_post_number, "quote_count": 0, "incoming_link_count": 0,
        "reads": 0, "readers_count": 0, "score": 0, "yours": viewer.id == p.user_id, "topic_id": topic.id,
        "topic_slug": topic.slug, "topic_title": topic.title, "display_username": author.name or None,
        "primary_group_name": TIER_GROUPS.get(author.tier), "flair_name": None, "flair_url": None,
        "flair_bg_color": None, "flair_color": None, "version": p.version,
        "can_edit": permissions.can_edit_post(session, viewer, p, topic),
        "can_delete": permissions.can_delete_post(session, viewer, p, topic),
        "can_recover": viewer.is_staff and p.deleted_at is not None, "can_wiki": False, "read": True,
        "user_title": None, "bookmarked": False, "actions_summary": summary, "like_count": p.like_count,
        "moderator": author.is_moderator, "admin": author.is_admin, "staff": author.is_staff,
        "user_id": author.id, "hidden": p.hidden, "trust_level": trust_level(author),
        "deleted_at": iso(p.deleted_at), "user_deleted": False, "edit_reason": edit_reason,
        "can_view_edit_history": True, "wiki": False,
        "post_url": urls.post_url(topic, p.post_number),
    }
    if reply_to_user is not None:
        data["reply_to_user"] = {"username": reply_to_user.username, "name": reply_to_user.name or None,
                                 "avatar_template": avatar_template(reply_to_user)}
    if include_raw:
        data["raw"] = p.raw
    return data


# --- topics -----------------------------------------------------------------------------------

def _posters(topic: Topic) -> list[dict[str, Any]]:
    last = topic.last_post_user_id or topic.user_id
    if last == topic.user_id:
        return [{"extras": "latest single", "description": "Original Poster, Most Recent Poster",
                 "user_id": topic.user_id, "primary_group_id": None, "flair_group_id": None}]
    return [
        {"extras": None, "description": "Original Poster", "user_id": topic.user_id,
         "primary_group_id": None, "flair_group_id": None},
        {"extras": "latest", "description": "Most Recent Poster", "user_id": last,
         "primary_group_id": None, "flair_group_id": None},
    ]


def topic_list_item(topic: Topic, *, excerpt: str | None = None) -> dict[str, Any]:
    item = {
        "id": topic.id, "title": topic.title, "fancy_title": escape(topic.title, quote=False),
        "slug": topic.slug, "posts_count": topic.posts_count, "reply_count": topic.reply_count,
        "highest_post_number": topic.highest_post_number, "image_url": None,
        "created_at": iso(topic.created_at), "last_posted_at": iso(topic.last_posted_at), "bumped": True,
        "bumped_at": iso(topic.bumped_at), "archetype": "regular", "unseen": False,
        "pinned": topic.pinned or topic.pinned_globally, "unpinned": None, "visible": topic.visible,
        "closed": topic.closed, "archived": topic.archived, "bookmarked": None, "liked": None, "tags": [],
        "tags_descriptions": {}, "views": topic.views, "like_count": topic.like_count, "has_summary": False,
        "last_poster_username": (topic.last_post_user or topic.user).username,
        "category_id": topic.category_id, "op_like_count": 0, "pinned_globally": topic.pinned_globally,
        "featured_link": None, "posters": _posters(topic),
    }
    if excerpt is not None:
        item["excerpt"] = excerpt
    return item


def topic_list(topics: list[Topic], *, can_create_topic: bool, per_page: int, more_topics_url: str | None,
               extra: dict[str, Any] | None = None) -> dict[str, Any]:
    users: dict[int, User] = {}
    for t in topics:
        users.setdefault(t.user.id, t.user)
        if t.last_post_user is not None:
            users.setdefault(t.last_post_user.id, t.last_post_user)
    topic_list_body: dict[str, Any] = {"can_create_topic": can_create_topic, "per_page": per_page,
                                       "top_tags": [], "topics": [topic_list_item(t) for t in topics]}
    if more_topics_url:
        topic_list_body["more_topics_url"] = more_topics_url
    topic_list_body.update(extra or {})
    return {"users": [list_user(u) for u in users.values()], "primary_groups": [], "flair_groups": [],
            "topic_list": topic_list_body}


# --- categories -------------------------------------------------------------------------------

def group_permissions(category: Category) -> list[dict[str, Any]]:
    perms = []
    for audience, group in [("everyone", "everyone"), *[(t, g) for t, g in TIER_GROUPS.items()]]:
        level = category.level_for(audience)
        if level in PERMISSION_TYPES:
            perms.append({"permission_type": PERMISSION_TYPES[level], "group_name": group,
                          "group_id": GROUP_IDS[group]})
    return perms


def category(c: Category, *, level: int, viewer: Viewer, subcategory_ids: list[int] | None = None) -> dict[str, Any]:
    subcategory_ids = subcategory_ids or []
    data = {
        "id": c.id, "name": c.name, "slug": c.slug, "color": c.color, "text_color": c.text_color,
        "description": escape(c.description) or None, "description_text": c.description or None,
        "description_excerpt": c.description[:300] or None, "topic_url": None,
        "topic_count": c.topic_count, "post_count": c.post_count, "position": c.position,
        "read_restricted": c.level_everyone < SEE, "permission": PERMISSION_TYPES.get(level),
        "notification_level": 1, "has_children": bool(subcategory_ids), "subcategory_ids": subcategory_ids,
        "parent_category_id": c.parent_id, "topics_day": 0, "topics_week": 0, "topics_month": 0,
        "topics_year": 0, "topics_all_time": c.topic_count, "uploaded_logo": None, "uploaded_logo_dark": None,
        "uploaded_background": None, "style_type": "square", "emoji": None, "icon": None,
        "can_edit": permissions.can_moderate(viewer), "can_delete": permissions.can_moderate(viewer),
        "url": urls.category_url(c),
    }
    if permissions.can_moderate(viewer):
        # Who may see a category is staff business; everyone else only learns their own level.
        data["group_permissions"] = group_permissions(c)
    return data
