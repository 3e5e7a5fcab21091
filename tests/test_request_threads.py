"""Each process runs the blocking part of requests on a few threads, not anyio's default forty."""

from __future__ import annotations

import anyio.to_thread
from fastapi.testclient import TestClient

from forum.app import create_app


def _threads(app) -> int:
    with TestClient(app) as client:
        assert client.get("/latest").status_code == 200
        return client.portal.call(lambda: anyio.to_thread.current_default_thread_limiter().total_tokens)


def test_the_thread_pool_fits_the_database_and_follows_forum_threads(settings, db, database_url):
    expected = 4 if database_url.startswith("sqlite") else 8
    assert _threads(create_app(settings, db)) == expected
    settings.threads = 12
    assert _threads(create_app(settings, db)) == 12
