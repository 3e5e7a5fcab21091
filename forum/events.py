"""Events: a topic that carries a start (and end) in its organiser's IANA zone, a place or link, and RSVPs.

The organiser writes a wall-clock time in their zone ("15:00, Europe/London"); it is stored in UTC
with the zone, and shown in the organiser's zone and the reader's side by side. Each change raises
the event's `sequence` (iCalendar's SEQUENCE), so calendar apps update the entry they already hold;
a cancelled event stays listed, marked cancelled. People going or interested get a reminder a day
before the start, and a notice when the time changes or the event is cancelled.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from forum import notices, outbox, permissions, posting, timezones
from forum.config import Settings
from forum.errors import NotFound, ValidationFailed
from forum.i18n import _
from forum.models import Category, Event, EventRsvp, Post, Topic, User, utcnow
from forum.models.decide import RSVP_STATUSES
from forum.permissions import Viewer
from forum.ratelimit import RateLimiter
from forum.text import clean, parse_id

NAMES_LIMIT = 50
MAX_LENGTH = timedelta(days=31)
RSVP_LABELS = {"going": _("Going"), "interested": _("Interested"), "not_going": _("Not going")}


@dataclass
class EventFields:
    starts_at: datetime
    ends_at: datetime | None
    timezone: str
    location: str
    online_url: str


def validate(*, start_date: str, start_time: str, end_date: str, end_time: str, timezone: str, location: str,
             online_url: str, fields: dict[str, str]) -> EventFields | None:
    """Check an event's form; errors go into `fields` under the names of the inputs."""
    zone = None
    try:
        zone = timezones.clean_zone(timezone)
    except ValidationFailed as e:
        fields.update(e.fields)
    starts_at = ends_at = None
    if zone:
        if not (start_time or "").strip():
            fields["starts"] = _("Enter a start time as HH:MM, on the 24-hour clock.")
        else:
            try:
                starts_at = timezones.wall_clock_to_utc(start_date, start_time, zone, field="starts")
            except ValidationFailed as e:
                fields.update(e.fields)
        if (end_date or "").strip() or (end_time or "").strip():
            try:
                ends_at = timezones.wall_clock_to_utc((end_date or "").strip() or start_date, end_time, zone,
                                                      field="ends")
            except ValidationFailed as e:
                fields.update(e.fields)
    if starts_at is not None and ends_at is not None:
        if ends_at <= starts_at:
            fields["ends"] = _("The end must come after the start.")
        elif ends_at - starts_at > MAX_LENGTH:
            fields["ends"] = _("An event may last at most 31 days.")
    location = clean(location, single_line=True)
    if len(location) > 255:
        fields["location"] = _("A place may be at most 255 characters.")
    online_url = clean(online_url, single_line=True)
    if online_url:
        parts = urlsplit(online_url)
        if parts.scheme not in ("http", "https") or not parts.netloc or len(online_url) > 500:
            fields["online_url"] = _("An online link starts with https:// (or http://) and is at most 500 characters.")
    if fields or starts_at is None or zone is None:
        return None
    return EventFields(starts_at, ends_at, zone, location, online_url)


def create_event(
    session: Session, settings: Settings, viewer: Viewer, *, title: str, raw: str, category_id: int | str | None,
    start_date: str = "", start_time: str = "", end_date: str = "", end_time: str = "", timezone: str = "",
    location: str = "", online_url: str = "", limiter: RateLimiter | None = None,
) -> Post:
    fields: dict[str, str] = {}
    data = validate(start_date=start_date, start_time=start_time, end_date=end_date, end_time=end_time,
                    timezone=timezone, location=location, online_url=online_url, fields=fields)
    for check, name in ((posting.validate_title, "title"), (posting.validate_raw, "raw")):
        try:
            check(settings, title if name == "title" else raw)
        except ValidationFailed as e:
            fields.update(e.fields)
    if fields or data is None:
        raise ValidationFailed(fields=fields)
    if data.starts_at < utcnow() - timedelta(days=1):
        raise ValidationFailed(fields={"starts": _("The start is in the past.")})
    post = posting.create_topic(session, settings, viewer, title=title, raw=raw, category_id=category_id,
                                limiter=limiter, clears_draft=False)
    now = utcnow()
    event = Event(topic_id=post.topic_id, starts_at=data.starts_at, ends_at=data.ends_at, timezone=data.timezone,
                  location=data.location, online_url=data.online_url, sequence=0, created_at=now, updated_at=now)
    session.add(event)
    session.flush()
    schedule_reminder(session, settings, event)
    return post


def load(session: Session, viewer: Viewer, event_id: int | str) -> tuple[Event, Topic]:
    eid = parse_id(event_id)
    event = session.get(Event, eid) if eid is not None else None
    if event is None:
        raise NotFound()
    topic = session.get(Topic, event.topic_id)
    permissions.ensure_can_see_topic(session, viewer, topic)
    assert topic is not None
    return event, topic


def update_event(session: Session, settings: Settings, viewer: Viewer, *, event_id: int | str, start_date: str,
                 start_time: str, end_date: str = "", end_time: str = "", timezone: str, location: str = "",
                 online_url: str = "") -> Event:
    event, topic = load(session, viewer, event_id)
    permissions.ensure_can_edit_event(session, viewer, topic)
    fields: dict[str, str] = {}
    data = validate(start_date=start_date, start_time=start_time, end_date=end_date, end_time=end_time,
                    timezone=timezone, location=location, online_url=online_url, fields=fields)
    if fields or data is None:
        raise ValidationFailed(fields=fields)
    before = (event.starts_at, event.ends_at, event.timezone, event.location, event.online_url)
    after = (data.starts_at, data.ends_at, data.timezone, data.location, data.online_url)
    if before == after:
        return event
    moved = (event.starts_at, event.ends_at) != (data.starts_at, data.ends_at)
    event.starts_at, event.ends_at, event.timezone = data.starts_at, data.ends_at, data.timezone
    event.location, event.online_url = data.location, data.online_url
    event.sequence += 1
    event.updated_at = utcnow()
    session.flush()
    if moved:
        schedule_reminder(session, settings, event)
        _tell_attendees(session, settings, event, topic, changed=True)
    return event


def cancel_event(session: Session, settings: Settings, viewer: Viewer, *, event_id: int | str) -> Event:
    event, topic = load(session, viewer, event_id)
    permissions.ensure_can_edit_event(session, viewer, topic)
    if event.cancelled_at is not None:
        raise ValidationFailed(_("This event has already been cancelled."))
    event.cancelled_at = utcnow()
    event.sequence += 1
    event.updated_at = utcnow()
    session.flush()
    _tell_attendees(session, settings, event, topic, changed=False)
    return event


def is_over(event: Event, now: datetime | None = None) -> bool:
    return (event.ends_at or event.starts_at) < (now or utcnow())


def rsvp(session: Session, viewer: Viewer, *, event_id: int | str, status: str) -> EventRsvp | None:
    """Going, interested, not going; an empty status takes the answer back."""
    event, topic = load(session, viewer, event_id)
    permissions.ensure_can_rsvp(session, viewer, topic, cancelled=event.cancelled_at is not None,
                                over=is_over(event))
    assert viewer.user is not None
    mine = session.scalar(select(EventRsvp).where(EventRsvp.event_id == event.id, EventRsvp.user_id == viewer.user.id))
    if status in ("", "none"):
        if mine is not None:
            session.delete(mine)
        return None
    if status not in RSVP_STATUSES:
        raise ValidationFailed(_("Answer going, interested or not going."))
    now = utcnow()
    if mine is None:
        mine = EventRsvp(event_id=event.id, user_id=viewer.user.id, created_at=now)
        session.add(mine)
    mine.status, mine.updated_at = status, now
    session.flush()
    return mine


# --- reminders and notices --------------------------------------------------------------------

def _key(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds")


def schedule_reminder(session: Session, settings: Settings, event: Event) -> None:
    remind_at = event.starts_at - timedelta(hours=settings.event_reminder_hours)
    if remind_at <= utcnow():
        return
    key = _key(event.starts_at)
    outbox.enqueue(session, "event.remind", {"event_id": event.id, "starts_at": key}, available_at=remind_at,
                   dedupe_key=f"event-remind:{event.id}:{key}")


def _attendees(session: Session, event: Event) -> list[User]:
    return list(session.scalars(
        select(User).join(EventRsvp, EventRsvp.user_id == User.id)
        .where(EventRsvp.event_id == event.id, EventRsvp.status.in_(("going", "interested")))
        .order_by(User.id)))


def _tell_attendees(session: Session, settings: Settings, event: Event, topic: Topic, *, changed: bool) -> None:
    if topic.deleted_at is None:
        people = [u for u in _attendees(session, event) if u.id != topic.user_id]
        if changed:
            notices.tell(session, people, "event_changed", topic,
                         lambda letter: {"when": letter.when(event.starts_at, event.timezone)})
        else:
            notices.tell(session, people, "event_cancelled", topic, lambda letter: {})


@outbox.handler("event.remind")
def _remind(payload: dict, ctx: outbox.JobContext) -> None:
    with ctx.db.write() as session:
        event = session.get(Event, payload.get("event_id"))
        if event is None or event.cancelled_at is not None or _key(event.starts_at) != payload.get("starts_at"):
            return
        topic = session.get(Topic, event.topic_id)
        if topic is None or topic.deleted_at is not None:
            return
        notices.tell(session, _attendees(session, event), "event_reminder", topic,
                     lambda letter: {"when": letter.when(event.starts_at, event.timezone)})


# --- reading ----------------------------------------------------------------------------------

@dataclass
class EventView:
    event: Event
    topic: Topic
    counts: dict[str, int]
    names: dict[str, list[str]] | None  # None: the viewer may not see who answered
    mine: str | None
    refusal: str | None
    can_edit: bool
    over: bool
    labels: dict

    @property
    def can_rsvp(self) -> bool:
        return self.refusal is None


def view(session: Session, viewer: Viewer, topic: Topic) -> EventView | None:
    event = session.scalar(select(Event).where(Event.topic_id == topic.id))
    if event is None:
        return None
    counts = dict.fromkeys(RSVP_STATUSES, 0)
    for status, n in session.execute(select(EventRsvp.status, func.count()).where(EventRsvp.event_id == event.id)
                                     .group_by(EventRsvp.status)):
        counts[status] = n
    names = None
    if permissions.can_see_rsvp_names(session, viewer, topic):
        names = {s: [] for s in RSVP_STATUSES}
        numbered = (select(EventRsvp.status, User.username,
                           func.row_number().over(partition_by=EventRsvp.status,
                                                  order_by=(EventRsvp.created_at, EventRsvp.id)).label("n"))
                    .join(User, User.id == EventRsvp.user_id).where(EventRsvp.event_id == event.id).subquery())
        for status, username, _n in session.execute(select(numbered).where(numbered.c.n <= NAMES_LIMIT)):
            names[status].append(username)
    mine = None
    if viewer.user is not None:
        mine = session.scalar(select(EventRsvp.status).where(EventRsvp.event_id == event.id,
                                                             EventRsvp.user_id == viewer.user.id))
    over = is_over(event)
    return EventView(event=event, topic=topic, counts=counts, names=names, mine=mine,
                     refusal=permissions.rsvp_refusal(session, viewer, topic, cancelled=event.cancelled_at is not None,
                                                      over=over),
                     can_edit=permissions.can_edit_event(session, viewer, topic), over=over, labels=RSVP_LABELS)


def upcoming(session: Session, viewer: Viewer, *, category: Category | None = None, page: int = 1,
             per_page: int = 30) -> tuple[list[tuple[Event, Topic]], bool]:
    """Events not yet over that the viewer may see, soonest first; one page of them."""
    now = utcnow()
    stmt = (select(Event, Topic).join(Topic, Topic.id == Event.topic_id)
            .where(permissions.visible_topics_clause(session, viewer),
                   or_(Event.starts_at >= now, Event.ends_at >= now)))
    if category is not None:
        stmt = stmt.where(Topic.category_id == category.id)
    rows = list(session.execute(stmt.order_by(Event.starts_at, Event.id).offset((page - 1) * per_page)
                                .limit(per_page + 1)))
    return [(e, t) for e, t in rows[:per_page]], len(rows) > per_page


def for_calendar(session: Session, viewer: Viewer, *, category: Category | None = None,
                 going_user: User | None = None, limit: int = 500) -> list[tuple[Event, Topic]]:
    """Events for a calendar feed: from 90 days ago on, visible to the viewer, cancelled ones included."""
    since = utcnow() - timedelta(days=90)
    stmt = (select(Event, Topic).join(Topic, Topic.id == Event.topic_id)
            .where(permissions.visible_topics_clause(session, viewer), Event.starts_at >= since))
    if category is not None:
        stmt = stmt.where(Topic.category_id == category.id)
    if going_user is not None:
        stmt = stmt.join(EventRsvp, EventRsvp.event_id == Event.id).where(
            EventRsvp.user_id == going_user.id, EventRsvp.status == "going")
    return [(e, t) for e, t in session.execute(stmt.order_by(Event.starts_at, Event.id).limit(limit))]


def feed_notes(session: Session, topic_ids: list[int], gettext, locale: str = "en") -> dict[int, str]:
    """For feeds: topic id -> "Starts: … London (GMT) · 15:00 UTC", in the organiser's zone and UTC."""
    if not topic_ids:
        return {}
    from forum.i18n import translate

    notes: dict[int, str] = {}
    for event in session.scalars(select(Event).where(Event.topic_id.in_(topic_ids))):
        start = timezones.describe(event.starts_at, event.timezone, None, gettext, locale)
        end = (timezones.describe(event.ends_at, event.timezone, None, gettext, locale)
               if event.ends_at is not None else None)
        cancelled = event.cancelled_at is not None
        # Whole sentences, so that each language orders and punctuates them its own way.
        if end is None:
            note = (_("Cancelled. It was to start %(start)s.", start=start) if cancelled
                    else _("Starts: %(start)s", start=start))
        else:
            note = (_("Cancelled. It was to start %(start)s and end %(end)s.", start=start, end=end) if cancelled
                    else _("Starts: %(start)s; ends: %(end)s", start=start, end=end))
        notes[event.topic_id] = translate(note, gettext)
    return notes
