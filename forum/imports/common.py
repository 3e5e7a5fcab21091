"""What the file importers (mbox.py, loomio.py) share: the import map, staged authors, and posts
written through forum/posting.py with their original author and date, telling nobody."""

from __future__ import annotations

import dataclasses
import re
from collections import Counter
from datetime import UTC, datetime

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from forum import accounts, polls, posting
from forum.errors import ValidationFailed
from forum.models import Category, ImportedRecord, Post, Topic, User
from forum.text import clean, slugify

UNUSABLE_PASSWORD = "!"  # no password verifies against it


class CannotImport(Exception):
    """The import cannot start (a missing file, an unknown category): one line, nothing written."""


def utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def find_category(session: Session, slug: str) -> Category:
    category = session.scalar(select(Category).where(func.lower(Category.slug) == slug.strip().lower()))
    if category is None:
        known = ", ".join(session.scalars(select(Category.slug).order_by(Category.slug)).all()[:20])
        raise CannotImport(f"there is no category with the slug {slug!r} (categories: {known or 'none'})")
    return category


class ImportMap:
    """Rows of `import_map` for one source, read once; new ones become visible after their commit."""

    def __init__(self, session: Session, source: str):
        self.source = source
        self._known: dict[tuple[str, str], int] = {
            (kind, source_id): local for kind, source_id, local in session.execute(
                select(ImportedRecord.kind, ImportedRecord.source_id, ImportedRecord.local_id)
                .where(ImportedRecord.source == source))}
        self._pending: dict[tuple[str, str], int] = {}

    def get(self, kind: str, source_id: str) -> int | None:
        key = (kind, str(source_id))
        return self._pending.get(key, self._known.get(key))

    def add(self, session: Session | None, kind: str, source_id: str, local_id: int) -> None:
        key = (kind, str(source_id)[:300])
        self._pending[key] = local_id
        if session is not None:
            session.add(ImportedRecord(source=self.source, kind=kind, source_id=key[1], local_id=local_id))

    def committed(self) -> None:
        self._known.update(self._pending)
        self._pending.clear()

    def rolled_back(self) -> None:
        self._pending.clear()


def free_username(session: Session, wanted: str, taken: set[str] | None = None) -> str:
    base = re.sub(r"[^A-Za-z0-9_.-]+", "_", wanted).strip("._-")[:accounts.USERNAME_MAX] or "someone"
    base = re.sub(r"[.-]{2,}", "_", base)
    if len(base) < accounts.USERNAME_MIN:
        base = (base + "___")[:accounts.USERNAME_MIN]
    candidate, n = base, 1
    while (taken and candidate.lower() in taken) or accounts.username_problem(session, candidate) is not None:
        n += 1
        suffix = str(n)
        candidate = base[:accounts.USERNAME_MAX - len(suffix)].rstrip("._-") + suffix
    return candidate


class Tally:
    """Counts of one transaction's work, added to the report only once it is committed."""

    def __init__(self, report) -> None:
        self.report = report
        self.counts: Counter[str] = Counter()

    def add(self, kind: str, count: int = 1) -> None:
        self.counts[kind] += count

    def committed(self) -> None:
        for kind, count in self.counts.items():
            self.report.add(kind, count)
        self.counts.clear()

    def rolled_back(self) -> None:
        self.counts.clear()


class People:
    """Authors by e-mail address: the account that has it, or a staged one made for it."""

    def __init__(self) -> None:
        self._ids: dict[str, int] = {}
        self._pending: dict[str, int] = {}

    def author(self, session: Session, email: str, name: str, created: datetime, report=None) -> int:
        email = email.strip().lower()
        known = self._pending.get(email) or self._ids.get(email)
        if known:
            return known
        found = session.scalar(select(User.id).where(User.email == email))
        if found is None:
            hint = name or email.split("@", 1)[0]
            user = User(username=(username := free_username(session, hint)), username_lower=username.lower(),
                        email=email, name=clean(name, single_line=True)[:100], password_hash=UNUSABLE_PASSWORD,
                        staged=True, created_at=created)
            session.add(user)
            session.flush()
            found = user.id
            if report is not None:
                report.add("staged accounts")
        self._pending[email] = found
        return found

    def committed(self) -> None:
        self._ids.update(self._pending)
        self._pending.clear()

    def rolled_back(self) -> None:
        self._pending.clear()


def new_topic(session: Session, *, title: str, category_id: int | None, user_id: int, created: datetime) -> Topic:
    title = clean(title, single_line=True)[:255] or "(no subject)"
    topic = Topic(title=title, slug=slugify(title), category_id=category_id, user_id=user_id,
                  last_post_user_id=user_id, created_at=created, bumped_at=created, last_posted_at=created,
                  highest_post_number=0, posts_count=0, participant_count=1)
    session.add(topic)
    session.flush()
    if category_id is not None:
        session.execute(update(Category).where(Category.id == category_id)
                        .values(topic_count=Category.topic_count + 1))
    session.execute(update(User).where(User.id == user_id).values(topic_count=User.topic_count + 1))
    return topic


def append_post(session: Session, topic: Topic, user_id: int, raw: str, created: datetime, *,
                reply_to: int | None = None, first: bool = False) -> Post:
    """A post as posting.create_reply writes it (cooked, counted, indexed), at its own date and by
    its own author, without notifications."""
    cooked = posting.cook_post(session, raw)
    try:
        polls.specs_from(cooked.polls)
    except ValidationFailed:  # "[poll]" in a mail that is no poll here: the text stays, without voting
        cooked = dataclasses.replace(cooked, polls=[])
    post = posting._append_post(session, topic.id, topic.category_id, user_id, raw, cooked, reply_to, created,
                                first=first, notify=False)
    return post


def settle_dates(session: Session, topic_id: int, user_ids: set[int]) -> None:
    """Posting moved each author's last post time and the topic's last post to the time of the post
    just written; an import writes old posts, perhaps between newer ones: take the real latest."""
    last = session.execute(select(Post.created_at, Post.user_id).where(Post.topic_id == topic_id,
                                                                       Post.deleted_at.is_(None))
                           .order_by(Post.created_at.desc(), Post.post_number.desc()).limit(1)).first()
    if last is not None:
        topic = session.get(Topic, topic_id)
        assert topic is not None
        session.refresh(topic)
        topic.last_posted_at, topic.last_post_user_id = last.created_at, last.user_id
        topic.bumped_at = max(last.created_at, topic.created_at)
    latest = select(func.max(Post.created_at)).join(Topic, Topic.id == Post.topic_id).where(
        Post.user_id == User.id, Post.deleted_at.is_(None), Topic.category_id.is_not(None))
    if user_ids:
        session.execute(update(User).where(User.id.in_(sorted(user_ids)))
                        .values(last_posted_at=latest.scalar_subquery()), execution_options={"synchronize_session": False})
