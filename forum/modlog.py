"""The moderation log: every staff action is recorded by the function that performs it.

`record()` writes in the caller's transaction, so an action and its log row commit together or
not at all. Reading the log is keyset-paged by id, newest first, with optional filters.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, aliased

from forum.i18n import _
from forum.models import ModerationLog, User

# action -> how the log page names it
ACTIONS = {
    "create_category": _("created category"),
    "update_category": _("changed category"),
    "set_category_levels": _("changed viewing levels"),
    "move_category": _("reordered category"),
    "delete_category": _("deleted category"),
    "close_topic": _("closed topic"),
    "open_topic": _("reopened topic"),
    "archive_topic": _("archived topic"),
    "unarchive_topic": _("unarchived topic"),
    "unlist_topic": _("unlisted topic"),
    "list_topic": _("listed topic"),
    "pin_topic": _("pinned topic in its category"),
    "pin_topic_globally": _("pinned topic globally"),
    "unpin_topic": _("unpinned topic"),
    "move_topic": _("moved topic to another category"),
    "slow_mode": _("changed slow mode"),
    "delete_topic": _("deleted topic"),
    "restore_topic": _("restored topic"),
    "move_posts": _("moved posts"),
    "merge_topic": _("merged topic"),
    "edit_post": _("edited post"),
    "hide_post": _("hid post"),
    "unhide_post": _("unhid post"),
    "hidden_by_flags": _("post hidden by community flags"),
    "delete_post": _("deleted post"),
    "restore_post": _("restored post"),
    "agree_flags": _("agreed with flags"),
    "disagree_flags": _("disagreed with flags"),
    "defer_flags": _("deferred flags"),
    "set_tier": _("changed tier"),
    "suspend_user": _("suspended user"),
    "unsuspend_user": _("lifted suspension"),
    "silence_user": _("silenced user"),
    "unsilence_user": _("lifted silence"),
    "grant_moderator": _("granted moderator"),
    "revoke_moderator": _("revoked moderator"),
    "grant_admin": _("granted admin"),
    "revoke_admin": _("revoked admin"),
    "anonymize_user": _("anonymized user"),
    "approve_user": _("approved sign-up"),
    "read_private_message": _("opened a flagged private message"),
    "reject_user": _("rejected sign-up"),
    "message_user": _("sent a message"),
    "deactivate_user": _("deactivated account"),
    "log_out_user": _("logged out everywhere"),
    "delete_user": _("deleted account"),
    "delete_user_with_posts": _("deleted account with its posts"),
    "create_invitation": _("created invitation"),
    "revoke_invitation": _("revoked invitation"),
    "change_policy": _("changed site policy"),
    "change_languages": _("changed the languages offered"),
    "create_tag": _("created tag"),
    "rename_tag": _("renamed tag"),
    "delete_tag": _("deleted tag"),
    "save_tag_group": _("changed tag group"),
    "delete_tag_group": _("deleted tag group"),
    "set_category_tags": _("changed the tags a category allows"),
    "retag_topic": _("changed the tags of a topic"),
}


def record(
    session: Session,
    actor: Any,
    action: str,
    *,
    target_type: str,
    target_id: int | None = None,
    target_user_id: int | None = None,
    topic_id: int | None = None,
    summary: str = "",
    reason: str = "",
    details: dict[str, Any] | None = None,
) -> ModerationLog:
    """Write one log row. `actor` is a Viewer, a User, or None for automatic actions."""
    if action not in ACTIONS:
        raise ValueError(f"unknown moderation action {action!r}")
    actor_id = getattr(actor, "id", None) if actor is not None else None
    entry = ModerationLog(
        actor_id=actor_id, action=action, target_type=target_type, target_id=target_id,
        target_user_id=target_user_id, topic_id=topic_id, summary=str(summary)[:500], reason=str(reason or ""),
        details=json.dumps(details, sort_keys=True, default=str) if details else "",
    )
    session.add(entry)
    return entry


@dataclass
class LogRow:
    entry: ModerationLog
    actor: str | None
    target_user: str | None

    @property
    def label(self):
        return ACTIONS.get(self.entry.action, self.entry.action)

    @property
    def details(self) -> dict[str, Any]:
        try:
            return json.loads(self.entry.details) if self.entry.details else {}
        except ValueError:
            return {}


def entries(session: Session, *, action: str | None = None, actor_id: int | None = None,
            target_user_id: int | None = None, topic_id: int | None = None, before_id: int | None = None,
            limit: int = 50) -> list[LogRow]:
    """A page of the log, newest first; `before_id` continues from the last row of the previous page."""
    actor, target = aliased(User), aliased(User)
    stmt = (select(ModerationLog, actor.username, target.username)
            .outerjoin(actor, actor.id == ModerationLog.actor_id)
            .outerjoin(target, target.id == ModerationLog.target_user_id)
            .order_by(ModerationLog.id.desc()).limit(limit))
    if action:
        stmt = stmt.where(ModerationLog.action == action)
    if actor_id is not None:
        stmt = stmt.where(ModerationLog.actor_id == actor_id)
    if target_user_id is not None:
        stmt = stmt.where(ModerationLog.target_user_id == target_user_id)
    if topic_id is not None:
        stmt = stmt.where(ModerationLog.topic_id == topic_id)
    if before_id is not None:
        stmt = stmt.where(ModerationLog.id < before_id)
    return [LogRow(e, a, t) for e, a, t in session.execute(stmt)]
