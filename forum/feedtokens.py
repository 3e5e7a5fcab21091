"""Personal feed tokens: a secret in a feed URL that lets a feed reader read as its owner.

A token opens feeds only (never pages or the API), either all of its owner's feeds or one feed.
It carries no permissions of its own: each request reads as the owner may read *now*, so a
revoked token or a lowered tier takes effect on the next request. Only a hash is stored.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlsplit

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from forum import auth, permissions, urls
from forum import tags as forum_tags
from forum.errors import LoginRequired, NotFound, ValidationFailed
from forum.i18n import _
from forum.models import ALL_FEEDS, Category, FeedToken, Tag, Topic, User, utcnow
from forum.permissions import Viewer
from forum.text import clean, parse_id

MAX_TOKENS_PER_USER = 50
TOUCH_EVERY = timedelta(minutes=5)
SCOPE_RE = re.compile(r"^(all|latest|posts|top|(category|topic|user|tag):[0-9]{1,10})$")

# Feed paths, as people paste them, to the scope of the one feed they name.
_FEED_PATHS = [
    (re.compile(r"^/latest\.rss$"), lambda m: "latest"),
    (re.compile(r"^/posts\.rss$"), lambda m: "posts"),
    (re.compile(r"^/top(/[a-z]+)?\.rss$"), lambda m: "top"),
    (re.compile(r"^/c/(?:[^/]+/){0,2}([0-9]+)\.rss$"), lambda m: f"category:{m.group(1)}"),
    (re.compile(r"^/t/(?:[^/]+/)?([0-9]+)\.rss$"), lambda m: f"topic:{m.group(1)}"),
]
_USER_FEED = re.compile(r"^/u/([^/]+)/activity\.rss$")
_TAG_FEED = re.compile(r"^/tag/([^/]+)\.rss$")


@dataclass
class NewFeedToken:
    token: FeedToken
    secret: str  # shown once, never stored


@dataclass
class ScopeInfo:
    label: str
    feed_path: str | None  # None for "all feeds"


def scope_from_url(session: Session, value: str) -> str:
    """The scope named by a feed URL or path (empty means all feeds); ValidationFailed if it names none."""
    value = clean(value, single_line=True)
    if not value:
        return ALL_FEEDS
    path = urlsplit(value).path or value
    for pattern, scope in _FEED_PATHS:
        m = pattern.match(path)
        if m:
            return scope(m)
    m = _USER_FEED.match(path)
    if m:
        user = session.scalar(select(User).where(User.username_lower == m.group(1).lower()))
        if user is not None:
            return f"user:{user.id}"
    m = _TAG_FEED.match(path)
    if m:
        tag = forum_tags.by_name(session, m.group(1))
        if tag is not None:
            return f"tag:{tag.id}"
    raise ValidationFailed(fields={"feed": _("That is not the address of one of this forum's feeds.")})


def describe_scope(session: Session, viewer: Viewer, scope: str) -> ScopeInfo:
    """What a scope covers, in words, without naming anything the viewer may no longer see."""
    if scope == ALL_FEEDS:
        return ScopeInfo(_("All your feeds"), None)
    if scope == "latest":
        return ScopeInfo(_("Latest topics"), "/latest.rss")
    if scope == "posts":
        return ScopeInfo(_("Latest posts"), "/posts.rss")
    if scope == "top":
        return ScopeInfo(_("Top topics"), "/top.rss")
    kind, _sep, ident = scope.partition(":")
    obj_id = parse_id(ident)
    if kind == "category":
        category = session.get(Category, obj_id) if obj_id else None
        if category is not None and permissions.can_see_category(session, viewer, category):
            return ScopeInfo(_("Category: %(name)s", name=category.name), urls.category_feed_url(category))
    elif kind == "topic":
        topic = session.get(Topic, obj_id) if obj_id else None
        if topic is not None and permissions.can_see_topic(session, viewer, topic):
            return ScopeInfo(_("Topic: %(title)s", title=topic.title), urls.topic_feed_url(topic))
    elif kind == "user":
        user = session.get(User, obj_id) if obj_id else None
        if user is not None:
            return ScopeInfo(_("Posts by %(user)s", user=user.username), urls.user_feed_url(user))
    elif kind == "tag":
        tag = session.get(Tag, obj_id) if obj_id else None
        if tag is not None and permissions.can_see_tag(session, viewer, tag):
            return ScopeInfo(_("Tag: %(name)s", name=tag.name), urls.tag_feed_url(tag.name))
    return ScopeInfo(_("A feed you can no longer see"), None)


def _check_scope_target(session: Session, viewer: Viewer, scope: str) -> None:
    """A token may only be made for a feed its owner can read now."""
    kind, _sep, ident = scope.partition(":")
    obj_id = parse_id(ident)
    visible = True
    if kind == "category":
        category = session.get(Category, obj_id) if obj_id else None
        visible = category is not None and permissions.can_see_category(session, viewer, category)
    elif kind == "topic":
        topic = session.get(Topic, obj_id) if obj_id else None
        visible = topic is not None and permissions.can_see_topic(session, viewer, topic)
    elif kind == "user":
        visible = obj_id is not None and session.get(User, obj_id) is not None
    elif kind == "tag":
        visible = permissions.can_see_tag(session, viewer, session.get(Tag, obj_id) if obj_id else None)
    if not visible:
        raise ValidationFailed(fields={"feed": _("That is not the address of one of this forum's feeds.")})


def create_feed_token(session: Session, viewer: Viewer, *, scope: str = ALL_FEEDS, label: str = "") -> NewFeedToken:
    if viewer.user is None:
        raise LoginRequired()
    if not SCOPE_RE.match(scope or ""):
        raise ValidationFailed(fields={"feed": _("That is not the address of one of this forum's feeds.")})
    _check_scope_target(session, viewer, scope)
    count = session.scalar(select(func.count(FeedToken.id)).where(FeedToken.user_id == viewer.user.id)) or 0
    if count >= MAX_TOKENS_PER_USER:
        raise ValidationFailed(_("You have %(n)s feed links; revoke some before making more.", n=count))
    secret = secrets.token_urlsafe(32)
    token = FeedToken(token_hash=auth.token_hash(secret), user_id=viewer.user.id, scope=scope,
                      label=clean(label, single_line=True)[:100])
    session.add(token)
    session.flush()
    return NewFeedToken(token, secret)


def list_feed_tokens(session: Session, viewer: Viewer) -> list[FeedToken]:
    if viewer.user is None:
        raise LoginRequired()
    return list(session.scalars(select(FeedToken).where(FeedToken.user_id == viewer.user.id)
                                .order_by(FeedToken.id.desc())))


def revoke_feed_token(session: Session, viewer: Viewer, token_id: int | str) -> None:
    if viewer.user is None:
        raise LoginRequired()
    tid = parse_id(token_id)
    # Someone else's token looks exactly like a missing one.
    deleted = session.execute(delete(FeedToken).where(FeedToken.id == tid, FeedToken.user_id == viewer.user.id)
                              ) if tid is not None else None
    if deleted is None or deleted.rowcount == 0:
        raise NotFound()


def reader_for(session: Session, secret: str, feed_scope: str) -> tuple[Viewer, FeedToken] | None:
    """The viewer a feed request reads as, or None when the token is unknown, revoked or for another feed."""
    if not secret or len(secret) > 200:
        return None
    token = session.scalar(select(FeedToken).where(FeedToken.token_hash == auth.token_hash(secret)))
    if token is None or not permissions.feed_token_opens(token, feed_scope):
        return None
    return Viewer(user=token.user), token


def needs_touch(token: FeedToken) -> bool:
    return token.last_used_at is None or token.last_used_at < utcnow() - TOUCH_EVERY


def touch(session: Session, token_id: int) -> None:
    session.execute(update(FeedToken).where(FeedToken.id == token_id).values(last_used_at=utcnow()))


def feed_url(base_url: str, feed_path: str, secret: str) -> str:
    return urls.absolute(base_url, feed_path) + f"?token={secret}"
