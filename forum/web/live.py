"""The live-updates stream of an open page (Server-Sent Events) and "is replying…" (forum/live.py).

`GET /live?topic_id=…&after=…` (a topic page), `GET /live?list=all|<category id>` (topic lists);
every stream of someone signed in also carries their notifications. The stream says only what
changed (identifiers and counts); the page fetches the rest through its ordinary URLs.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import time

import anyio.to_thread
from fastapi import APIRouter, Form, Request
from fastapi.responses import Response
from sqlalchemy.exc import OperationalError

from forum import live, observability, permissions
from forum.auth import SESSION_COOKIE
from forum.deps import CsrfDep, UserViewerDep
from forum.errors import NotFound
from forum.models import Category, Topic

router = APIRouter(include_in_schema=False)


def _open(db, settings, hub: live.Hub, token: str | None, topic_id: int | None, list_scope: str | None,
          after: int | None, last_event_id: str | None, sub: live.Subscriber):
    """Who is asking and whether they may follow what they ask for (hidden things are 404, as
    their pages are); then what they missed: since `Last-Event-ID`, or replies after `after`."""
    with db.read() as session:
        viewer = (live.viewer_for(session, settings, token) if token else None) or permissions.Viewer()
        sub.user_id = viewer.id
        sub.token = token if viewer.id is not None else None
        topic = None
        if topic_id is not None:
            topic = permissions.ensure_can_see_topic(session, viewer, session.get(Topic, topic_id))
        if list_scope not in (None, "all"):
            category = session.get(Category, int(list_scope)) if list_scope.isdigit() else None
            permissions.ensure_can_see_category(session, viewer, category)
        items: list[tuple[str, str, str]] = []
        if last_event_id:
            missed = hub.bus.since(last_event_id)
            if missed is None:
                items.append(("", "missed", "{}"))  # too far back: the page reloads what it shows
            else:
                items += [item for _sub, item in live.replay(session, settings, sub, missed)]
        elif topic is not None and after is not None and topic.highest_post_number > after:
            items.append(("", live.POST, json.dumps({"topic_id": topic.id, "post_number": topic.highest_post_number,
                                                     "highest_post_number": topic.highest_post_number})))
        return items


STREAM_HEADERS = [(b"content-type", b"text/event-stream; charset=utf-8"), (b"cache-control", b"no-cache, no-store"),
                  (b"x-accel-buffering", b"no"), (b"x-content-type-options", b"nosniff"),
                  (b"referrer-policy", b"strict-origin-when-cross-origin")]
CLOSED = ("", "", "")  # put in a page's queue when its connection goes away


def _query(scope) -> tuple[int | None, str | None, int | None] | None:
    """topic_id, list and after from the address; None when one is not what it must be."""
    from urllib.parse import parse_qsl

    got = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))
    try:
        topic_id = int(got["topic_id"]) if "topic_id" in got else None
        after = int(got["after"]) if "after" in got else None
    except ValueError:
        return None
    return topic_id, got.get("list"), after


class LiveStreams:
    """`GET /live`, answered before routing and every other layer: a page holds its stream for as
    long as it is open, so each one must cost little memory, and each event little work. What it
    may follow is decided by forum/permissions.py, as for a page (404 for what it may not see)."""

    def __init__(self, app, *, hub: live.Hub, db, settings):
        self.app, self.hub, self.db, self.settings = app, hub, db, settings

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["path"] != "/live" or scope["method"] != "GET":
            return await self.app(scope, receive, send)
        query = _query(scope)
        if query is None:
            return await _plain(send, 404, b"Not found")
        topic_id, list_scope, after = query
        token = last_event_id = None
        for name, value in scope.get("headers", []):
            if name == b"cookie":
                for part in value.decode("latin-1").split(";"):
                    cookie, _eq, found = part.strip().partition("=")
                    if cookie == SESSION_COOKIE:
                        token = found
            elif name == b"last-event-id":
                last_event_id = value.decode("latin-1")[:100]
        hub = self.hub
        sub = live.Subscriber(token=None, user_id=None, topic_id=topic_id, list_scope=list_scope)
        hub.add(sub)  # before reading what was missed, so that nothing falls between the two
        try:
            backlog = await anyio.to_thread.run_sync(_open, self.db, self.settings, hub, token, topic_id, list_scope,
                                                     after, last_event_id, sub)
        except NotFound:
            hub.remove(sub)
            return await _plain(send, 404, b"Not found")
        except OperationalError:
            hub.remove(sub)
            return await _plain(send, 503, b"The forum is busy or its database cannot be reached.",
                                [(b"retry-after", b"5")])
        except BaseException:
            hub.remove(sub)
            raise
        queue = sub.queue

        async def watch_disconnect():
            while (await receive())["type"] != "http.disconnect":
                pass
            with contextlib.suppress(asyncio.QueueFull):
                queue.put_nowait(CLOSED)

        watcher = asyncio.ensure_future(watch_disconnect())
        observability.LIVE_STREAMS.inc()
        try:
            await send({"type": "http.response.start", "status": 200, "headers": STREAM_HEADERS})
            first = [f"retry: {int(self.settings.live_retry_ms)}\n\n".encode()]
            if hub.bus.degraded:
                first.append(live.sse(*live.degraded_item(self.settings)))
            sent = {item[0] for item in backlog if item[0]}
            first += [live.sse(*item) for item in backlog]
            await send({"type": "http.response.body", "body": b"".join(first), "more_body": True})
            heartbeat = self.settings.live_heartbeat_seconds
            while True:
                try:
                    async with asyncio.timeout(heartbeat):
                        item = await queue.get()
                except TimeoutError:
                    await send({"type": "http.response.body", "body": b": keep-alive\n\n", "more_body": True})
                    continue
                # Whatever else is already waiting goes out in the same write, each thing once.
                items = [item]
                while not queue.empty():
                    items.append(queue.get_nowait())
                if len(items) > 1:
                    items = latest_only(items)
                chunks, ending = [], False
                for event_id, kind, data in items:
                    if kind == "":
                        return  # the page went away
                    if event_id and event_id in sent:
                        continue
                    chunks.append(live.sse(event_id, kind, data))
                    if kind == "close":
                        ending = True
                        break
                if chunks:
                    observability.LIVE_DELIVERED.inc(len(chunks))
                    await send({"type": "http.response.body", "body": b"".join(chunks), "more_body": not ending})
                if ending:
                    return
        except OSError:
            return  # the connection is gone
        finally:
            observability.LIVE_STREAMS.dec()
            hub.remove(sub)
            watcher.cancel()


@functools.lru_cache(maxsize=4096)
def _superseded_by(item: tuple[str, str, str]) -> tuple | None:
    """What a later event of the same kind makes this one needless to a page: the page acts on the
    newest reply of a topic, the newest state of a post, a list's topic, its notification count.
    Events are shared by every page of an audience: worked out once for each."""
    _event_id, kind, data = item
    if kind not in SUPERSEDABLE:
        return None
    try:
        fields = json.loads(data)
    except ValueError:
        return None
    if kind == live.POST_CHANGED:
        return (kind, fields.get("post_id"))
    if kind == live.PRESENCE:
        return (kind, fields.get("topic_id"), fields.get("username"))
    return (kind, fields.get("topic_id"))


SUPERSEDABLE = {live.POST, live.POST_CHANGED, live.TOPIC, live.NOTIFICATIONS, live.PRESENCE, live.SEEN,
                live.PANELS}


def latest_only(items: list[tuple[str, str, str]]) -> list[tuple[str, str, str]]:
    """The waiting events, without those a later one supersedes (in order, the last id kept last,
    so a page that reconnects resumes after everything it was told). Under a stream of replies a
    page is then told of its topic once per write, not once per reply."""
    last: dict[tuple, int] = {}
    for position, item in enumerate(items):
        key = _superseded_by(item)
        if key is not None:
            last[key] = position
    return [item for position, item in enumerate(items)
            if (key := _superseded_by(item)) is None or last[key] == position]


async def _plain(send, status: int, body: bytes, extra: list | None = None) -> None:
    await send({"type": "http.response.start", "status": status, "headers": [
        (b"content-type", b"text/plain; charset=utf-8"), (b"content-length", str(len(body)).encode()),
        (b"x-content-type-options", b"nosniff"), *(extra or [])]})
    await send({"type": "http.response.body", "body": body})


PRESENCE_EVERY = 5.0  # the least time between two "is replying" announcements of one person
_last_presence: dict[tuple[int, int], float] = {}


@router.post("/live/presence", dependencies=[CsrfDep])
async def presence(request: Request, viewer: UserViewerDep, topic_id: int = Form(),
                   state: str = Form("replying")):
    """The composer of a topic page says its writer is replying (or stopped). Told to the pages of
    that topic whose readers may see it; people who chose to stay unseen are never announced."""
    if state not in ("replying", "stopped"):
        raise NotFound()
    db, hub = request.app.state.db, request.app.state.live

    def check() -> bool:
        with db.read() as session:
            topic = permissions.ensure_can_see_topic(session, viewer, session.get(Topic, topic_id))
            return permissions.can_announce_presence(session, viewer, topic)

    if not await anyio.to_thread.run_sync(check):
        return Response(status_code=204)
    key, now = (viewer.id, topic_id), time.monotonic()
    if state == "replying" and now - _last_presence.get(key, 0) < PRESENCE_EVERY:
        return Response(status_code=204)
    if len(_last_presence) > 10000:
        _last_presence.clear()
    _last_presence[key] = now if state == "replying" else 0
    change = live.Change(live.PRESENCE, topic_id=topic_id, user_id=viewer.id, username=viewer.user.username,
                         state=state)
    with contextlib.suppress(Exception):
        await anyio.to_thread.run_sync(hub.bus.publish, [change])
    return Response(status_code=204)

