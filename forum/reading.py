"""Read models for pages and the API: topic lists, the category list, a topic's posts, a user's activity.

Every listing applies permissions.visible_topics_clause(); each page costs one page of rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import and_, case, false, func, or_, select
from sqlalchemy.orm import Session

from forum import permissions
from forum.errors import NotFound
from forum.models import (
    LIKE,
    Category,
    CategoryUser,
    ModerationLog,
    Post,
    PostAction,
    Tag,
    TagUser,
    Topic,
    TopicTag,
    User,
    UserOption,
    UserSession,
    utcnow,
)
from forum.permissions import Viewer
from forum.text import parse_id


@dataclass
class TopicList:
    topics: list[Topic]
    page: int
    per_page: int
    has_more: bool
    pinned: list[Topic] = field(default_factory=list)


def parse_page(value: str | int | None) -> int:
    try:
        page = int(value) if value not in (None, "") else 1
    except (TypeError, ValueError):
        return 1
    return min(max(page, 1), 100_000)


# Orders the API accepts (Discourse's `order` parameter); pages use the default.
TOPIC_ORDERS = {"default": Topic.bumped_at, "activity": Topic.bumped_at, "created": Topic.created_at,
                "views": Topic.views, "posts": Topic.posts_count, "likes": Topic.like_count,
                "category": Topic.category_id}


# Discourse's `status` filter on topic lists.
TOPIC_STATUSES = ("open", "closed", "archived", "listed", "unlisted", "deleted")


def _status_clause(session: Session, viewer: Viewer, status: str | None):
    """The topics a list shows for `status`: unlisted and deleted ones only to those who may see
    them (anyone else gets what the list shows without the filter, as in Discourse)."""
    if status == "deleted" and permissions.can_see_deleted_topics(viewer):
        return and_(permissions.visible_topics_clause(session, viewer, listed_only=False),
                    Topic.deleted_at.is_not(None))
    if status == "unlisted" and permissions.can_see_unlisted_topics(viewer):
        return and_(permissions.visible_topics_clause(session, viewer, listed_only=False),
                    Topic.visible.is_(False), Topic.deleted_at.is_(None))
    visible = permissions.visible_topics_clause(session, viewer)
    if status == "open":
        return and_(visible, Topic.closed.is_(False), Topic.archived.is_(False))
    if status == "closed":
        return and_(visible, Topic.closed.is_(True))
    if status == "archived":
        return and_(visible, Topic.archived.is_(True))
    if status == "unlisted":
        return false()
    return visible


def latest_topics(session: Session, viewer: Viewer, *, page: int = 1, per_page: int = 30,
                  category: Category | None = None, order: str = "default",
                  ascending: bool = False, status: str | None = None, tag_id: int | None = None) -> TopicList:
    visible = _status_clause(session, viewer, status)
    pinned_col = Topic.pinned if category is not None else Topic.pinned_globally
    base = select(Topic).where(visible)
    if category is not None:
        base = base.where(Topic.category_id == category.id)
    if tag_id is not None:
        base = base.where(Topic.id.in_(select(TopicTag.topic_id).where(TopicTag.tag_id == tag_id)))
    pinned: list[Topic] = []
    if page == 1:
        pinned = list(session.scalars(base.where(pinned_col.is_(True)).order_by(Topic.bumped_at.desc()).limit(20)))
    column = TOPIC_ORDERS.get(order, Topic.bumped_at)
    ordering = (column.asc(), Topic.id.asc()) if ascending else (column.desc(), Topic.id.desc())
    rows = list(session.scalars(
        base.where(pinned_col.is_(False)).order_by(*ordering)
        .offset((page - 1) * per_page).limit(per_page + 1)))
    return TopicList(topics=rows[:per_page], page=page, per_page=per_page, has_more=len(rows) > per_page,
                     pinned=pinned)


@dataclass
class CategoryRow:
    category: Category
    subcategories: list[Category]
    level: int


def category_list(session: Session, viewer: Viewer) -> list[CategoryRow]:
    levels = permissions.category_levels(session, viewer)
    categories = permissions.visible_categories(session, viewer)
    children: dict[int, list[Category]] = {}
    for c in categories:
        if c.parent_id is not None:
            children.setdefault(c.parent_id, []).append(c)
    return [CategoryRow(c, children.get(c.id, []), levels[c.id]) for c in categories if c.parent_id is None]


def get_category(session: Session, viewer: Viewer, category_id: int | str) -> Category:
    cid = parse_id(category_id)
    category = session.get(Category, cid) if cid is not None else None
    return permissions.ensure_can_see_category(session, viewer, category)


def get_topic(session: Session, viewer: Viewer, topic_id: int | str) -> Topic:
    tid = parse_id(topic_id)
    topic = session.get(Topic, tid) if tid is not None else None
    return permissions.ensure_can_see_topic(session, viewer, topic)


@dataclass
class ReplyTarget:
    post_number: int
    username: str


@dataclass
class PostsPage:
    """One page of a topic's posts, as every reader gets them (deleted and hidden ones included:
    the page shows a note in their place to those who may not read them)."""

    posts: list[Post]
    page: int
    pages: int
    per_page: int
    reply_targets: dict[int, ReplyTarget]


def page_of_post(post_number: int, per_page: int) -> int:
    return (max(post_number, 1) - 1) // per_page + 1


def post_by_number(session: Session, topic: Topic, post_number: int) -> Post | None:
    """The post, whatever its state: callers ask permissions.py whether the viewer may read it."""
    return session.scalar(select(Post).where(Post.topic_id == topic.id, Post.post_number == post_number))


def numbered_posts(session: Session, topic: Topic, *, first: int, count: int) -> list[Post]:
    """Posts `first` to `first + count - 1` as stored, deleted and hidden ones alike (staff pages)."""
    return list(session.scalars(select(Post).where(Post.topic_id == topic.id, Post.post_number >= first,
                                                   Post.post_number < first + count)
                                .order_by(Post.post_number)))


def reply_authors(session: Session, topic: Topic, post_numbers: set[int]) -> dict[int, User]:
    """Who wrote each of these posts of the topic, by post number (the "in reply to" of others)."""
    if not post_numbers:
        return {}
    rows = session.execute(select(Post.post_number, User).join(User, User.id == Post.user_id)
                           .where(Post.topic_id == topic.id, Post.post_number.in_(post_numbers)))
    return {number: user for number, user in rows}


def posts_page(session: Session, topic: Topic, *, page: int, per_page: int) -> PostsPage:
    pages = max(1, page_of_post(topic.highest_post_number, per_page))
    page = min(page, pages)
    first = (page - 1) * per_page + 1
    # Post numbers are contiguous, so a page is a range on the (topic, number) unique index.
    posts = list(session.scalars(
        select(Post).where(Post.topic_id == topic.id, Post.post_number >= first,
                           Post.post_number < first + per_page).order_by(Post.post_number)))
    wanted = {p.reply_to_post_number for p in posts if p.reply_to_post_number}
    targets: dict[int, ReplyTarget] = {}
    on_page = {p.post_number: p for p in posts}
    for number in list(wanted):
        if number in on_page:  # most replies answer a post just above them
            targets[number] = ReplyTarget(number, on_page[number].user.username)
            wanted.discard(number)
    if wanted:
        for number, username in session.execute(
            select(Post.post_number, User.username).join(User, User.id == Post.user_id)
            .where(Post.topic_id == topic.id, Post.post_number.in_(wanted))
        ):
            targets[number] = ReplyTarget(number, username)
    return PostsPage(posts=posts, page=page, pages=pages, per_page=per_page, reply_targets=targets)


def user_posts(session: Session, viewer: Viewer, user: User, *, limit: int = 30,
               before_id: int | None = None) -> list[tuple[Post, Topic]]:
    """A user's posts that this viewer may see, newest first."""
    stmt = (select(Post, Topic).join(Topic, Topic.id == Post.topic_id)
            .where(Post.user_id == user.id, permissions.visible_posts_clause(session, viewer))
            .order_by(Post.created_at.desc(), Post.id.desc()).limit(limit))
    if before_id is not None:
        stmt = stmt.where(Post.id < before_id)
    return [(p, t) for p, t in session.execute(stmt)]


def user_visible_counts(session: Session, viewer: Viewer, user: User) -> tuple[int, int]:
    """Topic and post counts of a user as this viewer may see them (never the hidden ones)."""
    from sqlalchemy import func

    posts = session.scalar(select(func.count(Post.id)).join(Topic, Topic.id == Post.topic_id)
                           .where(Post.user_id == user.id, permissions.visible_posts_clause(session, viewer)))
    topics = session.scalar(select(func.count(Topic.id)).where(
        Topic.user_id == user.id, permissions.visible_topics_clause(session, viewer)))
    return topics or 0, posts or 0


@dataclass
class ProfileExtras:
    """What a profile's JSON adds to the account: its owner's settings, and who invited them."""

    option: UserOption | None
    category_levels: dict[int, int]  # category id -> watch level
    sessions: list[UserSession]
    invited_by: User | None
    tier_size: int
    tag_levels: dict[str, int] = field(default_factory=dict)  # tag name -> watch level (tags they see)


def profile_extras(session: Session, user: User, *, private: bool) -> ProfileExtras:
    """`private`: the settings and sessions are read only for the account's owner and staff."""
    invited_by = session.get(User, user.invited_by_id) if user.invited_by_id else None
    tier_size = session.scalar(select(func.count(User.id)).where(User.tier == user.tier)) or 0
    if not private:
        return ProfileExtras(None, {}, [], invited_by, tier_size)
    levels = {category_id: level for category_id, level in session.execute(
        select(CategoryUser.category_id, CategoryUser.notification_level).where(CategoryUser.user_id == user.id))}
    sessions = list(session.scalars(select(UserSession).where(UserSession.user_id == user.id)
                                    .order_by(UserSession.last_used_at.desc()).limit(50)))
    watched = dict(session.execute(select(TagUser.tag_id, TagUser.notification_level)
                                   .where(TagUser.user_id == user.id)).all())
    seen = permissions.visible_tags(session, Viewer(user), list(watched)) if watched else {}
    tag_levels = {name: watched[tid] for tid, name in session.execute(
        select(Tag.id, Tag.name).where(Tag.id.in_(list(seen))))} if seen else {}
    return ProfileExtras(session.get(UserOption, user.id), levels, sessions, invited_by, tier_size, tag_levels)


# --- feeds and the API ------------------------------------------------------------------------

TOP_PERIODS = {"all": None, "yearly": 365, "quarterly": 91, "monthly": 30, "weekly": 7, "daily": 1}


def newest_topics(session: Session, viewer: Viewer, *, category: Category | None = None,
                  limit: int = 30, tag_id: int | None = None) -> list[Topic]:
    """Listed topics, newest created first. Ids grow with creation, so the primary key orders them."""
    stmt = select(Topic).where(permissions.visible_topics_clause(session, viewer))
    if category is not None:
        stmt = stmt.where(Topic.category_id == category.id)
    if tag_id is not None:
        stmt = stmt.where(Topic.id.in_(select(TopicTag.topic_id).where(TopicTag.tag_id == tag_id)))
    return list(session.scalars(stmt.order_by(Topic.id.desc()).limit(limit)))


def top_topics(session: Session, viewer: Viewer, *, period: str = "all", page: int = 1,
               per_page: int = 30) -> TopicList:
    """Topics created in the period, most liked and most replied first."""
    stmt = select(Topic).where(permissions.visible_topics_clause(session, viewer))
    days = TOP_PERIODS.get(period)
    if days is not None:
        stmt = stmt.where(Topic.created_at >= utcnow() - timedelta(days=days))
    rows = list(session.scalars(
        stmt.order_by(Topic.like_count.desc(), Topic.posts_count.desc(), Topic.views.desc(), Topic.id.desc())
        .offset((page - 1) * per_page).limit(per_page + 1)))
    return TopicList(topics=rows[:per_page], page=page, per_page=per_page, has_more=len(rows) > per_page)


def topics_created_by(session: Session, viewer: Viewer, user: User, *, page: int = 1,
                      per_page: int = 30) -> TopicList:
    stmt = (select(Topic).where(Topic.user_id == user.id, permissions.visible_topics_clause(session, viewer))
            .order_by(Topic.created_at.desc(), Topic.id.desc()).offset((page - 1) * per_page).limit(per_page + 1))
    rows = list(session.scalars(stmt))
    return TopicList(topics=rows[:per_page], page=page, per_page=per_page, has_more=len(rows) > per_page)


def first_post(session: Session, topic: Topic | int) -> Post | None:
    """The opening post of a topic, whatever its state (callers ask permissions.py what to show of it)."""
    topic_id = topic if isinstance(topic, int) else topic.id
    return session.scalar(select(Post).where(Post.topic_id == topic_id, Post.post_number == 1))


def first_posts(session: Session, topic_ids: list[int]) -> dict[int, Post]:
    """The opening post of each topic, by topic id (one query for a whole list)."""
    if not topic_ids:
        return {}
    return {p.topic_id: p for p in session.scalars(
        select(Post).where(Post.topic_id.in_(topic_ids), Post.post_number == 1))}


def liked_topic_ids(session: Session, viewer: Viewer, topic_ids: list[int]) -> set[int]:
    """Which of these topics the viewer has liked a post in (Discourse's `liked` on list items)."""
    if viewer.user is None or not topic_ids:
        return set()
    return set(session.scalars(select(Post.topic_id).distinct().join(PostAction, PostAction.post_id == Post.id)
                               .where(PostAction.user_id == viewer.user.id, PostAction.action_type == LIKE,
                                      Post.topic_id.in_(topic_ids))))


def has_deleted_posts(session: Session, topic: Topic) -> bool:
    return session.scalar(select(Post.id).where(Post.topic_id == topic.id, Post.deleted_at.is_not(None))
                          .limit(1)) is not None


def pinned_at(session: Session, topic: Topic) -> datetime | None:
    """When a pinned topic was pinned: the moderation log records every pin."""
    if not (topic.pinned or topic.pinned_globally):
        return None
    return session.scalar(select(ModerationLog.created_at).where(
        ModerationLog.target_type == "topic", ModerationLog.target_id == topic.id,
        ModerationLog.action.in_(("pin_topic", "pin_topic_globally")))
        .order_by(ModerationLog.id.desc()).limit(1))


def _stream_clauses(viewer: Viewer, include_deleted: bool) -> list:
    """The posts of a topic's stream: those the viewer may read (permissions.post_display), less the
    deleted ones of others unless staff ask for them (Discourse's show_deleted). An author's own
    deleted post stays, marked by its deleted_at, as it does on the topic page."""
    clauses = [permissions.readable_posts_clause(viewer)]
    if not include_deleted:
        clauses.append(Post.deleted_at.is_(None) if viewer.id is None
                       else or_(Post.deleted_at.is_(None), Post.user_id == viewer.id))
    return clauses


def topic_posts(session: Session, viewer: Viewer, topic: Topic, *, from_number: int = 1, limit: int = 20,
                newest_first: bool = False, post_ids: list[int] | None = None,
                include_deleted: bool = False) -> list[Post]:
    """Posts of a topic the viewer may read, a window at a time.

    The window is a range scan on the (topic, post number) index, so its cost does not grow with
    the topic: the newest 50 of a 5,000-post thread cost what the newest 50 of a 50-post one do.
    """
    permissions.ensure_can_see_topic(session, viewer, topic)
    stmt = select(Post).where(Post.topic_id == topic.id, *_stream_clauses(viewer, include_deleted))
    if post_ids is not None:
        return list(session.scalars(stmt.where(Post.id.in_(post_ids[:1000])).order_by(Post.post_number)
                                    .limit(limit)))
    if not newest_first:
        return list(session.scalars(stmt.where(Post.post_number >= from_number).order_by(Post.post_number)
                                    .limit(limit)))
    # Newest first: bound the post numbers too, so the cost stays that of one window whatever the
    # planner believes about the topic's size; widen it only when deleted posts thin it out.
    window = limit + 10
    while True:
        floor = topic.highest_post_number - window
        posts = list(session.scalars(stmt.where(Post.post_number > floor)
                                     .order_by(Post.post_number.desc()).limit(limit)))
        if len(posts) >= limit or floor <= 0:
            return posts
        window *= 4


def post_replies(session: Session, viewer: Viewer, post: Post, topic: Topic, *, limit: int = 100) -> list[Post]:
    """The posts that answer this one, as the viewer may read them, oldest first."""
    permissions.ensure_can_read_post(session, viewer, post, topic)
    return list(session.scalars(
        select(Post).where(Post.topic_id == topic.id, Post.reply_to_post_number == post.post_number,
                           Post.deleted_at.is_(None), permissions.visible_posts_in_topic_clause(viewer))
        .order_by(Post.post_number).limit(limit)))


def topic_stream(session: Session, viewer: Viewer, topic: Topic, *, include_deleted: bool = False) -> list[int]:
    """Ids of every post of the topic the viewer may read, in order (one column, one index scan)."""
    permissions.ensure_can_see_topic(session, viewer, topic)
    stmt = select(Post.id).where(Post.topic_id == topic.id, *_stream_clauses(viewer, include_deleted))
    return list(session.scalars(stmt.order_by(Post.post_number)))


def newest_posts(session: Session, viewer: Viewer, *, limit: int = 50,
                 before_id: int | None = None) -> list[tuple[Post, Topic]]:
    """Posts site-wide that the viewer may see, newest first."""
    stmt = (select(Post, Topic).join(Topic, Topic.id == Post.topic_id)
            .where(permissions.visible_posts_clause(session, viewer))
            .order_by(Post.id.desc()).limit(limit))
    if before_id is not None:
        stmt = stmt.where(Post.id <= before_id)
    return [(p, t) for p, t in session.execute(stmt)]


def post_likers(session: Session, viewer: Viewer, post: Post, topic: Topic, *, limit: int = 200) -> list[User]:
    permissions.ensure_can_read_post(session, viewer, post, topic)
    return list(session.scalars(
        select(User).join(PostAction, PostAction.user_id == User.id)
        .where(PostAction.post_id == post.id, PostAction.action_type == LIKE)
        .order_by(PostAction.created_at).limit(limit)))


def topic_participants(session: Session, viewer: Viewer, topic: Topic, *, limit: int = 24) -> list[tuple[User, int]]:
    """Who wrote the posts of a topic the viewer may read, with how many, most active first."""
    permissions.ensure_can_see_topic(session, viewer, topic)
    posts = func.count(Post.id)
    return [(user, n) for user, n in session.execute(
        select(User, posts).join(Post, Post.user_id == User.id)
        .where(Post.topic_id == topic.id, Post.deleted_at.is_(None),
               permissions.visible_posts_in_topic_clause(viewer))
        .group_by(User.id).order_by(posts.desc(), User.id).limit(limit))]


def frequent_posters(session: Session, viewer: Viewer, topics: list[Topic], *,
                     limit: int = 4) -> dict[int, list[User]]:
    """For each topic, who wrote most of its posts the viewer may read, besides its original and
    its most recent poster (Discourse's "featured users"): one grouped query for a whole list."""
    if not topics:
        return {}
    posts = func.count(Post.id)
    rows = session.execute(
        select(Post.topic_id, Post.user_id, posts)
        .where(Post.topic_id.in_([t.id for t in topics]), Post.deleted_at.is_(None),
               permissions.readable_posts_clause(viewer))
        .group_by(Post.topic_id, Post.user_id)
        .order_by(Post.topic_id, posts.desc(), func.min(Post.post_number))).all()
    by_topic = {t.id: t for t in topics}
    featured: dict[int, list[int]] = {}
    for topic_id, user_id, _count in rows:
        topic = by_topic[topic_id]
        chosen = featured.setdefault(topic_id, [])
        if user_id not in (topic.user_id, topic.last_post_user_id) and len(chosen) < limit:
            chosen.append(user_id)
    wanted = {uid for ids in featured.values() for uid in ids}
    users = {u.id: u for u in session.scalars(select(User).where(User.id.in_(wanted)))} if wanted else {}
    return {tid: [users[uid] for uid in ids if uid in users] for tid, ids in featured.items()}


def category_by_slug(session: Session, viewer: Viewer, slug: str, parent_slug: str | None = None) -> Category:
    """A category the viewer may see, named by its slug (and its parent's); NotFound otherwise."""
    stmt = select(Category).where(Category.slug == slug.lower(),
                                  Category.id.in_(permissions.visible_category_ids(session, viewer)))
    if parent_slug is not None:
        stmt = stmt.where(Category.parent_id.in_(select(Category.id).where(Category.slug == parent_slug.lower())))
    category = session.scalars(stmt.order_by(Category.id)).first()
    if category is None:
        raise NotFound()
    return category


STATS_WINDOWS = {"last_day": 1, "7_days": 7, "30_days": 30}


def about_stats(session: Session, viewer: Viewer) -> dict[str, int]:
    """Discourse's /about stats: totals and the last day, week and month of topics, posts, likes and
    accounts. Content is counted as this viewer may see it; people by when they joined and were last seen."""
    now = utcnow()

    def windows(column):
        return [func.coalesce(func.sum(case((column > now - timedelta(days=days), 1), else_=0)), 0)
                for days in STATS_WINDOWS.values()]

    def named(prefix: str, total: int, counts) -> dict[str, int]:
        return {f"{prefix}_count": int(total or 0),
                **{f"{prefix}s_{w}": int(n or 0) for w, n in zip(STATS_WINDOWS, counts, strict=True)}}

    topics = session.execute(select(func.count(Topic.id), *windows(Topic.created_at))
                             .where(permissions.visible_topics_clause(session, viewer))).one()
    readable = (permissions.visible_posts_clause(session, viewer), Post.deleted_at.is_(None))
    posts = session.execute(select(func.count(Post.id), *windows(Post.created_at))
                            .join(Topic, Topic.id == Post.topic_id).where(*readable)).one()
    likes = session.execute(select(func.count(PostAction.id), *windows(PostAction.created_at))
                            .join(Post, Post.id == PostAction.post_id).join(Topic, Topic.id == Post.topic_id)
                            .where(PostAction.action_type == LIKE, *readable)).one()
    users = session.execute(select(func.count(User.id), *windows(User.created_at))).one()
    active = session.execute(select(*windows(User.last_seen_at))).one()
    stats = {**named("topic", topics[0], topics[1:]), **named("post", posts[0], posts[1:]),
             **named("user", users[0], users[1:]), **named("like", likes[0], likes[1:]),
             **{f"active_users_{w}": int(n or 0) for w, n in zip(STATS_WINDOWS, active, strict=True)}}
    stats["likes_count"] = stats["like_count"]  # the name older Discourse versions (and pydiscourse users) read
    return stats
