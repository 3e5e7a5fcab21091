"""Tiers as Discourse groups: reading them (`/groups.json`, `/groups/{name}.json`,
`/groups/{name}/members.json`) and changing a user's tier. Tiers are Discourse groups here (`members` 10, `workers` 11,
`participants` 12), so a tier is changed the way Discourse clients add someone to a group:
`PUT /groups/{id}/members.json` (`usernames`, `user_ids` or `user_emails`, comma-separated; pydiscourse
`add_group_member(s)`) or `POST /admin/users/{id}/groups.json` (`group_id`; pydiscourse
`add_user_to_group`). Every account holds exactly one tier, so joining a tier's group leaves the
previous one, and removing someone from a tier group is refused with 422. Staff only (404 for anyone
else); each change is the same logged tier change as on the user's admin page.
"""

from __future__ import annotations

from typing import Any

from forum import accounts, directory, permissions, user_admin
from forum.api import serializers
from forum.api.base import ParamsDep, api_router
from forum.deps import SessionDep, UserViewerDep, ViewerDep, WriteDep
from forum.errors import NotFound, ValidationFailed
from forum.i18n import _
from forum.models import User
from forum.text import parse_id

router = api_router()

TIER_GROUP_NAMES = tuple(serializers.TIER_GROUPS.values())
# Discourse's visibility levels; 0 = public: who holds which tier shows on every profile anyway.
PUBLIC = 0
# Discourse's default notification level for a group's messages (watching).
GROUP_DEFAULT_NOTIFICATION_LEVEL = 3
MEMBERS_PAGE = 50
MEMBERS_MAX = 1000

TIER_BY_GROUP_ID = {gid: serializers.GROUP_TIERS[name] for name, gid in serializers.GROUP_IDS.items()
                    if name in serializers.GROUP_TIERS}
ONE_TIER = _("Every account holds exactly one tier: to take someone out of this group, add them to another "
             "tier's group.")


def _tier(group: str | None) -> str:
    """The tier of a group named by id (as Discourse clients do) or by name."""
    if group in serializers.GROUP_TIERS:
        return serializers.GROUP_TIERS[group]
    gid = parse_id(group)
    if gid not in TIER_BY_GROUP_ID:
        raise NotFound()
    return TIER_BY_GROUP_ID[gid]


def _split(params, name: str) -> list[str]:
    return [v.strip() for value in params.list(name) for v in value.split(",") if v.strip()]


@router.put("/groups/{group_id}/members.json")
def add_members(session: SessionDep, write: WriteDep, viewer: UserViewerDep, params: ParamsDep, group_id: str):
    permissions.ensure_can_moderate(viewer)
    tier = _tier(group_id)
    usernames, emails = _split(params, "usernames"), [e.lower() for e in _split(params, "user_emails")]
    ids = [i for i in (parse_id(v) for v in _split(params, "user_ids")) if i is not None]
    if not (usernames or emails or ids):
        raise ValidationFailed(_("Name the people to add: usernames, user_ids or user_emails."))
    wanted = accounts.users_matching(session, usernames=usernames, emails=emails, ids=ids)
    found = {u.username_lower for u in wanted} | {u.email for u in wanted if u.email} | {str(u.id) for u in wanted}
    missing = [n for n in usernames if n.lower() not in found] + [e for e in emails if e not in found]
    missing += [str(i) for i in ids if str(i) not in found]
    if missing:
        raise ValidationFailed(_("No such accounts: %(names)s", names=", ".join(missing)))
    changing = [u for u in wanted if u.tier != tier]
    if not changing:
        raise ValidationFailed(_("Already in this group: %(names)s.", names=", ".join(u.username for u in wanted)))
    reason = params.str("reason") or ""
    with write() as tx:
        for user in changing:
            user_admin.set_tier(tx, viewer, user.id, tier, reason=reason)
    return {"success": "OK", "usernames": [u.username for u in changing],
            "emails": [u.email for u in changing if u.email and u.email in emails]}


@router.delete("/groups/{group_id}/members.json")
def remove_members(viewer: UserViewerDep, group_id: str):
    permissions.ensure_can_moderate(viewer)
    _tier(group_id)
    raise ValidationFailed(ONE_TIER)


@router.post("/admin/users/{user_id:int}/groups.json")
def add_user_to_group(write: WriteDep, viewer: UserViewerDep, params: ParamsDep, user_id: int):
    permissions.ensure_can_moderate(viewer)
    tier = _tier(params.str("group_id"))
    with write() as tx:
        user_admin.set_tier(tx, viewer, user_id, tier, reason=params.str("reason") or "")
    return {"success": "OK"}


@router.delete("/admin/users/{user_id:int}/groups/{group_id}.json")
def remove_user_from_group(viewer: UserViewerDep, user_id: int, group_id: str):
    permissions.ensure_can_moderate(viewer)
    _tier(group_id)
    raise ValidationFailed(ONE_TIER)


# --- reading tiers as groups ------------------------------------------------------------------

def _group_name(name: str) -> str:
    if name.lower() not in TIER_GROUP_NAMES:
        raise NotFound()
    return name.lower()


def group_json(name: str, *, user_count: int, viewer) -> dict[str, Any]:
    """The fields every Discourse group serializer shares (the admin user page lists groups so)."""
    return {
        "id": serializers.GROUP_IDS[name], "automatic": False, "name": name,
        "display_name": name.capitalize(), "user_count": user_count, "mentionable_level": PUBLIC,
        "messageable_level": PUBLIC, "visibility_level": PUBLIC, "primary_group": True, "title": None,
        "grant_trust_level": None, "incoming_email": None, "has_messages": False, "flair_url": None,
        "flair_bg_color": None, "flair_color": None, "bio_raw": None, "bio_cooked": None, "bio_excerpt": None,
        "public_admission": False, "public_exit": False, "allow_membership_requests": False, "full_name": None,
        "default_notification_level": GROUP_DEFAULT_NOTIFICATION_LEVEL, "membership_request_template": None,
        "members_visibility_level": PUBLIC, "can_see_members": True,
        "can_admin_group": permissions.can_moderate(viewer), "publish_read_state": False,
    }


def _listed_group(name: str, *, user_count: int, viewer) -> dict[str, Any]:
    tier = serializers.GROUP_TIERS[name]
    return {**group_json(name, user_count=user_count, viewer=viewer), "is_group_user": viewer.tier == tier,
            "is_group_owner": False, "can_edit_group": permissions.can_moderate(viewer)}


@router.get("/groups.json")
def list_groups(session: SessionDep, viewer: ViewerDep):
    counts = directory.tier_counts(session, viewer)
    groups = [_listed_group(name, user_count=counts.get(serializers.GROUP_TIERS[name], 0), viewer=viewer)
              for name in TIER_GROUP_NAMES]
    return {"groups": groups, "extras": {"type_filters": ["my", "public"] if viewer.user else ["public"]},
            "total_rows_groups": len(groups), "load_more_groups": "/groups?page=1"}


@router.get("/groups/{name}.json")
def show_group(session: SessionDep, viewer: ViewerDep, name: str):
    name = _group_name(name)
    tier = serializers.GROUP_TIERS[name]
    group = {
        **_listed_group(name, user_count=directory.tier_counts(session, viewer).get(tier, 0), viewer=viewer),
        "is_group_owner_display": False, "mentionable": False, "messageable": False,
        "automatic_membership_email_domains": None, "smtp_server": None, "smtp_port": None, "smtp_ssl_mode": None,
        "email_username": None, "email_password": None, "message_count": 0,
        "allow_unknown_sender_topic_replies": False, "watching_category_ids": [], "tracking_category_ids": [],
        "watching_first_post_category_ids": [], "regular_category_ids": [], "muted_category_ids": [],
    }
    for listed_only in ("is_group_owner", "display_name"):  # not in Discourse's group detail
        group.pop(listed_only)
    return {"group": group, "extras": {"visible_group_names": list(TIER_GROUP_NAMES)}}


def _member(user: User) -> dict[str, Any]:
    # Discourse's schema types these times as strings: an account that has not posted (or not been
    # seen) reports when it joined, which is also when it took its tier as far as the forum knows.
    joined = serializers.iso(user.created_at)
    return {**serializers.basic_user(user), "title": None,
            "last_posted_at": serializers.iso(user.last_posted_at) or joined,
            "last_seen_at": serializers.iso(user.last_seen_at) or joined, "added_at": joined,
            "timezone": user.timezone or "UTC"}


@router.get("/groups/{name}/members.json")
def group_members(session: SessionDep, viewer: ViewerDep, params: ParamsDep, name: str):
    tier = serializers.GROUP_TIERS[_group_name(name)]
    limit = min(max(params.int("limit") or MEMBERS_PAGE, 1), MEMBERS_MAX)
    offset = min(max(params.int("offset") or 0, 0), 10_000_000)
    total, users = directory.tier_members(session, viewer, tier, limit=limit, offset=offset)
    return {"members": [_member(u) for u in users], "owners": [],
            "meta": {"total": total, "limit": limit, "offset": offset}}
