"""Notifications: who hears about what, and what they may still read of it.

`notify(session, user_id, kind, topic, post, data)` is the one way in, for posting and for the
other services (moderation, polls, proposals, events). It runs in the caller's transaction.

No leak, at both ends:
- When written, a notification about a topic or post goes only to accounts that may read it now
  (permissions.audience_clause) and that have not muted the topic or its category.
- When read (the menu, the page, `/notifications.json`, an email about to be composed), the list is
  filtered again with the reader's current permissions: whoever loses access to the post (a tier
  drop, a category change, a deletion) loses the notification's contents with it. Notifications
  store no text of the post, only ids; titles and excerpts are read live.

Kinds are registered with `register_kind()`: a name, Discourse's numeric `notification_type`, and
the message shown. Issue-specific services register their own kinds at import time.
"""

from __future__ import annotations

import html
import json
import re
from dataclasses import dataclass
from functools import cache
from typing import Any

from sqlalchemy import and_, bindparam, func, or_, select, update
from sqlalchemy.orm import Session, aliased, lazyload

from forum import outbox, permissions
from forum import tags as forum_tags
from forum.errors import NotFound
from forum.i18n import Text, _
from forum.markdown import Cooked
from forum.models import (
    MUTED,
    WATCHING,
    CategoryUser,
    Notification,
    Post,
    Topic,
    TopicUser,
    User,
    UserOption,
    utcnow,
)
from forum.permissions import Viewer


@dataclass(frozen=True)
class Kind:
    name: str
    discourse_type: int
    message: Text
    email: bool = True
    # Delivered even when the topic is muted (moderator messages).
    always: bool = False


KINDS: dict[str, Kind] = {}


def register_kind(name: str, message: Text, *, discourse_type: int = 14, email: bool = True,
                  always: bool = False) -> Kind:
    """Add a kind of notification. `message` may use %(actor)s, %(topic)s, %(category)s and keys of `data`."""
    kind = Kind(name, discourse_type, message, email, always)
    KINDS[name] = kind
    return kind


# Discourse's notification_type numbers, so /notifications.json clients understand them.
register_kind("mentioned", _("%(actor)s mentioned you in %(topic)s"), discourse_type=1)
register_kind("replied", _("%(actor)s replied to your post in %(topic)s"), discourse_type=2)
register_kind("quoted", _("%(actor)s quoted your post in %(topic)s"), discourse_type=3)
register_kind("edited", _("%(actor)s edited your post in %(topic)s"), discourse_type=4, email=False)
register_kind("liked", _("%(actor)s liked your post in %(topic)s"), discourse_type=5)
register_kind("moderator_message", _("Message from the moderators: %(message)s"), discourse_type=6,
              always=True)
register_kind("private_message", _("%(actor)s sent you a message: %(topic)s"), discourse_type=6)
register_kind("invited_to_private_message", _("%(actor)s invited you into the conversation %(topic)s"),
              discourse_type=7)
register_kind("invitee_accepted", _("%(actor)s accepted your invitation"), discourse_type=8)
register_kind("posted", _("%(actor)s posted in %(topic)s"), discourse_type=9)
register_kind("new_topic", _("%(actor)s started %(topic)s in %(category)s"), discourse_type=9)
# Sent only to those who read the translation's language (forum/translations.py).
register_kind("translated", _("%(actor)s translated a post in %(topic)s into your language"), discourse_type=14)

LIKED_TWO = _("%(actor)s and %(other)s liked your post in %(topic)s")
LIKED_MANY = _("%(actor)s and %(n)s others liked your post in %(topic)s")

# A person gets one notification per post: the most specific reason wins.
_PRIORITY = ("mentioned", "quoted", "replied", "private_message", "posted", "new_topic")


# --- writing ----------------------------------------------------------------------------------

def _allowed_recipients(session: Session, user_ids: set[int], kind: Kind, topic: Topic | None,
                        post: Post | None) -> list[int]:
    if not user_ids:
        return []
    stmt = select(User.id).where(User.id.in_(user_ids), User.approved.is_(True))
    if topic is not None:
        stmt = stmt.where(permissions.audience_clause(session, topic, post))
    allowed = set(session.scalars(stmt))
    if topic is not None and not kind.always and allowed:
        topic_levels = dict(session.execute(select(TopicUser.user_id, TopicUser.notification_level).where(
            TopicUser.topic_id == topic.id, TopicUser.user_id.in_(allowed),
            TopicUser.notification_level.is_not(None))).all())
        category_muted = set(session.scalars(select(CategoryUser.user_id).where(
            CategoryUser.category_id == topic.category_id, CategoryUser.user_id.in_(allowed),
            CategoryUser.notification_level == MUTED)))
        category_muted |= forum_tags.muters(session, topic, allowed)  # a muted tag mutes its topics too
        allowed = {u for u in allowed
                   if topic_levels.get(u, MUTED if u in category_muted else None) != MUTED}
    return sorted(allowed)


def deliver(session: Session, user_ids: set[int] | list[int], kind_name: str, *, topic: Topic | None = None,
            post: Post | None = None, data: dict[str, Any] | None = None, actor_id: int | None = None,
            high_priority: bool = False) -> dict[int, Notification]:
    """Notify several people at once; returns the notifications written, by user id."""
    kind = KINDS[kind_name]
    wanted = {u for u in user_ids if u is not None and u != actor_id}
    recipients = _allowed_recipients(session, wanted, kind, topic, post)
    written: dict[int, Notification] = {}
    payload = json.dumps(data or {})
    for user_id in recipients:
        n = Notification(user_id=user_id, kind=kind.name, topic_id=topic.id if topic else None,
                         post_id=post.id if post else None, post_number=post.post_number if post else None,
                         actor_id=actor_id, data=payload, count=1, read=False, high_priority=high_priority,
                         created_at=utcnow())
        session.add(n)
        written[user_id] = n
    if written:
        session.flush()
        if kind.email:
            _queue_emails(session, list(written.values()))
    return written


def notify(session: Session, user_id: int, kind: str, topic: Topic | None = None, post: Post | None = None,
           data: dict[str, Any] | None = None, *, actor_id: int | None = None,
           high_priority: bool = False) -> Notification | None:
    """Notify one person, if they may see the topic/post and have not muted it; None when not sent."""
    return deliver(session, [user_id], kind, topic=topic, post=post, data=data, actor_id=actor_id,
                   high_priority=high_priority).get(user_id)


def _queue_emails(session: Session, notifications: list[Notification]) -> None:
    """Queue an email job for each recipient who wants immediate email (composed when the job runs)."""
    user_ids = [n.user_id for n in notifications]
    wanting = set(session.scalars(select(UserOption.user_id).where(
        UserOption.user_id.in_(user_ids), UserOption.email_notifications == "immediate",
        UserOption.email_confirmed_at.is_not(None))))
    for n in notifications:
        if n.user_id in wanting:
            outbox.enqueue(session, "notification_email", {"notification_id": n.id},
                           dedupe_key=f"notification-email:{n.id}")


def _user_ids_by_names(session: Session, names: list[str]) -> dict[str, int]:
    lowered = sorted({n.lower() for n in names if n})
    if not lowered:
        return {}
    return dict(session.execute(select(User.username_lower, User.id).where(User.username_lower.in_(lowered))).all())


def watchers(session: Session, topic: Topic, *, new_topic: bool) -> set[int]:
    explicit = select(TopicUser.user_id).where(TopicUser.topic_id == topic.id, TopicUser.notification_level == WATCHING)
    tu = aliased(TopicUser)
    by_category = (select(CategoryUser.user_id)
                   .outerjoin(tu, and_(tu.user_id == CategoryUser.user_id, tu.topic_id == topic.id))
                   .where(CategoryUser.category_id == topic.category_id, CategoryUser.notification_level == WATCHING,
                          tu.notification_level.is_(None)))
    ids = set(session.scalars(by_category))
    ids |= forum_tags.watchers(session, topic)  # watching a tag is watching its topics
    if not new_topic:
        ids |= set(session.scalars(explicit))
    return ids


def on_post_created(session: Session, post: Post, topic: Topic, cooked: Cooked, *, first: bool) -> None:
    """Mentions, quotes, replies and watchers of a new post, in the posting transaction."""
    actor = post.user_id
    done: set[int] = {actor}
    reasons: dict[str, set[int]] = {k: set() for k in _PRIORITY}
    reasons["mentioned"] = set(_user_ids_by_names(session, cooked.mentions).values())
    quoted_names = [name for name, _number, quoted_topic in cooked.quotes if name]
    reasons["quoted"] = set(_user_ids_by_names(session, quoted_names).values())
    if post.reply_to_post_number is not None:
        target = session.scalar(select(Post.user_id).where(Post.topic_id == topic.id,
                                                           Post.post_number == post.reply_to_post_number))
        if target is not None:
            reasons["replied"] = {target}
    if topic.category_id is None:
        # A private message: every person in it hears of each post (deliver() keeps to them).
        reasons["private_message"] = set(session.scalars(
            select(User.id).where(permissions.message_people_clause(topic.id))))
    else:
        reasons["new_topic" if first else "posted"] = watchers(session, topic, new_topic=first)
    for kind in _PRIORITY:
        users = reasons[kind] - done
        if users:
            written = deliver(session, users, kind, topic=topic, post=post, actor_id=actor)
            done |= set(written)


def on_post_edited(session: Session, post: Post, topic: Topic, old_mentions: list[str], cooked: Cooked,
                   editor_id: int) -> None:
    """New mentions added by an edit are notified; an author hears when someone else edits their post."""
    old = {m.lower() for m in old_mentions}
    added = [m for m in cooked.mentions if m.lower() not in old]
    done = set(deliver(session, set(_user_ids_by_names(session, added).values()) - {post.user_id}, "mentioned",
                       topic=topic, post=post, actor_id=editor_id))
    if editor_id != post.user_id and post.user_id not in done:
        deliver(session, [post.user_id], "edited", topic=topic, post=post, actor_id=editor_id)


def on_liked(session: Session, post: Post, topic: Topic, liker: User) -> None:
    """Likes group: while unread, one notification per post counts the likers ("Ana and 3 others")."""
    if post.user_id == liker.id:
        return
    # Locked: the count and the names are read, added to and written back.
    existing = session.scalar(select(Notification).where(
        Notification.user_id == post.user_id, Notification.kind == "liked", Notification.post_id == post.id,
        Notification.read.is_(False)).order_by(Notification.id.desc()).limit(1)
        .with_for_update(key_share=True, of=Notification))
    if existing is None:
        deliver(session, [post.user_id], "liked", topic=topic, post=post, actor_id=liker.id,
                data={"usernames": [liker.username]})
        return
    data = _data(existing)
    names = [liker.username] + [n for n in data.get("usernames", []) if n != liker.username]
    data["usernames"] = names[:20]
    existing.data = json.dumps(data)
    existing.count = existing.count + 1
    existing.actor_id = liker.id
    existing.created_at = utcnow()


# --- reading ----------------------------------------------------------------------------------

def _data(n: Notification) -> dict[str, Any]:
    try:
        value = json.loads(n.data or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _visible_of(topic_ok, post_ok):
    """Notifications whose topic and post the reader may read now (or that are about neither)."""
    return or_(Notification.topic_id.is_(None),
               and_(Topic.id.is_not(None), topic_ok,
                    or_(Notification.post_id.is_(None), and_(Post.id.is_not(None), post_ok))))


def _visible(session: Session, viewer: Viewer):
    return _visible_of(or_(permissions.visible_topics_clause(session, viewer, listed_only=False),
                           permissions.private_messages_clause(viewer)),
                       permissions.readable_posts_clause(viewer))


@cache
def _unread_count_stmt(staff: bool):
    # Asked on every page a signed-in reader opens (the header): built once, run with parameters.
    return (select(func.count(Notification.id))
            .outerjoin(Topic, Topic.id == Notification.topic_id)
            .outerjoin(Post, Post.id == Notification.post_id)
            .where(Notification.user_id == bindparam("reader"), Notification.read.is_(False),
                   _visible_of(or_(permissions.visible_topics_template(staff, listed_only=False),
                                   permissions.private_messages_clause(None, staff=staff)),
                               permissions.readable_posts_clause(staff))))


def _base(session: Session, viewer: Viewer):
    assert viewer.user is not None
    actor = aliased(User)
    return (select(Notification, Topic, Post, actor)
            .outerjoin(Topic, Topic.id == Notification.topic_id)
            .outerjoin(Post, Post.id == Notification.post_id)
            .outerjoin(actor, actor.id == Notification.actor_id)
            .where(Notification.user_id == viewer.user.id, _visible(session, viewer))
            # Their eager inner joins would drop notifications about no topic.
            .options(lazyload(Topic.category), lazyload(Topic.user), lazyload(Topic.last_post_user),
                     lazyload(Post.user)))


def unread_count(session: Session, viewer: Viewer) -> int:
    if viewer.user is None:
        return 0
    return session.scalar(_unread_count_stmt(permissions.sees_as_staff(viewer)),
                          {"reader": viewer.user.id, **permissions.visible_topics_params(session, viewer)}) or 0


def recent_states(session: Session, viewer: Viewer, limit: int = 20) -> list[tuple[int, bool]]:
    """The viewer's newest notifications they may still read, as (id, read): identifiers only."""
    if viewer.user is None:
        return []
    stmt = (select(Notification.id, Notification.read)
            .outerjoin(Topic, Topic.id == Notification.topic_id)
            .outerjoin(Post, Post.id == Notification.post_id)
            .where(Notification.user_id == viewer.user.id, _visible(session, viewer))
            .order_by(Notification.created_at.desc(), Notification.id.desc()).limit(limit))
    return [(row.id, row.read) for row in session.execute(stmt)]


@dataclass
class NotificationView:
    notification: Notification
    kind: Kind
    topic: Topic | None
    post: Post | None
    actor: User | None
    message: Text
    url: str | None
    excerpt: str

    @property
    def id(self) -> int:
        return self.notification.id

    @property
    def read(self) -> bool:
        return self.notification.read


def _view(n: Notification, topic: Topic | None, post: Post | None, actor: User | None) -> NotificationView:
    from forum import urls
    from forum.markdown import excerpt

    kind = KINDS.get(n.kind) or Kind(n.kind, 14, _("%(actor)s: %(topic)s"))
    data = _data(n)
    actor_name = actor.username if actor else data.get("display_username", "")
    params: dict[str, Any] = {str(k): v for k, v in data.items() if isinstance(v, str | int)}
    params.update(actor=actor_name, topic=topic.title if topic else "",
                  category=topic.category.name if topic and topic.category else "")
    message = kind.message
    if n.kind == "liked" and n.count > 1:
        names = data.get("usernames", [])
        if n.count == 2 and len(names) > 1:
            message, params["other"] = LIKED_TWO, names[1]
        else:
            message, params["n"] = LIKED_MANY, n.count - 1
    try:
        text = Text(message.msgid, **params)
    except (KeyError, ValueError, TypeError):
        text = Text(message.msgid.split("%")[0].strip() or n.kind)
    url = None
    if topic is not None:
        url = urls.post_url(topic, n.post_number) if n.post_number else urls.topic_url(topic)
        if n.post_number:
            url += f"#post_{n.post_number}"
    elif isinstance(data.get("url"), str) and data["url"].startswith("/"):
        url = data["url"]
    return NotificationView(n, kind, topic, post, actor, text, url,
                            excerpt(post.cooked, 160) if post is not None else "")


@dataclass
class NotificationPage:
    items: list[NotificationView]
    total: int
    unread: int
    has_more: bool
    offset: int
    limit: int


def list_for(session: Session, viewer: Viewer, *, limit: int = 30, offset: int = 0,
             filter: str | None = None) -> NotificationPage:
    """The viewer's notifications they may still read, newest first (one page costs one page)."""
    if viewer.user is None:
        raise NotFound()
    limit = min(max(limit, 1), 100)
    offset = min(max(offset, 0), 100_000)
    stmt = _base(session, viewer)
    if filter == "unread":
        stmt = stmt.where(Notification.read.is_(False))
    elif filter == "read":
        stmt = stmt.where(Notification.read.is_(True))
    if filter == "menu":  # unread first, then the most recent read ones
        stmt = stmt.order_by(Notification.read, Notification.created_at.desc(), Notification.id.desc())
    else:
        stmt = stmt.order_by(Notification.created_at.desc(), Notification.id.desc()).offset(offset)
    rows = session.execute(stmt.limit(limit + 1)).all()
    items = [_view(n, t, p, a) for n, t, p, a in rows[:limit]]
    total_stmt = (select(func.count(Notification.id)).outerjoin(Topic, Topic.id == Notification.topic_id)
                  .outerjoin(Post, Post.id == Notification.post_id)
                  .where(Notification.user_id == viewer.user.id, _visible(session, viewer)))
    return NotificationPage(items=items, total=session.scalar(total_stmt) or 0, unread=unread_count(session, viewer),
                            has_more=len(rows) > limit, offset=offset, limit=limit)


def get_visible(session: Session, viewer: Viewer, notification_id: int) -> NotificationView:
    if viewer.user is None:
        raise NotFound()
    row = session.execute(_base(session, viewer).where(Notification.id == notification_id)).first()
    if row is None:
        raise NotFound()
    return _view(*row)


def mark_read(session: Session, viewer: Viewer, notification_id: int | None = None) -> int:
    """Mark one notification (or all of the viewer's) read; someone else's answers NotFound."""
    if viewer.user is None:
        raise NotFound()
    stmt = update(Notification).where(Notification.user_id == viewer.user.id, Notification.read.is_(False))
    if notification_id is not None:
        exists = session.scalar(select(Notification.id).where(Notification.id == notification_id,
                                                              Notification.user_id == viewer.user.id))
        if exists is None:
            raise NotFound()
        stmt = stmt.where(Notification.id == notification_id)
    return session.execute(stmt.values(read=True), execution_options={"synchronize_session": False}).rowcount or 0


def discourse_json(view: NotificationView) -> dict[str, Any]:
    """One notification in the shape of Discourse's /notifications.json."""
    from forum import urls
    from forum.i18n import translate

    n = view.notification
    data = {k: v for k, v in _data(n).items() if k in ("usernames", "message")}
    if view.actor is not None:
        data["display_username"] = view.actor.username
        data["original_username"] = view.actor.username
    if view.topic is not None:
        data["topic_title"] = view.topic.title
    elif view.url:  # about no topic (a data archive): where it leads
        data["url"] = view.url
    if view.post is not None:
        data["original_post_id"] = view.post.id
    if n.kind == "liked":
        data["count"] = n.count
    data["message"] = translate(view.message, lambda s: s)
    shaped = {
        "id": n.id, "user_id": n.user_id, "notification_type": view.kind.discourse_type, "read": n.read,
        "high_priority": n.high_priority,
        "created_at": n.created_at.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "post_number": n.post_number, "topic_id": n.topic_id,
        "fancy_title": view.topic.title if view.topic else None,
        "slug": view.topic.slug if view.topic else None, "data": data,
    }
    if view.actor is not None:  # Discourse names these only when someone acted
        shaped["acting_user_avatar_template"] = urls.avatar_template(view.actor)
        shaped["acting_user_name"] = view.actor.name or None
    return shaped


_MENTION_LINK_RE = re.compile(r'<a\b[^>]*\bclass="mention"[^>]*>@([^<]+)</a>')


def mentions_in(cooked_html: str) -> list[str]:
    """Usernames a cooked post links as mentions (to tell new mentions from old ones after an edit)."""
    return [html.unescape(m) for m in _MENTION_LINK_RE.findall(cooked_html or "")]
