"""What translation costs: the same pages in Spanish beside English, anonymous and signed in.

Starts the forum (2 workers, as run.py does) on the small benchmark database and drives each page
with wrk, once with the `forum_locale=en` cookie and once with `forum_locale=es` (the language
switcher's cookie, which the page cache keys on and which signed-in members without a profile
language follow too). Prints requests/s, p99 and the Spanish/English ratio; the target is a ratio of
at least 0.95 (translation costs at most 5% of throughput).

    python bench/languages.py [--database-url sqlite:////tmp/bench-small.db] [--duration 10] [--repeat 3]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import run  # noqa: E402  (bench/run.py: the servers, wrk and the databases)

LANGUAGES = ("en", "es")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default="sqlite:////tmp/bench-small.db")
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--log-level", default="info")
    parser.add_argument("--forum-app", default=run.DEFAULT_APP)
    args = parser.parse_args(argv)
    site = run.Site("small", args.database_url,
                    run.ensure_database(args.database_url, run.SMALL_TOPICS, run.SMALL_POSTS, exact=True))
    worst = 1.0
    with tempfile.TemporaryDirectory(prefix="forum-bench-") as tmp:
        run.prepare_site(site, args, Path(tmp))
        with site.server:
            run.log(f"commit {run.code_version()}; {args.duration}s per figure, median of {args.repeat}")
            run.log(f"{'page':<8} {'visitor':<10} {'en req/s':>9} {'es req/s':>9} {'en p99':>8} {'es p99':>8} {'es/en':>6}")
            for page in ("topic", "latest"):
                for visitor in run.VISITORS:
                    results = {}
                    for lang in LANGUAGES:
                        cookie = f"forum_locale={lang}"
                        if visitor == "member":
                            cookie += f"; {site.cookie}"
                        status, body = run.get(site.server.port, site.paths[page], cookie)
                        assert status == 200 and f'<html lang="{lang}">'.encode() in body, (page, visitor, lang)
                        results[lang] = run.measure(site.server, site.paths[page], cookie, args)
                    ratio = results["es"].rps / results["en"].rps
                    worst = min(worst, ratio)
                    run.log(f"{page:<8} {visitor:<10} {results['en'].rps:>9.0f} {results['es'].rps:>9.0f} "
                            f"{results['en'].p99_ms:>7.1f}ms {results['es'].p99_ms:>7.1f}ms {ratio:>6.2f}")
    run.log(f"Lowest es/en ratio {worst:.2f}: target >= 0.95 {'met' if worst >= 0.95 else 'NOT met'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
