"""Flags and the review queue.

A signed-in user flags a post they can see, once. Flags from `policy.flags_to_hide` different
people hide the post until a moderator reviews it. The review queue groups pending flags by post;
a moderator agrees (hide or delete, optionally suspending or silencing the author), disagrees
(a post hidden by flags comes back) or defers (the flags are set aside, nothing changes).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import bindparam, case, func, literal, select, union_all, update
from sqlalchemy.orm import Session

from forum import moderation, modlog, permissions, policy, posting, user_admin
from forum.config import Settings
from forum.errors import Conflict, NotFound, ValidationFailed
from forum.i18n import _
from forum.models import FLAG_TYPES, LIKE, Flag, Post, PostAction, Topic, User, utcnow
from forum.models.moderation import (
    FLAG_AGREED,
    FLAG_DEFERRED,
    FLAG_DISAGREED,
    FLAG_INAPPROPRIATE,
    FLAG_OFF_TOPIC,
    FLAG_PENDING,
    FLAG_SOMETHING_ELSE,
    FLAG_SPAM,
)
from forum.permissions import Viewer
from forum.text import clean, parse_id

FLAG_LABELS = {
    FLAG_OFF_TOPIC: _("Off-topic"),
    FLAG_INAPPROPRIATE: _("Inappropriate"),
    FLAG_SPAM: _("Spam"),
    FLAG_SOMETHING_ELSE: _("Something else"),
}
FLAG_HELP = {
    FLAG_OFF_TOPIC: _("It does not belong in this discussion."),
    FLAG_INAPPROPRIATE: _("It is offensive, abusive or breaks the community guidelines."),
    FLAG_SPAM: _("It is an advertisement or vandalism."),
    FLAG_SOMETHING_ELSE: _("Something else needs a moderator's attention; tell them what."),
}
MAX_MESSAGE = 1000
DECISIONS = ("agree", "disagree", "defer")


def flag_post(session: Session, viewer: Viewer, *, post_id: int | str, flag_type: int | str,
              message: str = "") -> Flag:
    post, topic = posting.get_post(session, post_id)
    permissions.ensure_can_flag_post(session, viewer, post, topic)
    assert viewer.user is not None
    try:
        kind = int(flag_type)
    except (TypeError, ValueError):
        kind = 0
    if kind not in FLAG_TYPES:
        raise ValidationFailed(fields={"flag_type": _("Choose why you are flagging this post.")})
    message = clean(message).strip()
    if len(message) > MAX_MESSAGE:
        raise ValidationFailed(fields={"message": _("Messages may be at most %(n)s characters.", n=MAX_MESSAGE)})
    if kind == FLAG_SOMETHING_ELSE and not message:
        raise ValidationFailed(fields={"message": _("Tell the moderators what is wrong.")})
    # Under the topic's lock (forum/db.py): two flags at once count each other, and the one that
    # reaches the threshold hides the post.
    topic = posting.lock_topic(session, topic.id)
    session.refresh(post)
    if session.scalar(select(Flag.id).where(Flag.post_id == post.id, Flag.user_id == viewer.user.id)) is not None:
        raise Conflict(_("You have already flagged this post."))
    flag = Flag(post_id=post.id, user_id=viewer.user.id, flag_type=kind, message=message)
    session.add(flag)
    session.flush()
    flaggers = session.scalar(select(func.count(func.distinct(Flag.user_id)))
                              .where(Flag.post_id == post.id, Flag.status == FLAG_PENDING)) or 0
    if not post.hidden and flaggers >= policy.load(session).flags_to_hide:
        moderation._hide(post, "flags")
        modlog.record(session, None, "hidden_by_flags", target_type="post", target_id=post.id,
                      target_user_id=post.user_id, topic_id=topic.id, summary=f"#{post.post_number} {topic.title}",
                      details={"flags": flaggers})
    session.flush()
    return flag


_LIKED_AND_FLAGGED = union_all(  # asked by every topic page a signed-in reader opens: built once
    select(PostAction.post_id, literal(True)).where(PostAction.user_id == bindparam("reader"),
                                                    PostAction.action_type == LIKE,
                                                    PostAction.post_id.in_(bindparam("posts", expanding=True))),
    select(Flag.post_id, literal(False)).where(Flag.user_id == bindparam("reader"),
                                               Flag.post_id.in_(bindparam("posts", expanding=True))))


def liked_and_flagged_by(session: Session, viewer: Viewer, post_ids: list[int]) -> tuple[set[int], set[int]]:
    """Which of these posts the viewer has liked, and which flagged: one round trip for a page."""
    if viewer.user is None or not post_ids:
        return set(), set()
    liked: set[int] = set()
    flagged: set[int] = set()
    for post_id, is_like in session.execute(_LIKED_AND_FLAGGED, {"reader": viewer.user.id, "posts": post_ids}):
        (liked if is_like else flagged).add(post_id)
    return liked, flagged


def flagged_by(session: Session, viewer: Viewer, post_ids: list[int]) -> set[int]:
    """Which of these posts the viewer has flagged."""
    if viewer.user is None or not post_ids:
        return set()
    return set(session.scalars(select(Flag.post_id).where(Flag.user_id == viewer.user.id,
                                                          Flag.post_id.in_(post_ids))))


# --- the review queue -------------------------------------------------------------------------

@dataclass
class FlagEntry:
    flag: Flag
    username: str

    @property
    def label(self):
        return FLAG_LABELS.get(self.flag.flag_type, str(self.flag.flag_type))


@dataclass
class ReviewItem:
    post: Post
    topic: Topic
    flags: list[FlagEntry] = field(default_factory=list)
    first_flagged_at: datetime | None = None

    @property
    def counts(self) -> list[tuple[str, int]]:
        tally: dict[int, int] = {}
        for entry in self.flags:
            tally[entry.flag.flag_type] = tally.get(entry.flag.flag_type, 0) + 1
        return [(FLAG_LABELS.get(k, str(k)), n) for k, n in sorted(tally.items(), key=lambda kv: -kv[1])]


def counts_by_post(session: Session, post_ids: list[int]) -> dict[int, tuple[int, int]]:
    """Flags on each of these posts that has any: (all of them, those still pending). For staff eyes."""
    if not post_ids:
        return {}
    pending = func.sum(case((Flag.status == FLAG_PENDING, 1), else_=0))
    rows = session.execute(select(Flag.post_id, func.count(Flag.id), pending)
                           .where(Flag.post_id.in_(post_ids)).group_by(Flag.post_id))
    return {post_id: (total, int(waiting or 0)) for post_id, total, waiting in rows}


def pending_count(session: Session) -> int:
    """Posts waiting for review."""
    return session.scalar(select(func.count(func.distinct(Flag.post_id))).where(Flag.status == FLAG_PENDING)) or 0


def review_queue(session: Session, viewer: Viewer, *, page: int = 1, per_page: int = 20) -> tuple[list[ReviewItem], bool]:
    """Flagged posts, most flagged first, then oldest first; one page of posts and their pending flags."""
    permissions.ensure_can_moderate(viewer)
    grouped = (select(Flag.post_id, func.count(Flag.id).label("n"), func.min(Flag.created_at).label("first"))
               .where(Flag.status == FLAG_PENDING).group_by(Flag.post_id)
               .order_by(func.count(Flag.id).desc(), func.min(Flag.created_at), Flag.post_id)
               .offset((page - 1) * per_page).limit(per_page + 1))
    rows = session.execute(grouped).all()
    has_more = len(rows) > per_page
    rows = rows[:per_page]
    if not rows:
        return [], False
    ids = [r.post_id for r in rows]
    posts = {p.id: (p, t) for p, t in session.execute(
        select(Post, Topic).join(Topic, Topic.id == Post.topic_id).where(Post.id.in_(ids)))}
    items = {pid: ReviewItem(post=posts[pid][0], topic=posts[pid][1]) for pid in ids if pid in posts}
    for row in rows:
        if row.post_id in items:
            items[row.post_id].first_flagged_at = row.first
    for flag, username in session.execute(
            select(Flag, User.username).join(User, User.id == Flag.user_id)
            .where(Flag.post_id.in_(ids), Flag.status == FLAG_PENDING).order_by(Flag.created_at, Flag.id)):
        items[flag.post_id].flags.append(FlagEntry(flag, username))
    return [items[pid] for pid in ids if pid in items], has_more


def review(session: Session, settings: Settings, viewer: Viewer, *, post_id: int | str, decision: str,
           action: str = "hide", sanction: str = "", until: datetime | None = None,
           sanction_reason: str = "", reason: str = "") -> Post:
    """Decide the pending flags of one post."""
    permissions.ensure_can_moderate(viewer)
    pid = parse_id(post_id)
    if pid is None:
        raise NotFound()
    post, topic = posting.get_post(session, pid)
    if decision not in DECISIONS:
        raise ValidationFailed(fields={"decision": _("Choose agree, disagree or defer.")})
    pending = list(session.scalars(select(Flag).where(Flag.post_id == post.id, Flag.status == FLAG_PENDING)))
    if not pending:
        raise Conflict(_("These flags have already been reviewed."))
    reason = clean(reason, single_line=True)[:1000]
    details: dict[str, object] = {"flags": len(pending)}
    if decision == "agree":
        if action not in ("hide", "delete", "keep"):
            raise ValidationFailed(fields={"action": _("Choose to hide or delete the post.")})
        if sanction not in ("", "suspend", "silence"):
            raise ValidationFailed(fields={"sanction": _("Choose suspend, silence or nothing.")})
        details["action"] = action
        if action == "delete" and post.deleted_at is None:
            moderation.delete_post(session, viewer, post.id, reason=reason or str(_("Flagged by the community")))
        elif action == "hide" and not post.hidden:
            moderation.hide_post(session, viewer, post.id, reason=reason)
        elif action == "hide":
            post.hidden_reason = "moderator"  # now a moderator's decision, no longer the flags'
        if sanction:
            if until is None:
                raise ValidationFailed(fields={"until": _("Enter the end date as YYYY-MM-DD.")})
            details["sanction"] = sanction
            act = user_admin.suspend if sanction == "suspend" else user_admin.silence
            act(session, viewer, post.user_id, until=until, reason=sanction_reason or reason)
        status = FLAG_AGREED
    elif decision == "disagree":
        if post.hidden and post.hidden_reason == "flags":
            post.hidden, post.hidden_at, post.hidden_reason = False, None, ""
            details["unhidden"] = True
        status = FLAG_DISAGREED
    else:
        status = FLAG_DEFERRED
    session.execute(update(Flag).where(Flag.id.in_([f.id for f in pending])).values(
        status=status, reviewed_at=utcnow(), reviewed_by_id=viewer.id), execution_options={"synchronize_session": False})
    modlog.record(session, viewer, f"{decision}_flags", target_type="post", target_id=post.id,
                  target_user_id=post.user_id, topic_id=topic.id, summary=f"#{post.post_number} {topic.title}",
                  reason=reason, details=details)
    session.flush()
    return post


def flag_count(session: Session, post_id: int) -> int:
    """Every flag the post ever had: goes up whenever someone flags it again."""
    return session.scalar(select(func.count(Flag.id)).where(Flag.post_id == post_id)) or 0


def pending_flags(session: Session, post_id: int) -> list[tuple[Flag, User]]:
    return [(f, u) for f, u in session.execute(select(Flag, User).join(User, User.id == Flag.user_id)
                                                 .where(Flag.post_id == post_id, Flag.status == FLAG_PENDING)
                                                 .order_by(Flag.created_at, Flag.id))]
