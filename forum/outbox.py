"""The durable outbox: background work written in the same transaction as the change that causes it.

`enqueue()` adds an item inside the caller's transaction, so an email is queued if and only if the
post that triggers it is saved. Workers claim due items with a lease (PostgreSQL: FOR UPDATE SKIP
LOCKED, so several `forum worker` processes share the queue; SQLite: the write lock), run the
handler registered for the item's kind, and mark it done. An item whose worker died is claimed
again when its lease (`outbox_lease_seconds`) runs out; failures are retried with backoff, then
parked as failed.

A claim is fenced by the item's attempt count: a worker whose lease ran out while the item waited
in its batch finds that another worker claimed it since, and leaves it alone, so a slow batch
cannot send an email twice.

Periodic tasks (`periodic()`) run on the worker's tick, before each drain: work that is due by the
clock rather than by an event (digests, in each recipient's own time zone) is queued from there.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from forum import observability, pagecache
from forum.config import Settings
from forum.db import Database
from forum.models import OutboxItem, utcnow

log = logging.getLogger("forum.outbox")


@dataclass
class JobContext:
    db: Database
    settings: Settings
    item_id: int


Handler = Callable[[dict[str, Any], JobContext], None]
HANDLERS: dict[str, Handler] = {}
Periodic = Callable[[Database, Settings, datetime], None]
# Seconds between runs: a number, or read from the settings (an operator's choice).
Every = float | Callable[[Settings], float]
# name -> (seconds between runs, task)
PERIODIC: dict[str, tuple[Every, Periodic]] = {}


def handler(kind: str) -> Callable[[Handler], Handler]:
    """Register the function that performs items of `kind`."""

    def register(func: Handler) -> Handler:
        HANDLERS[kind] = func
        return func

    return register


def periodic(name: str, every_seconds: Every) -> Callable[[Periodic], Periodic]:
    """Register a task the worker runs every `every_seconds` (each worker process on its own clock);
    a function of the settings gives the seconds when an operator chooses them."""

    def register(func: Periodic) -> Periodic:
        PERIODIC[name] = (every_seconds, func)
        return func

    return register


def tick(db: Database, settings: Settings, *, now: datetime | None = None) -> None:
    """Run every periodic task once, as if the clock showed `now`; a failing task does not stop the others."""
    for name, (_every, func) in list(PERIODIC.items()):
        try:
            func(db, settings, now or utcnow())
        except Exception:
            log.exception("periodic task %s failed", name)


@periodic("outbox-cleanup", 3600)
def delete_finished(db: Database, settings: Settings, now: datetime) -> int:
    """Finished items older than `outbox_keep_days` go; failed ones stay until an operator looks."""
    with db.write() as session:
        pagecache.quiet(session)  # no page shows the outbox: claiming, renewing, finishing and deleting items keep every cached page
        return session.execute(
            delete(OutboxItem).where(OutboxItem.done_at.is_not(None),
                                     OutboxItem.done_at < now - timedelta(days=settings.outbox_keep_days)),
            execution_options={"synchronize_session": False}).rowcount


def enqueue(session: Session, kind: str, payload: dict[str, Any], *, available_at: datetime | None = None,
            dedupe_key: str | None = None) -> OutboxItem | None:
    """Queue work in the caller's transaction. With a dedupe_key already queued, nothing is added."""
    if dedupe_key is not None:
        existing = session.scalar(select(OutboxItem).where(OutboxItem.dedupe_key == dedupe_key))
        if existing is not None:
            return None
    item = OutboxItem(kind=kind, payload=json.dumps(payload), dedupe_key=dedupe_key,
                      available_at=available_at or utcnow())
    if dedupe_key is None:
        session.add(item)
        return item
    try:
        with session.begin_nested():
            session.add(item)
    except IntegrityError:
        return None
    return item


def _lease(settings: Settings) -> timedelta:
    return timedelta(seconds=settings.outbox_lease_seconds)


def _claim(db: Database, settings: Settings, limit: int) -> list[tuple[int, str, str, int]]:
    now = utcnow()
    with db.write() as session:
        pagecache.quiet(session)  # no page shows the outbox
        stmt = (select(OutboxItem)
                .where(OutboxItem.done_at.is_(None), OutboxItem.failed_at.is_(None),
                       OutboxItem.available_at <= now,
                       or_(OutboxItem.locked_until.is_(None), OutboxItem.locked_until < now))
                .order_by(OutboxItem.available_at, OutboxItem.id).limit(limit))
        if db.engine.dialect.name == "postgresql":
            stmt = stmt.with_for_update(skip_locked=True, key_share=True)
        items = list(session.scalars(stmt))
        for item in items:
            item.locked_until = now + _lease(settings)
            item.attempts += 1
        return [(i.id, i.kind, i.payload, i.attempts) for i in items]


def _still_ours(db: Database, settings: Settings, item_id: int, attempt: int) -> bool:
    """Renew the lease of a claimed item just before running it, unless another worker claimed it since."""
    now = utcnow()
    with db.write() as session:
        pagecache.quiet(session)  # no page shows the outbox
        return session.execute(
            update(OutboxItem)
            .where(OutboxItem.id == item_id, OutboxItem.attempts == attempt, OutboxItem.done_at.is_(None),
                   OutboxItem.failed_at.is_(None))
            .values(locked_until=now + _lease(settings)),
            execution_options={"synchronize_session": False}).rowcount == 1


def _finish(db: Database, item_id: int, attempt: int, error: str | None, max_attempts: int) -> None:
    with db.write() as session:
        pagecache.quiet(session)  # no page shows the outbox
        item = session.get(OutboxItem, item_id)
        if item is None or item.attempts != attempt:
            return  # claimed again by another worker meanwhile: the outcome is theirs to record
        if error is None:
            item.done_at = utcnow()
            item.locked_until = None
            return
        item.last_error = error[:2000]
        item.locked_until = None
        if item.attempts >= max_attempts:
            item.failed_at = utcnow()
        else:
            item.available_at = utcnow() + timedelta(seconds=min(3600, 15 * 2 ** item.attempts))


def drain(db: Database, settings: Settings, *, limit: int = 50) -> int:
    """Run due items until none is left; returns how many ran."""
    done = 0
    while True:
        batch = _claim(db, settings, limit)
        if not batch:
            return done
        for item_id, kind, payload, attempt in batch:
            if not _still_ours(db, settings, item_id, attempt):
                continue
            func = HANDLERS.get(kind)
            error = None
            started = time.perf_counter()
            if func is None:
                error = f"no handler for {kind!r}"
            else:
                try:
                    func(json.loads(payload), JobContext(db, settings, item_id))
                except Exception as exc:  # a failing job must not stop the others
                    log.exception("outbox item %s (%s) failed", item_id, kind)
                    error = f"{type(exc).__name__}: {exc}"
            _finish(db, item_id, attempt, error, settings.outbox_max_attempts)
            result = "failed" if error else "done"
            observability.JOBS.labels(kind, result).inc()
            log.info("job %s %s", kind, result, extra={"fields": {
                "job": kind, "item_id": item_id, "attempt": attempt, "result": result,
                "duration_ms": round((time.perf_counter() - started) * 1000, 2)}})
            done += 1


class Worker:
    """Drains the outbox on a thread: in-process for a single server, or in `forum worker`."""

    def __init__(self, db: Database, settings: Settings):
        self.db, self.settings = db, settings
        self.wake = threading.Event()
        self.stopping = threading.Event()
        self.thread: threading.Thread | None = None

    def start(self) -> None:
        self.thread = threading.Thread(target=self.run, name="forum-outbox", daemon=True)
        self.thread.start()

    def run(self) -> None:
        last_run: dict[str, float] = {}
        while not self.stopping.is_set():
            self._run_periodic(last_run)
            try:
                drain(self.db, self.settings)
            except Exception:  # the database may be briefly unavailable; try again later
                log.exception("outbox drain failed")
            self.wake.wait(self.settings.outbox_poll_seconds)
            self.wake.clear()

    def _run_periodic(self, last_run: dict[str, float]) -> None:
        for name, (every, func) in list(PERIODIC.items()):
            clock = time.monotonic()
            seconds = every(self.settings) if callable(every) else every
            if name in last_run and clock - last_run[name] < seconds:
                continue
            last_run[name] = clock
            try:
                func(self.db, self.settings, utcnow())
            except Exception:  # retried on the next tick
                log.exception("periodic task %s failed", name)

    def stop(self) -> None:
        self.stopping.set()
        self.wake.set()
        if self.thread is not None:
            self.thread.join(timeout=10)
