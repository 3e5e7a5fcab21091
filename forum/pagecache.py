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

import asyncio
import functools
import gzip
import hashlib
import math
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any

import anyio.to_thread
from sqlalchemy import event, select, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker
from starlette.requests import cookie_parser

from forum import auth, observability
from forum.i18n import preferred_locales
from forum.models import ContentGeneration

FORMAT = r"(?:\.rss|\.json)?"
CACHEABLE = re.compile(rf"^/(?:|latest{FORMAT}|categories(?:\.json)?|posts\.rss|c/[^/]+/\d+{FORMAT}|t/\d+{FORMAT}"
                       rf"|t/[^/]+/\d+(?:/\d+)?{FORMAT})$")
TOPIC_PATH = re.compile(r"^/t/[^/]+/(\d+)(?:/\d+)?$")  # a topic page, whose views count
PAGE_QUERY = re.compile(rb"^(?:page=\d{1,6})?$")
ALLOWED_COOKIES = {auth.ANON_CSRF_COOKIE, auth.JS_COOKIE, auth.LOCALE_COOKIE}
# An upsert, so that a database whose row went missing (emptied by hand) keeps counting.
BUMP = text("INSERT INTO content_generation (id, value) VALUES (1, 1) "
            "ON CONFLICT (id) DO UPDATE SET value = content_generation.value + 1")
QUIET = "forum_quiet"
WROTE = "forum_wrote"
READERS = "forum_readers"


def _reader_bump(reader: int):
    # A signed-in reader's own generation is the row of their negated id (forum/models/pagecache.py).
    return text(
        "INSERT INTO content_generation (id, value) VALUES (:row, 1) "
        "ON CONFLICT (id) DO UPDATE SET value = content_generation.value + 1").bindparams(row=-int(reader))


# --- the generation counter -------------------------------------------------------------------

def quiet(session: Session, *, reader: int | None = None) -> Session:
    """Mark a write transaction as one that changes nothing a cached page needs at once.

    For frequent bookkeeping only: session clocks, view counts, read positions, drafts. Visitors'
    pages catch up with those within `anon_cache_seconds`. `reader`: the person whose own pages it
    changes (their read positions, their drafts): the pages kept for them are dropped at once.
    """
    session.info[QUIET] = True
    if reader is not None:
        session.info.setdefault(READERS, set()).add(reader)
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
    if not wrote:
        return
    if not session.info.get(QUIET):
        session.execute(BUMP)  # everyone's pages
        return
    for reader in sorted(session.info.get(READERS, ())):
        session.execute(_reader_bump(reader))


def _reset(session: Session, transaction) -> None:
    if transaction.parent is None:  # the outermost transaction ended (commit or rollback)
        session.info.pop(QUIET, None)
        session.info.pop(WROTE, None)
        session.info.pop(READERS, None)


def track_writes(factory: sessionmaker) -> None:
    """Make every session of this factory bump the generation when it commits a change."""
    event.listen(factory, "do_orm_execute", _note_write)
    event.listen(factory, "after_flush", _note_flush)
    event.listen(factory, "before_commit", _bump_before_commit)
    event.listen(factory, "after_transaction_end", _reset)


# --- the cache --------------------------------------------------------------------------------

@dataclass
class Entry:
    """One rendered answer, with its compressed forms made once, when first asked for."""

    generation: int
    stored_at: float
    status: int
    headers: list[tuple[bytes, bytes]]  # as rendered, without content-length, etag or vary
    body: bytes
    etag: str  # the identity body's tag, without quotes
    last_modified: str | None = None
    vary: bytes = b"Accept-Encoding"
    encoded: dict[str, tuple[list[tuple[bytes, bytes]], bytes]] = field(default_factory=dict)
    until: float = math.inf  # epoch seconds after which it is not shown (a reader's session, view window)

    @property
    def size(self) -> int:
        return len(self.body) + sum(len(body) for coding, (_headers, body) in self.encoded.items() if coding)

    def variant(self, encoding: str) -> tuple[list[tuple[bytes, bytes]], bytes]:
        """The headers and body to send for one content coding ("" for none)."""
        made = self.encoded.get(encoding)
        if made is None:
            body = _compress(self.body, encoding) if encoding else self.body
            tag = self.etag + (f"-{encoding}" if encoding else "")
            headers = [*self.headers, (b"content-length", str(len(body)).encode()),
                       (b"etag", f'"{tag}"'.encode()), (b"vary", self.vary)]
            if encoding:
                headers.append((b"content-encoding", encoding.encode()))
            made = self.encoded[encoding] = (headers, body)
        return made


DROPPED = {b"content-length", b"etag", b"vary", b"content-encoding"}


def _compress(body: bytes, encoding: str) -> bytes:
    if encoding == "br":
        import brotli

        return brotli.compress(body, quality=5)
    return gzip.compress(body, compresslevel=6, mtime=0)


def accepted_encoding(value: str) -> str:
    """The best content coding this cache offers among those an Accept-Encoding header allows
    ("*" stands for the codings it does not name; q=0 refuses)."""
    weights: dict[str, float] = {}
    for part in value.split(","):
        name, _sep, params = part.strip().partition(";")
        weight = 1.0
        for param in params.split(";"):
            key, _eq, number = param.strip().partition("=")
            if key == "q":
                try:
                    weight = float(number)
                except ValueError:
                    weight = 0.0
        if name.strip():
            weights[name.strip().lower()] = weight
    for coding in ("br", "gzip"):
        if weights.get(coding, weights.get("*", 0.0)) > 0:
            return coding
    return ""


class PageStore:
    """A least-recently-used store of rendered answers, bounded by count and by bytes, shared by a
    process's threads."""

    def __init__(self, max_entries: int = 1000, max_bytes: int = 32 * 1024 * 1024):
        self.max_entries, self.max_bytes = max_entries, max_bytes  # bytes: of entries with a size
        self.entries: OrderedDict[tuple, Entry] = OrderedDict()
        self.bytes = 0
        self.lock = threading.Lock()

    def get(self, key: tuple) -> Entry | None:
        with self.lock:
            entry = self.entries.get(key)
            if entry is not None:
                self.entries.move_to_end(key)
            return entry

    def put(self, key: tuple, entry: Entry) -> None:
        with self.lock:
            old = self.entries.pop(key, None)
            if old is not None:
                self.bytes -= _size(old)
            self.entries[key] = entry
            self.bytes += _size(entry)
            self._trim()

    def grew(self, key: tuple, entry: Entry, by: int) -> None:
        """An entry kept a compressed form too."""
        with self.lock:
            if self.entries.get(key) is entry:
                self.bytes += by
                self._trim()

    def _trim(self) -> None:
        while self.entries and (len(self.entries) > self.max_entries or self.bytes > self.max_bytes):
            _key, dropped = self.entries.popitem(last=False)
            self.bytes -= _size(dropped)


def _size(entry) -> int:
    return getattr(entry, "size", 0)


class ViewMemo:
    """When each (topic, address) last counted view's window ends, as the shared marks said.

    A visitor reloading a cached topic page within the window is known here, so the hit asks
    neither the database nor Redis; once the window has ended, the shared mark decides again.
    """

    def __init__(self, max_entries: int = 50_000):
        self.max_entries = max_entries
        self.ends: OrderedDict[tuple[int, str], float] = OrderedDict()
        self.lock = threading.Lock()

    def known(self, key: tuple[int, str], now: float) -> bool:
        with self.lock:
            end = self.ends.get(key)
            return end is not None and end > now

    def remember(self, key: tuple[int, str], end: float | None) -> None:
        if end is None:
            return
        with self.lock:
            self.ends[key] = end
            self.ends.move_to_end(key)
            while len(self.ends) > self.max_entries:
                self.ends.popitem(last=False)


class GenerationReads:
    """Reads of a generation (the content's; or the content's and one reader's) for many waiting
    requests at once, each read begun after every request it answers had arrived (so no answer is
    older than its request)."""

    def __init__(self, read: Callable[[], Awaitable[Any]]):
        self.read = read
        self.loop: asyncio.AbstractEventLoop | None = None
        self.waiting: asyncio.Future | None = None
        self.running: asyncio.Task | None = None

    async def current(self) -> Any:
        loop = asyncio.get_running_loop()
        if self.loop is not loop:  # a new event loop (tests start one per client): nothing carries over
            self.loop, self.waiting, self.running = loop, None, None
        if self.waiting is None:
            self.waiting = loop.create_future()
            self.waiting.add_done_callback(_consume)
            previous, self.running = self.running, None
            self.running = asyncio.ensure_future(self._read_after(previous, self.waiting))
        return await asyncio.shield(self.waiting)

    async def _read_after(self, previous: asyncio.Task | None, answer: asyncio.Future) -> None:
        if previous is not None:
            await asyncio.wait([previous])
        self.waiting = None  # from here on, a newcomer waits for the next read
        try:
            answer.set_result(await self.read())
        except BaseException as e:  # noqa: BLE001 - handed to every waiting request
            answer.set_exception(e)


def _consume(future: asyncio.Future) -> None:
    if not future.cancelled():
        future.exception()  # a read nobody waited for any more is not an unretrieved error


def _header_values(headers) -> dict[bytes, str]:
    """The first value of each header this cache looks at: the one the app reads (Starlette's
    `headers.get`), so that the key describes the page the app renders."""
    found: dict[bytes, str] = {}
    for name, value in headers:
        if name in WANTED_HEADERS and name not in found:
            found[name] = value.decode("latin-1")
    return found


WANTED_HEADERS = {b"cookie", b"accept-language", b"accept", b"accept-encoding", b"api-key", b"user-api-key",
                  b"authorization", b"api-username", b"api-user-id", b"discourse-track-view", b"if-none-match",
                  b"if-modified-since", b"cache-control", b"x-requested-with"}
REFUSED_HEADERS = (b"api-key", b"user-api-key", b"authorization", b"api-username", b"api-user-id",
                   b"discourse-track-view")


def _may_share(scope, found: dict[bytes, str]) -> bool:
    """Whether a request is for a page these caches keep (an address of theirs, no query but the
    page number) and carries no API credentials (answered for their holder, every time)."""
    return bool(CACHEABLE.match(scope["path"]) and PAGE_QUERY.match(scope.get("query_string", b""))
                and not any(name in found for name in REFUSED_HEADERS))


class AnonymousPageCache:
    """ASGI middleware answering anonymous page views from the cache (see the module docstring)."""

    def __init__(self, app, *, db, settings, locales: Callable[[], tuple[str, ...]], limiter):
        self.app = app
        self.db = db
        self.settings = settings
        self.locales = locales
        self.limiter = limiter
        self.ttl = settings.anon_cache_seconds
        self.store = PageStore(settings.anon_cache_entries, int(settings.anon_cache_megabytes * 1024 * 1024))
        self.views = ViewMemo()
        self.rendering: dict[tuple, asyncio.Future] = {}
        # On a SQLite file the generation is a few microseconds' read: asked on the event loop.
        # Over a network, concurrent requests share reads made on the loop's own connection.
        self.in_loop = db.reads_in_process
        self.reads = GenerationReads(db.generation_async)
        self.hits = observability.CACHE.labels("anonymous pages", "hit")
        self.misses = observability.CACHE.labels("anonymous pages", "miss")

    def _key(self, scope, found: dict[bytes, str]) -> tuple | None:
        path = scope["path"]
        if not _may_share(scope, found):
            return None
        cookies = cookie_parser(found.get(b"cookie", ""))  # as the app parses them
        if not cookies.keys() <= ALLOWED_COOKIES:
            return None  # signed in (or anything else that could change the page)
        if not path.endswith((".json", ".rss")) and "application/json" in found.get(b"accept", ""):
            return None
        installed = self.locales()
        locale_cookie = cookies.get(auth.LOCALE_COOKIE)
        # The page's language follows from these and the site's languages (a change of which is a
        # write, so it drops every cached page): the switcher's choice, then the browser's wishes.
        return (path, scope.get("query_string", b""), locale_cookie if locale_cookie in installed else None,
                preferred_locales(found.get(b"accept-language"), installed))

    async def _generation(self) -> int:
        if self.in_loop:
            return self.db.generation()
        return await self.reads.current()

    def _count_view(self, topic_id: int, client: str) -> float | None:
        with self.db.read() as session:
            return count_anonymous_view(self.db, session, topic_id, client, self.limiter)

    async def __call__(self, scope, receive, send):
        if self.ttl <= 0 or scope["type"] != "http" or scope["method"] not in ("GET", "HEAD"):
            return await self.app(scope, receive, send)
        found = _header_values(scope.get("headers", []))
        key = self._key(scope, found)
        if key is None:
            return await self.app(scope, receive, send)
        try:
            generation = await self._generation()
        except OperationalError:
            # A busy or lost database: the page itself answers (503 with Retry-After if it persists).
            return await self.app(scope, receive, send)
        entry = self.store.get(key)
        now = time.monotonic()
        if entry is not None and (now - entry.stored_at >= self.ttl or entry.generation != generation):
            entry = None
        encoding = accepted_encoding(found.get(b"accept-encoding", ""))
        if entry is None:
            entry = await self._rendered_meanwhile(key, generation)
        if entry is None:
            self.misses.inc()
            return await self._render(scope, receive, send, key, generation, encoding)
        self.hits.inc()
        observability.note_request(scope, route="(anonymous page cache)")
        await self._answer(scope, send, key, entry, encoding, found, now)
        match = TOPIC_PATH.match(scope["path"])
        if match is not None:  # counted once the visitor has the page
            await self._view(int(match.group(1)), (scope.get("client") or ("unknown", 0))[0])

    async def _view(self, topic_id: int, client: str) -> None:
        seen = (topic_id, client)
        if self.views.known(seen, time.time()):
            return
        try:
            self.views.remember(seen, await anyio.to_thread.run_sync(self._count_view, topic_id, client))
        except OperationalError:
            pass  # a busy database may drop a view, never a page

    async def _answer(self, scope, send, key: tuple, entry: Entry, encoding: str, found: dict[bytes, str],
                      now: float) -> None:
        before = entry.size
        headers, body = entry.variant(encoding)
        if entry.size != before:
            self.store.grew(key, entry, entry.size - before)
        age = (b"age", str(max(0, int(now - entry.stored_at))).encode())
        if _not_modified(found, headers, entry):
            kept = [(k, v) for k, v in headers if k not in (b"content-length", b"content-type")]
            await send({"type": "http.response.start", "status": 304, "headers": [*kept, age]})
            await send({"type": "http.response.body", "body": b""})
            return
        await send({"type": "http.response.start", "status": entry.status, "headers": [*headers, age]})
        await send({"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else body})

    async def _rendered_meanwhile(self, key: tuple, generation: int) -> Entry | None:
        """The entry another request is rendering at this generation, once it is done: many
        visitors arriving together after a change cost one rendering, not one each."""
        pending = self.rendering.get((key, generation))
        if pending is None or pending.get_loop() is not asyncio.get_running_loop():
            return None
        await asyncio.shield(pending)
        entry = self.store.get(key)
        return entry if entry is not None and entry.generation == generation else None

    async def _render(self, scope, receive, send, key: tuple, generation: int, encoding: str) -> None:
        """Render through the app, without compression (this layer compresses what it keeps), and
        keep a storable answer. Requests for the same page at the same generation wait for it (a
        HEAD request, which stores nothing, is rendered on its own)."""
        done = asyncio.get_running_loop().create_future()
        if scope["method"] == "GET":
            self.rendering[(key, generation)] = done
        try:
            await self._render_once(scope, receive, send, key, generation, encoding, done)
        finally:
            if self.rendering.get((key, generation)) is done:
                del self.rendering[(key, generation)]
            if not done.done():
                done.set_result(None)

    async def _render_once(self, scope, receive, send, key: tuple, generation: int, encoding: str,
                           done: asyncio.Future) -> None:
        scope = dict(scope)
        scope["headers"] = [(k, v) for k, v in scope.get("headers", [])
                            if k not in (b"accept-encoding", b"if-none-match", b"if-modified-since")]
        scope["state"] = state = dict(scope.get("state") or {})
        self._rendering_for(state)
        started: dict = {}
        chunks: list[bytes] = []

        async def capture(message):
            # The whole answer is gathered first: what is kept is sent in the form the client asked.
            if message["type"] == "http.response.start":
                started.update(message)
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        await self.app(scope, receive, capture)
        if not started:
            return
        body = b"".join(chunks)
        until = self._keep_until(key, state)
        if scope["method"] == "GET" and self._storable(started) and until > time.time():
            entry = _entry(generation, started, body)
            entry.until = until
            headers, sent = entry.variant(encoding)
            self.store.put(key, entry)  # with the form just made, so the bytes it holds are counted
            done.set_result(None)  # the others may answer now, whatever this client's connection does
            await send({"type": "http.response.start", "status": entry.status, "headers": headers})
            await send({"type": "http.response.body", "body": sent})
            return
        await send(started)
        await send({"type": "http.response.body", "body": body})

    def _rendering_for(self, state: dict) -> None:
        state["shared_page"] = True  # rendered for every visitor: no visitor's form token on it

    def _keep_until(self, key: tuple, state: dict) -> float:
        return math.inf

    @staticmethod
    def _storable(started: dict) -> bool:
        if started.get("status") != 200:
            return False
        for name, value in started.get("headers", []):
            if name == b"set-cookie" or name == b"content-encoding":
                return False
            if name == b"content-type" and not value.startswith(STORABLE_TYPES):
                return False
        return True


STORABLE_TYPES = (b"text/html", b"application/json", b"application/rss+xml")


# --- a signed-in reader's own pages -----------------------------------------------------------

NOTE = "reader_note"  # a dict the reader cache puts in the request's state, filled in by the app


def note_reader(scope, user_id: int, session_ends: float) -> None:
    """Said by the request's viewer lookup: the page is rendered for this account, whose session
    counts until `session_ends` (epoch seconds)."""
    note = (scope.get("state") or {}).get(NOTE)
    if note is not None:
        note["reader"] = user_id
        keep_until(scope, session_ends)


def keep_until(scope, ends: float | None) -> None:
    """A page rendered for a signed-in reader is not shown from the cache after `ends` (None:
    never kept)."""
    note = (scope.get("state") or {}).get(NOTE)
    if note is not None:
        note["until"] = min(note.get("until", math.inf), ends if ends is not None else 0.0)


class ReaderPageCache(AnonymousPageCache):
    """ASGI middleware answering a signed-in reader's repeated views of the same pages (topics,
    lists, categories, and their `.json`) from a cache kept per session.

    Exact as the visitors' cache is, with one more generation: every committed change moves the
    content generation; the reader's own bookkeeping, quiet for everyone else (their read positions,
    their drafts), moves their own (`quiet(session, reader=…)`). A page is answered from the cache
    only while both are what it was rendered at, for at most `reader_cache_seconds`, and never
    after the session's or the current view's end. A log-out, a suspension, a tier change or a
    permission change is a committed change. The first request of a session renders and learns
    whose it is; nothing is kept until then.
    """

    def __init__(self, app, *, db, settings, locales: Callable[[], tuple[str, ...]], limiter):
        super().__init__(app, db=db, settings=settings, locales=locales, limiter=limiter)
        self.ttl = settings.reader_cache_seconds
        self.store = PageStore(settings.reader_cache_entries, int(settings.reader_cache_megabytes * 1024 * 1024))
        self.readers: OrderedDict[str, int] = OrderedDict()  # session cookie -> account (it never changes)
        # Over a network, one reader's concurrent requests (several tabs, a page and its fetches)
        # share reads of their generations, as visitors share reads of the content generation.
        self.reader_reads: OrderedDict[int, GenerationReads] = OrderedDict()
        self.hits = observability.CACHE.labels("signed-in pages", "hit")
        self.misses = observability.CACHE.labels("signed-in pages", "miss")

    def _key(self, scope, found: dict[bytes, str]) -> tuple | None:
        if not _may_share(scope, found):
            return None
        cookie = found.get(b"cookie", "")
        cookies = cookie_parser(cookie)
        token = cookies.get(auth.SESSION_COOKIE)
        if not token or not cookies.keys() <= READER_COOKIES:
            return None
        # Everything else that could shape the page is in the key as sent.
        return (token, scope["path"], scope.get("query_string", b""), cookie, found.get(b"accept-language"),
                found.get(b"accept"), found.get(b"x-requested-with"))

    def _remember(self, token: str, user_id: int) -> None:
        self.readers[token] = user_id
        self.readers.move_to_end(token)
        while len(self.readers) > self.store.max_entries:
            self.readers.popitem(last=False)

    async def __call__(self, scope, receive, send):
        if self.ttl <= 0 or scope["type"] != "http" or scope["method"] != "GET":
            return await self.app(scope, receive, send)
        found = _header_values(scope.get("headers", []))
        key = self._key(scope, found)
        if key is None:
            return await self.app(scope, receive, send)
        user_id = self.readers.get(key[0])
        if user_id is None:
            return await self._learn(scope, receive, send, key[0])
        try:
            generation = self.db.generations(user_id) if self.in_loop else await self._reads_for(user_id).current()
        except OperationalError:
            return await self.app(scope, receive, send)
        # A reload, or a script fetching what just changed, asks for the page afresh (and keeps it):
        # other people's quiet changes (a first visit in "seen by", views) reach kept pages only
        # after `reader_cache_seconds`.
        entry = None if _wants_fresh(found.get(b"cache-control", "")) else self.store.get(key)
        now = time.monotonic()
        if entry is not None and (now - entry.stored_at >= self.ttl or entry.generation != generation
                                  or time.time() >= entry.until):
            entry = None
        encoding = accepted_encoding(found.get(b"accept-encoding", ""))
        if entry is None:
            self.misses.inc()
            return await self._render(scope, receive, send, key, generation, encoding)
        self.hits.inc()
        observability.note_request(scope, route="(signed-in page cache)", user_id=user_id)
        await self._answer(scope, send, key, entry, encoding, found, now)

    def _reads_for(self, user_id: int) -> GenerationReads:
        reads = self.reader_reads.get(user_id)
        if reads is None:
            reads = self.reader_reads[user_id] = GenerationReads(functools.partial(self.db.generations_async, user_id))
            while len(self.reader_reads) > self.store.max_entries:
                self.reader_reads.popitem(last=False)
        else:
            self.reader_reads.move_to_end(user_id)
        return reads

    async def _learn(self, scope, receive, send, token: str) -> None:
        """The first request of a session in this process: rendered as usual, and whose it is noted."""
        note: dict = {}
        await self.app(dict(scope, state={**(scope.get("state") or {}), NOTE: note}), receive, send)
        if isinstance(note.get("reader"), int):
            self._remember(token, note["reader"])

    def _rendering_for(self, state: dict) -> None:
        state.pop("shared_page", None)
        state[NOTE] = {}

    def _keep_until(self, key: tuple, state: dict) -> float:
        # Kept only when rendered for the account this session was known to be (and still is).
        note = state[NOTE]
        if note.get("reader") is None or note.get("reader") != self.readers.get(key[0]):
            return 0.0
        return note.get("until", 0.0)


def _wants_fresh(cache_control: str) -> bool:
    directives = {part.strip().lower() for part in cache_control.split(",")}
    return "no-cache" in directives or "max-age=0" in directives


READER_COOKIES = {auth.SESSION_COOKIE, auth.JS_COOKIE, auth.LOCALE_COOKIE, auth.ANON_CSRF_COOKIE}


def _entry(generation: int, started: dict, body: bytes) -> Entry:
    etag = last_modified = None
    vary = b""
    headers = []
    for name, value in started.get("headers", []):
        if name == b"vary":
            vary = value
        elif name == b"etag":
            etag = value.decode("latin-1").strip().removeprefix("W/").strip('"')
        elif name == b"last-modified":
            last_modified = value.decode("latin-1")
        if name not in DROPPED:
            headers.append((name, value))
    if not etag:
        etag = hashlib.blake2b(body, digest_size=12).hexdigest()
    if b"accept-encoding" not in vary.lower():
        vary = (vary + b", " if vary else b"") + b"Accept-Encoding"
    return Entry(generation, time.monotonic(), started["status"], headers, body, etag, last_modified, vary)


def _not_modified(found: dict[bytes, str], headers, entry: Entry) -> bool:
    etag = next(v for k, v in headers if k == b"etag").decode("latin-1")
    last_modified = None
    if entry.last_modified:
        try:
            last_modified = parsedate_to_datetime(entry.last_modified)
        except (TypeError, ValueError):
            pass
    return not_modified(found.get(b"if-none-match"), found.get(b"if-modified-since"), etag, last_modified)


def not_modified(if_none_match: str | None, if_modified_since: str | None, etag: str, last_modified) -> bool:
    """Whether a conditional GET is answered 304 (RFC 9110: If-None-Match, compared weakly, wins
    when sent). If-Modified-Since matches only the very date given: a feed's newest date goes back
    when its newest post is deleted or a category is closed to the reader, and that is a change too."""
    if if_none_match is not None:
        tags = {t.strip().removeprefix("W/") for t in if_none_match.split(",")}
        return "*" in tags or etag.removeprefix("W/") in tags
    if if_modified_since and last_modified is not None:
        try:
            when = parsedate_to_datetime(if_modified_since)
        except (TypeError, ValueError):
            return False
        if when is None or when.tzinfo is None:
            return False
        return last_modified.replace(microsecond=0) == when
    return False


def count_anonymous_view(db, session: Session, topic_id: int, client: str, limiter) -> float | None:
    """A cached topic page still counts a visitor's view (once per address per window).

    Returns when the visitor's current window ends (epoch seconds), when that is known.
    """
    from forum import tracking
    from forum.ratelimit import redis_errors

    who = f"ip{client}"
    redis = getattr(limiter, "redis", None)
    prefix = getattr(limiter, "prefix", "forum")
    try:
        new, ends = tracking.anonymous_view_window(session, topic_id, who, redis=redis, prefix=prefix)
    except redis_errors(redis) as e:  # Redis went away: the database keeps the view marks meanwhile
        limiter.redis_failed(e)
        redis = None
        new, ends = tracking.anonymous_view_window(session, topic_id, who, redis=None)
    if not new:
        return ends
    try:
        with db.write() as tx:
            counted = tracking.record_anonymous_view(quiet(tx), topic_id, who, redis=redis)
    except OperationalError:
        return None  # a busy database may drop a view, never a page
    return time.time() + tracking.VIEW_WINDOW.total_seconds() if counted else None
