"""What an operator watches: one log line per request and per background job, and Prometheus
metrics at `/metrics`.

Logs: the `forum` loggers write either human-readable lines (in a terminal) or one JSON object per
line (anywhere else, or with `FORUM_LOG_FORMAT=json`). Each request gets an id, taken from the
`X-Request-ID` header when a proxy sent a sensible one, made up otherwise, sent back in the same
header and written in every line about that request. Request lines hold the method, the route's
template (never the query string), the status, the duration and the user id: never passwords,
tokens, cookies or email bodies. Request lines logged on an event loop are formatted and written
together once that turn of the loop is over (one write for all the requests answered in it, a
fraction of a millisecond later); any other line is written at once, after those.

Metrics: counters and histograms kept by each process (with several `forum serve` workers, in
prometheus-client's multiprocess mode, in `PROMETHEUS_MULTIPROC_DIR`, which `forum serve` sets up),
and, read from the database at each scrape, what is the same for every host: the outbox's depth,
the age of its oldest waiting item, failed items, and jobs done in the last hour per kind (emails
among them). `/metrics` answers only to `FORUM_METRICS_ALLOW` addresses (default: this machine) or
to a request carrying `Authorization: Bearer <FORUM_METRICS_TOKEN>`; anyone else gets 404.
"""

from __future__ import annotations

import asyncio
import ipaddress
import itertools
import json
import logging
import os
import re
import sys
import time
from datetime import UTC, datetime, timedelta

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily

LOG_SCOPE = "forum.log"  # a scope entry every layer shares (scopes are copied, this dict is not)
REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
_ids = {"pid": 0, "prefix": "", "count": itertools.count()}


def new_request_id() -> str:
    """Unique across processes and restarts: a random prefix per process, then a counter (far
    cheaper than a random UUID per request)."""
    if _ids["pid"] != os.getpid():
        _ids.update(pid=os.getpid(), prefix=os.urandom(6).hex(), count=itertools.count())
    return f"{_ids['prefix']}{next(_ids['count']):020x}"  # 32 hex digits, as nginx's $request_id
SECRET_FIELDS = {"password", "token", "secret", "cookie", "authorization", "api_key", "body", "raw"}

REQUESTS = Counter("forum_http_requests_total", "HTTP requests answered", ["route", "method", "status"])
LATENCY = Histogram("forum_http_request_duration_seconds", "Time to answer a request", ["route"],
                    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
CACHE = Counter("forum_cache_lookups_total", "Cache lookups in front of routing", ["cache", "result"])
POOL_IN_USE = Gauge("forum_db_pool_connections_in_use", "Database connections checked out of the pool",
                    multiprocess_mode="livesum")
LIVE_STREAMS = Gauge("forum_live_streams", "Open live-update streams (Server-Sent Events)", multiprocess_mode="livesum")
LIVE_DELIVERED = Counter("forum_live_events_delivered_total", "Live-update events sent to open pages")
JOBS = Counter("forum_jobs_total", "Background jobs run by this process", ["kind", "result"])


# --- logs -------------------------------------------------------------------------------------

class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = {"time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
                "level": record.levelname.lower(), "logger": record.name, "message": record.getMessage()}
        for key, value in getattr(record, "fields", {}).items():
            if key not in SECRET_FIELDS:
                line[key] = value
        if record.exc_info:
            line["error"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        fields = getattr(record, "fields", {})
        extra = " ".join(f"{k}={v}" for k, v in fields.items() if k not in SECRET_FIELDS)
        text = f"{datetime.fromtimestamp(record.created).strftime('%H:%M:%S')} {record.levelname:<7} " \
               f"{record.getMessage()}{' ' + extra if extra else ''}"
        if record.exc_info:
            text += "\n" + self.formatException(record.exc_info)
        return text


class LogWriter(logging.StreamHandler):
    """The `forum` loggers' handler. Formatting and writing each request's line while the next
    requests wait cost a cached page about a third of its CPU (`bench/README.md`); the lines of one
    turn of the event loop are formatted and written together when it is over instead. Every other
    line, and any line logged off the loop, is written at once, after the lines still waiting, so
    the order is kept; flush() (and so logging.shutdown(), at exit) writes what waits."""

    def __init__(self, stream):
        super().__init__(stream)
        self._waiting: list[logging.LogRecord] = []
        self._flush_on: asyncio.AbstractEventLoop | None = None

    def emit(self, record: logging.LogRecord) -> None:  # called with self.lock held
        if record.name == REQUEST_LOGGER and record.levelno < logging.WARNING:
            loop = asyncio._get_running_loop()
            if loop is not None:
                self._waiting.append(record)  # its fields are made for it and never change
                if self._flush_on is not loop:
                    self._flush_on = loop
                    loop.call_soon(self.flush)
                return
        self._write_waiting()
        super().emit(record)

    def flush(self) -> None:
        with self.lock:
            self._write_waiting()
            super().flush()

    def _write_waiting(self) -> None:
        self._flush_on = None
        if not self._waiting:
            return
        records, self._waiting = self._waiting, []
        lines = []
        for record in records:
            try:
                lines.append(self.format(record) + self.terminator)
            except Exception:  # noqa: BLE001 - as logging does for one line it cannot format
                self.handleError(record)
        try:
            self.stream.write("".join(lines))
        except Exception:  # noqa: BLE001
            self.handleError(records[-1])


def configure_logging(settings) -> None:
    """One place: the `forum` loggers' handler and format (idempotent)."""
    kind = settings.log_format
    if kind == "auto":
        kind = "text" if sys.stderr.isatty() else "json"
    logger = logging.getLogger("forum")
    for handler in list(logger.handlers):
        if getattr(handler, "_forum", False):
            logger.removeHandler(handler)
    handler = LogWriter(sys.stderr)
    handler._forum = True  # type: ignore[attr-defined]
    handler.setFormatter(JsonFormatter() if kind == "json" else TextFormatter())
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False


REQUEST_LOGGER = "forum.request"
request_log = logging.getLogger(REQUEST_LOGGER)
_request_metrics: dict[tuple, tuple] = {}  # (route, method, status) -> its counter and histogram


class RequestLog:
    """The outermost layer: gives each request its id, counts and times it, and logs one line."""

    def __init__(self, app, *, enabled: bool = True):
        self.app, self.enabled = app, enabled

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        given = next((v.decode("latin-1") for k, v in scope.get("headers", []) if k == b"x-request-id"), "")
        request_id = given if REQUEST_ID.match(given) else new_request_id()
        note: dict = {"request_id": request_id}
        scope[LOG_SCOPE] = note
        started = time.perf_counter()
        status = {"code": 500, "noted": False}

        def finish():
            # Counted before the last byte leaves, so a client that has its answer finds it in /metrics.
            if status["noted"]:
                return
            status["noted"] = True
            duration = time.perf_counter() - started
            route = note.get("route") or "unrouted"
            counted = (route, scope["method"], status["code"])
            metrics = _request_metrics.get(counted)
            if metrics is None:  # one pair per route template, method and status: a bounded set
                metrics = _request_metrics[counted] = (REQUESTS.labels(route, scope["method"], str(status["code"])),
                                                       LATENCY.labels(route))
            metrics[0].inc()
            metrics[1].observe(duration)
            if self.enabled and route != "/live":
                request_log.info("%s %s %s", scope["method"], route, status["code"], extra={"fields": {
                    "request_id": request_id, "method": scope["method"], "route": route, "status": status["code"],
                    "duration_ms": round(duration * 1000, 2), "user_id": note.get("user_id")}})

        async def send_noting(message):
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                message["headers"] = [*message.get("headers", []), (b"x-request-id", request_id.encode())]
            elif message["type"] == "http.response.body" and not message.get("more_body", False):
                finish()
            await send(message)

        try:
            await self.app(scope, receive, send_noting)
        finally:
            finish()


class RouteNote:
    """In front of one route's handler: the request's log line and metrics name the route's template
    (`/t/{slug}/{topic_id}`), not its address."""

    def __init__(self, app, template: str):
        self.app, self.template = app, template

    async def __call__(self, scope, receive, send):
        note_request(scope, route=self.template)
        await self.app(scope, receive, send)


def note_request(scope, **fields) -> None:
    """Add to what the request's log line says (its route template, its user)."""
    note = scope.get(LOG_SCOPE)
    if note is not None:
        note.update(fields)


# --- metrics ----------------------------------------------------------------------------------

def watch_pool(engine) -> None:
    from sqlalchemy import event

    event.listen(engine, "checkout", lambda *_a: POOL_IN_USE.inc())
    event.listen(engine, "checkin", lambda *_a: POOL_IN_USE.dec())


class OutboxCollector:
    """What the outbox holds, read from the database at each scrape: the same from every host."""

    def __init__(self, db):
        self.db = db

    def collect(self):
        from sqlalchemy import func, select

        from forum.models import OutboxItem

        pending = GaugeMetricFamily("forum_outbox_pending", "Background items waiting", labels=["kind"])
        failed = GaugeMetricFamily("forum_outbox_failed", "Background items given up on", labels=["kind"])
        done = GaugeMetricFamily("forum_outbox_done_last_hour", "Background items done in the last hour (emails "
                                 "are kind 'email')", labels=["kind"])
        oldest = GaugeMetricFamily("forum_outbox_oldest_pending_seconds", "Age of the oldest waiting item")
        now = datetime.now(UTC)
        with self.db.read() as session:
            waiting = (OutboxItem.done_at.is_(None), OutboxItem.failed_at.is_(None))
            for kind, n in session.execute(select(OutboxItem.kind, func.count()).where(*waiting)
                                           .group_by(OutboxItem.kind)):
                pending.add_metric([kind], n)
            for kind, n in session.execute(select(OutboxItem.kind, func.count())
                                           .where(OutboxItem.failed_at.is_not(None)).group_by(OutboxItem.kind)):
                failed.add_metric([kind], n)
            for kind, n in session.execute(select(OutboxItem.kind, func.count())
                                           .where(OutboxItem.done_at >= now - timedelta(hours=1))
                                           .group_by(OutboxItem.kind)):
                done.add_metric([kind], n)
            first = session.scalar(select(func.min(OutboxItem.available_at)).where(
                *waiting, OutboxItem.available_at <= now))
        if first is not None:
            first = first if first.tzinfo else first.replace(tzinfo=UTC)
        oldest.add_metric([], max((now - first).total_seconds(), 0) if first is not None else 0)
        yield from (pending, failed, done, oldest)


def metrics_allowed(settings, client_host: str | None, authorization: str | None) -> bool:
    token = settings.metrics_token
    if token and authorization == f"Bearer {token}":
        return True
    if not client_host:
        return False
    try:
        address = ipaddress.ip_address(client_host)
    except ValueError:
        return False
    for allowed in (a.strip() for a in settings.metrics_allow.split(",") if a.strip()):
        try:
            if address in ipaddress.ip_network(allowed, strict=False):
                return True
        except ValueError:
            continue
    return False


def exposition(db) -> tuple[bytes, str]:
    """The metrics text: this process's (or, in multiprocess mode, every worker's) and the outbox's."""
    from prometheus_client import REGISTRY

    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        own = generate_latest(registry)
    else:
        own = generate_latest(REGISTRY)
    outbox = CollectorRegistry()
    outbox.register(OutboxCollector(db))
    return own + generate_latest(outbox), CONTENT_TYPE_LATEST
