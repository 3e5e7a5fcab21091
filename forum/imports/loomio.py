"""`forum import loomio FILE [--category SLUG]`: a Loomio group export becomes topics, replies,
polls and proposals.

Loomio's group export (Group settings → Export data → JSON) is one JSON object a line,
`{"table": "discussions", "record": {...}}`, for the tables users, discussions, comments, polls,
poll_options, stances, stance_choices, outcomes and more (the rest is left alone). A file holding
one JSON document — a list of such objects, or `{"discussions": [...], ...}` — is read too.

- Each discussion becomes a topic (its description the first post), its comments replies, each
  answering the comment it answered; discarded comments stay out.
- A proposal (poll type "proposal") becomes a proposal topic here, with each person's latest
  position (agree, abstain, disagree, block) and reason, its closing time, and its outcome as a
  reply. Its first post links the discussion it was made in.
- Any other poll becomes a poll in a reply where it was asked, with everyone's latest vote
  (scores and dot votes count as choices); the reasons given with votes follow as their replies.
- People are matched by e-mail address; everyone else gets a staged account (see mbox.py).

Dates and authors are kept; nobody is notified. Each discussion (with its polls) and each proposal
is one transaction, remembered in `import_map` under "loomio:<group id>", so that a second run of
a newer export imports only what is new.
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import IO, Any

import html2text
from sqlalchemy import select
from sqlalchemy.orm import Session

from forum import proposals, urls
from forum.config import Settings
from forum.db import Database
from forum.imports.common import (
    UNUSABLE_PASSWORD,
    CannotImport,
    ImportMap,
    People,
    Tally,
    append_post,
    find_category,
    free_username,
    new_topic,
    settle_dates,
    utc,
)
from forum.models import Category, Poll, PollOption, PollVote, Proposal, ProposalPosition, Topic, User, utcnow
from forum.progress import Report, progress
from forum.text import clean

POSITION_OF = {"agree": "agree", "yes": "agree", "consent": "agree", "abstain": "abstain", "disagree": "disagree",
               "no": "disagree", "objection": "disagree", "object": "disagree", "block": "block"}
RANKED, MULTIPLE = ("ranked_choice",), ("score", "dot_vote", "meeting", "check")


def _date(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        return utc(datetime.fromisoformat(str(value).replace("Z", "+00:00")))
    except ValueError:
        return None


def _markdown(text: Any, fmt: Any) -> str:
    text = str(text or "")
    if fmt == "html" or (fmt is None and text.lstrip().startswith("<")):
        converter = html2text.HTML2Text()
        converter.body_width = 0
        converter.unicode_snob = True
        text = converter.handle(text)
    return clean(text).strip()


@dataclass
class Options:
    path: Path
    category: str | None = None
    dry_run: bool = False


def read_export(path: Path, report: Report) -> dict[str, list[dict[str, Any]]]:
    if not path.is_file():
        raise CannotImport(f"{path}: no such file")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as e:
        raise CannotImport(f"{path}: cannot read it ({e.strerror or e})") from None
    except UnicodeDecodeError:
        raise CannotImport(f"{path}: not a Loomio export (not UTF-8 text)") from None
    tables: dict[str, list[dict[str, Any]]] = defaultdict(list)
    stripped = text.lstrip()
    whole = None
    if stripped.startswith("["):
        try:
            whole = json.loads(text)
        except ValueError:
            whole = None
    elif stripped.startswith("{") and "\n{" not in stripped:
        try:
            whole = json.loads(text)
        except ValueError:
            whole = None
    if isinstance(whole, dict) and "table" not in whole:
        for table, records in whole.items():
            if isinstance(records, list):
                tables[table].extend(r for r in records if isinstance(r, dict))
    else:
        lines = whole if isinstance(whole, list) else text.splitlines()
        for line in lines:
            item = line
            if isinstance(line, str):
                if not line.strip():
                    continue
                try:
                    item = json.loads(line)
                except ValueError:
                    report.skip("export lines", "not JSON")
                    continue
            if isinstance(item, dict) and isinstance(item.get("record"), dict) and item.get("table"):
                tables[str(item["table"])].append(item["record"])
            else:
                report.skip("export lines", "not a {table, record} object")
    if not tables.get("discussions") and not tables.get("polls"):
        raise CannotImport(f"{path}: not a Loomio group export (no discussions or polls in it)")
    return tables


class LoomioImport:
    def __init__(self, db: Database, settings: Settings, options: Options, tracker):
        self.db, self.settings, self.options, self.tracker = db, settings, options, tracker
        self.report = Report("Loomio import" + (" (dry run: nothing written)" if options.dry_run else ""),
                             done_label="would import" if options.dry_run else "imported")
        self.people = People()
        self.tally = Tally(self.report)

    def run(self) -> Report:
        t = read_export(self.options.path, self.report)
        group = (t.get("groups") or [{}])[0]
        with self.db.read() as session:
            self.category = self._category(session, group)
            self.map = ImportMap(session, f"loomio:{group.get('id', group.get('handle', 'group'))}")
        self.users = {u.get("id"): u for u in t.get("users", [])}
        self.options_of: dict[Any, list[dict]] = defaultdict(list)
        for o in t.get("poll_options", []):
            self.options_of[o.get("poll_id")].append(o)
        for opts in self.options_of.values():
            opts.sort(key=lambda o: (o.get("priority") or 0, o.get("id") or 0))
        self.choices_of: dict[Any, list[dict]] = defaultdict(list)
        for c in t.get("stance_choices", []):
            self.choices_of[c.get("stance_id")].append(c)
        self.stances_of: dict[Any, list[dict]] = defaultdict(list)
        for s in t.get("stances", []):
            if s.get("latest", True) and not s.get("revoked_at"):
                self.stances_of[s.get("poll_id")].append(s)
        self.outcomes_of: dict[Any, list[dict]] = defaultdict(list)
        for o in t.get("outcomes", []):
            if o.get("latest", True):
                self.outcomes_of[o.get("poll_id")].append(o)
        discussion_of_topic = {tp.get("id"): tp.get("topicable_id") for tp in t.get("topics", [])
                               if tp.get("topicable_type") == "Discussion"}
        comments: dict[Any, list[dict]] = defaultdict(list)
        for c in t.get("comments", []):
            comments[c.get("discussion_id")].append(c)
        polls_in: dict[Any, list[dict]] = defaultdict(list)
        proposal_polls = []
        for p in t.get("polls", []):
            if p.get("discarded_at"):
                self.report.skip("polls", "discarded in Loomio")
                continue
            p["_discussion"] = p.get("discussion_id") or discussion_of_topic.get(p.get("topic_id"))
            if p.get("poll_type") == "proposal":
                proposal_polls.append(p)
            else:
                polls_in[p["_discussion"]].append(p)
        discussions = sorted((d for d in t.get("discussions", []) if not d.get("discarded_at")),
                             key=lambda d: _date(d.get("created_at")) or utcnow())
        known = {d.get("id") for d in discussions}
        standalone = [p for key, ps in polls_in.items() if key not in known for p in ps]
        with self.tracker.running():
            with self.tracker.step("discussions", total=len(discussions) + len(standalone)) as step:
                for d in discussions:
                    step.advance()
                    self._transaction("discussions", lambda s, d=d: self._discussion(
                        s, d, comments.get(d.get("id"), []), polls_in.get(d.get("id"), [])))
                for p in standalone:
                    step.advance()
                    self._transaction("polls", lambda s, p=p: self._standalone_poll(s, p))
            with self.tracker.step("proposals", total=len(proposal_polls)) as step:
                for p in sorted(proposal_polls, key=lambda p: _date(p.get("created_at")) or utcnow()):
                    step.advance()
                    self._transaction("proposals", lambda s, p=p: self._proposal(s, p))
        return self.report

    def _category(self, session: Session, group: dict) -> Category:
        if self.options.category:
            return find_category(session, self.options.category)
        for slug in (group.get("handle"), clean(str(group.get("name") or "")).lower().replace(" ", "-")):
            if slug:
                found = session.scalar(select(Category).where(Category.slug == slug))
                if found is not None:
                    return found
        first = session.scalar(select(Category).where(Category.parent_id.is_(None))
                               .order_by(Category.position, Category.id).limit(1))
        if first is None:
            raise CannotImport("there is no category to import into: create one, or name one with --category")
        return first

    def _transaction(self, kind: str, work) -> None:
        if self.options.dry_run:
            work(None)
            self.tally.committed()
            return
        try:
            with self.db.write() as session:
                work(session)
        except Exception as e:  # noqa: BLE001  one failing discussion is reported, the rest go on
            self.map.rolled_back()
            self.people.rolled_back()
            self.tally.rolled_back()
            first = str(e).splitlines()[0][:120] if str(e) else ""
            self.report.fail(kind, f"{type(e).__name__}: {first}")
            return
        self.map.committed()
        self.people.committed()
        self.tally.committed()

    # people

    def _user(self, session: Session | None, user_id: Any) -> int:
        local = self.map.get("user", user_id)
        if local is not None:
            return local
        u = self.users.get(user_id) or {"name": f"Loomio person {user_id}"}
        created = _date(u.get("created_at")) or utcnow()
        if session is None:
            self.map.add(None, "user", user_id, -1)
            self.tally.add("people")
            return -1
        email = str(u.get("email") or "").strip().lower()
        if email:
            local = self.people.author(session, email, str(u.get("name") or ""), created, self.tally)
        else:
            name = free_username(session, str(u.get("username") or u.get("name") or f"loomio{user_id}"))
            user = User(username=name, username_lower=name.lower(), email=None, name=str(u.get("name") or "")[:100],
                        password_hash=UNUSABLE_PASSWORD, staged=True, created_at=created)
            session.add(user)
            session.flush()
            local = user.id
            self.tally.add("staged accounts")
        self.map.add(session, "user", user_id, local)
        return local

    # discussions

    def _discussion(self, session: Session | None, d: dict, comments: list[dict], polls: list[dict]) -> None:
        topic_id = self.map.get("discussion", d.get("id"))
        created = _date(d.get("created_at")) or utcnow()
        items: list[tuple[datetime, int, dict]] = []
        for c in comments:
            if c.get("discarded_at"):
                if self.map.get("comment", c.get("id")) is None:
                    self.report.skip("comments", "discarded in Loomio")
                continue
            if self.map.get("comment", c.get("id")) is None:
                items.append((_date(c.get("created_at")) or created, 0, c))
        for p in polls:
            if self.map.get("poll", p.get("id")) is None:
                items.append((_date(p.get("created_at")) or created, 1, p))
        items.sort(key=lambda item: (item[0], item[1], item[2].get("id") or 0))
        if topic_id is not None and not items:
            return
        if session is None:
            if topic_id is None:
                self._user(None, d.get("author_id"))
                self.map.add(None, "discussion", d.get("id"), -1)
                self.tally.add("topics")
            for _when, is_poll, item in items:
                self._user(None, item.get("author_id" if is_poll else "user_id"))
                self.tally.add("polls" if is_poll else "replies")
            return
        authors: set[int] = set()
        if topic_id is None:
            author = self._user(session, d.get("author_id"))
            topic = new_topic(session, title=str(d.get("title") or "Untitled"), category_id=self.category.id,
                              user_id=author, created=created)
            raw = _markdown(d.get("description"), d.get("description_format")) or clean(str(d.get("title") or ""))
            first = append_post(session, topic, author, raw, created, first=True)
            self.map.add(session, "discussion", d.get("id"), topic.id)
            self.map.add(session, "item", f"Discussion:{d.get('id')}", first.post_number)
            authors.add(author)
            self.tally.add("topics")
        else:
            topic = session.get(Topic, topic_id)
            if topic is None:
                self.report.skip("discussions", "imported before, deleted here since")
                return
        for when, is_poll, item in items:
            if is_poll:
                authors |= self._poll_post(session, topic, item)
                continue
            author = self._user(session, item.get("user_id"))
            raw = _markdown(item.get("body"), item.get("body_format"))
            if not raw:
                self.report.skip("comments", "empty")
                continue
            parent = self.map.get("item", f"{item.get('parent_type') or 'Discussion'}:{item.get('parent_id')}")
            post = append_post(session, topic, author, raw, when, reply_to=parent if parent and parent > 1 else None)
            self.map.add(session, "comment", item.get("id"), post.id)
            self.map.add(session, "item", f"Comment:{item.get('id')}", post.post_number)
            authors.add(author)
            self.tally.add("replies")
        session.flush()
        settle_dates(session, topic.id, authors)
        if d.get("closed_at"):
            topic.closed = True

    def _standalone_poll(self, session: Session | None, p: dict) -> None:
        if self.map.get("poll", p.get("id")) is not None:
            return
        if session is None:
            self._user(None, p.get("author_id"))
            self.tally.add("polls")
            return
        author = self._user(session, p.get("author_id"))
        created = _date(p.get("created_at")) or utcnow()
        topic = new_topic(session, title=str(p.get("title") or "Poll"), category_id=self.category.id,
                          user_id=author, created=created)
        authors = self._poll_post(session, topic, p, first=True)
        session.flush()
        settle_dates(session, topic.id, authors | {author})

    def _poll_post(self, session: Session, topic: Topic, p: dict, *, first: bool = False) -> set[int]:
        author = self._user(session, p.get("author_id"))
        created = _date(p.get("created_at")) or topic.created_at
        options = self.options_of.get(p.get("id"), [])
        if len(options) < 2:
            self.report.skip("polls", "fewer than two options")
            return set()
        kind = p.get("poll_type")
        most = int(p.get("maximum_stance_choices") or 0)
        if kind in RANKED:
            poll_type = "ranked"
        elif kind in MULTIPLE or p.get("multiple_choice") or most > 1:
            poll_type = "multiple"
        else:
            poll_type = "regular"
        labels = [" ".join(clean(str(o.get("name") or f"Option {n}")).split())[:200] for n, o in enumerate(options, 1)]
        name = f"loomio-{p.get('id')}"
        limits = f" min=1 max={most or len(options)}" if poll_type == "multiple" else ""
        public = "false" if p.get("anonymous") else "true"
        details = _markdown(p.get("details"), p.get("details_format"))
        raw = (f"**{clean(str(p.get('title') or ''), single_line=True)}**\n\n" + (details + "\n\n" if details else "")
               + f"[poll name={name} type={poll_type}{limits} results=always public={public}]\n"
               + "\n".join(f"* {label}" for label in labels) + "\n[/poll]")
        post = append_post(session, topic, author, raw, created, first=first)
        self.map.add(session, "poll", p.get("id"), post.id)
        self.map.add(session, "item", f"Poll:{p.get('id')}", post.post_number)
        self.tally.add("polls")
        poll = session.scalar(select(Poll).where(Poll.post_id == post.id, Poll.name == name))
        if poll is None:
            self.report.skip("polls", "not readable as a poll here: kept as text")
            return {author}
        poll.created_at = created
        poll.closed_at = _date(p.get("closed_at"))
        local_options = list(session.scalars(select(PollOption).where(PollOption.poll_id == poll.id)
                                             .order_by(PollOption.position)))
        by_source = {o.get("id"): local.id for o, local in zip(options, local_options, strict=False)}
        authors = {author}
        for stance in sorted(self.stances_of.get(p.get("id"), []), key=lambda s: _date(s.get("cast_at")) or created):
            chosen = [c for c in self.choices_of.get(stance.get("id"), []) if c.get("poll_option_id") in by_source
                      and (c.get("score") is None or c.get("score") > 0)]
            if not chosen:
                continue
            voter = self._user(session, stance.get("participant_id"))
            cast = _date(stance.get("cast_at")) or created
            if poll_type == "ranked":
                chosen.sort(key=lambda c: (c.get("rank") or 0, -(c.get("score") or 0)))
            elif poll_type == "regular":
                chosen = sorted(chosen, key=lambda c: -(c.get("score") or 0))[:1]
            for place, c in enumerate(chosen, 1):
                session.add(PollVote(poll_id=poll.id, option_id=by_source[c["poll_option_id"]], user_id=voter,
                                     rank=place if poll_type == "ranked" else None, created_at=cast))
            self.tally.add("votes")
            reason = _markdown(stance.get("reason"), stance.get("reason_format"))
            if reason:
                picked = ", ".join(labels[[o.get("id") for o in options].index(c["poll_option_id"])] for c in chosen)
                reply = append_post(session, topic, voter, f"*Voted: {picked}*\n\n{reason}", cast,
                                    reply_to=post.post_number)
                self.map.add(session, "stance", stance.get("id"), reply.id)
                self.map.add(session, "item", f"Stance:{stance.get('id')}", reply.post_number)
                authors.add(voter)
                self.tally.add("reasons")
        return authors

    # proposals

    def _proposal(self, session: Session | None, p: dict) -> None:
        if self.map.get("proposal", p.get("id")) is not None:
            return
        if session is None:
            self._user(None, p.get("author_id"))
            self.tally.add("proposals")
            self.tally.add("positions", len(self.stances_of.get(p.get("id"), [])))
            return
        author = self._user(session, p.get("author_id"))
        created = _date(p.get("created_at")) or utcnow()
        raw = _markdown(p.get("details"), p.get("details_format")) or clean(str(p.get("title") or ""))
        discussion = self.map.get("discussion", p.get("_discussion")) if p.get("_discussion") else None
        where = session.get(Topic, discussion) if discussion else None
        if where is not None:
            raw += f"\n\n*Proposed in the discussion [{where.title}]({urls.topic_url(where)}).*"
        topic = new_topic(session, title=str(p.get("title") or "Proposal"), category_id=self.category.id,
                          user_id=author, created=created)
        append_post(session, topic, author, raw, created, first=True)
        closed = _date(p.get("closed_at"))
        closes = _date(p.get("closing_at")) or closed or created + timedelta(days=7)
        if closed is None and closes <= utcnow():
            closed = closes  # it closed in Loomio's eyes without the export saying so
        proposal = Proposal(topic_id=topic.id, kind="consent", closes_at=closes, timezone="UTC",
                            created_at=created, updated_at=closed or created)
        session.add(proposal)
        session.flush()
        options = {o.get("id"): o for o in self.options_of.get(p.get("id"), [])}
        counts = dict.fromkeys(proposals.POSITION_LABELS, 0)
        stances = self.stances_of.get(p.get("id"), [])
        authors = {author}
        for stance in stances:
            names = [str((options.get(c.get("poll_option_id")) or {}).get("name") or "").lower()
                     for c in self.choices_of.get(stance.get("id"), [])]
            position = next((POSITION_OF[n] for n in names if n in POSITION_OF), None)
            if position is None:
                if names:
                    self.report.skip("positions", "an option that is no consent position")
                continue
            voter = self._user(session, stance.get("participant_id"))
            cast = _date(stance.get("cast_at")) or created
            session.add(ProposalPosition(proposal_id=proposal.id, user_id=voter, position=position,
                                         reason=_markdown(stance.get("reason"), stance.get("reason_format"))[:2000],
                                         created_at=cast, updated_at=_date(stance.get("updated_at")) or cast))
            counts[position] += 1
            self.tally.add("positions")
        for outcome in self.outcomes_of.get(p.get("id"), []):
            text = _markdown(outcome.get("statement"), outcome.get("statement_format"))
            if text:
                writer = self._user(session, outcome.get("author_id"))
                post = append_post(session, topic, writer, text, _date(outcome.get("created_at")) or closes,
                                   reply_to=1)
                proposal.outcome_post_id = post.id
                authors.add(writer)
                self.tally.add("outcomes")
        if closed is not None:
            proposal.closed_at = closed
            proposal.eligible_count = len(stances)
            proposal.responded_count = sum(counts.values())
            proposal.final_tally = json.dumps({"positions": counts})
        else:
            proposals.schedule(session, self.settings, proposal)  # still open there: it closes here on time
        self.map.add(session, "proposal", p.get("id"), topic.id)
        self.tally.add("proposals")
        session.flush()
        settle_dates(session, topic.id, authors)


def run(db: Database, settings: Settings, options: Options, *, out: IO[str] | None = None,
        terminal: bool | None = None) -> Report:
    """Import, and return the summary. Raises CannotImport (nothing written) when it cannot start."""
    return LoomioImport(db, settings, options, progress(out or sys.stderr, terminal=terminal)).run()
