"""Topic lists as pages: the rows every reader of a list shares, and each reader's own part.

A list's rows (title, category, counts, "seen by", event and proposal marks, activity) are the same
for everyone who may see the same categories, so they are rendered once per (list, page, set of
visible categories, language, zone) and kept (forum/fragments.py). Each request adds its reader's
title link: the jump to the first unread post, the unread count, the "New" tag.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from fastapi import Request
from markupsafe import Markup

from forum import decide, fragments, permissions, tracking
from forum import tags as forum_tags
from forum.models import Category
from forum.permissions import Viewer
from forum.reading import TopicList


def list_context(session, viewer: Viewer, rows: Rows, *, tab: str = "latest",
                 category: Category | None = None) -> dict:
    """The reader's own part of a topic list page: unread/new state, tab counts."""
    return {
        "tab": tab,
        "states": tracking.topic_states(session, viewer, rows.rows),
        "tab_counts": tracking.tab_counts(session, viewer, category),
        "category_level": tracking.category_level(session, viewer.user.id, category.id)
        if category is not None and viewer.user is not None else None,
    }


@dataclass
class TopicRow:
    """A listed topic: what the reader's part needs (forum/tracking.py topic_states reads these),
    and the row's shared HTML before and after it."""

    id: int
    slug: str
    title: str
    category_id: int
    user_id: int
    created_at: datetime
    highest_post_number: int
    head: Markup
    tail: Markup


@dataclass
class Rows:
    rows: list[TopicRow]
    page: int
    has_more: bool
    with_seen: bool


def topic_rows(request: Request, session, viewer: Viewer, load: Callable[[], TopicList], *,
               category=None, key: tuple | None = None, with_seen: bool = True) -> Rows:
    """The rows of the list `load` returns; kept under `key` (None: built for this request only).

    `key` names the list (its kind, category and page); the reader's visible categories, language
    and zone are added here, so that two readers get the same rows only when they may see the same.
    """
    renderer = request.app.state.renderer
    locale, zone = renderer.locale_and_zone(request)

    def build() -> Rows:
        listing = load()
        topics = listing.pinned + listing.topics
        html = renderer.fragment(locale, zone, "_topic_rows.html", {
            "topics": topics, "category": category, "split": Markup(fragments.SPLIT), "end": Markup(fragments.END),
            "markers": decide.list_markers(session, viewer, topics),
            "seen": tracking.seen_by_in_lists(session, topics) if with_seen else None,
            "topic_tags": forum_tags.names_by_topic(session, [t.id for t in topics]),
        })
        rows = []
        for topic, piece in zip(topics, fragments.pieces(html), strict=True):
            head, _, tail = piece.partition(fragments.SPLIT)
            rows.append(TopicRow(topic.id, topic.slug, topic.title, topic.category_id, topic.user_id,
                                 topic.created_at, topic.highest_post_number, Markup(head), Markup(tail)))
        return Rows(rows, listing.page, listing.has_more, with_seen)

    if key is None:
        return build()
    audience = ("staff",) if permissions.sees_as_staff(viewer) else tuple(permissions.visible_category_ids(session, viewer))
    full_key = ("list", *key, with_seen, audience, locale, zone.key, decide.clock_for(viewer).reader_zone)
    return fragments.cache_for(request).get_or_build(session, full_key, build)
