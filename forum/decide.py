"""What a topic page shows of polls, a proposal and an event, for one viewer: a few queries per page.

`segments(post)` cuts a post's cooked HTML around its polls and local dates, so the template can put
the live poll (forms and results) and the date in the reader's zone where the markdown had them.
`list_markers()` gives topic lists their "Event · date" and "Proposal · closes …" marks, in one query
for the whole page.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from html import unescape

from sqlalchemy import and_, exists, false, select, union
from sqlalchemy.orm import Session, aliased

from forum import events, polls, proposals, timezones
from forum.markdown import excerpt
from forum.models import Event, Poll, Post, Proposal, Topic
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

    def live(self, post: Post) -> bool:
        """Whether the post holds a poll or a [date] to render for the reader (most posts hold neither)."""
        return post.id in self.polls or 'class="local-date"' in post.cooked

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


@dataclass
class Probe:
    has_proposal: bool
    has_event: bool
    has_polls: bool


def probe(session: Session, topic: Topic, posts: list[Post]) -> Probe:
    """Most topics carry no proposal, event or poll: one look says which of the three to load."""
    return Probe(*session.execute(select(
        exists().where(Proposal.topic_id == topic.id),
        exists().where(Event.topic_id == topic.id),
        exists().where(Poll.post_id.in_([p.id for p in posts])) if posts else false(),
    )).one())


def for_topic_page(session: Session, viewer: Viewer, topic: Topic, posts: list[Post], *,
                   has_proposal: bool | None = None, has_event: bool | None = None) -> TopicDecide:
    """The reader's view of a topic's proposal, event and the polls among `posts`.

    Pass what an earlier probe() found to skip it (then `posts` is empty: their polls are not wanted).
    """
    if has_proposal is None or has_event is None:
        found = probe(session, topic, posts)
        has_proposal, has_event, has_polls = found.has_proposal, found.has_event, found.has_polls
    else:
        has_polls = False
    return TopicDecide(
        clock=clock_for(viewer),
        proposal=proposals.view(session, viewer, topic) if has_proposal else None,
        event=events.view(session, viewer, topic) if has_event else None,
        polls=polls.views_for_posts(session, viewer, topic, posts) if has_polls else {},
    )


# --- marks in topic lists ---------------------------------------------------------------------

@dataclass
class ListMarker:
    """What a topic row says about the event or proposal its topic carries."""

    clock: Clock
    event: Event | None = None
    proposal: Proposal | None = None
    outcome_number: int | None = None
    outcome_excerpt: str = ""
    labels: dict = field(default_factory=lambda: proposals.POSITION_LABELS)

    @property
    def proposal_closed(self) -> bool:
        return self.proposal is not None and proposals.is_closed(self.proposal)

    @property
    def tally(self) -> dict[str, int]:
        """A closed consent proposal's positions as they stood at the close (empty otherwise)."""
        if self.proposal is None or self.proposal.kind != "consent" or not self.proposal.final_tally:
            return {}
        return {k: int(v) for k, v in json.loads(self.proposal.final_tally).get("positions", {}).items()}


def list_markers(session: Session, viewer: Viewer, topics: list[Topic]) -> dict[int, ListMarker]:
    """Topic id -> its event or proposal mark, for the topics of one list page: a single query.

    The topics are those the viewer may already see; an outcome post that was deleted or hidden
    since is left out.
    """
    ids = [t.id for t in topics]
    if not ids:
        return {}
    # Most pages list no event or proposal: the query starts from the few topics that carry one (a
    # light look in two small indexes) and loads full rows only for those, in one round trip.
    carrying = union(select(Event.topic_id.label("topic_id")).where(Event.topic_id.in_(ids)),
                     select(Proposal.topic_id.label("topic_id")).where(Proposal.topic_id.in_(ids))).subquery()
    outcome = aliased(Post)
    rows = session.execute(
        select(carrying.c.topic_id, Event, Proposal, outcome.post_number, outcome.cooked)
        .select_from(carrying)
        .outerjoin(Event, Event.topic_id == carrying.c.topic_id)
        .outerjoin(Proposal, Proposal.topic_id == carrying.c.topic_id)
        .outerjoin(outcome, and_(outcome.id == Proposal.outcome_post_id, outcome.deleted_at.is_(None),
                                 outcome.hidden.is_(False))))
    clock = clock_for(viewer)
    markers: dict[int, ListMarker] = {}
    for topic_id, event, proposal, number, cooked in rows:
        markers[topic_id] = ListMarker(clock=clock, event=event, proposal=proposal, outcome_number=number,
                                       outcome_excerpt=excerpt(cooked, 120) if cooked else "")
    return markers
