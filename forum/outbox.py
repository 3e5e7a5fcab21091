"""The durable outbox: background work written in the same transaction as the change that causes it.

`enqueue()` adds an item inside the caller's transaction, so an email is queued if and only if the
post that triggers it is saved. Workers claim due items with a lease (PostgreSQL: FOR UPDATE SKIP
LOCKED, so several `forum worker` processes share the queue; SQLite: the write lock), run the
handler registered for the item's kind, and mark it done. An item whose worker died is claimed
again when its lease runs out; failures are retried with backoff, then parked as failed.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from forum.config import Settings
from forum.db import Database
from forum.models import OutboxItem, utcnow

log = logging.getLogger("forum.outbox")

LEASE = timedelta(minutes=5)


@dataclass
class JobContext:
    db: Database
    settings: Settings
    item_id: int


Handler = Callable[[dict[str, Any], JobContext], None]
HANDLERS: dict[str, Handler] = {}


def handler(kind: str) -> Callable[[Handler], Handler]:
    """Register the function that performs items of `kind`."""

    def register(func: Handler) -> Handler:
        HANDLERS[kind] = func
        return func

    return register


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


def _claim(db: Database, limit: int) -> list[tuple[int, str, str]]:
    now = utcnow()
    with db.write() as session:
        stmt = (select(OutboxItem)
                .where(OutboxItem.done_at.is_(None), OutboxItem.failed_at.is_(None),
                       OutboxItem.available_at <= now,
                       or_(OutboxItem.locked_until.is_(None), OutboxItem.locked_until < now))
                .order_by(OutboxItem.available_at, OutboxItem.id).limit(limit))
        if db.engine.dialect.name == "postgresql":
            stmt = stmt.with_for_update(skip_locked=True)
        items = list(session.scalars(stmt))
        for item in items:
            item.locked_until = now + LEASE
            item.attempts += 1
        return [(i.id, i.kind, i.payload) for i in items]


def _finish(db: Database, item_id: int, error: str | None, max_attempts: int) -> None:
    with db.write() as session:
        item = session.get(OutboxItem, item_id)
        if item is None:
            return
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
        batch = _claim(db, limit)
        if not batch:
            return done
        for item_id, kind, payload in batch:
            func = HANDLERS.get(kind)
            error = None
            if func is None:
                error = f"no handler for {kind!r}"
            else:
                try:
                    func(json.loads(payload), JobContext(db, settings, item_id))
                except Exception as exc:  # a failing job must not stop the others
                    log.exception("outbox item %s (%s) failed", item_id, kind)
                    error = f"{type(exc).__name__}: {exc}"
            _finish(db, item_id, error, settings.outbox_max_attempts)
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
        while not self.stopping.is_set():
            try:
                drain(self.db, self.settings)
            except Exception:  # the database may be briefly unavailable; try again later
                log.exception("outbox drain failed")
            self.wake.wait(self.settings.outbox_poll_seconds)
            self.wake.clear()

    def stop(self) -> None:
        self.stopping.set()
        self.wake.set()
        if self.thread is not None:
            self.thread.join(timeout=10)
