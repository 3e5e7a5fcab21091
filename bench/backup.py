"""Time and peak memory of `forum backup` and `forum restore` on a large SQLite forum.

    python bench/backup.py                       # generates /tmp/bench-backup.db (500,000 posts) if missing
    python bench/backup.py --database-url sqlite:////tmp/bench.db   # reuse a database from generate.py
    python bench/backup.py --restore-url postgresql+psycopg://postgres@127.0.0.1:5432/forum_restore_bench

Each command runs as its own process, as an operator runs it; its wall-clock time and peak
resident memory (from the kernel's accounting of that process) are printed. The restore goes into
a fresh SQLite file beside the archive, or into --restore-url (a PostgreSQL database there is
created afresh, and dropped afterwards). Target: under 2 minutes each for 500,000 posts, memory
flat under 200 MB.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run(command: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """(seconds, peak RSS in MB, output) of one process."""
    started = time.perf_counter()
    with tempfile.TemporaryFile("w+") as out:
        proc = subprocess.Popen(command, env={**os.environ, **env}, stdout=out, stderr=subprocess.STDOUT, text=True)
        _pid, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        output = out.read()
    if proc.returncode != 0:
        sys.exit(f"{' '.join(command)} failed ({proc.returncode}):\n{output[-3000:]}")
    return seconds, usage.ru_maxrss / 1024, output  # Linux reports kilobytes


def _pg(url: str, sql: str) -> None:
    import psycopg

    admin = url.replace("postgresql+psycopg://", "postgresql://").rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default="sqlite:////tmp/bench-backup.db")
    parser.add_argument("--posts", type=int, default=500_000)
    parser.add_argument("--topics", type=int, default=10_000)
    parser.add_argument("--restore-url", help="restore here instead of a new SQLite file")
    parser.add_argument("--keep", action="store_true", help="keep the archive and the restored database")
    args = parser.parse_args(argv)

    python = sys.executable
    source = args.database_url
    if source.startswith("sqlite:///") and not Path(source.removeprefix("sqlite:///")).exists():
        print(f"generating {args.posts} posts in {source} …", flush=True)
        subprocess.run([python, str(ROOT / "bench" / "generate.py"), "--database-url", source,
                        "--posts", str(args.posts), "--topics", str(args.topics)], check=True)
    work = Path(tempfile.mkdtemp(prefix="forum-backup-bench-"))
    archive = work / "bench.tar.gz"
    target = args.restore_url or f"sqlite:///{work / 'restored.db'}"
    forum = [python, "-m", "forum.cli"]
    env = {"FORUM_DATABASE_URL": source, "FORUM_UPLOADS_DIR": str(work / "uploads-source"), "PYTHONPATH": str(ROOT)}

    seconds, rss, output = run([*forum, "backup", str(archive)], env)
    size = archive.stat().st_size / 1e6
    print(f"backup:  {seconds:6.1f} s  peak RSS {rss:6.1f} MB  archive {size:.0f} MB", flush=True)

    if target.startswith("postgresql"):
        name = target.rsplit("/", 1)[1]
        _pg(target, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        _pg(target, f'CREATE DATABASE "{name}"')
    env = {**env, "FORUM_DATABASE_URL": target, "FORUM_UPLOADS_DIR": str(work / "uploads-restored")}
    seconds, rss, output = run([*forum, "restore", str(archive)], env)
    print(f"restore: {seconds:6.1f} s  peak RSS {rss:6.1f} MB  into {target.split(':')[0]}", flush=True)

    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
        if target.startswith("postgresql"):
            _pg(target, f'DROP DATABASE IF EXISTS "{target.rsplit("/", 1)[1]}" WITH (FORCE)')
    else:
        print(f"kept in {work}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
