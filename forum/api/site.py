"""The site as a whole: /about.json, /site.json, /site/basic-info.json, /search.json, /notifications.json."""

from __future__ import annotations

from html import escape
from typing import Any

from forum import __version__, directory, flags, notifications, permissions, reading, search, tracking
from forum import tags as forum_tags
from forum.api import serializers
from forum.api.base import ParamsDep, api_router
from forum.deps import SessionDep, SettingsDep, UserViewerDep, ViewerDep, WriteDep
from forum.errors import ForumError
from forum.i18n import _
from forum.models import FLAG_NAMES, NORMAL, User

router = api_router()

USER_FIELD_MAX_LENGTH = 2048  # Discourse's default; the forum has no custom user fields
NO_GROUP_FLAIR = {"flair_url": None, "flair_bg_color": None, "flair_color": None}


@router.get("/about.json")
def about(session: SessionDep, viewer: ViewerDep, settings: SettingsDep):
    staff = directory.staff(session)

    def person(u: User) -> dict[str, Any]:
        return {**serializers.basic_user(u), "title": None, "last_seen_at": serializers.iso(u.last_seen_at)}

    return {"about": {
        "title": settings.site_title, "description": settings.site_description, "locale": settings.default_locale,
        "version": __version__, "https": settings.base_url.startswith("https://"), "can_see_about_stats": True,
        "stats": reading.about_stats(session, viewer),
        "admins": [person(u) for u in staff if u.is_admin],
        "moderators": [person(u) for u in staff if not u.is_admin],
        "category_moderators": [],
    }}


def _site_categories(session, viewer) -> list[dict[str, Any]]:
    levels = permissions.category_levels(session, viewer)
    cats = permissions.visible_categories(session, viewer)
    children: dict[int, list[int]] = {}
    for c in cats:
        if c.parent_id is not None:
            children.setdefault(c.parent_id, []).append(c.id)
    watching = tracking.category_levels_of(session, viewer.id)
    return [{**serializers.category(c, level=levels[c.id], viewer=viewer, subcategory_ids=children.get(c.id, [])),
             "notification_level": watching.get(c.id, NORMAL)} for c in cats]


def _post_action_type(type_id: int, name_key: str, name: str, *, is_flag: bool, custom: bool = False,
                      short: str = "", description: str = "") -> dict[str, Any]:
    return {"id": type_id, "name_key": name_key, "name": name, "is_flag": is_flag, "is_custom_flag": custom,
            "short_description": short, "description": description, "require_message": custom,
            "enabled": True, "applies_to": ["Post"] if is_flag else [], "is_used": False,
            "auto_action_type": False}


def _flag_type(type_id: int, name: str, *, custom: bool = False) -> dict[str, Any]:
    return _post_action_type(type_id, FLAG_NAMES[type_id], name, is_flag=True, custom=custom,
                             short=str(flags.FLAG_LABELS[type_id]), description=str(flags.FLAG_HELP[type_id]))


@router.get("/site.json")
def site(session: SessionDep, viewer: ViewerDep, settings: SettingsDep):
    # `everyone` is kept by the forum itself (Discourse's automatic groups); the tiers are set by staff.
    groups = [{"id": gid, "name": name, "automatic": name == "everyone", **NO_GROUP_FLAIR}
              for name, gid in serializers.GROUP_IDS.items()]
    return {
        "default_archetype": "regular",
        "notification_types": serializers.NOTIFICATION_TYPES,
        "post_types": serializers.POST_TYPES,
        "trust_levels": serializers.TRUST_LEVELS,
        "groups": groups,
        "filters": ["latest", "top", "categories"],
        "periods": list(reading.TOP_PERIODS),
        "top_menu_items": ["latest", "categories", "top"],
        "anonymous_top_menu_items": ["latest", "categories", "top"],
        "uncategorized_category_id": None,
        "post_action_types": [
            _post_action_type(2, "like", "Like", is_flag=False, short=str(_("Like this post")),
                              description=str(_("Like this post"))),
            _flag_type(3, "It's Off-Topic"),
            _flag_type(4, "It's Inappropriate"),
            _flag_type(7, "Something Else", custom=True),
            _flag_type(8, "It's Spam"),
        ],
        "topic_flag_types": [],
        "can_create_tag": permissions.can_create_tag_when_tagging(
            viewer, allowed_by_settings=settings.staff_create_tags_when_tagging),
        "can_tag_topics": bool(permissions.creatable_categories(session, viewer)), "can_tag_pms": False,
        "tags_filter_regexp": "", "top_tags": [{"id": t.tag.id, "name": t.tag.name, "slug": t.tag.name}
                                           for t in forum_tags.tag_list(session, viewer)[:10]],
        "wizard_required": False,
        "topic_featured_link_allowed_category_ids": [],
        "user_themes": [], "user_color_schemes": [], "censored_regexp": [], "custom_emoji_translation": {},
        "watched_words_replace": None, "watched_words_link": None,
        "categories": _site_categories(session, viewer),
        "archetypes": [{"id": "regular", "name": "Regular Topic", "options": []},
                       {"id": "private_message", "name": "Private Message", "options": []}],
        "user_fields": [], "auth_providers": [],
        "homepage_choices": [], "user_field_max_length": USER_FIELD_MAX_LENGTH,
        "default_light_color_scheme": None, "default_dark_color_scheme": None,
        # The sign-up form asks for a name, and does not require it.
        "full_name_required_for_signup": False, "full_name_visible_in_signup": True,
        "email_configured": bool(settings.smtp_host),
    }


@router.get("/site/basic-info.json")
def basic_info(settings: SettingsDep):
    # No logos: Discourse's neutral value for a string is the empty one.
    return {"logo_url": "", "logo_small_url": "", "apple_touch_icon_url": "", "favicon_url": "",
            "title": settings.site_title, "description": settings.site_description,
            "header_primary_color": "222222", "header_background_color": "ffffff", "login_required": False,
            "locale": settings.default_locale, "include_in_discourse_discover": False, "mobile_logo_url": ""}


@router.get("/search.json")
@router.get("/search/query.json")
def search_json(session: SessionDep, viewer: ViewerDep, params: ParamsDep):
    q = params.str("q") or params.str("term")
    if not q:
        raise ForumError(_("param is missing or the value is empty: q"))
    page = params.int("page") or 1
    result = search.search(session, viewer, q, page)
    hits = {h.post.id: h for h in result.hits}
    posts = []
    for post, topic in result.posts:
        hit = hits.get(post.id)
        posts.append({
            **serializers.basic_user(post.user), "id": post.id, "created_at": serializers.iso(post.created_at),
            "like_count": post.like_count, "post_number": post.post_number, "topic_id": topic.id,
            "blurb": hit.blurb_html if hit else escape(post.raw[:200]), "locale": post.language,
            "topic_title_headline": hit.title_html if hit else escape(topic.title),
        })
    error = result.error
    return {
        "posts": posts, "topics": [serializers.topic_list_item(t) for t in result.topics], "users": [],
        "categories": [], "tags": [], "groups": [],
        "grouped_search_result": {
            "term": q, "post_ids": [p["id"] for p in posts], "user_ids": [], "category_ids": [], "tag_ids": [],
            "group_ids": [], "more_posts": None, "more_users": None, "more_categories": None,
            "more_full_page_results": True if result.has_more else None,
            "can_create_topic": bool(permissions.creatable_categories(session, viewer)),
            "error": str(error) if error else None, "search_log_id": 0,  # searches are not logged
        },
    }


@router.get("/notifications.json")
def notifications_list(session: SessionDep, viewer: UserViewerDep, params: ParamsDep):
    assert viewer.user is not None
    page = notifications.list_for(session, viewer, limit=params.int("limit") or 60,
                                  offset=params.int("offset") or 0, filter=params.str("filter"))
    return {
        "notifications": [notifications.discourse_json(view) for view in page.items],
        "total_rows_notifications": page.total,
        "seen_notification_id": max((view.id for view in page.items), default=0),
        "load_more_notifications": f"/notifications?offset={page.offset + page.limit}"
                                   f"&username={viewer.user.username}",
    }


@router.put("/notifications/mark-read.json")
def mark_read(write: WriteDep, viewer: UserViewerDep, params: ParamsDep):
    with write() as tx:
        notifications.mark_read(tx, viewer, params.int("id"))
    return {"success": "OK"}
