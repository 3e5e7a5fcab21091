"""Discourse-shaped JSON for our models. Pure functions of what the services return: no queries
that decide access, and nothing here that a permission check has not already allowed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from html import escape
from typing import Any

from sqlalchemy.orm import Session

from forum import flags, permissions, urls
from forum.i18n import _
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
    "chat_invitation": 31, "chat_group_mention": 32, "watching_category_or_tag": 36, "linked_consolidated": 39,
}
# Tiers carry no flair (a group's badge on avatars).
NO_FLAIR = {"flair_name": None, "flair_url": None, "flair_bg_color": None, "flair_color": None}
POST_TYPES = {"regular": 1, "moderator_action": 2, "small_action": 3, "whisper": 4}
TRUST_LEVELS = {"newuser": 0, "basic": 1, "member": 2, "regular": 3, "leader": 4}


def iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def avatar_template(user: User) -> str:
    return urls.avatar_template(user)


def trust_level(user: User) -> int:
    return 4 if user.is_admin else TIER_TRUST_LEVELS.get(user.tier, 1)


def basic_user(user: User) -> dict[str, Any]:
    return {"id": user.id, "username": user.username, "name": user.name or None,
            "avatar_template": avatar_template(user)}


def list_user(user: User) -> dict[str, Any]:
    return {**basic_user(user), "trust_level": trust_level(user), "admin": user.is_admin,
            "moderator": user.is_moderator, "primary_group_name": TIER_GROUPS.get(user.tier), **NO_FLAIR}


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


# Discourse's watch levels as its user JSON lists them (`watched_category_ids`, …).
MUTED_LEVEL, REGULAR_LEVEL, TRACKING_LEVEL, WATCHING_LEVEL = 0, 1, 2, 3
EMAIL_ALWAYS, EMAIL_NEVER = 0, 2
DIGEST_MINUTES = {"daily": 1440, "weekly": 10080}


def user_option(user: User, option: Any | None) -> dict[str, Any]:
    """Discourse's UserOption from the account's e-mail preferences; the rest are Discourse's defaults
    for what the forum does not let people choose."""
    emails = option is None or option.email_notifications != "none"
    digest = option.email_digest if option is not None else "none"
    return {
        "user_id": user.id, "mailing_list_mode": False, "mailing_list_mode_frequency": 1,
        "email_digests": digest in DIGEST_MINUTES, "digest_after_minutes": DIGEST_MINUTES.get(digest, 10080),
        "email_level": EMAIL_ALWAYS if emails else EMAIL_NEVER,
        "email_messages_level": EMAIL_ALWAYS if emails else EMAIL_NEVER,
        "email_previous_replies": 2, "email_in_reply_to": False, "include_tl0_in_digests": False,
        "external_links_in_new_tab": False, "color_scheme_id": None, "dark_scheme_id": None,
        "dynamic_favicon": False, "enable_quoting": True, "enable_smart_lists": True,
        "enable_markdown_monospace_font": False, "automatically_unpin_topics": True,
        "auto_track_topics_after_msecs": 240000, "notification_level_when_replying": TRACKING_LEVEL,
        "new_topic_duration_minutes": 2880, "like_notification_frequency": 1, "notify_on_linked_posts": True,
        "push_notification_level": "always", "enable_upcoming_change_available_notifications": False,
        "theme_ids": [], "theme_key_seq": 0, "allow_private_messages": False, "enable_allowed_pm_users": False,
        "homepage_id": None, "hide_profile_and_presence": False, "hide_profile": False, "hide_presence": False,
        "text_size": "normal", "text_size_seq": 0, "title_count_mode": "notifications",
        "timezone": user.timezone, "skip_new_user_tips": False, "topics_unread_when_closed": True,
        "interface_color_mode": 0, "show_original_content": True, "send_shortcut": "ctrl_enter",
        "automatically_translate": False, "understood_languages": [user.locale] if user.locale else [],
    }


def _auth_token(token: Any, current: bool) -> dict[str, Any]:
    agent = token.user_agent or ""
    return {"id": token.id, "client_ip": "", "location": "", "browser": agent[:100], "device": "", "os": "",
            "icon": "", "created_at": iso(token.created_at), "seen_at": iso(token.last_used_at),
            "is_active": current}


def tier_group(user: User, *, size: int, viewer: Viewer) -> dict[str, Any]:
    """The account's tier as the Discourse group it appears as."""
    name = TIER_GROUPS[user.tier]
    return {
        "id": GROUP_IDS[name], "name": name, "display_name": name, "full_name": None, "title": None,
        "user_count": size, "automatic": False, "primary_group": True, "visibility_level": 0,
        "members_visibility_level": 0, "mentionable_level": 0, "messageable_level": 0,
        "default_notification_level": 3, "public_admission": False, "public_exit": False,
        "allow_membership_requests": False, "membership_request_template": None, "can_see_members": True,
        "can_admin_group": permissions.can_moderate(viewer), "has_messages": False, "incoming_email": None,
        "grant_trust_level": None, "publish_read_state": False, "bio_raw": None, "bio_cooked": None,
        "bio_excerpt": None, "flair_url": None, "flair_bg_color": None, "flair_color": None,
    }


def user_detail(user: User, *, topic_count: int, post_count: int, viewer: Viewer,
                extras: Any | None = None, current_token_hash: str | None = None,
                takes_messages_from_viewer: bool = False) -> dict[str, Any]:
    """`takes_messages_from_viewer`: whether the viewer may start a message with this person
    (permissions.message_refusal_for_user(), asked by the caller, which holds the session)."""
    detail = {
        **basic_user(user),
        "created_at": iso(user.created_at), "last_posted_at": iso(user.last_posted_at),
        "last_seen_at": iso(user.last_seen_at), "trust_level": trust_level(user), "admin": user.is_admin,
        "moderator": user.is_moderator, "title": None, "badge_count": 0, "post_count": post_count,
        "topic_count": topic_count, "profile_view_count": 0, "time_read": 0, "recent_time_read": 0,
        "primary_group_name": TIER_GROUPS.get(user.tier), "flair_name": None, "can_edit": viewer.id == user.id,
        "can_send_private_messages": permissions.can_send_private_messages(viewer),
        "can_send_private_message_to_user": viewer.id != user.id and permissions.can_send_private_messages(viewer)
        and takes_messages_from_viewer,
        "groups": [{"id": GROUP_IDS[TIER_GROUPS[user.tier]], "name": TIER_GROUPS[user.tier]}]
        if user.tier in TIER_GROUPS else [],
    }
    if permissions.can_see_email(viewer, user):
        detail["email"] = user.email
        detail["tier"] = user.tier
    if extras is None:
        return detail
    group_id = GROUP_IDS.get(TIER_GROUPS.get(user.tier, ""))
    inviter = extras.invited_by
    detail.update({
        "primary_group_id": group_id, "flair_group_id": None, "flair_url": None, "flair_bg_color": None,
        "flair_color": None, "uploaded_avatar_id": None, "custom_fields": {}, "featured_topic": None,
        "featured_user_badge_ids": [], "has_title_badges": False, "staged": False, "pending_count": 0,
        "invited_by": basic_user(inviter) if inviter is not None else None,
        "groups": [tier_group(user, size=extras.tier_size, viewer=viewer)] if group_id is not None else [],
        "group_users": [{"group_id": group_id, "user_id": user.id, "notification_level": 3, "owner": False}]
        if group_id is not None else [],
        # Nobody is ignored or muted here, accounts are deleted by staff, and names are everyone's own.
        "ignored": False, "muted": False, "can_ignore_user": False, "can_mute_user": False,
        "can_edit_username": False, "can_edit_email": False, "can_edit_name": viewer.id == user.id,
        "can_be_deleted": False, "can_delete_all_posts": False,
    })
    if not permissions.can_see_private_profile(viewer, user):
        return detail
    levels = extras.category_levels
    detail.update({
        "locale": user.locale, "second_factor_enabled": False, "user_option": user_option(user, extras.option),
        "muted_category_ids": [c for c, lv in levels.items() if lv == MUTED_LEVEL],
        "regular_category_ids": [c for c, lv in levels.items() if lv == REGULAR_LEVEL],
        "tracked_category_ids": [c for c, lv in levels.items() if lv == TRACKING_LEVEL],
        "watched_category_ids": [c for c, lv in levels.items() if lv == WATCHING_LEVEL],
        "watched_first_post_category_ids": [], "watching_first_post_tags": [],
        **{key: sorted(name for name, lv in extras.tag_levels.items() if lv == level)
           for key, level in (("watched_tags", WATCHING_LEVEL), ("tracked_tags", TRACKING_LEVEL),
                              ("muted_tags", MUTED_LEVEL))},
        "muted_usernames": [], "ignored_usernames": [],
        "allowed_pm_usernames": [], "mailing_list_posts_per_day": 0, "user_api_keys": None,
        "user_auth_tokens": [_auth_token(t, t.token_hash == current_token_hash) for t in extras.sessions],
        "user_notification_schedule": {"enabled": False, **{f"day_{d}_{edge}_time": t for d in range(7)
                                                            for edge, t in (("start", 480), ("end", 1020))}},
        "system_avatar_template": avatar_template(user), "system_avatar_upload_id": None,
        "use_logo_small_as_avatar": False, "can_change_bio": False, "can_change_location": False,
        "can_change_website": False, "can_change_tracking_preferences": viewer.id == user.id,
        "can_upload_profile_header": False, "can_upload_user_card_background": False,
    })
    return detail


# --- posts ------------------------------------------------------------------------------------

def flagged_post_reviewable_id(post_id: int) -> int:
    # The review queue has no table: an item's id is derived from what it is about (forum/api/review.py).
    return post_id * 2


@dataclass(frozen=True)
class Review:
    """A post's place in the review queue: its reviewable's id, its flags, and those still pending."""

    id: int
    flags: int
    pending: int


def reviews(session: Session, viewer: Viewer, post_ids: list[int]) -> dict[int, Review]:
    """The review state of the posts that have flags, for staff; nobody else learns of flags."""
    if not post_ids or not permissions.can_moderate(viewer):
        return {}
    return {post_id: Review(id=flagged_post_reviewable_id(post_id), flags=total, pending=pending)
            for post_id, (total, pending) in flags.counts_by_post(session, post_ids).items()}


def add_translations(session: Session, viewer: Viewer, posts: list[Post], data: list[dict[str, Any]]) -> None:
    """Each post's linked translations (forum/translations.py), where the viewer reads its text."""
    from forum import translations

    found = translations.for_posts(session, [p.id for p in posts])
    for p, d in zip(posts, data, strict=True):
        readable = permissions.post_display(viewer, p) is not permissions.PostDisplay.PLACEHOLDER
        d["translations"] = [translation(t) for t in found.get(p.id, [])] if readable else []


def translation(t) -> dict[str, Any]:
    return {"id": t.id, "locale": t.language, "username": t.user.username, "user_id": t.user_id,
            "raw": t.raw, "cooked": t.cooked, "version": t.version, "like_count": t.like_count,
            "created_at": iso(t.created_at), "updated_at": iso(t.updated_at)}


def post(session: Session, viewer: Viewer, p: Post, topic: Topic, *, liked: bool = False,
         include_raw: bool = False, reply_to_user: User | None = None,
         edit_reason: str | None = None, review: Review | None = None,
         in_topic_view: bool = False) -> dict[str, Any]:
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
        # Discourse's content-localization field: the language the post is written in.
        "locale": p.language,
        "post_number": p.post_number, "post_type": POST_TYPES["regular"], "posts_count": topic.posts_count,
        "updated_at": iso(p.updated_at), "reply_count": p.reply_count,
        "reply_to_post_number": p.reply_to_post_number, "quote_count": 0, "incoming_link_count": 0,
        "reads": 0, "readers_count": 0, "score": 0, "yours": viewer.id == p.user_id, "topic_id": topic.id,
        "topic_slug": topic.slug, "topic_title": topic.title, "display_username": author.name or None,
        "primary_group_name": TIER_GROUPS.get(author.tier), "flair_name": None, "flair_url": None,
        "flair_bg_color": None, "flair_color": None, "version": p.version,
        "can_edit": permissions.can_edit_post(session, viewer, p, topic),
        "can_delete": permissions.can_delete_post(session, viewer, p, topic),
        "can_recover": permissions.can_recover_post(viewer, p), "can_wiki": False, "read": True,
        "user_title": None, "bookmarked": False, "actions_summary": summary, "like_count": p.like_count,
        "moderator": author.is_moderator, "admin": author.is_admin, "staff": author.is_staff,
        "user_id": author.id, "hidden": p.hidden, "trust_level": trust_level(author),
        "deleted_at": iso(p.deleted_at), "user_deleted": False, "edit_reason": edit_reason,
        "can_view_edit_history": True, "wiki": False,
        "post_url": urls.post_url(topic, p.post_number),
        # Discourse's neutral values for what the forum has no notion of (drafts, badges, flair,
        # link tracking); the review state is real, for staff (see `reviews`).
        "draft_sequence": 0, "badges_granted": [], "flair_group_id": None, "link_counts": [],
        "can_see_hidden_post": permissions.can_moderate(viewer),
        # Inside a topic view Discourse counts 0 for "nothing to review"; elsewhere it has no count.
        "reviewable_id": review.id if review else (0 if in_topic_view else None),
        "reviewable_score_count": review.flags if review else 0,
        "reviewable_score_pending_count": review.pending if review else 0,
    }
    if reply_to_user is not None:
        data["reply_to_user"] = {"username": reply_to_user.username, "name": reply_to_user.name or None,
                                 "avatar_template": avatar_template(reply_to_user)}
    if include_raw:
        data["raw"] = p.raw
    return data


# --- topics -----------------------------------------------------------------------------------

POSTER_ROLES = (_("Original Poster"), _("Most Recent Poster"), _("Frequent Poster"))


def _posters(topic: Topic, featured: list[User] | None = None) -> list[dict[str, Any]]:
    """Discourse's poster summary: the original poster, the most frequent posters, and the most
    recent poster last; five at most, each described by the parts they played."""
    last = topic.last_post_user_id or topic.user_id
    ids = [topic.user_id, last, *[u.id for u in featured or []]]
    roles: dict[int, list[str]] = {}
    for i, uid in enumerate(ids):
        roles.setdefault(uid, []).append(POSTER_ROLES[min(i, 2)])
    chosen = list(dict.fromkeys(ids))[:5]
    if last != topic.user_id:
        chosen = [uid for uid in chosen if uid != last] + [last]
    single = len(set(ids)) == 1
    return [{"extras": ("latest single" if single else "latest") if uid == last else None,
             "description": ", ".join(roles[uid]), "user_id": uid, "primary_group_id": None,
             "flair_group_id": None} for uid in chosen]


def topic_list_item(topic: Topic, *, excerpt: str | None = None, liked: bool = False, bookmarked: bool = False,
                    featured: list[User] | None = None, tags: list[str] | None = None) -> dict[str, Any]:
    item = {
        "id": topic.id, "title": topic.title, "fancy_title": escape(topic.title, quote=False),
        "slug": topic.slug, "posts_count": topic.posts_count, "reply_count": topic.reply_count,
        "highest_post_number": topic.highest_post_number, "image_url": None,
        "created_at": iso(topic.created_at), "last_posted_at": iso(topic.last_posted_at), "bumped": True,
        "bumped_at": iso(topic.bumped_at), "archetype": topic.archetype, "unseen": False,
        # Pins are not dismissed per person here (Discourse: null until one is).
        "pinned": topic.pinned or topic.pinned_globally, "unpinned": None, "visible": topic.visible,
        "closed": topic.closed, "archived": topic.archived, "bookmarked": bookmarked, "liked": liked, "tags": tags or [],
        "tags_descriptions": {}, "views": topic.views, "like_count": topic.like_count, "has_summary": False,
        "last_poster_username": (topic.last_post_user or topic.user).username,
        "category_id": topic.category_id, "op_like_count": 0, "pinned_globally": topic.pinned_globally,
        "featured_link": None, "posters": _posters(topic, featured),
    }
    if excerpt is not None:
        item["excerpt"] = excerpt
    return item


def topic_list(topics: list[Topic], *, can_create_topic: bool, per_page: int, more_topics_url: str | None,
               extra: dict[str, Any] | None = None, liked_topic_ids: set[int] | None = None,
               bookmarked_topic_ids: set[int] | None = None, excerpts: dict[int, str] | None = None,
               featured: dict[int, list[User]] | None = None,
               tags: dict[int, list[str]] | None = None) -> dict[str, Any]:
    featured = featured or {}
    users: dict[int, User] = {}
    for t in topics:
        users.setdefault(t.user.id, t.user)
        if t.last_post_user is not None:
            users.setdefault(t.last_post_user.id, t.last_post_user)
        for u in featured.get(t.id, []):
            users.setdefault(u.id, u)
    topic_list_body: dict[str, Any] = {"can_create_topic": can_create_topic, "per_page": per_page,
                                       "top_tags": [],
                                       "topics": [topic_list_item(t, liked=t.id in (liked_topic_ids or ()),
                                                                  bookmarked=t.id in (bookmarked_topic_ids or ()),
                                                                  excerpt=(excerpts or {}).get(t.id),
                                                                  featured=featured.get(t.id),
                                                                  tags=(tags or {}).get(t.id))
                                                  for t in topics]}
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


# Category settings the forum does not have (templates, sorting, tags, e-mail in, review groups,
# auto-close, badges, featured links), with the values Discourse gives a category that uses none.
CATEGORY_NEUTRAL: dict[str, Any] = {
    "topic_template": None, "topic_title_placeholder": None, "sort_order": None, "sort_ascending": None,
    "show_subcategory_list": False, "num_featured_topics": 3, "default_view": None,
    "subcategory_list_style": "rows_with_featured_topics", "default_top_period": "all",
    "default_list_filter": "all", "minimum_required_tags": 0, "navigate_to_first_post_after_read": False,
    "custom_fields": {}, "required_tag_groups": [], "allow_global_tags": False, "read_only_banner": None,
    "available_groups": [], "auto_close_hours": None, "auto_close_based_on_last_post": False,
    "allow_unlimited_owner_edits_on_first_post": False, "default_slow_mode_seconds": None, "email_in": None,
    "email_in_allow_strangers": False, "mailinglist_mirror": False, "all_topics_wiki": False,
    "allow_badges": False, "topic_featured_link_allowed": False, "search_priority": 0,
    "topic_posting_review_group_ids": [], "reply_posting_review_group_ids": [], "uploaded_background_dark": None,
    "form_template_ids": [],
}


def category(c: Category, *, level: int, viewer: Viewer, subcategory_ids: list[int] | None = None) -> dict[str, Any]:
    subcategory_ids = subcategory_ids or []
    data = {
        "id": c.id, "name": c.name, "slug": c.slug, "color": c.color, "text_color": c.text_color,
        "description": escape(c.description) or None, "description_text": c.description or None,
        "description_excerpt": c.description[:300] or None, "topic_url": None,
        "topic_count": c.topic_count, "post_count": c.post_count, "position": c.position,
        "read_restricted": c.level_everyone < SEE, "permission": PERMISSION_TYPES.get(level),
        "notification_level": 1, "has_children": bool(subcategory_ids), "subcategory_ids": subcategory_ids,
        "topics_day": 0, "topics_week": 0, "topics_month": 0,
        "topics_year": 0, "topics_all_time": c.topic_count, "uploaded_logo": None, "uploaded_logo_dark": None,
        "uploaded_background": None, "style_type": "square", "emoji": None, "icon": None,
        "can_edit": permissions.can_moderate(viewer), "can_delete": permissions.can_moderate(viewer),
        "url": urls.category_url(c), "subcategory_count": len(subcategory_ids),
        **CATEGORY_NEUTRAL,
    }
    if c.parent_id is not None:
        data["parent_category_id"] = c.parent_id  # as in Discourse: only a subcategory names its parent
    if permissions.can_moderate(viewer):
        # Who may see a category is staff business; everyone else only learns their own level.
        data["group_permissions"] = group_permissions(c)
        named = {p["group_name"] for p in data["group_permissions"]}
        data["available_groups"] = [g for g in GROUP_IDS if g not in named]
    return data
