"""Polls in posts: kept in step with the post's markdown, voted in, and counted.

A post's `[poll]` blocks are parsed by the markdown renderer (forum/markdown_decide.py); on every
create and edit, `sync_post()` makes the poll rows say the same, in the post's own transaction.
Options are matched by a digest of their text, so an edit that keeps an option keeps its votes.
Once a poll has votes and the grace period after posting has passed, an edit that would change its
options (or remove it) is refused with a message instead of silently wiping the votes.

Who may vote is decided in forum/permissions.py (`poll_vote_refusal`): a signed-in person who may
reply in the topic, while the poll is open.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from html import unescape

from sqlalchemy import case, delete, func, select
from sqlalchemy.orm import Session

from forum import permissions, ratelimit
from forum.errors import NotFound, ValidationFailed
from forum.i18n import _
from forum.markdown_decide import option_digest
from forum.models import Poll, PollOption, PollVote, Post, Topic, User, utcnow
from forum.models.decide import POLL_RESULTS, POLL_TYPES
from forum.permissions import Viewer
from forum.ratelimit import RateLimiter
from forum.text import parse_id

MAX_POLLS_PER_POST = 10
MAX_OPTIONS = 50
MAX_NUMBER_OPTIONS = 100
VOTER_NAMES_PER_OPTION = 20
NAME_RE = re.compile(r"^[\w-]{1,64}$")
POLL_DIV_RE = re.compile(r'<div class="poll" data-poll-name="([^"]*)"[^>]*>(.*?)</div>', re.DOTALL)
TITLE_SPAN_RE = re.compile(r'<span class="poll-title">(.*?)</span>', re.DOTALL)
OPTION_LI_RE = re.compile(r'<li data-poll-option-id="([0-9a-f]+)">(.*?)</li>', re.DOTALL)


@dataclass
class PollSpec:
    name: str
    type: str
    title: str
    min_choices: int | None
    max_choices: int | None
    results: str
    public: bool
    close_at: datetime | None
    options: list[tuple[str, str]]  # (digest, label)


def _problem(message) -> ValidationFailed:
    return ValidationFailed(fields={"raw": message})


def _int_attr(attrs: dict, key: str, name: str) -> int | None:
    value = attrs.get(key)
    if value is None or value == "":
        return None
    try:
        return int(value)
    except ValueError:
        raise _problem(_("Poll “%(name)s”: %(key)s= must be a whole number.", name=name, key=key)) from None


def parse_close(value: str, name: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise _problem(_("Poll “%(name)s”: close= needs a date and time such as 2026-12-01T18:00:00Z.",
                         name=name)) from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def specs_from(cooked_polls: list[dict]) -> list[PollSpec]:
    """Check what the post's [poll] blocks say; refuses a post whose polls make no sense."""
    if len(cooked_polls) > MAX_POLLS_PER_POST:
        raise _problem(_("A post may hold at most %(n)s polls.", n=MAX_POLLS_PER_POST))
    specs: list[PollSpec] = []
    seen: set[str] = set()
    for meta in cooked_polls:
        attrs = meta["attrs"]
        name = attrs.get("name", "poll").strip() or "poll"
        if not NAME_RE.match(name):
            raise _problem(_("Poll names use letters, digits, - and _ (up to 64): “%(name)s” does not.", name=name[:64]))
        if name in seen:
            raise _problem(_("Each poll in a post needs its own name: add name=… to the [poll] tags (“%(name)s” is used twice).", name=name))
        seen.add(name)
        kind = attrs.get("type", "regular").strip().lower()
        if kind not in POLL_TYPES:
            raise _problem(_("Poll “%(name)s”: type= must be regular, multiple, number or ranked.", name=name))
        results = attrs.get("results", "always").strip().lower()
        if results not in POLL_RESULTS:
            raise _problem(_("Poll “%(name)s”: results= must be always, on_vote, on_close or staff_only.", name=name))
        public = attrs.get("public", "false").strip().lower()
        if public not in ("true", "false"):
            raise _problem(_("Poll “%(name)s”: public= must be true or false.", name=name))
        close_at = parse_close(attrs["close"], name) if attrs.get("close") else None
        if meta["stray"]:
            raise _problem(_("Poll “%(name)s”: put each option on its own line, starting with * (“%(line)s” does not).",
                             name=name, line=meta["stray"][0][:80]))
        lo, hi = _int_attr(attrs, "min", name), _int_attr(attrs, "max", name)
        options = list(meta["options"])
        if kind == "number":
            step = _int_attr(attrs, "step", name) or 1
            lo = 1 if lo is None else lo
            hi = 10 if hi is None else hi
            if step < 1 or hi <= lo or (hi - lo) // step + 1 > MAX_NUMBER_OPTIONS:
                raise _problem(_("Poll “%(name)s”: a number poll needs min= below max=, and at most %(n)s steps.",
                                 name=name, n=MAX_NUMBER_OPTIONS))
            options = [(option_digest(str(n)), str(n)) for n in range(lo, hi + 1, step)]
            lo = hi = None
        else:
            if len(options) < 2:
                raise _problem(_("Poll “%(name)s” needs at least two options, each on a line starting with *.", name=name))
            if len(options) > MAX_OPTIONS:
                raise _problem(_("Poll “%(name)s” may have at most %(n)s options.", name=name, n=MAX_OPTIONS))
            if len({d for d, _label in options}) != len(options):
                raise _problem(_("Poll “%(name)s” lists the same option twice.", name=name))
            if kind == "regular":
                lo = hi = None
            else:
                lo = 1 if lo is None else lo
                hi = len(options) if hi is None else hi
                if not 1 <= lo <= hi <= len(options):
                    raise _problem(_("Poll “%(name)s”: choose min= and max= between 1 and the number of options (%(n)s).",
                                     name=name, n=len(options)))
        specs.append(PollSpec(name=name, type=kind, title=meta["title"][:500], min_choices=lo, max_choices=hi,
                              results=results, public=public == "true", close_at=close_at, options=options))
    return specs


def title_html(cooked_html: str) -> dict[str, str]:
    """Poll name -> its title as cooked in the post (inline HTML, already sanitised)."""
    found: dict[str, str] = {}
    for match in POLL_DIV_RE.finditer(cooked_html):
        title = TITLE_SPAN_RE.match(match.group(2))
        if title:
            found[unescape(match.group(1))] = title.group(1)
    return found


def option_html(cooked_html: str) -> dict[tuple[str, str], str]:
    """(poll name, option digest) -> the option's cooked HTML, as the post shows it."""
    found: dict[tuple[str, str], str] = {}
    for match in POLL_DIV_RE.finditer(cooked_html):
        name = unescape(match.group(1))
        for digest, html in OPTION_LI_RE.findall(match.group(2)):
            found[(name, digest)] = html
    return found


def _vote_count(session: Session, poll_id: int) -> int:
    return session.scalar(select(func.count(func.distinct(PollVote.user_id))).where(PollVote.poll_id == poll_id)) or 0


def sync_post(session: Session, post: Post, cooked_polls: list[dict], cooked_html: str, *,
              grace: timedelta | None = None, now: datetime | None = None) -> None:
    """Make the post's poll rows match its markdown. `grace` is set for edits (None on create)."""
    specs = specs_from(cooked_polls)
    now = now or utcnow()
    html = option_html(cooked_html)
    titles = title_html(cooked_html)
    for spec in specs:
        spec.title = titles.get(spec.name, "")
    existing = {p.name: p for p in session.scalars(select(Poll).where(Poll.post_id == post.id))} if post.id else {}
    if not existing and not specs:
        return
    editing_late = grace is not None and post.created_at is not None and now - post.created_at > grace
    wanted = {s.name for s in specs}
    for name, poll in existing.items():
        if name not in wanted and editing_late and _vote_count(session, poll.id):
            raise _problem(_("The poll “%(name)s” already has votes, so it can no longer be removed. "
                             "A moderator or the author can close it instead.", name=name))
    for spec in specs:
        poll = existing.get(spec.name)
        if poll is None:
            poll = Poll(post_id=post.id, name=spec.name, created_at=now)
            _apply(poll, spec, now)
            session.add(poll)
            session.flush()
            for position, (digest, label) in enumerate(spec.options):
                session.add(PollOption(poll_id=poll.id, position=position, digest=digest, label=label,
                                       html=html.get((spec.name, digest), "") or _escape(label)))
            continue
        _update(session, poll, spec, html, now, editing_late=editing_late, grace=grace)
    for name, poll in existing.items():
        if name not in wanted:
            session.execute(delete(PollVote).where(PollVote.poll_id == poll.id))
            session.execute(delete(PollOption).where(PollOption.poll_id == poll.id))
            session.delete(poll)
    session.flush()


def _escape(text: str) -> str:
    from html import escape

    return escape(text)


def _apply(poll: Poll, spec: PollSpec, now: datetime) -> None:
    poll.type, poll.title = spec.type, spec.title
    poll.min_choices, poll.max_choices = spec.min_choices, spec.max_choices
    poll.results, poll.public, poll.close_at = spec.results, spec.public, spec.close_at
    poll.updated_at = now


def _update(session: Session, poll: Poll, spec: PollSpec, html: dict, now: datetime, *, editing_late: bool,
            grace: timedelta | None) -> None:
    options = list(session.scalars(select(PollOption).where(PollOption.poll_id == poll.id)
                                   .order_by(PollOption.position)))
    old_digests = [o.digest for o in options]
    new_digests = [d for d, _label in spec.options]
    shape_changed = (poll.type, poll.min_choices, poll.max_choices) != (spec.type, spec.min_choices, spec.max_choices)
    options_changed = set(old_digests) != set(new_digests)
    votes = _vote_count(session, poll.id) if (options_changed or shape_changed or spec.public != poll.public) else 0
    if votes and spec.public and not poll.public:
        raise _problem(_("The poll “%(name)s” was answered anonymously, so it cannot be made public now.",
                         name=poll.name))
    if votes and editing_late and (options_changed or shape_changed):
        minutes = int(grace.total_seconds() // 60) if grace else 0
        raise _problem(_("The poll “%(name)s” already has votes, so its options and type can no longer be changed "
                         "(that is only possible in the first %(n)s minutes after posting). The rest of the post "
                         "can still be edited.", name=poll.name, n=minutes))
    if votes and shape_changed:
        session.execute(delete(PollVote).where(PollVote.poll_id == poll.id))
    by_digest = {o.digest: o for o in options}
    for digest in set(old_digests) - set(new_digests):
        session.execute(delete(PollVote).where(PollVote.option_id == by_digest[digest].id))
        session.delete(by_digest[digest])
    session.flush()
    for position, (digest, label) in enumerate(spec.options):
        option_html_text = html.get((spec.name, digest), "") or _escape(label)
        option = by_digest.get(digest)
        if option is None or digest not in old_digests:
            session.add(PollOption(poll_id=poll.id, position=position, digest=digest, label=label,
                                   html=option_html_text))
        else:
            option.position, option.label, option.html = position, label, option_html_text
    _apply(poll, spec, now)


# --- voting -----------------------------------------------------------------------------------

def load(session: Session, viewer: Viewer, poll_id: int | str) -> tuple[Poll, Post, Topic]:
    """The poll with its post and topic, or NotFound when the viewer may not see them."""
    pid = parse_id(poll_id)
    poll = session.get(Poll, pid) if pid is not None else None
    if poll is None:
        raise NotFound()
    post = session.get(Post, poll.post_id)
    topic = session.get(Topic, post.topic_id) if post is not None else None
    permissions.ensure_can_see_poll(session, viewer, post, topic)
    assert post is not None and topic is not None
    return poll, post, topic


def vote(session: Session, viewer: Viewer, *, poll_id: int | str, option_ids: list[str],
         ranks: dict[str, str] | None = None, limiter: RateLimiter | None = None) -> Poll:
    """Record the viewer's vote, replacing any earlier one."""
    poll, post, topic = load(session, viewer, poll_id)
    now = utcnow()
    permissions.ensure_can_vote_in_poll(session, viewer, topic, post, closed=poll.is_closed(now))
    assert viewer.user is not None
    ratelimit.hit_vote(limiter, session, viewer.user.id)
    options = {o.id: o for o in session.scalars(select(PollOption).where(PollOption.poll_id == poll.id))}
    chosen: list[tuple[int, int | None]] = []
    if poll.type == "ranked":
        ranked: list[tuple[int, int]] = []
        for key, value in (ranks or {}).items():
            oid, rank = parse_id(key), parse_id(value) if value else None
            if rank is None:
                continue
            if oid not in options:
                raise ValidationFailed(_("That option is not part of this poll."))
            ranked.append((rank, oid))
        if len({r for r, _o in ranked}) != len(ranked):
            raise ValidationFailed(_("Give each ranked option a different place."))
        ranked.sort()
        # Places are renumbered 1, 2, 3 … in the order given, so gaps do not matter.
        chosen = [(oid, place) for place, (_rank, oid) in enumerate(ranked, start=1)]
    else:
        ids: list[int] = []
        for raw in option_ids:
            oid = parse_id(raw)
            if oid not in options:
                raise ValidationFailed(_("That option is not part of this poll."))
            if oid not in ids:
                ids.append(oid)
        chosen = [(oid, None) for oid in ids]
    count = len(chosen)
    if poll.type in ("regular", "number"):
        if count != 1:
            raise ValidationFailed(_("Choose one option."))
    else:
        lo, hi = poll.min_choices or 1, poll.max_choices or len(options)
        if count < lo or count > hi:
            if lo == hi:
                message = _("Choose exactly %(n)s options.", n=lo) if lo > 1 else _("Choose one option.")
            else:
                message = _("Choose between %(min)s and %(max)s options.", min=lo, max=hi)
            if poll.type == "ranked":
                message = (_("Rank between %(min)s and %(max)s options.", min=lo, max=hi) if lo != hi
                           else _("Rank exactly %(n)s options.", n=lo))
            raise ValidationFailed(message)
    session.execute(delete(PollVote).where(PollVote.poll_id == poll.id, PollVote.user_id == viewer.user.id))
    for oid, rank in chosen:
        session.add(PollVote(poll_id=poll.id, option_id=oid, user_id=viewer.user.id, rank=rank, created_at=now))
    session.flush()
    return poll


def remove_vote(session: Session, viewer: Viewer, *, poll_id: int | str) -> Poll:
    poll, post, topic = load(session, viewer, poll_id)
    permissions.ensure_can_vote_in_poll(session, viewer, topic, post, closed=poll.is_closed(utcnow()))
    assert viewer.user is not None
    removed = session.execute(delete(PollVote).where(PollVote.poll_id == poll.id,
                                                     PollVote.user_id == viewer.user.id)).rowcount
    if not removed:
        raise NotFound(_("You have not voted in this poll."))
    return poll


def close(session: Session, viewer: Viewer, *, poll_id: int | str) -> Poll:
    poll, post, topic = load(session, viewer, poll_id)
    permissions.ensure_can_close_poll(session, viewer, post, topic)
    if poll.closed_at is None:
        poll.closed_at = utcnow()
    return poll


# --- results ----------------------------------------------------------------------------------

@dataclass
class OptionResult:
    option: PollOption
    votes: int = 0
    percent: int = 0
    points: int = 0  # ranked polls: Borda points (first place of n options scores n)
    first_places: int = 0
    voters: list[str] = field(default_factory=list)
    mine: bool = False
    my_rank: int | None = None


@dataclass
class PollView:
    poll: Poll
    post_id: int
    options: list[OptionResult]
    voters: int
    closed: bool
    results_visible: bool
    voted: bool
    can_vote: bool
    refusal: str | None
    can_close: bool
    average: float | None = None
    close_at: datetime | None = None

    @property
    def dom_id(self) -> str:
        return f"poll-{self.poll.id}"

    @property
    def ranking(self) -> list[OptionResult]:
        return sorted(self.options, key=lambda r: (-r.points, r.option.position))


def views_for_posts(session: Session, viewer: Viewer, topic: Topic, posts: list[Post]) -> dict[int, dict[str, PollView]]:
    """post id -> poll name -> what this viewer sees of it. A fixed number of queries per page."""
    post_ids = [p.id for p in posts]
    if not post_ids:
        return {}
    polls = list(session.scalars(select(Poll).where(Poll.post_id.in_(post_ids))))
    if not polls:
        return {}
    poll_ids = [p.id for p in polls]
    now = utcnow()
    options: dict[int, list[PollOption]] = {}
    for option in session.scalars(select(PollOption).where(PollOption.poll_id.in_(poll_ids))
                                  .order_by(PollOption.poll_id, PollOption.position)):
        options.setdefault(option.poll_id, []).append(option)
    tallies = {
        row.option_id: row for row in session.execute(
            select(PollVote.option_id, func.count().label("n"), func.coalesce(func.sum(PollVote.rank), 0).label("ranks"),
                   func.sum(case((PollVote.rank == 1, 1), else_=0)).label("firsts"))
            .where(PollVote.poll_id.in_(poll_ids)).group_by(PollVote.option_id))
    }
    voters = dict(session.execute(select(PollVote.poll_id, func.count(func.distinct(PollVote.user_id)))
                                  .where(PollVote.poll_id.in_(poll_ids)).group_by(PollVote.poll_id)).all())
    mine: dict[int, int | None] = {}
    if viewer.user is not None:
        mine = dict(session.execute(select(PollVote.option_id, PollVote.rank).where(
            PollVote.poll_id.in_(poll_ids), PollVote.user_id == viewer.user.id)).all())
    by_post = {p.id: p for p in posts}
    views: dict[int, dict[str, PollView]] = {}
    public_visible: list[int] = []
    for poll in polls:
        post = by_post[poll.post_id]
        opts = options.get(poll.id, [])
        closed = poll.is_closed(now)
        voted = any(o.id in mine for o in opts)
        visible = permissions.can_see_poll_results(viewer, poll, voted=voted, closed=closed)
        refusal = permissions.poll_vote_refusal(session, viewer, topic, post, closed=closed)
        total = voters.get(poll.id, 0)
        n = len(opts)
        results = []
        weighted = 0
        for o in opts:
            t = tallies.get(o.id)
            count = t.n if t is not None else 0
            result = OptionResult(option=o, mine=o.id in mine, my_rank=mine.get(o.id))
            if visible:
                result.votes = count
                result.percent = round(100 * count / total) if total else 0
                result.points = (count * (n + 1) - int(t.ranks)) if (t is not None and poll.type == "ranked") else 0
                result.first_places = int(t.firsts or 0) if t is not None else 0
                if poll.type == "number":
                    weighted += int(o.label) * count
            results.append(result)
        view = PollView(poll=poll, post_id=post.id, options=results, voters=total if visible else 0, closed=closed,
                        results_visible=visible, voted=voted, can_vote=refusal is None, refusal=refusal,
                        can_close=not closed and permissions.can_close_poll(session, viewer, post, topic),
                        close_at=poll.closed_at or poll.close_at)
        if visible and poll.type == "number" and total:
            view.average = round(weighted / total, 1)
        if visible and poll.public:
            public_visible.append(poll.id)
        views.setdefault(post.id, {})[poll.name] = view
    if public_visible:
        _attach_voter_names(session, views, public_visible)
    return views


def _attach_voter_names(session: Session, views: dict[int, dict[str, PollView]], poll_ids: list[int]) -> None:
    numbered = (select(PollVote.option_id, User.username,
                       func.row_number().over(partition_by=PollVote.option_id,
                                              order_by=(PollVote.created_at, PollVote.id)).label("n"))
                .join(User, User.id == PollVote.user_id).where(PollVote.poll_id.in_(poll_ids)).subquery())
    names: dict[int, list[str]] = {}
    for option_id, username, _n in session.execute(select(numbered).where(numbered.c.n <= VOTER_NAMES_PER_OPTION)):
        names.setdefault(option_id, []).append(username)
    for by_name in views.values():
        for view in by_name.values():
            for result in view.options:
                result.voters = names.get(result.option.id, [])


def view_of(session: Session, viewer: Viewer, poll_id: int | str) -> PollView:
    poll, post, topic = load(session, viewer, poll_id)
    return views_for_posts(session, viewer, topic, [post])[post.id][poll.name]


def post_segments(cooked_html: str, polls_by_name: dict[str, PollView] | None) -> list[tuple[str, object]]:
    """The post's HTML cut around its polls: ("html", text) and ("poll", PollView) pieces, in order."""
    if not polls_by_name:
        return [("html", cooked_html)]
    pieces: list[tuple[str, object]] = []
    last = 0
    for match in POLL_DIV_RE.finditer(cooked_html):
        view = polls_by_name.get(unescape(match.group(1)))
        if view is None:
            continue
        pieces.append(("html", cooked_html[last:match.start()]))
        pieces.append(("poll", view))
        last = match.end()
    pieces.append(("html", cooked_html[last:]))
    return pieces
