"""People and what they did: the users directory, a person's summary (Discourse's
/directory_items and /u/{username}/summary), who holds each tier (Discourse's groups) and who the
staff are (/about).

Every count is of what the viewer may see: likes on posts they may read, topics in categories they
may see. A private category's activity never shows, not even as a number.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import Select, and_, func, select, true
from sqlalchemy.orm import Session, aliased

from forum import permissions
from forum.errors import ForumError
from forum.i18n import _
from forum.models import LIKE, Category, Post, PostAction, Topic, TopicUser, User, utcnow
from forum.permissions import Viewer

PERIODS = {"daily": 1, "weekly": 7, "monthly": 30, "quarterly": 91, "yearly": 365, "all": None}
ORDERS = ("likes_received", "likes_given", "topic_count", "post_count", "topics_entered", "posts_read",
          "days_visited")
PAGE_SIZE = 50


@dataclass
class DirectoryItem:
    user: User
    likes_received: int = 0
    likes_given: int = 0
    topics_entered: int = 0
    topic_count: int = 0
    post_count: int = 0
    posts_read: int = 0
    days_visited: int = 0  # visits per day are not recorded here


@dataclass
class DirectoryPage:
    items: list[DirectoryItem]
    total: int
    page: int
    period: str
    order: str
    ascending: bool


def _readable_posts(session: Session, viewer: Viewer):
    return and_(permissions.visible_posts_clause(session, viewer), Post.deleted_at.is_(None))


def _since(period: str):
    days = PERIODS[period]
    return None if days is None else utcnow() - timedelta(days=days)


def _in_period(column, since) -> list:
    return [] if since is None else [column >= since]


def _counts(session: Session, viewer: Viewer, since) -> dict[str, Select]:
    """One grouped subquery per column, keyed by the user each row counts for."""
    readable = _readable_posts(session, viewer)
    liked_post = (select(Post.user_id.label("uid"), func.count(PostAction.id).label("n"))
                  .join(Post, Post.id == PostAction.post_id).join(Topic, Topic.id == Post.topic_id)
                  .where(PostAction.action_type == LIKE, readable, *_in_period(PostAction.created_at, since))
                  .group_by(Post.user_id))
    given = (select(PostAction.user_id.label("uid"), func.count(PostAction.id).label("n"))
             .join(Post, Post.id == PostAction.post_id).join(Topic, Topic.id == Post.topic_id)
             .where(PostAction.action_type == LIKE, readable, *_in_period(PostAction.created_at, since))
             .group_by(PostAction.user_id))
    topics = (select(Topic.user_id.label("uid"), func.count(Topic.id).label("n"))
              .where(permissions.visible_topics_clause(session, viewer), *_in_period(Topic.created_at, since))
              .group_by(Topic.user_id))
    # Discourse's directory counts replies here; opening posts are the topic count.
    replies = (select(Post.user_id.label("uid"), func.count(Post.id).label("n"))
               .join(Topic, Topic.id == Post.topic_id)
               .where(readable, Post.post_number > 1, *_in_period(Post.created_at, since))
               .group_by(Post.user_id))
    entered = (select(TopicUser.user_id.label("uid"), func.count(TopicUser.topic_id).label("n"))
               .join(Topic, Topic.id == TopicUser.topic_id)
               .where(permissions.visible_topics_clause(session, viewer), TopicUser.first_visited_at.is_not(None),
                      *_in_period(TopicUser.first_visited_at, since))
               .group_by(TopicUser.user_id))
    # How far each person read, in the topics they first opened in the period.
    read = (select(TopicUser.user_id.label("uid"), func.sum(TopicUser.last_read_post_number).label("n"))
            .join(Topic, Topic.id == TopicUser.topic_id)
            .where(permissions.visible_topics_clause(session, viewer), TopicUser.first_visited_at.is_not(None),
                   *_in_period(TopicUser.first_visited_at, since))
            .group_by(TopicUser.user_id))
    return {"likes_received": liked_post, "likes_given": given, "topic_count": topics, "post_count": replies,
            "topics_entered": entered, "posts_read": read}


def directory(session: Session, viewer: Viewer, *, period: str | None, order: str | None, ascending: bool = False,
              page: int = 0) -> DirectoryPage:
    period = period or "all"
    order = order or "likes_received"
    if period not in PERIODS:
        raise ForumError(_("period must be one of %(values)s.", values=", ".join(PERIODS)))
    if order not in ORDERS:
        raise ForumError(_("order must be one of %(values)s.", values=", ".join(ORDERS)))
    page = min(max(page, 0), 100_000)
    subqueries = {name: q.subquery(name) for name, q in _counts(session, viewer, _since(period)).items()}
    columns = {name: func.coalesce(sq.c.n, 0) for name, sq in subqueries.items()}
    stmt = select(User, *columns.values()).where(permissions.visible_users_clause(viewer))
    for sq in subqueries.values():
        stmt = stmt.outerjoin(sq, sq.c.uid == User.id)
    key = columns.get(order)
    ordering = [] if key is None else [key.asc() if ascending else key.desc()]
    rows = session.execute(stmt.order_by(*ordering, User.username_lower)
                           .offset(page * PAGE_SIZE).limit(PAGE_SIZE)).all()
    total = session.scalar(select(func.count(User.id)).where(permissions.visible_users_clause(viewer))) or 0
    items = [DirectoryItem(row[0], **{name: int(value or 0) for name, value in zip(columns, row[1:], strict=True)})
             for row in rows]
    return DirectoryPage(items=items, total=total, page=page, period=period, order=order, ascending=ascending)


# --- a person's summary -----------------------------------------------------------------------

@dataclass
class UserCount:
    user: User
    count: int


@dataclass
class CategoryCount:
    category: Category
    topic_count: int
    post_count: int


@dataclass
class Summary:
    likes_given: int
    likes_received: int
    topics_entered: int
    posts_read: int
    topic_count: int
    post_count: int
    top_topics: list[Topic] = field(default_factory=list)
    top_replies: list[tuple[Post, Topic]] = field(default_factory=list)
    most_liked_by: list[UserCount] = field(default_factory=list)
    most_liked: list[UserCount] = field(default_factory=list)
    most_replied_to: list[UserCount] = field(default_factory=list)
    top_categories: list[CategoryCount] = field(default_factory=list)


SUMMARY_LIMIT = 6


def _user_counts(session: Session, stmt, limit: int = SUMMARY_LIMIT) -> list[UserCount]:
    rows = session.execute(stmt.limit(limit)).all()
    users = {u.id: u for u in session.scalars(select(User).where(User.id.in_([r[0] for r in rows])))} if rows else {}
    return [UserCount(users[uid], int(n)) for uid, n in rows if uid in users]


def summary(session: Session, viewer: Viewer, user: User) -> Summary:
    readable = _readable_posts(session, viewer)
    visible_topics = permissions.visible_topics_clause(session, viewer)
    n = func.count(PostAction.id)
    likes_received = (select(n).join(Post, Post.id == PostAction.post_id).join(Topic, Topic.id == Post.topic_id)
                      .where(PostAction.action_type == LIKE, Post.user_id == user.id, readable))
    likes_given = (select(n).join(Post, Post.id == PostAction.post_id).join(Topic, Topic.id == Post.topic_id)
                   .where(PostAction.action_type == LIKE, PostAction.user_id == user.id, readable))
    entered, read = session.execute(
        select(func.count(TopicUser.topic_id), func.coalesce(func.sum(TopicUser.last_read_post_number), 0))
        .join(Topic, Topic.id == TopicUser.topic_id)
        .where(TopicUser.user_id == user.id, TopicUser.first_visited_at.is_not(None), visible_topics)).one()
    topic_count = session.scalar(select(func.count(Topic.id)).where(Topic.user_id == user.id, visible_topics)) or 0
    post_count = session.scalar(select(func.count(Post.id)).join(Topic, Topic.id == Post.topic_id)
                                .where(Post.user_id == user.id, readable)) or 0
    result = Summary(likes_given=session.scalar(likes_given) or 0, likes_received=session.scalar(likes_received) or 0,
                     topics_entered=entered or 0, posts_read=int(read or 0), topic_count=topic_count,
                     post_count=post_count)
    result.top_topics = list(session.scalars(
        select(Topic).where(Topic.user_id == user.id, visible_topics)
        .order_by(Topic.like_count.desc(), Topic.created_at.desc()).limit(SUMMARY_LIMIT)))
    result.top_replies = [(p, t) for p, t in session.execute(
        select(Post, Topic).join(Topic, Topic.id == Post.topic_id)
        .where(Post.user_id == user.id, Post.post_number > 1, readable, visible_topics)
        .order_by(Post.like_count.desc(), Post.created_at.desc()).limit(SUMMARY_LIMIT))]
    liker = PostAction.user_id
    result.most_liked_by = _user_counts(session, (
        select(liker, n).join(Post, Post.id == PostAction.post_id).join(Topic, Topic.id == Post.topic_id)
        .where(PostAction.action_type == LIKE, Post.user_id == user.id, readable)
        .group_by(liker).order_by(n.desc(), liker)))
    result.most_liked = _user_counts(session, (
        select(Post.user_id, n).join(Post, Post.id == PostAction.post_id).join(Topic, Topic.id == Post.topic_id)
        .where(PostAction.action_type == LIKE, PostAction.user_id == user.id, readable)
        .group_by(Post.user_id).order_by(n.desc(), Post.user_id)))
    target = aliased(Post)
    replies = func.count(Post.id)
    result.most_replied_to = _user_counts(session, (
        select(target.user_id, replies).join(Topic, Topic.id == Post.topic_id)
        .join(target, and_(target.topic_id == Post.topic_id, target.post_number == Post.reply_to_post_number))
        .where(Post.user_id == user.id, target.user_id != user.id, readable, target.deleted_at.is_(None),
               true() if permissions.sees_as_staff(viewer) else target.hidden.is_(False))
        .group_by(target.user_id).order_by(replies.desc(), target.user_id)))
    topics_in = func.count(func.distinct(Topic.id))
    posts_in = func.count(Post.id)
    rows = session.execute(
        select(Topic.category_id, topics_in, posts_in).join(Post, Post.topic_id == Topic.id)
        .where(Post.user_id == user.id, readable).group_by(Topic.category_id)
        .order_by(posts_in.desc(), Topic.category_id).limit(SUMMARY_LIMIT)).all()
    categories = {c.id: c for c in session.scalars(select(Category).where(Category.id.in_([r[0] for r in rows])))}
    # Topics counted are those the person started there.
    started = {cid: count for cid, count in session.execute(
        select(Topic.category_id, func.count(Topic.id)).where(Topic.user_id == user.id, visible_topics)
        .group_by(Topic.category_id))} if rows else {}
    result.top_categories = [CategoryCount(categories[cid], started.get(cid, 0), int(posts))
                             for cid, _topics, posts in rows if cid in categories]
    return result


# --- who holds each tier, who the staff are ---------------------------------------------------

def tier_counts(session: Session, viewer: Viewer) -> dict[str, int]:
    """How many accounts the viewer may see hold each tier."""
    rows = session.execute(select(User.tier, func.count(User.id)).where(permissions.visible_users_clause(viewer))
                           .group_by(User.tier))
    return {tier: n for tier, n in rows}


def tier_members(session: Session, viewer: Viewer, tier: str, *, limit: int, offset: int) -> tuple[int, list[User]]:
    """The accounts the viewer may see that hold this tier, by username, and how many there are."""
    members = and_(User.tier == tier, permissions.visible_users_clause(viewer))
    total = session.scalar(select(func.count(User.id)).where(members)) or 0
    users = session.scalars(select(User).where(members).order_by(User.username_lower).offset(offset).limit(limit))
    return total, list(users)


def staff(session: Session) -> list[User]:
    """Every administrator and moderator, oldest account first: the site's about page names them."""
    return list(session.scalars(select(User).where(permissions.staff_clause()).order_by(User.id)))
