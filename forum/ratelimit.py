"""Fixed-window rate limits shared by every process: in Redis when configured, else in the database.

Without Redis the counter is a row written in the caller's own write transaction, so a request
never needs a second pooled connection for it.

Each limit is written once, below, and asked by the service that does the thing: posting counts
posts, topics and likes inside the write itself (forum/posting.py), polls count votes. Attempts
that must stay counted when they fail (logging in, signing up, changing or resetting a password,
asking for a confirmation email) are counted in a transaction of their own before the attempt, by
the function named for them here. Pages, the API and (later) email all go through these, so none
is a way around another. Services take the limiter as `limiter=`; without one (the demo, the
command line, imports) nothing is counted.
"""

from __future__ import annotations

import logging
import math
import time
from datetime import datetime, timedelta

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from forum import permissions, retry
from forum.errors import RateLimited
from forum.i18n import _
from forum.models import RateLimitBucket, utcnow
from forum.permissions import Viewer

log = logging.getLogger("forum.redis")
# After a failure, Redis is left alone this long before it is tried again.
REDIS_RETRY_SECONDS = 5.0


def redis_errors(client) -> tuple[type[Exception], ...]:
    """What a Redis client raises when Redis fails; nothing without a client (`except ()` catches
    nothing), so that counting without Redis does not import the redis package, which is large."""
    if client is None:
        return ()
    from redis.exceptions import RedisError

    return (RedisError,)


class RateLimiter:
    """Counts events per key: in Redis when configured and reachable, else in the database.

    A Redis that stops answering is set aside for a few seconds at a time (the database's buckets
    stand in, so limits still hold across processes); the outage is logged once, and its end too.
    """

    def __init__(self, redis_url: str | None = None, prefix: str = "forum"):
        self._client = None
        self._down_until = 0.0
        self._outage = False
        self.prefix = prefix
        if redis_url:
            import redis

            # Short timeouts: a Redis that hangs must not hang the pages.
            self._client = redis.Redis.from_url(redis_url, socket_connect_timeout=0.5, socket_timeout=0.5)

    @property
    def configured(self) -> bool:
        return self._client is not None

    @property
    def redis(self):
        """The Redis client, or None when there is none or it failed a moment ago."""
        if self._client is None or time.monotonic() < self._down_until:
            return None
        return self._client

    def redis_failed(self, exc: Exception) -> None:
        self._down_until = time.monotonic() + REDIS_RETRY_SECONDS
        if not self._outage:
            self._outage = True
            log.warning("Redis is unreachable (%s): counting in the database until it answers again", exc)

    def redis_answered(self) -> None:
        if self._outage:
            self._outage = False
            log.warning("Redis answers again")

    def redis_status(self) -> str:
        """"ok", "down" or "off" (not configured), asking Redis itself."""
        if self._client is None:
            return "off"
        try:
            self._client.ping()
        except redis_errors(self._client) as e:
            self.redis_failed(e)
            return "down"
        self.redis_answered()
        self._down_until = 0.0
        return "ok"

    def hit(self, session: Session, key: str, limit: int, window: int, message: str | None = None) -> int:
        """Count one event under `key`; raise RateLimited once more than `limit` fall in one window.

        `session` must be in a write transaction; the count commits with it. Returns the count so far.
        """
        if limit <= 0:
            return 0
        count, retry_after = self._incr(session, key, window)
        if count > limit:
            raise RateLimited(retry_after, message)
        return count

    def check(self, session: Session, key: str, limit: int, window: int) -> None:
        """Raise RateLimited if one more event under `key` would go over `limit`, without counting it."""
        if limit <= 0:
            return
        if (client := self.redis) is not None:
            rkey = f"{self.prefix}:rl:{key}"
            try:
                pipe = client.pipeline()
                pipe.get(rkey)
                pipe.ttl(rkey)
                count, ttl = pipe.execute()
            except redis_errors(client) as e:
                self.redis_failed(e)
            else:
                self.redis_answered()
                if count is not None and int(count) >= limit:
                    raise RateLimited(max(int(ttl), 1))
                return
        now = utcnow()
        bucket = session.get(RateLimitBucket, key, populate_existing=True)
        if bucket is not None and bucket.count >= limit and bucket.window_start + timedelta(seconds=window) > now:
            raise RateLimited(_remaining(bucket.window_start, window, now))

    def count(self, session: Session, key: str, window: int) -> int:
        """How many events fall under `key` in its current window, without counting one."""
        if (client := self.redis) is not None:
            try:
                count = client.get(f"{self.prefix}:rl:{key}")
            except redis_errors(client) as e:
                self.redis_failed(e)
            else:
                self.redis_answered()
                return int(count) if count is not None else 0
        bucket = session.get(RateLimitBucket, key, populate_existing=True)
        if bucket is None or bucket.window_start + timedelta(seconds=window) <= utcnow():
            return 0
        return bucket.count

    def _incr(self, session: Session, key: str, window: int) -> tuple[int, int]:
        if (client := self.redis) is not None:
            # Redis does not roll back with the transaction: a request run again after a deadlock
            # (forum/retry.py) counts once.
            earlier = retry.counted_before(key)
            if earlier is not None:
                return earlier
            rkey = f"{self.prefix}:rl:{key}"
            try:
                pipe = client.pipeline()
                pipe.incr(rkey)
                pipe.expire(rkey, window, nx=True)
                pipe.ttl(rkey)
                count, _, ttl = pipe.execute()
            except redis_errors(client) as e:
                self.redis_failed(e)  # counted in the database below, this time
            else:
                self.redis_answered()
                retry.note_counted(key, (int(count), max(int(ttl), 1)))
                return int(count), max(int(ttl), 1)
        now = utcnow()
        # Locked for the rest of the transaction (PostgreSQL; SQLite's BEGIN IMMEDIATE already
        # serialises writers). Taken after the actor's own row: see the lock order in forum/db.py.
        bucket = session.get(RateLimitBucket, key, with_for_update={"key_share": True})
        if bucket is None:
            try:
                with session.begin_nested():
                    session.add(RateLimitBucket(key=key, window_start=now, count=1))
                return 1, window
            except IntegrityError:  # another process created it first; count on that row
                bucket = session.get(RateLimitBucket, key, with_for_update={"key_share": True},
                                     populate_existing=True)
                assert bucket is not None
        if bucket.window_start + timedelta(seconds=window) <= now:
            bucket.window_start, bucket.count = now, 1
            return 1, window
        bucket.count += 1
        return bucket.count, _remaining(bucket.window_start, window, now)


def _remaining(start: datetime, window: int, now: datetime) -> int:
    return max(1, math.ceil((start + timedelta(seconds=window) - now).total_seconds()))


# Per-user and per-address limits on writes.
LIKES_PER_DAY = 200
LIKE_WINDOW = 86400
VOTES_PER_MINUTE = 120
CONFIRMATION_EMAILS_PER_HOUR = 5
RESETS_PER_ACCOUNT_PER_HOUR = 3


def hit_posting(limiter: RateLimiter | None, session: Session, settings, viewer: Viewer, *, new_topic: bool) -> None:
    """Posts per minute and topics per hour, for everyone but staff (permissions.exempt_from_post_limits)."""
    if limiter is None or viewer.user is None or permissions.exempt_from_post_limits(viewer):
        return
    if new_topic:
        limiter.hit(session, f"topic:{viewer.user.id}", settings.topics_per_hour, 3600)
    limiter.hit(session, f"post:{viewer.user.id}", settings.posts_per_minute, 60)


def hit_new_message(limiter: RateLimiter | None, session: Session, settings, viewer: Viewer) -> None:
    """New conversations per hour for accounts younger than `new_account_days`; staff are exempt."""
    user = viewer.user
    if limiter is None or user is None or permissions.exempt_from_post_limits(viewer):
        return
    if user.created_at > utcnow() - timedelta(days=settings.new_account_days):
        limiter.hit(session, f"new-message:{user.id}", settings.new_account_messages_per_hour, 3600,
                    _("New accounts may start %(n)s conversations per hour.", n=settings.new_account_messages_per_hour))


def hit_like(limiter: RateLimiter | None, session: Session, user_id: int) -> int:
    if limiter is None:
        return 0
    return limiter.hit(session, f"like:{user_id}", LIKES_PER_DAY, LIKE_WINDOW)


def likes_used(limiter: RateLimiter, session: Session, user_id: int) -> int:
    return limiter.count(session, f"like:{user_id}", LIKE_WINDOW)


def hit_vote(limiter: RateLimiter | None, session: Session, user_id: int) -> None:
    if limiter is not None:
        limiter.hit(session, f"vote:{user_id}", VOTES_PER_MINUTE, 60)


def hit_preview(limiter: RateLimiter | None, session: Session, settings, user_id: int) -> None:
    if limiter is not None:
        limiter.hit(session, f"preview:{user_id}", settings.previews_per_minute, 60)


def hit_signup(limiter: RateLimiter, session: Session, settings, ip: str) -> None:
    limiter.hit(session, f"signup-ip:{ip}", settings.signups_per_ip_per_hour, 3600)


def hit_login(limiter: RateLimiter, session: Session, settings, ip: str, login: str) -> None:
    limiter.hit(session, f"login-ip:{ip}", settings.login_attempts_per_ip, settings.login_window)
    limiter.hit(session, f"login-account:{login.strip().lower()[:100]}", settings.login_attempts_per_account,
                settings.login_window)


def hit_password_change(limiter: RateLimiter, session: Session, settings, user_id: int) -> None:
    limiter.hit(session, f"password:{user_id}", settings.login_attempts_per_account, settings.login_window)


def hit_password_reset(limiter: RateLimiter, session: Session, settings, ip: str, login: str) -> None:
    limiter.hit(session, f"reset-ip:{ip}", settings.login_attempts_per_ip, 3600)
    limiter.hit(session, f"reset-account:{login.strip().lower()[:100]}", RESETS_PER_ACCOUNT_PER_HOUR, 3600)


def hit_confirmation_email(limiter: RateLimiter, session: Session, user_id: int) -> None:
    limiter.hit(session, f"confirm-email:{user_id}", CONFIRMATION_EMAILS_PER_HOUR, 3600)
