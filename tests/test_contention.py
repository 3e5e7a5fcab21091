"""Many writers at once, through the API of a real server: nobody who pressed Reply is refused, and
every counter ends exact. On PostgreSQL this is where lock order and retries show (forum/db.py)."""

from __future__ import annotations

import random
import re
import threading
import time
import uuid
from collections import Counter

import httpx
import pytest
from sqlalchemy import func, select, text

from forum import accounts, apikeys
from forum.config import Settings
from forum.models import Category, Notification, Post, PostAction, Topic, User
from forum.permissions import Viewer
from tests.server import running_server

pytestmark = pytest.mark.server

LIKE = 2


def _all_users_key(db, staff) -> str:
    with db.write() as session:
        return apikeys.create_api_key(session, Viewer(staff), description="contention test").secret


def _client(base: str, key: str, username: str) -> httpx.Client:
    return httpx.Client(base_url=base, timeout=120,
                        headers={"Api-Key": key, "Api-Username": username, "Accept": "application/json"})


def _run(threads: list[threading.Thread]) -> None:
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def _assert_numbered_without_gaps(session, topic_id: int) -> list[int]:
    numbers = session.scalars(select(Post.post_number).where(Post.topic_id == topic_id)
                              .order_by(Post.post_number)).all()
    assert numbers == list(range(1, len(numbers) + 1))
    return numbers


def _assert_user_and_category_counters(session) -> None:
    posts_by_user = dict(session.execute(select(Post.user_id, func.count(Post.id)).group_by(Post.user_id)).all())
    for user in session.scalars(select(User)):
        assert user.post_count == posts_by_user.get(user.id, 0), user.username
    for category in session.scalars(select(Category)):
        topics = session.scalar(select(func.count(Topic.id)).where(Topic.category_id == category.id))
        posts = session.scalar(select(func.count(Post.id)).join(Topic, Topic.id == Post.topic_id)
                               .where(Topic.category_id == category.id))
        assert (category.topic_count, category.post_count) == (topics, posts), category.name


WRITERS, REPLIES = 32, 25


def test_thirty_two_api_writers_replying_and_liking_in_one_topic_are_never_refused(
        database_url, db, make_user, make_category, make_topic, staff):
    users = [make_user(f"writer{i}", tier="member") for i in range(WRITERS)]
    category = make_category("General")
    topic = make_topic(staff, category)
    key = _all_users_key(db, staff)
    with db.read() as session:
        first_post_id = session.scalar(select(Post.id).where(Post.topic_id == topic.id))
    posted: list[tuple[int, int, int]] = [(first_post_id, 1, -1)]  # (post id, number, writer) as they land
    posted_lock = threading.Lock()
    failures: list[tuple[str, int, str]] = []
    likes_done = [0] * WRITERS
    barrier = threading.Barrier(WRITERS, timeout=60)

    def write(i: int, base: str) -> None:
        rnd = random.Random(i)
        liked: set[int] = set()
        with _client(base, key, users[i].username) as client:
            barrier.wait()
            for n in range(REPLIES):
                with posted_lock:
                    others = [(pid, num) for pid, num, who in posted if who != i and pid not in liked]
                target_id, target_number = rnd.choice(others[-40:])
                # Replying to a post while others like it: the reply raises its reply count, the like
                # its like count, both in the same topic.
                r = client.post("/posts.json", json={"topic_id": topic.id, "raw": f"Reply {n} from writer {i}.",
                                                     "reply_to_post_number": target_number})
                if r.status_code != 200:
                    failures.append(("reply", r.status_code, r.text[:300]))
                    continue
                body = r.json()
                with posted_lock:
                    posted.append((body["id"], body["post_number"], i))
                r = client.post("/post_actions.json", json={"id": target_id, "post_action_type_id": LIKE})
                if r.status_code != 200:
                    failures.append(("like", r.status_code, r.text[:300]))
                    continue
                liked.add(target_id)
                likes_done[i] += 1

    with running_server(database_url, workers=2) as base:
        _run([threading.Thread(target=write, args=(i, base)) for i in range(WRITERS)])

    assert failures == [], f"{len(failures)} refused, e.g. {failures[:3]}"
    total = WRITERS * REPLIES
    assert sum(likes_done) == total
    with db.read() as session:
        assert _assert_numbered_without_gaps(session, topic.id) == list(range(1, total + 2))
        t = session.get(Topic, topic.id)
        assert (t.posts_count, t.highest_post_number, t.reply_count) == (total + 1, total + 1, total)
        assert t.participant_count == WRITERS + 1
        assert t.like_count == total == session.scalar(select(func.count(PostAction.id))
                                                       .where(PostAction.action_type == LIKE))
        posts = session.scalars(select(Post).where(Post.topic_id == topic.id)).all()
        replies_to = Counter(p.reply_to_post_number for p in posts if p.reply_to_post_number)
        likes_of = Counter(session.scalars(select(PostAction.post_id).where(PostAction.action_type == LIKE)))
        for p in posts:
            assert (p.reply_count, p.like_count) == (replies_to[p.post_number], likes_of[p.id]), p.post_number
        # Likes of one post group into one unread notification that counts them ("Ana and 3 others").
        liked_counts = session.execute(select(Notification.post_id, func.sum(Notification.count))
                                       .where(Notification.kind == "liked").group_by(Notification.post_id)).all()
        assert dict(liked_counts) == dict(likes_of)
        assert session.get(Category, category.id).post_count == total + 1
        assert all(u.post_count == REPLIES for u in session.scalars(select(User).where(User.id != staff.id)))
        _assert_user_and_category_counters(session)


SPREAD_WRITERS, SPREAD_TOPICS, SPREAD_REPLIES = 16, 16, 25
CLOSED = "This topic is closed"


def test_writers_over_sixteen_topics_while_a_moderator_moves_and_closes_them_keep_every_count_exact(
        database_url, db, make_user, make_category, make_topic, staff):
    users = [make_user(f"writer{i}", tier="member") for i in range(SPREAD_WRITERS)]
    moderator = make_user("moderator1", tier="member", moderator=True)
    categories = [make_category(name) for name in ("General", "Housing", "Energy")]
    topics = [make_topic(staff, categories[i % 3], title=f"Topic number {i} about co-operation")
              for i in range(SPREAD_TOPICS)]
    key = _all_users_key(db, staff)
    with db.write() as session:
        mod_cookie = accounts.start_session(session, session.get(User, moderator.id))
    replied = Counter()  # topic id -> replies that landed
    refusals: list[tuple[int, str]] = []
    failures: list[tuple[str, int, str]] = []
    writers_done = threading.Event()
    moves = [0]
    tally = threading.Lock()

    def write(i: int, base: str) -> None:
        with _client(base, key, users[i].username) as client:
            for n in range(SPREAD_REPLIES):
                topic = topics[(i + n) % SPREAD_TOPICS]
                r = client.post("/posts.json", json={"topic_id": topic.id, "raw": f"Reply {n} from writer {i}."})
                with tally:
                    if r.status_code == 200:
                        replied[topic.id] += 1
                    elif r.status_code == 403 and CLOSED in r.text:
                        refusals.append((topic.id, r.text))  # closed by the moderator just then: a fair answer
                    else:
                        failures.append(("reply", r.status_code, r.text[:300]))

    def moderate(base: str) -> None:
        rnd = random.Random(7)
        with httpx.Client(base_url=base, cookies={"_t": mod_cookie}, timeout=120) as client:
            page = client.get(f"/admin/topics/{topics[0].id}")
            csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)

            def act(topic, action: str, **form) -> None:
                r = client.post(f"/admin/topics/{topic.id}/{action}", data={"csrf_token": csrf, **form},
                                follow_redirects=False)
                if r.status_code != 303:
                    failures.append((f"moderator {action}", r.status_code, r.text[:300]))

            while not writers_done.is_set():
                topic = rnd.choice(topics)
                act(topic, "category", category_id=str(categories[moves[0] % 3].id))
                moves[0] += 1
                act(topic, "status", change="closed:1")
                act(topic, "status", change="closed:0")

    with running_server(database_url, workers=2) as base:
        writers = [threading.Thread(target=write, args=(i, base)) for i in range(SPREAD_WRITERS)]
        moderator_thread = threading.Thread(target=moderate, args=(base,))
        moderator_thread.start()
        _run(writers)
        writers_done.set()
        moderator_thread.join()

    assert failures == [], f"{len(failures)} failed, e.g. {failures[:3]}"
    assert moves[0] > 0
    assert sum(replied.values()) + len(refusals) == SPREAD_WRITERS * SPREAD_REPLIES
    with db.read() as session:
        for topic in topics:
            t = session.get(Topic, topic.id)
            numbers = _assert_numbered_without_gaps(session, topic.id)
            assert len(numbers) == 1 + replied[topic.id]
            assert (t.posts_count, t.highest_post_number, t.closed) == (len(numbers), len(numbers), False)
        _assert_user_and_category_counters(session)
        assert sum(c.topic_count for c in session.scalars(select(Category))) == SPREAD_TOPICS


def _redis_or_skip(url: str):
    import redis as redis_lib

    try:
        client = redis_lib.Redis.from_url(url)
        client.ping()
    except redis_lib.ConnectionError as e:
        from tests.conftest import _unavailable
        _unavailable(f"Redis is not reachable: {e}")
    return client


def _wait_until_waiting_for_a_lock(db, other_than: int, seconds: float = 30) -> bool:
    deadline = time.monotonic() + seconds
    with db.engine.connect() as conn:
        while time.monotonic() < deadline:
            waiting = conn.execute(text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND wait_event_type = 'Lock' AND pid <> :pid"), {"pid": other_than}).scalar_one()
            conn.rollback()
            if waiting:
                return True
            time.sleep(0.02)
    return False


def test_a_like_that_postgresql_breaks_off_in_a_deadlock_is_run_again_and_counted_once(
        settings, db, make_user, make_category, make_topic, staff):
    from fastapi.testclient import TestClient

    from forum.app import create_app

    if db.engine.dialect.name != "postgresql":
        pytest.skip("SQLite runs one writer at a time: it never deadlocks")
    url, prefix = "redis://127.0.0.1:6379/15", f"forumtest-{uuid.uuid4().hex}"
    redis = _redis_or_skip(url)
    liker = make_user("liker", tier="member")
    topic = make_topic(staff, make_category("General"))
    with db.read() as session:
        post_id = session.scalar(select(Post.id).where(Post.topic_id == topic.id))
    key = _all_users_key(db, staff)
    app = create_app(Settings(**{**settings.model_dump(), "redis_url": url, "redis_prefix": prefix}), db)
    answer: dict = {}
    try:
        with TestClient(app) as client, db.engine.connect() as other:
            # Another transaction holds the topic; the like locks its liker's row, then waits for the topic.
            # Let PostgreSQL break the cycle below in the like's transaction, not in this one.
            other.execute(text("SET deadlock_timeout = '60s'"))
            other.execute(select(Topic.id).where(Topic.id == topic.id).with_for_update())
            pid = other.execute(text("SELECT pg_backend_pid()")).scalar_one()
            like = threading.Thread(target=lambda: answer.update(r=client.post(
                "/post_actions.json", json={"id": post_id, "post_action_type_id": LIKE},
                headers={"Api-Key": key, "Api-Username": liker.username, "Accept": "application/json"})))
            like.start()
            assert _wait_until_waiting_for_a_lock(db, other_than=pid)
            # Now wait for the liker's row: a deadlock, which PostgreSQL settles by rolling the like back.
            other.execute(select(User.id).where(User.id == liker.id).with_for_update())
            _wait_until_waiting_for_a_lock(db, other_than=pid, seconds=5)  # the like, run again, waits its turn
            other.commit()
            like.join(timeout=60)
        r = answer["r"]
        assert r.status_code == 200, r.text
        assert r.json()["like_count"] == 1
        # The like counted once against the day's likes, though its request ran twice.
        assert r.headers["Discourse-Actions-Remaining"] == "199"
        assert int(redis.get(f"{prefix}:rl:like:{liker.id}")) == 1
        with db.read() as session:
            assert session.get(Topic, topic.id).like_count == 1
            assert session.scalar(select(func.count(PostAction.id))) == 1
    finally:
        for stale in redis.scan_iter(f"{prefix}:*"):
            redis.delete(stale)
