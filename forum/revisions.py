"""A post's revision history as readable diffs: what each edit removed and added, word by word."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from difflib import SequenceMatcher

from sqlalchemy import select
from sqlalchemy.orm import Session

from forum.models import Post, PostRevision, Topic, User

_TOKENS = re.compile(r"\s+|[^\s]+")


def word_diff(old: str, new: str) -> list[tuple[str, str]]:
    """Pieces of text tagged "same", "removed" or "added"; whitespace is kept, so text reads as written."""
    a, b = _TOKENS.findall(old), _TOKENS.findall(new)
    pieces: list[tuple[str, str]] = []
    for tag, i1, i2, j1, j2 in SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes():
        if tag == "equal":
            pieces.append(("same", "".join(a[i1:i2])))
            continue
        if i2 > i1:
            pieces.append(("removed", "".join(a[i1:i2])))
        if j2 > j1:
            pieces.append(("added", "".join(b[j1:j2])))
    return pieces


@dataclass
class Edit:
    """The change that made a version: who, when, why, and the diff from the version before."""

    editor: str
    at: datetime
    reason: str
    changes: list[tuple[str, str]] = field(default_factory=list)
    title_changes: list[tuple[str, str]] | None = None


def edits(session: Session, post: Post, topic: Topic, revisions: list[PostRevision]) -> dict[int, Edit]:
    """For each version after the first, by version number, the edit that produced it."""
    names = dict(session.execute(select(User.id, User.username).where(
        User.id.in_({r.user_id for r in revisions}))).all()) if revisions else {}
    versions = [(r.number, r.raw, r.title) for r in revisions]
    versions.append((post.version, post.raw, topic.title if post.post_number == 1 else None))
    result: dict[int, Edit] = {}
    for previous, (number, raw, title), revision in zip(versions, versions[1:], revisions, strict=False):
        title_changes = None
        if previous[2] is not None and title is not None and previous[2] != title:
            title_changes = word_diff(previous[2], title)
        result[number] = Edit(editor=names.get(revision.user_id, "?"), at=revision.created_at,
                              reason=revision.reason, changes=word_diff(previous[1], raw),
                              title_changes=title_changes)
    return result


def of_post(session: Session, post: Post) -> list[PostRevision]:
    return list(session.scalars(select(PostRevision).where(PostRevision.post_id == post.id)
                                .order_by(PostRevision.number)))


def edit_reason(session: Session, post: Post) -> str | None:
    """Why the post's latest edit was made, when its author said."""
    if post.version <= 1:
        return None
    return session.scalar(select(PostRevision.reason).where(
        PostRevision.post_id == post.id, PostRevision.number == post.version - 1)) or None
