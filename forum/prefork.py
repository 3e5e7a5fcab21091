"""`forum serve --workers N`: the app is built once, the workers are forked from it, and what stays
behind to watch them is a small process that holds none of the app.

This process builds the app (routes, models, every page template compiled in the default
language, `/latest` answered once so that its code paths, statement caches and locale data are
loaded) and forks the workers from it. Each worker is an ordinary uvicorn server on the shared
listening socket, and shares that memory with the other workers instead of loading its own copy.

Then this process replaces itself (`exec`: the same process id, the same children) with the
supervisor, forum/supervisor.py, which runs on the standard library alone. A loaded parent kept
beside its workers would keep its own copy of every page they write to (on CPython each object a
request touches has its reference count written): some 35 MB more with two workers
(bench/README.md, "Memory"). A worker started in place of one that died loads the app itself
(`replacement`): it starts about as fast as the server, and shares no memory with the others.

`forum serve` calls `main(["--host", H, "--port", P, "--workers", N, "--log-level", L,
"--forwarded-allow-ips", IPS])` once the database is migrated (forum/cli.py).
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import socket
import subprocess
import sys

from forum.supervisor import STARTUP_FAILURE, STOP_SIGNALS

logger = logging.getLogger("uvicorn.error")


MALLOC_ARENA_MAX = 2
_M_ARENA_MAX = -8  # glibc's mallopt() parameter


def few_malloc_arenas() -> None:
    """At most two glibc malloc arenas in a serving process, as `MALLOC_ARENA_MAX=2` would.

    glibc gives threads that allocate at the same time arenas of their own (up to eight per core)
    and keeps what is freed in each. A worker's threads (database reads, mail) allocate little at a
    time and take turns running Python: two arenas cost nothing measurable and save about 5 MB per
    2-worker server under a long load (bench/README.md). Set before any thread starts; workers
    forked from this process keep it. An operator's own `MALLOC_ARENA_MAX` is left as it is, and
    a C library without mallopt() is left alone."""
    if "MALLOC_ARENA_MAX" in os.environ:
        return
    mallopt = _libc("mallopt", "int", "int")
    if mallopt is not None:
        mallopt(_M_ARENA_MAX, MALLOC_ARENA_MAX)


def _libc(name: str, *argtypes: str):
    """A function of Linux's C library with these argument types (ctypes' c_<type>), or None."""
    if not sys.platform.startswith("linux"):
        return None
    import ctypes

    try:
        func = getattr(ctypes.CDLL(None), name)
    except (OSError, AttributeError):
        return None
    func.argtypes = tuple(getattr(ctypes, f"c_{kind}") for kind in argtypes)
    return func


_PR_SET_PDEATHSIG = 1  # prctl() option: a signal for this process when its parent ends


def stop_with_supervisor(supervisor: int) -> None:
    """A worker whose supervisor ends without stopping it (killed outright: SIGKILL, the OOM
    killer) is sent SIGTERM and stops as on any SIGTERM (its requests finished), instead of serving
    on alone, with nobody left to replace or stop it, on the port a new server would need. Linux
    only; elsewhere the service manager stops what remains of the service."""
    prctl = _libc("prctl", "int", "ulong", "ulong", "ulong", "ulong")
    if prctl is None:
        return
    prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    if os.getppid() != supervisor:  # it ended before this was asked for
        os.kill(os.getpid(), signal.SIGTERM)


def main(argv: list[str] | None = None) -> int:
    """Build the app, fork the workers, and become their supervisor."""
    few_malloc_arenas()
    parser = _worker_options(argparse.ArgumentParser(prog="python -m forum.prefork"))
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)
    # A stop asked for while the app is built and the workers forked waits, blocked (in every
    # thread made from here on), for the supervisor to answer it after the exec: no worker is ever
    # left without one.
    signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)

    from forum.app import settle
    from forum.config import get_settings

    config = _config(args)
    config.configure_logging()
    sock = config.bind_socket()
    settings = get_settings()
    app = _build_app()
    # What every worker will need is made here once: the page templates compiled in the site's
    # default language (others are compiled by a worker when a page first asks for them), and what
    # the first pages load (statements compiled, locale data, lazily imported modules).
    app.state.renderer.prepare([settings.default_locale])
    warm_up(app, WARM_UP_PATHS)
    app.state.db.dispose()  # no connection is shared with the workers: each opens its own
    _forget_own_metrics()
    config.app = app
    config.load()
    settle()  # the workers' collector never walks (so never writes to) what they share
    logger.info("Started parent process [%d]", os.getpid())
    children = [_fork(config, sock) for _ in range(args.workers)]
    sock.set_inheritable(True)  # for the workers that may replace these
    command = _supervisor_command(args, sock.fileno(), children)
    logging.shutdown()
    try:
        os.execv(command[0], command)
    except OSError:
        logger.exception("The supervisor could not start; this process supervises the workers itself.")
    from forum.supervisor import Supervisor

    return Supervisor(command[command.index("--") + 1:], children, args.log_level).run()


def _worker_options(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--log-level", default="info")
    parser.add_argument("--forwarded-allow-ips", default="127.0.0.1")
    return parser


def _config(args):
    import uvicorn

    # No access log of uvicorn's: the forum logs one line per request itself (FORUM_REQUEST_LOG).
    return uvicorn.Config(None, host=args.host, port=args.port, log_level=args.log_level, access_log=False,
                          proxy_headers=True, forwarded_allow_ips=args.forwarded_allow_ips)


def load_code() -> None:
    """Import the app's code (most of a start's time) without building the app, which reads the
    database."""
    import forum.app  # noqa: F401


def _build_app():
    from forum.app import create_app
    from forum.config import get_settings

    return create_app(get_settings())


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


def _fork(config, sock) -> int:
    """A worker forked from this loaded process; its id."""
    parent = os.getpid()
    pid = os.fork()
    if pid:
        return pid
    code = 0
    try:
        _default_stop_signals()
        stop_with_supervisor(parent)  # a SIGTERM already due ends the worker once unblocked below
        signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
        code = _serve(config, sock)
    except BaseException:  # noqa: BLE001  (a worker must never return into its parent's code)
        logger.exception("Worker [%d] failed", os.getpid())
        code = 1
    finally:
        logging.shutdown()
        os._exit(code)


def _default_stop_signals() -> None:
    for sig in STOP_SIGNALS:
        signal.signal(sig, signal.SIG_DFL)  # a worker's uvicorn installs its own when it starts


def _serve(config, sock) -> int:
    import uvicorn

    server = uvicorn.Server(config)
    server.run(sockets=[sock])
    return 0 if server.started else STARTUP_FAILURE


def _supervisor_command(args, fd: int, children: list[int]) -> list[str]:
    """The supervisor's command line, with the command that starts a worker in place of one that
    died: this interpreter with its flags (-B, -X …), the forum package found where this process
    found it."""
    from forum import ROOT, supervisor

    python = [sys.executable, *subprocess._args_from_interpreter_flags()]
    worker = [*python, "-c", f"import sys; sys.path.insert(0, {str(ROOT)!r}); "
              "from forum.prefork import replacement; sys.exit(replacement())",
              "--fd", str(fd), "--supervisor", str(os.getpid()), "--host", args.host, "--port", str(args.port),
              "--log-level", args.log_level, "--forwarded-allow-ips", args.forwarded_allow_ips]
    # -S: the supervisor needs the standard library only, not the installed packages; -P: nor the
    # modules beside it.
    return [*python, "-S", "-P", supervisor.__file__,
            "--children", ",".join(map(str, children)), "--log-level", args.log_level, "--", *worker]


def replacement(argv: list[str] | None = None) -> int:
    """A worker started by the supervisor in place of one that died: it loads the app itself and
    serves on the supervisor's listening socket (`--fd`)."""
    parser = _worker_options(argparse.ArgumentParser(prog="forum worker"))
    parser.add_argument("--fd", type=int, required=True)
    parser.add_argument("--supervisor", type=int, required=True, help="the process id of the supervisor")
    args = parser.parse_args(argv)
    few_malloc_arenas()
    stop_with_supervisor(args.supervisor)  # (it may have ended already, before this process got here)
    from forum.app import app_from_env

    _default_stop_signals()
    config = _config(args)
    config.configure_logging()
    config.app = app_from_env()
    config.load()
    return _serve(config, socket.socket(fileno=args.fd))


if __name__ == "__main__":
    sys.exit(main())
