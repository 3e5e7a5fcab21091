"""`forum serve --workers N`: a supervisor that builds the app once, then forks its workers from it.

Each worker is an ordinary uvicorn server on the shared listening socket. Because the workers are
forked from a process that already holds the app (its routes, models and every page template
compiled), they share that memory with the supervisor and with each other instead of loading it
each: the whole server needs 45–55 MB less with two workers (bench/README.md, "Memory").

The supervisor holds no database connection and answers no request. It starts a new worker when
one dies, and on SIGTERM, SIGINT or SIGQUIT stops them all: each finishes the requests it is
answering (uvicorn's graceful shutdown), and one that has not ended after
SHUTDOWN_SECONDS is killed.

Run as `python -m forum.prefork --host H --port P --workers N --log-level L
--forwarded-allow-ips IPS`, which `forum serve` does in place of itself.
"""

from __future__ import annotations

import argparse
import gc
import logging
import os
import signal
import sys
import time

import uvicorn

logger = logging.getLogger("uvicorn.error")

STARTUP_FAILURE = 3  # uvicorn's exit code when the app's startup failed: starting again would fail again
SHUTDOWN_SECONDS = 30.0  # a stopping worker's time to finish its requests (systemd allows 90)
RESTART_PAUSE_SECONDS = 1.0  # between a worker's death and its replacement, so a crash cannot spin


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m forum.prefork")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--log-level", default="info")
    parser.add_argument("--forwarded-allow-ips", default="127.0.0.1")
    args = parser.parse_args(argv)

    from uvicorn.importer import import_from_string

    from forum.config import get_settings

    create_app = import_from_string("forum.app:create_app")  # the app is built, like uvicorn builds it

    config = uvicorn.Config(None, host=args.host, port=args.port, log_level=args.log_level,
                            proxy_headers=True, forwarded_allow_ips=args.forwarded_allow_ips)
    config.configure_logging()
    sock = config.bind_socket()
    settings = get_settings()
    app = create_app(settings)
    # What every worker will need is made here once: the page templates compiled in the site's
    # default language (others are compiled by a worker when a page first asks for them), and what
    # the first pages load (statements compiled, locale data, lazily imported modules).
    app.state.renderer.prepare([settings.default_locale])
    warm_up(app, WARM_UP_PATHS)
    app.state.db.dispose()  # no connection is shared with the workers: each opens its own
    _forget_own_metrics()
    config.app = app
    config.load()
    gc.collect()
    gc.freeze()  # the workers' collector never walks (so never writes to) what they share
    gc.set_threshold(7000, 20, 20)
    return Supervisor(config, sock, args.workers).run()


WARM_UP_PATHS = ("/latest",)  # what most visitors ask first: its code paths serve most pages


def warm_up(app, paths) -> None:
    """Answer these pages once, as a visitor, in this process: lists, which change nothing when read
    (a topic page would count a view). Each costs start time (about 0.1 s) for a few MB shared;
    /latest alone gave the most for the least in bench/memory.py. Their answers are not kept: the log and the metrics do not
    count them, and the page caches keep what they made only while nothing changes, as always."""
    import asyncio

    async def get(path: str) -> None:
        scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
                 "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"",
                 "root_path": "", "headers": [(b"host", b"localhost"), (b"accept-encoding", b"gzip")],
                 "client": ("127.0.0.1", 0), "server": ("127.0.0.1", 0), "state": {}}
        sent = False

        async def receive():
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": b"", "more_body": False}
            await asyncio.Event().wait()  # the client never leaves before the answer

        async def send(_message) -> None:
            pass

        await app(scope, receive, send)

    requests = logging.getLogger("forum.request")
    was_disabled, requests.disabled = requests.disabled, True
    try:
        for path in paths:
            try:
                asyncio.run(get(path))
            except Exception:  # noqa: BLE001  (a page that fails here will fail, and be logged, in a worker)
                logger.debug("warm-up of %s failed", path, exc_info=True)
    finally:
        requests.disabled = was_disabled


def _forget_own_metrics() -> None:
    """Building the app made this process's metric files (in prometheus-client's multiprocess
    mode); the supervisor answers nothing, so they go: /metrics sums the workers' only."""
    folder = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if not folder:
        return
    suffix = f"_{os.getpid()}.db"
    for name in os.listdir(folder):
        if name.endswith(suffix):
            os.unlink(os.path.join(folder, name))


class Supervisor:
    def __init__(self, config: uvicorn.Config, sock, workers: int, shutdown_seconds: float = SHUTDOWN_SECONDS):
        self.config, self.sock, self.workers = config, sock, workers
        self.shutdown_seconds = shutdown_seconds
        self.children: set[int] = set()
        self.stopping: int | None = None  # the signal that asked the server to stop

    def run(self) -> int:
        logger.info("Started parent process [%d]", os.getpid())
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT):
            signal.signal(sig, self._stop)
        for _ in range(self.workers):
            self._fork()
        status = 0
        while self.children:
            try:
                pid, code = os.wait()
            except ChildProcessError:
                break
            if pid not in self.children:
                continue
            self.children.discard(pid)
            code = os.waitstatus_to_exitcode(code)
            if self.stopping is not None:
                continue
            if code == STARTUP_FAILURE:
                logger.error("Worker [%d] could not start; stopping the server.", pid)
                status = 1
                self._stop(signal.SIGTERM, None)
                continue
            logger.warning("Worker [%d] ended (exit code %s); starting another.", pid, code)
            time.sleep(RESTART_PAUSE_SECONDS)
            if self.stopping is None:
                self._fork()
        logger.info("Stopping parent process [%d]", os.getpid())
        return status

    def _fork(self) -> None:
        pid = os.fork()
        if pid:
            self.children.add(pid)
            return
        code = 0
        try:
            for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT):
                signal.signal(sig, signal.SIG_DFL)  # uvicorn installs its own when it starts
            server = uvicorn.Server(self.config)
            server.run(sockets=[self.sock])
            if not server.started:
                code = STARTUP_FAILURE
        except BaseException:  # noqa: BLE001  (a worker must never return into the supervisor's loop)
            logger.exception("Worker [%d] failed", os.getpid())
            code = 1
        finally:
            logging.shutdown()
            os._exit(code)

    def _stop(self, sig, _frame) -> None:
        if self.stopping is not None:
            return
        self.stopping = sig
        for pid in list(self.children):
            _signal(pid, signal.SIGTERM if sig == signal.SIGQUIT else sig)
        deadline = time.monotonic() + self.shutdown_seconds
        # Wait here (the main loop reaps them too): a worker still busy at the deadline is killed.
        while self.children and time.monotonic() < deadline:
            for pid in list(self.children):
                try:
                    done, _ = os.waitpid(pid, os.WNOHANG)
                except ChildProcessError:
                    done = pid
                if done:
                    self.children.discard(pid)
            time.sleep(0.05)
        for pid in list(self.children):
            logger.warning("Worker [%d] did not stop in %ss; killing it.", pid, self.shutdown_seconds)
            _signal(pid, signal.SIGKILL)


def _signal(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


if __name__ == "__main__":
    sys.exit(main())
