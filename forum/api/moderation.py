"""Discourse's staff API for what moderators do in the browser: suspend, silence, staff roles, moving
posts, merging topics, recovering posts, invitations. Each route calls the same service (and so
writes the same moderation log row) as the page; non-staff get 404 from those services.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime

from fastapi import Request
from starlette.convertors import StringConvertor, register_url_convertor

from forum import erasure, invitations, moderation, urls, user_admin
from forum.api import serializers
from forum.api.base import ParamsDep, api_router, tr
from forum.deps import SessionDep, SettingsDep, UserViewerDep, WriteDep
from forum.errors import ForumError, ValidationFailed
from forum.i18n import _
from forum.models import Invitation, utcnow

router = api_router()


def _iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _until(params, *names: str) -> datetime:
    for name in names:
        raw = params.str(name)
        if raw:
            try:
                value = datetime.fromisoformat(raw.strip().replace("Z", "+00:00"))
            except ValueError:
                break
            return value if value.tzinfo else value.replace(tzinfo=UTC)
    raise ValidationFailed(fields={"until": _("Give the end as an ISO date, e.g. 2027-01-31.")})


def _reason(params) -> str:
    return params.str("reason") or ""


# --- users ------------------------------------------------------------------------------------

@router.put("/admin/users/{user_id:int}/suspend.json")
def suspend(write: WriteDep, viewer: UserViewerDep, params: ParamsDep, user_id: int):
    with write() as tx:
        user = user_admin.suspend(tx, viewer, user_id, until=_until(params, "suspend_until", "until"),
                                  reason=_reason(params))
        return {"suspension": {"suspend_reason": user.suspend_reason, "full_suspend_reason": user.suspend_reason,
                               "suspended_till": _iso(user.suspended_until), "suspended_at": _iso(utcnow()),
                               "suspended_by": serializers.basic_user(viewer.user)}}


@router.put("/admin/users/{user_id:int}/unsuspend.json")
def unsuspend(write: WriteDep, viewer: UserViewerDep, params: ParamsDep, user_id: int):
    with write() as tx:
        user_admin.unsuspend(tx, viewer, user_id, reason=_reason(params))
    return {"suspension": {"suspended_till": None}}


@router.put("/admin/users/{user_id:int}/silence.json")
def silence(write: WriteDep, viewer: UserViewerDep, params: ParamsDep, user_id: int):
    with write() as tx:
        user = user_admin.silence(tx, viewer, user_id, until=_until(params, "silenced_till", "until"),
                                  reason=_reason(params))
        return {"silence": {"silenced": True, "silence_reason": user.silence_reason,
                            "full_silence_reason": user.silence_reason, "silenced_till": _iso(user.silenced_until),
                            "silenced_at": _iso(utcnow()), "silenced_by": serializers.basic_user(viewer.user)}}


@router.put("/admin/users/{user_id:int}/unsilence.json")
def unsilence(write: WriteDep, viewer: UserViewerDep, params: ParamsDep, user_id: int):
    with write() as tx:
        user_admin.unsilence(tx, viewer, user_id, reason=_reason(params))
    return {"unsilence": {"silenced": False}}


ROLE_ROUTES = {"grant_moderation": ("moderator", True), "revoke_moderation": ("moderator", False),
               "grant_admin": ("admin", True), "revoke_admin": ("admin", False)}


class StaffRoleConvertor(StringConvertor):
    # Only the four role changes: a loose `{change}` would answer (404) for every other
    # /admin/users/{id}/<action>.json operation (activate, deactivate, anonymize) declared after it.
    regex = "|".join(ROLE_ROUTES)


register_url_convertor("staff_role", StaffRoleConvertor())


@router.put("/admin/users/{user_id:int}/{change:staff_role}.json")
def staff_role(write: WriteDep, viewer: UserViewerDep, params: ParamsDep, user_id: int, change: str):
    role, enabled = ROLE_ROUTES[change]
    with write() as tx:
        user = user_admin.set_role(tx, viewer, user_id, role, enabled, reason=_reason(params))
        return {"admin_user": {"id": user.id, "username": user.username, "moderator": user.is_moderator,
                               "admin": user.is_admin}}


@router.put("/admin/users/{user_id:int}/anonymize.json")
def anonymize(write: WriteDep, viewer: UserViewerDep, params: ParamsDep, user_id: int):
    with write() as tx:
        user = erasure.anonymize(tx, viewer, user_id, confirm=None, reason=_reason(params))
        return {"success": "OK", "username": user.username}


# --- topics and posts -------------------------------------------------------------------------

@router.post("/t/{topic_id:int}/move-posts.json")
def move_posts(session: SessionDep, write: WriteDep, viewer: UserViewerDep, settings: SettingsDep,
               params: ParamsDep, topic_id: int):
    destination = params.str("destination_topic_id")
    with write() as tx:
        moved = moderation.move_posts(tx, settings, viewer, topic_id=topic_id, post_ids=params.list("post_ids"),
                                      destination_topic_id=destination or None,
                                      title=None if destination else params.str("title") or "",
                                      category_id=params.str("category_id"), reason=_reason(params))
        url = urls.topic_url(moved)
    return {"success": "OK", "url": url}


@router.post("/t/{topic_id:int}/merge-topic.json")
def merge_topic(session: SessionDep, write: WriteDep, viewer: UserViewerDep, params: ParamsDep, topic_id: int):
    with write() as tx:
        merged = moderation.merge_topics(tx, viewer, topic_id=topic_id,
                                         destination_topic_id=params.str("destination_topic_id") or "",
                                         reason=_reason(params))
        url = urls.topic_url(merged)
    return {"success": "OK", "url": url}


@router.put("/posts/{post_id:int}/recover.json")
def recover_post(write: WriteDep, viewer: UserViewerDep, params: ParamsDep, post_id: int):
    with write() as tx:
        moderation.restore_post(tx, viewer, post_id, reason=_reason(params))
    return {"success": "OK"}


# --- invitations ------------------------------------------------------------------------------

def _invite_json(settings, invitation: Invitation) -> dict:
    return {"id": invitation.id, "invite_key": invitation.code, "link": invitations.link(settings, invitation),
            "email": invitation.email, "emailed": bool(invitation.email), "domain": invitation.email_domain,
            "tier": invitation.tier, "max_redemptions_allowed": invitation.max_uses,
            "redemption_count": invitation.uses, "custom_message": invitation.message or None,
            "created_at": _iso(invitation.created_at), "updated_at": _iso(invitation.created_at),
            "expires_at": _iso(invitation.expires_at), "expired": invitations.status(invitation) == invitations.EXPIRED,
            # Invitations carry a tier, not staff roles, topics or groups; their creator may revoke them.
            "description": None, "can_delete_invite": True, "grants_admin": False, "grants_moderator": False,
            "topics": [], "groups": []}


def _expires_days(params) -> int | None:
    if not params.str("expires_at"):
        return None
    return max(1, math.ceil((_until(params, "expires_at") - utcnow()).total_seconds() / 86400))


def _create_invite(write, viewer, settings, params, *, email: str, days: int | None) -> dict:
    with write() as tx:
        invitation = invitations.create_invitation(
            tx, settings, viewer, tier=params.str("tier") or settings.default_tier, email=email,
            email_domain=params.str("domain") or "", category_id=params.str("category_id"),
            max_uses=params.str("max_redemptions_allowed") or 1, expires_days=days,
            message=params.str("custom_message") or "")
        return _invite_json(settings, invitation)


@router.post("/invites.json")
def create_invite(session: SessionDep, write: WriteDep, viewer: UserViewerDep, settings: SettingsDep,
                  params: ParamsDep):
    return _create_invite(write, viewer, settings, params, email=params.str("email") or "",
                          days=_expires_days(params))


MAX_INVITES_AT_ONCE = 200  # as in Discourse


@router.post("/invites/create-multiple.json")
def create_multiple_invites(request: Request, write: WriteDep, viewer: UserViewerDep, settings: SettingsDep,
                            params: ParamsDep):
    """One invitation per address in `email[]`, sharing the other parameters. Each is made on its own:
    an address that fails (already a member, not an address) is reported and the others still go out."""
    emails = list(dict.fromkeys(e.strip().lower() for value in params.list("email") for e in value.split(",")
                                if e.strip()))
    if not emails:
        raise ForumError(_("param is missing or the value is empty: email"))
    if len(emails) > MAX_INVITES_AT_ONCE:
        raise ValidationFailed(_("You can invite at most %(n)s people at once.", n=MAX_INVITES_AT_ONCE))
    days = _expires_days(params)
    made, failed = [], []
    for email in emails:
        try:
            made.append(_create_invite(write, viewer, settings, params, email=email, days=days))
        except ValidationFailed as e:
            failed.append({"email": email, "error": "; ".join(tr(request, m) for m in e.messages)})
    return {"num_successfully_created_invitations": len(made), "num_failed_invitations": len(failed),
            "failed_invitations": failed, "successful_invitations": made}


@router.delete("/invites.json")
def revoke_invite(write: WriteDep, viewer: UserViewerDep, params: ParamsDep):
    with write() as tx:
        invitations.revoke(tx, viewer, params.str("id") or "")
    return {"success": "OK"}

