"""A user's tier through the API. Tiers are Discourse groups here (`members` 10, `workers` 11,
`participants` 12), so a tier is changed the way Discourse clients add someone to a group:
`PUT /groups/{id}/members.json` (`usernames`, `user_ids` or `user_emails`, comma-separated; pydiscourse
`add_group_member(s)`) or `POST /admin/users/{id}/groups.json` (`group_id`; pydiscourse
`add_user_to_group`). Every account holds exactly one tier, so joining a tier's group leaves the
previous one, and removing someone from a tier group is refused with 422. Staff only (404 for anyone
else); each change is the same logged tier change as on the user's admin page.
"""

from __future__ import annotations

from sqlalchemy import select

from forum import permissions, user_admin
from forum.api import serializers
from forum.api.base import ParamsDep, api_router
from forum.deps import SessionDep, UserViewerDep, WriteDep
from forum.errors import NotFound, ValidationFailed
from forum.i18n import _
from forum.models import User
from forum.text import parse_id

router = api_router()

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
    wanted = list(session.scalars(select(User).where(
        User.username_lower.in_([u.lower() for u in usernames]) | User.email.in_(emails) | User.id.in_(ids))))
    found = {u.username_lower for u in wanted} | {u.email for u in wanted if u.email} | {str(u.id) for u in wanted}
    missing = [n for n in usernames if n.lower() not in found] + [e for e in emails if e not in found]
    missing += [str(i) for i in ids if str(i) not in found]
    if missing:
        raise ValidationFailed(_("No such accounts: %(names)s", names=", ".join(missing)))
    changing = [u for u in wanted if u.tier != tier]
    if not changing:
        raise ValidationFailed(_("%(names)s already in this group.", names=", ".join(u.username for u in wanted)))
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
