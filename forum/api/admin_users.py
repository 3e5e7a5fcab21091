"""Discourse's admin user API: lists (`/admin/users.json`, `/admin/users/list/{flag}.json`), one
account (`/admin/users/{id}.json`), and the actions activate, deactivate, log out and delete.

Staff only: anyone else gets 404, as for the staff pages. The actions are the services the staff
pages use (forum/user_admin.py), so the same rules apply and every action is in the moderation log.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import case, func, or_, select

from forum import permissions, policy, user_admin
from forum.api import serializers, tiers
from forum.api.base import ParamsDep, api_router
from forum.deps import SessionDep, SettingsDep, ViewerDep, WriteDep
from forum.errors import NotFound
from forum.models import LIKE, Flag, ModerationLog, Post, PostAction, Topic, TopicUser, User, utcnow
from forum.models.api import ApiKey

router = api_router()

PAGE_SIZE = 100
# Discourse's `order` names and our columns; those we do not record sort by creation.
ORDERS = {"created": User.created_at, "seen": User.last_seen_at, "username": User.username_lower,
          "email": User.email, "posts": User.post_count,
          "trust_level": case({"participant": 1, "worker": 2, "member": 3}, value=User.tier, else_=0)}
FLAGS = ("all", "active", "new", "staff", "admins", "moderators", "suspended", "silenced", "blocked", "pending",
         "suspect", "staged")


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


def _flag_clause(session, flag: str):
    now = utcnow()
    if flag == "all":
        return None
    if flag == "active":
        return User.approved.is_(True)
    if flag == "new":
        # Discourse's new users are its lowest trust level; here, participants still in their first days.
        days = policy.load(session).new_participant_days
        return (User.tier == "participant") & (User.created_at > now - timedelta(days=days))
    if flag == "staff":
        return permissions.staff_clause()
    if flag == "admins":
        return User.is_admin.is_(True)
    if flag == "moderators":
        return User.is_moderator.is_(True) & User.is_admin.is_(False)
    if flag == "suspended":
        return User.suspended_until > now
    if flag in ("silenced", "blocked"):
        return User.silenced_until > now
    if flag == "pending":
        return User.approved.is_(False)
    return User.id.is_(None)  # suspect and staged accounts are not a thing here


def _users(session, viewer, params, flag: str) -> list[dict[str, Any]]:
    permissions.ensure_can_moderate(viewer)
    if flag not in FLAGS:
        raise NotFound()
    stmt = select(User)
    where = _flag_clause(session, flag)
    if where is not None:
        stmt = stmt.where(where)
    text = (params.str("filter") or params.str("email") or "").strip().lower()[:100]
    if text:
        like = "%" + text.replace("\\", "").replace("%", "").replace("_", "") + "%"
        stmt = stmt.where(or_(User.username_lower.like(like), User.email.like(like)))
    column = ORDERS.get(params.str("order") or "created", User.created_at)
    ascending = params.bool("asc")
    page = max(params.int("page") or 1, 1)
    stmt = stmt.order_by(column.asc() if ascending else column.desc(), User.id.desc() if not ascending else User.id)
    users = session.scalars(stmt.offset((min(page, 100_000) - 1) * PAGE_SIZE).limit(PAGE_SIZE))
    return [_list_item(u, show_email=params.bool("show_emails")) for u in users]


@router.get("/admin/users.json")
def list_users(session: SessionDep, viewer: ViewerDep, params: ParamsDep):
    return _users(session, viewer, params, "all")


@router.get("/admin/users/list/{flag}.json")
def list_users_by_flag(session: SessionDep, viewer: ViewerDep, params: ParamsDep, flag: str):
    return _users(session, viewer, params, flag)


def _count(session, stmt) -> int:
    return session.scalar(stmt) or 0


def _detail(session, viewer, user: User) -> dict[str, Any]:
    can_act = permissions.can_moderate_user(viewer, user)
    admin = permissions.can_grant_staff(viewer) and user.id != viewer.id
    penalties = dict(session.execute(
        select(ModerationLog.action, func.count(ModerationLog.id))
        .where(ModerationLog.target_user_id == user.id,
               ModerationLog.action.in_(("suspend_user", "silence_user")))
        .group_by(ModerationLog.action)).all())
    has_posts = session.scalar(select(Post.id).where(Post.user_id == user.id).limit(1)) is not None
    group = serializers.TIER_GROUPS.get(user.tier)
    item = _list_item(user, show_email=False)
    for extra in ("approved", "suspended_till", "silenced_till", "primary_group_name"):
        item.pop(extra)
    return {
        **item,
        "topics_entered": _count(session, select(func.count(TopicUser.topic_id)).where(
            TopicUser.user_id == user.id, TopicUser.first_visited_at.is_not(None))),
        "associated_accounts": [], "can_send_activation_email": False,
        "can_activate": not user.approved, "can_deactivate": user.approved and can_act,
        "can_change_trust_level": can_act, "ip_address": "", "registration_ip_address": None,
        "can_grant_admin": admin and not user.is_admin, "can_revoke_admin": admin and user.is_admin,
        "can_grant_moderation": admin and not user.is_moderator,
        "can_revoke_moderation": admin and user.is_moderator and not user.is_admin,
        "can_impersonate": False,
        "like_count": _count(session, select(func.count(PostAction.id)).join(Post, Post.id == PostAction.post_id)
                             .where(Post.user_id == user.id, PostAction.action_type == LIKE)),
        "like_given_count": _count(session, select(func.count(PostAction.id)).where(
            PostAction.user_id == user.id, PostAction.action_type == LIKE)),
        "topic_count": _count(session, select(func.count(Topic.id)).where(
            Topic.user_id == user.id, Topic.deleted_at.is_(None))),
        "flags_given_count": _count(session, select(func.count(Flag.id)).where(Flag.user_id == user.id)),
        "flags_received_count": _count(session, select(func.count(Flag.id)).join(Post, Post.id == Flag.post_id)
                                       .where(Post.user_id == user.id)),
        "private_topics_count": 0, "can_delete_all_posts": False, "can_be_deleted": can_act and not has_posts,
        "can_be_anonymized": False, "can_be_merged": False,
        "full_suspend_reason": user.suspend_reason or None if permissions.is_suspended(user) else None,
        "silence_reason": user.silence_reason or None if permissions.is_silenced(user) else None,
        "primary_group_id": serializers.GROUP_IDS[group] if group else None, "badge_count": 0,
        "warnings_received_count": 0, "bounce_score": None, "reset_bounce_score_after": None,
        "can_view_action_logs": permissions.can_moderate(viewer), "can_disable_second_factor": False,
        "can_delete_sso_record": False,
        "api_key_count": _count(session, select(func.count(ApiKey.id)).where(
            ApiKey.user_id == user.id, ApiKey.revoked_at.is_(None))),
        "single_sign_on_record": None, "approved_by": None, "suspended_by": None, "silenced_by": None,
        "penalty_counts": {"silenced": penalties.get("silence_user", 0),
                           "suspended": penalties.get("suspend_user", 0)},
        "groups": [tiers.group_json(group, user_count=tiers.tier_counts(session, viewer).get(user.tier, 0),
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
    with write() as tx:
        user_admin.delete_user(tx, viewer, user_id, reason=params.str("reason") or "")
    return {"deleted": True}
