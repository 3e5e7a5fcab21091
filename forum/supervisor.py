"""The supervisor of `forum serve --workers N`: a small process that holds none of the app.

forum/prefork.py builds the app, forks the workers from it and then replaces itself with this
program (`exec`: the same process id, the same children), run as a script with the standard
library only (`python -S -P forum/supervisor.py`), so that it holds about 5 MB instead of a copy of
the app. It answers no request and holds no database connection. It starts a new worker when one
dies, and on SIGTERM, SIGINT or SIGQUIT stops them all: each finishes the requests it is answering
(uvicorn's graceful shutdown), and one that has not ended after SHUTDOWN_SECONDS is killed.

    python -S -P forum/supervisor.py --children PID,PID --log-level LEVEL -- WORKER COMMAND…

WORKER COMMAND starts one worker in place of one that died (forum.prefork.replacement): it loads
the app itself and serves on the listening socket, this process's one inheritable descriptor
besides the standard ones. Its log lines have uvicorn's form, written without loading `logging`
(2 MB here).
"""

import os
import signal
import sys
import time

STARTUP_FAILURE = 3  # uvicorn's exit code when the app's startup failed: starting again would fail again
SHUTDOWN_SECONDS = 30.0  # a stopping worker's time to finish its requests (systemd allows 90)
RESTART_PAUSE_SECONDS = 1.0  # between a worker's death and its replacement, so a crash cannot spin
RESTART_PAUSE_MAX_SECONDS = 30.0  # the pause doubles while replacements die young, up to this
YOUNG_SECONDS = 30.0  # a worker that dies sooner than this after its start died young
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT)
LEVELS = {"trace": 5, "debug": 10, "info": 20, "warning": 30, "error": 40, "critical": 50}


class Supervisor:
    def __init__(self, worker_command, children, log_level="info", shutdown_seconds=SHUTDOWN_SECONDS):
        self.worker_command = list(worker_command)
        self.children = set(children)
        self.level = LEVELS.get(log_level.lower(), 20)
        self.shutdown_seconds = shutdown_seconds
        self.stopping = None  # the signal that asked the server to stop
        self.started = {}  # pid -> when this process started it
        self.pause = RESTART_PAUSE_SECONDS

    def log(self, level, message):
        if LEVELS[level] >= self.level:
            sys.stderr.write(f"{level.upper() + ':':<9} {message}\n")
            sys.stderr.flush()

    def run(self):
        for sig in STOP_SIGNALS:
            signal.signal(sig, self._stop)
        # The loaded process blocked these before it forked: a stop asked for meanwhile comes now.
        signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
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
                self.log("error", f"Worker [{pid}] could not start; stopping the server.")
                status = 1
                self._stop(signal.SIGTERM, None)
                continue
            self.log("warning", f"Worker [{pid}] ended (exit code {code}); starting another.")
            # Replacements that keep dying young (one that cannot load the app while the database
            # is unreachable, say) are started less and less often.
            if time.monotonic() - self.started.pop(pid, float("-inf")) >= YOUNG_SECONDS:
                self.pause = RESTART_PAUSE_SECONDS
            time.sleep(self.pause)
            self.pause = min(self.pause * 2, RESTART_PAUSE_MAX_SECONDS)
            if self.stopping is None:
                self._start()
        self.log("info", f"Stopping parent process [{os.getpid()}]")
        return status

    def _start(self):
        pid = os.posix_spawn(self.worker_command[0], self.worker_command, os.environ)
        self.children.add(pid)
        self.started[pid] = time.monotonic()
        if self.stopping is not None:  # a stop came between the check and the start
            _signal(pid, signal.SIGTERM)

    def _stop(self, sig, _frame):
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
            self.log("warning", f"Worker [{pid}] did not stop in {self.shutdown_seconds}s; killing it.")
            _signal(pid, signal.SIGKILL)


def _signal(pid, sig):
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def main(argv):
    options, worker = argv, []
    if "--" in argv:
        at = argv.index("--")
        options, worker = argv[:at], argv[at + 1:]
    values = {} if len(options) % 2 else dict(zip(options[::2], options[1::2], strict=True))
    if not worker or not values or set(values) - {"--children", "--log-level"}:
        sys.stderr.write(__doc__.split("\n\n")[2] + "\n")
        return 2
    children = {int(pid) for pid in values.get("--children", "").split(",") if pid}
    return Supervisor(worker, children, values.get("--log-level", "info")).run()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
