"""The live-updates stream of an open page (Server-Sent Events) and "is replying…" (forum/live.py).

`GET /live?topic_id=…&after=…` (a topic page), `GET /live?list=all|<category id>` (topic lists);
every stream of someone signed in also carries their notifications. The stream says only what
changed (identifiers and counts); the page fetches the rest through its ordinary URLs.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time

import anyio.to_thread
from fastapi import APIRouter, Form, Request
from fastapi.responses import Response, StreamingResponse

from forum import accounts, live, observability, permissions
from forum.auth import SESSION_COOKIE
from forum.deps import CsrfDep, UserViewerDep
from forum.errors import NotFound
from forum.models import Category, Topic

router = APIRouter(include_in_schema=False)


def _open(request: Request, token: str | None, topic_id: int | None, list_scope: str | None,
          after: int | None, last_event_id: str | None, sub: live.Subscriber):
    """Who is asking and whether they may follow what they ask for (hidden things are 404, as
    their pages are); then what they missed: since `Last-Event-ID`, or replies after `after`."""
    db, settings, hub = request.app.state.db, request.app.state.settings, request.app.state.live
    with db.read() as session:
        viewer = permissions.Viewer()
        if token:
            found = accounts.session_for_token(session, token, settings)
            if found is not None and permissions.login_refusal(found.user) is None:
                viewer = permissions.Viewer(user=found.user)
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


@router.get("/live")
async def stream(request: Request, topic_id: int | None = None, list: str | None = None,  # noqa: A002
                 after: int | None = None):
    hub: live.Hub = request.app.state.live
    settings = request.app.state.settings
    token = request.cookies.get(SESSION_COOKIE)
    sub = live.Subscriber(token=None, user_id=None, topic_id=topic_id, list_scope=list)
    hub.add(sub)  # before reading what was missed, so that nothing falls between the two
    try:
        backlog = await anyio.to_thread.run_sync(_open, request, token, topic_id, list, after,
                                                 request.headers.get("last-event-id"), sub)
    except BaseException:
        hub.remove(sub)
        raise
    heartbeat = settings.live_heartbeat_seconds

    async def body():
        observability.LIVE_STREAMS.inc()
        try:
            yield f"retry: {int(settings.live_retry_ms)}\n\n".encode()
            if hub.bus.degraded:
                yield live.sse("", "degraded", "{}")
            sent = {item[0] for item in backlog if item[0]}
            for item in backlog:
                yield live.sse(*item)
            while True:
                try:
                    item = await asyncio.wait_for(sub.queue.get(), heartbeat)
                except TimeoutError:
                    yield b": keep-alive\n\n"
                    continue
                if item[0] and item[0] in sent:
                    continue
                observability.LIVE_DELIVERED.inc()
                yield live.sse(*item)
                if item[1] == "close":
                    return
        finally:
            observability.LIVE_STREAMS.dec()
            hub.remove(sub)

    return StreamingResponse(body(), media_type="text/event-stream", headers={
        "Cache-Control": "no-cache, no-store", "X-Accel-Buffering": "no"})


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

