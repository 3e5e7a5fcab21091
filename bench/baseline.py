"""The ceiling to compare the forum with: a bare ASGI app answering every request with a fixed body.

It does nothing per request but send a body built once, so its requests/s on this machine is what
uvicorn, the event loop and the HTTP parser allow. `GET /bytes/N` answers exactly N bytes of HTML
(each size built on its first request and kept), so one server can stand beside pages of every
size; any other path answers BENCH_BASELINE_BYTES bytes (default 20000). Served the same way as
the forum:

    BENCH_BASELINE_BYTES=48000 uvicorn --app-dir bench --factory baseline:create_app --workers 2 --port 8100
    curl -s http://127.0.0.1:8100/bytes/31234 | wc -c     # 31234
"""

from __future__ import annotations

import os

MAX_BYTES = 64 * 1024 * 1024  # /bytes/N answers 404 above this


def make_body(size: int) -> bytes:
    head = b"<!doctype html><html><head><title>baseline</title></head><body><p>"
    tail = b"</p></body></html>\n"
    filler = max(size - len(head) - len(tail), 0)
    body = head + (b"x" * filler) + tail
    return body[:size] if len(body) > size else body


def answer(body: bytes, status: int = 200) -> tuple[dict, dict]:
    """The two ASGI messages sending `body`, built once and reused for every request."""
    start = {
        "type": "http.response.start",
        "status": status,
        "headers": [(b"content-type", b"text/html; charset=utf-8"),
                    (b"content-length", str(len(body)).encode())],
    }
    return start, {"type": "http.response.body", "body": body}


def create_app():
    default = answer(make_body(int(os.environ.get("BENCH_BASELINE_BYTES", "20000"))))
    not_found = answer(b"not found\n", 404)
    sized: dict[str, tuple[dict, dict]] = {}  # path -> messages, one entry per size asked for

    def messages(path: str) -> tuple[dict, dict]:
        found = sized.get(path)
        if found is not None:
            return found
        if not path.startswith("/bytes/"):
            return default
        size = path[len("/bytes/"):]
        if not size.isdigit() or int(size) > MAX_BYTES:
            return not_found
        found = sized[path] = answer(make_body(int(size)))
        return found

    async def app(scope, receive, send):
        if scope["type"] == "lifespan":
            while True:
                event = await receive()
                if event["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif event["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        start, body = messages(scope["path"])
        await send(start)
        await send(body)

    return app


app = create_app()
