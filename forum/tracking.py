"""Read tracking, watching levels, "seen by N of M", and view counting.

- Each signed-in person has a TopicUser row per topic they touched: the last post number they read
  (advanced by page views without JavaScript, and by posts scrolling into view with it), whether
  and when they opened the topic, and how closely they watch it.
- "Seen by N of M": N counts the people who opened the topic page (never an email, never "mark
  read"); M is the number of accounts allowed to see the topic now, from permissions.
- Views: one per viewer (account, or address for visitors) per window, however often they reload,
  counted across processes (Redis when configured, else a row in the database).
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from datetime import UTC, timedelta
from functools import cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import and_, bindparam, delete, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from forum import permissions
from forum.errors import NotFound, ValidationFailed
from forum.i18n import _
from forum.models import (
    MUTED,
    NORMAL,
    TRACKING,
    WATCH_LEVEL_NAMES,
    WATCHING,
    Category,
    CategoryUser,
    Notification,
    TagUser,
    Topic,
    TopicTag,
    TopicUser,
    TopicViewMark,
    User,
    utcnow,
)
from forum.permissions import Viewer

VIEW_WINDOW = timedelta(minutes=30)
NEW_TOPIC_DAYS = 7
_NO_SYNC = {"synchronize_session": False}


def user_zone(user: User | None) -> ZoneInfo:
    name = user.timezone if user is not None else None
    try:
        return ZoneInfo(name) if name else ZoneInfo("UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


# --- per-user topic rows ----------------------------------------------------------------------

TOPIC_USERS = "forum_topic_users"


def topic_user(session: Session, user_id: int, topic_id: int, *, create: bool = False) -> TopicUser | None:
    # A page asks for the reader's row several times (read position, watch level): the session
    # keeps what it found, even "no row", since its identity map forgets rows nobody holds.
    known = session.info.setdefault(TOPIC_USERS, {})
    key = (user_id, topic_id)
    row = known[key] if key in known else session.get(TopicUser, key)
    known[key] = row
    if row is None and create:
        row = TopicUser(user_id=user_id, topic_id=topic_id, last_read_post_number=0)
        try:
            with session.begin_nested():
                session.add(row)
        except IntegrityError:  # a concurrent request of the same person made it first
            row = session.get(TopicUser, (user_id, topic_id), populate_existing=True)
            assert row is not None
        known[key] = row
    return row


def _first_visit(session: Session, row: TopicUser, topic_id: int) -> None:
    if row.first_visited_at is None:
        row.first_visited_at = utcnow()
        session.execute(update(Topic).where(Topic.id == topic_id)
                        .values(seen_by_count=Topic.seen_by_count + 1), execution_options=_NO_SYNC)


def _advance(session: Session, row: TopicUser, topic: Topic, post_number: int) -> bool:
    number = min(post_number, topic.highest_post_number)
    if number <= row.last_read_post_number:
        return False
    row.last_read_post_number = number
    # Reading a post answers the notifications about it.
    session.execute(update(Notification).where(
        Notification.user_id == row.user_id, Notification.topic_id == topic.id, Notification.read.is_(False),
        or_(Notification.post_number.is_(None), Notification.post_number <= number),
    ).values(read=True), execution_options=_NO_SYNC)
    return True


def on_posted(session: Session, user_id: int, topic: Topic, post_number: int) -> None:
    """The author of a post has read the topic up to it, has opened it, and now tracks it."""
    row = topic_user(session, user_id, topic.id, create=True)
    assert row is not None
    _first_visit(session, row, topic.id)
    if post_number > row.last_read_post_number:
        row.last_read_post_number = post_number
    if row.notification_level is None and category_level(session, user_id, topic.category_id) != WATCHING:
        row.notification_level = TRACKING


# --- page views -------------------------------------------------------------------------------

@dataclass
class VisitPlan:
    """What a topic page view must write; computed on the read session so most reloads write nothing."""

    count_view: bool
    visit: bool
    read_up_to: int | None
    # For someone signed in: when their current view's window ends (epoch seconds), so that a page
    # kept for them (forum/pagecache.py) is rendered afresh, and the view counted, once it has.
    window_ends: float | None = None


def plan_visit(session: Session, viewer: Viewer, topic: Topic, who: str, *, read_up_to: int | None,
               redis=None, prefix: str = "forum") -> VisitPlan:
    now = utcnow()
    if viewer.user is None:
        return VisitPlan(count_view=_view_is_new(session, topic.id, who, redis, prefix, now), visit=False,
                         read_up_to=None)
    row = topic_user(session, viewer.user.id, topic.id)
    fresh = row is None or row.last_visited_at is None or row.last_visited_at < now - VIEW_WINDOW
    behind = read_up_to is not None and (row is None or row.last_read_post_number < min(
        read_up_to, topic.highest_post_number))
    counted_at = now if fresh else row.last_visited_at
    if counted_at.tzinfo is None:
        counted_at = counted_at.replace(tzinfo=UTC)
    return VisitPlan(count_view=fresh, visit=fresh or behind or row is None, read_up_to=read_up_to,
                     window_ends=(counted_at + VIEW_WINDOW).timestamp())


def _view_is_new(session: Session, topic_id: int, who: str, redis, prefix: str, now) -> bool:
    return anonymous_view_window(session, topic_id, who, redis=redis, prefix=prefix, now=now)[0]


def record_visit(session: Session, viewer: Viewer, topic: Topic, who: str, plan: VisitPlan, *,
                 redis=None) -> None:
    """Write what plan_visit() found necessary, in the caller's write transaction."""
    now = utcnow()
    count = plan.count_view
    if viewer.user is None and count and redis is None:
        count = _claim_view_mark(session, topic.id, who, now)
    if viewer.user is not None and plan.visit:
        row = topic_user(session, viewer.user.id, topic.id, create=True)
        assert row is not None
        _first_visit(session, row, topic.id)
        if plan.count_view:
            row.last_visited_at = now
        if plan.read_up_to is not None:
            _advance(session, row, topic, plan.read_up_to)
    if count:
        session.execute(update(Topic).where(Topic.id == topic.id).values(views=Topic.views + 1),
                        execution_options=_NO_SYNC)


def _claim_view_mark(session: Session, topic_id: int, who: str, now) -> bool:
    key = f"view:{topic_id}:{who}"
    mark = session.get(TopicViewMark, key, with_for_update={"key_share": True})
    if mark is not None and mark.viewed_at >= now - VIEW_WINDOW:
        return False  # another process counted it meanwhile
    if mark is None:
        try:
            with session.begin_nested():
                session.add(TopicViewMark(key=key, viewed_at=now))
        except IntegrityError:
            return False
    else:
        mark.viewed_at = now
    if random.random() < 0.01:  # keep the table small without a scheduled job
        session.execute(delete(TopicViewMark).where(TopicViewMark.viewed_at < now - VIEW_WINDOW))
    return True


def anonymous_view_window(session: Session, topic_id: int, who: str, *, redis=None, prefix: str = "forum",
                          now=None) -> tuple[bool, float | None]:
    """Whether a visitor's view counts now, and if not, when their current window ends (epoch
    seconds, or None when unknown). With Redis, a view that counts claims its window here: SET NX
    with an expiry, so the first process to see this visitor in the window counts the view."""
    key = f"view:{topic_id}:{who}"
    window = int(VIEW_WINDOW.total_seconds())
    if redis is not None:
        pipe = redis.pipeline(transaction=False)
        pipe.set(f"{prefix}:{key}", "1", nx=True, ex=window)
        pipe.ttl(f"{prefix}:{key}")
        claimed, left = pipe.execute()
        if claimed:
            return True, None
        return False, (time.time() + left) if left and left > 0 else None
    now = now or utcnow()
    mark = session.get(TopicViewMark, key)
    if mark is None or mark.viewed_at < now - VIEW_WINDOW:
        return True, None
    viewed_at = mark.viewed_at if mark.viewed_at.tzinfo else mark.viewed_at.replace(tzinfo=UTC)
    return False, (viewed_at + VIEW_WINDOW).timestamp()


def record_anonymous_view(session: Session, topic_id: int, who: str, *, redis=None) -> bool:
    """A visitor's view of a page served from the anonymous page cache (forum/pagecache.py);
    False when another process counted it meanwhile."""
    if redis is None and not _claim_view_mark(session, topic_id, who, utcnow()):
        return False
    session.execute(update(Topic).where(Topic.id == topic_id).values(views=Topic.views + 1),
                    execution_options=_NO_SYNC)
    return True


def mark_read(session: Session, viewer: Viewer, topic: Topic, post_number: int | None = None) -> int:
    """Advance the viewer's read position (to the end when post_number is None); returns the new position."""
    permissions.ensure_can_see_topic(session, viewer, topic)
    assert viewer.user is not None
    row = topic_user(session, viewer.user.id, topic.id, create=True)
    assert row is not None
    _advance(session, row, topic, topic.highest_post_number if post_number is None else post_number)
    return row.last_read_post_number


# --- lists: new and unread --------------------------------------------------------------------

@dataclass
class TopicState:
    last_read: int
    unread: int
    new: bool
    level: int

    @property
    def first_unread(self) -> int:
        return self.last_read + 1


def new_cutoff():
    return utcnow() - timedelta(days=NEW_TOPIC_DAYS)


def topic_states(session: Session, viewer: Viewer, topics: list[Topic]) -> dict[int, TopicState]:
    """Unread and new state of each listed topic for a signed-in viewer (one query for the page)."""
    if viewer.user is None or not topics:
        return {}
    ids = [t.id for t in topics]
    rows = {r.topic_id: r for r in session.scalars(
        select(TopicUser).where(TopicUser.user_id == viewer.user.id, TopicUser.topic_id.in_(ids)))}
    muted_categories = set(session.scalars(select(CategoryUser.category_id).where(
        CategoryUser.user_id == viewer.user.id, CategoryUser.notification_level == MUTED)))
    muted_by_tag = set(session.scalars(select(TopicTag.topic_id).join(TagUser, and_(
        TagUser.tag_id == TopicTag.tag_id, TagUser.user_id == viewer.user.id, TagUser.notification_level == MUTED))
        .where(TopicTag.topic_id.in_(ids))))
    cutoff = new_cutoff()
    states: dict[int, TopicState] = {}
    for t in topics:
        row = rows.get(t.id)
        level = row.notification_level if row and row.notification_level is not None else (
            MUTED if t.category_id in muted_categories or t.id in muted_by_tag else NORMAL)
        opened = row is not None and (row.last_read_post_number > 0 or row.first_visited_at is not None)
        if not opened:
            new = level != MUTED and t.user_id != viewer.user.id and t.created_at >= cutoff
            states[t.id] = TopicState(0, 0, new, level)
            continue
        unread = max(0, t.highest_post_number - row.last_read_post_number) if level != MUTED else 0
        states[t.id] = TopicState(row.last_read_post_number, unread, False, level)
    return states


# The new and unread lists and counts are asked for on every list page: their statements are built
# once per shape and run with the reader's parameters (see _reader_params).

def _not_muted():
    """Neither in a category nor carrying a tag the reader muted, unless they chose a level for the topic."""
    muted = select(CategoryUser.category_id).where(CategoryUser.user_id == bindparam("reader"),
                                                   CategoryUser.notification_level == MUTED)
    muted_tag = (select(TopicTag.topic_id).join(TagUser, TagUser.tag_id == TopicTag.tag_id)
                 .where(TopicTag.topic_id == Topic.id, TagUser.user_id == bindparam("reader"),
                        TagUser.notification_level == MUTED).exists())
    return or_(TopicUser.notification_level.is_not(None), and_(Topic.category_id.not_in(muted), ~muted_tag))


@cache
def _unread_stmt(staff: bool, in_categories: bool):
    stmt = (select(Topic).join(TopicUser, and_(TopicUser.topic_id == Topic.id, TopicUser.user_id == bindparam("reader")))
            .where(permissions.visible_topics_template(staff), TopicUser.last_read_post_number > 0,
                   Topic.highest_post_number > TopicUser.last_read_post_number,
                   func.coalesce(TopicUser.notification_level, NORMAL) != MUTED, _not_muted()))
    if in_categories:
        stmt = stmt.where(Topic.category_id.in_(bindparam("subtree", expanding=True)))
    return stmt


@cache
def _new_stmt(staff: bool, in_categories: bool):
    cutoff = bindparam("cutoff")
    stmt = (select(Topic).outerjoin(TopicUser, and_(TopicUser.topic_id == Topic.id,
                                                    TopicUser.user_id == bindparam("reader")))
            # bumped_at >= created_at always: the second bound lets the (category_id, bumped_at)
            # index read only the recent part of each category.
            .where(permissions.visible_topics_template(staff), Topic.created_at >= cutoff,
                   Topic.bumped_at >= cutoff,
                   Topic.user_id != bindparam("reader"),
                   or_(TopicUser.user_id.is_(None),
                       and_(TopicUser.last_read_post_number == 0, TopicUser.first_visited_at.is_(None))),
                   func.coalesce(TopicUser.notification_level, NORMAL) != MUTED, _not_muted()))
    if in_categories:
        stmt = stmt.where(Topic.category_id.in_(bindparam("subtree", expanding=True)))
    return stmt


@cache
def _counts_stmt(staff: bool, in_categories: bool):
    return select(  # both counts in one round trip
        select(func.count()).select_from(_new_stmt(staff, in_categories).subquery()).scalar_subquery(),
        select(func.count()).select_from(_unread_stmt(staff, in_categories).subquery()).scalar_subquery(),
    )


def _reader_params(session: Session, viewer: Viewer, category_ids: list[int] | None) -> dict:
    assert viewer.user is not None
    params = {"reader": viewer.user.id, "cutoff": new_cutoff(), **permissions.visible_topics_params(session, viewer)}
    if category_ids is not None:
        params["subtree"] = category_ids
    return params


def subtree_ids(session: Session, category: Category | None) -> list[int] | None:
    if category is None:
        return None
    return [category.id, *session.scalars(select(Category.id).where(Category.parent_id == category.id))]


def filtered_topics(session: Session, viewer: Viewer, which: str, *, page: int, per_page: int,
                    category: Category | None = None):
    from forum.reading import TopicList

    if viewer.user is None:
        return TopicList(topics=[], page=page, per_page=per_page, has_more=False)
    ids = subtree_ids(session, category)
    shape = (permissions.sees_as_staff(viewer), ids is not None)
    stmt = _new_stmt(*shape) if which == "new" else _unread_stmt(*shape)
    rows = list(session.scalars(stmt.order_by(Topic.bumped_at.desc(), Topic.id.desc())
                                .offset((page - 1) * per_page).limit(per_page + 1),
                                _reader_params(session, viewer, ids)))
    return TopicList(topics=rows[:per_page], page=page, per_page=per_page, has_more=len(rows) > per_page)


def tab_counts(session: Session, viewer: Viewer, category: Category | None = None) -> dict[str, int]:
    if viewer.user is None:
        return {}
    ids = subtree_ids(session, category)
    new, unread = session.execute(_counts_stmt(permissions.sees_as_staff(viewer), ids is not None),
                                  _reader_params(session, viewer, ids)).one()
    return {"new": new or 0, "unread": unread or 0}


def dismiss(session: Session, viewer: Viewer, category: Category | None = None) -> int:
    """Mark every new and unread topic (of a category and its subcategories, or everywhere) as read."""
    assert viewer.user is not None
    ids = subtree_ids(session, category)
    shape, params = (permissions.sees_as_staff(viewer), ids is not None), _reader_params(session, viewer, ids)
    unread = list(session.scalars(_unread_stmt(*shape).with_only_columns(Topic.id), params))
    if unread:
        session.execute(update(TopicUser).where(TopicUser.user_id == viewer.user.id, TopicUser.topic_id.in_(unread))
                        .values(last_read_post_number=select(Topic.highest_post_number)
                                .where(Topic.id == TopicUser.topic_id).scalar_subquery()),
                        execution_options=_NO_SYNC)
    new = session.execute(_new_stmt(*shape).with_only_columns(Topic.id, Topic.highest_post_number), params).all()
    for topic_id, highest in new:
        row = topic_user(session, viewer.user.id, topic_id, create=True)
        assert row is not None
        row.last_read_post_number = max(row.last_read_post_number, highest, 1)
    return len(unread) + len(new)


# --- watching levels --------------------------------------------------------------------------

def parse_level(value: str | int | None) -> int:
    if isinstance(value, str) and value in {v: k for k, v in WATCH_LEVEL_NAMES.items()}:
        return {v: k for k, v in WATCH_LEVEL_NAMES.items()}[value]
    try:
        level = int(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        level = -1
    if level not in WATCH_LEVEL_NAMES:
        raise ValidationFailed(fields={"notification_level": _("Choose watching, tracking, normal or muted.")})
    return level


def category_level(session: Session, user_id: int, category_id: int) -> int:
    level = session.scalar(select(CategoryUser.notification_level).where(
        CategoryUser.user_id == user_id, CategoryUser.category_id == category_id))
    return NORMAL if level is None else level


def category_levels_of(session: Session, user_id: int | None) -> dict[int, int]:
    """The watch level a person set on each category (categories not named are NORMAL)."""
    if user_id is None:
        return {}
    return {cid: level for cid, level in session.execute(
        select(CategoryUser.category_id, CategoryUser.notification_level).where(CategoryUser.user_id == user_id))}


def topic_level(session: Session, user_id: int, topic: Topic) -> int:
    row = topic_user(session, user_id, topic.id)
    if row is not None and row.notification_level is not None:
        return row.notification_level
    return category_level(session, user_id, topic.category_id)


def set_topic_level(session: Session, viewer: Viewer, topic: Topic | None, level: int) -> None:
    permissions.ensure_can_see_topic(session, viewer, topic)
    assert topic is not None and viewer.user is not None
    row = topic_user(session, viewer.user.id, topic.id, create=True)
    assert row is not None
    row.notification_level = level


def set_category_level(session: Session, viewer: Viewer, category: Category | None, level: int) -> None:
    permissions.ensure_can_see_category(session, viewer, category)
    assert category is not None and viewer.user is not None
    row = session.get(CategoryUser, (viewer.user.id, category.id))
    if row is None:
        try:
            with session.begin_nested():
                session.add(CategoryUser(user_id=viewer.user.id, category_id=category.id, notification_level=level))
            return
        except IntegrityError:
            row = session.get(CategoryUser, (viewer.user.id, category.id), populate_existing=True)
            if row is None:
                raise NotFound() from None
    row.notification_level = level


# --- seen by N of M ---------------------------------------------------------------------------

def _accounts_by_tier(session: Session) -> tuple[dict[str, int], int]:
    rows = session.execute(select(User.tier, permissions.staff_clause(), func.count(User.id))
                           .where(User.approved.is_(True)).group_by(User.tier, permissions.staff_clause())).all()
    tiers: dict[str, int] = {}
    staff = 0
    for tier, is_staff, count in rows:
        if is_staff:
            staff += count
        else:
            tiers[tier] = tiers.get(tier, 0) + count
    return tiers, staff


def audience_sizes(session: Session, topics: list[Topic]) -> dict[int, int]:
    """M for each topic: accounts allowed to see it now (one count query, then per category)."""
    if not topics:
        return {}
    tiers, staff = _accounts_by_tier(session)
    per_category: dict[int, int] = {}
    sizes = {}
    for t in topics:
        if t.category_id is None:  # a private message: the people in it
            sizes[t.id] = session.scalar(select(func.count(User.id)).where(
                permissions.audience_clause(session, t))) or 0
            continue
        if t.category_id not in per_category:
            per_category[t.category_id] = staff + sum(
                tiers.get(tier, 0) for tier in permissions.tiers_that_see_category(session, t.category_id))
        sizes[t.id] = staff if t.deleted_at is not None else per_category[t.category_id]
    return sizes


@dataclass
class SeenBy:
    seen: int
    audience: int


def seen_by_in_lists(session: Session, topics: list[Topic]) -> dict[int, SeenBy]:
    sizes = audience_sizes(session, topics)
    return {t.id: SeenBy(min(t.seen_by_count, sizes[t.id]), sizes[t.id]) for t in topics}


def _readers(session: Session, topic: Topic):
    return (select(User).join(TopicUser, TopicUser.user_id == User.id)
            .where(TopicUser.topic_id == topic.id, TopicUser.first_visited_at.is_not(None),
                   User.approved.is_(True), permissions.audience_clause(session, topic)))


def seen_by(session: Session, topic: Topic) -> SeenBy:
    """Exact N among the accounts that may see the topic now, and M."""
    seen = session.scalar(select(func.count()).select_from(_readers(session, topic).subquery())) or 0
    return SeenBy(seen, audience_sizes(session, [topic])[topic.id])


@dataclass
class SeenByBreakdown:
    by_tier: dict[str, tuple[int, int]]  # tier (or "staff") -> (seen, allowed)
    names: list[str]
    more: int


def seen_by_breakdown(session: Session, viewer: Viewer, topic: Topic, *, limit: int = 200) -> SeenByBreakdown:
    permissions.ensure_can_moderate(viewer)
    tiers, staff = _accounts_by_tier(session)
    allowed = set(permissions.tiers_that_see_category(session, topic.category_id)) if topic.deleted_at is None else set()
    readers = _readers(session, topic).subquery()
    seen_rows = session.execute(select(readers.c.tier, (readers.c.is_admin | readers.c.is_moderator),
                                       func.count()).group_by(readers.c.tier,
                                                              (readers.c.is_admin | readers.c.is_moderator))).all()
    seen: dict[str, int] = {}
    for tier, is_staff, count in seen_rows:
        key = "staff" if is_staff else tier
        seen[key] = seen.get(key, 0) + count
    by_tier = {tier: (seen.get(tier, 0), tiers.get(tier, 0) if tier in allowed else 0)
               for tier in permissions.AUDIENCE_TIERS}
    by_tier["staff"] = (seen.get("staff", 0), staff)
    names = list(session.scalars(_readers(session, topic).with_only_columns(User.username)
                                 .order_by(User.username_lower).limit(limit + 1)))
    total = sum(s for s, _a in by_tier.values())
    return SeenByBreakdown(by_tier=by_tier, names=names[:limit], more=max(0, total - limit))
