"""The demo's deciding and meeting: a proposal on the General Assembly's themes with positions (one of
them a block), and an online meet-up in Brussels time with RSVPs, an inline date and a poll in a reply.

Written through the same services as everything else (proposals, events, polls, posting), and given
to forum/demo.py as ordinary demo topics, so they are moved back in time with the rest. Some demo
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
from forum.demo import P, T, _text, _weekday, _Written
from forum.models import Event, Poll, PollOption, Proposal, User
from forum.permissions import Viewer

ORGANISER_ZONE = "Europe/Brussels"
# Most people have set their zone; a few have not, and see times in their device's zone instead.
ZONES = {
    "marta.ferreira": "Europe/Lisbon", "jonas.lind": "Europe/Stockholm", "amara.diallo": "Africa/Dakar",
    "ewa.kowal": "Europe/Warsaw", "rafael.mendes": "America/Sao_Paulo", "hana.sato": "Asia/Tokyo",
    "giulia.r": "Europe/Rome", "lucia.moreno": ORGANISER_ZONE, "ben.okoro": ORGANISER_ZONE,
    "sophie.vdb": ORGANISER_ZONE, "abena.m": ORGANISER_ZONE, "tiago.p": "Europe/Lisbon",
    "ingrid.h": "Europe/Oslo", "olga.petrenko": ORGANISER_ZONE, "niko.h": "Europe/Helsinki",
}

POSITIONS = [
    ("marta.ferreira", "agree", "Putting transfers and young founders together is the right call."),
    ("hana.sato", "agree", ""),
    ("amara.diallo", "agree", "Glad the joint Africa and Americas plenary is in."),
    ("giulia.r", "agree", ""),
    ("tiago.p", "agree", "As long as the young founders' session is run by young co-operators."),
    ("ewa.kowal", "abstain", "The themes are fine; I want to see the interpretation budget first."),
    ("ingrid.h", "disagree", "Digital tools for co-operative democracy deserve a workshop of their own."),
    ("rafael.mendes", "block", "The informal work plenary needs a speaker from the Latin American recyclers' "
                               "co-operatives. I will agree once that is written into the programme."),
]

RSVPS = {
    "going": ["marta.ferreira", "hana.sato", "amara.diallo", "giulia.r", "tiago.p", "abena.m"],
    "interested": ["rafael.mendes", "claire_dubois", "jonas.lind"],
    "not_going": ["ewa.kowal"],
}

BREAKOUT_VOTES = {
    "marta.ferreira": ["Portuguese", "English"], "hana.sato": ["English"], "amara.diallo": ["French"],
    "giulia.r": ["English", "French"], "tiago.p": ["Portuguese", "Spanish"], "rafael.mendes": ["Spanish"],
    "claire_dubois": ["French"], "abena.m": ["English"],
}


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
              now: datetime, rng: random.Random) -> _Written:
    assembly = now + timedelta(days=150)
    closes = _weekday(now + timedelta(days=6), 1)
    spec = T("proposals", f"Proposal: the five themes of the General Assembly {assembly.year}", 3, 0.3, posts=[
        P("sophie.vdb", _text(f"""
            The board has asked us to settle the themes of the General Assembly in {assembly:%B %Y}
            before it books speakers. From the shortlist we drew up together, I propose:

            1. **Taking over: transfers to employees and young founders** (plenary and workshop)
            2. **From informal work to co-operatives** (plenary, joint Africa and Americas)
            3. **Care co-operatives as employers of choice** (workshop)
            4. **Winning public contracts** (workshop)
            5. **Counting co-operative work** (workshop)

            Every session has interpretation into French and Spanish, and the research posters run
            alongside. Please take a position above (agree, abstain, disagree, or block if you cannot
            live with it, saying what would have to change). The closing time is Brussels time; the
            forum also shows it in yours.
            """), likes=4),
        P("ewa.kowal", _text("""
            Before I agree: has the interpretation budget been checked for three plenaries and four
            workshops? Last year we ran out on the second day.
            """), likes=2),
        P("sophie.vdb", _text("""
            Yes: the quote we have covers all seven sessions in French and Spanish, and Portuguese in
            the plenaries. I will post it in the board's category.
            """), reply_to=2, likes=3),
        P("rafael.mendes", _text("""
            I have blocked for now, with the reason above. It is a small change, and I am sure we can
            find the speaker; but I would like it written down before we agree.
            """), likes=2),
    ])
    first = spec.posts[0]
    post = proposals.create_proposal(
        session, settings, viewers[first.author], title=spec.title, raw=first.raw,
        category_id=category_ids[spec.category], kind="consent", closes_date=_date(closes), closes_time="18:00",
        timezone=ORGANISER_ZONE, quorum="30")
    written = _Written(spec, post.topic_id, [post.id])
    written.post_ids += [_reply(session, settings, viewers, post.topic_id, p) for p in spec.posts[1:]]
    proposal = session.scalar(select(Proposal).where(Proposal.topic_id == post.topic_id))
    assert proposal is not None
    for (name, position, reason), moment in zip(POSITIONS, _moments(now, spec, len(POSITIONS), rng), strict=True):
        mine = proposals.take_position(session, viewers[name], proposal_id=proposal.id, position=position,
                                       reason=reason)
        mine.created_at = mine.updated_at = moment
    proposal.created_at = proposal.updated_at = now - timedelta(days=spec.start)
    return written


def _meetup(session: Session, settings: Settings, viewers: dict[str, Viewer], category_ids: dict[str, int],
            now: datetime, rng: random.Random) -> _Written:
    assembly = now + timedelta(days=150)
    day = _weekday(now + timedelta(days=12), 1)
    brussels = ZoneInfo(ORGANISER_ZONE)
    registration = _weekday(day - timedelta(days=3), -1)
    spec = T("news", f"Online meet-up: preparing the General Assembly {assembly.year} workshops", 5, 1.2, posts=[
        P("sophie.vdb", _text(f"""
            An online meet-up for everyone who wants to help prepare the workshops of the General
            Assembly: what each workshop should leave people with, who could speak, and how we run
            them in three languages.

            - 90 minutes, with interpretation into French and Spanish.
            - Breakout rooms per workshop in the second half.
            - The link below opens the meeting; no account needed.

            Please say whether you are coming, so that we can plan the rooms. If you need
            interpretation, tell us by [date={_date(registration)} time=12:00 timezone="{ORGANISER_ZONE}"].
            """), likes=5),
        P("hana.sato", _text("""
            Thank you for choosing a time that works in Tokyo as well. I will be there.
            """), likes=2),
        P("sophie.vdb", _text("""
            For the breakout rooms: which languages could you take part in? Choose all that work
            for you.

            [poll name=breakout type=multiple min=1 max=4 public=true]
            # Languages for the breakout rooms
            * English
            * French
            * Spanish
            * Portuguese
            [/poll]
            """), likes=1),
        P("claire_dubois", _text("""
            I can only be there for the first hour, but I will follow the notes.
            """), likes=1),
    ])
    first = spec.posts[0]
    post = events.create_event(
        session, settings, viewers[first.author], title=spec.title, raw=first.raw,
        category_id=category_ids[spec.category], start_date=_date(day.astimezone(brussels)), start_time="15:00",
        end_time="16:30", timezone=ORGANISER_ZONE, online_url="https://meet.federation.example.org/assembly-prep")
    written = _Written(spec, post.topic_id, [post.id])
    written.post_ids += [_reply(session, settings, viewers, post.topic_id, p) for p in spec.posts[1:]]
    event = session.scalar(select(Event).where(Event.topic_id == post.topic_id))
    assert event is not None
    answers = [(name, status) for status, names in RSVPS.items() for name in names]
    for (name, status), moment in zip(answers, _moments(now, spec, len(answers), rng), strict=True):
        rsvp = events.rsvp(session, viewers[name], event_id=event.id, status=status)
        assert rsvp is not None
        rsvp.created_at = rsvp.updated_at = moment
    event.created_at = event.updated_at = now - timedelta(days=spec.start)

    poll = session.scalar(select(Poll).where(Poll.post_id == written.post_ids[2], Poll.name == "breakout"))
    assert poll is not None
    options = {o.label: o.id for o in session.scalars(select(PollOption).where(PollOption.poll_id == poll.id))}
    for name, choices in BREAKOUT_VOTES.items():
        polls.vote(session, viewers[name], poll_id=poll.id, option_ids=[str(options[c]) for c in choices])
    return written


def write_topics(session: Session, settings: Settings, users: dict[str, User], viewers: dict[str, Viewer],
                 category_ids: dict[str, int], now: datetime) -> list[_Written]:
    """The proposal and the meet-up, written now; demo.py moves them back in time with the rest."""
    rng = random.Random(20241214)
    for name, zone in ZONES.items():
        users[name].timezone = zone
    return [_proposal(session, settings, viewers, category_ids, now, rng),
            _meetup(session, settings, viewers, category_ids, now, rng)]
