"""Discourse's admin user API: lists (`/admin/users.json`, `/admin/users/list/{flag}.json`), one
account (`/admin/users/{id}.json`), and the actions activate, deactivate, log out and delete.

Staff only: anyone else gets 404, as for the staff pages. The actions are the services the staff
pages use (forum/user_admin.py), so the same rules apply and every action is in the moderation log.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from forum import directory, erasure, permissions, user_admin
from forum.api import serializers, tiers
from forum.api.base import ParamsDep, api_router
from forum.deps import SessionDep, SettingsDep, ViewerDep, WriteDep
from forum.models import User, utcnow

router = api_router()


def _age(value: datetime | None) -> float | None:
    return None if value is None else round((utcnow() - value).total_seconds(), 1)


def _list_item(user: User, *, show_email: bool) -> dict[str, Any]:
    item = {
        **serializers.basic_user(user), "active": user.approved, "admin": user.is_admin,
        "moderator": user.is_moderator, "last_seen_at": serializers.iso(user.last_seen_at),
        "last_emailed_at": None, "created_at": serializers.iso(user.created_at),
        "last_seen_age": _age(user.last_seen_at), "last_emailed_age": None, "created_at_age": _age(user.created_at),
        "trust_level": serializers.trust_level(user), "manual_locked_trust_level": None, "title": None,
        "time_read": 0, "staged": False, "days_visited": 0, "posts_read_count": 0, "topics_entered": 0,
        "post_count": user.post_count, "approved": user.approved,
        "suspended_till": serializers.iso(user.suspended_until) if permissions.is_suspended(user) else None,
        "silenced_till": serializers.iso(user.silenced_until) if permissions.is_silenced(user) else None,
        "primary_group_name": serializers.TIER_GROUPS.get(user.tier),
    }
    if show_email:
        item["email"] = user.email or ""
        item["secondary_emails"] = []
    return item


def _users(session, viewer, params, flag: str) -> list[dict[str, Any]]:
    users = user_admin.list_users(session, viewer, flag=flag, text=params.str("filter") or params.str("email") or "",
                                  order=params.str("order") or "created", ascending=params.bool("asc"),
                                  page=params.int("page") or 1)
    return [_list_item(u, show_email=params.bool("show_emails")) for u in users]


@router.get("/admin/users.json")
def list_users(session: SessionDep, viewer: ViewerDep, params: ParamsDep):
    return _users(session, viewer, params, "all")


@router.get("/admin/users/list/{flag}.json")
def list_users_by_flag(session: SessionDep, viewer: ViewerDep, params: ParamsDep, flag: str):
    return _users(session, viewer, params, flag)


def _detail(session, viewer, user: User) -> dict[str, Any]:
    can_act = permissions.can_moderate_user(viewer, user)
    record = user_admin.account_record(session, viewer, user)
    group = serializers.TIER_GROUPS.get(user.tier)
    item = _list_item(user, show_email=False)
    for extra in ("approved", "suspended_till", "silenced_till", "primary_group_name"):
        item.pop(extra)
    return {
        **item,
        "topics_entered": record.topics_entered,
        "associated_accounts": [], "can_send_activation_email": False,
        "can_activate": not user.approved, "can_deactivate": user.approved and can_act,
        "can_change_trust_level": can_act, "ip_address": "", "registration_ip_address": None,
        "can_grant_admin": permissions.can_change_role(viewer, user, "admin", grant=True),
        "can_revoke_admin": permissions.can_change_role(viewer, user, "admin", grant=False),
        "can_grant_moderation": permissions.can_change_role(viewer, user, "moderator", grant=True),
        "can_revoke_moderation": permissions.can_change_role(viewer, user, "moderator", grant=False),
        "can_impersonate": False,
        "like_count": record.like_count, "like_given_count": record.like_given_count,
        "topic_count": record.topic_count, "flags_given_count": record.flags_given_count,
        "flags_received_count": record.flags_received_count,
        "private_topics_count": 0, "can_delete_all_posts": False,
        "can_be_deleted": can_act and not record.has_posts,
        "can_be_anonymized": False, "can_be_merged": False,
        "full_suspend_reason": user.suspend_reason or None if permissions.is_suspended(user) else None,
        "silence_reason": user.silence_reason or None if permissions.is_silenced(user) else None,
        "primary_group_id": serializers.GROUP_IDS[group] if group else None, "badge_count": 0,
        "warnings_received_count": 0, "bounce_score": None, "reset_bounce_score_after": None,
        "can_view_action_logs": permissions.can_moderate(viewer), "can_disable_second_factor": False,
        "can_delete_sso_record": False,
        "api_key_count": record.api_key_count,
        "single_sign_on_record": None, "approved_by": None, "suspended_by": None, "silenced_by": None,
        "penalty_counts": {"silenced": record.times_silenced, "suspended": record.times_suspended},
        "groups": [tiers.group_json(group, user_count=directory.tier_counts(session, viewer).get(user.tier, 0),
                                    viewer=viewer)] if group else [],
        "external_ids": {}, "include_ip": False,
    }


@router.get("/admin/users/{user_id:int}.json")
def show_user(session: SessionDep, viewer: ViewerDep, user_id: int):
    permissions.ensure_can_moderate(viewer)
    return _detail(session, viewer, user_admin.get_user(session, user_id))


@router.put("/admin/users/{user_id:int}/activate.json")
def activate(write: WriteDep, viewer: ViewerDep, settings: SettingsDep, user_id: int):
    with write() as tx:
        user_admin.activate(tx, settings, viewer, user_id)
    return {"success": "OK"}


@router.put("/admin/users/{user_id:int}/deactivate.json")
def deactivate(write: WriteDep, viewer: ViewerDep, params: ParamsDep, user_id: int):
    with write() as tx:
        user_admin.deactivate(tx, viewer, user_id, reason=params.str("reason") or "")
    return {"success": "OK"}


@router.post("/admin/users/{user_id:int}/log_out.json")
def log_out(write: WriteDep, viewer: ViewerDep, user_id: int):
    with write() as tx:
        user_admin.log_out(tx, viewer, user_id)
    return {"success": "OK"}


@router.delete("/admin/users/{user_id:int}.json")
def delete_user(write: WriteDep, viewer: ViewerDep, params: ParamsDep, user_id: int):
    """Without posts the account goes; with `delete_posts=true` its posts say they were deleted with
    it (numbers unchanged) and the account is anonymised and closed (forum/erasure.py)."""
    with write() as tx:
        if params.bool("delete_posts"):
            erasure.delete_with_posts(tx, viewer, user_id, confirm=None)
        else:
            user_admin.delete_user(tx, viewer, user_id, reason=params.str("reason") or "")
    return {"deleted": True}

