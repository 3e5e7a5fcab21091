"""Live updates: what changed, told to the open pages that may see it, in every process and host.

How a change travels:

1. **Noticed where it is written.** Every write session of `Database` is watched (`watch`): when
   it flushes, the rows it added, changed or removed that a page shows are turned into `Change`s
   (a post added or changed, a like, a vote, a topic changed, a notification for someone, a
   change of who may see what). They carry identifiers and counts, never content. No service has
   to remember to announce anything; a rolled-back transaction announces nothing.
2. **Published after commit** to the bus: in-process (`LocalBus`) for a single server, or a Redis
   stream (`RedisBus`, when `FORUM_REDIS_URL` is set) that every server process on every host
   reads. A stream rather than plain pub/sub, so that a page that lost its connection resumes
   from its `Last-Event-ID` on any host without missing a change.
3. **Delivered by each process's `Hub`** to its own subscribers (one Server-Sent Events stream per
   open page, forum/web/live.py; a waiting poll of Discourse's message bus, forum/api/message_bus.py,
   for Discourse's clients), each change only to the subscribers it concerns, and only
   after asking forum/permissions.py, at delivery time, whether that subscriber may see it now:
   the session is looked up again (a log-out or a suspension ends the stream), the topic and its
   category are read again (a move or a stricter level stops the events at once).
4. **Fetched by the page** through the ordinary, permission-checked URLs.

A Redis that cannot be reached is never an error for a page: changes are then delivered in the
process that made them, the streams tell the pages (`event: degraded`), which fall back to a slow
poll, and everything resumes when Redis answers again.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
import json
import logging
import threading
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field

from sqlalchemy import event, inspect
from sqlalchemy.orm import Session, sessionmaker

log = logging.getLogger("forum.live")

PENDING = "forum_live_changes"

# Kinds of change.
POST = "post"                    # a post was added to a topic
POST_CHANGED = "post_changed"    # edited, deleted, recovered, hidden, liked, voted on
TOPIC = "topic"                  # a topic was started or changed (bumped, closed, moved, renamed)
NOTIFICATIONS = "notifications"  # someone's notifications changed (new, or read)
PRESENCE = "presence"            # someone is replying in a topic, or stopped
ACCESS = "access"                # who may see what changed (a tier, a category level, a log-out)
PANELS = "panels"                # a topic's proposal or event changed (a position, an RSVP, closed)
SEEN = "seen"                    # someone read a topic for the first time ("seen by N of M")


@dataclass(frozen=True)
class Change:
    kind: str
    topic_id: int | None = None
    post_id: int | None = None
    post_number: int | None = None
    category_id: int | None = None
    was_category_id: int | None = None
    user_id: int | None = None
    username: str | None = None
    state: str | None = None

    def to_json(self) -> str:
        return json.dumps({k: v for k, v in asdict(self).items() if v is not None}, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str | bytes) -> Change:
        data = json.loads(text)
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})


# --- noticing changes in write sessions -------------------------------------------------------

def _changes_of(session: Session) -> list[Change]:
    from forum.models import (
        Category,
        Event,
        EventRsvp,
        Notification,
        PollVote,
        Post,
        PostAction,
        Proposal,
        ProposalPosition,
        Topic,
        TopicUser,
        User,
        UserSession,
    )

    found: list[Change] = []
    for obj in (*session.new, *session.dirty):
        if isinstance(obj, TopicUser) and obj.first_visited_at is not None:
            history = inspect(obj).attrs.first_visited_at.history
            if obj in session.new or (history.added and all(v is None for v in history.deleted)):
                found.append(Change(SEEN, topic_id=obj.topic_id))
    for obj in (*session.new, *session.dirty, *session.deleted):
        if isinstance(obj, Proposal | Event):
            found.append(Change(PANELS, topic_id=obj.topic_id))
        elif isinstance(obj, ProposalPosition):
            found.append(Change(PANELS, topic_id=_topic_of(session, Proposal, obj.proposal_id)))
        elif isinstance(obj, EventRsvp):
            found.append(Change(PANELS, topic_id=_topic_of(session, Event, obj.event_id)))
    for obj in session.new:
        if isinstance(obj, Post):
            found.append(Change(POST, topic_id=obj.topic_id, post_id=obj.id, post_number=obj.post_number))
        elif isinstance(obj, Topic):
            found.append(Change(TOPIC, topic_id=obj.id, category_id=obj.category_id))
        elif isinstance(obj, Notification):
            found.append(Change(NOTIFICATIONS, user_id=obj.user_id))
        elif isinstance(obj, PostAction):
            found.append(Change(POST_CHANGED, post_id=obj.post_id))
        elif isinstance(obj, PollVote):
            found.append(Change(POST_CHANGED, post_id=_poll_post(session, obj.poll_id)))
        elif isinstance(obj, Category):
            found.append(Change(ACCESS))
    for obj in session.dirty:
        if not session.is_modified(obj, include_collections=False):
            continue
        if isinstance(obj, Post):
            found.append(Change(POST_CHANGED, topic_id=obj.topic_id, post_id=obj.id, post_number=obj.post_number))
        elif isinstance(obj, Topic):
            history = inspect(obj).attrs.category_id.history
            was = history.deleted[0] if history.deleted else None
            found.append(Change(TOPIC, topic_id=obj.id, category_id=obj.category_id,
                                was_category_id=was if was != obj.category_id else None))
        elif isinstance(obj, Notification):
            found.append(Change(NOTIFICATIONS, user_id=obj.user_id))
        elif isinstance(obj, Category):
            found.append(Change(ACCESS))
        elif isinstance(obj, User) and _access_changed(obj):
            found.append(Change(ACCESS, user_id=obj.id))
    for obj in session.deleted:
        if isinstance(obj, PostAction):
            found.append(Change(POST_CHANGED, post_id=obj.post_id))
        elif isinstance(obj, PollVote):
            found.append(Change(POST_CHANGED, post_id=_poll_post(session, obj.poll_id)))
        elif isinstance(obj, Post):
            found.append(Change(POST_CHANGED, topic_id=obj.topic_id, post_id=obj.id, post_number=obj.post_number))
        elif isinstance(obj, UserSession):
            found.append(Change(ACCESS, user_id=obj.user_id))
        elif isinstance(obj, Category | Topic):
            found.append(Change(ACCESS))
    return found


ACCESS_FIELDS = ("tier", "is_admin", "is_moderator", "suspended_until", "approved", "active", "deleted_at")


def _access_changed(user) -> bool:
    state = inspect(user)
    return any(name in state.attrs and state.attrs[name].history.has_changes() for name in ACCESS_FIELDS)


def _topic_of(session: Session, model, row_id: int) -> int | None:
    row = session.get(model, row_id)
    return row.topic_id if row is not None else None


def _poll_post(session: Session, poll_id: int) -> int | None:
    from forum.models import Poll

    poll = session.get(Poll, poll_id)
    return poll.post_id if poll is not None else None


def note(session: Session, change: Change) -> None:
    """Announce a change the row watch cannot see (a bulk UPDATE, presence), after commit."""
    session.info.setdefault(PENDING, []).append(change)


def _after_flush(session: Session, _context) -> None:
    changes = _changes_of(session)
    if changes:
        session.info.setdefault(PENDING, []).extend(changes)


def watch(factory: sessionmaker, publish: Callable[[], Callable[[list[Change]], None] | None]) -> None:
    """Collect the changes of every session of this factory and publish them once it commits."""

    def after_commit(session: Session) -> None:
        pending = session.info.pop(PENDING, None)
        sink = publish()
        if pending and sink is not None:
            unique = list(dict.fromkeys(pending))
            try:
                sink(unique)
            except Exception:  # a bus that fails never undoes or fails a committed write
                log.exception("live updates: could not publish %s changes", len(unique))

    def after_rollback(session: Session) -> None:
        if not session.in_transaction():
            session.info.pop(PENDING, None)

    event.listen(factory, "after_flush", _after_flush)
    event.listen(factory, "after_commit", after_commit)
    event.listen(factory, "after_soft_rollback", lambda session, _tx: after_rollback(session))


# --- buses ------------------------------------------------------------------------------------

class LocalBus:
    """One process: changes go straight to this process's hub, numbered, the last few kept for
    pages that reconnect."""

    KEEP = 2000

    def __init__(self):
        self.hub: Hub | None = None
        self.counter = itertools.count(1)
        self.recent: deque[tuple[str, Change]] = deque(maxlen=self.KEEP)
        self.lock = threading.Lock()
        self.degraded = False

    def publish(self, changes: list[Change]) -> None:
        with self.lock:
            numbered = [(str(next(self.counter)), c) for c in changes]
            self.recent.extend(numbered)
            # Handed over in the order they were numbered, even when several threads publish at once.
            if self.hub is not None:
                self.hub.deliver_threadsafe(numbered)

    def since(self, last_id: str) -> list[tuple[str, Change]] | None:
        """What was published after `last_id`, or None when that is too far back to know."""
        if not last_id.isdigit():
            return None
        with self.lock:
            items = list(self.recent)
        if items and int(items[0][0]) > int(last_id) + 1:
            return None
        return [(i, c) for i, c in items if int(i) > int(last_id)]

    def newest(self) -> int:
        """The number of the last change published (0 before the first)."""
        with self.lock:
            return int(self.recent[-1][0]) if self.recent else 0

    def number(self, event_id: str) -> int:
        return int(event_id)

    def event_id(self, number: int) -> str:
        return str(number)

    async def run(self) -> None:
        return None

    def close(self) -> None:
        return None


class RedisBus:
    """Several processes and hosts: changes are appended to one Redis stream; each server process
    reads it and hands what it reads to its hub. If Redis cannot be reached, changes are delivered
    in the process that made them (`degraded`), a warning is logged once, and reading resumes by
    itself when Redis answers."""

    MAXLEN = 10000
    BLOCK_MS = 5000
    # Stream ids ("<ms>-<seq>") as one integer for clients that count (Discourse's message bus): the
    # same on every host, increasing, exact to JavaScript's 2**53 until 2093 while fewer than 4096
    # changes are added in one millisecond.
    EPOCH_MS = 1_704_067_200_000  # 2024-01-01T00:00:00Z
    PER_MS = 4096

    def __init__(self, url: str, prefix: str):
        import redis

        self.url, self.key = url, f"{prefix}:live"
        self.sync = redis.Redis.from_url(url, socket_timeout=1, socket_connect_timeout=1)
        self.hub: Hub | None = None
        self.degraded = False
        self.local = LocalBus()  # used while Redis cannot be reached
        self._stopping = False

    def _warn(self, error: Exception) -> None:
        if not self.degraded:
            self.degraded = True
            log.warning("live updates: Redis cannot be reached (%s); delivering in this process only "
                        "until it answers", type(error).__name__)
            if self.hub is not None:
                self.hub.tell_degraded_threadsafe(True)

    def publish(self, changes: list[Change]) -> None:
        from redis.exceptions import RedisError

        try:
            pipe = self.sync.pipeline(transaction=False)
            for change in changes:
                pipe.xadd(self.key, {"c": change.to_json()}, maxlen=self.MAXLEN, approximate=True)
            pipe.execute()
        except RedisError as e:
            self._warn(e)
            self.local.hub = self.hub
            self.local.publish(changes)

    def since(self, last_id: str) -> list[tuple[str, Change]] | None:
        from redis.exceptions import RedisError, ResponseError

        if self.degraded:
            return self.local.since(last_id)
        try:
            first = self.sync.xrange(self.key, count=1)
            if first and _older(last_id, first[0][0].decode()):
                return None
            entries = self.sync.xrange(self.key, min=f"({last_id}", count=self.MAXLEN)
        except ResponseError:
            return None  # not an id of this stream
        except RedisError:
            return self.local.since(last_id)
        return [(i.decode(), Change.from_json(fields[b"c"])) for i, fields in entries]

    def newest(self) -> int:
        """The number of the last change in the stream (0 before the first)."""
        from redis.exceptions import RedisError

        if self.degraded:
            return self.local.newest()
        try:
            last = self.sync.xrevrange(self.key, count=1)
        except RedisError:
            return self.local.newest()
        return self.number(last[0][0].decode()) if last else 0

    def number(self, event_id: str) -> int:
        ms, dash, seq = event_id.partition("-")
        if not dash:
            return int(event_id)  # numbered in this process while Redis could not be reached
        return (int(ms) - self.EPOCH_MS) * self.PER_MS + int(seq)

    def event_id(self, number: int) -> str:
        if self.degraded:
            return self.local.event_id(number)
        ms, seq = divmod(number, self.PER_MS)
        return f"{ms + self.EPOCH_MS}-{seq}"

    async def run(self) -> None:
        """Read the stream for this process until closed, reconnecting after failures."""
        import redis.asyncio as aioredis
        from redis.exceptions import RedisError

        last = "$"
        while not self._stopping:
            # A read waits up to BLOCK_MS for news; its socket must wait longer than that, or every quiet
            # spell would look like a lost Redis.
            client = aioredis.Redis.from_url(self.url, socket_connect_timeout=1,
                                             socket_timeout=self.BLOCK_MS / 1000 + 5)
            try:
                if last == "$":
                    info = await client.xinfo_stream(self.key) if await client.exists(self.key) else None
                    last = info["last-generated-id"].decode() if info else "0-0"
                if self.degraded:
                    self.degraded = False
                    log.warning("live updates: Redis answers again")
                    if self.hub is not None:
                        self.hub.tell_degraded(False)
                while not self._stopping:
                    got = await client.xread({self.key: last}, block=self.BLOCK_MS, count=500)
                    for _key, entries in got or []:
                        batch = [(i.decode(), Change.from_json(f[b"c"])) for i, f in entries]
                        if batch:
                            last = batch[-1][0]
                            if self.hub is not None:
                                await self.hub.deliver(batch)
            except (RedisError, OSError) as e:
                self._warn(e)
                await asyncio.sleep(2)
            finally:
                with contextlib.suppress(Exception):
                    await client.aclose()

    def close(self) -> None:
        self._stopping = True
        with contextlib.suppress(Exception):
            self.sync.close()


def _older(a: str, b: str) -> bool:
    """Whether stream id `a` comes before `b` by more than one entry (so something between is lost)."""
    def parts(x: str) -> tuple[int, int]:
        ms, _dash, seq = x.partition("-")
        return int(ms), int(seq or 0)

    try:
        return parts(a) < parts(b)
    except ValueError:
        return True


def make_bus(settings) -> LocalBus | RedisBus:
    return RedisBus(settings.redis_url, settings.redis_prefix) if settings.redis_url else LocalBus()


# --- delivering in one process ----------------------------------------------------------------

@dataclass(eq=False)
class Subscriber:
    """One open page: who it is (its session cookie, decided again at each delivery) and what it
    shows: a topic, a list (all categories, or one), and for people signed in their notifications."""

    token: str | None
    user_id: int | None
    topic_id: int | None = None
    list_scope: str | None = None  # "all", or a category id as text
    queue: asyncio.Queue = field(default_factory=lambda: asyncio.Queue(maxsize=200))
    closed: bool = False

    @property
    def audience(self) -> tuple:
        """What decides what this page is told: its reader and what it follows."""
        return (self.token, self.user_id, self.topic_id, self.list_scope)

    def wants(self, change: Change) -> bool:
        if change.kind == NOTIFICATIONS:
            return self.user_id is not None and change.user_id == self.user_id
        if change.kind == ACCESS:
            return change.user_id is None or change.user_id == self.user_id
        if self.topic_id is not None and change.topic_id == self.topic_id:
            return True
        if change.kind == POST_CHANGED and change.topic_id is None:
            return self.topic_id is not None  # a like or a vote: which topic is decided at delivery
        if self.list_scope is not None and change.kind in (TOPIC, POST):
            return (self.list_scope == "all" or change.kind == POST
                    or self.list_scope in (str(change.category_id), str(change.was_category_id)))
        return False


class Hub:
    """This process's open streams, and the one task that hands each change to those who may see it."""

    last_flush = 0.0

    def __init__(self, db, settings, bus):
        self.db, self.settings, self.bus = db, settings, bus
        self.subscribers: set[Subscriber] = set()
        self.loop: asyncio.AbstractEventLoop | None = None
        self.inbox: asyncio.Queue | None = None
        self.tasks: list[asyncio.Task] = []
        bus.hub = self

    async def start(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.inbox = asyncio.Queue()
        self.tasks = [asyncio.create_task(self._dispatch()), asyncio.create_task(self.bus.run())]

    async def stop(self) -> None:
        self.bus.close()
        self.close_all("shutdown")
        for task in self.tasks:
            task.cancel()
        for task in self.tasks:
            with contextlib.suppress(BaseException):
                await task

    # Called by buses.
    def deliver_threadsafe(self, batch: list[tuple[str, Change]]) -> None:
        if self.loop is None or self.inbox is None or self.loop.is_closed():
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self.loop:
            self.inbox.put_nowait(batch)
        else:
            self.loop.call_soon_threadsafe(self.inbox.put_nowait, batch)

    async def deliver(self, batch: list[tuple[str, Change]]) -> None:
        if self.inbox is not None:
            await self.inbox.put(batch)

    def tell_degraded(self, degraded: bool) -> None:
        item = degraded_item(self.settings) if degraded else ("", "restored", "{}")
        for sub in list(self.subscribers):
            self._put(sub, item)

    def tell_degraded_threadsafe(self, degraded: bool) -> None:
        if self.loop is not None and not self.loop.is_closed():
            self.loop.call_soon_threadsafe(self.tell_degraded, degraded)

    def close_all(self, why: str) -> None:
        for sub in list(self.subscribers):
            self.close(sub, why)

    # Subscribers.
    def add(self, sub: Subscriber) -> None:
        self.subscribers.add(sub)

    def remove(self, sub: Subscriber) -> None:
        self.subscribers.discard(sub)

    def close(self, sub: Subscriber, why: str) -> None:
        """End one page's stream: the last thing it is told, with room made for it if need be."""
        sub.closed = True
        self.subscribers.discard(sub)
        if sub.queue.full():
            with contextlib.suppress(asyncio.QueueEmpty):
                sub.queue.get_nowait()
        with contextlib.suppress(asyncio.QueueFull):
            sub.queue.put_nowait(("", "close", json.dumps({"reason": why})))

    def _put(self, sub: Subscriber, item: tuple[str, str, str]) -> None:
        try:
            sub.queue.put_nowait(item)
        except asyncio.QueueFull:
            # A page that does not read its stream is closed; it reconnects and resumes from its id.
            self.close(sub, "behind")

    async def _dispatch(self) -> None:
        import anyio.to_thread

        assert self.inbox is not None
        while True:
            batch = await self.inbox.get()
            # A change after a quiet spell goes out at once; under a stream of changes they go out
            # together, at most every `live_flush_seconds` after the last that reached a page, so
            # each open page wakes and writes once for all of them however fast people post.
            wait = self.last_flush + self.settings.live_flush_seconds - asyncio.get_running_loop().time()
            if wait > 0:
                await asyncio.sleep(wait)
            while not self.inbox.empty():
                batch = batch + self.inbox.get_nowait()
            # Pages with the same reader following the same thing (every visitor on one topic, say)
            # are told the same: decide once for each such audience, then hand it to each page.
            audiences: dict[tuple, list[Subscriber]] = {}
            for sub in self.subscribers:
                if not sub.closed:
                    audiences.setdefault(sub.audience, []).append(sub)
            speakers = [members[0] for members in audiences.values()]
            wanted = [(event_id, change, [s for s in speakers if s.wants(change)]) for event_id, change in batch]
            wanted = [w for w in wanted if w[2]]
            if not wanted:
                continue
            try:
                decided = await anyio.to_thread.run_sync(self.decide, wanted)
            except Exception:
                log.exception("live updates: could not decide who may see %s changes", len(wanted))
                continue
            if decided:
                self.last_flush = asyncio.get_running_loop().time()
            for speaker, item in decided:
                for sub in audiences.get(speaker.audience, ()):
                    if item[1] == "close":
                        self.close(sub, json.loads(item[2])["reason"])
                    elif not sub.closed:
                        self._put(sub, item)

    def decide(self, wanted: list[tuple[str, Change, list[Subscriber]]]) -> list[tuple[Subscriber, tuple[str, str, str]]]:
        """For each change and each subscriber it concerns: what to send, asked of
        forum/permissions.py now (in a worker thread, one database session for the batch)."""
        with self.db.read() as session:
            return decide(session, self.settings, wanted)


def degraded_item(settings) -> tuple[str, str, str]:
    """What a page is told while changes made in other processes cannot reach it: poll this often."""
    return ("", "degraded", json.dumps({"poll_seconds": settings.live_poll_seconds}))


API_KEY = "\0api-key\0"  # begins the token of a subscriber that came with an API key (no cookie has it)


def api_key_token(secret: str, username: str | None, user_id: str | None) -> str:
    """A subscriber's token for an API key and the user it acts as, checked again at each delivery."""
    return API_KEY + "\0".join((secret, username or "", user_id or ""))


def viewer_for(session: Session, settings, token: str):
    """Who a session cookie (or an API key, `api_key_token`) stands for now, or None when it no
    longer counts (logged out, expired, suspended since, key revoked)."""
    from forum import accounts, apikeys, permissions

    if token.startswith(API_KEY):
        secret, username, user_id = token[len(API_KEY):].split("\0")
        try:
            _key, user = apikeys.authenticate(session, secret, username=username or None, user_id=user_id or None)
        except apikeys.InvalidApiKey:
            return None
        return permissions.Viewer(user=user)
    found = accounts.session_for_token(session, token, settings)
    if found is None or permissions.login_refusal(found.user) is not None:
        return None
    return permissions.Viewer(user=found.user)


def decide(session: Session, settings, wanted) -> list[tuple[Subscriber, tuple[str, str, str]]]:
    from forum import permissions
    from forum.models import Post, Topic

    viewers: dict[str | None, permissions.Viewer | None] = {}
    out: list[tuple[Subscriber, tuple[str, str, str]]] = []

    def viewer_of(sub: Subscriber):
        if sub.token not in viewers:
            viewers[sub.token] = permissions.Viewer() if sub.token is None else viewer_for(session, settings, sub.token)
        return viewers[sub.token]

    topics: dict[int, Topic | None] = {}
    posts: dict[int, Post | None] = {}

    def topic_of(change: Change) -> Topic | None:
        topic_id = change.topic_id
        if topic_id is None and change.post_id is not None:
            if change.post_id not in posts:
                posts[change.post_id] = session.get(Post, change.post_id)
            post = posts[change.post_id]
            topic_id = post.topic_id if post is not None else None
        if topic_id is None:
            return None
        if topic_id not in topics:
            topics[topic_id] = session.get(Topic, topic_id)
        return topics[topic_id]

    # Many open pages share a reader (every visitor is one reader; a person may have several tabs),
    # and every page of a topic gets the same words: decide and encode once per reader and change.
    allowed: dict[tuple, bool] = {}
    encoded: dict[tuple, tuple[str, str, str] | None] = {}

    def item_for(event_id: str, change: Change, kind: str, topic) -> tuple[str, str, str] | None:
        key = (event_id, kind)
        if key not in encoded:
            data: dict = {"topic_id": topic.id}
            if change.kind == POST:
                data.update(post_number=change.post_number, highest_post_number=topic.highest_post_number)
            elif change.kind == POST_CHANGED:
                if change.post_id not in posts:
                    posts[change.post_id] = session.get(Post, change.post_id)
                post = posts[change.post_id]
                if post is None:
                    encoded[key] = None
                    return None
                data.update(post_id=post.id, post_number=post.post_number, like_count=post.like_count)
            elif change.kind == PRESENCE:
                data.update(username=change.username, state=change.state)
            elif change.kind == TOPIC:
                data.update(category_id=topic.category_id, closed=bool(topic.closed))
            encoded[key] = (event_id, kind, json.dumps(data, separators=(",", ":")))
        return encoded[key]

    for event_id, change, subs in wanted:
        for sub in subs:
            if not sub.wants(change):
                continue
            viewer = viewer_of(sub)
            if viewer is None:  # logged out, expired or suspended since the page opened
                out.append((sub, ("", "close", '{"reason":"session"}')))
                continue
            if change.kind == ACCESS:
                if sub.topic_id is not None:
                    topic = topics.get(sub.topic_id) or session.get(Topic, sub.topic_id)
                    if topic is None or not permissions.can_see_topic(session, viewer, topic):
                        out.append((sub, ("", "close", '{"reason":"access"}')))
                continue
            if change.kind == NOTIFICATIONS:
                out.append((sub, (event_id, NOTIFICATIONS, "{}")))
                continue
            topic = topic_of(change)
            if topic is None:
                continue
            in_list = sub.topic_id is None
            key = (sub.token, topic.id, in_list)
            if key not in allowed:
                allowed[key] = permissions.can_receive_live_change(session, viewer, topic, in_list=in_list)
            if not allowed[key]:
                continue
            if sub.topic_id is not None and sub.topic_id != topic.id:
                continue
            if in_list and change.kind == POST_CHANGED:
                continue
            if in_list and sub.list_scope not in (None, "all") and \
                    sub.list_scope not in (str(topic.category_id), str(change.was_category_id)):
                continue
            item = item_for(event_id, change, TOPIC if in_list else change.kind, topic)
            if item is not None:
                out.append((sub, item))
    return out


def close_streams_on_signals(hub: Hub) -> None:
    """On SIGTERM or SIGINT, end every open stream with a retry hint before the server waits for
    its connections: uvicorn stops accepting and waits for requests in flight, and a stream would
    otherwise keep it waiting. The pages reconnect, to another process or host, and resume."""
    import signal

    if threading.current_thread() is not threading.main_thread():
        return
    for signum in (signal.SIGTERM, signal.SIGINT):
        previous = signal.getsignal(signum)
        if getattr(previous, "_closes_streams", False) or not callable(previous):
            continue

        def handler(sig, frame, previous=previous):
            if hub.loop is not None and not hub.loop.is_closed():
                hub.loop.call_soon_threadsafe(hub.close_all, "shutdown")
            previous(sig, frame)

        handler._closes_streams = True  # type: ignore[attr-defined]
        signal.signal(signum, handler)


@functools.lru_cache(maxsize=4096)
def sse(event_id: str, kind: str, data: str) -> bytes:
    """One Server-Sent Event (many pages get the same one: encoded once)."""
    head = f"id: {event_id}\n" if event_id else ""
    return f"{head}event: {kind}\ndata: {data}\n\n".encode()


def replay(session: Session, settings, sub: Subscriber, items: Iterable[tuple[str, Change]]):
    wanted = [(i, c, [sub]) for i, c in items if sub.wants(c)]
    return decide(session, settings, wanted) if wanted else []
