"""Bookmarks with reminders, as Discourse has them: a person marks a post (or a topic), optionally
names the mark and asks to be reminded of it at a time of their choosing, in their own time zone.

Times offered ("later today", "tomorrow morning", "next Monday") are wall-clock times in the
person's zone, turned into UTC when chosen, so "tomorrow at 08:00" is 08:00 on the day after even
across a change of summer time. The zone is kept with the reminder and shown with it.

Reminders are fired by the worker's tick (`send_due_reminders()`): each due bookmark is claimed by
an UPDATE that sets `reminder_last_sent_at` only where it is still empty, in the transaction that
writes the notification, so two workers (or a tick retried after a crash) send it once.

A bookmark is its owner's alone (permissions.can_see_bookmarks). What it points at is read when it
is shown, and only while the owner may still read it (permissions.readable_bookmarks_clause): a
bookmark on a post that became hidden keeps its own name and times, and nothing of the post.
Bookmarks change only their owner's pages, so their writes are quiet for everyone else's caches.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import and_, case, func, or_, select, update
from sqlalchemy import delete as sql_delete
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, lazyload

from forum import notifications, outbox, pagecache, permissions, timezones, urls
from forum.errors import LoginRequired, NotFound, ValidationFailed
from forum.i18n import _
from forum.models import Post, Topic, User, utcnow
from forum.models.bookmark import (
    AUTO_DELETE_CLEAR_REMINDER,
    AUTO_DELETE_ON_OWNER_REPLY,
    AUTO_DELETE_WHEN_REMINDER_SENT,
    BOOKMARKABLE_TYPES,
    Bookmark,
)
from forum.permissions import Viewer
from forum.text import parse_id

NAME_MAX = 100
PER_PAGE = 20
MAX_PER_USER = 2000
MORNING_HOUR = 8  # "tomorrow morning" and "next Monday", as Discourse offers them
LATER_TODAY_HOURS = 3
REMINDER_BATCH = 200
REMINDER_CHECK_SECONDS = 20  # a reminder fires within this of its minute

PRESETS = ("later_today", "tomorrow", "next_monday")
PRESET_LABELS = {
    "later_today": _("Later today"),
    "tomorrow": _("Tomorrow morning"),
    "next_monday": _("Next Monday"),
}

notifications.register_kind("bookmark_reminder", _("Reminder about your bookmark in %(topic)s"),
                            discourse_type=24, always=True)
notifications.register_kind("bookmark_reminder_named", _("Reminder: %(name)s, in %(topic)s"),
                            discourse_type=24, always=True)
# Sent when the bookmarked post can no longer be read by its owner: no title, no text.
notifications.register_kind("bookmark_reminder_unavailable",
                            _("Reminder about a bookmark on a post you can no longer see"),
                            discourse_type=24, always=True)


# --- times in the person's zone --------------------------------------------------------------

def user_zone(user: User | None) -> str:
    zone = user.timezone if user is not None else None
    return zone if timezones.is_valid_zone(zone) else "UTC"


def _at_local(day, hour: int, zone_name: str) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=timezones.zone(zone_name)).astimezone(UTC)


def preset_time(choice: str, zone_name: str, now: datetime | None = None) -> datetime | None:
    """The UTC instant of a named reminder in a zone, or None where it makes no sense now (later
    today, late in the evening)."""
    now = now or utcnow()
    local = now.astimezone(timezones.zone(zone_name))
    if choice == "later_today":
        later = (local + timedelta(hours=LATER_TODAY_HOURS)).replace(second=0, microsecond=0)
        if later.minute:
            later = later.replace(minute=0) + timedelta(hours=1)
        return later.astimezone(UTC) if later.date() == local.date() else None
    if choice == "tomorrow":
        return _at_local(local.date() + timedelta(days=1), MORNING_HOUR, zone_name)
    if choice == "next_monday":
        return _at_local(local.date() + timedelta(days=(7 - local.weekday()) or 7), MORNING_HOUR, zone_name)
    return None


@dataclass
class ReminderOption:
    key: str
    label: Any
    at: datetime
    text: str  # "Sat 5 Dec 2026, 08:00 Madrid (CET)"


def reminder_options(zone_name: str, now: datetime | None = None, locale: str = "en") -> list[ReminderOption]:
    found = []
    for key in PRESETS:
        at = preset_time(key, zone_name, now)
        if at is not None:
            found.append(ReminderOption(key, PRESET_LABELS[key], at, when_text(at, zone_name, locale)))
    return found


def when_text(value: datetime, zone_name: str | None, locale: str = "en") -> str:
    return timezones.zoned_text(value, zone_name if timezones.is_valid_zone(zone_name) else "UTC", locale).full


def parse_reminder_at(value: str | None, zone_name: str) -> datetime | None:
    """An ISO 8601 time from the API (Discourse's clients send UTC with a Z); a time without an
    offset is read in the person's own zone. Empty clears the reminder."""
    value = (value or "").strip()
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise ValidationFailed(fields={"reminder_at": _(
            "Give the reminder time as an ISO 8601 date and time, such as 2026-12-04T09:00:00Z.")}) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezones.zone(zone_name))
    try:
        return parsed.astimezone(UTC)
    except (OverflowError, ValueError):  # the first or last day datetime can hold, shifted out of range
        raise ValidationFailed(fields={"reminder_at": _("Choose a reminder time within the next few years.")}) from None


def reminder_from_form(choice: str, day: str, clock: str, zone_name: str, now: datetime | None = None) -> datetime | None:
    """The reminder the bookmark page asks for: none, a named one, or a date and time in the zone."""
    choice = (choice or "").strip()
    if choice in ("", "none"):
        return None
    if choice in PRESETS:
        at = preset_time(choice, zone_name, now)
        if at is None:
            raise ValidationFailed(fields={"reminder": _("It is too late today for that: choose another time.")})
        return at
    if choice == "custom":
        if not (day or "").strip():
            raise ValidationFailed(fields={"reminder": _("Choose a date for the reminder.")})
        try:
            return timezones.wall_clock_to_utc(day, clock or "09:00", zone_name, field="reminder")
        except OverflowError:
            raise ValidationFailed(fields={"reminder": _("Choose a reminder time within the next few years.")}) from None
    raise ValidationFailed(fields={"reminder": _("Choose when to be reminded.")})


# --- reading ---------------------------------------------------------------------------------

def _own(viewer: Viewer) -> User:
    if viewer.user is None:
        raise LoginRequired()
    return viewer.user


def get_own(session: Session, viewer: Viewer, bookmark_id: int | str | None) -> Bookmark:
    user = _own(viewer)
    bid = parse_id(bookmark_id) if isinstance(bookmark_id, str) else bookmark_id
    bookmark = session.get(Bookmark, bid) if bid else None
    if bookmark is None or bookmark.user_id != user.id:
        raise NotFound()  # someone else's bookmark looks missing
    return bookmark


def for_post(session: Session, viewer: Viewer, post_id: int) -> Bookmark | None:
    if viewer.user is None:
        return None
    return session.scalar(select(Bookmark).where(Bookmark.user_id == viewer.user.id,
                                                 Bookmark.bookmarkable_type == "Post",
                                                 Bookmark.bookmarkable_id == post_id))


def for_posts(session: Session, viewer: Viewer, post_ids) -> dict[int, Bookmark]:
    ids = list(post_ids)
    if viewer.user is None or not ids:
        return {}
    return {b.bookmarkable_id: b for b in session.scalars(select(Bookmark).where(
        Bookmark.user_id == viewer.user.id, Bookmark.bookmarkable_type == "Post", Bookmark.bookmarkable_id.in_(ids)))}


def bookmarked_post_ids(session: Session, viewer: Viewer, post_ids) -> set[int]:
    ids = list(post_ids)
    if viewer.user is None or not ids:
        return set()
    return set(session.scalars(select(Bookmark.bookmarkable_id).where(
        Bookmark.user_id == viewer.user.id, Bookmark.bookmarkable_type == "Post",
        Bookmark.bookmarkable_id.in_(ids))))


def _target(session: Session, bookmarkable_type: str, bookmarkable_id: int | None) -> tuple[Topic | None, Post | None]:
    if not bookmarkable_id:
        return None, None
    if bookmarkable_type == "Post":
        post = session.get(Post, bookmarkable_id)
        return (session.get(Topic, post.topic_id) if post is not None else None), post
    return session.get(Topic, bookmarkable_id), None


@dataclass
class BookmarkItem:
    bookmark: Bookmark
    available: bool
    topic: Topic | None  # None when not available: nothing of it is shown
    post: Post | None
    author: User | None


@dataclass
class BookmarkPage:
    items: list[BookmarkItem]
    page: int
    per_page: int
    q: str

    @property
    def has_more(self) -> bool:
        return len(self.items) == self.per_page


def _like_pattern(q: str) -> str:
    escaped = q.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def list_for(session: Session, viewer: Viewer, owner: User, *, q: str = "", page: int = 0,
             per_page: int = PER_PAGE) -> BookmarkPage:
    """The owner's bookmarks, newest change first; `q` finds words in their names and, only where
    the owner may still read it, in the post's text or the topic's title."""
    permissions.ensure_can_see_bookmarks(viewer, owner)
    page = min(max(page, 0), 10_000)
    per_page = min(max(per_page, 1), 100)
    readable = permissions.readable_bookmarks_clause(session, viewer)
    topic_id = case((Bookmark.bookmarkable_type == "Post", Post.topic_id), else_=Bookmark.bookmarkable_id)
    stmt = (select(Bookmark, Post, Topic, readable.label("readable"))
            .outerjoin(Post, and_(Bookmark.bookmarkable_type == "Post", Post.id == Bookmark.bookmarkable_id))
            .outerjoin(Topic, Topic.id == topic_id)
            .where(Bookmark.user_id == owner.id)
            .options(lazyload(Topic.category), lazyload(Topic.user), lazyload(Topic.last_post_user),
                     lazyload(Post.user)))
    q = (q or "").strip()[:200]
    if q:
        pattern = _like_pattern(q)
        text_match = or_(func.lower(Post.raw).like(pattern, escape="\\"),
                         func.lower(Topic.title).like(pattern, escape="\\"))
        stmt = stmt.where(or_(func.lower(Bookmark.name).like(pattern, escape="\\"), and_(readable, text_match)))
    stmt = stmt.order_by(Bookmark.updated_at.desc(), Bookmark.id.desc()).offset(page * per_page).limit(per_page)
    rows = session.execute(stmt).all()
    author_ids = {p.user_id for _b, p, _t, ok in rows if ok and p is not None}
    author_ids |= {t.user_id for _b, p, t, ok in rows if ok and p is None and t is not None}
    authors = {u.id: u for u in session.scalars(select(User).where(User.id.in_(author_ids)))} if author_ids else {}
    items = []
    for bookmark, post, topic, ok in rows:
        if ok:
            author = authors.get(post.user_id if post is not None else topic.user_id)
            items.append(BookmarkItem(bookmark, True, topic, post, author))
        else:
            items.append(BookmarkItem(bookmark, False, None, None, None))
    return BookmarkPage(items, page, per_page, q)


# --- writing ---------------------------------------------------------------------------------

def _clean_name(name: str | None) -> str | None:
    name = (name or "").strip()
    if len(name) > NAME_MAX:
        raise ValidationFailed(fields={"name": _("A bookmark's name is limited to %(n)s characters.", n=NAME_MAX)})
    return name or None


def _check_reminder(reminder_at: datetime | None, now: datetime) -> None:
    if reminder_at is not None and reminder_at <= now:
        raise ValidationFailed(fields={"reminder_at": _("You cannot set a bookmark reminder in the past.")})


def _check_auto_delete(value: int | str | None) -> int | None:
    if value is None or value == "":
        return None
    try:
        number = int(value)
    except (TypeError, ValueError):
        number = -1
    if number not in (0, 1, 2, 3):
        raise ValidationFailed(fields={"auto_delete_preference": _(
            "auto_delete_preference must be 0 (never), 1 (when the reminder is sent), 2 (when you reply) "
            "or 3 (clear the reminder).")})
    return number


def create(session: Session, viewer: Viewer, *, bookmarkable_type: str = "Post", bookmarkable_id: int | str | None,
           name: str | None = None, reminder_at: datetime | None = None, auto_delete_preference: int | str | None = None,
           now: datetime | None = None) -> Bookmark:
    user = _own(viewer)
    now = now or utcnow()
    if bookmarkable_type not in BOOKMARKABLE_TYPES:
        raise ValidationFailed(fields={"bookmarkable_type": _("bookmarkable_type must be Post or Topic.")})
    target_id = parse_id(bookmarkable_id) if isinstance(bookmarkable_id, str) else bookmarkable_id
    topic, post = _target(session, bookmarkable_type, target_id)
    if bookmarkable_type == "Post" and post is None:
        raise NotFound()
    permissions.ensure_can_bookmark(session, viewer, topic, post)
    clean_name = _clean_name(name)
    _check_reminder(reminder_at, now)
    auto_delete = _check_auto_delete(auto_delete_preference)
    already = _("You have already bookmarked this post.") if post is not None else \
        _("You have already bookmarked this topic.")
    exists = select(Bookmark.id).where(Bookmark.user_id == user.id, Bookmark.bookmarkable_type == bookmarkable_type,
                                       Bookmark.bookmarkable_id == target_id)
    if session.scalar(exists) is not None:
        raise ValidationFailed(already)
    if (session.scalar(select(func.count(Bookmark.id)).where(Bookmark.user_id == user.id)) or 0) >= MAX_PER_USER:
        raise ValidationFailed(_("You have %(n)s bookmarks, the most one may keep: delete some first.", n=MAX_PER_USER))
    bookmark = Bookmark(user_id=user.id, bookmarkable_type=bookmarkable_type, bookmarkable_id=target_id,
                        name=clean_name, reminder_at=reminder_at,
                        reminder_zone=user_zone(user) if reminder_at is not None else None,
                        reminder_set_at=now if reminder_at is not None else None,
                        auto_delete_preference=AUTO_DELETE_CLEAR_REMINDER if auto_delete is None else auto_delete,
                        created_at=now, updated_at=now)
    try:
        with session.begin_nested():  # a double click, or two tabs: the unique key decides
            session.add(bookmark)
    except IntegrityError:
        raise ValidationFailed(already) from None
    pagecache.quiet(session, reader=user.id)
    return bookmark


_UNSET: Any = object()


def update_bookmark(session: Session, viewer: Viewer, bookmark_id: int | str, *, name: str | None = _UNSET,
                    reminder_at: datetime | None = _UNSET, auto_delete_preference: int | str | None = _UNSET,
                    now: datetime | None = None) -> Bookmark:
    """Change a bookmark's name, reminder or auto-delete choice (only what is given)."""
    bookmark = get_own(session, viewer, bookmark_id)
    now = now or utcnow()
    if name is not _UNSET:
        bookmark.name = _clean_name(name)
    if reminder_at is not _UNSET:
        _check_reminder(reminder_at, now)
        if reminder_at != bookmark.reminder_at or reminder_at is None:
            bookmark.reminder_at = reminder_at
            bookmark.reminder_zone = user_zone(viewer.user) if reminder_at is not None else None
            bookmark.reminder_set_at = now if reminder_at is not None else None
            bookmark.reminder_last_sent_at = None  # a new reminder is sent anew
    if auto_delete_preference is not _UNSET:
        value = _check_auto_delete(auto_delete_preference)
        if value is not None:
            bookmark.auto_delete_preference = value
    bookmark.updated_at = now
    pagecache.quiet(session, reader=bookmark.user_id)
    return bookmark


def delete(session: Session, viewer: Viewer, bookmark_id: int | str) -> bool:
    """Delete one of the viewer's bookmarks; returns whether the topic still holds one of theirs."""
    bookmark = get_own(session, viewer, bookmark_id)
    topic, _post = _target(session, bookmark.bookmarkable_type, bookmark.bookmarkable_id)
    session.delete(bookmark)
    session.flush()
    pagecache.quiet(session, reader=bookmark.user_id)
    if topic is None:
        return False
    return session.scalar(_in_topic(bookmark.user_id, topic.id).limit(1)) is not None


def _in_topic(user_id: int, topic_id: int):
    """The ids of one person's bookmarks in a topic: on the topic itself or on one of its posts."""
    return select(Bookmark.id).outerjoin(Post, and_(Bookmark.bookmarkable_type == "Post",
                                                    Post.id == Bookmark.bookmarkable_id)) \
        .where(Bookmark.user_id == user_id,
               or_(and_(Bookmark.bookmarkable_type == "Topic", Bookmark.bookmarkable_id == topic_id),
                   Post.topic_id == topic_id))


def bookmarked_topic_ids(session: Session, viewer: Viewer, topic_ids) -> set[int]:
    """Of these topics, those in which the viewer holds a bookmark (on the topic or one of its posts):
    Discourse's `bookmarked` on a topic list's rows. One query for the page."""
    ids = list(topic_ids)
    if viewer.user is None or not ids:
        return set()
    on_topics = select(Bookmark.bookmarkable_id).where(
        Bookmark.user_id == viewer.user.id, Bookmark.bookmarkable_type == "Topic", Bookmark.bookmarkable_id.in_(ids))
    on_posts = select(Post.topic_id).join(Bookmark, and_(Bookmark.bookmarkable_type == "Post",
                                                         Bookmark.bookmarkable_id == Post.id)) \
        .where(Bookmark.user_id == viewer.user.id, Post.topic_id.in_(ids))
    return set(session.scalars(on_topics.union(on_posts)))


def topic_bookmarked(session: Session, viewer: Viewer, topic_id: int) -> bool:
    """Whether the viewer holds a bookmark in this topic (Discourse's topic-level `bookmarked`)."""
    if viewer.user is None:
        return False
    return session.scalar(_in_topic(viewer.user.id, topic_id).limit(1)) is not None


def delete_for_topic(session: Session, viewer: Viewer, topic_id: int | str) -> int:
    """Delete all the viewer's bookmarks in a topic they may see (Discourse's remove_bookmarks)."""
    user = _own(viewer)
    tid = parse_id(topic_id) if isinstance(topic_id, str) else topic_id
    topic = permissions.ensure_can_see_topic(session, viewer, session.get(Topic, tid) if tid else None)
    ids = list(session.scalars(_in_topic(user.id, topic.id)))
    if ids:
        session.execute(sql_delete(Bookmark).where(Bookmark.id.in_(ids)))
        pagecache.quiet(session, reader=user.id)
    return len(ids)


def owner_replied(session: Session, user_id: int, topic_id: int) -> None:
    """The person replied in the topic: their bookmarks there that asked for it (Discourse's
    auto_delete_preference 2, "on owner reply") go, in the reply's transaction."""
    in_topic = or_(and_(Bookmark.bookmarkable_type == "Topic", Bookmark.bookmarkable_id == topic_id),
                   and_(Bookmark.bookmarkable_type == "Post",
                        Bookmark.bookmarkable_id.in_(select(Post.id).where(Post.topic_id == topic_id))))
    session.execute(sql_delete(Bookmark).where(Bookmark.user_id == user_id,
                                           Bookmark.auto_delete_preference == AUTO_DELETE_ON_OWNER_REPLY, in_topic),
                    execution_options={"synchronize_session": False})


# --- reminders -------------------------------------------------------------------------------

def _fire(session: Session, bookmark: Bookmark, now: datetime) -> None:
    owner = session.get(User, bookmark.user_id)
    if owner is None:
        return
    viewer = Viewer(owner)
    topic, post = _target(session, bookmark.bookmarkable_type, bookmark.bookmarkable_id)
    pagecache.quiet(session, reader=owner.id)
    if topic is not None and permissions.can_bookmark(session, viewer, topic, post):
        kind = "bookmark_reminder_named" if bookmark.name else "bookmark_reminder"
        notifications.deliver(session, [owner.id], kind, topic=topic, post=post,
                              data={"name": bookmark.name or "", "bookmark_id": bookmark.id})
    else:
        # Nothing of what it pointed at: not its title, not its text, not its address.
        notifications.deliver(session, [owner.id], "bookmark_reminder_unavailable",
                              data={"bookmark_id": bookmark.id, "url": urls.user_url(owner) + "/activity/bookmarks"})
    if bookmark.auto_delete_preference == AUTO_DELETE_WHEN_REMINDER_SENT:
        session.delete(bookmark)
    elif bookmark.auto_delete_preference == AUTO_DELETE_CLEAR_REMINDER:
        bookmark.reminder_at = None


def send_due_reminders(session: Session, now: datetime | None = None, *, limit: int = REMINDER_BATCH) -> int:
    """Send the reminders due by `now`; returns how many were due in this batch.

    Each is claimed by setting `reminder_last_sent_at` where it is still empty: the notification is
    written in the same transaction, so a reminder another worker claimed first is not sent again.
    """
    now = now or utcnow()
    stmt = (select(Bookmark.id, Bookmark.reminder_at)
            .where(Bookmark.reminder_at.is_not(None), Bookmark.reminder_at <= now,
                   Bookmark.reminder_last_sent_at.is_(None))
            .order_by(Bookmark.reminder_at, Bookmark.id).limit(limit))
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update(skip_locked=True)
    due = session.execute(stmt).all()
    for bookmark_id, reminder_at in due:
        claimed = session.execute(
            update(Bookmark).where(Bookmark.id == bookmark_id, Bookmark.reminder_last_sent_at.is_(None),
                                   Bookmark.reminder_at == reminder_at).values(reminder_last_sent_at=now),
            execution_options={"synchronize_session": False}).rowcount
        if claimed == 1:
            bookmark = session.get(Bookmark, bookmark_id, populate_existing=True)
            if bookmark is not None:
                _fire(session, bookmark, now)
    return len(due)


@outbox.periodic("bookmark-reminders", REMINDER_CHECK_SECONDS)
def _reminders_tick(db, settings, now: datetime) -> None:
    while True:
        with db.write() as session:
            pagecache.quiet(session)
            if send_due_reminders(session, now) < REMINDER_BATCH:
                return
