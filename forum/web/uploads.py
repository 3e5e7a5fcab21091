"""Around the files of posts (served by forum/api/uploads.py, under Discourse's paths): the guard
that refuses a request body larger than an upload may be before it is read, and the fast path for
fetching the same file again."""

from __future__ import annotations

import json
import re
import threading
import time
from collections import OrderedDict

import anyio
from sqlalchemy.exc import OperationalError
from starlette.requests import Request as StarletteRequest

from forum import observability, uploads
from forum.auth import SESSION_COOKIE
from forum.i18n import _, translate


class BodyLimit:
    """Answers 413 at once to a request whose declared body is larger than any upload may be (plus
    room for the form around it), before a byte of it is read. Bodies sent without a length are cut
    off while they are stored (forum/uploads.py)."""

    def __init__(self, app, *, settings, renderer):
        self.app, self.settings, self.renderer = app, settings, renderer

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and scope["method"] in ("POST", "PUT"):
            for header, value in scope.get("headers", []):
                if header == b"content-length":
                    if value.isdigit() and int(value) > self.settings.max_upload_bytes + 1024 * 1024:
                        return await self._refuse(scope, send)
                    break
        await self.app(scope, receive, send)

    async def _refuse(self, scope, send):
        request = StarletteRequest(scope)
        message = translate(_("This file is larger than %(size)s, the most the forum accepts.",
                              size=uploads.human_size(self.settings.max_upload_bytes)),
                            self.renderer.gettext(request))
        wants_json = scope["path"].endswith(".json") or b"application/json" in dict(scope["headers"]).get(b"accept", b"")
        if wants_json:
            body, kind = json.dumps({"errors": [message], "error_type": "too_large"}).encode(), b"application/json"
        else:
            body, kind = message.encode(), b"text/plain; charset=utf-8"
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", kind), (b"content-length", str(len(body)).encode()),
                                (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": body})


class FileBodies:
    """The bytes of recently sent small files, within a budget: a file's content never changes (its
    name is its SHA-1), so this needs no invalidation; who may have it is decided before."""

    MAX_FILE = 512 * 1024
    BUDGET = 32 * 1024 * 1024

    def __init__(self):
        self.items: OrderedDict[str, bytes] = OrderedDict()
        self.size = 0
        self.lock = threading.Lock()

    def get(self, path: str) -> bytes | None:
        with self.lock:
            body = self.items.get(path)
            if body is not None:
                self.items.move_to_end(path)
            return body

    def put(self, path: str, body: bytes) -> None:
        if len(body) > self.MAX_FILE:
            return
        with self.lock:
            if path in self.items:
                return
            self.items[path] = body
            self.size += len(body)
            while self.size > self.BUDGET:
                _old, dropped = self.items.popitem(last=False)
                self.size -= len(dropped)


FILE_SENT = "forum.file_sent"  # a scope key: {"path": …} once the route has sent a whole file from disk


class FileFastPath:
    """Answers a repeated fetch of the same file by the same person (or visitor) without routing,
    session lookup or permission queries, exactly as the route would.

    The route (forum/api/uploads.py) decides; when it sent a whole file from disk with 200, its
    answer is kept here for (address, session cookie). A later fetch reuses it only while the
    content generation is unchanged (one cheap read: any committed change that could alter who may
    fetch what, a post, an edit, a move, a deletion, a tier or a category level, a log-out, bumps
    it; see forum/pagecache.py) and for at most `anon_cache_seconds`, so time-driven changes (a
    session expiring) are bounded as on cached pages. Conditional and range requests, API keys and
    anything else go to the route.
    """

    PATH = re.compile(r"^/uploads/default/(?:original|optimized)/1X/[0-9a-f]{40}(?:_2_\d{1,5}x\d{1,5})?\.[a-z0-9]{1,10}$")
    SKIP_HEADERS = {b"range", b"if-none-match", b"if-modified-since", b"api-key", b"user-api-key", b"authorization"}

    def __init__(self, app, *, db, settings):
        self.app, self.db, self.ttl = app, db, settings.anon_cache_seconds
        self.entries: OrderedDict[tuple, tuple[int, float, list, str]] = OrderedDict()
        self.max_entries = max(settings.anon_cache_entries, 1) * 4
        self.lock = threading.Lock()
        self.bodies = FileBodies()

    def _key(self, scope) -> tuple | None:
        if scope["type"] != "http" or scope["method"] != "GET" or self.ttl <= 0 or not self.PATH.match(scope["path"]):
            return None
        session_token = None
        for name, value in scope.get("headers", []):
            if name in self.SKIP_HEADERS:
                return None
            if name == b"cookie":
                for part in value.decode("latin-1").split(";"):
                    cookie, _eq, token = part.strip().partition("=")
                    if cookie == SESSION_COOKIE:
                        session_token = token
        return (scope["path"], scope.get("query_string", b""), session_token)

    async def __call__(self, scope, receive, send):
        key = self._key(scope)
        if key is None:
            return await self.app(scope, receive, send)
        with self.lock:
            entry = self.entries.get(key)
        try:
            # SQLite is read in-process, without a thread hop (see forum/deps.py); a server, in a thread.
            generation = (self.db.generation() if self.db.reads_in_process
                          else await anyio.to_thread.run_sync(self.db.generation))
        except OperationalError:
            return await self.app(scope, receive, send)
        if entry is not None and entry[0] == generation and time.monotonic() - entry[1] < self.ttl:
            body = self.bodies.get(entry[3])
            if body is None:
                try:
                    body = await anyio.Path(entry[3]).read_bytes()
                except OSError:
                    body = None
                else:
                    self.bodies.put(entry[3], body)
            if body is not None:
                observability.CACHE.labels("files", "hit").inc()
                observability.note_request(scope, route="(file fast path)")
                await send({"type": "http.response.start", "status": 200, "headers": entry[2]})
                await send({"type": "http.response.body", "body": body})
                return
        observability.CACHE.labels("files", "miss").inc()
        started: dict = {}
        sent_file: dict = scope.setdefault(FILE_SENT, {})  # the route says here which file it sent

        async def capture(message):
            if message["type"] == "http.response.start":
                started.update(message)
            elif message["type"] == "http.response.body" and not message.get("more_body"):
                path = sent_file.get("path")
                if started.get("status") == 200 and path and not any(
                        n == b"set-cookie" for n, _v in started.get("headers", [])):
                    with self.lock:
                        self.entries[key] = (generation, time.monotonic(), list(started["headers"]), path)
                        self.entries.move_to_end(key)
                        while len(self.entries) > self.max_entries:
                            self.entries.popitem(last=False)
            await send(message)

        await self.app(scope, receive, capture)
