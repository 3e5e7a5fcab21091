"""What an operator watches: a JSON line per request with its id, and Prometheus metrics for the
allowed only, summed over several workers."""

from __future__ import annotations

import asyncio
import concurrent.futures
import io
import json
import logging
import re
import sys

import httpx
import pytest

from forum import observability
from tests.conftest import PASSWORD, csrf_of, login
from tests.server import running_server


class Lines(logging.Handler):
    def __init__(self):
        super().__init__()
        self.setFormatter(observability.JsonFormatter())
        self.lines: list[dict] = []

    def emit(self, record):
        self.lines.append(json.loads(self.format(record)))


@pytest.fixture
def request_lines():
    handler = Lines()
    logger = logging.getLogger("forum.request")
    logger.addHandler(handler)
    yield handler.lines
    logger.removeHandler(handler)


def test_each_request_is_one_json_line_with_its_id_and_no_secrets(client, make_user, request_lines):
    ana = make_user("ana", tier="member")
    r = client.get("/latest", headers={"X-Request-ID": "proxy-7f3a.1"})
    assert r.headers["x-request-id"] == "proxy-7f3a.1"
    line = request_lines[-1]
    assert {k: line[k] for k in ("request_id", "method", "route", "status", "user_id", "level")} == {
        "request_id": "proxy-7f3a.1", "method": "GET", "route": "/latest", "status": 200, "user_id": None,
        "level": "info"}
    assert line["duration_ms"] >= 0

    # Something that is not an id is not trusted: a fresh one is made.
    r = client.get("/latest", headers={"X-Request-ID": "<script> and more"})
    assert re.fullmatch(r"[0-9a-f]{32}", r.headers["x-request-id"])
    assert request_lines[-1]["request_id"] == r.headers["x-request-id"]

    token = csrf_of(client, "/login")
    client.post("/login", data={"login": "ana", "password": PASSWORD, "csrf_token": token}, follow_redirects=False)
    client.get(f"/u/{ana.username}")
    assert request_lines[-1]["route"] == "/u/{username}" and request_lines[-1]["user_id"] == ana.id
    logged = json.dumps(request_lines)
    assert PASSWORD not in logged and token not in logged and "_t=" not in logged


def test_building_the_app_again_in_the_same_process_does_not_deepen_its_requests(settings, db, monkeypatch):
    """The routes are the routers' own, shared by every app built in one process (the tests, the
    commands that build one): each build must not put another layer in front of every handler, or
    after enough builds each request runs out of Python's recursion limit."""
    from fastapi.testclient import TestClient

    from forum.app import create_app

    depths: list[int] = []
    noted = observability.note_request

    def note_and_measure(scope, **fields):
        if "route" in fields:
            frame, depth = sys._getframe(), 0
            while frame is not None:
                frame, depth = frame.f_back, depth + 1
            depths.append(depth)
        noted(scope, **fields)

    monkeypatch.setattr(observability, "note_request", note_and_measure)
    for _build in range(5):
        with TestClient(create_app(settings, db)) as client:
            assert client.get("/login").status_code == 200
    assert len(depths) == 5 and len(set(depths)) == 1, depths


def test_request_lines_of_one_turn_of_the_event_loop_are_written_together_and_in_order():
    stream = io.StringIO()
    writer = observability.LogWriter(stream)
    writer.setFormatter(observability.JsonFormatter())
    requests, other = logging.getLogger("forum.request"), logging.getLogger("forum.jobs")
    levels = {logger: logger.level for logger in (requests, other)}
    for logger in (requests, other):
        logger.addHandler(writer)
        logger.setLevel(logging.INFO)  # as configure_logging() sets it for the `forum` loggers

    def written() -> list[str]:
        return [json.loads(line)["message"] for line in stream.getvalue().splitlines()]

    async def serving():
        requests.info("GET /latest 200")
        requests.info("GET /t/{slug}/{topic_id} 200")
        assert written() == []  # still this turn of the loop
        await asyncio.sleep(0)
        assert written() == ["GET /latest 200", "GET /t/{slug}/{topic_id} 200"]
        requests.info("GET /top 200")
        other.warning("the outbox is behind")  # written at once, after the request line before it
        assert written()[2:] == ["GET /top 200", "the outbox is behind"]
        requests.info("POST /posts.json 200")  # the loop ends before its turn is over

    try:
        with concurrent.futures.ThreadPoolExecutor(1) as thread:  # a thread with no event loop of its own yet
            thread.submit(asyncio.run, serving()).result()
        writer.flush()  # as logging.shutdown() does at exit
        assert written()[4:] == ["POST /posts.json 200"]
        with concurrent.futures.ThreadPoolExecutor(1) as thread:  # off any event loop: written at once
            thread.submit(requests.info, "GET /about 200").result()
        assert written()[5:] == ["GET /about 200"]
    finally:
        for logger in (requests, other):
            logger.removeHandler(writer)
            logger.setLevel(levels[logger])


def test_metrics_answer_only_the_allowed_and_count_by_route(client, settings, db, make_user):
    assert client.get("/metrics").status_code == 404  # the test client is not an allowed address
    assert client.get("/metrics", headers={"Authorization": "Bearer guess"}).status_code == 404
    settings.metrics_token = "a-long-metrics-token"
    make_user("ana", tier="member")
    login(client, "ana")
    before = _sample(client.get("/metrics", headers={"Authorization": "Bearer a-long-metrics-token"}).text,
                     'forum_http_requests_total{method="GET",route="/top",status="200"}')
    for _ in range(3):
        client.get("/top")  # a page no cache answers: routed every time
    r = client.get("/metrics", headers={"Authorization": "Bearer a-long-metrics-token"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    assert _sample(r.text, 'forum_http_requests_total{method="GET",route="/top",status="200"}') == before + 3
    assert 'forum_http_request_duration_seconds_bucket{le="0.5",route="/top"}' in r.text
    assert "forum_outbox_oldest_pending_seconds 0.0" in r.text
    for name in ("forum_db_pool_connections_in_use", "forum_live_streams", "forum_cache_lookups_total"):
        assert name in r.text


def _sample(text: str, series: str) -> float:
    for line in text.splitlines():
        if line.startswith(series + " "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


@pytest.mark.server
def test_two_workers_metrics_are_summed_and_the_outbox_is_read_from_the_database(database_url, db, tmp_path,
                                                                                   make_user):
    make_user("ana", tier="member")
    env = {"PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics")}
    (tmp_path / "metrics").mkdir()
    with running_server(database_url, workers=2, env=env) as base:
        with httpx.Client(base_url=base, timeout=30) as c:
            login(c, "ana")
            for _ in range(20):
                c.get("/top", headers={"Connection": "close"})  # new connections: both workers answer
            text = c.get("/metrics").text  # from 127.0.0.1: allowed
            pids = {p.name.split("_")[-1] for p in (tmp_path / "metrics").glob("counter_*.db")}
    assert len(pids) == 2, pids
    assert _sample(text, 'forum_http_requests_total{method="GET",route="/top",status="200"}') == 20
    assert "forum_outbox_pending" in text
