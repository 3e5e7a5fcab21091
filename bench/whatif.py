"""What-if experiments: the forum with proposed performance fixes applied, without editing its code.

These are measurement aids for whoever owns the core code, not fixes: each patch below is applied in
the benchmark's server process only (by monkeypatching), so that bench/run.py can measure what the
corresponding change in forum/ would buy. The patches mirror reading.py as of the commit the
README names; if that code changes, re-check them before trusting the figures.

    # copy the databases and add the proposed indexes to the copies
    python bench/whatif.py add-indexes --database-url sqlite:////tmp/bench-whatif.db
    # run the benchmark against the patched app
    BENCH_WHATIF=async-deps,slim-orm,babel-locale python bench/run.py \\
        --database-url sqlite:////tmp/bench-whatif.db --forum-app whatif:create_app

Patches (BENCH_WHATIF, comma-separated, or "all"):

* async-deps   - get_db, get_settings, get_limiter and get_writer become `async def`: FastAPI runs
                 every plain `def` dependency in the thread pool, one hand-off each, although these
                 only read attributes;
* slim-orm     - listings load Topic.user with only (id, username), attach Topic.category from
                 one read of the (few) categories instead of joining it into every row, and skip
                 Topic.last_post_user, which no listing template shows; the topic
                 page defers Post.raw (as large as the cooked HTML, never shown) and loads
                 Post.user with only (id, username, name); get_topic stops joining the author and
                 last poster;
* babel-locale - babel.dates receives a parsed babel Locale instead of the string "en": with a
                 string, every relative and exact timestamp parses the locale again.

Indexes (add-indexes): topics (pinned_globally, bumped_at DESC, id DESC) for /latest and
topics (category_id, pinned, bumped_at DESC, id DESC) for category pages, so that both the pinned
and the unpinned queries read a page of the index in order instead of sorting every visible topic;
topics (created_at) for the signed-in "new" count of topic lists (tracking.tab_counts). Then ANALYZE,
so that SQLite's planner knows the category index is not selective (PostgreSQL's autovacuum keeps
its statistics by itself; SQLite has none until ANALYZE or PRAGMA optimize runs).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

INDEXES = {
    "ix_bench_topics_list": "CREATE INDEX IF NOT EXISTS ix_bench_topics_list "
                            "ON topics (pinned_globally, bumped_at DESC, id DESC)",
    "ix_bench_topics_category_list": "CREATE INDEX IF NOT EXISTS ix_bench_topics_category_list "
                                     "ON topics (category_id, pinned, bumped_at DESC, id DESC)",
    # tracking.tab_counts(): "new" topics are those created since a recent cutoff.
    "ix_bench_topics_created": "CREATE INDEX IF NOT EXISTS ix_bench_topics_created ON topics (created_at)",
}
PATCHES = ("async-deps", "slim-orm", "babel-locale")


def _async_deps() -> None:
    """Turn the trivial sync dependencies into coroutines (before any router captures them)."""
    from forum import deps

    async def get_db(request):
        return request.app.state.db

    async def get_settings(request):
        return request.app.state.settings

    async def get_limiter(request):
        return request.app.state.limiter

    async def get_writer(db, session):
        return Writer(db, session)  # noqa: F821 - resolved in forum.deps' globals

    # Same names and parameters, so swapping the code object keeps Depends(...) references valid.
    for name, replacement in (("get_db", get_db), ("get_settings", get_settings),
                              ("get_limiter", get_limiter), ("get_writer", get_writer)):
        target = getattr(deps, name, None)
        if target is None:
            continue
        if target.__code__.co_varnames[:target.__code__.co_argcount] != \
                replacement.__code__.co_varnames[:replacement.__code__.co_argcount]:
            raise RuntimeError(f"forum.deps.{name} changed its parameters; update bench/whatif.py")
        target.__code__ = replacement.__code__


def _slim_orm() -> None:
    from sqlalchemy import select
    from sqlalchemy.orm import defer, joinedload, lazyload, noload
    from sqlalchemy.orm.attributes import set_committed_value

    from forum import permissions, reading
    from forum.models import Category, Post, Topic, User
    from forum.text import parse_id

    list_options = (noload(Topic.category), noload(Topic.last_post_user),
                    joinedload(Topic.user).load_only(User.id, User.username))

    def with_options(session, match, options):
        """Make session.scalars add loader options to statements whose first entity is `match`."""
        real = session.scalars

        def scalars(statement, *args, **kwargs):
            descriptions = getattr(statement, "column_descriptions", None)
            if descriptions and descriptions[0].get("entity") is match:
                statement = statement.options(*options)
            return real(statement, *args, **kwargs)

        session.scalars = scalars

    def latest_topics(session, viewer, *args, **kwargs):
        # category_levels() reads every category but keeps no reference to the objects, so the
        # identity map may have dropped them: read the (few) categories once, attach them below.
        categories = {c.id: c for c in session.scalars(select(Category))}
        with_options(session, Topic, list_options)
        try:
            listing = original_latest_topics(session, viewer, *args, **kwargs)
        finally:
            del session.scalars
        for topic in listing.pinned + listing.topics:
            set_committed_value(topic, "category", categories[topic.category_id])
        return listing

    def get_topic(session, viewer, topic_id):
        tid = parse_id(topic_id)
        topic = session.get(Topic, tid, options=[lazyload(Topic.user), lazyload(Topic.last_post_user)]
                            ) if tid is not None else None
        return permissions.ensure_can_see_topic(session, viewer, topic)

    def posts_page(session, topic, *args, **kwargs):
        # The original function, with the posts query given lighter loader options.
        with_options(session, Post, (defer(Post.raw),
                                     joinedload(Post.user).load_only(User.id, User.username, User.name)))
        try:
            return original_posts_page(session, topic, *args, **kwargs)
        finally:
            del session.scalars

    original_latest_topics = reading.latest_topics
    original_posts_page = reading.posts_page
    reading.latest_topics = latest_topics
    reading.get_topic = get_topic
    reading.posts_page = posts_page


def _babel_locale() -> None:
    from functools import lru_cache

    from babel import Locale

    from forum.web import templating

    parse = lru_cache(maxsize=64)(Locale.parse)
    format_datetime, format_timedelta = templating.format_datetime, templating.format_timedelta

    def fast_datetime(value, fmt="medium", tzinfo=None, locale=None):
        return format_datetime(value, fmt, tzinfo=tzinfo, locale=parse(locale) if isinstance(locale, str) else locale)

    def fast_timedelta(delta, *args, locale=None, **kwargs):
        return format_timedelta(delta, *args, locale=parse(locale) if isinstance(locale, str) else locale, **kwargs)

    templating.format_datetime = fast_datetime
    templating.format_timedelta = fast_timedelta


def apply(names: list[str]) -> list[str]:
    if names == ["all"]:
        names = list(PATCHES)
    for name in names:
        if name not in PATCHES:
            raise SystemExit(f"unknown what-if patch {name!r}; known: {', '.join(PATCHES)}")
    # Dependencies first: routers capture them when forum.app is imported.
    if "async-deps" in names:
        _async_deps()
    if "slim-orm" in names:
        _slim_orm()
    if "babel-locale" in names:
        _babel_locale()
    return names


def create_app():
    """uvicorn factory: forum.app.create_app() with the patches named in BENCH_WHATIF."""
    names = [n.strip() for n in os.environ.get("BENCH_WHATIF", "").split(",") if n.strip()]
    apply(names)
    from forum.app import create_app as forum_create_app

    return forum_create_app()


def add_indexes(url: str) -> None:
    from sqlalchemy import create_engine

    engine = create_engine(url)
    with engine.begin() as conn:
        for sql in INDEXES.values():
            conn.exec_driver_sql(sql)
        # Planner statistics: without them SQLite picks the category index for the "new" count and
        # scans every visible topic (PostgreSQL's autovacuum gathers them by itself).
        conn.exec_driver_sql("ANALYZE")
    engine.dispose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="What-if experiments for the forum's performance.")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("add-indexes", help="add the proposed indexes to a (copied) database, then ANALYZE")
    p.add_argument("--database-url", required=True)
    args = parser.parse_args(argv)
    if args.command == "add-indexes":
        add_indexes(args.database_url)
        print(f"Added {', '.join(INDEXES)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
