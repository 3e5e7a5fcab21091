"""A person's activity as Discourse's user actions: topics started, replies, likes given and received.

There is no table of actions: each one is a post or a like on a post, read where it lives. Every
entry names a post, so the visibility filter of every other listing decides what a viewer gets:
an action in a topic the viewer may not see, or on a deleted or hidden post they may not read, is
never listed (its author and staff read such a post, marked deleted or hidden: permissions.py, rule 8).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Integer, literal, select, union_all
from sqlalchemy.orm import Session

from forum import permissions
from forum.errors import NotFound
from forum.models import LIKE, Post, PostAction, Topic, User
from forum.permissions import Viewer

# Discourse's action types (UserAction.types) that exist here.
LIKE_GIVEN = 1
WAS_LIKED = 2
NEW_TOPIC = 4
REPLY = 5
KNOWN = {LIKE_GIVEN, WAS_LIKED, NEW_TOPIC, REPLY}
# Discourse lists these only to the person and admins: likes received, replies to them, mentions,
# quotes, edits. Asking for one of them about someone else answers 404, as Discourse does.
PRIVATE = {WAS_LIKED, 6, 7, 9, 11}

MAX_LIMIT = 100


@dataclass
class UserAction:
    action_type: int
    created_at: datetime
    post: Post
    topic: Topic
    acting_user: User  # who did it: the person, or for WAS_LIKED the one who liked


def parse_filter(value: str | None) -> list[int]:
    """Discourse's `filter=1,4,5`."""
    return [int(part) for part in (value or "").split(",") if part.strip().isdigit() and len(part.strip()) <= 3]


def stream(session: Session, viewer: Viewer, user: User, *, action_types: list[int], offset: int = 0,
           limit: int = 30) -> list[UserAction]:
    """The person's actions the viewer may see, newest first; all public kinds when none are named."""
    own = permissions.can_see_private_activity(viewer, user)
    if not own and PRIVATE & set(action_types):
        raise NotFound()
    wanted = set(action_types) if action_types else {LIKE_GIVEN, NEW_TOPIC, REPLY} | ({WAS_LIKED} if own else set())
    visible = permissions.visible_posts_clause(session, viewer)

    def posts_by_user(action_type: int, first: bool):
        return (select(literal(action_type, Integer).label("action_type"), Post.created_at.label("created_at"),
                       Post.id.label("post_id"), Post.user_id.label("acting_user_id"))
                .join(Topic, Topic.id == Post.topic_id)
                .where(Post.user_id == user.id, (Post.post_number == 1) if first else (Post.post_number > 1),
                       visible))

    def likes(action_type: int, *, given: bool):
        return (select(literal(action_type, Integer).label("action_type"), PostAction.created_at.label("created_at"),
                       PostAction.post_id.label("post_id"), PostAction.user_id.label("acting_user_id"))
                .join(Post, Post.id == PostAction.post_id).join(Topic, Topic.id == Post.topic_id)
                .where(PostAction.action_type == LIKE,
                       (PostAction.user_id == user.id) if given else (Post.user_id == user.id), visible))

    parts = []
    if NEW_TOPIC in wanted:
        parts.append(posts_by_user(NEW_TOPIC, True))
    if REPLY in wanted:
        parts.append(posts_by_user(REPLY, False))
    if LIKE_GIVEN in wanted:
        parts.append(likes(LIKE_GIVEN, given=True))
    if WAS_LIKED in wanted:
        parts.append(likes(WAS_LIKED, given=False))
    if not parts:
        return []
    actions = (parts[0] if len(parts) == 1 else union_all(*parts)).subquery()
    rows = session.execute(
        select(actions).order_by(actions.c.created_at.desc(), actions.c.post_id.desc(), actions.c.action_type)
        .offset(max(offset, 0)).limit(min(max(limit, 1), MAX_LIMIT))).all()
    posts = {p.id: p for p in session.scalars(select(Post).where(Post.id.in_({r.post_id for r in rows})))}
    topics = {t.id: t for t in session.scalars(select(Topic).where(Topic.id.in_({p.topic_id for p in posts.values()})))}
    users = {u.id: u for u in session.scalars(select(User).where(User.id.in_({r.acting_user_id for r in rows})))}
    return [UserAction(r.action_type, r.created_at, posts[r.post_id], topics[posts[r.post_id].topic_id],
                       users[r.acting_user_id]) for r in rows]
