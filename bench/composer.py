"""Throughput of the composer's helpers and the letter avatars, against the bare ASGI baseline.

    python bench/composer.py                      # SQLite, 5 s per figure
    python bench/composer.py --database-url postgresql+psycopg://postgres@127.0.0.1:5432/forum_bench_small

Measured with wrk (2 threads, 16 connections, 2 uvicorn workers, as bench/run.py):
  * a letter avatar (`/letter_avatar/{username}/48/{version}.svg`), anonymous, against the baseline
    sending as many bytes;
  * the composer's preview (`POST /preview`, a 600-character post with a mention, a quote, a list and
    emphasis), signed in, with its CSRF token, against the baseline sending as many bytes as the
    preview answers; each preview is counted for the rate limit as in real use (a short write), but
    the limit is raised out of reach (FORUM_PREVIEWS_PER_MINUTE=1000000000), since the benchmark is
    one person asking thousands of times a second;
  * the new-topic page (`/new-topic`), signed in, the composer's own page.
It uses bench/run.py's small database (100 topics, 1,000 posts; generated when missing).
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
import urllib.parse
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

import run  # noqa: E402  (bench/run.py: the servers, wrk and the databases)

PREVIEW_RAW = ("Thanks @benchmember, the **assembly** agreed:\n\n"
               "[quote=\"benchmember, post:1, topic:1\"]\nWe meet in Lisbon in spring.\n[/quote]\n\n"
               "- the housing working group reports in *May*;\n- the delegates' list closes on Friday;\n"
               "- the newsletter goes out in four languages.\n\n" + "Co-operation among co-operatives. " * 12)


def _lua(path: Path, body: str, cookie: str, token: str) -> Path:
    script = path / "preview.lua"
    script.write_text(
        'wrk.method = "POST"\n'
        f'wrk.body = "{body}"\n'
        'wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"\n'
        f'wrk.headers["Cookie"] = "{cookie}"\n'
        f'wrk.headers["X-CSRF-Token"] = "{token}"\n')
    return script


def _wrk(port: int, path: str, args, *, cookie: str | None = None, script: Path | None = None) -> run.Result:
    if script is None:
        return run.wrk(port, path, cookie, args, args.duration)
    cmd = ["wrk", f"-t{args.threads}", f"-c{args.connections}", f"-d{args.duration}s", "--latency",
           "--timeout", "10s", "-s", str(script), f"http://127.0.0.1:{port}{path}"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=args.duration + 60)
    if out.returncode != 0:
        raise RuntimeError(f"wrk failed: {out.stderr or out.stdout}")
    return run.parse_wrk(out.stdout)


def _baseline(size: int, args, logdir: Path) -> run.Result:
    with run.Server("baseline", ["--app-dir", str(BENCH), "--factory", "baseline:create_app"],
                    {"BENCH_BASELINE_BYTES": str(size)}, args.workers, "warning", logdir) as server:
        run.wrk(server.port, "/", None, args, 1)
        return run.wrk(server.port, "/", None, args, args.duration)


def _line(label: str, r: run.Result, base: run.Result, size: int) -> None:
    errors = f", {r.errors} errors" if r.errors else ""
    print(f"{label:<34} {r.rps:9.0f} req/s  p50 {r.p50_ms:6.1f} ms  p99 {r.p99_ms:6.1f} ms  "
          f"{100 * r.rps / base.rps:5.1f} % of the baseline ({base.rps:.0f} req/s, {size} bytes){errors}")


def main(argv: list[str] | None = None) -> int:
    args, cookie = run.small_site(argv, __doc__.split("\n")[0])
    with tempfile.TemporaryDirectory() as tmp:
        logdir = Path(tmp)
        env = {"FORUM_DATABASE_URL": args.database_url, "FORUM_PREVIEWS_PER_MINUTE": "1000000000"}
        with run.Server("forum", ["--factory", run.DEFAULT_APP], env, args.workers, "warning", logdir,
                        ready_path="/latest") as forum:
            status, page = run.get(forum.port, "/new-topic", cookie)
            assert status == 200, f"/new-topic answered {status}"
            token = re.search(rb'<meta name="csrf-token" content="([^"]+)"', page).group(1).decode()
            avatar = re.search(rb'src="(/letter_avatar/[^"]+\.svg)"', run.get(forum.port, "/latest")[1])
            avatar_path = avatar.group(1).decode() if avatar else f"/letter_avatar/{run.MEMBER}/48/5.svg"
            avatar_size = len(run.get(forum.port, avatar_path)[1])
            body = "raw=" + urllib.parse.quote(PREVIEW_RAW)
            script = _lua(logdir, body, cookie, token)
            probe = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code} %{size_download}",
                                    "-X", "POST", "-H", f"Cookie: {cookie}", "-H", f"X-CSRF-Token: {token}",
                                    "--data", body, f"http://127.0.0.1:{forum.port}/preview"],
                                   capture_output=True, text=True, timeout=30)
            preview_status, preview_size = probe.stdout.split()
            assert preview_status == "200", f"/preview answered {preview_status}"
            page_size = len(page)
            results = {}
            for label, path, kwargs in (("letter avatar (anonymous)", avatar_path, {}),
                                        ("POST /preview (signed in)", "/preview", {"script": script}),
                                        ("/new-topic (signed in)", "/new-topic", {"cookie": cookie})):
                results[label] = _wrk(forum.port, path, args, **kwargs)
        sizes = {"letter avatar (anonymous)": avatar_size, "POST /preview (signed in)": int(preview_size),
                 "/new-topic (signed in)": page_size}
        for label, result in results.items():
            _line(label, result, _baseline(sizes[label], args, logdir), sizes[label])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
