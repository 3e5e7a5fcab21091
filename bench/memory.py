"""Memory and start time of `forum serve --workers N` alone: the two figures of bench/run.py that
do not depend on how busy the machine is, measured the same way, several times, in a few minutes.

    python bench/memory.py --database-url sqlite:////tmp/bench.db --repeat 3
    python bench/memory.py --database-url postgresql+psycopg://postgres@127.0.0.1:5432/forum_bench

Each repetition starts a fresh server on the (already generated: bench/generate.py) large
database, times it from launch to its first /latest page, then loads the topic page as a visitor
and as the benchmark's member (wrk, the same connections and duration as bench/run.py) while
sampling the PSS of the server's whole process group, supervisor included. It prints each
repetition and the medians, against the targets of bench/run.py.

With --every-figure it loads every page of bench/run.py in its order instead (pages, feeds and
JSON, as a visitor and as the member), and prints the PSS reached after each.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

import run  # bench/run.py, beside this file (it puts this checkout first on sys.path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default="sqlite:////tmp/bench.db", help="the large database")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--duration", type=int, default=10, help="seconds of load per page")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--log-level", default="info")
    parser.add_argument("--forum-app", default=run.DEFAULT_APP)
    parser.add_argument("--every-figure", action="store_true",
                        help="load every figure of bench/run.py, not only the topic pages")
    args = parser.parse_args(argv)
    figures = run.FIGURES if args.every_figure else sorted(run.MEMORY_FIGURES)

    info = run.marker(args.database_url)
    if info is None:
        raise SystemExit(f"{args.database_url} was not made by bench/generate.py; generate it first")
    site = run.Site("large", args.database_url, info)
    once = argparse.Namespace(**{**vars(args), "repeat": 1})  # run.measure's own repeats: one wrk run
    peaks, starts = [], []
    with tempfile.TemporaryDirectory(prefix="forum-bench-memory-") as tmp:
        logdir = Path(tmp)
        for i in range(args.repeat):
            run.prepare_site(site, args, logdir)
            with site.server as server:
                samples: list[int] = []
                for page, visitor in figures:
                    cookie = site.cookie if visitor == "member" else None
                    with run.PssSampler(server.proc.pid) as sampler:
                        run.measure(server, site.paths[page], cookie, once)
                    samples += sampler.samples_kb
                    if args.every_figure:
                        run.log(f"  after {page} ({visitor}): {max(samples) / 1024:.1f} MB")
                peaks.append(max(samples) / 1024)
                starts.append(server.ready_seconds)
            run.log(f"run {i + 1}: start to first page {starts[-1]:.2f} s, PSS under load at most {peaks[-1]:.1f} MB")
    run.log(f"{run.code_version()} on {run.make_url(args.database_url).get_backend_name()}, "
            f"forum serve --workers {args.workers}, load average {run.loadavg()}")
    memory, start = statistics.median(peaks), statistics.median(starts)
    run.log(f"memory under load (PSS, max{' over every figure' if args.every_figure else ''}), "
            f"median of {len(peaks)}: {memory:.1f} MB "
            f"(target <= {run.PSS_TARGET_MB:.0f}: {'met' if memory <= run.PSS_TARGET_MB else 'NOT met'})")
    run.log(f"start to first page, median of {len(starts)}: {start:.2f} s "
            f"(target < {run.START_TARGET_S:.0f}: {'met' if start < run.START_TARGET_S else 'NOT met'})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
