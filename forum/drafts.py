"""Drafts: what someone is writing, kept on the server so that it survives a closed tab and follows
them to another device (Discourse's `/drafts.json`).

A draft has a key: `new_topic` for the new-topic composer, `topic_<id>` for a reply in that topic.
Its `data` is the composer's state as a JSON object text, in Discourse's shape (`reply`, `title`,
`categoryId`, `action`, …). Every save must name the `sequence` it started from while a draft is
kept; a save from a device that has not seen the latest text is refused with 409 (Conflict), so the
newer text is never overwritten unawares (`force` overwrites on purpose, as Discourse's
`force_save`). Posting clears the draft of its composer, in the post's own transaction.

A draft is its author's alone: every statement here is bound to the viewer's own user id, and a
reply draft is kept, shown and listed only while its author may see the topic
(permissions.can_keep_draft). Saving a draft changes no page anybody else reads, so it is quiet
bookkeeping for the page cache.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from forum import pagecache, permissions
from forum.config import Settings
from forum.errors import Conflict, NotFound, ValidationFailed
from forum.i18n import _
from forum.models import Draft, Topic, utcnow
from forum.permissions import Viewer
from forum.ratelimit import RateLimiter
from forum.text import parse_id

NEW_TOPIC = "new_topic"
_TOPIC_KEY = re.compile(r"^topic_(\d{1,10})$")
SAVES_PER_MINUTE = 60
DATA_OVERHEAD = 4000  # room for the title and the composer's other fields beside the text


def topic_key(topic_id: int) -> str:
    return f"topic_{topic_id}"


def _topic_id(key: str) -> int | None:
    m = _TOPIC_KEY.match(key)
    return parse_id(m.group(1)) if m else None


def _check_key(session: Session, viewer: Viewer, key: str | None) -> tuple[str, Topic | None]:
    """The key, and its topic for a reply draft; 404 for a topic the viewer may not see."""
    key = (key or "").strip()
    if key == NEW_TOPIC:
        topic = None
    elif (tid := _topic_id(key)) is not None:
        topic = session.get(Topic, tid)
        if topic is None:
            raise NotFound()
    else:
        raise ValidationFailed(fields={"draft_key": _("A draft key is “new_topic” or “topic_” followed by a topic id.")})
    permissions.ensure_can_keep_draft(session, viewer, topic)
    return key, topic


def max_data_length(settings: Settings) -> int:
    return settings.max_post_length + DATA_OVERHEAD


def topic_of(session: Session, key: str) -> Topic | None:
    """The topic of a reply draft's key (None for a new topic)."""
    tid = _topic_id(key)
    return session.get(Topic, tid) if tid is not None else None


def _check_data(settings: Settings, data: str | None) -> str:
    if data is None or not data.strip():
        raise ValidationFailed(fields={"data": _("The draft is empty.")})
    if len(data) > max_data_length(settings):
        raise ValidationFailed(fields={"data": _("This draft is too long to keep: at most %(n)s characters.",
                                                 n=max_data_length(settings))})
    try:
        parsed = json.loads(data)
    except ValueError:
        parsed = None
    if not isinstance(parsed, dict):
        raise ValidationFailed(fields={"data": _("A draft is a JSON object, as Discourse's composer sends it.")})
    return data


def _own(session: Session, user_id: int, key: str, *, lock: bool = False) -> Draft | None:
    query = select(Draft).where(Draft.user_id == user_id, Draft.draft_key == key)
    if lock:
        query = query.with_for_update()
    return session.scalar(query)


@dataclass
class Kept:
    key: str
    sequence: int
    data: str | None
    updated_at: datetime | None
    restored: bool = False  # offered back in the composer this page shows

    @property
    def fields(self) -> dict:
        """The composer's fields from `data` ({} when there is no draft or it is not an object)."""
        try:
            parsed = json.loads(self.data) if self.data else {}
        except ValueError:
            return {}
        return parsed if isinstance(parsed, dict) else {}

    @property
    def text(self) -> str:
        value = self.fields.get("reply")
        return value if isinstance(value, str) else ""

    def excerpt(self, length: int = 300) -> str:
        """The start of the text, plain, cut at a word boundary."""
        text = re.sub(r"\s+", " ", self.text).strip()
        return text if len(text) <= length else text[:length].rsplit(" ", 1)[0] + "…"


def get(session: Session, viewer: Viewer, key: str | None) -> Kept:
    """The viewer's draft under this key (data None when there is none) and its current sequence."""
    key, _topic = _check_key(session, viewer, key)
    assert viewer.user is not None
    row = _own(session, viewer.user.id, key)
    if row is None:
        return Kept(key, 0, None, None)
    return Kept(key, row.sequence, row.data, row.updated_at if row.data is not None else None)


def for_composer(session: Session, viewer: Viewer, key: str) -> Kept | None:
    """The draft to offer back in a composer, or None (no draft, or none the viewer may keep)."""
    if viewer.user is None:
        return None
    try:
        return get(session, viewer, key)
    except (NotFound, ValidationFailed):
        return None


def composer_data(action: str, raw: str, title: str | None = None, category: str | None = None) -> str | None:
    """A page composer's fields as Discourse's composer keeps them; None when nothing is typed."""
    if not raw.strip() and not (title or "").strip():
        return None
    data: dict = {"reply": raw, "action": action, "archetypeId": "regular"}
    if title is not None:
        data["title"] = title
    if category and (cid := parse_id(category)) is not None:
        data["categoryId"] = cid
    return json.dumps(data, ensure_ascii=False)


def save(session: Session, settings: Settings, viewer: Viewer, *, key: str | None, sequence: int | str | None,
         data: str | None, force: bool = False, limiter: RateLimiter | None = None) -> int:
    """Keep the draft; returns its new sequence. 409 when a kept draft moved past `sequence`."""
    key, _topic = _check_key(session, viewer, key)
    assert viewer.user is not None
    data = _check_data(settings, data)
    seq = _sequence(sequence)
    if limiter is not None:
        limiter.hit(session, f"draft:{viewer.user.id}", SAVES_PER_MINUTE, 60)
    pagecache.quiet(session, reader=viewer.user.id)  # only its author's composer shows it
    row = _own(session, viewer.user.id, key, lock=True)
    if row is None:
        try:
            with session.begin_nested():
                session.add(Draft(user_id=viewer.user.id, draft_key=key, sequence=1, data=data, revisions=1))
            return 1
        except IntegrityError:  # the same person's other device created it a moment ago
            row = _own(session, viewer.user.id, key, lock=True)
            assert row is not None
    if row.data is not None and row.sequence != seq and not force:
        raise Conflict(_("This draft was changed on another device or in another tab since you opened it. "
                         "Your text is still here: copy it, or save it over the other one."))
    row.sequence += 1
    row.data = data
    row.revisions += 1
    row.updated_at = utcnow()
    return row.sequence


def clear(session: Session, viewer: Viewer, *, key: str | None, sequence: int | str | None) -> bool:
    """Discard the draft when `sequence` is its current one; True if it was discarded.

    A draft saved since (another device) is kept, as Discourse keeps it."""
    key, _topic = _check_key(session, viewer, key)
    assert viewer.user is not None
    pagecache.quiet(session, reader=viewer.user.id)  # only its author's composer shows it
    row = _own(session, viewer.user.id, key, lock=True)
    if row is None or row.data is None:
        return True
    if row.sequence != _sequence(sequence):
        return False
    row.data, row.sequence, row.updated_at = None, row.sequence + 1, utcnow()
    return True


def posted(session: Session, user_id: int, key: str) -> None:
    """The composer under `key` has just posted: its draft is done (in the post's transaction)."""
    session.execute(update(Draft).where(Draft.user_id == user_id, Draft.draft_key == key, Draft.data.is_not(None))
                    .values(data=None, sequence=Draft.sequence + 1, updated_at=utcnow()))


@dataclass
class Listed:
    draft: Draft
    topic: Topic | None


def stream(session: Session, viewer: Viewer, *, offset: int = 0, limit: int = 30) -> list[Listed]:
    """The viewer's kept drafts, newest first, leaving out replies to topics they may no longer see."""
    if viewer.user is None:
        return []
    rows = list(session.scalars(select(Draft).where(Draft.user_id == viewer.user.id, Draft.data.is_not(None))
                                .order_by(Draft.updated_at.desc(), Draft.id.desc())))
    ids = [tid for r in rows if (tid := _topic_id(r.draft_key)) is not None]
    topics = {t.id: t for t in session.scalars(select(Topic).where(Topic.id.in_(ids)))} if ids else {}
    kept: list[Listed] = []
    for row in rows:
        tid = _topic_id(row.draft_key)
        topic = topics.get(tid) if tid is not None else None
        if tid is not None and topic is None:
            continue
        if permissions.can_keep_draft(session, viewer, topic):
            kept.append(Listed(row, topic))
    return kept[max(offset, 0):max(offset, 0) + max(min(limit, 100), 1)]


def _sequence(value: int | str | None) -> int:
    if isinstance(value, int):
        return value
    text = (value or "0").strip()
    if not (text.isascii() and text.isdigit() and len(text) <= 10):
        raise ValidationFailed(fields={"sequence": _("The draft sequence is a whole number.")})
    return int(text)
