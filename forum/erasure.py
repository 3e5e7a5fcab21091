"""Answering a person's request to be forgotten: an admin anonymises an account, or deletes it with
its posts (Discourse's UserAnonymizer and UserDestroyer). Both are irreversible and logged.

Anonymising replaces the username, name, email, avatar and settings and signs the account out
everywhere; its posts stay, under the new name. Mentions (`@old`) and quotes (`[quote="old, …"]`)
of the old name in anyone's posts and in their earlier versions are rewritten and recooked (as
Discourse's UsernameChanger does), and notifications that named it are rewritten, so the old name
and email are nowhere: not in pages, search, feeds, the JSON API or edit histories.

Deleting with posts does that, replaces the text of each of the account's posts with a deletion
notice and deletes them (the numbering of every topic stays as it was, topics the person started
stay readable for the replies of others, and a topic left with no post of anyone else's is deleted),
and closes the account for good.

Staff do either to the accounts they may act on (forum/permissions.py, rules 10 and 17).
"""

from __future__ import annotations

import json
import re

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.orm import Session

from forum import modlog, posting, search, user_admin, user_export
from forum.errors import ValidationFailed
from forum.i18n import _
from forum.models import (
    Bookmark,
    Category,
    Draft,
    Invitation,
    ModerationLog,
    Notification,
    OutboxItem,
    Post,
    PostRevision,
    Topic,
    User,
    UserFollow,
    utcnow,
)
from forum.permissions import Viewer

DELETE_ACTION = "delete_user_with_posts"
# Written into each post of an account deleted with its posts (the site's language: it is content).
DELETED_NOTICE = _("(This post was deleted with its author's account.)")


def _confirmed(confirm: str | None, user: User) -> None:
    """On pages the admin types the username: nothing irreversible happens by a slip. (The API's
    caller confirms by calling, as in Discourse: `confirm` None.)"""
    if confirm is not None and confirm.strip().lower() != user.username_lower:
        raise ValidationFailed(fields={"confirm": _("Type the username %(name)s to confirm.", name=user.username)})


def _rename_in_text(text: str, old: str, new: str) -> str:
    """`@old` mentions and `[quote="old, …"]` / `[quote=old …]` headers, in any case."""
    escaped = re.escape(old)
    text = re.sub(rf'(\[quote=["\']?){escaped}(?=[,"\'\]\s])', lambda m: m.group(1) + new, text, flags=re.I)
    return re.sub(rf"(?<![\w@]){'@'}{escaped}(?![\w-])", "@" + new, text, flags=re.I)


def _rewrite_posts(session: Session, old: str, new: str) -> int:
    """Recook every post (and earlier version) that names `old`; the search index follows."""
    pattern = f"%{old}%"
    changed = 0
    for post in session.scalars(select(Post).where(Post.raw.ilike(pattern))):
        raw = _rename_in_text(post.raw, old, new)
        if raw == post.raw:
            continue
        post.raw = raw
        post.cooked = posting.cook_post(session, raw).html
        changed += 1
        topic = session.get(Topic, post.topic_id)
        if post.deleted_at is None and topic is not None:
            search.index_post(session, post, topic)
    for revision in session.scalars(select(PostRevision).where(PostRevision.raw.ilike(pattern))):
        revision.raw = _rename_in_text(revision.raw, old, new)
    return changed


def _rewrite_notifications(session: Session, old: str, new: str) -> None:
    for n in session.scalars(select(Notification).where(Notification.data.ilike(f"%{old}%"))):
        try:
            data = json.loads(n.data)
        except ValueError:
            continue

        def swap(value):
            if isinstance(value, str) and value.lower() == old.lower():
                return new
            if isinstance(value, list):
                return [swap(v) for v in value]
            return value

        n.data = json.dumps({k: swap(v) for k, v in data.items()} if isinstance(data, dict) else data)


def _forget(session: Session, viewer: Viewer, user: User, reason: str) -> str:
    """Anonymise (forum/user_admin.py: name, address, settings, every way in), then take away what
    still names the person; returns the old username."""
    old, old_email = user.username, user.email
    user_admin.anonymize(session, viewer, user.id, reason=reason)
    # Emails not yet sent (or kept as sent) to the old address, invitations naming it, and the
    # person's data archives (forum/user_export.py) all carry the old name or address.
    if old_email:
        session.execute(delete(OutboxItem).where(OutboxItem.kind == "email",
                                                 OutboxItem.payload.contains(json.dumps(old_email), autoescape=True)))
        for invitation in session.scalars(select(Invitation).where(func.lower(Invitation.email) == old_email.lower())):
            invitation.email = user.email
    user_export.forget(session, user.id)
    user.uploaded_avatar_id = None
    user.theme = None
    user.suspend_reason = user.silence_reason = ""
    for model in (Draft, Bookmark):
        session.execute(delete(model).where(model.user_id == user.id))
    session.execute(delete(UserFollow).where(or_(UserFollow.follower_id == user.id,
                                                 UserFollow.followed_id == user.id)))
    session.flush()
    new = user.username
    _rewrite_posts(session, old, new)
    _rewrite_notifications(session, old, new)
    # Earlier log lines named the account by its old name or address; they keep their meaning by its id.
    swaps = [(re.escape(old_email), user.email or "")] if old_email else []
    swaps.append((rf"(?<![\w@.-]){re.escape(old)}(?![\w-])", new))
    columns = (ModerationLog.summary, ModerationLog.reason, ModerationLog.details)
    wanted = [column.ilike(f"%{text}%") for column in columns for text in filter(None, (old, old_email))]
    for entry in session.scalars(select(ModerationLog).where(or_(*wanted))):
        for attribute in ("summary", "reason", "details"):
            value = getattr(entry, attribute)
            if value:
                for pattern, replacement in swaps:
                    value = re.sub(pattern, replacement.replace("\\", "\\\\"), value, flags=re.I)
                setattr(entry, attribute, value)
    return old


def anonymize(session: Session, viewer: Viewer, user_id: int | str, *, confirm: str | None,
              reason: str = "") -> User:
    """Discourse's PUT /admin/users/{id}/anonymize: the account stays, as `anon…`, with its posts."""
    user = user_admin.target(session, viewer, user_id)
    _confirmed(confirm, user)
    _forget(session, viewer, user, reason)
    return user


def delete_with_posts(session: Session, viewer: Viewer, user_id: int | str, *, confirm: str | None,
                      reason: str = "") -> User:
    """Discourse's DELETE /admin/users/{id} with delete_posts: every post of the account says it was
    deleted with it (numbers unchanged), and the account is anonymised, with no way in left."""
    user = user_admin.target(session, viewer, user_id)
    _confirmed(confirm, user)
    now = utcnow()
    notice = str(DELETED_NOTICE)
    cooked = posting.cook_post(session, notice).html
    topics: set[int] = set()
    for post in session.scalars(select(Post).where(Post.user_id == user.id)):
        post.raw, post.cooked = notice, cooked
        if post.deleted_at is None:
            post.deleted_at, post.deleted_by_id = now, viewer.id
        search.remove_post(session, post.id)
        topics.add(post.topic_id)
    session.execute(delete(PostRevision).where(PostRevision.post_id.in_(
        select(Post.id).where(Post.user_id == user.id))))
    session.flush()
    emptied = 0
    for topic in session.scalars(select(Topic).where(Topic.id.in_(topics))):
        posting.recount_topic(session, topic)
        if topic.posts_count == 0 and topic.deleted_at is None:
            # Nothing of anyone else's is left in it: the topic goes, as Discourse's does with its first post.
            topic.deleted_at = now
            emptied += 1
            session.execute(update(Category).where(Category.id == topic.category_id, Category.topic_count > 0)
                            .values(topic_count=Category.topic_count - 1), execution_options={"synchronize_session": False})
    user.post_count = user.topic_count = 0
    _forget(session, viewer, user, reason)
    modlog.record(session, viewer, DELETE_ACTION, target_type="user", target_id=user.id, target_user_id=user.id,
                  summary=user.username, reason=reason, details={"topics": len(topics), "topics_deleted": emptied})
    return user
