"""A visit to a topic, from a page view or from a client that asks its JSON view to count.

Both doors record visits here, so a view counts the same way whichever door it came through:
once per visitor (account, or address) per window, and a signed-in visit shows in "seen by".
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager

from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from forum import pagecache, tracking
from forum.models import Topic
from forum.permissions import Viewer
from forum.ratelimit import redis_errors


def visitor_key(viewer: Viewer, address: str) -> str:
    return f"u{viewer.id}" if viewer.id else f"ip{address}"


def record_topic_visit(session: Session, write: Callable[[], AbstractContextManager[Session]], viewer: Viewer,
                       topic: Topic, *, who: str, read_up_to: int | None, limiter) -> float | None:
    """Returns, for someone signed in, when the window of the view just counted (or of the one it
    fell in) ends: epoch seconds."""
    redis = getattr(limiter, "redis", None)
    prefix = getattr(limiter, "prefix", "forum")
    try:
        plan = tracking.plan_visit(session, viewer, topic, who, read_up_to=read_up_to, redis=redis, prefix=prefix)
    except redis_errors(redis) as e:  # Redis went away: the database keeps the view marks meanwhile
        limiter.redis_failed(e)
        redis = None
        plan = tracking.plan_visit(session, viewer, topic, who, read_up_to=read_up_to, redis=None, prefix=prefix)
    if not (plan.count_view or plan.visit):
        return plan.window_ends
    try:
        with write() as tx:
            fresh = tx.get(Topic, topic.id)
            if fresh is not None:
                # Views reach visitors' cached pages within anon_cache_seconds; the reader's own
                # read positions reach the pages kept for them at once.
                tracking.record_visit(pagecache.quiet(tx, reader=viewer.id), viewer, fresh, who, plan, redis=redis)
    except OperationalError:
        return None  # a busy database may drop a view or a read mark, never a page
    return plan.window_ends
