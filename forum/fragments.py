"""Shared renderings of the heavy part of signed-in pages: a topic page's posts, a topic list's rows.

Most of a topic page is the same for every reader who is not staff: the posts, their authors,
dates and cooked text. What differs per reader is small: which posts they liked or flagged, which
they may edit, whether they may reply, their read position and watch level. So the posts are
rendered once per (topic, page, language, time zone) and kept per process; each request renders
only its reader's part around them (templates/topic.html). Topic lists work the same way, keyed
by the set of categories the reader may see, so a participant never gets a member's list.

A fragment is valid while the content generation it was built at is current (any committed write
that is not quiet bumps it, see forum/pagecache.py) and for at most `anon_cache_seconds`, exactly
like the anonymous page cache, so "3 minutes ago" and view counts stay close to the truth. With
`anon_cache_seconds = 0` nothing is kept and every page is built afresh.

What goes into a fragment must depend only on its key: the callers (forum/web/topics.py,
forum/web/lists.py) put into it everything their rendering reads of the reader (staff or not, the
visible categories, language, time zone) and render no per-reader state into it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy.orm import Session

from forum.pagecache import PageStore, current_generation

T = TypeVar("T")
GENERATION = "forum_generation"


@dataclass
class Fragment:
    generation: int
    stored_at: float
    value: Any


class FragmentCache:
    def __init__(self, ttl: float, max_entries: int = 1000):
        self.ttl = ttl
        self.store = PageStore(max_entries)

    def get_or_build(self, session: Session, key: tuple, build: Callable[[], T]) -> T:
        if self.ttl <= 0:
            return build()
        generation = generation_of(session)
        entry = self.store.get(key)
        now = time.monotonic()
        if entry is not None and entry.generation == generation and now - entry.stored_at < self.ttl:
            return entry.value
        value = build()
        self.store.put(key, Fragment(generation, now, value))
        return value


def generation_of(session: Session) -> int:
    """The content generation, read once per session, before anything a fragment is built from."""
    generation = session.info.get(GENERATION)
    if generation is None:
        generation = session.info[GENERATION] = current_generation(session)
    return generation


# Separators a shared template writes between its pieces (posts, or a row's halves); NUL and SOH
# never reach stored text, so they cannot occur in what the pieces hold.
END = "\x00"
SPLIT = "\x01"


def pieces(html: str) -> list[str]:
    """The pieces a shared template closed with END, in order."""
    return html.split(END)[:-1]


def cache_for(request) -> FragmentCache:
    return request.app.state.fragments
