"""Load-test the forum against a bare ASGI baseline and check it against its performance targets.

    python bench/run.py                 # full run: 40 wrk runs of 10 s after 2 s warm-ups (about 9 minutes)
    python bench/run.py --repeat 3      # median of 3 runs per figure (about 22 minutes)
    python bench/run.py --quick         # smoke run: 2 s per figure, 1 s warm-up (about 3 minutes)
    python bench/run.py --json sqlite.json
    python bench/run.py --database-url postgresql+psycopg://postgres@127.0.0.1:5432/forum_bench \\
        --json pg.json --compare sqlite.json       # PostgreSQL, and its ratio to a saved SQLite run
    python bench/run.py --from-json pg.json --compare sqlite.json   # the report again, without measuring

Targets (the forum's figures on the large database; "% of baseline" is the forum's requests/s
divided by those of the baseline run made just before it, sending the same number of bytes):

* anonymous topic page (the 50-reply topic, page 1), /latest and the "General" category page, and
  the .rss and .json of each (/t/{slug}/{id}.rss|.json, /latest.rss|.json, /c/{slug}/{id}.rss|.json):
  at least 25 % of the baseline;
* signed-in member: topic page and /latest at least 4 % (the category page is reported, no target);
* p99 latency at 32 connections: under 10 ms for the anonymous HTML pages, under 40 ms signed in;
* PostgreSQL against SQLite (with --compare): each page's "% of baseline" on PostgreSQL at least
  0.8 times SQLite's;
* "stays flat": p50 latency of the 500-reply topic's last page at most 10 % above the 50-reply
  topic's page 1 (same large database), and p50 on the large database (500,000 posts) at most 10 %
  above the small one (1,000 posts), for every page;
* memory: the server's PSS (every process of its process group, the supervisor included, summed
  from /proc/PID/smaps_rollup) sampled every 0.5 s during the topic page's runs: at most 180 MB;
  the same is sampled during every figure and reported beside it (the signed-in lists, feeds and
  JSON come after the topic pages, and the server holds more by then);
* start to first page: from launching `forum serve --workers 2` on an already migrated database
  until /latest first answers 200, median of 3 starts: under 2 s.

What it does, all on 127.0.0.1 and bounded in time (every wrk run is -d seconds, every subprocess
has a timeout, every server is stopped through its own process group on the way out):

1. Makes sure the large database (default sqlite:////tmp/bench.db: 10,000 topics, 500,000 posts,
   with a 50-reply and a 500-reply topic) and the small one (100 topics, 1,000 posts, next to it)
   exist, generating them with bench/generate.py if not (a large database made before the
   500-reply topic existed is generated again). Both are migrated, as `forum serve` does.
2. Starts `forum serve --workers 2` on the large database three times, timing each start until
   /latest answers 200, and stops it again.
3. In each database, creates (once) a member-tier user "benchmember" through forum.accounts and
   starts a fresh session for it with accounts.start_session, committed through db.write(); wrk
   sends the cookie `_t=<token>` for the signed-in runs. Anonymous runs send no cookie.
4. Starts the forum twice (large and small database) exactly as operators do:
   `forum serve --workers 2 --host 127.0.0.1 --port P` with FORUM_DATABASE_URL (the console
   script of this Python's environment, with this checkout first on PYTHONPATH so that the code
   measured is the code here); checks that every URL answers 200 with the right content type for
   its visitor and that the cookie signs in.
5. Starts bench/baseline.py under uvicorn with the same number of workers; `/bytes/N` answers
   exactly N bytes.
6. For each figure (page and visitor), runs wrk (-t2 -c32 -d10s --latency, after a 2 s warm-up)
   against the baseline asking for as many bytes as the forum's answer, then the large forum,
   then the small forum, back to back (the 500-reply topic's last page: the large forum only,
   right after the 50-reply topic). The machine may be shared, so each forum figure is divided by
   the baseline run made just before it, and the small/large comparison is made from runs seconds
   apart.
7. Prints the detailed table (requests/s, % of the baseline, p50/p99, CPU per request, growth from
   the small to the large database), the comparison with --compare, and one table of every target
   with its measured value and "yes"/"NO". --json saves everything (with the targets).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import re
import resource
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import ExitStack
from dataclasses import asdict, dataclass
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = Path(__file__).resolve().parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sqlalchemy import create_engine, inspect, select  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

MEMBER = "benchmember"
MEMBER_PASSWORD = "bench-password-1"
SMALL_TOPICS, SMALL_POSTS = 100, 1_000
LONG_EXTRA_POSTS = 550  # posts beyond one per topic that the 51- and 501-post topics need (generate.py)
DEFAULT_APP = "forum.app:app_from_env"

PAGES = ("topic", "latest", "category")  # the HTML pages, read by both visitors
FEEDS = ("topic.rss", "topic.json", "latest.rss", "latest.json", "category.rss", "category.json")
LONG = "topic-500"  # the 500-reply topic's last page, on the large database only
VISITORS = ("anonymous", "member")
# Every figure (page, visitor) in the order measured: the 500-reply topic right after the
# 50-reply topic it is compared with.
FIGURES = (("topic", "anonymous"), (LONG, "anonymous"), ("topic", "member"), (LONG, "member"),
           ("latest", "anonymous"), ("latest", "member"), ("category", "anonymous"), ("category", "member"),
           *((feed, "anonymous") for feed in FEEDS))
MEMORY_FIGURES = {("topic", "anonymous"), ("topic", "member")}  # the memory target's PSS samples

# The targets.
SHARE_TARGETS = {  # (page, visitor) -> minimum % of the baseline's requests/s
    **{(page, "anonymous"): 25.0 for page in (*PAGES, *FEEDS)},
    ("topic", "member"): 4.0,
    ("latest", "member"): 4.0,
}
P99_TARGETS_MS = {"anonymous": 10.0, "member": 40.0}  # p99 below this, for the HTML pages
BACKEND_TARGET = 0.8  # PostgreSQL's % of baseline at least this times SQLite's
FLAT_TARGET = 10.0  # server CPU per request at most this % above the reference (500-reply vs 50-reply; large vs small)
PSS_TARGET_MB = 180.0
START_TARGET_S = 2.0
STARTS = 3
SAMPLE_SECONDS = 0.5

CONTENT_TYPES = {"": "text/html", ".rss": "application/rss+xml", ".json": "application/json"}


def log(message: str = "") -> None:
    print(message, flush=True)


# --- databases ----------------------------------------------------------------------------------

def marker(url: str) -> dict | None:
    """What bench/generate.py recorded in this database, or None when it did not make it."""
    u = make_url(url)
    if u.get_backend_name() == "sqlite" and not (u.database and os.path.exists(u.database)):
        return None
    try:
        engine = create_engine(url)
        try:
            if "site_settings" not in inspect(engine).get_table_names():
                return None
            from forum.models import SiteSetting

            with engine.connect() as conn:
                value = conn.execute(select(SiteSetting.value).where(SiteSetting.key == "bench_generated")).scalar()
        finally:
            engine.dispose()
    except Exception:
        return None
    return json.loads(value) if value else None


def ensure_database(url: str, topics: int, posts: int, *, exact: bool, long_topic: bool = False) -> dict:
    """The generated database at url, migrated; generated (again) when missing, of another size
    (with exact), or without the 500-reply topic (with long_topic)."""
    shown = make_url(url).render_as_string(hide_password=True)
    info = marker(url)
    if info is not None and long_topic and not info.get("special_topic_500"):
        log(f"{shown} has no 500-reply topic (made by an older bench/generate.py): generating it again")
        info = None
    if info is not None and (not exact or (info["topics"], info["posts"]) == (topics, posts)):
        # `forum serve` migrates before serving; so does the benchmark (the code may be newer than the data).
        from forum.migrate import upgrade

        upgrade(url)
        return info
    if long_topic and posts < topics + LONG_EXTRA_POSTS:
        raise SystemExit(f"--posts must be at least --topics + {LONG_EXTRA_POSTS} to hold the 500-reply topic")
    log(f"Generating {topics} topics / {posts} posts into {shown} ...")
    subprocess.run([sys.executable, str(BENCH / "generate.py"), "--database-url", url, "--topics", str(topics),
                    "--posts", str(posts)], check=True, timeout=900)
    info = marker(url)
    assert info is not None and (info.get("special_topic_500") or not long_topic), info
    return info


def member_session(url: str) -> str:
    """Create (once) a member-tier user and start a fresh session for it; returns the cookie token."""
    from forum import accounts
    from forum.config import Settings
    from forum.db import Database

    db = Database(Settings(database_url=url))
    try:
        with db.write() as session:
            user = accounts.find_user_by_login(session, MEMBER)
            if user is None:
                user = accounts.create_user(session, username=MEMBER, email=f"{MEMBER}@bench.example.org",
                                            password=MEMBER_PASSWORD, name="Bench Member", tier="member")
            token = accounts.start_session(session, user, user_agent="wrk")
    finally:
        db.dispose()
    return token


def category_path(url: str) -> str:
    from forum.models import Category

    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            row = conn.execute(select(Category.id, Category.slug).where(Category.slug == "general")).first()
    finally:
        engine.dispose()
    return f"/c/{row.slug}/{row.id}"


def last_page(posts: int) -> int:
    """The number of a topic's last full page (`?page=N`) at the forum's default posts per page:
    as many posts as the 50-reply topic's first page, 480 posts further in."""
    from forum.config import Settings

    return max(1, posts // Settings.model_fields["posts_per_page"].default)


def site_paths(url: str, info: dict) -> dict[str, str]:
    """page -> URL path, for every page of FIGURES this database has."""
    topic, category = info["special_topic"]["path"], category_path(url)
    paths = {"topic": topic, "latest": "/latest", "category": category}
    for base, name in ((topic, "topic"), ("/latest", "latest"), (category, "category")):
        paths[f"{name}.rss"], paths[f"{name}.json"] = f"{base}.rss", f"{base}.json"
    long = info.get("special_topic_500")
    if long:
        paths[LONG] = f"{long['path']}?page={last_page(long['posts'])}"
    return paths


# --- servers --------------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fetch(port: int, path: str, cookie: str | None = None, timeout: float = 10) -> tuple[int, str, bytes]:
    """(status, content type, body) of one GET."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path, headers={"Cookie": cookie} if cookie else {})
        response = conn.getresponse()
        return response.status, response.getheader("content-type", ""), response.read()
    finally:
        conn.close()


def get(port: int, path: str, cookie: str | None = None, timeout: float = 10) -> tuple[int, bytes]:
    status, _content_type, body = fetch(port, path, cookie, timeout)
    return status, body


class Server:
    """A uvicorn process group on 127.0.0.1, stopped (by its own process group id) on exit.

    ready_seconds: from launching it to the first 200 answer on ready_path.
    """

    def __init__(self, name: str, app_args: list[str], env: dict[str, str], workers: int, log_level: str,
                 logdir: Path, ready_path: str = "/"):
        self.port = free_port()
        self.name = name
        self.log_path = logdir / f"{name}-{self.port}.log"
        base_env = {k: v for k, v in os.environ.items()
                    if not k.startswith("FORUM_") and k not in ("BENCH_BASELINE_BYTES", "PROMETHEUS_MULTIPROC_DIR")}
        base_env.update(env)
        base_env.update({"FORUM_BASE_URL": f"http://127.0.0.1:{self.port}", "PYTHONUNBUFFERED": "1"})
        self.args = [sys.executable, "-m", "uvicorn", *app_args, "--host", "127.0.0.1", "--port", str(self.port),
                     "--workers", str(workers), "--log-level", log_level,
                     "--proxy-headers", "--forwarded-allow-ips", "127.0.0.1"]
        self.env, self.ready_path = base_env, ready_path
        self.proc: subprocess.Popen | None = None
        self.ready_seconds: float | None = None

    def __enter__(self) -> Server:
        self._log = open(self.log_path, "wb")
        launched = time.monotonic()
        self.proc = subprocess.Popen(self.args, env=self.env, cwd=ROOT, stdout=self._log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        deadline = launched + 60
        while True:
            try:
                if get(self.port, self.ready_path, timeout=5)[0] == 200:
                    self.ready_seconds = time.monotonic() - launched
                    break
            except OSError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.__exit__(None, None, None)
                raise RuntimeError(f"{self.name} did not start; see {self.log_path}:\n"
                                   + self.log_path.read_text(errors="replace")[-4000:])
            time.sleep(0.02)
        # Both workers must be up before measuring: keep knocking until several requests succeed.
        for _ in range(20):
            get(self.port, self.ready_path)
        return self

    def __exit__(self, *exc) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.proc.wait(timeout=10)
        self.proc = None
        self._log.close()


class ForumServe(Server):
    """`forum serve --workers N --host 127.0.0.1 --port P`, the command operators run.

    It migrates, prints its setup link and runs uvicorn with proxy headers itself. The console
    script is this Python environment's (`python -m forum.cli` if it has none), with this checkout
    first on PYTHONPATH so that it serves the code being measured (an exported snapshot too).
    FORUM_BASE_URL is left unset, so `forum serve` derives it from --host and --port. Each server
    keeps its metrics files (several workers share them) in a directory of its own under logdir,
    made beforehand: without one, `forum serve` would leave a new temporary directory per start.
    """

    def __init__(self, name: str, env: dict[str, str], workers: int, log_level: str, logdir: Path,
                 ready_path: str = "/latest"):
        super().__init__(name, [], env, workers, log_level, logdir, ready_path)
        script = Path(sys.executable).with_name("forum")
        command = [str(script)] if script.exists() else [sys.executable, "-m", "forum.cli"]
        self.args = [*command, "serve", "--workers", str(workers), "--host", "127.0.0.1", "--port", str(self.port),
                     "--log-level", log_level]
        del self.env["FORUM_BASE_URL"]
        self.env["PYTHONPATH"] = os.pathsep.join(filter(None, (str(ROOT), os.environ.get("PYTHONPATH"))))
        metrics = logdir / f"metrics-{name}-{self.port}"
        metrics.mkdir(exist_ok=True)
        self.env["PROMETHEUS_MULTIPROC_DIR"] = str(metrics)


def byte_compile() -> None:
    """Byte-compile the checkout's code, as `pip install` does (and a first `forum serve` on a
    machine that writes bytecode): a start measured from source compiles every module each time,
    which no installed forum does. Python reads these files even under PYTHONDONTWRITEBYTECODE."""
    import compileall

    compileall.compile_dir(str(ROOT / "forum"), quiet=1)


def forum_server(name: str, url: str, args, logdir: Path) -> Server:
    """The forum on database url: `forum serve`, or uvicorn with another app (--forum-app)."""
    byte_compile()
    env = {"FORUM_DATABASE_URL": url}
    if args.forum_app == DEFAULT_APP:
        return ForumServe(name, env, args.workers, args.log_level, logdir)
    # bench/whatif.py's patched app: uvicorn as `forum serve` runs it, with bench/ importable.
    return Server(name, ["--app-dir", str(BENCH), "--factory", args.forum_app], env, args.workers,
                  args.log_level, logdir, ready_path="/latest")


# --- wrk and /proc --------------------------------------------------------------------------------

@dataclass
class Result:
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int  # non-2xx/3xx answers plus socket errors
    cpu_ms: float = float("nan")  # server CPU time (all its processes, user + system) per request
    client_cpu_ms: float = float("nan")  # wrk's CPU time per request


_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def group_stats(pgid: int):
    """(pid, fields of /proc/<pid>/stat after the name) of each live process of one process group."""
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        # fields[0] is the state (field 3 of stat(5)); pgrp is field 5.
        if int(fields[2]) == pgid:
            yield entry, fields


def group_cpu_seconds(pgid: int) -> float:
    """User + system CPU seconds used so far by the live processes of one process group (Linux /proc)."""
    # utime is field 14 of stat(5), stime 15.
    return sum(int(fields[11]) + int(fields[12]) for _pid, fields in group_stats(pgid)) / _TICK


def _group_sum_kb(pgid: int, file: str, field: str) -> int:
    """The sum of one `Field:  N kB` line of /proc/<pid>/<file> over the live processes of a group."""
    total = 0
    for pid, _fields in group_stats(pgid):
        try:
            with open(f"/proc/{pid}/{file}") as f:
                total += next(int(line.split()[1]) for line in f if line.startswith(field))
        except (OSError, StopIteration, ValueError):
            continue
    return total


def group_rss_kb(pgid: int) -> int:
    """Resident memory of the live processes of one process group, in KB."""
    return _group_sum_kb(pgid, "status", "VmRSS:")


def group_pss_kb(pgid: int) -> int:
    """Proportional set size of the live processes of one process group, in KB: pages shared
    between them (what the workers forked from one loaded process share) counted once in all."""
    return _group_sum_kb(pgid, "smaps_rollup", "Pss:")


class PssSampler:
    """Samples group_pss_kb(pgid) every `interval` seconds, on a thread, while in its with-block."""

    def __init__(self, pgid: int, interval: float = SAMPLE_SECONDS):
        self.pgid, self.interval = pgid, interval
        self.samples_kb: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="pss-sampler", daemon=True)

    def _run(self) -> None:
        while True:
            self.samples_kb.append(group_pss_kb(self.pgid))
            if self._stop.wait(self.interval):
                return

    def __enter__(self) -> PssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


def small_site(argv: list[str] | None, description: str) -> tuple[argparse.Namespace, str]:
    """The command line shared by the smaller benchmarks (composer.py, uploads.py), the small database
    made ready, and a signed-in member's cookie; prints the commit measured."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--database-url", default="sqlite:////tmp/bench-small.db")
    parser.add_argument("--duration", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)
    ensure_database(args.database_url, SMALL_TOPICS, SMALL_POSTS, exact=False)
    cookie = f"_t={member_session(args.database_url)}"
    print(f"commit {code_version()}; {machine()}")
    return args, cookie


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def _ms(value: str) -> float:
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m)", value.strip())
    if not m:
        raise ValueError(f"cannot parse wrk latency {value!r}")
    return float(m.group(1)) * _UNITS[m.group(2)]


def parse_wrk(output: str) -> Result:
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))
    p50 = _ms(re.search(r"^\s+50%\s+(\S+)", output, re.M).group(1))
    p99 = _ms(re.search(r"^\s+99%\s+(\S+)", output, re.M).group(1))
    requests = int(re.search(r"(\d+) requests in", output).group(1))
    errors = 0
    m = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    if m:
        errors += int(m.group(1))
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    if m:
        errors += sum(int(x) for x in m.groups())
    return Result(rps, p50, p99, requests, errors)


def wrk(port: int, path: str, cookie: str | None, args, duration: int) -> Result:
    cmd = ["wrk", f"-t{args.threads}", f"-c{args.connections}", f"-d{duration}s", "--latency",
           "--timeout", "10s"]
    if cookie:
        cmd += ["-H", f"Cookie: {cookie}"]
    cmd.append(f"http://127.0.0.1:{port}{path}")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 60)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if out.returncode != 0:
        raise RuntimeError(f"wrk failed: {out.stderr or out.stdout}")
    result = parse_wrk(out.stdout)
    client = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    result.client_cpu_ms = 1000.0 * client / result.requests if result.requests else float("nan")
    return result


def measure(server: Server, path: str, cookie: str | None, args) -> Result:
    """A warm-up, then args.repeat wrk runs; the median run by throughput."""
    port = server.port
    if args.warmup > 0:
        wrk(port, path, cookie, args, args.warmup)
    runs = []
    for _ in range(args.repeat):
        cpu_before = group_cpu_seconds(server.proc.pid)
        r = wrk(port, path, cookie, args, args.duration)
        cpu = group_cpu_seconds(server.proc.pid) - cpu_before
        r.cpu_ms = 1000.0 * cpu / r.requests if r.requests else float("nan")
        runs.append(r)
    if len(runs) == 1:
        return runs[0]
    runs.sort(key=lambda r: r.rps)
    return runs[len(runs) // 2]  # the median run, by throughput


# --- the runs -------------------------------------------------------------------------------------

@dataclass
class Site:
    label: str
    url: str
    info: dict
    cookie: str = ""
    paths: dict | None = None
    server: Server | None = None


def prepare_site(site: Site, args, logdir: Path) -> None:
    """The member's cookie, the URL of every page, and the (not yet started) server of one database."""
    site.cookie = f"_t={member_session(site.url)}"
    site.paths = site_paths(site.url, site.info)
    site.server = forum_server(f"forum-{site.label}", site.url, args, logdir)


def check_pages(site: Site, figures=None) -> dict[tuple[str, str], int]:
    """Every figure's URL answers 200 (not a redirect) with its content type, HTML pages sign the
    member in (and nobody else), the 500-reply topic's page is its last; returns the body sizes."""
    sizes: dict[tuple[str, str], int] = {}
    for page, visitor in figures or [(page, visitor) for page in PAGES for visitor in VISITORS]:
        path = site.paths[page]
        status, content_type, body = fetch(site.server.port, path, site.cookie if visitor == "member" else None)
        where = f"{site.label} {path} ({visitor})"
        if status != 200:
            raise RuntimeError(f"{where} answered {status}")
        kind = os.path.splitext(page)[1]  # "" for the HTML pages
        if not content_type.startswith(CONTENT_TYPES[kind]):
            raise RuntimeError(f"{where} answered {content_type!r}, not {CONTENT_TYPES[kind]}")
        if not kind:
            signed_in = f">{MEMBER}</a>".encode() in body
            if signed_in != (visitor == "member"):
                raise RuntimeError(f"{where}: the {visitor} visitor is {'' if signed_in else 'not '}signed in")
        if page == LONG:
            from forum.config import Settings

            posts = site.info["special_topic_500"]["posts"]
            per_page = Settings.model_fields["posts_per_page"].default
            last = last_page(posts) * per_page  # the last post of the last full page
            if f'id="post_{last}"'.encode() not in body or f'id="post_{last - per_page + 1}"'.encode() not in body:
                raise RuntimeError(f"{where} does not show posts {last - per_page + 1} to {last}")
        sizes[(page, visitor)] = len(body)
    return sizes


def line(label: str, page: str, visitor: str, r: Result, extra: str = "") -> None:
    log(f"  {label:8} {page:13} {visitor:9} {r.rps:8.1f} req/s  p50 {r.p50_ms:7.2f} ms  "
        f"p99 {r.p99_ms:7.2f} ms  cpu {r.cpu_ms:6.3f} (wrk {r.client_cpu_ms:5.3f}) ms/req  errors {r.errors}{extra}")


def machine() -> dict:
    return {"nproc": os.cpu_count(), "arch": platform.machine(), "python": platform.python_version(),
            "system": f"{platform.system()} {platform.release()}"}


def code_version() -> str:
    """The commit of the forum code being measured (an exported snapshot may carry .bench-commit)."""
    marker_file = ROOT / ".bench-commit"
    if marker_file.exists():
        return marker_file.read_text().strip()[:12] + " (exported snapshot)"
    try:
        head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short=12", "HEAD"], capture_output=True,
                              text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--", "forum", "templates",
                                "migrations"], capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return (head or "unknown") + (" + uncommitted changes in forum/templates/migrations" if dirty else "")


def loadavg() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "?"


def pct(value: float, base: float) -> float:
    return 100.0 * value / base if base else float("nan")


def measure_startup(url: str, args, logdir: Path) -> list[float]:
    """Seconds from launching the forum until /latest first answers 200, for each of STARTS starts.

    The forum's modules are compiled to bytecode first, as `pip install` does for a deployment (a
    checkout run with PYTHONDONTWRITEBYTECODE=1 would otherwise compile them in every process)."""
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "forum")], check=False, timeout=300,
                   env={k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"})
    seconds = []
    for i in range(STARTS):
        with forum_server(f"start-{i + 1}", url, args, logdir) as server:
            seconds.append(server.ready_seconds)
    return seconds


def run_benchmark(args) -> dict:
    """Measure everything; returns the result as saved by --json (without compare and targets)."""
    load_before = loadavg()
    small_url = args.small_database_url or default_small_url(args.database_url)
    large = Site("large", args.database_url,
                 ensure_database(args.database_url, args.topics, args.posts, exact=False, long_topic=True))
    small = Site("small", small_url, ensure_database(small_url, SMALL_TOPICS, SMALL_POSTS, exact=True))
    log(f"Large database: {large.info['topics']} topics, {large.info['posts']} posts; "
        f"small: {small.info['topics']} topics, {small.info['posts']} posts")

    figures, pss_samples = [], []
    with tempfile.TemporaryDirectory(prefix="forum-bench-") as tmp, ExitStack() as stack:
        logdir = Path(tmp)
        # Before anything else runs: start to first page, on the (migrated) large database.
        starts = measure_startup(large.url, args, logdir)
        log("Start to first page: " + ", ".join(f"{s:.2f}s" for s in starts))
        for site in (large, small):
            prepare_site(site, args, logdir)
            stack.enter_context(site.server)
        sizes = check_pages(large, FIGURES)
        check_pages(small, [f for f in FIGURES if f[0] != LONG])
        baseline = stack.enter_context(Server("baseline", ["--app-dir", str(BENCH), "--factory", "baseline:create_app"],
                                              {}, args.workers, args.log_level, logdir))
        for size in set(sizes.values()):
            status, body = get(baseline.port, f"/bytes/{size}")
            assert status == 200 and len(body) == size, (status, len(body), size)
        log(f"Servers up (forum x2, baseline); every URL answers 200; measuring, {args.duration}s per figure:")
        # Paired, interleaved runs: the machine may be shared, so every forum figure is compared with
        # a baseline run sending as many bytes made just before it, and the small and large databases
        # are measured back to back.
        for page, visitor in FIGURES:
            cookie_large = large.cookie if visitor == "member" else None
            base_path = f"/bytes/{sizes[(page, visitor)]}"
            b = measure(baseline, base_path, cookie_large, args)
            line("baseline", page, visitor, b)
            with PssSampler(large.server.proc.pid) as sampler:
                r_large = measure(large.server, large.paths[page], cookie_large, args)
            pss_samples.append({"page": page, "visitor": visitor, "kb": sampler.samples_kb})
            line("large", page, visitor, r_large, f"  ({pct(r_large.rps, b.rps):.2f}% of baseline)")
            r_small = None
            if page != LONG:
                r_small = measure(small.server, small.paths[page], small.cookie if visitor == "member" else None,
                                  args)
                line("small", page, visitor, r_small)
            figures.append({
                "page": page, "visitor": visitor, "path": large.paths[page], "bytes": sizes[(page, visitor)],
                "baseline": {"path": base_path, **asdict(b)}, "large": asdict(r_large),
                "small": asdict(r_small) if r_small else None,
                "percent_of_baseline": pct(r_large.rps, b.rps),
                # Throughput on an otherwise idle machine, where server and wrk share the cores.
                "idle_projection_percent_of_baseline": pct(b.cpu_ms + b.client_cpu_ms,
                                                           r_large.cpu_ms + r_large.client_cpu_ms),
                "growth_percent": pct(r_large.p50_ms - r_small.p50_ms, r_small.p50_ms) if r_small else None,
                # Flatness is judged on the server's CPU per request: on a shared machine latency
                # follows whatever else runs, CPU time per request hardly does.
                "cpu_growth_percent": pct(r_large.cpu_ms - r_small.cpu_ms, r_small.cpu_ms) if r_small else None,
            })

    pss_max = max((kb for run in pss_samples if (run["page"], run["visitor"]) in MEMORY_FIGURES for kb in run["kb"]),
                  default=float("nan"))
    pss_max_all = max((kb for run in pss_samples for kb in run["kb"]), default=float("nan"))
    return {"date": date.today().isoformat(), "machine": machine(),
            "backend": make_url(args.database_url).get_backend_name(), "code": code_version(),
            "forum_app": args.forum_app, "whatif": os.environ.get("BENCH_WHATIF", ""),
            "load_average": {"before": load_before, "after": loadavg()},
            "wrk": {"threads": args.threads, "connections": args.connections, "duration": args.duration,
                    "warmup": args.warmup, "repeat": args.repeat},
            "workers": args.workers, "log_level": args.log_level,
            "large": {"topics": large.info["topics"], "posts": large.info["posts"]},
            "small": {"topics": small.info["topics"], "posts": small.info["posts"]},
            "figures": figures,
            "memory": {"pss_max_mb": pss_max / 1024, "pss_max_all_mb": pss_max_all / 1024, "interval_s": SAMPLE_SECONDS, "samples": pss_samples},
            "startup": {"seconds": starts, "median_s": statistics.median(starts)}}


# --- targets and the report -----------------------------------------------------------------------

def shares(result: dict) -> dict[tuple[str, str], float]:
    """(page, visitor) -> % of baseline, from a --json result (also the format before the targets table)."""
    rows = result.get("figures") or result.get("large", {}).get("results", [])
    return {(r["page"], r["visitor"]): r["percent_of_baseline"] for r in rows if r["page"] != LONG}


def compare(result: dict, other: dict, other_name: str) -> dict:
    """This run's % of baseline against another run's, page by page: PostgreSQL/SQLite when the two
    runs are one of each, else this/other."""
    mine, theirs = shares(result), shares(other)
    backends = (result["backend"], other.get("backend", "?"))
    one_of_each = set(backends) == {"postgresql", "sqlite"}
    flip = one_of_each and backends[0] == "sqlite"
    rows = []
    for key, share in mine.items():
        if key not in theirs:
            continue
        num, den = (theirs[key], share) if flip else (share, theirs[key])
        ratio = num / den if den else float("nan")
        rows.append({"page": key[0], "visitor": key[1], "this_percent": share, "other_percent": theirs[key],
                     "ratio": ratio, "met": ratio >= BACKEND_TARGET})
    return {"other": other_name, "other_backend": backends[1], "other_code": other.get("code"),
            "other_date": other.get("date"),
            "ratio": "PostgreSQL/SQLite" if one_of_each else f"this/other ({backends[0]}/{backends[1]})",
            "rows": rows}


def targets(result: dict) -> list[dict]:
    """Every target with its measured value: {what, value, unit, target, met}."""
    figs = {(f["page"], f["visitor"]): f for f in result["figures"]}
    rows = []

    def add(what: str, value: float, unit: str, op: str, limit: float, met: bool | None = None) -> None:
        if met is None:
            met = value >= limit if op == ">=" else value <= limit if op == "<=" else value < limit
        rows.append({"what": what, "value": value, "unit": unit, "target": f"{op} {limit:g} {unit}".strip(),
                     "met": met})

    for (page, visitor), f in figs.items():
        if page == LONG:
            continue
        target = SHARE_TARGETS.get((page, visitor))
        what = f"{page} {visitor}: % of baseline req/s"
        if target is None:
            rows.append({"what": what, "value": f["percent_of_baseline"], "unit": "%", "target": "-", "met": None})
        else:  # an answer other than 2xx/3xx under load may be fast for the wrong reason: not met
            share = f["percent_of_baseline"]
            add(what, share, "%", ">=", target, met=share >= target and f["large"]["errors"] == 0)
    for visitor in VISITORS:
        for page in PAGES:
            if (page, visitor) in figs:
                add(f"{page} {visitor}: p99 latency", figs[(page, visitor)]["large"]["p99_ms"], "ms", "<",
                    P99_TARGETS_MS[visitor])
    for row in (result.get("compare") or {}).get("rows", []):
        add(f"{row['page']} {row['visitor']}: {result['compare']['ratio']}", row["ratio"], "x", ">=",
            BACKEND_TARGET)
    for visitor in VISITORS:
        long, short = figs.get((LONG, visitor)), figs.get(("topic", visitor))
        if long and short:
            growth = pct(long["large"]["cpu_ms"] - short["large"]["cpu_ms"], short["large"]["cpu_ms"])
            add(f"500-reply topic last page, {visitor}: CPU/request vs 50-reply topic", growth, "%", "<=",
                FLAT_TARGET)
    for (page, visitor), f in figs.items():
        if f.get("cpu_growth_percent") is not None:
            add(f"{page} {visitor}: CPU/request large vs small database", f["cpu_growth_percent"], "%", "<=",
                FLAT_TARGET)
    add("memory under load (PSS, max, topic figures)", result["memory"]["pss_max_mb"], "MB", "<=", PSS_TARGET_MB)
    if "pss_max_all_mb" in result["memory"]:
        add("memory under load (PSS, max, every figure)", result["memory"]["pss_max_all_mb"], "MB", "<=",
            PSS_TARGET_MB)
    add(f"start to first page (median of {len(result['startup']['seconds'])})", result["startup"]["median_s"], "s",
        "<", START_TARGET_S)
    return rows


def yes(met: bool | None) -> str:
    return "" if met is None else "yes" if met else "NO"


def report(result: dict) -> None:
    m, w, figs = result["machine"], result["wrk"], result["figures"]
    base_runs = [f["baseline"] for f in figs]
    base_rps = [b["rps"] for b in base_runs]
    log()
    log("=" * 128)
    log(f"Forum benchmark, {result['date']}  |  {m['nproc']} cores {m['arch']}, Python {m['python']}, "
        f"{m['system']}  |  database: {result['backend']}")
    server = (f"forum serve --workers {result['workers']}" if result["forum_app"] == DEFAULT_APP
              else f"uvicorn --factory {result['forum_app']} --workers {result['workers']}")
    log(f"wrk -t{w['threads']} -c{w['connections']} -d{w['duration']}s --latency, {w['warmup']}s warm-up, "
        f"median of {w['repeat']}; {server} --log-level {result['log_level']}; "
        f"load average before {result['load_average']['before']}, after {result['load_average']['after']}")
    log(f"Forum code: {result['code']}" + (f"; app {result['forum_app']}" if result["forum_app"] != DEFAULT_APP
                                           else "") + (f", BENCH_WHATIF={result['whatif']}" if result["whatif"] else ""))
    log(f"Baseline (bench/baseline.py, /bytes/N answering as many bytes as the forum page): {len(base_runs)} runs, "
        f"median {statistics.median(base_rps):.0f} req/s (min {min(base_rps):.0f}, max {max(base_rps):.0f}); "
        f"CPU per request: server {statistics.median(b['cpu_ms'] for b in base_runs):.3f} ms, "
        f"wrk {statistics.median(b['client_cpu_ms'] for b in base_runs):.3f} ms (medians)")
    log("Each forum figure is divided by the baseline run made just before it (same bytes, same wrk settings).")
    log("cpu ms = CPU time of the server's processes per request (not a PostgreSQL server's). 'idle %' projects")
    log("the ratio for an otherwise idle machine, where server and wrk share the cores: (baseline server + wrk")
    log("cpu) / (forum server + wrk cpu). 'p50 +' = p50 on the large database against the small one;")
    log("'cpu +' = CPU per request likewise (what the flatness targets judge).")
    log()
    log(f"Large database: {result['large']['topics']} topics, {result['large']['posts']} posts; "
        f"small: {result['small']['topics']} topics, {result['small']['posts']} posts")
    head = (f"{'page':13} {'visitor':9} {'bytes':>6} {'req/s':>7} {'base/s':>7} {'% base':>7} {'p50 ms':>7} "
            f"{'p99 ms':>7} {'cpu ms':>6} {'idle %':>7} {'errors':>6}  {'small p50':>9} {'p50 +':>7} {'cpu +':>7}")
    log(head)
    log("-" * len(head))
    for f in figs:
        r, b, s = f["large"], f["baseline"], f["small"]
        cpu_growth = f.get("cpu_growth_percent")
        small = (f"{s['p50_ms']:7.2f}ms {f['growth_percent']:+6.1f}% "
                 + (f"{cpu_growth:+6.1f}%" if cpu_growth is not None else f"{'-':>7}")) if s else f"{'-':>9} {'-':>7} {'-':>7}"
        log(f"{f['page']:13} {f['visitor']:9} {f['bytes']:6d} {r['rps']:7.1f} {b['rps']:7.0f} "
            f"{f['percent_of_baseline']:6.2f}% {r['p50_ms']:7.2f} {r['p99_ms']:7.2f} {r['cpu_ms']:6.2f} "
            f"{f['idle_projection_percent_of_baseline']:6.2f}% {r['errors']:6d}  {small}")
    memory, startup = result["memory"], result["startup"]
    log(f"Memory: PSS of the large server's process group, every {memory['interval_s']}s during "
        + ", ".join(f"{s['page']} {s['visitor']} (max {max(s['kb'], default=0) / 1024:.0f} MB)"
                    for s in memory["samples"]))
    log("Start to first page (forum serve -> /latest 200): " + ", ".join(f"{s:.2f}s" for s in startup["seconds"]))

    comparison = result.get("compare")
    if comparison:
        log()
        log(f"Against {comparison['other']} ({comparison['other_backend']}, {comparison['other_date']}, "
            f"code {comparison['other_code']}): {comparison['ratio']} of the % of baseline")
        head = f"{'page':13} {'visitor':9} {'this %':>8} {'other %':>8} {'ratio':>6} {'met':>4}"
        log(head)
        log("-" * len(head))
        for row in comparison["rows"]:
            log(f"{row['page']:13} {row['visitor']:9} {row['this_percent']:7.2f}% {row['other_percent']:7.2f}% "
                f"{row['ratio']:6.2f} {yes(row['met']):>4}")

    log()
    log(f"Targets ({result['backend']}, code {result['code']}):")
    head = f"{'what':60} {'measured':>10} {'target':>10} {'met':>4}"
    log(head)
    log("-" * len(head))
    for t in result["targets"]:
        digits = 2 if t["unit"] in ("s", "x", "ms") or (t["unit"] == "%" and abs(t["value"]) < 10) else 1
        value = f"{t['value']:.{digits}f} {t['unit']}"
        log(f"{t['what']:60} {value:>10} {t['target']:>10} {yes(t['met']):>4}")
    judged = [t for t in result["targets"] if t["met"] is not None]
    log(f"{sum(t['met'] for t in judged)} of {len(judged)} targets met.")
    log("=" * 128)


def default_small_url(url: str) -> str:
    u = make_url(url)
    if u.get_backend_name() == "sqlite":
        path = Path(u.database)
        return str(u.set(database=str(path.with_name(path.stem + "-small" + path.suffix))))
    return u.set(database=f"{u.database}_small").render_as_string(hide_password=False)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Benchmark the forum against a bare ASGI baseline and its targets.")
    parser.add_argument("--database-url", default="sqlite:////tmp/bench.db", help="the large database")
    parser.add_argument("--small-database-url", default=None,
                        help="the small database (default: next to the large one, with -small/_small)")
    parser.add_argument("--topics", type=int, default=10_000, help="topics, if the large database is generated")
    parser.add_argument("--posts", type=int, default=500_000, help="posts, if the large database is generated")
    parser.add_argument("--duration", type=int, default=10, help="seconds per measurement")
    parser.add_argument("--warmup", type=int, default=2, help="seconds of warm-up before each measurement")
    parser.add_argument("--repeat", type=int, default=1, help="measurements per figure (the median is kept)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--log-level", default="info", help="the server's log level (info, as `forum serve`)")
    parser.add_argument("--forum-app", default=DEFAULT_APP,
                        help="serve this uvicorn factory instead of `forum serve` (e.g. whatif:create_app, "
                             "see bench/whatif.py)")
    parser.add_argument("--json", type=Path, help="also write the results as JSON to this file")
    parser.add_argument("--compare", type=Path, metavar="OTHER.json",
                        help="a saved --json result of the other database backend: prints PostgreSQL/SQLite per page")
    parser.add_argument("--from-json", type=Path, metavar="RESULT.json",
                        help="report a saved --json result instead of measuring (e.g. to add --compare)")
    parser.add_argument("--quick", action="store_true", help="smoke run: 2 s per figure, 1 s warm-up")
    args = parser.parse_args(argv)
    if args.quick:
        args.duration, args.warmup, args.repeat = 2, 1, 1
    if args.duration < 1 or args.warmup < 0 or args.repeat < 1:
        parser.error("--duration must be >= 1, --warmup >= 0, --repeat >= 1")

    started = time.monotonic()
    result = json.loads(args.from_json.read_text()) if args.from_json else run_benchmark(args)
    if "figures" not in result:
        parser.error(f"{args.from_json} was not written by this version of run.py (no figures)")
    if args.compare:
        result["compare"] = compare(result, json.loads(args.compare.read_text()), str(args.compare))
    result["targets"] = targets(result)
    report(result)
    if not args.from_json:
        log(f"Total time: {time.monotonic() - started:.0f}s")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
        log(f"Results written to {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
