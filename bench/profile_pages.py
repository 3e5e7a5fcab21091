"""Where a page's time goes, in-process: SQL statements, ORM loading, template rendering, the rest.

    python bench/profile_pages.py --database-url sqlite:////tmp/bench.db [--requests 200] [--sql]

The app is built with forum.app.create_app and called directly as an ASGI app, one request at a
time (no HTTP, no concurrency), and every figure is CPU time (time.process_time for the request,
time.thread_time for its phases), so that other work on a shared machine does not inflate them.
Phases are measured by wrapping, in this process only, the functions that do them:

* sql     - the request's statements (caught with a SQLAlchemy event), re-run afterwards on a raw
            connection and fetched to the end, warm: the database's own share of the request;
* load    - forum.reading / forum.permissions / forum.accounts calls that load rows (includes sql);
* render  - Renderer.render: Jinja, babel dates, gettext, building the response;
* other   - the rest of the request: FastAPI routing and dependencies, the thread pool hand-off,
            middleware, the response.

Pass --sql to print every statement of one request with its time (and, on SQLite, its query plan).
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import statistics
import sys
import time
import warnings
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

warnings.filterwarnings("ignore")

from sqlalchemy import event, select  # noqa: E402


class Clock:
    def __init__(self):
        self.phase = defaultdict(float)
        self.depth = defaultdict(int)
        self.statements: list[tuple[str, object]] = []

    def wrap(self, module, name: str, phase: str):
        original = getattr(module, name)

        @functools.wraps(original)
        def timed(*args, **kwargs):
            self.depth[phase] += 1
            start = time.thread_time()
            try:
                return original(*args, **kwargs)
            finally:
                self.depth[phase] -= 1
                if self.depth[phase] == 0:
                    self.phase[phase] += time.thread_time() - start

        setattr(module, name, timed)


def build(url: str, clock: Clock):
    from forum import deps, reading
    from forum.app import create_app
    from forum.config import Settings
    from forum.db import Database
    from forum.web import templating, topics

    settings = Settings(database_url=url, base_url="http://testserver")
    db = Database(settings)

    @event.listens_for(db.engine, "after_cursor_execute")
    def _after(conn, cursor, statement, params, context, executemany):
        clock.phase["sql_count"] += 1
        clock.statements.append((statement, params))

    # The routes call these through their modules, so patching the module attributes is enough.
    for name in ("latest_topics", "posts_page", "get_topic", "get_category"):
        clock.wrap(reading, name, "load")
    for name in ("creatable_categories", "can_create_topic"):
        clock.wrap(topics.permissions, name, "load")
    clock.wrap(deps.accounts, "session_for_token", "load")
    clock.wrap(templating.Renderer, "render", "render")
    app = create_app(settings, db)
    return app, db


def rerun(db, statement: str, params, times: int = 5) -> float:
    """Median time to execute a statement and fetch all its rows, on a raw driver connection."""
    if not statement.lstrip().upper().startswith("SELECT"):
        return 0.0
    raw = db.engine.raw_connection()
    try:
        results = []
        for _ in range(times):
            cursor = raw.cursor()
            start = time.perf_counter()
            cursor.execute(statement, params)
            cursor.fetchall()
            results.append(time.perf_counter() - start)
            cursor.close()
        raw.rollback()
    finally:
        raw.close()
    return statistics.median(results)


def explain(db, statement: str, params) -> str:
    raw = db.engine.raw_connection()
    try:
        cursor = raw.cursor()
        if db.engine.dialect.name == "sqlite":
            cursor.execute("EXPLAIN QUERY PLAN " + statement, params)
            plan = "; ".join(str(row[-1]) for row in cursor.fetchall())
        else:
            cursor.execute("EXPLAIN " + statement, params)
            plan = " / ".join(row[0].strip() for row in cursor.fetchall()[:6])
        cursor.close()
        raw.rollback()
    finally:
        raw.close()
    return plan


async def call(app, path: str, cookie: str | None) -> tuple[int, int]:
    headers = [(b"host", b"testserver"), (b"user-agent", b"bench")]
    if cookie:
        headers.append((b"cookie", cookie.encode()))
    p, _, q = path.partition("?")
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
             "scheme": "http", "path": p, "raw_path": p.encode(), "query_string": q.encode(), "root_path": "",
             "headers": headers, "client": ("127.0.0.1", 50000), "server": ("testserver", 80)}
    status, size = 0, 0

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        nonlocal status, size
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body":
            size += len(message.get("body", b""))

    await app(scope, receive, send)
    return status, size


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default="sqlite:////tmp/bench.db")
    parser.add_argument("--requests", type=int, default=200, help="requests per page and visitor")
    parser.add_argument("--sql", action="store_true", help="print each statement of one request")
    parser.add_argument("--whatif", default="", help="apply bench/whatif.py patches first (comma-separated or all)")
    args = parser.parse_args(argv)
    if args.whatif:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        import whatif

        print("what-if patches: " + ", ".join(whatif.apply([n.strip() for n in args.whatif.split(",") if n.strip()])))

    from forum import accounts
    from forum.models import Category, SiteSetting

    clock = Clock()
    app, db = build(args.database_url, clock)
    with db.write() as session:
        user = accounts.find_user_by_login(session, "benchmember")
        if user is None:
            user = accounts.create_user(session, username="benchmember", email="benchmember@bench.example.org",
                                        password="bench-password-1", name="Bench Member", tier="member")
        cookie = "_t=" + accounts.start_session(session, user, user_agent="profile")
    with db.read() as session:
        info = json.loads(session.scalar(select(SiteSetting.value).where(SiteSetting.key == "bench_generated")))
        general = session.scalar(select(Category).where(Category.slug == "general"))
        category_path = f"/c/{general.slug}/{general.id}"
    pages = {"topic": info["special_topic"]["path"], "latest": "/latest", "category": category_path}

    loop = asyncio.new_event_loop()
    print(f"{info['topics']} topics, {info['posts']} posts; {args.requests} sequential requests per row; "
          "CPU ms per request, medians")
    print(f"{'page':9} {'visitor':10} {'total':>7} {'sql':>6} {'#sql':>5} {'load':>6} {'render':>7} {'other':>6}  bytes")
    for page, path in pages.items():
        for visitor in ("anonymous", "member"):
            c = cookie if visitor == "member" else None
            for _ in range(10):
                loop.run_until_complete(call(app, path, c))
            samples = []
            for _ in range(args.requests):
                clock.phase.clear()
                clock.statements.clear()
                start = time.process_time()
                status, size = loop.run_until_complete(call(app, path, c))
                total = time.process_time() - start
                assert status == 200, (path, status)
                ph = dict(clock.phase)
                load, render = ph.get("load", 0.0), ph.get("render", 0.0)
                samples.append((total, 0.0, ph.get("sql_count", 0), load, render, total - load - render))
            statements = list(clock.statements)
            timed = [(rerun(db, statement, params), statement, params) for statement, params in statements]
            sql = sum(t for t, _, _ in timed)
            med = [statistics.median(s[i] for s in samples) for i in range(6)]
            print(f"{page:9} {visitor:10} {med[0] * 1000:7.2f} {sql * 1000:6.2f} {med[2]:5.0f} "
                  f"{med[3] * 1000:6.2f} {med[4] * 1000:7.2f} {med[5] * 1000:6.2f}  {size}")
            if args.sql:
                for elapsed, statement, params in timed:
                    text = " ".join(statement.split())
                    print(f"      {elapsed * 1000:7.2f} ms  {text[:150]}{'…' if len(text) > 150 else ''}")
                    if text.upper().startswith("SELECT"):
                        print("                  plan: " + explain(db, statement, params))
    loop.close()
    db.dispose()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
