"""Load-test the forum against a bare ASGI baseline, and measure how latency grows with the data.

    python bench/run.py                 # full run: 18 figures of 10 s (about 4 minutes)
    python bench/run.py --repeat 3      # median of 3 runs per figure (about 10 minutes)
    python bench/run.py --quick         # smoke run: 2 s per figure (about 1 minute)
    python bench/run.py --database-url postgresql+psycopg://postgres@127.0.0.1:5432/forum_bench

What it does, all on 127.0.0.1 and bounded in time (every wrk run is -d seconds, every subprocess
has a timeout, every server is stopped through its own process group on the way out):

1. Makes sure the large database (default sqlite:////tmp/bench.db: 10,000 topics, 500,000 posts) and
   the small one (100 topics, 1,000 posts, next to it) exist, generating them with
   bench/generate.py if not.
2. In each database, creates (once) a member-tier user "benchmember" through forum.accounts and
   starts a fresh session for it with accounts.start_session, committed through db.write(); wrk
   sends the cookie `_t=<token>` for the signed-in runs. Anonymous runs send no cookie.
3. Starts the forum twice (large and small database) as `forum serve` does: uvicorn --factory
   forum.app:app_from_env --workers 2 --log-level info --proxy-headers, bound to 127.0.0.1; checks
   that every page answers 200 and that the cookie signs in.
4. Starts bench/baseline.py with the same uvicorn settings, answering with exactly as many bytes as
   the anonymous topic page.
5. For each page (the 50-reply topic, /latest, the "General" category) and each visitor (anonymous,
   signed-in member), runs wrk (-t2 -c16 -d10s --latency, after a 2 s warm-up) against the
   baseline, then the large forum, then the small forum, back to back. The machine may be shared,
   so each forum figure is divided by the baseline run made just before it, and the small/large
   comparison is made from runs seconds apart.
6. Prints the table: requests/s, % of the baseline, p50/p99 latency, targets met or not, and the
   growth of p50 latency from the small to the large database. --json saves everything.
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
TARGETS = {  # page -> (anonymous %, signed-in %) of the baseline's requests/s
    "topic": (2.5, 1.5),
    "latest": (2.5, 1.5),
}
GROWTH_TARGET = 20.0  # percent growth of p50 latency, small -> large, for /latest and the topic page
PAGES = ("topic", "latest", "category")
VISITORS = ("anonymous", "member")
DEFAULT_APP = "forum.app:app_from_env"


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


def ensure_database(url: str, topics: int, posts: int, *, exact: bool) -> dict:
    info = marker(url)
    if info is not None and (not exact or (info["topics"], info["posts"]) == (topics, posts)):
        # `forum serve` migrates before serving; so does the benchmark (the code may be newer than the data).
        from forum.migrate import upgrade

        upgrade(url)
        return info
    log(f"Generating {topics} topics / {posts} posts ...")
    subprocess.run([sys.executable, str(BENCH / "generate.py"), "--database-url", url, "--topics", str(topics),
                    "--posts", str(posts)], check=True, timeout=900)
    info = marker(url)
    assert info is not None
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


# --- servers --------------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(port: int, path: str, cookie: str | None = None, timeout: float = 10) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path, headers={"Cookie": cookie} if cookie else {})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


class Server:
    """A uvicorn process group on 127.0.0.1, stopped (by its own process group id) on exit."""

    def __init__(self, name: str, app_args: list[str], env: dict[str, str], workers: int, log_level: str,
                 logdir: Path, ready_path: str = "/"):
        self.port = free_port()
        self.name = name
        self.log_path = logdir / f"{name}-{self.port}.log"
        base_env = {k: v for k, v in os.environ.items()
                    if not k.startswith("FORUM_") and k != "BENCH_BASELINE_BYTES"}
        base_env.update(env)
        base_env.update({"FORUM_BASE_URL": f"http://127.0.0.1:{self.port}", "PYTHONUNBUFFERED": "1"})
        self.args = [sys.executable, "-m", "uvicorn", *app_args, "--host", "127.0.0.1", "--port", str(self.port),
                     "--workers", str(workers), "--log-level", log_level,
                     "--proxy-headers", "--forwarded-allow-ips", "127.0.0.1"]
        self.env, self.ready_path = base_env, ready_path
        self.proc: subprocess.Popen | None = None

    def __enter__(self) -> Server:
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(self.args, env=self.env, cwd=ROOT, stdout=self._log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        deadline = time.monotonic() + 60
        while True:
            try:
                if get(self.port, self.ready_path, timeout=5)[0] == 200:
                    break
            except OSError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.__exit__(None, None, None)
                raise RuntimeError(f"{self.name} did not start; see {self.log_path}:\n"
                                   + self.log_path.read_text(errors="replace")[-4000:])
            time.sleep(0.2)
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


# --- wrk ------------------------------------------------------------------------------------------

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


def group_rss_kb(pgid: int) -> int:
    """Resident memory of the live processes of one process group, in KB."""
    total = 0
    for pid, _fields in group_stats(pgid):
        try:
            with open(f"/proc/{pid}/status") as f:
                total += next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))
        except (OSError, StopIteration, ValueError):
            continue
    return total


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
    site.cookie = f"_t={member_session(site.url)}"
    site.paths = {"topic": site.info["special_topic"]["path"], "latest": "/latest",
                  "category": category_path(site.url)}
    app_args = ["--factory", args.forum_app]
    if args.forum_app != DEFAULT_APP:
        app_args = ["--app-dir", str(BENCH), *app_args]  # lets bench/whatif.py be imported
    site.server = Server(f"forum-{site.label}", app_args,
                         {"FORUM_DATABASE_URL": site.url}, args.workers, args.log_level, logdir, ready_path="/latest")


def check_pages(site: Site) -> dict[str, dict[str, int]]:
    """Every page answers 200 (not a redirect), and the member cookie signs in; returns body sizes."""
    sizes: dict[str, dict[str, int]] = {}
    for page, path in site.paths.items():
        for visitor in VISITORS:
            cookie = site.cookie if visitor == "member" else None
            status, body = get(site.server.port, path, cookie)
            if status != 200:
                raise RuntimeError(f"{site.label} {path} answered {status} for the {visitor} visitor")
            signed_in = f">{MEMBER}</a>".encode() in body
            if signed_in != (visitor == "member"):
                raise RuntimeError(f"{site.label} {path}: the {visitor} visitor is {'' if signed_in else 'not '}"
                                   "signed in")
            sizes.setdefault(page, {})[visitor] = len(body)
    return sizes


def line(label: str, page: str, visitor: str, r: Result, extra: str = "") -> None:
    log(f"  {label:8} {page:8} {visitor:9} {r.rps:8.1f} req/s  p50 {r.p50_ms:7.2f} ms  "
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


def report(args, large: Site, small: Site, baseline_bytes: int, sizes, results, load_before: str) -> dict:
    m = machine()
    backend = make_url(args.database_url).get_backend_name()
    base_runs = [results[(p, v)]["baseline"] for p in PAGES for v in VISITORS]
    base_rps = statistics.median(r.rps for r in base_runs)
    log()
    log("=" * 120)
    log(f"Forum benchmark, {date.today().isoformat()}  |  {m['nproc']} cores {m['arch']}, Python {m['python']}, "
        f"{m['system']}  |  database: {backend}")
    log(f"wrk -t{args.threads} -c{args.connections} -d{args.duration}s --latency, {args.warmup}s warm-up, "
        f"median of {args.repeat}; uvicorn --workers {args.workers} --log-level {args.log_level}; "
        f"load average before {load_before}, after {loadavg()}")
    whatif = os.environ.get("BENCH_WHATIF", "")
    log(f"Forum code: {code_version()}; app {args.forum_app}" + (f", BENCH_WHATIF={whatif}" if whatif else ""))
    log(f"Baseline (bench/baseline.py, {baseline_bytes} bytes per answer): median {base_rps:.0f} req/s over "
        f"{len(base_runs)} runs (min {min(r.rps for r in base_runs):.0f}, max {max(r.rps for r in base_runs):.0f}); "
        f"p50 {statistics.median(r.p50_ms for r in base_runs):.2f} ms")
    log(f"Baseline CPU per request: server {statistics.median(r.cpu_ms for r in base_runs):.3f} ms, "
        f"wrk {statistics.median(r.client_cpu_ms for r in base_runs):.3f} ms (medians)")
    log("Each forum figure is divided by the baseline run made just before it (same wrk settings).")
    log("cpu ms = CPU time of the server's processes per request. 'idle %' projects the ratio for an otherwise")
    log("idle machine, where server and wrk share the cores and throughput = cores / (server + wrk CPU per")
    log("request): (baseline server + wrk cpu) / (forum server + wrk cpu). Unlike req/s, it hardly moves when")
    log("other work shares the machine; 'met' judges the measured req/s, 'idle' the projection.")
    log()
    log(f"Large database: {large.info['topics']} topics, {large.info['posts']} posts")
    head = (f"{'page':9} {'visitor':10} {'bytes':>6} {'req/s':>7} {'base/s':>7} {'% base':>7} {'target':>7} "
            f"{'met':>4} {'p50 ms':>8} {'p99 ms':>8} {'cpu ms':>7} {'idle %':>7} {'idle':>4} {'errors':>6}")
    log(head)
    log("-" * len(head))
    rows = []
    for page in PAGES:
        for visitor in VISITORS:
            r, b = results[(page, visitor)]["large"], results[(page, visitor)]["baseline"]
            share = pct(r.rps, b.rps)
            cpu_share = pct(b.cpu_ms + b.client_cpu_ms, r.cpu_ms + r.client_cpu_ms)
            target = TARGETS.get(page, (None, None))[0 if visitor == "anonymous" else 1]
            met = "" if target is None else ("yes" if share >= target else "NO")
            idle_met = "" if target is None else ("yes" if cpu_share >= target else "NO")
            log(f"{page:9} {visitor:10} {sizes[page][visitor]:6d} {r.rps:7.1f} {b.rps:7.0f} {share:6.2f}% "
                f"{(f'{target:.1f}%' if target else '-'):>7} {met:>4} {r.p50_ms:8.2f} {r.p99_ms:8.2f} "
                f"{r.cpu_ms:7.2f} {cpu_share:6.2f}% {idle_met:>4} {r.errors:6d}")
            rows.append({"page": page, "visitor": visitor, "path": large.paths[page], "bytes": sizes[page][visitor],
                         **asdict(r), "baseline_rps": b.rps, "baseline_cpu_ms": b.cpu_ms,
                         "baseline_client_cpu_ms": b.client_cpu_ms,
                         "percent_of_baseline": share, "idle_projection_percent_of_baseline": cpu_share,
                         "target_percent": target, "met": None if target is None else share >= target})
    log()
    log(f"p50 latency growth, small database ({small.info['posts']} posts) -> large ({large.info['posts']} posts); "
        f"target <= {GROWTH_TARGET:.0f}% for topic and latest")
    head = (f"{'page':9} {'visitor':10} {'small p50':>10} {'large p50':>10} {'growth':>8} {'met':>4}"
            f"   {'small req/s':>11} {'large req/s':>11} {'small cpu':>9} {'large cpu':>9} {'cpu growth':>10}")
    log(head)
    log("-" * len(head))
    growth_rows = []
    for page in PAGES:
        for visitor in VISITORS:
            sm, lg = results[(page, visitor)]["small"], results[(page, visitor)]["large"]
            growth = pct(lg.p50_ms - sm.p50_ms, sm.p50_ms)
            cpu_growth = pct(lg.cpu_ms - sm.cpu_ms, sm.cpu_ms)
            targeted = page in TARGETS
            met = ("yes" if growth <= GROWTH_TARGET else "NO") if targeted else ""
            log(f"{page:9} {visitor:10} {sm.p50_ms:8.2f}ms {lg.p50_ms:8.2f}ms {growth:7.1f}% {met:>4}"
                f"   {sm.rps:11.1f} {lg.rps:11.1f} {sm.cpu_ms:7.2f}ms {lg.cpu_ms:7.2f}ms {cpu_growth:9.1f}%")
            growth_rows.append({"page": page, "visitor": visitor, "small_p50_ms": sm.p50_ms,
                                "large_p50_ms": lg.p50_ms, "small_rps": sm.rps, "large_rps": lg.rps,
                                "small_cpu_ms": sm.cpu_ms, "large_cpu_ms": lg.cpu_ms, "cpu_growth_percent": cpu_growth,
                                "growth_percent": growth, "met": growth <= GROWTH_TARGET if targeted else None})
    log("=" * 120)
    return {"date": date.today().isoformat(), "machine": m, "backend": backend, "code": code_version(),
            "forum_app": args.forum_app, "whatif": whatif,
            "load_average": {"before": load_before, "after": loadavg()},
            "wrk": {"threads": args.threads, "connections": args.connections, "duration": args.duration,
                    "warmup": args.warmup, "repeat": args.repeat},
            "workers": args.workers, "log_level": args.log_level,
            "baseline": {"bytes": baseline_bytes, "median_rps": base_rps, "runs": [asdict(r) for r in base_runs]},
            "large": {"topics": large.info["topics"], "posts": large.info["posts"], "results": rows},
            "small": {"topics": small.info["topics"], "posts": small.info["posts"],
                      "results": [{"page": p, "visitor": v, **asdict(results[(p, v)]["small"])}
                                  for p in PAGES for v in VISITORS]},
            "growth": growth_rows}


def default_small_url(url: str) -> str:
    u = make_url(url)
    if u.get_backend_name() == "sqlite":
        path = Path(u.database)
        return str(u.set(database=str(path.with_name(path.stem + "-small" + path.suffix))))
    return u.set(database=f"{u.database}_small").render_as_string(hide_password=False)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Benchmark the forum against a bare ASGI baseline.")
    parser.add_argument("--database-url", default="sqlite:////tmp/bench.db", help="the large database")
    parser.add_argument("--small-database-url", default=None,
                        help="the small database (default: next to the large one, with -small/_small)")
    parser.add_argument("--topics", type=int, default=10_000, help="topics, if the large database is generated")
    parser.add_argument("--posts", type=int, default=500_000, help="posts, if the large database is generated")
    parser.add_argument("--duration", type=int, default=10, help="seconds per measurement")
    parser.add_argument("--warmup", type=int, default=2, help="seconds of warm-up before each measurement")
    parser.add_argument("--repeat", type=int, default=1, help="measurements per figure (the median is kept)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--log-level", default="info", help="uvicorn log level (info, as `forum serve`)")
    parser.add_argument("--forum-app", default=DEFAULT_APP,
                        help="uvicorn factory for the forum (e.g. whatif:create_app, see bench/whatif.py)")
    parser.add_argument("--json", type=Path, help="also write the results as JSON to this file")
    parser.add_argument("--quick", action="store_true", help="smoke run: 2 s per figure, 1 s warm-up")
    args = parser.parse_args(argv)
    if args.quick:
        args.duration, args.warmup, args.repeat = 2, 1, 1
    if args.duration < 1 or args.warmup < 0 or args.repeat < 1:
        parser.error("--duration must be >= 1, --warmup >= 0, --repeat >= 1")
    small_url = args.small_database_url or default_small_url(args.database_url)

    started = time.monotonic()
    load_before = loadavg()
    large = Site("large", args.database_url, ensure_database(args.database_url, args.topics, args.posts, exact=False))
    small = Site("small", small_url, ensure_database(small_url, SMALL_TOPICS, SMALL_POSTS, exact=True))
    log(f"Large database: {large.info['topics']} topics, {large.info['posts']} posts; "
        f"small: {small.info['topics']} topics, {small.info['posts']} posts")

    results: dict[tuple[str, str], dict[str, Result]] = {}
    with tempfile.TemporaryDirectory(prefix="forum-bench-") as tmp, ExitStack() as stack:
        logdir = Path(tmp)
        for site in (large, small):
            prepare_site(site, args, logdir)
            stack.enter_context(site.server)
        sizes = check_pages(large)
        check_pages(small)
        baseline_bytes = sizes["topic"]["anonymous"]
        baseline = stack.enter_context(Server("baseline", ["--app-dir", str(BENCH), "--factory", "baseline:create_app"],
                                              {"BENCH_BASELINE_BYTES": str(baseline_bytes)}, args.workers,
                                              args.log_level, logdir))
        status, body = get(baseline.port, "/")
        assert status == 200 and len(body) == baseline_bytes, (status, len(body))
        log(f"Servers up (forum x2, baseline answering {baseline_bytes} bytes); measuring, "
            f"{args.duration}s per figure:")
        # Paired, interleaved runs: the machine may be shared, so every forum figure is compared with
        # a baseline run made just before it, and the small and large databases are measured back to back.
        for page in PAGES:
            for visitor in VISITORS:
                cookie_large = large.cookie if visitor == "member" else None
                cookie_small = small.cookie if visitor == "member" else None
                b = measure(baseline, "/", cookie_large, args)
                r_large = measure(large.server, large.paths[page], cookie_large, args)
                r_small = measure(small.server, small.paths[page], cookie_small, args)
                results[(page, visitor)] = {"baseline": b, "large": r_large, "small": r_small}
                line("baseline", page, visitor, b)
                line("large", page, visitor, r_large, f"  ({pct(r_large.rps, b.rps):.2f}% of baseline)")
                line("small", page, visitor, r_small)

    result = report(args, large, small, baseline_bytes, sizes, results, load_before)
    log(f"Total time: {time.monotonic() - started:.0f}s")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
        log(f"Results written to {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
