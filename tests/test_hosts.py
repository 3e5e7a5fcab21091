"""Two hosts: two `forum serve` instances (on different ports, standing for two machines) and two
# ruff: noqa: F811  (the SMTP fixtures are imported by name, then requested by name)
`forum worker` processes against one database and one Redis, as docs/deploy.md sets them up."""

from __future__ import annotations

import os
import select
import subprocess
import sys
import time
import uuid
from contextlib import ExitStack
from datetime import timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy import update

from forum import apikeys, emails
from forum.models import Post, Topic, User, UserOption, utcnow
from forum.permissions import Viewer
from tests.conftest import csrf_of, login
from tests.server import running_server
from tests.smtp import mail_settings, smtp_server  # noqa: F401  (fixtures)
from tests.sse import Stream


@pytest.mark.server
def test_two_hosts_and_two_workers_share_everything_a_person_notices(
        database_url, db, redis_url, smtp_server, make_user, make_category, make_topic, staff):
    ana = make_user("ana", tier="member")
    bea = make_user("bea", tier="member")
    with db.write() as session:
        emails.confirm_address(session, bea.id)
        key = apikeys.create_api_key(session, Viewer(staff), description="two hosts", username=staff.username).secret
    lounge = make_category("Members' lounge", "members_only")
    topic = make_topic(ana, lounge, title="Delegates for the general assembly")
    env = {"FORUM_REDIS_URL": redis_url, "FORUM_REDIS_PREFIX": f"forum-test-{uuid.uuid4().hex[:8]}",
           "FORUM_INPROCESS_WORKER": "false", "FORUM_SMTP_HOST": "127.0.0.1", "FORUM_SMTP_PORT": str(smtp_server.port),
           "FORUM_OUTBOX_POLL_SECONDS": "0.2"}
    with ExitStack() as stack:
        first = stack.enter_context(running_server(database_url, env=env))
        second = stack.enter_context(running_server(database_url, env=env))
        workers = [subprocess.Popen([sys.executable, "-m", "forum.cli", "worker"], stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL, env={**os.environ, **env, "FORUM_DATABASE_URL": database_url})
                   for _ in range(2)]
        stack.callback(lambda: [w.terminate() or w.wait(timeout=20) for w in workers])

        # Logged in on one host, known on the other.
        bea_first = stack.enter_context(httpx.Client(base_url=first, timeout=30, follow_redirects=True))
        login(bea_first, "bea")
        bea_second = stack.enter_context(httpx.Client(base_url=second, timeout=30, follow_redirects=True,
                                                      cookies=bea_first.cookies))
        assert bea_second.get(f"/t/{topic.slug}/{topic.id}").status_code == 200

        # A reply posted on the first host reaches a page open on the second within a second.
        stream = Stream(second, f"/live?topic_id={topic.id}", client=bea_second)
        ana_first = stack.enter_context(httpx.Client(base_url=first, timeout=30, follow_redirects=True))
        login(ana_first, "ana")
        started = time.monotonic()
        r = ana_first.post("/posts.json", data={"topic_id": topic.id, "raw": "@bea will you be a delegate?"},
                           headers={"X-CSRF-Token": csrf_of(ana_first, f"/t/{topic.slug}/{topic.id}")})
        assert r.status_code == 200, r.text
        event = stream.next("post", timeout=3)
        assert event is not None and event["post_number"] == 2 and time.monotonic() - started < 1.0
        assert stream.next("notifications", timeout=3) is not None  # her badge, on the other host

        # The email about it goes out once, though two workers drain.
        messages = smtp_server.wait_for(1, timeout=15)
        assert len(messages) == 1 and "mentioned you" in messages[0]["Subject"]

        # A tier change made on the first host: the second host's stream ends and its next page is 404.
        r = httpx.post(f"{first}/admin/users/{bea.id}/groups.json", data={"group_id": "participants"},
                       headers={"Api-Key": key, "Api-Username": staff.username}, timeout=30)
        assert r.status_code == 200, r.text
        assert stream.next("close", timeout=5) == {"id": None, "reason": "access"}
        assert bea_second.get(f"/t/{topic.slug}/{topic.id}").status_code == 404
        time.sleep(1)
        assert len(smtp_server.messages) == 1


def _started_worker(env: dict[str, str]) -> subprocess.Popen:
    """A `forum worker` process, returned once it runs (its migrations done, its first tick next)."""
    worker = subprocess.Popen([sys.executable, "-m", "forum.cli", "worker"], stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL, env={**os.environ, **env}, text=True)
    ready, _, _ = select.select([worker.stdout], [], [], 60)
    assert ready and "worker running" in worker.stdout.readline(), "the worker did not start"
    return worker


@pytest.mark.server
def test_a_digest_due_while_two_workers_run_arrives_once_with_what_was_posted_on_a_host(
        database_url, db, redis_url, smtp_server, make_user, make_category, staff):
    make_user("ana", tier="member")
    bea = make_user("bea", tier="member")
    news = make_category("News")
    zone = "Atlantic/Reykjavik"
    hour = utcnow().astimezone(ZoneInfo(zone)).hour
    with db.write() as session:
        key = apikeys.create_api_key(session, Viewer(staff), description="posting", username="ana").secret
        emails.confirm_address(session, bea.id)
        emails.set_preferences(session, session.get(User, bea.id), timezone=zone, email_notifications="none",
                               email_digest="daily", digest_hour=hour, digest_weekday=0)
        tomorrow = session.get(UserOption, bea.id).next_digest_at
    # Her hour today, which has just gone by.
    slot = tomorrow - timedelta(days=1)
    assert slot <= utcnow()
    env = {"FORUM_DATABASE_URL": database_url, "FORUM_REDIS_URL": redis_url,
           "FORUM_REDIS_PREFIX": f"forum-test-{uuid.uuid4().hex[:8]}", "FORUM_INPROCESS_WORKER": "false",
           "FORUM_SMTP_HOST": "127.0.0.1", "FORUM_SMTP_PORT": str(smtp_server.port),
           "FORUM_OUTBOX_POLL_SECONDS": "0.2", "FORUM_DIGEST_CHECK_SECONDS": "0.3"}
    with ExitStack() as stack:
        first = stack.enter_context(running_server(database_url, env=env))
        stack.enter_context(running_server(database_url, env=env))
        workers: list[subprocess.Popen] = []
        stack.callback(lambda: [w.terminate() or w.wait(timeout=20) for w in workers])
        workers.extend(_started_worker(env) for _ in range(2))

        r = httpx.post(f"{first}/posts.json", data={
            "title": "Harvest rota for October", "category": news.id,
            "raw": "Who can pick apples on the second Saturday? The orchard opens at nine."},
            headers={"Api-Key": key, "Api-Username": "ana"}, timeout=30)
        assert r.status_code == 200, r.text
        topic_id = r.json()["topic_id"]
        with db.write() as session:
            # Ana posted before Bea's hour (four processes' clocks cannot be set, so the post is dated
            # back), she last had a digest yesterday, and her hour comes while both workers tick.
            before = slot - timedelta(minutes=20)
            session.execute(update(Topic).where(Topic.id == topic_id)
                            .values(created_at=before, bumped_at=before, last_posted_at=before))
            session.execute(update(Post).where(Post.topic_id == topic_id).values(created_at=before))
            session.execute(update(UserOption).where(UserOption.user_id == bea.id)
                            .values(last_digest_at=slot - timedelta(days=1), next_digest_at=slot))

        def digests() -> list:
            return [m for m in smtp_server.messages if "digest" in m["Subject"]]

        deadline = time.monotonic() + 30
        while not digests() and time.monotonic() < deadline:
            time.sleep(0.05)
        [digest] = digests()
        assert digest["To"] == "bea@example.org" and "Your daily digest" in digest["Subject"]
        text = next(p.get_payload(decode=True).decode() for p in digest.walk()
                    if p.get_content_type() == "text/plain")
        assert "Harvest rota for October" in text and "pick apples" in text
        deadline = time.monotonic() + 3  # many more ticks of both workers
        while len(digests()) == 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(digests()) == 1
        with db.read() as session:
            assert session.get(UserOption, bea.id).next_digest_at == tomorrow  # her next one, planned once


@pytest.mark.server
def test_a_server_killed_while_eight_clients_post_loses_no_acknowledged_post(database_url, db, make_user,
                                                                              make_category, make_topic, staff):
    import signal
    import threading

    from sqlalchemy import select

    from forum.models import Post

    ana = make_user("ana", tier="member")
    topic = make_topic(ana, make_category("News"), title="Replies while the power goes out")
    with db.write() as session:
        key = apikeys.create_api_key(session, Viewer(staff), description="posting", username="ana").secret
    acknowledged: list[int] = []
    stop = threading.Event()

    def client(n: int, base: str) -> None:
        i = 0
        while not stop.is_set():
            i += 1
            try:
                r = httpx.post(f"{base}/posts.json", data={"topic_id": topic.id,
                                                           "raw": f"Client {n} sends reply number {i}."},
                               headers={"Api-Key": key, "Api-Username": "ana"}, timeout=10)
            except httpx.HTTPError:
                return  # the server is gone
            if r.status_code == 200:
                acknowledged.append(r.json()["id"])

    with running_server(database_url) as base:
        clients = [threading.Thread(target=client, args=(n, base)) for n in range(8)]
        for c in clients:
            c.start()
        deadline = time.monotonic() + 20
        while len(acknowledged) < 16 and time.monotonic() < deadline:
            time.sleep(0.05)
        os.killpg(base.process.pid, signal.SIGKILL)  # as in a power cut: nothing is cleaned up
        stop.set()
        for c in clients:
            c.join(timeout=30)
    assert len(acknowledged) >= 16
    with db.read() as session:
        stored = set(session.scalars(select(Post.id).where(Post.id.in_(acknowledged))))
    assert stored == set(acknowledged)
