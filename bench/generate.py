"""Fill a fresh, migrated forum database with a large, consistent data set for benchmarks.

    python bench/generate.py --database-url sqlite:////tmp/bench.db --topics 10000 --posts 500000
    python bench/generate.py --database-url postgresql+psycopg://postgres@127.0.0.1:5432/forum_bench

What it makes:

* a few hundred users of every tier (participant, worker, member) plus moderators and one admin,
  all sharing ONE argon2 password hash (password: see PASSWORD below);
* eight categories (two of them subcategories) at different viewing levels: public, read-only
  announcements, signed-in-only help, workers-only, members-only, staff-only;
* topics and posts with every counter consistent with the rows, exactly as the services keep them:
  Topic.highest_post_number / posts_count / like_count / participant_count / bumped_at /
  last_posted_at / last_post_user_id, Post.reply_count / like_count, Category.topic_count /
  post_count, User.post_count / topic_count / last_posted_at; post numbers contiguous from 1;
* likes (post_actions rows of action_type 2), never on one's own post and only by users who can
  see the category;
* one public topic with exactly 51 posts (the first post and 50 replies) and, when --posts leaves
  room for it (at least --topics + 550), a second one with exactly 501 (500 replies), both in
  "General"; their URL paths are printed and stored in site_settings under "bench_generated"
  ("special_topic" and "special_topic_500") for bench/run.py.

Cooked HTML is precomputed: a few dozen distinct markdown bodies are cooked once with
forum.markdown.cook and reused. Rows go in with SQLAlchemy Core executemany in large batches,
inside one transaction per phase.

An existing database is replaced only if this script made it (or with --replace).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sqlalchemy import bindparam, create_engine, insert, inspect, select, text, update  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from forum.markdown import cook  # noqa: E402
from forum.models import (  # noqa: E402
    CREATE,
    LIKE,
    NONE,
    REPLY,
    SEE,
    Category,
    Post,
    PostAction,
    SiteSetting,
    Topic,
    User,
)
from forum.text import slugify  # noqa: E402

PASSWORD = "bench-password-1"
MARKER_KEY = "bench_generated"
SPECIAL_TITLE = "Benchmark topic with fifty replies"
SPECIAL_POSTS = 51
LONG_TITLE = "Benchmark topic with five hundred replies"  # slug benchmark-topic-with-five-hundred-replies
LONG_POSTS = 501
TOPIC_BATCH = 500  # topics generated, and their posts inserted, per round
POST_BATCH = 20_000

# name, slug, parent slug, (everyone, participant, worker, member), share of topics
CATEGORIES = [
    ("General", "general", None, (CREATE, CREATE, CREATE, CREATE), 0.33),
    ("Announcements", "announcements", None, (SEE, SEE, REPLY, REPLY), 0.04),
    ("Help and questions", "help", None, (SEE, CREATE, CREATE, CREATE), 0.18),
    ("Off-topic", "off-topic", "general", (CREATE, CREATE, CREATE, CREATE), 0.10),
    ("Workers' room", "workers", None, (NONE, NONE, CREATE, CREATE), 0.12),
    ("Members only", "members", None, (NONE, NONE, NONE, CREATE), 0.12),
    ("Governance", "governance", "members", (NONE, NONE, NONE, CREATE), 0.07),
    ("Staff", "staff", None, (NONE, NONE, NONE, NONE), 0.04),
]
AUDIENCE_INDEX = {"participant": 1, "worker": 2, "member": 3}

WORDS = (
    "co-operative federation member assembly budget governance statute conversion buyout training "
    "solidarity fund housing energy credit union worker ownership dividend capital account board "
    "election quorum minutes proposal amendment audit report network conference webinar translation "
    "newsletter survey research policy tax reform procurement platform software hosting accounting "
    "payroll insurance pension succession mentoring apprenticeship youth regional national "
    "international charter principles democracy transparency membership fees reserves"
).split()

SENTENCES = [
    "We discussed this at the last general assembly and the board agreed to come back with a proposal.",
    "Our co-operative has been running a similar scheme for three years; happy to share the details.",
    "The federation's position paper on worker buyouts covers most of these questions.",
    "Could someone from the secretariat confirm the deadline for the amended statutes?",
    "In our experience the capital accounts work best when members can see them every quarter.",
    "The translation of the charter into Portuguese is nearly finished; reviewers are welcome.",
    "I would add that the insurance question depends a lot on the national legislation.",
    "Thanks, this is very helpful. We will bring it to our members' meeting next week.",
    "The training sessions were recorded, and the slides are in the shared folder.",
    "Please keep replies focused on the budget lines; the governance questions have their own topic.",
    "We tried the open-source accounting package and it handled the member ledgers well.",
    "A quorum of two thirds seems high for a network of this size; what do other federations use?",
]


def log(message: str) -> None:
    print(message, flush=True)


# --- the database itself ------------------------------------------------------------------------

def prepare_database(url: str, replace: bool) -> None:
    """Make sure an empty database exists at url (creating or replacing it), then migrate it."""
    u = make_url(url)
    backend = u.get_backend_name()
    if backend == "sqlite":
        path = u.database
        if path and path != ":memory:" and os.path.exists(path):
            if not replace and not _is_bench_database(url):
                raise SystemExit(f"{path} exists and was not made by this script; pass --replace to overwrite it.")
            for suffix in ("", "-wal", "-shm", "-journal"):
                if os.path.exists(path + suffix):
                    os.remove(path + suffix)
    elif backend == "postgresql":
        import psycopg

        name = u.database
        admin = u.set(drivername="postgresql", database="postgres").render_as_string(hide_password=False)
        with psycopg.connect(admin, autocommit=True, connect_timeout=10) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
            if exists:
                if not replace and not _is_bench_database(url):
                    raise SystemExit(f"database {name} exists and was not made by this script; "
                                     "pass --replace to overwrite it.")
                conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{name}"')
    else:
        raise SystemExit(f"unsupported database backend: {backend}")

    from forum.migrate import upgrade

    upgrade(url)


def _is_bench_database(url: str) -> bool:
    engine = create_engine(url)
    try:
        if "site_settings" not in inspect(engine).get_table_names():
            return not _has_tables(engine)
        with engine.connect() as conn:
            return conn.execute(select(SiteSetting.value).where(SiteSetting.key == MARKER_KEY)).first() is not None
    except Exception:
        return False
    finally:
        engine.dispose()


def _has_tables(engine) -> bool:
    return bool(inspect(engine).get_table_names())


# --- content ----------------------------------------------------------------------------------

def make_bodies(rng: random.Random, usernames: list[str], count: int = 40) -> list[tuple[str, str]]:
    """(raw, cooked) pairs: markdown of varied shapes and lengths, each cooked once."""
    known = {u.lower(): u for u in usernames}

    def resolve(candidates):
        return {c: known[c] for c in candidates if c in known}

    bodies = []
    for i in range(count):
        parts = []
        paragraphs = rng.choice((1, 1, 2, 2, 3, 4, 6))
        for _ in range(paragraphs):
            parts.append(" ".join(rng.sample(SENTENCES, rng.randint(1, 4))))
        shape = i % 8
        if shape == 1:
            parts.append("\n".join(f"- {rng.choice(WORDS)} {rng.choice(WORDS)}: {rng.choice(SENTENCES)}"
                                   for _ in range(rng.randint(2, 5))))
        elif shape == 2:
            parts.insert(0, f"@{rng.choice(usernames)} {rng.choice(SENTENCES)}")
        elif shape == 3:
            who = rng.choice(usernames)
            parts.insert(0, f'[quote="{who}, post:{rng.randint(1, 9)}, topic:{rng.randint(1, 99)}"]\n'
                            f"{rng.choice(SENTENCES)}\n[/quote]")
        elif shape == 4:
            parts.append("```\nquorum = ceil(members * 2 / 3)\nprint(quorum)\n```")
        elif shape == 5:
            parts.append("| Item | Amount |\n|---|---:|\n| Training | 12 000 |\n| Translation | 4 500 |")
        elif shape == 6:
            parts.append("See https://example.org/federation/charter and **please** comment by *Friday*.")
        raw = "\n\n".join(parts)
        bodies.append((raw, cook(raw, resolve).html))
    return bodies


def topic_title(rng: random.Random, i: int) -> str:
    words = rng.sample(WORDS, rng.randint(3, 7))
    words[0] = words[0].capitalize()
    return " ".join(words) + f" ({i})"


# --- the generator ----------------------------------------------------------------------------

def search_terms(search):
    """search._terms(category_id, text), with each word stemmed once (the stemmer is pure Python).

    Stems are per word, so a text's stems are its words' stems in order; falls back to
    search._terms when the helpers this relies on are missing.
    """
    if not all(hasattr(search, name) for name in ("words", "stems", "prefix")):
        return search._terms
    cache: dict[str, list[str]] = {}

    def terms(category_id: int, text_value: str) -> str:
        p = search.prefix(category_id)
        out: list[str] = []
        for word in search.words(text_value):
            stemmed = cache.get(word)
            if stemmed is None:
                stemmed = cache[word] = search.stems(word)
            out.extend(stemmed)
        return " ".join(p + s for s in out)

    return terms


def search_support(engine):
    """How to fill the full-text index, if this version of the forum has one.

    Returns the forum.search module when its term helpers are there (documents are then computed
    here, once per distinct body and category, like search.backfill would), "backfill" when only
    search.backfill is, or None when the schema has no search_documents table.
    """
    if "search_documents" not in inspect(engine).get_table_names():
        return None
    try:
        from forum import search
    except ImportError:
        return None
    if all(hasattr(search, name) for name in ("_terms", "plain_text")):
        return search
    return "backfill" if hasattr(search, "backfill") else None


class Generator:
    def __init__(self, url: str, topics: int, posts: int, users: int, seed: int):
        if topics < 1:
            raise SystemExit("--topics must be at least 1")
        if posts < topics + SPECIAL_POSTS - 1:
            raise SystemExit(f"--posts must be at least --topics + {SPECIAL_POSTS - 1} "
                             f"(every topic has a first post, one topic has {SPECIAL_POSTS})")
        self.url, self.n_topics, self.n_posts, self.n_users = url, topics, posts, max(users, 20)
        # The 500-reply topic, when the posts leave room for it.
        self.with_long = topics >= 2 and posts >= topics + SPECIAL_POSTS - 1 + LONG_POSTS - 1
        self.rng = random.Random(seed)
        self.now = datetime.now(UTC).replace(microsecond=0)
        self.engine = create_engine(url)
        self.is_sqlite = self.engine.dialect.name == "sqlite"
        self.search = search_support(self.engine)
        if self.is_sqlite:
            from sqlalchemy import event

            @event.listens_for(self.engine, "connect")
            def _fast(dbapi_conn, _record):
                cur = dbapi_conn.cursor()
                # A throwaway database being built: no durability needed until the end.
                cur.execute("PRAGMA journal_mode=OFF")
                cur.execute("PRAGMA synchronous=OFF")
                cur.execute("PRAGMA cache_size=-262144")
                cur.execute("PRAGMA temp_store=MEMORY")
                cur.close()

    # users and categories

    def make_users(self, conn) -> None:
        from forum import auth

        password_hash = auth.hash_password(PASSWORD)  # one hash, shared by every account
        rng = self.rng
        rows = []
        self.users: list[dict] = []
        for i in range(1, self.n_users + 1):
            if i == 1:
                tier, mod, admin = "member", True, True
            elif i <= 6:
                tier, mod, admin = rng.choice(("worker", "member")), True, False
            else:
                tier = rng.choices(("participant", "worker", "member"), weights=(4, 3, 3))[0]
                mod = admin = False
            username = f"admin{i}" if admin else f"user{i:04d}"
            created = self.now - timedelta(days=800, seconds=rng.randint(0, 86400 * 60))
            row = dict(id=i, username=username, username_lower=username.lower(), name=f"Bench User {i}",
                       email=f"{username}@bench.example.org", password_hash=password_hash, tier=tier,
                       is_moderator=mod, is_admin=admin, timezone=None, locale=None, created_at=created,
                       last_seen_at=self.now - timedelta(seconds=rng.randint(0, 86400 * 30)),
                       last_posted_at=None, post_count=0, topic_count=0)
            rows.append(row)
            self.users.append(row)
        conn.execute(insert(User.__table__), rows)
        self.usernames = [u["username"] for u in self.users]
        self.user_posts = Counter()
        self.user_topics = Counter()
        self.user_last_posted: dict[int, datetime] = {}

    def make_categories(self, conn) -> None:
        rows, self.categories = [], []
        ids = {slug: n for n, (_, slug, *_rest) in enumerate(CATEGORIES, start=1)}
        for n, (name, slug, parent, levels, share) in enumerate(CATEGORIES, start=1):
            row = dict(id=n, name=name, slug=slug, description=f"{name}: benchmark category.",
                       color=f"{(n * 0x2345) % 0xFFFFFF:06X}", text_color="FFFFFF", position=n,
                       parent_id=ids[parent] if parent else None,
                       level_everyone=levels[0], level_participant=levels[1], level_worker=levels[2],
                       level_member=levels[3], topic_count=0, post_count=0,
                       created_at=self.now - timedelta(days=800))
            rows.append(row)
            parent_levels = CATEGORIES[ids[parent] - 1][3] if parent else None
            self.categories.append(dict(id=n, share=share,
                                        creators=self._eligible(levels, parent_levels, CREATE),
                                        repliers=self._eligible(levels, parent_levels, REPLY),
                                        viewers=self._eligible(levels, parent_levels, SEE)))
        conn.execute(insert(Category.__table__), rows)
        self.cat_topics = Counter()
        self.cat_posts = Counter()

    def _eligible(self, levels, parent_levels, needed: int) -> list[int]:
        """Ids of users whose level in the category (parents applied) is at least `needed`."""
        out = []
        for u in self.users:
            if u["is_moderator"] or u["is_admin"]:
                out.append(u["id"])
                continue
            own = max(levels[0], levels[AUDIENCE_INDEX[u["tier"]]])
            if parent_levels is not None and max(parent_levels[0], parent_levels[AUDIENCE_INDEX[u["tier"]]]) < SEE:
                own = NONE
            if own >= needed:
                out.append(u["id"])
        return out

    # topics, posts, likes

    def plan_sizes(self) -> list[int]:
        """Posts per topic: 1 + a heavy-tailed share of the rest; the special topics have exactly 51
        and 501."""
        rng = self.rng
        n = self.n_topics
        self.special = rng.randrange(n // 4, max(n // 2, 1)) if n > 4 else 0
        self.long = None
        if self.with_long:
            self.long = rng.randrange(n // 2, max(3 * n // 4, n // 2 + 1)) if n > 4 else self.special + 1
        sizes = [1] * n
        sizes[self.special] = SPECIAL_POSTS
        rest = self.n_posts - (n - 1) - SPECIAL_POSTS
        if self.long is not None:
            sizes[self.long] = LONG_POSTS
            rest -= LONG_POSTS - 1
        others = [i for i in range(n) if i not in (self.special, self.long)]
        if rest > 0 and others:
            weights = [rng.paretovariate(1.8) for _ in others]
            for i in rng.choices(others, weights=weights, k=rest):
                sizes[i] += 1
        elif rest > 0:
            raise SystemExit("not enough topics to hold the posts")
        assert sum(sizes) == self.n_posts
        return sizes

    def run(self) -> dict:
        t0 = time.perf_counter()
        rng = self.rng
        with self.engine.begin() as conn:
            self.make_users(conn)
            self.make_categories(conn)
            self.bodies = make_bodies(rng, self.usernames)
        log(f"  users and categories: {time.perf_counter() - t0:.1f}s")

        sizes = self.plan_sizes()
        cat_weights = [c["share"] for c in self.categories]
        general = self.categories[0]
        post_id = 0
        likes_total = 0
        special_info = long_info = None
        topic_rows, post_rows, like_rows, search_rows = [], [], [], []
        span_max = 730 * 86400
        search = self.search if self.search not in (None, "backfill") else None
        search_table = None
        if search is not None:
            from forum.models import SearchDocument

            search_table = SearchDocument.__table__
        body_terms: dict[tuple[int, int], str] = {}
        terms = search_terms(search) if search is not None else None

        def flush(conn, final=False):
            nonlocal topic_rows, post_rows, like_rows, search_rows
            if topic_rows:
                conn.execute(insert(Topic.__table__), topic_rows)
                topic_rows = []
            if post_rows and (final or len(post_rows) >= POST_BATCH):
                conn.execute(insert(Post.__table__), post_rows)
                post_rows = []
                if like_rows:
                    conn.execute(insert(PostAction.__table__), like_rows)
                    like_rows = []
                if search_rows:
                    conn.execute(insert(search_table), search_rows)
                    search_rows = []

        with self.engine.begin() as conn:
            # SQLite keeps its FTS index in step with triggers, one index update per row; building
            # it once at the end is several times faster. The triggers are restored as they were.
            fts_triggers, fts_tables = [], []
            if search is not None and self.is_sqlite:
                fts_triggers = conn.exec_driver_sql(
                    "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'search_documents'"
                ).all()
                fts_tables = [name for name, sql in conn.exec_driver_sql(
                    "SELECT name, sql FROM sqlite_master WHERE type = 'table' AND sql LIKE 'CREATE VIRTUAL TABLE%'"
                ).all() if "content='search_documents'" in sql.replace('"', "'")]
                for name, _sql in fts_triggers:
                    conn.exec_driver_sql(f'DROP TRIGGER "{name}"')
            for index, n in enumerate(sizes):
                tid = index + 1
                special = index in (self.special, self.long)
                cat = general if special else rng.choices(self.categories, weights=cat_weights)[0]
                title = (SPECIAL_TITLE if index == self.special else LONG_TITLE) if special else topic_title(rng, tid)
                creator = rng.choice(cat["creators"])
                pool = [creator] + rng.sample(cat["repliers"], min(len(cat["repliers"]),
                                                                   rng.randint(1, 4 if n < 10 else 30)))
                if special:
                    pool = [creator] + rng.sample(cat["repliers"], min(len(cat["repliers"]), 25))
                start = self.now - timedelta(seconds=rng.randint(3600, span_max))
                span = (self.now - start).total_seconds() * rng.uniform(0.01, 0.9)
                step = span / n
                authors = [creator] + [rng.choice(pool) for _ in range(n - 1)]
                reply_to = [None] * n
                reply_counts = [0] * n
                for k in range(1, n):
                    if rng.random() < 0.25:
                        target = max(1, k + 1 - rng.randint(1, 5))
                        reply_to[k] = target
                        reply_counts[target - 1] += 1
                viewers = cat["viewers"]
                topic_likes = 0
                last_at = start
                for k in range(n):
                    post_id += 1
                    at = start + timedelta(seconds=int(step * k + rng.random() * step * 0.9))
                    last_at = at
                    body = (post_id * 7 + tid) % len(self.bodies)
                    raw, cooked = self.bodies[body]
                    if search is not None:
                        bt = body_terms.get((cat["id"], body))
                        if bt is None:
                            bt = body_terms[(cat["id"], body)] = terms(cat["id"], search.plain_text(cooked))
                        search_rows.append(dict(post_id=post_id, topic_id=tid, category_id=cat["id"],
                                                title_terms=terms(cat["id"], title) if k == 0 else "",
                                                body_terms=bt))
                    uid = authors[k]
                    likes = 0
                    if rng.random() < 0.15:
                        likers = rng.sample(viewers, min(len(viewers), rng.randint(1, 6)))
                        for liker in likers:
                            if liker != uid:
                                likes += 1
                                like_rows.append(dict(post_id=post_id, user_id=liker, action_type=LIKE,
                                                      created_at=at + timedelta(minutes=5)))
                    topic_likes += likes
                    post_rows.append(dict(
                        id=post_id, topic_id=tid, post_number=k + 1, user_id=uid,
                        reply_to_post_number=reply_to[k], raw=raw, cooked=cooked, created_at=at,
                        updated_at=at, edited_at=None, version=1, like_count=likes,
                        reply_count=reply_counts[k], hidden=False, deleted_at=None, deleted_by_id=None))
                    self.user_posts[uid] += 1
                    prev = self.user_last_posted.get(uid)
                    if prev is None or at > prev:
                        self.user_last_posted[uid] = at
                likes_total += topic_likes
                self.user_topics[creator] += 1
                self.cat_topics[cat["id"]] += 1
                self.cat_posts[cat["id"]] += n
                slug = slugify(title)
                pinned_globally = (not special) and index in (1, 2) and cat["id"] in (1, 2)
                topic_rows.append(dict(
                    id=tid, title=title, slug=slug, category_id=cat["id"], user_id=creator,
                    last_post_user_id=authors[-1], created_at=start, bumped_at=last_at, last_posted_at=last_at,
                    highest_post_number=n, posts_count=n, like_count=topic_likes,
                    views=n * rng.randint(3, 40), participant_count=len(set(authors)),
                    pinned=pinned_globally or (index % 997 == 5), pinned_globally=pinned_globally,
                    closed=(index % 53 == 7) and not special, archived=False, visible=True, deleted_at=None))
                if index == self.special:
                    special_info = dict(id=tid, slug=slug, path=f"/t/{slug}/{tid}", posts=n)
                elif index == self.long:
                    long_info = dict(id=tid, slug=slug, path=f"/t/{slug}/{tid}", posts=n)
                if len(topic_rows) >= TOPIC_BATCH or len(post_rows) >= POST_BATCH:
                    flush(conn)
                if (index + 1) % 2000 == 0:
                    log(f"  {index + 1} topics, {post_id} posts: {time.perf_counter() - t0:.1f}s")
            flush(conn, final=True)
            for name in fts_tables:
                conn.exec_driver_sql(f"INSERT INTO \"{name}\"(\"{name}\") VALUES ('rebuild')")
            for _name, sql in fts_triggers:
                conn.exec_driver_sql(sql)

        if self.search is not None:
            with self.engine.begin() as conn:
                if search is None:
                    from forum import search as search_module

                    search_module.backfill(conn)
                elif not self.is_sqlite:
                    # As forum.search does for each document it writes, for all of them at once.
                    conn.execute(text("UPDATE search_documents SET tsv = setweight(to_tsvector("
                                      "'simple'::regconfig, title_terms), 'A') || "
                                      "to_tsvector('simple'::regconfig, body_terms)"))
            log(f"  search index: {time.perf_counter() - t0:.1f}s")

        with self.engine.begin() as conn:
            user_updates = [dict(b_id=u["id"], b_pc=self.user_posts[u["id"]], b_tc=self.user_topics[u["id"]],
                                 b_lp=self.user_last_posted.get(u["id"])) for u in self.users]
            users = User.__table__
            conn.execute(update(users).where(users.c.id == bindparam("b_id")).values(
                post_count=bindparam("b_pc"), topic_count=bindparam("b_tc"),
                last_posted_at=bindparam("b_lp", type_=users.c.last_posted_at.type)), user_updates)
            cats = Category.__table__
            conn.execute(update(cats).where(cats.c.id == bindparam("b_id")).values(
                topic_count=bindparam("b_tc"), post_count=bindparam("b_pc")),
                [dict(b_id=c["id"], b_tc=self.cat_topics[c["id"]], b_pc=self.cat_posts[c["id"]])
                 for c in self.categories])
            info = dict(topics=self.n_topics, posts=self.n_posts, users=self.n_users, likes=likes_total,
                        special_topic=special_info, special_topic_500=long_info, password=PASSWORD,
                        member_username=next(u["username"] for u in self.users
                                             if u["tier"] == "member" and not u["is_moderator"]),
                        generated_at=self.now.isoformat())
            conn.execute(insert(SiteSetting.__table__), [dict(key=MARKER_KEY, value=json.dumps(info))])
            if not self.is_sqlite:
                for table in ("users", "categories", "topics", "posts", "post_actions"):
                    conn.execute(text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                                      f"(SELECT COALESCE(MAX(id), 1) FROM {table}))"))
        log(f"  rows written: {time.perf_counter() - t0:.1f}s")

        if self.is_sqlite:
            with self.engine.connect() as conn:
                conn.exec_driver_sql("PRAGMA journal_mode=WAL")
        else:
            with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.exec_driver_sql("VACUUM ANALYZE")
        self.engine.dispose()
        info["elapsed"] = time.perf_counter() - t0
        return info


CHECKS = {
    "topic posts_count/highest_post_number/contiguous numbers": """
        SELECT COUNT(*) FROM topics t JOIN (
          SELECT topic_id, COUNT(*) AS n, MIN(post_number) AS lo, MAX(post_number) AS hi,
                 COUNT(DISTINCT user_id) AS people, SUM(like_count) AS likes, MAX(created_at) AS last_at
          FROM posts GROUP BY topic_id) p ON p.topic_id = t.id
        WHERE t.posts_count <> p.n OR t.highest_post_number <> p.hi OR p.lo <> 1 OR p.hi <> p.n
           OR t.participant_count <> p.people OR t.like_count <> p.likes
           OR t.bumped_at <> p.last_at OR t.last_posted_at <> p.last_at""",
    "topics without posts": "SELECT COUNT(*) FROM topics t WHERE NOT EXISTS (SELECT 1 FROM posts WHERE topic_id = t.id)",
    "topic last_post_user_id": """
        SELECT COUNT(*) FROM topics t JOIN posts p ON p.topic_id = t.id AND p.post_number = t.highest_post_number
        WHERE t.last_post_user_id <> p.user_id""",
    "post like_count": """
        SELECT COUNT(*) FROM posts p LEFT JOIN (SELECT post_id, COUNT(*) AS n FROM post_actions
          WHERE action_type = 2 GROUP BY post_id) a ON a.post_id = p.id
        WHERE p.like_count <> COALESCE(a.n, 0)""",
    "likes of one's own post": "SELECT COUNT(*) FROM post_actions a JOIN posts p ON p.id = a.post_id WHERE a.user_id = p.user_id",
    "post reply_count": """
        SELECT COUNT(*) FROM posts p LEFT JOIN (SELECT topic_id, reply_to_post_number AS n, COUNT(*) AS c
          FROM posts WHERE reply_to_post_number IS NOT NULL GROUP BY topic_id, reply_to_post_number) r
          ON r.topic_id = p.topic_id AND r.n = p.post_number
        WHERE p.reply_count <> COALESCE(r.c, 0)""",
    "category topic_count/post_count": """
        SELECT COUNT(*) FROM categories c LEFT JOIN (SELECT category_id, COUNT(*) AS n, SUM(posts_count) AS p
          FROM topics GROUP BY category_id) t ON t.category_id = c.id
        WHERE c.topic_count <> COALESCE(t.n, 0) OR c.post_count <> COALESCE(t.p, 0)""",
    "user post_count/topic_count": """
        SELECT COUNT(*) FROM users u
        LEFT JOIN (SELECT user_id, COUNT(*) AS n FROM posts GROUP BY user_id) p ON p.user_id = u.id
        LEFT JOIN (SELECT user_id, COUNT(*) AS n FROM topics GROUP BY user_id) t ON t.user_id = u.id
        WHERE u.post_count <> COALESCE(p.n, 0) OR u.topic_count <> COALESCE(t.n, 0)""",
}


def verify(url: str) -> bool:
    """Recount everything with SQL and report rows whose stored counters disagree."""
    engine = create_engine(url)
    ok = True
    checks = dict(CHECKS)
    if "search_documents" in inspect(engine).get_table_names():
        checks["posts missing from the search index"] = (
            "SELECT COUNT(*) FROM posts p WHERE NOT EXISTS (SELECT 1 FROM search_documents s WHERE s.post_id = p.id)")
    with engine.connect() as conn:
        for name, sql in checks.items():
            bad = conn.execute(text(sql)).scalar_one()
            ok = ok and bad == 0
            log(f"  {'ok ' if bad == 0 else 'BAD'} {name}: {bad} inconsistent rows")
    engine.dispose()
    return ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default="sqlite:////tmp/bench.db")
    parser.add_argument("--topics", type=int, default=10_000)
    parser.add_argument("--posts", type=int, default=500_000)
    parser.add_argument("--users", type=int, default=300)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--replace", action="store_true",
                        help="replace an existing database even if this script did not make it")
    parser.add_argument("--verify", action="store_true",
                        help="only recount an existing database and check its stored counters")
    args = parser.parse_args(argv)
    if args.verify:
        return 0 if verify(args.database_url) else 1

    started = time.perf_counter()
    log(f"Generating {args.topics} topics, {args.posts} posts, {args.users} users "
        f"into {make_url(args.database_url).render_as_string(hide_password=True)}")
    prepare_database(args.database_url, args.replace)
    log(f"  migrated: {time.perf_counter() - started:.1f}s")
    info = Generator(args.database_url, args.topics, args.posts, args.users, args.seed).run()
    elapsed = time.perf_counter() - started
    special = info["special_topic"]
    log(f"Done: {info['topics']} topics, {info['posts']} posts, {info['likes']} likes, "
        f"{info['users']} users in {elapsed:.1f}s")
    log(f"50-reply topic ({special['posts']} posts): {special['path']}")
    long_topic = info["special_topic_500"]
    if long_topic:
        log(f"500-reply topic ({long_topic['posts']} posts): {long_topic['path']}")
    else:
        log(f"No 500-reply topic: it needs --posts >= --topics + {SPECIAL_POSTS + LONG_POSTS - 2}")
    log(f"Every account's password: {PASSWORD}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
