"""What a topic page shows of polls, a proposal and an event, for one viewer: a few queries per page.

`segments(post)` cuts a post's cooked HTML around its polls and local dates, so the template can put
the live poll (forms and results) and the date in the reader's zone where the markdown had them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from html import unescape

from sqlalchemy.orm import Session

from forum import events, polls, proposals, timezones
from forum.models import Post, Topic
from forum.permissions import Viewer

LOCAL_DATE_RE = re.compile(
    r'<span class="local-date" data-date="[^"]*" data-time="[^"]*" data-timezone="([^"]*)" '
    r'data-utc="([^"]*)">[^<]*</span>')


@dataclass
class Clock:
    """Times for one reader: their profile's zone, when set (else the browser's, filled in by decide.js)."""

    reader_zone: str | None

    def pair(self, value: datetime, organiser_zone: str, locale: str = "en") -> timezones.TimePair:
        return timezones.pair(value, organiser_zone, self.reader_zone, locale)


def clock_for(viewer: Viewer) -> Clock:
    zone = viewer.user.timezone if viewer.user is not None else None
    return Clock(zone if timezones.is_valid_zone(zone) else None)


@dataclass
class LocalDate:
    utc: datetime
    zone: str


@dataclass
class TopicDecide:
    clock: Clock
    proposal: proposals.ProposalView | None = None
    event: events.EventView | None = None
    polls: dict[int, dict[str, polls.PollView]] = field(default_factory=dict)

    def segments(self, post: Post) -> list[tuple[str, object]]:
        pieces: list[tuple[str, object]] = []
        for kind, part in polls.post_segments(post.cooked, self.polls.get(post.id)):
            if kind == "html":
                pieces.extend(_dates(str(part)))
            else:
                pieces.append((kind, part))
        return pieces


def _dates(html: str) -> list[tuple[str, object]]:
    if 'class="local-date"' not in html:
        return [("html", html)]
    pieces: list[tuple[str, object]] = []
    last = 0
    for match in LOCAL_DATE_RE.finditer(html):
        zone = unescape(match.group(1))
        try:
            utc = datetime.fromisoformat(unescape(match.group(2)).replace("Z", "+00:00"))
        except ValueError:
            continue
        pieces.append(("html", html[last:match.start()]))
        pieces.append(("date", LocalDate(utc, zone)))
        last = match.end()
    pieces.append(("html", html[last:]))
    return pieces


def for_topic_page(session: Session, viewer: Viewer, topic: Topic, posts: list[Post]) -> TopicDecide:
    return TopicDecide(
        clock=clock_for(viewer),
        proposal=proposals.view(session, viewer, topic),
        event=events.view(session, viewer, topic),
        polls=polls.views_for_posts(session, viewer, topic, posts),
    )
