"""Live updates under load: many open pages, one reply, and posting while they are open.

    python bench/live.py                          # SQLite + Redis, 2 workers, 2,000 open pages

* N Server-Sent Events streams (`/live?topic_id=…`, as N visitors reading one topic would hold),
  opened by a separate client process (asyncio, one socket each) on a 2-worker server sharing
  Redis. Target: one new reply reaches 99 % of them in under 1 s.
* The server's resident memory (all its processes) before and after the N idle streams are open.
  Target: under 20 KB per open stream.
* Posting throughput (`POST /posts.json` by a member, wrk, 4 connections) with the N streams open
  (each reply is then told to all of them) against the same without any stream, measured before
  and after (the topic grows with every reply). Target: at least 90 %. The client process holding
  the streams runs on the same two cores and reads every event.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

import run  # noqa: E402  (bench/run.py: the servers, wrk and the databases)

# --- the client process holding the streams ---------------------------------------------------

async def _hold(port: int, topic_id: int, count: int) -> None:
    arrivals: dict[int, float] = {}
    connected = 0
    ready = asyncio.Event()
    all_told = asyncio.Event()

    async def one(i: int) -> None:
        nonlocal connected
        reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=1 << 16)
        writer.write(f"GET /live?topic_id={topic_id} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                     "Accept: text/event-stream\r\n\r\n".encode())
        await writer.drain()
        head = await reader.readuntil(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200"), head[:100]
        await reader.readuntil(b"retry:")
        connected += 1
        if connected == count:
            ready.set()
        while True:
            line = await reader.readline()
            if not line:
                return
            if line.startswith(b"event: post") and i not in arrivals and ready.is_set():
                arrivals[i] = time.time()
                if len(arrivals) == count:
                    all_told.set()

    tasks = []
    for i in range(count):
        tasks.append(asyncio.create_task(one(i)))
        if i % 100 == 99:
            await asyncio.sleep(0.05)  # open them at a steady pace, as pages do
    await asyncio.wait_for(ready.wait(), 120)
    print(f"ready {connected}", flush=True)
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, sys.stdin.readline)  # the reply is posted now
    try:
        await asyncio.wait_for(all_told.wait(), 10)
    except TimeoutError:
        pass
    print(json.dumps(sorted(arrivals.values())), flush=True)
    await loop.run_in_executor(None, sys.stdin.readline)  # held open while posting is measured
    for task in tasks:
        task.cancel()


# --- the measurement --------------------------------------------------------------------------

def _post_script(logdir: Path, topic_id: int, cookie: str, token: str) -> Path:
    script = logdir / "post.lua"
    script.write_text(f"""
counter = 0
wrk.method = "POST"
wrk.headers["Cookie"] = "{cookie}"
wrk.headers["X-CSRF-Token"] = "{token}"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
request = function()
  counter = counter + 1
  local body = "topic_id={topic_id}&raw=Benchmark+reply+" .. counter .. "+" .. math.random(1, 1000000000)
  return wrk.format(nil, "/posts.json", nil, body)
end
""")
    return script


def _posting(port: int, script: Path, seconds: int) -> run.Result:
    out = subprocess.run(["wrk", "-t2", "-c4", f"-d{seconds}s", "--latency", "-s", str(script),
                          f"http://127.0.0.1:{port}/posts.json"], capture_output=True, text=True, timeout=seconds + 60)
    return run.parse_wrk(out.stdout)


def main(argv: list[str] | None = None) -> int:
    extra = argparse.ArgumentParser(add_help=False)
    extra.add_argument("--subscribers", type=int, default=2000)
    extra.add_argument("--redis-url", default="redis://127.0.0.1:6379/14")
    extra.add_argument("--hold", nargs=3, type=int, help=argparse.SUPPRESS)  # the client process: port topic count
    mine, rest = extra.parse_known_args(argv)
    if mine.hold:
        asyncio.run(_hold(*mine.hold))
        return 0
    args, cookie = run.small_site(rest, __doc__.split("\n")[0])
    n = mine.subscribers
    with tempfile.TemporaryDirectory() as tmp:
        logdir = Path(tmp)
        env = {"FORUM_DATABASE_URL": args.database_url, "FORUM_REDIS_URL": mine.redis_url,
               "FORUM_REDIS_PREFIX": f"bench-live-{uuid.uuid4().hex[:8]}", "FORUM_POSTS_PER_MINUTE": "0",
               "FORUM_UNIQUE_POST_WINDOW": "0"}
        with run.Server("forum", ["--factory", run.DEFAULT_APP], env, args.workers, "warning", logdir,
                        ready_path="/latest") as forum:
            latest = json.loads(run.get(forum.port, "/latest.json")[1])
            topic_id = latest["topic_list"]["topics"][0]["id"]
            status, page = run.get(forum.port, f"/t/{topic_id}", cookie)
            if status in (301, 302, 307, 308):
                slug = latest["topic_list"]["topics"][0]["slug"]
                status, page = run.get(forum.port, f"/t/{slug}/{topic_id}", cookie)
            token = re.search(rb'<meta name="csrf-token" content="([^"]+)"', page).group(1).decode()
            script = _post_script(logdir, topic_id, cookie, token)
            _posting(forum.port, script, 1)  # warm up
            without = _posting(forum.port, script, args.duration)
            time.sleep(1)
            rss_before = run.group_rss_kb(forum.proc.pid)
            holder = subprocess.Popen([sys.executable, __file__, "--hold", str(forum.port), str(topic_id), str(n)],
                                      stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
            try:
                assert holder.stdout.readline().startswith("ready"), "the streams did not open"
                time.sleep(2)
                rss_after = run.group_rss_kb(forum.proc.pid)
                started = time.time()
                body = f"topic_id={topic_id}&raw=One+reply+for+every+open+page+{uuid.uuid4().hex}"
                probe = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-X", "POST",
                                        "-H", f"Cookie: {cookie}", "-H", f"X-CSRF-Token: {token}", "--data", body,
                                        f"http://127.0.0.1:{forum.port}/posts.json"],
                                       capture_output=True, text=True, timeout=30)
                assert probe.stdout == "200", f"the reply was answered {probe.stdout}"
                holder.stdin.write("posted\n")
                holder.stdin.flush()
                arrivals = json.loads(holder.stdout.readline())
                with_streams = _posting(forum.port, script, args.duration)
                holder.stdin.write("done\n")
                holder.stdin.flush()
            finally:
                holder.wait(timeout=60)
            time.sleep(2)
            # Measured again after: the topic grows with every reply, so the figure without streams is
            # the mean of one taken before and one after.
            after = _posting(forum.port, script, args.duration)
    delays = [t - started for t in arrivals]
    within = sum(1 for d in delays if d < 1.0)
    p99 = delays[max(0, int(len(delays) * 0.99) - 1)] if delays else float("nan")
    per_stream = (rss_after - rss_before) / n
    print(f"{n} open streams; a reply reached {len(delays)} of them, {within} within 1 s "
          f"({100 * within / n:.1f} %; target 99 %), median {delays[len(delays) // 2] * 1000:.0f} ms, "
          f"p99 {p99 * 1000:.0f} ms" if delays else f"{n} open streams; the reply reached none of them")
    print(f"server memory (RSS, all processes) {rss_before / 1024:.0f} MB idle, {rss_after / 1024:.0f} MB with "
          f"{n} open streams: {per_stream:.1f} KB per stream (target < 20 KB)")
    alone = (without.rps + after.rps) / 2
    ratio = with_streams.rps / alone if alone else float("nan")
    print(f"posting: {alone:.0f} replies/s without streams (before {without.rps:.0f}, after {after.rps:.0f}; "
          f"{without.errors + after.errors} errors), {with_streams.rps:.0f} with {n} open "
          f"({with_streams.errors} errors): {100 * ratio:.0f} % (target 90 %)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
