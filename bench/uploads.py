"""Serving and receiving files: what the permission check costs, and what an upload costs in memory.

    python bench/uploads.py                       # SQLite, the small database, 5 s per figure

* A 200 KB image in a members-only topic, fetched by a member who may see it (session cookie, so
  every request runs the permission check: session, upload row, one EXISTS over the posts that
  hold it), with wrk (2 threads, 16 connections, 2 uvicorn workers), against the bare ASGI baseline
  answering the same number of bytes from memory (bench/baseline.py), in the same run. Target:
  at least 30 % of the baseline.
* The resident memory of the server's processes before and after uploading a 10 MB file through
  `POST /uploads.json` (bodies are spooled to disk and copied in 1 MB chunks). Target: less than
  20 MB more.
"""

from __future__ import annotations

import io
import os
import random
import re
import subprocess
import sys
import tempfile
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

import run  # noqa: E402  (bench/run.py: the servers, wrk and the databases)

IMAGE_BYTES = 200 * 1024


def _image() -> bytes:
    """A JPEG of about 200 KB (noise compresses badly, so its size is easy to steer)."""
    from PIL import Image

    rng = random.Random(7)
    side = 300
    while True:
        img = Image.frombytes("RGB", (side, side), bytes(rng.getrandbits(8) for _ in range(side * side * 3)))
        out = io.BytesIO()
        img.save(out, "JPEG", quality=85)
        if len(out.getvalue()) >= IMAGE_BYTES:
            return out.getvalue()
        side += 40


def _no_daily_limit(url: str) -> None:
    """The benchmark uploads a few files each run: the admins' daily quota (policy) is switched off."""
    from forum.config import Settings
    from forum.db import Database
    from forum.models import SiteSetting

    db = Database(Settings(database_url=url))
    try:
        with db.write() as session:
            session.merge(SiteSetting(key="policy.uploads_per_day", value="0"))
    finally:
        db.dispose()


def _curl_upload(port: int, cookie: str, token: str, path: Path) -> dict:
    out = subprocess.run(["curl", "-s", "-H", f"Cookie: {cookie}", "-H", f"X-CSRF-Token: {token}",
                          "-F", f"file=@{path}", "-F", "type=composer", f"http://127.0.0.1:{port}/uploads.json"],
                         capture_output=True, text=True, timeout=120, check=True)
    import json

    return json.loads(out.stdout)


def main(argv: list[str] | None = None) -> int:
    args, cookie = run.small_site(argv, __doc__.split("\n")[0])
    with tempfile.TemporaryDirectory() as tmp:
        logdir = Path(tmp)
        _no_daily_limit(args.database_url)
        env = {"FORUM_DATABASE_URL": args.database_url, "FORUM_UPLOADS_DIR": str(logdir / "uploads"),
               "FORUM_POSTS_PER_MINUTE": "0", "FORUM_UNIQUE_POST_WINDOW": "0"}
        with run.Server("forum", ["--factory", run.DEFAULT_APP], env, args.workers, "warning", logdir,
                        ready_path="/latest") as forum:
            status, page = run.get(forum.port, "/new-topic", cookie)
            assert status == 200, f"/new-topic answered {status}"
            token = re.search(rb'<meta name="csrf-token" content="([^"]+)"', page).group(1).decode()
            image = logdir / "assembly.jpg"
            image.write_bytes(_image())
            upload = _curl_upload(forum.port, cookie, token, image)
            category = re.search(rb'<option value="(\d+)"', page).group(1).decode()
            subprocess.run(["curl", "-s", "-o", "/dev/null", "-H", f"Cookie: {cookie}", "-H", f"X-CSRF-Token: {token}",
                            "--data-urlencode", "title=Photos from the general assembly",
                            "--data-urlencode", f"raw=The hall: {upload['markdown']}",
                            "--data-urlencode", f"category={category}",
                            f"http://127.0.0.1:{forum.port}/posts.json"], check=True, timeout=60)
            status, body = run.get(forum.port, upload["url"], cookie)
            assert status == 200, f"{upload['url']} answered {status}: {body[:300]!r} {upload}"
            size = len(body)
            run.wrk(forum.port, upload["url"], cookie, args, 1)
            served = run.wrk(forum.port, upload["url"], cookie, args, args.duration)

            big = logdir / "annual-report.pdf"
            big.write_bytes(b"%PDF-1.4\n" + os.urandom(10 * 1024 * 1024 - 9))
            before = run.group_rss_kb(forum.proc.pid)
            for _ in range(3):
                _curl_upload(forum.port, cookie, token, big)
            after = run.group_rss_kb(forum.proc.pid)
        with run.Server("baseline", ["--app-dir", str(BENCH), "--factory", "baseline:create_app"],
                        {"BENCH_BASELINE_BYTES": str(size)}, args.workers, "warning", logdir) as base:
            run.wrk(base.port, "/", None, args, 1)
            baseline = run.wrk(base.port, "/", None, args, args.duration)
    ratio = 100 * served.rps / baseline.rps
    grew = (after - before) / 1024
    print(f"{size} byte image to a member: {served.rps:.0f} req/s, p50 {served.p50_ms:.1f} ms, "
          f"p99 {served.p99_ms:.1f} ms; baseline {baseline.rps:.0f} req/s: {ratio:.1f} % "
          f"({'met' if ratio >= 30 else 'NOT met'}: target 30 %)")
    print(f"server memory (RSS, all processes) {before / 1024:.0f} MB before, {after / 1024:.0f} MB after "
          f"three 10 MB uploads: +{grew:.1f} MB ({'met' if grew < 20 else 'NOT met'}: target < 20 MB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
