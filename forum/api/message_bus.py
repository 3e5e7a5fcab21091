"""Discourse's message bus: the second door on live updates (forum/live.py), for Discourse's own
JavaScript client, its phone apps and bots.

A client long-polls `POST /message-bus/{client_id}/poll` (or GET with the same fields in the query)
with form fields `channel=last_id` and is answered a JSON array of
`{"global_id", "message_id", "channel", "data"}`: at once when it missed something or with `?dlp=t`,
otherwise as soon as something happens, or `[]` after `FORUM_MESSAGE_BUS_LONG_POLL_SECONDS`.

- `/latest`: a topic started, replied to or changed (closed, moved, renamed):
  `{"topic_id", "message_type": "latest", "payload": {"bumped_at", "category_id", "archetype"}}`.
- `/new`: a topic started: `{"topic_id", "message_type": "new_topic", "payload": {…}}`.
- `/topic/{id}`: a post added (`"type": "created"`), changed (`"revised"`: edited, liked, voted on,
  hidden, recovered) or deleted (`"deleted"`), as `{"id", "post_number", "updated_at", "user_id",
  "type", "version"}`; the topic's counts changed (`"type": "stats"`).
- `/notification/{user_id}`: the reader's own unread counts. Anyone else's stays silent.

Each message is told only to readers who may see it, decided by forum/permissions.py when it is
delivered (live.decide, as for the Server-Sent Events stream); what a reader may not see is simply
absent. Ids are the bus's own event numbers (`number` of LocalBus and RedisBus), the same on every
host, so a client resumes anywhere: what it missed is replayed from the bus while the bus still
holds it, otherwise it is told where things stand now (`/__status`), as Discourse's middleware does.
Answers are never chunked (Discourse's client takes a plain JSON answer whatever it asked for).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from dataclasses import dataclass, field
from urllib.parse import parse_qsl

import anyio.to_thread
from sqlalchemy.exc import OperationalError
from starlette.requests import Request

from forum import apikeys, live, notifications, permissions, reading
from forum.api.serializers import iso
from forum.auth import SESSION_COOKIE
from forum.errors import Busy, ForumError
from forum.i18n import translate
from forum.models import Post, Topic, utcnow

POLL_PATH = re.compile(r"/message-bus/[^/]+/poll")
TOPIC_CHANNEL = re.compile(r"/topic/([0-9]{1,18})")
NOTIFICATION_CHANNEL = re.compile(r"/notification/([0-9]{1,18})")
LATEST, NEW, STATUS = "/latest", "/new", "/__status"
MAX_BODY = 64 * 1024
MAX_CHANNELS = 100
HEADERS = [(b"content-type", b"application/json; charset=utf-8"),
           (b"cache-control", b"must-revalidate, private, max-age=0"), (b"pragma", b"no-cache"),
           (b"expires", b"0"), (b"x-content-type-options", b"nosniff")]
GONE = (None, ("", "", ""))  # put in a poll's queue when its client goes away (what it is sent is then lost)


@dataclass
class Poll:
    """One request: where each channel stands for the client, what it will be told, and the bus
    position up to which every change has been looked at for it."""

    positions: dict[str, int]
    cursor: int = 0
    reader_id: int | None = None
    status: dict[str, int] = field(default_factory=dict)
    messages: list[dict] = field(default_factory=list)

    def take(self, messages: list[dict]) -> None:
        for message in sorted(messages, key=lambda m: m["message_id"]):
            channel = message["channel"]
            if message["message_id"] > self.positions.get(channel, -1):
                self.messages.append(message)
                self.positions[channel] = message["message_id"]

    def answer(self) -> bytes:
        # Channels with nothing to tell move on to where the bus was looked at, so the next poll
        # does not look at the same changes again.
        status = {**self.status, **{c: self.cursor for c, p in self.positions.items() if p < self.cursor}}
        told = sorted(self.messages, key=lambda m: m["message_id"])
        if status:
            told.append({"global_id": -1, "message_id": -1, "channel": STATUS, "data": status})
        return json.dumps(told, separators=(",", ":")).encode()


class _Into:
    """A subscriber's queue that files what the hub gives it, with the subscriber, in its poll's queue."""

    def __init__(self, sub: live.Subscriber, queue: asyncio.Queue):
        self.sub, self.queue = sub, queue

    def put_nowait(self, item) -> None:
        self.queue.put_nowait((self.sub, item))

    def full(self) -> bool:
        return self.queue.full()

    def get_nowait(self):
        return self.queue.get_nowait()


def _last_id(value) -> int | None:
    """A channel's last id as sent; None for an empty one (from now on, without a status)."""
    if value is None or value == "":
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def _channels(scope, body: bytes) -> dict[str, int | None] | None:
    """The channels asked for, from the form (or JSON) body, or the query of a GET; None if unreadable."""
    if scope["method"] == "GET":
        pairs = parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
    else:
        content_type = dict(scope.get("headers", [])).get(b"content-type", b"")
        if b"application/json" in content_type:
            try:
                data = json.loads(body or b"{}")
            except ValueError:
                return None
            if not isinstance(data, dict):
                return None
            pairs = list(data.items())
        else:
            pairs = parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)
    found = {str(k): _last_id(v) for k, v in pairs if str(k).startswith("/") and len(str(k)) <= 200}
    return dict(list(found.items())[:MAX_CHANNELS])


async def _read_body(receive) -> bytes | None:
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b""
        chunks.append(message.get("body", b""))
        size += len(chunks[-1])
        if size > MAX_BODY:
            return None
        if not message.get("more_body"):
            return b"".join(chunks)


class MessageBusPolls:
    """`/message-bus/{client_id}/poll`, answered before routing and every other layer, as `/live` is:
    a waiting poll holds its connection and costs a few subscribers of this process's hub."""

    def __init__(self, app, *, hub: live.Hub, db, settings):
        self.app, self.hub, self.db, self.settings = app, hub, db, settings
        # What one change says on one channel is the same for every reader allowed to hear it.
        self.said: dict[tuple[str, str], dict | None] = {}

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or not POLL_PATH.fullmatch(scope["path"]) or \
                scope["method"] not in ("GET", "POST", "OPTIONS"):
            return await self.app(scope, receive, send)
        if scope["method"] == "OPTIONS":
            return await _answer(send, 200, b"OK")
        body = b"" if scope["method"] == "GET" else await _read_body(receive)
        if body is None:
            too_big = ForumError()
            too_big.status_code = 413
            return await self._refuse(scope, send, too_big)
        channels = _channels(scope, body)
        if channels is None:
            return await self._refuse(scope, send, ForumError())
        request = Request(scope)
        if request.headers.get("user-api-key") is not None:
            return await self._refuse(scope, send, apikeys.UserApiKeyRefused())
        api_key = request.headers.get("api-key")
        api = (api_key, request.headers.get("api-username"), request.headers.get("api-user-id")) \
            if api_key is not None else None

        queue: asyncio.Queue = asyncio.Queue()
        subs = self._subscribers(channels)
        for sub in subs:
            sub.queue = _Into(sub, queue)  # type: ignore[assignment]
            self.hub.add(sub)  # before the bus is read, so that nothing falls between the two
        try:
            poll = await anyio.to_thread.run_sync(self._open, request.cookies.get(SESSION_COOKIE), api, subs, channels)
            if not (poll.messages or poll.status or b"dlp=t" in scope.get("query_string", b"")):
                await self._wait(poll, queue, receive)
        except ForumError as e:
            return await self._refuse(scope, send, e)
        except OperationalError:
            busy = Busy()
            busy.retry_after = 5  # type: ignore[attr-defined]
            return await self._refuse(scope, send, busy)
        finally:
            for sub in subs:
                self.hub.remove(sub)
        await _answer(send, 200, poll.answer())

    def _subscribers(self, channels: dict[str, int | None]) -> list[live.Subscriber]:
        """One subscriber per topic followed, one for the lists, one for notifications."""
        topic_ids = {int(m.group(1)) for c in channels if (m := TOPIC_CHANNEL.fullmatch(c))}
        subs = [live.Subscriber(token=None, user_id=None, topic_id=topic_id) for topic_id in sorted(topic_ids)]
        if LATEST in channels or NEW in channels:
            subs.append(live.Subscriber(token=None, user_id=None, list_scope="all"))
        if any(NOTIFICATION_CHANNEL.fullmatch(c) for c in channels):
            subs.append(live.Subscriber(token=None, user_id=None))
        return subs

    def _open(self, cookie: str | None, api: tuple[str, str | None, str | None] | None,
              subs: list[live.Subscriber], channels: dict[str, int | None]) -> Poll:
        """Who is asking (an unknown or revoked API key is refused, as by the API; an expired session
        reads as a visitor), where each channel stands, and what was missed."""
        bus = self.hub.bus
        touch = None
        with self.db.read() as session:
            viewer, credential = None, cookie
            if api is not None:
                secret, username, user_id = api
                key, user = apikeys.authenticate(session, secret, username=username, user_id=user_id)
                touch = key.id if apikeys.needs_touch(key) else None
                viewer, credential = permissions.Viewer(user=user), live.api_key_token(*api)
            elif cookie:
                viewer = live.viewer_for(session, self.settings, cookie)
            viewer = viewer or permissions.Viewer()
            for sub in subs:
                sub.user_id = viewer.id
                sub.token = credential if viewer.id is not None else None
            newest = bus.newest()
            poll = Poll(positions={}, cursor=newest, reader_id=viewer.id)
            for channel, last in channels.items():
                if last is None:
                    poll.positions[channel] = newest
                elif last < 0 or last > newest:  # new here, or ahead of this bus (a restarted server)
                    poll.positions[channel] = poll.status[channel] = newest
                else:
                    poll.positions[channel] = last
            behind = [p for p in poll.positions.values() if p < newest]
            if behind:
                missed = bus.since(bus.event_id(min(behind)))
                if missed is None:  # too far back: the client is told where things stand
                    for channel, last in poll.positions.items():
                        if last < newest:
                            poll.positions[channel] = poll.status[channel] = newest
                elif missed:
                    wanted = [(i, c, [s for s in subs if s.wants(c)]) for i, c in missed]
                    wanted = [w for w in wanted if w[2]]
                    decided = live.decide(session, self.settings, wanted) if wanted else []
                    poll.take(self._messages(lambda: session, decided, poll))
                    poll.cursor = max(newest, bus.number(missed[-1][0]))
        if touch is not None:
            with self.db.write() as write:
                apikeys.touch(write, touch)
        return poll

    async def _wait(self, poll: Poll, queue: asyncio.Queue, receive) -> None:
        """Hold the poll until something for it arrives, the time is up or the client leaves."""

        async def watch_disconnect():
            while (await receive())["type"] != "http.disconnect":
                pass
            queue.put_nowait(GONE)

        watcher = asyncio.ensure_future(watch_disconnect())
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.settings.message_bus_long_poll_seconds
        try:
            while (left := deadline - loop.time()) > 0:
                try:
                    async with asyncio.timeout(left):
                        got = [await queue.get()]
                except TimeoutError:
                    return
                while not queue.empty():
                    got.append(queue.get_nowait())
                if GONE in got:
                    return
                ending = any(item[1] == "close" for _sub, item in got)  # signed out, or lost access
                fresh = [(sub, item) for sub, item in got
                         if item[0] and self.hub.bus.number(item[0]) > poll.cursor]
                if fresh:
                    poll.take(await anyio.to_thread.run_sync(self._messages_now, fresh, poll))
                    poll.cursor = max(poll.cursor, *(self.hub.bus.number(item[0]) for _sub, item in fresh))
                if poll.messages or ending:
                    return
        finally:
            watcher.cancel()

    def _messages_now(self, decided, poll: Poll) -> list[dict]:
        with contextlib.ExitStack() as stack:
            opened: list = []

            def session():  # only opened when something is not known yet
                if not opened:
                    opened.append(stack.enter_context(self.db.read()))
                return opened[0]

            return self._messages(session, decided, poll)

    def _messages(self, session, decided, poll: Poll) -> list[dict]:
        """The messages for what live.decide let this reader hear, on the channels it follows."""
        out: list[dict] = []
        done: set[tuple[str, str]] = set()
        for sub, (event_id, kind, data) in decided:
            if not event_id:
                continue
            channel = _channel(sub, kind, data)
            if channel is None or channel not in poll.positions or (event_id, channel) in done:
                continue
            done.add((event_id, channel))
            number = self.hub.bus.number(event_id)
            if number <= poll.positions[channel]:
                continue
            if kind == live.NOTIFICATIONS:
                if channel != f"/notification/{poll.reader_id}":
                    continue
                said = _notification_state(session(), self.settings, sub.token)
            else:
                key = (event_id, channel)
                if key not in self.said:
                    if len(self.said) > 4096:
                        self.said.clear()
                    self.said[key] = _say(session(), channel, kind, json.loads(data))
                said = self.said[key]
            if said is not None:
                out.append({"global_id": number, "message_id": number, "channel": channel, "data": said})
        return out

    async def _refuse(self, scope, send, error: ForumError) -> None:
        def words() -> tuple[bytes, str]:
            request = Request(scope)
            renderer = scope["app"].state.renderer
            gettext = renderer.gettext(request)
            body = {"errors": [translate(m, gettext) for m in error.messages], "error_type": error.error_type}
            return json.dumps(body).encode(), renderer.locale(request)

        body, locale = await anyio.to_thread.run_sync(words)
        extra = [(b"content-language", locale.encode())]
        if isinstance(error, Busy):
            extra.append((b"retry-after", str(getattr(error, "retry_after", 5)).encode()))
        await _answer(send, error.status_code, body, extra)


def _channel(sub: live.Subscriber, kind: str, data: str) -> str | None:
    """Which of Discourse's channels an item of the live stream belongs on, if any."""
    if kind == live.NOTIFICATIONS:
        return f"/notification/{sub.user_id}" if sub.user_id is not None else None
    if sub.topic_id is not None:
        return f"/topic/{sub.topic_id}" if kind in (live.POST, live.POST_CHANGED, live.TOPIC) else None
    if sub.list_scope is not None and kind == live.TOPIC:
        # A list hears of a post as of its topic: a reply bumps it (latest), a first post starts it
        # (new; the topic itself being added is its latest).
        return NEW if json.loads(data).get("post_number") == 1 else LATEST
    return None


def _say(session, channel: str, kind: str, data: dict) -> dict | None:
    """What Discourse publishes on that channel for this change: identifiers, counts and times."""
    now = iso(utcnow())
    topic = session.get(Topic, data["topic_id"])
    if topic is None:
        return None
    if channel == LATEST:
        return {"topic_id": topic.id, "message_type": "latest",
                "payload": {"bumped_at": iso(topic.bumped_at), "category_id": topic.category_id,
                            "archetype": "regular"}}
    if channel == NEW:
        return {"topic_id": topic.id, "message_type": "new_topic",
                "payload": {"last_read_post_number": None, "highest_post_number": 1,
                            "created_at": iso(topic.created_at), "category_id": topic.category_id,
                            "archetype": "regular", "created_in_new_period": True}}
    if kind == live.TOPIC:
        return {"id": topic.id, "posts_count": topic.posts_count, "last_posted_at": iso(topic.last_posted_at),
                "like_count": topic.like_count, "updated_at": now, "type": "stats"}
    if kind == live.POST:
        post = reading.post_by_number(session, topic, data["post_number"])
    else:
        post = session.get(Post, data["post_id"])
    if post is None or post.topic_id != topic.id:
        return None
    kind_said = "created" if kind == live.POST else "deleted" if post.deleted_at is not None else "revised"
    return {"id": post.id, "post_number": post.post_number, "updated_at": now, "user_id": post.user_id,
            "type": kind_said, "version": post.version}


def _notification_state(session, settings, token: str | None) -> dict | None:
    """The reader's own notification counts, as Discourse's `/notification/{user_id}` carries them
    (without the last notification itself: the client fetches it through `/notifications.json`)."""
    viewer = live.viewer_for(session, settings, token) if token else None
    if viewer is None:
        return None
    unread = notifications.unread_count(session, viewer)
    recent = notifications.recent_states(session, viewer)
    return {"unread_notifications": unread, "unread_high_priority_notifications": 0,
            "all_unread_notifications_count": unread, "read_first_notification": True,
            "grouped_unread_notifications": {}, "new_personal_messages_notifications_count": 0,
            "seen_notification_id": max((i for i, _read in recent), default=0),
            "last_notification": None, "recent": [[i, read] for i, read in recent]}


async def _answer(send, status: int, body: bytes, extra: list | None = None) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [*HEADERS, (b"content-length", str(len(body)).encode()), *(extra or [])]})
    await send({"type": "http.response.body", "body": body})
