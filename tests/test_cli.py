"""The `forum` command as an operator uses it."""
# ruff: noqa: F811  (the SMTP fixture is imported by name, then requested by name)

import os
import re
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from forum.models import User
from tests.server import free_port
from tests.smtp import smtp_server  # noqa: F401  (a fixture)


def forum(database_url, *args, stdin=""):
    env = {**os.environ, "FORUM_DATABASE_URL": database_url}
    return subprocess.run([sys.executable, "-m", "forum.cli", *args], input=stdin, capture_output=True, text=True,
                          env=env, timeout=60)


def test_create_user_with_tier_and_moderator_flag(database_url, db):
    r = forum(database_url, "create-user", "Lucia", "lucia@example.org", "--tier", "worker", "--moderator",
              "--password-stdin", stdin="a-long-password\n")
    assert r.returncode == 0, r.stderr
    assert "Created moderator Lucia (tier worker)" in r.stdout
    with db.read() as session:
        user = session.scalar(select(User).where(User.username_lower == "lucia"))
        assert (user.tier, user.is_moderator, user.is_admin) == ("worker", True, False)


def test_create_admin_refuses_reserved_name_clearly(database_url, db):
    r = forum(database_url, "create-admin", "admin", "a@example.org", "--password-stdin", stdin="a-long-password\n")
    assert r.returncode == 2 and "reserved" in r.stderr
    r = forum(database_url, "create-admin", "founder", "f@example.org", "--password-stdin", stdin="a-long-password\n")
    assert r.returncode == 0 and "Created administrator founder" in r.stdout


def test_serve_migrates_and_prints_a_working_setup_link(tmp_path):
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    port = free_port()
    # No FORUM_BASE_URL: the printed link must use the port actually served.
    env = {k: v for k, v in os.environ.items() if k != "FORUM_BASE_URL"} | {"FORUM_DATABASE_URL": url}
    proc = subprocess.Popen([sys.executable, "-m", "forum.cli", "serve", "--port", str(port)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        link = None
        deadline = time.monotonic() + 30
        while link is None and time.monotonic() < deadline:
            line = proc.stdout.readline()
            match = re.search(r"(http://127\.0\.0\.1:\d+/setup\?token=\S+)", line)
            if match:
                link = match.group(1)
        assert link, "no setup link printed"
        assert f"http://127.0.0.1:{port}/setup?token=" in link
        for _ in range(100):
            try:
                page = httpx.get(link, timeout=2)
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        assert page.status_code == 200 and "Create the first administrator" in page.text
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@contextmanager
def serving(tmp_path, *args, env=None):
    """`forum serve ARGS` on a fresh SQLite database, until /latest answers; its base URL and process."""
    port = free_port()
    full = {k: v for k, v in os.environ.items() if k not in ("FORUM_BASE_URL", "PROMETHEUS_MULTIPROC_DIR")}
    full |= {"FORUM_DATABASE_URL": f"sqlite:///{tmp_path / 'forum.db'}", **(env or {})}
    with open(tmp_path / "serve.log", "wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "forum.cli", "serve", "--port", str(port), *args], env=full,
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(base + "/latest", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, (tmp_path / "serve.log").read_text()
            time.sleep(0.1)
        yield base, proc
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)


@pytest.mark.server
def test_serve_with_workers_keeps_metrics_in_a_folder_of_its_own_and_removes_those_of_ended_servers(tmp_path):
    ended = subprocess.Popen([sys.executable, "-c", "pass"])
    ended.wait()
    stale = tmp_path / f"forum-metrics-{ended.pid}"  # left by a server that has stopped
    running = tmp_path / f"forum-metrics-{os.getpid()}"  # a server still running
    for folder in (stale, running):
        folder.mkdir()
        (folder / "counter_1.db").write_bytes(b"")
    with serving(tmp_path, "--workers", "2", env={"TMPDIR": str(tmp_path)}) as (base, proc):
        own = tmp_path / f"forum-metrics-{proc.pid}"
        assert own.is_dir() and not stale.exists() and (running / "counter_1.db").exists()
        for _ in range(10):
            httpx.get(base + "/categories", headers={"Connection": "close"})
        assert httpx.get(base + "/metrics").status_code == 200
        # The workers count there, and nothing else: not the child that migrated, not the process
        # that built the app (their supervisor now).
        pids = {p.stem.rsplit("_", 1)[1] for p in own.glob("*.db")}
        assert pids == {str(pid) for pid in _workers(proc.pid)}
        assert b"forum/supervisor.py" in Path(f"/proc/{proc.pid}/cmdline").read_bytes()
    # One log line per request, the forum's (with its route, status, duration and id), not uvicorn's too.
    log = (tmp_path / "serve.log").read_text()
    assert 'HTTP/1.1"' not in log
    assert log.count('"logger": "forum.request"') >= 11  # the pages (some from the cache) and /metrics


def _workers(pid: int) -> set[int]:
    return {int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()}


def _two_workers(pid: int, gone: int | None = None) -> set[int] | None:
    workers = _workers(pid)
    return workers if len(workers) == 2 and gone not in workers else None


def _wait_for(condition, seconds: float = 30):
    deadline = time.monotonic() + seconds
    while not (found := condition()):
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)
    return found


@pytest.mark.server
def test_serve_with_workers_replaces_workers_that_die_and_stops_them_all_on_sigterm(tmp_path):
    with serving(tmp_path, "--workers", "2") as (base, proc):
        first = _wait_for(lambda: _two_workers(proc.pid))
        victim = min(first)
        os.kill(victim, signal.SIGKILL)
        again = _wait_for(lambda: _two_workers(proc.pid, gone=victim))
        assert first - {victim} <= again
        for _ in range(10):  # the site answers throughout, whichever worker takes the connection
            assert httpx.get(base + "/latest", headers={"Connection": "close"}).status_code == 200
        # The other first worker dies too: the two started in their place serve the site alone.
        os.kill(max(first), signal.SIGKILL)
        replaced = _wait_for(lambda: (w := _two_workers(proc.pid, gone=max(first))) and not w & first and w)
        for _ in range(10):
            assert httpx.get(base + "/latest", headers={"Connection": "close"}).status_code == 200
        os.kill(proc.pid, signal.SIGTERM)
        assert proc.wait(timeout=40) == 0
        for pid in replaced:
            assert not Path(f"/proc/{pid}").exists() or "State:\tZ" in Path(f"/proc/{pid}/status").read_text()
    log = (tmp_path / "serve.log").read_text()
    assert f"Worker [{victim}] ended" in log and "starting another" in log
    assert "Stopping parent process" in log


@pytest.mark.server
def test_serve_with_workers_stops_its_workers_when_the_supervisor_is_killed_outright(tmp_path):
    """SIGKILL (or the OOM killer) leaves the supervisor no chance to stop its workers: they stop
    by themselves, the forked ones and one started in place of a worker that died, and the port is
    free for the next start."""
    with serving(tmp_path, "--workers", "2") as (base, proc):
        first = _wait_for(lambda: _two_workers(proc.pid))
        os.kill(min(first), signal.SIGKILL)
        workers = _wait_for(lambda: _two_workers(proc.pid, gone=min(first)))
        assert len(workers - first) == 1  # one forked from the loaded app, one that loaded it itself
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)

        def ended(pid: int) -> bool:
            return not Path(f"/proc/{pid}").exists() or "State:\tZ" in Path(f"/proc/{pid}/status").read_text()

        assert _wait_for(lambda: all(ended(pid) for pid in workers)), "workers kept running without their supervisor"
        with pytest.raises(httpx.ConnectError):
            httpx.get(base + "/latest", timeout=2)


def _kb(pid, field):
    line = next(x for x in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines() if x.startswith(field))
    return int(line.split()[1])


@pytest.mark.server
def test_serve_with_workers_shares_what_was_loaded_and_its_supervisor_holds_none_of_the_app(tmp_path):
    """The workers are forked from a process that built the app: most of their memory is shared,
    not a copy of their own. That process then becomes a supervisor of a few MB, not a third copy
    of the app beside them."""
    with serving(tmp_path, "--workers", "2") as (base, proc):
        workers = _wait_for(lambda: _two_workers(proc.pid))
        for _ in range(20):
            httpx.get(base + "/latest", headers={"Connection": "close"})
        for pid in workers:
            assert _kb(pid, "Shared_Dirty:") > _kb(pid, "Private_Dirty:") / 2, Path(f"/proc/{pid}/smaps_rollup").read_text()
            assert _kb(pid, "Rss:") > 60_000  # a worker holds the app
        assert b"forum/supervisor.py" in Path(f"/proc/{proc.pid}/cmdline").read_bytes()
        assert _kb(proc.pid, "Rss:") < 20_000, Path(f"/proc/{proc.pid}/smaps_rollup").read_text()
        assert "sqlalchemy" not in Path(f"/proc/{proc.pid}/maps").read_text()


def test_serve_with_workers_says_in_one_sentence_why_the_database_cannot_be_migrated(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("FORUM_")}
    env["FORUM_DATABASE_URL"] = f"sqlite:///{tmp_path}/no/such/folder/forum.db"
    r = subprocess.run([sys.executable, "-m", "forum.cli", "serve", "--workers", "2", "--port", str(free_port())],
                       capture_output=True, text=True, env=env, cwd=tmp_path, timeout=60)
    assert r.returncode == 1
    assert r.stderr.strip().count("\n") == 0 and "unable to open database file" in r.stderr, r.stderr
    assert "Forum running" not in r.stdout
    r = subprocess.run([sys.executable, "-m", "forum.cli", "serve", "--workers", "0"],
                       capture_output=True, text=True, env=env, cwd=tmp_path, timeout=60)
    assert r.returncode == 2 and "'0' is not a number of processes" in r.stderr


def _supervising(tmp_path, worker_code: str):
    """forum/supervisor.py as forum serve starts it (exec'd by the parent of a worker), with a
    worker that runs `worker_code`, replacements included; its process and log file."""
    from forum import supervisor

    log = tmp_path / "supervisor.log"
    worker = [sys.executable, "-c", worker_code]
    parent = (f"import os, sys\npid = os.fork()\nif not pid:\n    os.execv({sys.executable!r}, {worker!r})\n"
              f"os.execv({sys.executable!r}, [{sys.executable!r}, '-S', '-P', {supervisor.__file__!r}, "
              f"'--children', str(pid), '--', *{worker!r}])\n")
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-c", parent], stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    return proc, log


def test_supervisor_restarts_workers_that_die_young_less_and_less_often_and_stops_on_sigterm(tmp_path):
    starts = tmp_path / "starts"
    proc, log = _supervising(tmp_path, f"import time; open({str(starts)!r}, 'a').write(f'{{time.time()}}\\n'); "
                                       "raise SystemExit(1)")
    try:
        _wait_for(lambda: starts.exists() and len(starts.read_text().split()) >= 4, seconds=30)
        os.kill(proc.pid, signal.SIGTERM)
        assert proc.wait(timeout=40) == 0
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    text = log.read_text()
    assert "Stopping parent process" in text
    assert text.count("ended (exit code 1); starting another") >= 3
    times = [float(t) for t in starts.read_text().split()]
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    # About 1, 2 and 4 s: the first worker had served (its replacement comes after a second), the
    # replacements died young.
    assert 0.9 < gaps[0] < 1.9 and gaps[1] > gaps[0] * 1.5 and gaps[2] > gaps[1] * 1.5, gaps


def test_supervisor_stops_the_server_when_a_worker_cannot_start(tmp_path):
    proc, log = _supervising(tmp_path, "import sys; sys.exit(3)")  # uvicorn's code for a failed startup
    try:
        assert proc.wait(timeout=30) == 1
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert "could not start; stopping the server" in log.read_text()


@pytest.mark.server
def test_serve_makes_the_metrics_folder_it_is_given(tmp_path):
    chosen = tmp_path / "not" / "yet" / "metrics"
    with serving(tmp_path, "--workers", "2", env={"PROMETHEUS_MULTIPROC_DIR": str(chosen)}) as (base, _proc):
        assert httpx.get(base + "/metrics").status_code == 200
        assert list(chosen.glob("*.db"))


def test_a_wrong_database_or_redis_url_is_one_sentence_and_exit_code_1(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("FORUM_")}
    port = free_port()  # nobody listens there
    cases = {
        f"postgresql+psycopg://postgres:secret@127.0.0.1:{port}/forum": ("FORUM_DATABASE_URL", "127.0.0.1"),
        f"sqlite:///{tmp_path}/no/such/folder/forum.db": ("FORUM_DATABASE_URL", "unable to open database file"),
    }
    for url, (setting, detail) in cases.items():
        r = subprocess.run([sys.executable, "-m", "forum.cli", "migrate"], capture_output=True, text=True,
                           env={**env, "FORUM_DATABASE_URL": url}, cwd=tmp_path, timeout=60)
        assert r.returncode == 1
        assert len(r.stderr.strip().splitlines()) == 1, r.stderr
        assert setting in r.stderr and detail in r.stderr and "secret" not in r.stderr
    r = subprocess.run([sys.executable, "-m", "forum.cli", "migrate"], capture_output=True, text=True,
                       env={**env, "FORUM_DATABASE_URL": f"sqlite:///{tmp_path}/forum.db",
                            "FORUM_REDIS_URL": "http://127.0.0.1/0"}, cwd=tmp_path, timeout=60)
    assert r.returncode == 1 and r.stderr.strip().count("\n") == 0 and "FORUM_REDIS_URL" in r.stderr


def _check(env: dict[str, str]):
    full = {k: v for k, v in os.environ.items() if not k.startswith("FORUM_")}
    return subprocess.run([sys.executable, "-m", "forum.cli", "check"], capture_output=True, text=True,
                          env={**full, **env}, timeout=60)


def _findings(out: str) -> dict[str, str]:
    """{what: its whole line} of `forum check`'s output."""
    return {m.group(1): m.group(0) for m in re.finditer(r"^(database|redis|mail|base URL) .*$", out, re.M)}


def test_check_says_in_plain_words_what_is_wrong(tmp_path):
    closed = free_port()
    r = _check({"FORUM_DATABASE_URL": f"postgresql+psycopg://forum:secret@127.0.0.1:{closed}/forum",
                "FORUM_REDIS_URL": f"redis://127.0.0.1:{closed}/0", "FORUM_SMTP_PORT": str(closed),
                "FORUM_BASE_URL": f"http://127.0.0.1:{closed}"})
    assert r.returncode == 1, r.stdout + r.stderr
    lines = _findings(r.stdout)
    assert "PROBLEM" in lines["database"] and f"FORUM_DATABASE_URL=postgresql+psycopg://forum:***@127.0.0.1:{closed}" \
        in lines["database"] and "secret" not in r.stdout
    assert "PROBLEM" in lines["redis"] and "does not answer" in lines["redis"]
    assert "PROBLEM" in lines["mail"] and f"127.0.0.1:{closed}" in lines["mail"]
    assert "warning" in lines["base URL"] and "nothing answers" in lines["base URL"]
    assert "3 problem(s) to fix." in r.stdout
    assert not (tmp_path / "forum.db").exists()


def test_check_passes_when_everything_answers(database_url, db, smtp_server):
    from tests.server import running_server

    with running_server(database_url) as base:
        r = _check({"FORUM_DATABASE_URL": database_url, "FORUM_REDIS_URL": "redis://127.0.0.1:6379/15",
                    "FORUM_SMTP_PORT": str(smtp_server.port), "FORUM_BASE_URL": base})
    assert r.returncode == 0, r.stdout + r.stderr
    assert [line[len(what):].split()[0] for what, line in _findings(r.stdout).items()] == ["ok"] * 4
    assert f"{base} answers as itself" in r.stdout and "Everything the forum needs answers." in r.stdout


def test_a_start_prints_no_setup_link_once_there_is_an_administrator(database_url, db, make_user):
    from forum.migrate import has_admin

    make_user("lucia", tier="member", moderator=True)
    assert not has_admin(database_url)  # a moderator is not one: the link is still printed
    make_user("founder", admin=True)
    assert has_admin(database_url)
