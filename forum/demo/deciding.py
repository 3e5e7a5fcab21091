"""The demo's deciding and meeting: a proposal on the General Assembly's themes with positions (one of
them a block), and an online meet-up in Brussels time with RSVPs, an inline date and a poll in a reply.

Written through the same services as everything else (proposals, events, polls, posting), and given
to forum/demo/writing.py as ordinary demo topics, so they are moved back in time with the rest. Some demo
accounts get a time zone in their profile, so that times show "your time" next to the organiser's.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from forum import events, polls, posting, proposals
from forum.config import Settings
from forum.demo import content
from forum.demo.content import USERS, P, T, Written, weekday
from forum.models import Event, Poll, PollOption, Proposal, User
from forum.permissions import Viewer


def _date(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d")


def _reply(session: Session, settings: Settings, viewers: dict[str, Viewer], topic_id: int, post: P) -> int:
    return posting.create_reply(session, settings, viewers[post.author], topic_id=topic_id, raw=post.raw,
                                reply_to_post_number=post.reply_to).id


def _moments(now: datetime, spec: T, count: int, rng: random.Random) -> list[datetime]:
    """Increasing times inside a topic's span, for positions, votes and answers."""
    # The first post is on the day `start` days ago, within working hours: a day later is after it.
    early, late = now - timedelta(days=spec.start - 1), now - timedelta(days=spec.end)
    return sorted(early + (late - early) * rng.random() for _ in range(count))


def _proposal(session: Session, settings: Settings, viewers: dict[str, Viewer], category_ids: dict[str, int],
              now: datetime, rng: random.Random) -> Written:
    data = content.read("proposal.toml")
    plan = data["proposal"]
    closes = weekday(now + timedelta(days=plan["closes_in_days"]), 1)
    spec = content.topic(data, content.values(now))
    first = spec.posts[0]
    post = proposals.create_proposal(
        session, settings, viewers[first.author], title=spec.title, raw=first.raw,
        category_id=category_ids[spec.category], kind=plan["kind"], closes_date=_date(closes),
        closes_time=plan["closes_time"], timezone=plan["timezone"], quorum=plan["quorum"])
    written = Written(spec, post.topic_id, [post.id])
    written.post_ids += [_reply(session, settings, viewers, post.topic_id, p) for p in spec.posts[1:]]
    proposal = session.scalar(select(Proposal).where(Proposal.topic_id == post.topic_id))
    assert proposal is not None
    positions = data["positions"]
    for taken, moment in zip(positions, _moments(now, spec, len(positions), rng), strict=True):
        mine = proposals.take_position(session, viewers[taken["username"]], proposal_id=proposal.id,
                                       position=taken["position"], reason=taken.get("reason", ""))
        mine.created_at = mine.updated_at = moment
    proposal.created_at = proposal.updated_at = now - timedelta(days=spec.start)
    return written


def _meetup(session: Session, settings: Settings, viewers: dict[str, Viewer], category_ids: dict[str, int],
            now: datetime, rng: random.Random) -> Written:
    data = content.read("meetup.toml")
    plan = data["event"]
    zone = plan["timezone"]
    day = weekday(now + timedelta(days=plan["in_days"]), 1)
    registration = weekday(day - timedelta(days=plan["registration_days_before"]), -1)
    spec = content.topic(data, {**content.values(now), "registration": registration, "organiser_zone": zone})
    first = spec.posts[0]
    post = events.create_event(
        session, settings, viewers[first.author], title=spec.title, raw=first.raw,
        category_id=category_ids[spec.category], start_date=_date(day.astimezone(ZoneInfo(zone))),
        start_time=plan["start_time"], end_time=plan["end_time"], timezone=zone,
        online_url=plan["online_url"])
    written = Written(spec, post.topic_id, [post.id])
    written.post_ids += [_reply(session, settings, viewers, post.topic_id, p) for p in spec.posts[1:]]
    event = session.scalar(select(Event).where(Event.topic_id == post.topic_id))
    assert event is not None
    answers = [(name, status) for status, names in data["rsvps"].items() for name in names]
    for (name, status), moment in zip(answers, _moments(now, spec, len(answers), rng), strict=True):
        rsvp = events.rsvp(session, viewers[name], event_id=event.id, status=status)
        assert rsvp is not None
        rsvp.created_at = rsvp.updated_at = moment
    event.created_at = event.updated_at = now - timedelta(days=spec.start)

    voting = data["poll"]
    poll = session.scalar(select(Poll).where(Poll.post_id == written.post_ids[voting["post"] - 1],
                                             Poll.name == voting["name"]))
    assert poll is not None
    options = {o.label: o.id for o in session.scalars(select(PollOption).where(PollOption.poll_id == poll.id))}
    for name, choices in voting["votes"].items():
        polls.vote(session, viewers[name], poll_id=poll.id, option_ids=[str(options[c]) for c in choices])
    return written


def write_topics(session: Session, settings: Settings, users: dict[str, User], viewers: dict[str, Viewer],
                 category_ids: dict[str, int], now: datetime) -> list[Written]:
    """The proposal and the meet-up, written now; writing.py moves them back in time with the rest."""
    rng = random.Random(20241214)
    for person in USERS:
        if person.timezone is not None:
            users[person.username].timezone = person.timezone
    return [_proposal(session, settings, viewers, category_ids, now, rng),
            _meetup(session, settings, viewers, category_ids, now, rng)]
