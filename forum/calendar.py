"""iCalendar files: one event, a category's events, or the events a person is going to.

Times are written in the organiser's zone (DTSTART;TZID=Europe/London) with a VTIMEZONE for each
zone used, never as bare UTC, so a calendar app keeps an event at its local time across DST. Each
event has a stable UID and a SEQUENCE raised on every change; a cancelled event is kept with
STATUS:CANCELLED, so subscribed calendars update or remove the entry instead of duplicating it.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from sqlalchemy.orm import Session

from forum import __version__, permissions, reading, timezones, urls
from forum.markdown import excerpt
from forum.models import Event, Post, Topic
from forum.permissions import Viewer

if TYPE_CHECKING:
    from icalendar import Event as VEvent

CONTENT_TYPE = "text/calendar; charset=utf-8"


def uid(event: Event, base_url: str) -> str:
    host = urlsplit(base_url).hostname or "forum.invalid"
    return f"event-{event.id}@{host}"


def build(session: Session, viewer: Viewer, rows: list[tuple[Event, Topic]], *, name: str, base_url: str) -> bytes:
    # Imported when a calendar is asked for, not at start: most processes never make one.
    from icalendar import Calendar, Timezone

    cal = Calendar()
    cal.add("prodid", f"-//Co-operative forum//{__version__}//EN")
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", "PUBLISH")
    cal.add("x-wr-calname", name)
    first_posts = reading.first_posts(session, [t.id for _e, t in rows])
    spans: dict[str, tuple[date, date]] = {}
    for event, topic in rows:
        first = first_posts.get(topic.id)
        described = first if permissions.can_see_event_text(session, viewer, topic, first) else None
        cal.add_component(_vevent(event, topic, described, base_url))
        if event.timezone != "UTC":
            start = event.starts_at.date()
            end = (event.ends_at or event.starts_at).date()
            lo, hi = spans.get(event.timezone, (start, end))
            spans[event.timezone] = (min(lo, start), max(hi, end))
    for zone_name, (lo, hi) in sorted(spans.items()):
        # A year either side covers both the standard and the daylight-saving rules in force.
        cal.add_component(Timezone.from_tzid(zone_name, first_date=lo - timedelta(days=366),
                                             last_date=hi + timedelta(days=366)))
    return cal.to_ical()


def _vevent(event: Event, topic: Topic, first: Post | None, base_url: str) -> VEvent:
    from icalendar import Event as VEvent

    zone = timezones.zone(event.timezone)
    link = urls.absolute(base_url, urls.topic_url(topic))
    vevent = VEvent()
    vevent.add("uid", uid(event, base_url))
    vevent.add("sequence", event.sequence)
    vevent.add("dtstamp", event.updated_at)
    vevent.add("created", event.created_at)
    vevent.add("last-modified", event.updated_at)
    vevent.add("summary", topic.title)
    vevent.add("dtstart", event.starts_at.astimezone(zone))
    if event.ends_at is not None:
        vevent.add("dtend", event.ends_at.astimezone(zone))
    where = ", ".join(x for x in (event.location, event.online_url) if x)
    if where:
        vevent.add("location", where)
    description = excerpt(first.cooked, 1000) if first is not None else ""
    vevent.add("description", (description + "\n\n" if description else "") + link)
    vevent.add("url", link)
    vevent.add("status", "CANCELLED" if event.cancelled_at is not None else "CONFIRMED")
    return vevent
