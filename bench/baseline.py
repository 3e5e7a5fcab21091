"""The ceiling to compare the forum with: a bare ASGI app answering every request with a fixed body.

It does nothing per request but send BENCH_BASELINE_BYTES bytes of HTML (default 20000), so its
requests/s on this machine is what uvicorn, the event loop and the HTTP parser allow. Served the
same way as the forum:

    BENCH_BASELINE_BYTES=48000 uvicorn --app-dir bench --factory baseline:create_app --workers 2 --port 8100
"""

from __future__ import annotations

import os


def make_body(size: int) -> bytes:
    head = b"<!doctype html><html><head><title>baseline</title></head><body><p>"
    tail = b"</p></body></html>\n"
    filler = max(size - len(head) - len(tail), 0)
    body = head + (b"x" * filler) + tail
    return body[:size] if len(body) > size else body


def create_app():
    body = make_body(int(os.environ.get("BENCH_BASELINE_BYTES", "20000")))
    start = {
        "type": "http.response.start",
        "status": 200,
        "headers": [(b"content-type", b"text/html; charset=utf-8"),
                    (b"content-length", str(len(body)).encode())],
    }
    message = {"type": "http.response.body", "body": body}

    async def app(scope, receive, send):
        if scope["type"] == "lifespan":
            while True:
                event = await receive()
                if event["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif event["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        await send(start)
        await send(message)

    return app


app = create_app()
