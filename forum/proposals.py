"""Proposals: a topic that asks for a decision by a closing time.

A `consent` proposal takes positions (agree, abstain, disagree, block — a block needs a reason); a
`choice` or `ranked` proposal decides through the poll named "decision" in its first post. The
people asked are those who may reply in the topic's category now (`eligible_repliers_clause`), so
"12 of 40 have responded" and the quorum count exactly them.

Closing needs no request: creating (or extending) a proposal queues an outbox item due at its
closing time and a reminder due a day before; the worker (in-process, or `forum worker`) runs them.
A job whose proposal was since extended, or closed early by a moderator, does nothing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from forum import notices, outbox, permissions, posting, timezones
from forum.config import Settings
from forum.errors import NotFound, ValidationFailed
from forum.i18n import _
from forum.markdown_decide import POLL_CLOSE_RE, POLL_OPEN_RE
from forum.models import Poll, PollVote, Post, Proposal, ProposalPosition, Topic, User, utcnow
from forum.models.decide import POSITIONS, PROPOSAL_KINDS
from forum.permissions import Viewer
from forum.ratelimit import RateLimiter
from forum.text import clean, parse_id

DECISION_POLL = "decision"
MAX_REASON = 2000
MAX_OPTIONS = 20
LIST_LIMIT = 100
WAITING_LIMIT = 30
POSITION_LABELS = {
    "agree": _("Agree"), "abstain": _("Abstain"), "disagree": _("Disagree"), "block": _("Block"),
}


def _key(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds")


# --- creating ---------------------------------------------------------------------------------

def _options(text: str) -> list[str]:
    found = []
    for line in clean(text).split("\n"):
        line = line.strip().lstrip("*-+ ").strip()
        if line:
            found.append(line)
    return found


def create_proposal(
    session: Session, settings: Settings, viewer: Viewer, *, title: str, raw: str, category_id: int | str | None,
    kind: str = "consent", closes_date: str = "", closes_time: str = "", timezone: str = "", quorum: str = "",
    options: str = "", max_choices: str = "", results: str = "always", public: bool = True,
    limiter: RateLimiter | None = None,
) -> Post:
    fields: dict[str, str] = {}
    now = utcnow()
    if kind not in PROPOSAL_KINDS:
        fields["kind"] = _("Choose what kind of decision this is.")
    zone = None
    try:
        zone = timezones.clean_zone(timezone)
    except ValidationFailed as e:
        fields.update(e.fields)
    closes_at = None
    if zone:
        try:
            closes_at = timezones.wall_clock_to_utc(closes_date, closes_time, zone, field="closes")
        except ValidationFailed as e:
            fields.update(e.fields)
    if closes_at is not None:
        if closes_at < now + timedelta(minutes=10):
            fields["closes"] = _("The closing time must be at least ten minutes from now.")
        elif closes_at > now + timedelta(days=366):
            fields["closes"] = _("The closing time must be within a year.")
    quorum_percent = _quorum(quorum, fields)
    poll_block = ""
    if kind in ("choice", "ranked"):
        poll_block = _poll_block(kind, options, max_choices, results, public, fields)
    for check, name in ((posting.validate_title, "title"), (posting.validate_raw, "raw")):
        try:
            check(settings, title if name == "title" else raw)
        except ValidationFailed as e:
            fields.update(e.fields)
    if fields:
        raise ValidationFailed(fields=fields)
    assert zone is not None and closes_at is not None
    body = clean(raw).strip("\n") + (f"\n\n{poll_block}" if poll_block else "")
    post = posting.create_topic(session, settings, viewer, title=title, raw=body, category_id=category_id, limiter=limiter,
                                clears_draft=False)
    proposal = Proposal(topic_id=post.topic_id, kind=kind, closes_at=closes_at, timezone=zone,
                        quorum_percent=quorum_percent, created_at=now, updated_at=now)
    session.add(proposal)
    session.flush()
    schedule(session, settings, proposal)
    return post


def _quorum(value: str, fields: dict[str, str]) -> int | None:
    value = (value or "").strip().rstrip("%").strip()
    if not value:
        return None
    if not value.isdigit() or not 1 <= int(value) <= 100:
        fields["quorum"] = _("A quorum is a percentage from 1 to 100, or empty for none.")
        return None
    return int(value)


def _poll_block(kind: str, text: str, max_choices: str, results: str, public: bool, fields: dict[str, str]) -> str:
    options = _options(text)
    if len(options) < 2:
        fields["options"] = _("List at least two choices, one per line.")
        return ""
    if len(options) > MAX_OPTIONS:
        fields["options"] = _("List at most %(n)s choices.", n=MAX_OPTIONS)
        return ""
    if len({" ".join(o.lower().split()) for o in options}) != len(options):
        fields["options"] = _("Each choice may be listed only once.")
        return ""
    if any(len(o) > 200 or POLL_OPEN_RE.match(o) or POLL_CLOSE_RE.match(o) or o.startswith("#") for o in options):
        fields["options"] = _("Each choice is one line of up to 200 characters, and not a [poll] tag.")
        return ""
    most = (max_choices or "").strip()
    if not most:
        top = len(options) if kind == "ranked" else 1
    elif most.isdigit() and 1 <= int(most) <= len(options):
        top = int(most)
    else:
        fields["max_choices"] = _("Choose a number from 1 to %(n)s.", n=len(options))
        return ""
    if results not in ("always", "on_vote", "on_close"):
        fields["results"] = _("Choose when the results are shown.")
        return ""
    poll_type = "ranked" if kind == "ranked" else "multiple"
    lines = "\n".join(f"* {o}" for o in options)
    return (f"[poll name={DECISION_POLL} type={poll_type} min=1 max={top} results={results} "
            f"public={'true' if public else 'false'}]\n{lines}\n[/poll]")


def schedule(session: Session, settings: Settings, proposal: Proposal) -> None:
    """Queue the close at the closing time and the reminder a day before; superseded ones do nothing."""
    key = _key(proposal.closes_at)
    payload = {"proposal_id": proposal.id, "closes_at": key}
    outbox.enqueue(session, "proposal.close", payload, available_at=proposal.closes_at,
                   dedupe_key=f"proposal-close:{proposal.id}:{key}")
    remind_at = proposal.closes_at - timedelta(hours=settings.proposal_reminder_hours)
    if remind_at > utcnow():
        outbox.enqueue(session, "proposal.remind", payload, available_at=remind_at,
                       dedupe_key=f"proposal-remind:{proposal.id}:{key}")


# --- loading and who has responded -------------------------------------------------------------

def load(session: Session, viewer: Viewer, proposal_id: int | str) -> tuple[Proposal, Topic]:
    pid = parse_id(proposal_id)
    proposal = session.get(Proposal, pid) if pid is not None else None
    if proposal is None:
        raise NotFound()
    topic = session.get(Topic, proposal.topic_id)
    permissions.ensure_can_see_topic(session, viewer, topic)
    assert topic is not None
    return proposal, topic


def is_closed(proposal: Proposal, now: datetime | None = None) -> bool:
    return proposal.closed_at is not None or proposal.closes_at <= (now or utcnow())


def decision_poll(session: Session, topic: Topic) -> Poll | None:
    return session.scalar(select(Poll).join(Post, Post.id == Poll.post_id).where(
        Post.topic_id == topic.id, Post.post_number == 1, Poll.name == DECISION_POLL))


def _responders(session: Session, proposal: Proposal, topic: Topic):
    """A select of the ids of the people who have responded: positions, or voters in the decision poll."""
    if proposal.kind == "consent":
        return select(ProposalPosition.user_id).where(ProposalPosition.proposal_id == proposal.id)
    poll = decision_poll(session, topic)
    return select(PollVote.user_id).where(PollVote.poll_id == (poll.id if poll else -1)).distinct()


@dataclass
class Turnout:
    eligible: int
    responded: int
    quorum_percent: int | None

    @property
    def needed(self) -> int | None:
        if self.quorum_percent is None:
            return None
        return -(-self.eligible * self.quorum_percent // 100)  # ceiling

    @property
    def quorum_met(self) -> bool | None:
        needed = self.needed
        return None if needed is None else self.responded >= needed and self.eligible > 0


def turnout(session: Session, proposal: Proposal, topic: Topic) -> Turnout:
    if proposal.closed_at is not None and proposal.eligible_count is not None:
        return Turnout(proposal.eligible_count, proposal.responded_count or 0, proposal.quorum_percent)
    eligible = permissions.eligible_repliers_clause(session, topic.category)
    total = session.scalar(select(func.count(User.id)).where(eligible)) or 0
    responded = session.scalar(select(func.count(User.id)).where(
        eligible, User.id.in_(_responders(session, proposal, topic)))) or 0
    return Turnout(total, responded, proposal.quorum_percent)


def tally(session: Session, proposal: Proposal, topic: Topic) -> dict[str, int]:
    """Positions taken by the people asked (once closed: as they stood at closing)."""
    if proposal.closed_at is not None and proposal.final_tally:
        return {p: int(n) for p, n in json.loads(proposal.final_tally).get("positions", {}).items()}
    counts = dict.fromkeys(POSITIONS, 0)
    eligible = permissions.eligible_repliers_clause(session, topic.category)
    for position, n in session.execute(
        select(ProposalPosition.position, func.count()).join(User, User.id == ProposalPosition.user_id)
        .where(ProposalPosition.proposal_id == proposal.id, eligible).group_by(ProposalPosition.position)
    ):
        counts[position] = n
    return counts


# --- positions --------------------------------------------------------------------------------

def take_position(session: Session, viewer: Viewer, *, proposal_id: int | str, position: str,
                  reason: str = "") -> ProposalPosition:
    proposal, topic = load(session, viewer, proposal_id)
    if proposal.kind != "consent":
        raise ValidationFailed(_("This proposal is decided in its poll: vote there."))
    permissions.ensure_can_take_position(session, viewer, topic, closed=is_closed(proposal))
    assert viewer.user is not None
    reason = clean(reason).strip()
    if position not in POSITIONS:
        raise ValidationFailed(fields={"position": _("Choose agree, abstain, disagree or block.")})
    if position == "block" and not reason:
        raise ValidationFailed(fields={"reason": _("A block needs a reason: say what would have to change for you to agree.")})
    if len(reason) > MAX_REASON:
        raise ValidationFailed(fields={"reason": _("A reason may be at most %(n)s characters.", n=MAX_REASON)})
    now = utcnow()
    mine = session.scalar(select(ProposalPosition).where(ProposalPosition.proposal_id == proposal.id,
                                                         ProposalPosition.user_id == viewer.user.id))
    if mine is None:
        mine = ProposalPosition(proposal_id=proposal.id, user_id=viewer.user.id, created_at=now)
        session.add(mine)
    mine.position, mine.reason, mine.updated_at = position, reason, now
    session.flush()
    return mine


def withdraw_position(session: Session, viewer: Viewer, *, proposal_id: int | str) -> None:
    proposal, topic = load(session, viewer, proposal_id)
    permissions.ensure_can_take_position(session, viewer, topic, closed=is_closed(proposal))
    assert viewer.user is not None
    mine = session.scalar(select(ProposalPosition).where(ProposalPosition.proposal_id == proposal.id,
                                                         ProposalPosition.user_id == viewer.user.id))
    if mine is None:
        raise NotFound(_("You have not taken a position on this proposal."))
    session.delete(mine)


# --- closing, extending, outcome --------------------------------------------------------------

def close_now(session: Session, settings: Settings, viewer: Viewer, *, proposal_id: int | str) -> Proposal:
    proposal, topic = load(session, viewer, proposal_id)
    permissions.ensure_can_manage_proposal(viewer)
    if proposal.closed_at is not None:
        raise ValidationFailed(_("This proposal has already closed."))
    close(session, settings, proposal, topic, by=viewer.user, when=utcnow())
    return proposal


def extend(session: Session, settings: Settings, viewer: Viewer, *, proposal_id: int | str, closes_date: str,
           closes_time: str, timezone: str) -> Proposal:
    proposal, topic = load(session, viewer, proposal_id)
    permissions.ensure_can_manage_proposal(viewer)
    if proposal.closed_at is not None:
        raise ValidationFailed(fields={"closes": _("This proposal has closed; it can no longer be extended.")})
    zone = timezones.clean_zone(timezone or proposal.timezone)
    closes_at = timezones.wall_clock_to_utc(closes_date, closes_time, zone, field="closes")
    if closes_at <= max(utcnow(), proposal.closes_at):
        raise ValidationFailed(fields={"closes": _("The new closing time must be later than the current one.")})
    if closes_at > utcnow() + timedelta(days=366):
        raise ValidationFailed(fields={"closes": _("The closing time must be within a year.")})
    proposal.closes_at, proposal.updated_at = closes_at, utcnow()
    session.flush()
    schedule(session, settings, proposal)
    return proposal


def close(session: Session, settings: Settings, proposal: Proposal, topic: Topic, *, by: User | None,
          when: datetime) -> None:
    """Close: freeze turnout and tally, close the decision poll, tell the participants."""
    counts = turnout(session, proposal, topic)
    positions = tally(session, proposal, topic)
    final: dict = {"positions": positions}
    poll = decision_poll(session, topic) if proposal.kind != "consent" else None
    if poll is not None:
        if poll.closed_at is None:
            poll.closed_at = when
        final["poll_id"] = poll.id
    proposal.closed_at = when
    proposal.closed_by_id = by.id if by else None
    proposal.eligible_count, proposal.responded_count = counts.eligible, counts.responded
    proposal.quorum_met = counts.quorum_met
    proposal.final_tally = json.dumps(final)
    proposal.updated_at = utcnow()
    session.flush()
    if topic.deleted_at is None:
        _tell_closed(session, settings, proposal, topic, counts, positions)


def _participants(session: Session, proposal: Proposal, topic: Topic) -> list[User]:
    ids = set(session.scalars(_responders(session, proposal, topic)))
    ids |= set(session.scalars(select(Post.user_id).where(Post.topic_id == topic.id, Post.deleted_at.is_(None))
                               .distinct()))
    ids.add(topic.user_id)
    return list(session.scalars(select(User).where(User.id.in_(ids)).order_by(User.id)))


def _tell_closed(session: Session, settings: Settings, proposal: Proposal, topic: Topic, counts: Turnout,
                 positions: dict[str, int]) -> None:
    def result(letter: notices.Letter) -> str:
        parts = []
        if proposal.kind == "consent":
            parts.append(" · ".join(f"{letter.t(POSITION_LABELS[p])} {positions.get(p, 0)}" for p in POSITIONS))
        parts.append(letter.t(_("%(n)s of %(m)s responded", n=counts.responded, m=counts.eligible)))
        if counts.quorum_percent is not None:
            parts.append(letter.t(_("quorum of %(q)s%% met", q=counts.quorum_percent) if counts.quorum_met
                                  else _("quorum of %(q)s%% not met", q=counts.quorum_percent)))
        return "; ".join(parts)

    people = _participants(session, proposal, topic)
    author = [u for u in people if u.id == topic.user_id]
    others = [u for u in people if u.id != topic.user_id]
    notices.tell(session, others, "proposal_closed", topic, lambda letter: {"result": result(letter)})
    # The author is invited to write the outcome, which is then pinned at the top.
    notices.tell(session, author, "proposal_outcome", topic, lambda letter: {"result": result(letter)})


def write_outcome(session: Session, settings: Settings, viewer: Viewer, *, proposal_id: int | str, raw: str,
                  limiter: RateLimiter | None = None) -> Post:
    proposal, topic = load(session, viewer, proposal_id)
    if viewer.is_anonymous:
        from forum.errors import LoginRequired

        raise LoginRequired()
    if not permissions.can_write_outcome(session, viewer, topic):
        from forum.errors import Forbidden

        raise Forbidden(_("Only the author of the proposal or a moderator can write its outcome."))
    if not is_closed(proposal):
        raise ValidationFailed(fields={"raw": _("The outcome can be written once the proposal has closed.")})
    if proposal.outcome_post_id is not None:
        raise ValidationFailed(fields={"raw": _("The outcome has been written already; edit that post to change it.")})
    post = posting.create_reply(session, settings, viewer, topic_id=topic.id, raw=raw, limiter=limiter)
    proposal.outcome_post_id = post.id
    proposal.updated_at = utcnow()
    session.flush()
    return post


# --- reading ----------------------------------------------------------------------------------

@dataclass
class PositionRow:
    username: str
    name: str
    position: str
    reason: str


@dataclass
class ProposalView:
    proposal: Proposal
    topic: Topic
    closed: bool
    counts: dict[str, int]
    turnout: Turnout
    positions: list[PositionRow]
    blocks: list[PositionRow]
    waiting: list[str]
    mine: ProposalPosition | None
    refusal: str | None
    can_manage: bool
    can_write_outcome: bool
    outcome: Post | None
    poll_id: int | None = None
    more_positions: int = 0
    labels: dict = field(default_factory=lambda: POSITION_LABELS)

    @property
    def can_respond(self) -> bool:
        return self.refusal is None

    @property
    def waiting_more(self) -> int:
        return max(self.turnout.eligible - self.turnout.responded - len(self.waiting), 0)


def view(session: Session, viewer: Viewer, topic: Topic) -> ProposalView | None:
    proposal = session.scalar(select(Proposal).where(Proposal.topic_id == topic.id))
    if proposal is None:
        return None
    now = utcnow()
    closed = is_closed(proposal, now)
    counts = tally(session, proposal, topic)
    out = turnout(session, proposal, topic)
    rows: list[PositionRow] = []
    blocks: list[PositionRow] = []
    more = 0
    if proposal.kind == "consent":
        stmt = (select(ProposalPosition, User).join(User, User.id == ProposalPosition.user_id)
                .where(ProposalPosition.proposal_id == proposal.id))
        if proposal.closed_at is None:
            stmt = stmt.where(permissions.eligible_repliers_clause(session, topic.category))
        for pos, user in session.execute(stmt.order_by(ProposalPosition.updated_at.desc()).limit(LIST_LIMIT + 1)):
            rows.append(PositionRow(user.username, user.name, pos.position, pos.reason))
        if len(rows) > LIST_LIMIT:
            rows, more = rows[:LIST_LIMIT], max(sum(counts.values()) - LIST_LIMIT, 0)
        # Blocks are shown first and in full, whatever the list above holds.
        for pos, user in session.execute(
            stmt.where(ProposalPosition.position == "block").order_by(ProposalPosition.updated_at).limit(LIST_LIMIT)
        ):
            blocks.append(PositionRow(user.username, user.name, pos.position, pos.reason))
    waiting: list[str] = []
    if not closed:
        waiting = list(session.scalars(
            select(User.username).where(permissions.eligible_repliers_clause(session, topic.category),
                                        User.id.not_in(_responders(session, proposal, topic)))
            .order_by(User.username_lower).limit(WAITING_LIMIT)))
    mine = None
    if viewer.user is not None and proposal.kind == "consent":
        mine = session.scalar(select(ProposalPosition).where(ProposalPosition.proposal_id == proposal.id,
                                                             ProposalPosition.user_id == viewer.user.id))
    outcome = session.get(Post, proposal.outcome_post_id) if proposal.outcome_post_id else None
    if outcome is not None and not permissions.can_read_post(session, viewer, outcome, topic):
        outcome = None  # deleted or hidden: its author and staff only (permissions.py, rule 8)
    poll = decision_poll(session, topic) if proposal.kind != "consent" else None
    return ProposalView(
        proposal=proposal, topic=topic, closed=closed, counts=counts, turnout=out, positions=rows, blocks=blocks,
        waiting=waiting, mine=mine, refusal=permissions.position_refusal(session, viewer, topic, closed=closed),
        can_manage=permissions.can_manage_proposal(viewer) and proposal.closed_at is None,
        can_write_outcome=closed and proposal.outcome_post_id is None
        and permissions.can_write_outcome(session, viewer, topic),
        outcome=outcome, poll_id=poll.id if poll else None, more_positions=more,
    )


def feed_notes(session: Session, topic_ids: list[int], gettext, locale: str = "en") -> dict[int, str]:
    """For feeds: topic id -> "Proposal, closes: … Brussels (CET) · 17:00 UTC", in the author's zone and UTC."""
    if not topic_ids:
        return {}
    from forum.i18n import translate

    notes: dict[int, str] = {}
    for proposal in session.scalars(select(Proposal).where(Proposal.topic_id.in_(topic_ids))):
        when = timezones.describe(proposal.closed_at or proposal.closes_at, proposal.timezone, None, gettext, locale)
        note = _("Proposal, closed: %(when)s", when=when) if is_closed(proposal) else _(
            "Proposal, closes: %(when)s", when=when)
        notes[proposal.topic_id] = translate(note, gettext)
    return notes


# --- background jobs --------------------------------------------------------------------------

def _current(session: Session, payload: dict) -> tuple[Proposal, Topic] | None:
    """The proposal a job is about, unless it was closed or its closing time changed since."""
    proposal = session.get(Proposal, payload.get("proposal_id"))
    if proposal is None or proposal.closed_at is not None or _key(proposal.closes_at) != payload.get("closes_at"):
        return None
    topic = session.get(Topic, proposal.topic_id)
    return (proposal, topic) if topic is not None else None


@outbox.handler("proposal.close")
def _close_due(payload: dict, ctx: outbox.JobContext) -> None:
    with ctx.db.write() as session:
        found = _current(session, payload)
        if found is None:
            return
        proposal, topic = found
        close(session, ctx.settings, proposal, topic, by=None, when=proposal.closes_at)


@outbox.handler("proposal.remind")
def _remind(payload: dict, ctx: outbox.JobContext) -> None:
    with ctx.db.write() as session:
        found = _current(session, payload)
        if found is None or found[1].deleted_at is not None:
            return
        proposal, topic = found
        waiting = session.scalars(
            select(User).where(permissions.eligible_repliers_clause(session, topic.category),
                               User.id.not_in(_responders(session, proposal, topic))).order_by(User.id))
        # Each person reads the closing time in their own zone (and the author's).
        notices.tell(session, waiting, "proposal_closing", topic,
                     lambda letter: {"when": letter.when(proposal.closes_at, proposal.timezone)})
