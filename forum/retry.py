"""Running a request again when PostgreSQL broke one of its transactions to settle a conflict.

PostgreSQL answers a deadlock (SQLSTATE 40P01) or a serialization failure (40001) by rolling back
one of the transactions involved. Nothing of that transaction was written, and the same request
sent again a moment later succeeds: so the server sends it again itself, and the person who
pressed Reply never sees it. The locks every write takes are ordered (see forum/db.py) so that
deadlocks are rare; this is what makes the rare one harmless.

The unit run again is the whole request, not the failed statement: the transaction's reads,
permission checks and validation are redone on fresh data. That is safe because

* the request's body is kept and handed to each attempt as it was received;
* a response is never half sent: an attempt that began answering is not run again;
* an attempt is run again only if no write of it was committed before the failure, other than
  quiet bookkeeping (session clocks, read positions; forum/pagecache.py `quiet`), which is the
  same when done twice; and
* counters kept outside the database (Redis rate limits) count once per request, not once per
  attempt (forum/ratelimit.py asks `counted_before`).

After the last attempt the forum answers 503 "busy" with Retry-After, as for a busy SQLite, which
waits for its lock instead (busy timeout) and is not run again.
"""

from __future__ import annotations

import contextvars
import logging
import random
from dataclasses import dataclass, field

import anyio

log = logging.getLogger("forum.retry")

ATTEMPTS = 5
RETRYABLE_SQLSTATES = {"40P01", "40001"}  # deadlock_detected, serialization_failure


def is_retryable(exc: BaseException) -> bool:
    orig = getattr(exc, "orig", None)
    return getattr(orig, "sqlstate", None) in RETRYABLE_SQLSTATES


# SQLSTATE classes of a server that cannot be reached or is going away: connection exceptions (08),
# an administrator's shutdown or a server still starting (57P01-57P03).
UNAVAILABLE_SQLSTATES = ("57P01", "57P02", "57P03")


def is_unavailable(exc: BaseException) -> bool:
    """The database could not be reached at all (refused, dropped, shutting down): answer 503."""
    orig = getattr(exc, "orig", None)
    if getattr(exc, "connection_invalidated", False):
        return True
    sqlstate = getattr(orig, "sqlstate", None)
    if sqlstate is not None:
        return sqlstate.startswith("08") or sqlstate in UNAVAILABLE_SQLSTATES
    # psycopg raises OperationalError without a SQLSTATE when no server answered at all.
    return type(orig).__module__.startswith("psycopg") or "unable to open database file" in str(orig)


def backoff(attempt: int) -> float:
    """Seconds to wait before attempt `attempt + 1`: growing, and jittered so that the transactions
    that met in a deadlock do not meet again in step."""
    return random.uniform(0.5, 1.0) * min(0.4, 0.02 * 2 ** attempt)


@dataclass
class Attempt:
    number: int
    last: bool
    committed: bool = False  # a write that was not quiet bookkeeping has been committed
    # Counts made outside the database, by key, in order: those of the attempt before (to be
    # handed back instead of counted again), and this attempt's (for the next one).
    earlier: dict[str, list[tuple[int, int]]] = field(default_factory=dict)
    counted: dict[str, list[tuple[int, int]]] = field(default_factory=dict)


_current: contextvars.ContextVar[Attempt | None] = contextvars.ContextVar("forum_attempt", default=None)


def note_change() -> None:
    """A write transaction of the current request committed a change other than quiet bookkeeping."""
    attempt = _current.get()
    if attempt is not None:
        attempt.committed = True


def counted_before(key: str) -> tuple[int, int] | None:
    """What an earlier attempt of this request counted at this point under `key` outside the
    database, if anything; it is this attempt's count too."""
    attempt = _current.get()
    if attempt is None or not attempt.earlier.get(key):
        return None
    value = attempt.earlier[key].pop(0)
    note_counted(key, value)
    return value


def note_counted(key: str, value: tuple[int, int]) -> None:
    attempt = _current.get()
    if attempt is not None:
        attempt.counted.setdefault(key, []).append(value)


def attempt_number() -> int:
    attempt = _current.get()
    return attempt.number if attempt is not None else 1


def will_run_again(exc: BaseException) -> bool:
    """True when the request this failure happened in is going to be sent again."""
    attempt = _current.get()
    return attempt is not None and not attempt.last and not attempt.committed and is_retryable(exc)


class RetryOnConflict:
    """ASGI middleware that runs a request again (bounded, with jitter) after a deadlock or a
    serialization failure. The app's error handler re-raises such failures while `will_run_again`."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        received: list[dict] = []
        state = dict(scope.get("state") or {})
        counted: dict[str, list[tuple[int, int]]] = {}
        for number in range(1, ATTEMPTS + 1):
            attempt = Attempt(number, last=number == ATTEMPTS, earlier=counted)
            counted = attempt.counted
            started: list[bool] = []
            token = _current.set(attempt)
            try:
                # Each attempt starts from the request as it came in, not from what the last one left.
                await self.app(dict(scope, state=dict(state)), _replaying(received, receive),
                               _noting_start(send, started))
                return
            except Exception as exc:
                if started or not will_run_again(exc):
                    raise
                log.info("%s %s: %s, running it again (attempt %s of %s)", scope.get("method"),
                         scope.get("path"), type(getattr(exc, "orig", exc)).__name__, number + 1, ATTEMPTS)
            finally:
                _current.reset(token)
            await anyio.sleep(backoff(number))


def _replaying(received: list[dict], receive):
    """A `receive` that hands out the body messages earlier attempts read, then reads on (and keeps)."""
    replay = list(received)

    async def receive_again():
        if replay:
            return replay.pop(0)
        message = await receive()
        if message["type"] == "http.request":
            received.append(message)
        return message

    return receive_again


def _noting_start(send, started: list[bool]):
    async def send_noting(message):
        if message["type"] == "http.response.start":
            started.append(True)  # from here on the attempt cannot be taken back
        await send(message)

    return send_noting
