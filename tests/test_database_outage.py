"""PostgreSQL unreachable for a few seconds: every request answers 503 with Retry-After (a page in the
browser, Discourse's {"errors": [...]} in the API), never a 500; the log says so once, not a traceback
per request; and the forum recovers by itself. The outage is a TCP proxy this test cuts and restores,
never the machine's shared PostgreSQL."""

from __future__ import annotations

import logging
import socket
import threading

import pytest
from sqlalchemy.engine import make_url

from forum.config import Settings
from forum.db import Database
from tests.conftest import login, post_form


class Proxy:
    """Forwards 127.0.0.1:<port> to PostgreSQL; `cut()` drops every connection and refuses new ones."""

    def __init__(self, target: tuple[str, int]):
        self.target = target
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.open = True
        self.sockets: list[socket.socket] = []
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if not self.open:
                client.close()
                continue
            try:
                upstream = socket.create_connection(self.target)
            except OSError:
                client.close()
                continue
            with self.lock:
                self.sockets += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(source, sink):
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for s in (source, sink):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def cut(self):
        self.open = False
        with self.lock:
            for s in self.sockets:
                try:
                    s.shutdown(socket.SHUT_RDWR)
                    s.close()
                except OSError:
                    pass
            self.sockets.clear()

    def restore(self):
        self.open = True

    def close(self):
        self.cut()
        self.listener.close()


@pytest.fixture
def through_proxy(database_url, db, settings):
    if not database_url.startswith("postgresql"):
        pytest.skip("an unreachable database server is a PostgreSQL matter (SQLite is a file)")
    url = make_url(database_url)
    proxy = Proxy((url.host or "127.0.0.1", url.port or 5432))
    proxied_url = url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    proxied = Settings(**{**settings.model_dump(), "database_url": proxied_url})
    database = Database(proxied)
    yield proxy, proxied, database
    database.dispose()
    proxy.close()


def test_an_unreachable_database_answers_503_never_500(through_proxy, make_user, make_category, make_topic, caplog):
    from fastapi.testclient import TestClient

    from forum.app import create_app

    proxy, proxied, database = through_proxy
    topic = make_topic(make_user("ana", tier="member"), make_category("News and events"))
    path = f"/t/{topic.slug}/{topic.id}"
    app = create_app(proxied, database)
    with TestClient(app, raise_server_exceptions=True) as visitor, \
            TestClient(app, raise_server_exceptions=False) as member:
        login(member, "ana")
        assert visitor.get(path).status_code == 200 and member.get(path).status_code == 200
        proxy.cut()
        caplog.clear()
        caplog.set_level(logging.INFO)
        answers = []
        for _ in range(3):
            for client, method, url, kw in (
                    (visitor, "GET", "/latest?page=1", {}), (visitor, "GET", path + "?page=1", {}),
                    (member, "GET", "/latest", {}), (member, "GET", path, {}),
                    (visitor, "GET", "/latest.json", {}), (member, "GET", f"/t/{topic.id}.json", {}),
                    (visitor, "GET", "/latest.rss", {}), (member, "GET", "/health/ready", {})):
                r = client.request(method, url, **kw)
                answers.append((url, r.status_code))
                assert r.status_code == 503, (url, r.status_code, r.text[:300])
                if url.endswith(".json") and "health" not in url:
                    assert r.json()["errors"]
                elif url != "/health/ready":
                    assert "Retry-After" in r.headers
        token = member.cookies.get("_csrf")  # the session's form token cannot be read from a page now
        r = member.post(f"/t/{topic.id}/reply", data={"raw": "Written while the database is away.",
                                                       "csrf_token": token or "x"}, follow_redirects=False)
        assert r.status_code in (403, 503), r.status_code
        tracebacks = [rec for rec in caplog.records if rec.exc_info]
        assert len(tracebacks) <= 1, [rec.getMessage() for rec in tracebacks][:5]

        proxy.restore()
        assert visitor.get(path).status_code == 200
        assert member.get(path).status_code == 200
        r = post_form(member, f"/t/{topic.id}/reply", {"raw": "Written after the database came back."},
                      csrf_from=path)
        assert r.status_code == 303
