"""Time and peak memory of `forum import mbox` on a generated archive (SQLite).

    python bench/import_mbox.py                      # 100,000 messages
    python bench/import_mbox.py --messages 10000     # a quicker try

The archive has threads of 1 to 20 messages by 800 senders over ten years: replies name their
parent in In-Reply-To and References (some only by subject), quote the message they answer and
end with a signature; one in twenty is HTML only, one in fifty is in Latin-1. It is written to a
temporary directory and imported into a new database there; the script prints the size of the
archive, the import's time, messages per second and the peak resident memory of the process.
"""

from __future__ import annotations

import argparse
import io
import random
import resource
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

WORDS = ("co-operative members meeting budget roof garden solar bakery harvest delivery rota minutes "
         "proposal agree vote shares housing rent repair volunteers training accounts invoice supplier "
         "weekend market flour oven bicycle workshop newsletter").split()


def _sentence(rng: random.Random) -> str:
    words = [rng.choice(WORDS) for _ in range(rng.randint(6, 16))]
    return " ".join(words).capitalize() + "."


def _paragraphs(rng: random.Random, n: int) -> str:
    return "\n\n".join(" ".join(_sentence(rng) for _ in range(rng.randint(1, 4))) for _ in range(n))


def write_archive(path: Path, messages: int, seed: int = 7) -> None:
    rng = random.Random(seed)
    start = datetime(2015, 1, 1, tzinfo=UTC)
    step = timedelta(days=3650) / max(messages, 1)
    senders = [(f"Person {n}", f"person{n}@list{n % 7}.example") for n in range(800)]
    written = 0
    thread = 0
    with open(path, "wb") as out:
        while written < messages:
            thread += 1
            subject = " ".join(rng.choice(WORDS) for _ in range(rng.randint(2, 6))).capitalize()
            ids: list[str] = []
            bodies: list[str] = []
            for n in range(min(rng.randint(1, 20), messages - written)):
                name, address = rng.choice(senders)
                when = start + step * written + timedelta(minutes=n)
                mid = f"<t{thread}.m{n}@bench.example>"
                parent = rng.randrange(len(ids)) if ids else None
                headers = [f"From: {name} <{address}>", f"Date: {format_datetime(when)}", f"Message-ID: {mid}",
                           f"Subject: {'Re: ' if n else ''}[coops] {subject}", "MIME-Version: 1.0"]
                if parent is not None and rng.random() > 0.05:  # a few thread by subject only
                    headers += [f"In-Reply-To: {ids[parent]}", f"References: {' '.join(ids[:parent + 1])}"]
                text = _paragraphs(rng, rng.randint(1, 4))
                if parent is not None:
                    quoted = "\n".join("> " + line for line in bodies[parent].splitlines())
                    text += f"\n\nOn {format_datetime(when)}, someone wrote:\n{quoted}"
                text += f"\n\n-- \n{name}\nA co-operative somewhere"
                if written % 20 == 19:
                    html = "".join(f"<p>{p}</p>" for p in text.split("\n\n"))
                    headers.append("Content-Type: text/html; charset=utf-8")
                    body = html.encode()
                elif written % 50 == 7:
                    headers.append("Content-Type: text/plain; charset=iso-8859-1")
                    body = (text + "\nGrüße").encode("latin-1", "replace")
                else:
                    headers.append("Content-Type: text/plain; charset=utf-8")
                    body = text.encode()
                body = b"\n".join(b">" + line if line.startswith(b"From ") else line for line in body.split(b"\n"))
                out.write(f"From {address} {when:%a %b %d %H:%M:%S %Y}\n".encode())
                out.write("\n".join(headers).encode() + b"\n\n" + body + b"\n\n")
                ids.append(mid)
                bodies.append(text.split("\n\nOn ")[0])
                written += 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--keep", metavar="DIR", help="work in this directory and leave the files there")
    args = parser.parse_args()
    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="bench-mbox-"))
    work.mkdir(parents=True, exist_ok=True)
    archive = work / "list.mbox"
    t0 = time.monotonic()
    write_archive(archive, args.messages)
    print(f"archive: {args.messages:,} messages, {archive.stat().st_size / 1e6:.1f} MB, "
          f"written in {time.monotonic() - t0:.1f} s", flush=True)

    from forum import accounts, categories
    from forum.config import Settings
    from forum.db import Database
    from forum.imports import mbox
    from forum.migrate import upgrade
    from forum.permissions import Viewer

    url = f"sqlite:///{work / 'forum.db'}"
    settings = Settings(database_url=url, uploads_dir=str(work / "uploads"), inprocess_worker=False)
    upgrade(url)
    db = Database(settings)
    with db.write() as session:
        admin = accounts.create_user(session, username="admin1", email="admin@bench.example",
                                     password="bench-password-1", tier="member", admin=True)
        categories.create_category(session, Viewer(admin), name="Mail", levels=categories.PRESETS["public"])
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    t0 = time.monotonic()
    report = mbox.run(db, settings, mbox.Options(path=archive, category="mail"), out=io.StringIO())
    elapsed = time.monotonic() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    db.dispose()
    report.print()
    imported = report.done["messages"]
    print(f"import: {imported:,} messages in {elapsed:.1f} s ({imported / elapsed:.0f} messages/s); "
          f"peak RSS {peak:.0f} MB (before the import {before:.0f} MB)")
    return 0 if report.ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
