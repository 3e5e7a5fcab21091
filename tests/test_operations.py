"""Operating the forum: health checks, and a Redis that stops or never answers."""

from __future__ import annotations

import shutil
import subprocess
import time

import pytest
import redis as redis_lib

from forum import ratelimit
from tests.conftest import IN_CI, login, post_form
from tests.server import free_port


def test_liveness_and_readiness(client):
    live = client.get("/health/live")
    assert live.status_code == 200 and live.json() == {"status": "ok", "seen_as": "http://testserver"}
    ready = client.get("/health/ready")
    assert ready.status_code == 200, ready.json()
    assert ready.json() == {"status": "ok", "checks": {"database": "ok", "migrations": "ok", "outbox": "ok"}}
    assert ready.headers["cache-control"] == "no-store"


@pytest.fixture
def own_redis():
    """A Redis server of this test's own, which the test may stop and start again."""
    binary = shutil.which("redis-server")
    if binary is None:
        if IN_CI:
            pytest.fail("redis-server is not installed (CI=true: Redis is required)")
        pytest.skip("redis-server is not installed")
    port = free_port()
    args = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    processes = []

    def start():
        processes.append(subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        client = redis_lib.Redis(port=port, socket_connect_timeout=0.2)
        for _ in range(100):
            try:
                client.ping()
                return
            except redis_lib.RedisError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def stop():
        process = processes.pop()
        process.terminate()
        process.wait(timeout=10)

    yield {"url": f"redis://127.0.0.1:{port}/0", "port": port, "start": start, "stop": stop}
    while processes:
        stop()


def test_the_forum_keeps_serving_when_redis_stops_and_recovers_when_it_returns(
        settings, db, own_redis, make_user, make_category, make_topic, monkeypatch, caplog):
    from fastapi.testclient import TestClient

    from forum.app import create_app

    monkeypatch.setattr(ratelimit, "REDIS_RETRY_SECONDS", 0.2)
    own_redis["start"]()
    settings.redis_url = own_redis["url"]
    ana = make_user("ana", tier="member")
    topic = make_topic(ana, make_category("News and events"))
    path = f"/t/{topic.slug}/{topic.id}"
    app = create_app(settings, db)
    with TestClient(app) as visitor, TestClient(app) as member:
        assert visitor.get(path).status_code == 200
        login(member, "ana")
        assert post_form(member, f"/t/{topic.id}/reply", {"raw": "Before Redis stops."}, csrf_from=path).status_code == 303
        probe = redis_lib.Redis(port=own_redis["port"])
        assert probe.keys("forum:*"), "rate limits and views were counted in Redis"

        own_redis["stop"]()
        caplog.clear()
        for n in range(3):
            assert visitor.get(path, headers={"X-Forwarded-For": f"10.0.0.{n}"}).status_code == 200
            r = post_form(member, f"/t/{topic.id}/reply", {"raw": f"While Redis is down, number {n}."}, csrf_from=path)
            assert r.status_code == 303, r.text
        fresh = TestClient(app)
        login(fresh, "ana")  # log-in counts attempts: in the database meanwhile
        ready = member.get("/health/ready")
        assert ready.status_code == 503 and ready.json()["checks"]["redis"] == "unreachable"
        warnings = [r for r in caplog.records if r.name == "forum.redis" and "unreachable" in r.getMessage()]
        assert len(warnings) == 1, "the outage is logged once, not per request"

        own_redis["start"]()
        time.sleep(0.3)
        assert member.get("/health/ready").status_code == 200
        probe.flushall()
        r = post_form(member, f"/t/{topic.id}/reply", {"raw": "Redis is back."}, csrf_from=path)
        assert r.status_code == 303
        assert probe.keys("forum:rl:*"), "counting went back to Redis"
        assert "While Redis is down, number 2." in member.get(path).text


def test_a_redis_that_never_answers_does_not_stop_the_forum(settings, db, make_user, make_category, make_topic):
    from fastapi.testclient import TestClient

    from forum.app import create_app

    settings.redis_url = f"redis://127.0.0.1:{free_port()}/0"  # nobody listens there
    ana = make_user("ana", tier="member")
    topic = make_topic(ana, make_category("News and events"))
    path = f"/t/{topic.slug}/{topic.id}"
    with TestClient(create_app(settings, db)) as client:
        assert client.get(path).status_code == 200
        login(client, "ana")
        assert post_form(client, f"/t/{topic.id}/reply", {"raw": "Posted without Redis."}, csrf_from=path).status_code == 303
        assert client.get("/health/ready").json()["checks"]["redis"] == "unreachable"
