"""A person's own data ("Download my data", Discourse's user archive export).

The person asks from their preferences (or `POST /export_csv/export_entity.json` with
`entity=user_archive`); the worker builds a zip of JSON and CSV files, keeps it in the file store
(forum/uploads.py: the uploads directory or bucket every host shares) under a random name, and tells
them by a notification and an email with the link. The link opens for them alone, signed in, for
48 hours; after that the worker deletes the file. One archive per person per day.

What goes in is decided with forum/permissions.py (rule 17): what they wrote, chose and kept, and of
anything else only what they may read now. A like, vote, position, answer or bookmark on something
hidden from them since keeps its identifiers and dates, never its text or title; their own posts
keep their text, but a quote in them of a topic hidden from them now is left out.
"""

from __future__ import annotations

import csv
import io
import json
import re
import secrets
import tempfile
import zipfile
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from forum import emails, notifications, outbox, permissions, uploads
from forum.errors import LoginRequired, NotFound, RateLimited
from forum.i18n import _
from forum.models import (
    LIKE,
    Bookmark,
    Category,
    CategoryUser,
    Event,
    EventRsvp,
    Notification,
    OutboxItem,
    Poll,
    PollOption,
    PollVote,
    Post,
    PostAction,
    Proposal,
    ProposalPosition,
    TagUser,
    Topic,
    TopicUser,
    User,
    UserFollow,
    UserOption,
    utcnow,
)
from forum.models.tags import Tag
from forum.permissions import Viewer

JOB = "user_export"
FORGET_JOB = "user_export_forget"
KIND = "export_ready"
LIFETIME = timedelta(hours=48)
NAME = re.compile(r"^(\d+)-(\d+)-([A-Za-z0-9_-]{16,64})\.zip$")

# Discourse's "custom" notification (14); the email goes separately, whatever the person's choices.
notifications.register_kind(KIND, _("Your data is ready to download, for 48 hours"), email=False)


def request(session: Session, viewer: Viewer, *, now: datetime | None = None) -> None:
    """Queue the archive; a second request the same day is refused with the reason (429)."""
    if viewer.user is None:
        raise LoginRequired()
    now = now or utcnow()
    queued = outbox.enqueue(session, JOB, {"user_id": viewer.user.id},
                            dedupe_key=f"user-export:{viewer.user.id}:{now:%Y-%m-%d}")
    if queued is None:
        tomorrow = (now + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
        raise RateLimited(int((tomorrow - now).total_seconds()),
                          _("You asked for your data today already: the link comes by notification and email."))


def forget(session: Session, user_id: int) -> None:
    """An account being erased (forum/erasure.py) loses its archives: a request not yet built is
    dropped, the notifications that announced archives go, and the worker deletes their files now
    rather than after 48 hours (they hold the old name and address)."""
    names = [json.loads(data or "{}").get("name") for data in session.scalars(
        select(Notification.data).where(Notification.user_id == user_id, Notification.kind == KIND))]
    session.execute(delete(Notification).where(Notification.user_id == user_id, Notification.kind == KIND))
    session.execute(delete(OutboxItem).where(OutboxItem.kind == JOB,
                                             OutboxItem.dedupe_key.startswith(f"user-export:{user_id}:")))
    names = [name for name in names if isinstance(name, str) and NAME.match(name)]
    if names:
        outbox.enqueue(session, FORGET_JOB, {"names": names})


@outbox.handler(FORGET_JOB)
def _forget_job(payload: dict[str, Any], ctx: outbox.JobContext) -> None:
    store = uploads.store_for(ctx.settings)
    for name in payload.get("names") or []:
        if isinstance(name, str) and NAME.match(name) and store.exists(_key(name)):
            store.remove(_key(name))


def _key(name: str) -> str:
    return f"exports/{name}"


def owner_of(name: str, *, now: datetime | None = None) -> int | None:
    """The account an archive's name belongs to, while it has not expired."""
    match = NAME.match(name)
    if match is None:
        return None
    made = datetime.fromtimestamp(int(match.group(2)), tz=(now or utcnow()).tzinfo)
    if (now or utcnow()) - made > LIFETIME:
        return None
    return int(match.group(1))


def download(settings, viewer: Viewer, name: str, *, range_header: str | None = None):
    """The archive's response, for its owner signed in; 404 for anyone else or once it has expired."""
    owner = owner_of(name)
    if owner is None or not permissions.can_download_export(viewer, owner):
        raise NotFound()
    store = uploads.store_for(settings)
    if not store.exists(_key(name)):
        raise NotFound()
    assert viewer.user is not None
    filename = f"{viewer.user.username}-data.zip"
    return store.response(_key(name), media_type="application/zip", range_header=range_header,
                          headers={"Content-Disposition": f'attachment; filename="{filename}"',
                                   "Cache-Control": "private, no-store"})


# --- what goes in -------------------------------------------------------------------------------

def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


class _Reader:
    """Answers "may they read this now?" for the archive, topic by topic, through permissions.py."""

    def __init__(self, session: Session, viewer: Viewer):
        self.session, self.viewer = session, viewer
        self._topics: dict[int, Topic | None] = {}

    def topic(self, topic_id: int | None) -> Topic | None:
        if topic_id is None:
            return None
        if topic_id not in self._topics:
            topic = self.session.get(Topic, topic_id)
            self._topics[topic_id] = topic if topic is not None and permissions.can_see_topic(
                self.session, self.viewer, topic) else None
        return self._topics[topic_id]

    def post(self, post: Post | None) -> tuple[Post | None, Topic | None]:
        if post is None:
            return None, None
        topic = self.topic(post.topic_id)
        if topic is None or not permissions.can_read_post(self.session, self.viewer, post, topic):
            return None, None
        return post, topic


_RAW_QUOTE = re.compile(r"\[quote(?:=[^\]\n]*)?\]|\[/quote\]", re.I)
_COOKED_QUOTE = re.compile(r"<aside\b[^>]*>|</aside>", re.I)
_QUOTED_TOPIC = re.compile(r'topic:\s*(\d+)|data-topic="(\d+)"')


def _without_hidden_quotes(text: str, pattern: re.Pattern[str], hidden, here: int) -> str:
    """Text with every quote of a topic the person may not read now left out (nested ones too); a
    quote that names no topic is of the post's own topic (`here`)."""
    out: list[str] = []
    stack: list[bool] = []  # for each open quote: whether it is left out
    pos = 0
    for match in pattern.finditer(text):
        dropping = bool(stack) and stack[-1]
        if not dropping:
            out.append(text[pos:match.start()])
        token = match.group(0)
        if token.startswith("[/") or token.startswith("</"):
            if not stack:
                out.append(token)
            elif not stack.pop() and not dropping:
                out.append(token)
        else:
            named = _QUOTED_TOPIC.search(token)
            topic_id = int(named.group(1) or named.group(2)) if named else here
            drop = dropping or hidden(topic_id)
            if drop and not dropping:
                out.append(str(_("(A quote of something you may no longer read is left out.)")))
            elif not drop:
                out.append(token)
            stack.append(drop)
        pos = match.end()
    if not (stack and stack[-1]):
        out.append(text[pos:])
    return "".join(out)


def _mine(text: str | None, cooked: bool, reader: _Reader, here: int) -> str | None:
    if not text:
        return text
    return _without_hidden_quotes(text, _COOKED_QUOTE if cooked else _RAW_QUOTE,
                                  lambda topic_id: reader.topic(topic_id) is None, here)


def collect(session: Session, user: User) -> dict[str, list[dict[str, Any]] | dict[str, Any]]:
    """Every part of the archive, as rows (CSV and JSON) or one object (JSON)."""
    viewer = Viewer(user)
    reader = _Reader(session, viewer)
    options = session.get(UserOption, user.id)
    profile = {
        "id": user.id, "username": user.username, "name": user.name, "email": user.email, "tier": user.tier,
        "moderator": user.is_moderator, "admin": user.is_admin, "time_zone": user.timezone,
        "locale": user.locale, "theme": user.theme, "created_at": _iso(user.created_at),
        "last_seen_at": _iso(user.last_seen_at), "last_posted_at": _iso(user.last_posted_at),
        "post_count": user.post_count, "topic_count": user.topic_count,
    }
    posts = []
    for post in session.scalars(select(Post).where(Post.user_id == user.id).order_by(Post.id)):
        topic = reader.topic(post.topic_id)
        posts.append({"id": post.id, "topic_id": post.topic_id, "topic_title": topic.title if topic else None,
                      "post_number": post.post_number, "created_at": _iso(post.created_at),
                      "updated_at": _iso(post.updated_at), "deleted_at": _iso(post.deleted_at),
                      "language": post.language, "raw": _mine(post.raw, False, reader, post.topic_id),
                      "cooked": _mine(post.cooked, True, reader, post.topic_id)})
    likes = []
    for action, post in session.execute(select(PostAction, Post).join(Post, Post.id == PostAction.post_id).where(
            PostAction.user_id == user.id, PostAction.action_type == LIKE).order_by(PostAction.id)):
        readable, topic = reader.post(post)
        likes.append({"post_id": post.id, "topic_id": post.topic_id, "created_at": _iso(action.created_at),
                      "topic_title": topic.title if topic else None,
                      "post_number": post.post_number if readable else None})
    votes = []
    for vote, option, poll, post in session.execute(
            select(PollVote, PollOption, Poll, Post).join(PollOption, PollOption.id == PollVote.option_id)
            .join(Poll, Poll.id == PollVote.poll_id).join(Post, Post.id == Poll.post_id)
            .where(PollVote.user_id == user.id).order_by(PollVote.id)):
        readable, topic = reader.post(post)
        votes.append({"poll_id": poll.id, "post_id": post.id, "created_at": _iso(vote.created_at),
                      "topic_title": topic.title if readable else None,
                      "poll": poll.title if readable else None, "option": option.label if readable else None})
    positions = []
    for position, proposal in session.execute(
            select(ProposalPosition, Proposal).join(Proposal, Proposal.id == ProposalPosition.proposal_id)
            .where(ProposalPosition.user_id == user.id).order_by(ProposalPosition.id)):
        topic = reader.topic(proposal.topic_id)
        positions.append({"proposal_id": proposal.id, "topic_id": proposal.topic_id,
                          "topic_title": topic.title if topic else None, "position": position.position,
                          "reason": position.reason, "updated_at": _iso(position.updated_at)})
    rsvps = []
    for rsvp, event in session.execute(
            select(EventRsvp, Event).join(Event, Event.id == EventRsvp.event_id)
            .where(EventRsvp.user_id == user.id).order_by(EventRsvp.id)):
        topic = reader.topic(event.topic_id)
        rsvps.append({"event_id": event.id, "topic_id": event.topic_id, "status": rsvp.status,
                      "topic_title": topic.title if topic else None,
                      "starts_at": _iso(event.starts_at) if topic else None,
                      "updated_at": _iso(rsvp.updated_at)})
    marks = []
    for bookmark in session.scalars(select(Bookmark).where(Bookmark.user_id == user.id).order_by(Bookmark.id)):
        if bookmark.bookmarkable_type == "Post":
            readable, topic = reader.post(session.get(Post, bookmark.bookmarkable_id))
        else:
            topic = reader.topic(bookmark.bookmarkable_id)
        marks.append({"id": bookmark.id, "type": bookmark.bookmarkable_type, "target_id": bookmark.bookmarkable_id,
                      "name": bookmark.name, "reminder_at": _iso(bookmark.reminder_at),
                      "reminder_zone": bookmark.reminder_zone, "created_at": _iso(bookmark.created_at),
                      "topic_title": topic.title if topic else None})
    messages = []
    # The conversations they are in now, named or through a group; not those they have left.
    for topic in session.scalars(select(Topic).where(permissions.private_messages_clause(viewer))
                                 .order_by(Topic.id)):
        written = session.execute(select(Post, User.username).join(User, User.id == Post.user_id).where(
            Post.topic_id == topic.id, Post.deleted_at.is_(None)).order_by(Post.post_number)).all()
        messages.append({"topic_id": topic.id, "title": topic.title, "posts": [
            {"post_number": p.post_number, "username": name, "created_at": _iso(p.created_at),
             "raw": _mine(p.raw, False, reader, topic.id)}
            for p, name in written if permissions.can_read_post(session, viewer, p, topic)]})
    settings_part: dict[str, Any] = {
        "email": {"notifications": options.email_notifications, "digest": options.email_digest,
                  "digest_hour": options.digest_hour, "digest_weekday": options.digest_weekday,
                  "messages_from": options.messages_from, "hide_presence": options.hide_presence}
        if options is not None else {},
        "categories": [{"category": category.name, "category_id": category.id, "level": level}
                       for category, level in session.execute(
            select(Category, CategoryUser.notification_level).join(Category, Category.id == CategoryUser.category_id)
            .where(CategoryUser.user_id == user.id)) if permissions.can_see_category(session, viewer, category)],
        "tags": [{"tag": name, "level": level} for name, level, tag_id in session.execute(
            select(Tag.name, TagUser.notification_level, Tag.id).join(Tag, Tag.id == TagUser.tag_id)
            .where(TagUser.user_id == user.id)) if tag_id in permissions.visible_tags(session, viewer, [tag_id])],
        "topics": [{"topic_id": t, "level": level} for t, level in session.execute(
            select(TopicUser.topic_id, TopicUser.notification_level).where(
                TopicUser.user_id == user.id, TopicUser.notification_level.is_not(None)))
            if reader.topic(t) is not None],
        "following": list(session.scalars(select(User.username).join(UserFollow, UserFollow.followed_id == User.id)
                                          .where(UserFollow.follower_id == user.id))),
    }
    return {"profile": profile, "posts": posts, "likes": likes, "poll_votes": votes,
            "proposal_positions": positions, "event_answers": rsvps, "bookmarks": marks,
            "private_messages": messages, "settings": settings_part}


README = _("""Your data from this forum, as it was when this archive was made.

profile.json: your account. posts.json and posts.csv: everything you wrote (raw Markdown and the
HTML shown), deleted posts included. likes, poll_votes, proposal_positions, event_answers and
bookmarks: what you chose and kept; where you may no longer read what they were about, only its
number is given. private_messages.json: the conversations you are in. settings.json: your email and
notification choices and whom you follow.
""")


def _csv(rows: list[dict[str, Any]]) -> str:
    out = io.StringIO()
    if rows:
        writer = csv.DictWriter(out, fieldnames=list(rows[0]))
        writer.writeheader()
        for row in rows:
            writer.writerow({k: v if not isinstance(v, list | dict) else json.dumps(v) for k, v in row.items()})
    return out.getvalue()


def build(session: Session, user: User, target: Path) -> None:
    parts = collect(session, user)
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("README.txt", str(README))
        for name, value in parts.items():
            archive.writestr(f"{name}.json", json.dumps(value, ensure_ascii=False, indent=1))
            if isinstance(value, list) and name != "private_messages":
                archive.writestr(f"{name}.csv", _csv(value))


@outbox.handler(JOB)
def _export_job(payload: dict[str, Any], ctx: outbox.JobContext) -> None:
    from forum import sitestate

    user_id = int(payload["user_id"])
    now = utcnow()
    name = f"{user_id}-{int(now.timestamp())}-{secrets.token_urlsafe(24)}.zip"
    store = uploads.store_for(ctx.settings)
    with tempfile.TemporaryDirectory(dir=store.scratch()) as scratch:
        path = Path(scratch) / name
        with ctx.db.read() as session:
            user = session.get(User, user_id)
            if user is None:
                return
            built_for = user.username
            build(session, user, path)
        store.put(_key(name), path)
    secret = sitestate.secret_key(ctx.db)
    with ctx.db.write() as session:
        user = session.get(User, user_id)
        if user is None or user.username != built_for:  # erased (or renamed) meanwhile: made again on request
            store.remove(_key(name))
            return
        path_url = f"/my/data/{name}"
        notifications.deliver(session, [user.id], KIND, data={"url": path_url, "name": name})
        emails.archive_ready(session, ctx.settings, secret, user, path_url, now + LIFETIME)


@outbox.periodic("user-exports-cleanup", 3600)
def _cleanup(db, settings, now: datetime) -> None:
    """Archives older than 48 hours go (found through the notifications that announced them)."""
    with db.read() as session:
        names = [json.loads(data or "{}").get("name") for data in session.scalars(
            select(Notification.data).where(Notification.kind == KIND,
                                             Notification.created_at < now - LIFETIME,
                                             Notification.created_at > now - LIFETIME - timedelta(days=30)))]
    store = uploads.store_for(settings)
    for name in names:
        if isinstance(name, str) and NAME.match(name) and store.exists(_key(name)):
            store.remove(_key(name))
