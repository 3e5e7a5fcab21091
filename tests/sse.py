"""An EventSource for tests: a live-updates stream read on a thread, its events in a queue."""

from __future__ import annotations

import json
import queue
import threading
import time

import httpx


class Stream:
    """An EventSource, as a browser would hold it: events arrive in a queue read with a timeout."""

    def __init__(self, base: str, path: str, *, client: httpx.Client | None = None, last_event_id: str | None = None,
                 verify=True):
        self.events: queue.Queue = queue.Queue()
        self.status: int | None = None
        self.headers: dict = {}
        self.ready = threading.Event()
        self.client = client or httpx.Client(base_url=base, verify=verify)
        self.url = path
        self.extra = {"Last-Event-ID": last_event_id} if last_event_id else {}
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()
        assert self.ready.wait(10), "the stream did not open"

    def _read(self):
        try:
            with self.client.stream("GET", self.url, headers={"Accept": "text/event-stream", **self.extra},
                                    timeout=httpx.Timeout(30, read=60)) as r:
                self.status, self.headers = r.status_code, dict(r.headers)
                self.ready.set()
                if r.status_code != 200:
                    return
                event = {}
                for line in r.iter_lines():
                    if line == "":
                        if "event" in event:
                            self.events.put(event)
                        event = {}
                    elif line.startswith(":"):
                        self.events.put({"event": "comment"})
                    else:
                        name, _colon, value = line.partition(": ")
                        event[name] = value
        except httpx.HTTPError:
            pass
        finally:
            self.ready.set()
            self.events.put({"event": "ended"})

    def next(self, kind: str, timeout: float = 5) -> dict | None:
        """The next event of this kind (others are skipped), or None when none came in time."""
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                event = self.events.get(timeout=left)
            except queue.Empty:
                return None
            if event["event"] == kind:
                return {"id": event.get("id"), **json.loads(event.get("data", "{}") or "{}")}
            if event["event"] == "ended" and kind != "ended":
                return None
        return None

    def close(self):
        self.client.close()
