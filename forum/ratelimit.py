"""Fixed-window rate limits shared by every process: in Redis when configured, else in the database."""

from __future__ import annotations

import math
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from forum.db import Database
from forum.errors import RateLimited
from forum.models import RateLimitBucket, utcnow


class RateLimiter:
    def __init__(self, db: Database, redis_url: str | None = None):
        self.db = db
        self.redis = None
        if redis_url:
            import redis

            self.redis = redis.Redis.from_url(redis_url)

    def hit(self, key: str, limit: int, window: int, message: str | None = None) -> None:
        """Count one event under `key`; raise RateLimited once more than `limit` fall in one window."""
        if limit <= 0:
            return
        count, retry_after = self._incr(key, window)
        if count > limit:
            raise RateLimited(retry_after, message)

    def check(self, key: str, limit: int, window: int, message: str | None = None) -> None:
        """Raise RateLimited if `key` is already over its limit, without counting."""
        if limit <= 0:
            return
        count, retry_after = self._peek(key, window)
        if count >= limit:
            raise RateLimited(retry_after, message)

    def reset(self, key: str) -> None:
        if self.redis is not None:
            self.redis.delete(f"forum:rl:{key}")
            return
        with self.db.write() as session:
            session.execute(delete(RateLimitBucket).where(RateLimitBucket.key == key))

    def _incr(self, key: str, window: int) -> tuple[int, int]:
        if self.redis is not None:
            rkey = f"forum:rl:{key}"
            pipe = self.redis.pipeline()
            pipe.incr(rkey)
            pipe.expire(rkey, window, nx=True)
            pipe.ttl(rkey)
            count, _, ttl = pipe.execute()
            return int(count), max(int(ttl), 1)
        now = utcnow()
        for _attempt in range(3):
            try:
                with self.db.write() as session:
                    bucket = session.get(RateLimitBucket, key, with_for_update=True)
                    if bucket is None:
                        session.add(RateLimitBucket(key=key, window_start=now, count=1))
                        return 1, window
                    if bucket.window_start + timedelta(seconds=window) <= now:
                        bucket.window_start, bucket.count = now, 1
                        return 1, window
                    # The row is locked (FOR UPDATE on PostgreSQL, BEGIN IMMEDIATE on SQLite).
                    bucket.count += 1
                    return bucket.count, _remaining(bucket.window_start, window, now)
            except IntegrityError:
                continue  # another process created the bucket first
        return 1, window

    def _peek(self, key: str, window: int) -> tuple[int, int]:
        if self.redis is not None:
            rkey = f"forum:rl:{key}"
            count = self.redis.get(rkey)
            return int(count or 0), max(int(self.redis.ttl(rkey)), 1)
        now = utcnow()
        with self.db.read() as session:
            bucket = session.scalar(select(RateLimitBucket).where(RateLimitBucket.key == key))
            if bucket is None or bucket.window_start + timedelta(seconds=window) <= now:
                return 0, window
            return bucket.count, _remaining(bucket.window_start, window, now)


def _remaining(start: datetime, window: int, now: datetime) -> int:
    return max(1, math.ceil((start + timedelta(seconds=window) - now).total_seconds()))
