"""A cache of the pages anonymous visitors read most: /latest, /categories, category and topic pages.

Every visitor without an account sees the same page for the same address and language, so the
rendered HTML is kept per process and answered without routing, permission checks, queries or
templates. Two things keep it correct:

* Generation. Every committed write transaction bumps one counter in the database (the
  `content_generation` row), unless the transaction is marked quiet (see `quiet()`). Each request
  reads the counter first, one primary-key lookup, and a cached page rendered at an older value is
  thrown away. A change made by any process (a new reply, a category's viewing levels, a
  moderator's action) therefore shows at once on every process.
* Age. A page is also re-rendered after `anon_cache_seconds`, so relative times ("3 minutes ago"),
  view counts and "seen by" figures, which change through quiet writes, stay close to the truth.

Only GET/HEAD requests without an account session, whose query string is empty or `page=N`, and
whose answer is a 200 HTML page, are cached. Such pages are rendered without a visitor's CSRF token
(anonymous visitors have no forms on them), and a cache hit on a topic page still counts the view.
"""

from __future__ import annotations

import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

import anyio.to_thread
from sqlalchemy import event, select, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from forum import auth, observability
from forum.i18n import preferred_locales
from forum.models import ContentGeneration

CACHEABLE = re.compile(r"^/(?:|latest|categories|c/[^/]+/\d+|t/[^/]+/\d+(?:/\d+)?)$")
TOPIC_PATH = re.compile(r"^/t/[^/]+/(\d+)")
PAGE_QUERY = re.compile(rb"^(?:page=\d{1,6})?$")
ALLOWED_COOKIES = {auth.ANON_CSRF_COOKIE, auth.JS_COOKIE, auth.LOCALE_COOKIE}
# An upsert, so that a database whose row went missing (emptied by hand) keeps counting.
BUMP = text("INSERT INTO content_generation (id, value) VALUES (1, 1) "
            "ON CONFLICT (id) DO UPDATE SET value = content_generation.value + 1")
QUIET = "forum_quiet"
WROTE = "forum_wrote"


# --- the generation counter -------------------------------------------------------------------

def quiet(session: Session) -> Session:
    """Mark a write transaction as one that changes nothing a cached page needs at once.

    For frequent bookkeeping only: session clocks, view counts, read positions. Pages catch up
    with those within `anon_cache_seconds`.
    """
    session.info[QUIET] = True
    return session


def current_generation(session: Session) -> int:
    return session.scalar(select(ContentGeneration.value).where(ContentGeneration.id == 1)) or 0


def _note_write(orm_execute_state) -> None:
    if orm_execute_state.is_insert or orm_execute_state.is_update or orm_execute_state.is_delete:
        orm_execute_state.session.info[WROTE] = True


def _note_flush(session: Session, _flush_context) -> None:
    session.info[WROTE] = True


def _bump_before_commit(session: Session) -> None:
    if session.in_nested_transaction():
        return  # a savepoint: the outer transaction decides
    wrote = session.info.get(WROTE) or session.new or session.dirty or session.deleted
    if wrote and not session.info.get(QUIET):
        session.execute(BUMP)


def _reset(session: Session, transaction) -> None:
    if transaction.parent is None:  # the outermost transaction ended (commit or rollback)
        session.info.pop(QUIET, None)
        session.info.pop(WROTE, None)


def track_writes(factory: sessionmaker) -> None:
    """Make every session of this factory bump the generation when it commits a change."""
    event.listen(factory, "do_orm_execute", _note_write)
    event.listen(factory, "after_flush", _note_flush)
    event.listen(factory, "before_commit", _bump_before_commit)
    event.listen(factory, "after_transaction_end", _reset)


# --- the cache --------------------------------------------------------------------------------

@dataclass
class Entry:
    generation: int
    stored_at: float
    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes


class PageStore:
    """A bounded LRU of rendered pages, shared by a process's threads."""

    def __init__(self, max_entries: int = 1000):
        self.max_entries = max_entries
        self.entries: OrderedDict[tuple, Entry] = OrderedDict()
        self.lock = threading.Lock()

    def get(self, key: tuple) -> Entry | None:
        with self.lock:
            entry = self.entries.get(key)
            if entry is not None:
                self.entries.move_to_end(key)
            return entry

    def put(self, key: tuple, entry: Entry) -> None:
        with self.lock:
            self.entries[key] = entry
            self.entries.move_to_end(key)
            while len(self.entries) > self.max_entries:
                self.entries.popitem(last=False)


def _cookies(headers: list[tuple[bytes, bytes]]) -> set[str]:
    names: set[str] = set()
    for name, value in headers:
        if name == b"cookie":
            for part in value.decode("latin-1").split(";"):
                cookie = part.strip().split("=", 1)[0]
                if cookie:
                    names.add(cookie)
    return names


def _cookie_value(headers: list[tuple[bytes, bytes]], wanted: str) -> str | None:
    for name, value in headers:
        if name == b"cookie":
            for part in value.decode("latin-1").split(";"):
                key, _sep, found = part.strip().partition("=")
                if key == wanted:
                    return found.strip()
    return None


class AnonymousPageCache:
    """ASGI middleware answering anonymous page views from the cache (see the module docstring)."""

    def __init__(self, app, *, db, settings, locales: Callable[[], tuple[str, ...]], limiter):
        self.app = app
        self.db = db
        self.settings = settings
        self.locales = locales
        self.limiter = limiter
        self.ttl = settings.anon_cache_seconds
        self.store = PageStore(settings.anon_cache_entries)

    def _key(self, scope) -> tuple | None:
        if self.ttl <= 0 or scope["type"] != "http" or scope["method"] not in ("GET", "HEAD"):
            return None
        path = scope["path"]
        if not CACHEABLE.match(path) or not PAGE_QUERY.match(scope.get("query_string", b"")):
            return None
        headers = scope.get("headers", [])
        if not _cookies(headers) <= ALLOWED_COOKIES:
            return None  # signed in (or anything else that could change the page)
        accept_language = None
        for name, value in headers:
            if name == b"accept-language":
                accept_language = value.decode("latin-1")
            elif name == b"accept" and b"application/json" in value:
                return None
            elif name in (b"api-key", b"user-api-key", b"authorization"):
                return None
        installed = self.locales()
        locale_cookie = _cookie_value(headers, auth.LOCALE_COOKIE)
        # The page's language follows from these and the site's languages (a change of which is a
        # write, so it drops every cached page): the switcher's choice, then the browser's wishes.
        return (path, scope.get("query_string", b""), locale_cookie if locale_cookie in installed else None,
                preferred_locales(accept_language, installed))

    def _generation_and_view(self, path: str, client: str, cached_generation: int) -> int:
        with self.db.read() as session:
            generation = current_generation(session)
            match = TOPIC_PATH.match(path)
            if generation == cached_generation and match is not None:
                count_anonymous_view(self.db, session, int(match.group(1)), client, self.limiter)
            return generation

    async def __call__(self, scope, receive, send):
        key = self._key(scope)
        if key is None:
            return await self.app(scope, receive, send)
        entry = self.store.get(key)
        now = time.monotonic()
        fresh = entry is not None and now - entry.stored_at < self.ttl
        generation = None
        try:
            if fresh:
                client = scope.get("client") or ("unknown", 0)
                generation = await anyio.to_thread.run_sync(self._generation_and_view, scope["path"], client[0],
                                                            entry.generation)
            if generation is None:
                generation = await anyio.to_thread.run_sync(self._read_generation)
        except OperationalError:
            # A busy or lost database: the page itself answers (503 with Retry-After if it persists).
            return await self.app(scope, receive, send)
        hit = entry is not None and fresh and generation == entry.generation
        observability.CACHE.labels("anonymous pages", "hit" if hit else "miss").inc()
        if hit:
            observability.note_request(scope, route="(anonymous page cache)")
            await send({"type": "http.response.start", "status": entry.status,
                        "headers": entry.headers + [(b"age", str(int(now - entry.stored_at)).encode())]})
            await send({"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else entry.body})
            return
        scope.setdefault("state", {})["shared_page"] = True
        started: dict = {}
        chunks: list[bytes] = []

        async def capture(message):
            if message["type"] == "http.response.start":
                started.update(message)
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
                if not message.get("more_body") and scope["method"] == "GET" and self._storable(started):
                    self.store.put(key, Entry(generation, time.monotonic(), started["status"],
                                              list(started.get("headers", [])), b"".join(chunks)))
            await send(message)

        await self.app(scope, receive, capture)

    def _read_generation(self) -> int:
        return self.db.generation()

    @staticmethod
    def _storable(started: dict) -> bool:
        if started.get("status") != 200:
            return False
        for name, value in started.get("headers", []):
            if name == b"set-cookie":
                return False
            if name == b"content-type" and not value.startswith(b"text/html"):
                return False
        return True


def count_anonymous_view(db, session: Session, topic_id: int, client: str, limiter) -> None:
    """A cached topic page still counts a visitor's view (once per address per window)."""
    from redis.exceptions import RedisError
    from sqlalchemy.exc import OperationalError

    from forum import tracking

    who = f"ip{client}"
    redis = getattr(limiter, "redis", None)
    try:
        new = tracking.anonymous_view_is_new(session, topic_id, who, redis=redis,
                                             prefix=getattr(limiter, "prefix", "forum"))
    except RedisError as e:  # Redis went away: the database keeps the view marks meanwhile
        limiter.redis_failed(e)
        redis = None
        new = tracking.anonymous_view_is_new(session, topic_id, who, redis=None)
    if not new:
        return
    try:
        with db.write() as tx:
            tracking.record_anonymous_view(quiet(tx), topic_id, who, redis=redis)
    except OperationalError:
        pass  # a busy database may drop a view, never a page
