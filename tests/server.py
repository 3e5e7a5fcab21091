"""A real uvicorn server in a subprocess, for tests that need processes, sockets or a browser."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager

import httpx

RELAXED_LIMITS = {
    "FORUM_POSTS_PER_MINUTE": "1000",
    "FORUM_TOPICS_PER_HOUR": "1000",
    "FORUM_LOGIN_ATTEMPTS_PER_IP": "1000",
    "FORUM_SIGNUPS_PER_IP_PER_HOUR": "1000",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Address(str):
    """The server's base URL, holding its process for tests that signal or kill it."""

    def __new__(cls, base: str, process: subprocess.Popen):
        self = super().__new__(cls, base)
        self.process = process
        return self


@contextmanager
def running_server(database_url: str, *, workers: int = 1, env: dict[str, str] | None = None):
    # The listening socket is bound here and handed to uvicorn (--fd): no other test worker can take
    # the port between choosing it and the server starting, so the checks below reach this server.
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(128)
    port = listener.getsockname()[1]
    base = f"http://127.0.0.1:{port}"
    # Files uploaded through this server go to a scratch directory, never into the working tree.
    scratch = tempfile.TemporaryDirectory(prefix="forum-test-uploads-")
    full_env = {**os.environ, **RELAXED_LIMITS, "FORUM_DATABASE_URL": database_url, "FORUM_BASE_URL": base,
                "FORUM_UPLOADS_DIR": scratch.name, **(env or {})}
    # Its log goes to a file: a pipe nobody reads would fill up and stop the server mid-test.
    output = tempfile.TemporaryFile(prefix="forum-test-server-")
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "--factory", "forum.app:app_from_env", "--fd", str(listener.fileno()),
         "--workers", str(workers), "--log-level", "warning"],
        env=full_env, stdout=output, stderr=subprocess.STDOUT, pass_fds=(listener.fileno(),),
        start_new_session=True,  # its own process group: stopping it stops every worker it started
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(base + "/latest", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                _stop_group(proc)
                output.seek(0)
                raise RuntimeError(f"server did not start: {output.read().decode(errors='replace')[-5000:]}")
            time.sleep(0.1)
        yield Address(base, proc)
    finally:
        _stop_group(proc)
        listener.close()
        scratch.cleanup()
        output.close()


def stop(process: subprocess.Popen) -> None:
    """End a process the test started: asked first, then killed if it does not go within 10 s."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


def _stop_group(proc: subprocess.Popen) -> None:
    for sig, wait in ((signal.SIGTERM, 10), (signal.SIGKILL, 10)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            break
        try:
            proc.wait(timeout=wait)
            break
        except subprocess.TimeoutExpired:
            continue
