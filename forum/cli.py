"""The `forum` command: serve, migrate, check, create-admin, create-user, worker, demo and upkeep."""

from __future__ import annotations

import argparse
import getpass
import os
import sys

from forum.config import get_settings
from forum.errors import ValidationFailed


def _database():
    from forum.db import Database

    return Database(get_settings())


def cmd_migrate(args) -> int:
    from forum.migrate import upgrade

    upgrade(get_settings().database_url, statistics=True)
    print("Database is up to date.")
    return 0


def cmd_serve(args) -> int:
    import gc

    settings = get_settings()
    if "base_url" not in settings.model_fields_set:
        # No public address configured: links (the setup link, emails, feeds) use the one served.
        host = "127.0.0.1" if args.host in ("0.0.0.0", "::") else args.host
        os.environ["FORUM_BASE_URL"] = f"http://{host}:{args.port}"
        get_settings.cache_clear()
        settings = get_settings()
    # Several workers keep their metrics in files that /metrics sums (prometheus-client's
    # multiprocess mode); the directory is ready before they start, and migrating counts nothing in it.
    metrics = None
    if args.workers > 1:
        metrics = _metrics_directory(os.environ.pop("PROMETHEUS_MULTIPROC_DIR", None))
        os.makedirs(metrics, exist_ok=True)
    elif os.environ.get("PROMETHEUS_MULTIPROC_DIR"):  # one process: where the operator said, kept as set
        os.makedirs(os.environ["PROMETHEUS_MULTIPROC_DIR"], exist_ok=True)
    # Loading the app makes a few hundred thousand objects that live as long as the server: the
    # cyclic collector walking them again and again while they are made costs a fifth of the start.
    # It is off while the app loads, and runs once when the app is built (forum.app.settle).
    if args.workers == 1:
        _prepare(settings)
        _announce(settings)
        gc.disable()
        from forum.prefork import few_malloc_arenas

        few_malloc_arenas()
        # One process serves: it has loaded most of the app already, so it serves in place (a
        # second start of the interpreter would cost more time than the migration's memory).
        import uvicorn

        # No access log of uvicorn's: the forum logs one line per request itself (FORUM_REQUEST_LOG).
        uvicorn.run("forum.app:app_from_env", factory=True, host=args.host, port=args.port, workers=1,
                    log_level=args.log_level, access_log=False, proxy_headers=True,
                    forwarded_allow_ips=os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1"))
        return 0
    # The database is migrated in a child process while this one loads the app's code: what
    # migrating loads (Alembic, some 45 MB) is never in the workers, and the two take turns on
    # different cores (about 0.4 s sooner to the first page). Then this process builds the app,
    # forks the workers from it and becomes their supervisor (forum/prefork.py); its process id
    # stays the one systemd started.
    migrating = os.fork()
    if not migrating:
        _migrate_and_exit(settings)
    gc.disable()
    try:
        for name in [name for name in os.environ if name.startswith("UVICORN_")]:
            del os.environ[name]  # `forum serve` is configured by its own options and FORUM_* settings only
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics
        from forum import prefork

        prefork.load_code()  # while the child migrates
    finally:
        code = os.waitstatus_to_exitcode(os.waitpid(migrating, 0)[1])  # never left running alone
    if code < 0:
        print(f"forum: migrating the database was stopped by signal {-code}", file=sys.stderr)
        return 1
    if code:
        return code  # the child said why
    _announce(settings)
    return prefork.main(["--host", args.host, "--port", str(args.port), "--workers", str(args.workers),
                         "--log-level", args.log_level,
                         "--forwarded-allow-ips", os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")])


def _at_least_one(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        number = 0
    if number < 1:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number of processes (1 or more)")
    return number


def _announce(settings) -> None:
    print(f"  Forum running at {settings.base_url.rstrip('/')}  (Ctrl+C to stop)\n", flush=True)


def _migrate_and_exit(settings) -> None:
    """In the child `forum serve` forked: migrate, say why not in one sentence, and end."""
    code = 1
    try:
        code = _one_sentence(lambda: _prepare(settings) or 0)
    except BaseException:  # noqa: BLE001  (the child must never return into its parent's code)
        import traceback

        traceback.print_exc()
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


def _prepare(settings) -> None:
    """Migrate the database, and print the one-time setup link while there is no administrator."""
    from forum.migrate import has_admin, upgrade

    upgrade(settings.database_url)
    if has_admin(settings.database_url):
        return  # the usual start: nothing more to load here
    from forum import accounts

    db = _database()
    try:
        with db.write() as session:
            token = accounts.setup_token(session)
    finally:
        db.dispose()
    if token:
        print("\n  No administrator yet. Open this one-time link to create the first one:\n"
              f"    {settings.base_url.rstrip('/')}/setup?token={token}\n  (or run: forum create-admin)\n",
              flush=True)


METRICS_PREFIX = "forum-metrics-"


def _metrics_directory(chosen: str | None) -> str:
    """The workers' metrics directory, emptied: the operator's PROMETHEUS_MULTIPROC_DIR, else
    `forum-metrics-<pid>` in the system's temporary folder, this server's own while it runs (each
    start removes those of servers that have ended)."""
    import shutil
    import tempfile

    if chosen:
        shutil.rmtree(chosen, ignore_errors=True)
        return chosen
    temp = tempfile.gettempdir()
    _remove_stale_metrics(temp)
    path = os.path.join(temp, f"{METRICS_PREFIX}{os.getpid()}")
    shutil.rmtree(path, ignore_errors=True)  # left by an earlier process with this id
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:  # something that is not ours holds the name: a directory of its own
        path = tempfile.mkdtemp(prefix=METRICS_PREFIX)
    return path


def _remove_stale_metrics(temp: str) -> None:
    """Remove the metrics directories of this user's `forum serve` processes that have ended."""
    import shutil

    try:
        entries = list(os.scandir(temp))
    except OSError:
        return
    for entry in entries:
        pid = entry.name.removeprefix(METRICS_PREFIX)
        if not (entry.name.startswith(METRICS_PREFIX) and pid.isdigit()) or int(pid) == os.getpid():
            continue
        try:
            if not entry.is_dir(follow_symlinks=False) or entry.stat(follow_symlinks=False).st_uid != os.getuid():
                continue
            os.kill(int(pid), 0)
        except ProcessLookupError:
            shutil.rmtree(entry.path, ignore_errors=True)  # its server has ended
        except OSError:
            continue  # running (as another user), or unreadable: left alone


def _read_password(args) -> str:
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\n")
    first = getpass.getpass("Password: ")
    second = getpass.getpass("Password (again): ")
    if first != second:
        raise SystemExit("The passwords do not match.")
    return first


def _create(args, *, admin: bool, moderator: bool, tier: str) -> int:
    from forum import accounts

    password = _read_password(args)
    db = _database()
    try:
        with db.write() as session:
            user = accounts.create_user(session, username=args.username, email=args.email, password=password,
                                        name=args.name or "", tier=tier, moderator=moderator, admin=admin)
            role = "administrator" if user.is_admin else "moderator" if user.is_moderator else "user"
            print(f"Created {role} {user.username} (tier {user.tier}).")
    except ValidationFailed as e:
        for message in e.messages:
            print(f"error: {message}", file=sys.stderr)
        return 2
    return 0


def cmd_create_admin(args) -> int:
    return _create(args, admin=True, moderator=True, tier=args.tier)


def cmd_create_user(args) -> int:
    return _create(args, admin=args.admin, moderator=args.moderator, tier=args.tier)


def cmd_worker(args) -> int:
    import logging
    import signal

    import forum.bookmarks  # noqa: F401  (bookmark reminders)
    import forum.emails  # noqa: F401  (notification emails and digests)
    import forum.user_export  # noqa: F401  (people's data archives)
    from forum import backup, events, mail, outbox, proposals, signup_alerts, uploads  # noqa: F401  (they register their jobs)

    logging.basicConfig(level=logging.INFO)
    settings = get_settings()
    db = _database()
    if settings.redis_url:  # what jobs change reaches the open pages of every server
        from forum import live

        db.live_sink = live.RedisBus(settings.redis_url, settings.redis_prefix).publish
    worker = outbox.Worker(db, settings)
    signal.signal(signal.SIGTERM, lambda *_: worker.stopping.set() or worker.wake.set())
    print("Outbox worker running (Ctrl+C to stop).", flush=True)
    try:
        worker.run()
    except KeyboardInterrupt:
        pass
    return 0


def cmd_uploads_verify(args) -> int:
    from forum import uploads

    settings = get_settings()
    db = _database()
    try:
        with db.read() as session:
            result = uploads.verify(session, settings)
    finally:
        db.dispose()
    for path in result.missing:
        print(f"missing: {path}")
    for path in result.damaged:
        print(f"damaged (content does not match its SHA-1): {path}")
    where = f"s3://{settings.uploads_s3_bucket}" if settings.uploads_s3_bucket else settings.uploads_path
    print(f"{result.checked} files checked in {where}: {len(result.missing)} missing, "
          f"{len(result.damaged)} damaged")
    return 1 if result.missing or result.damaged else 0


def cmd_reindex_search(args) -> int:
    from forum import search

    db = _database()
    with db.engine.begin() as conn:
        count = search.backfill(conn)
    print(f"Indexed {count} posts.")
    return 0


def cmd_rotate_secret_key(args) -> int:
    from forum import sitestate

    keys = sitestate.rotate_secret_key(_database(), keep=args.keep)
    print(f"New secret key in use; {len(keys) - 1} retired key(s) still accepted. "
          "Restart every forum process (serve and worker) now.")
    return 0


def cmd_check(args) -> int:
    from forum import checks

    findings = checks.run_all(get_settings())
    width = max(len(f.what) for f in findings)
    for f in findings:
        print(f"{f.what.ljust(width)}  {f.status.ljust(7)}  {f.message}")
    problems = [f for f in findings if f.status == checks.PROBLEM]
    print("\n" + (f"{len(problems)} problem(s) to fix." if problems else "Everything the forum needs answers."))
    return 1 if problems else 0


def cmd_demo(args) -> int:
    from forum.demo import load_demo

    db = _database()
    summary = load_demo(db, get_settings(), password=args.password)
    print(summary)
    return 0


def cmd_backup(args) -> int:
    from forum import backup
    from forum.db import make_engine
    from forum.progress import progress

    settings = get_settings()
    path = args.file or backup.default_path(settings)
    engine = make_engine(settings)
    try:
        written = backup.backup(engine, settings, path, tracker=progress())
    except backup.BackupError as e:
        print(f"forum backup: {e}", file=sys.stderr)
        return e.exit_code
    finally:
        engine.dispose()
    written.report.print()
    print(f"Backup written to {written.path} ({written.bytes / 1e6:.1f} MB).")
    return 0


def cmd_restore(args) -> int:
    from forum import backup
    from forum.progress import progress

    settings = get_settings()
    try:
        restored = backup.restore(args.file, settings.database_url, settings, replace=args.replace,
                                  tracker=progress())
    except backup.BackupError as e:
        print(f"forum restore: {e}", file=sys.stderr)
        return e.exit_code
    restored.report.print()
    print(f"Restored {args.file} (schema {restored.revision}, now at this version's). Restart every forum "
          "process (serve and worker).")
    return 0


def cmd_import_discourse(args) -> int:
    from forum.imports import discourse

    try:
        map_text = None
        if args.map_groups:
            with open(args.map_groups, encoding="utf-8") as f:
                map_text = f.read()
        tiers = discourse.group_tiers(map_text=map_text, member=args.member_groups or "",
                                      worker=args.worker_groups or "", participant=args.participant_groups or "")
    except (OSError, ValueError) as e:
        print(f"forum import discourse: {e}", file=sys.stderr)
        return 2
    options = discourse.Options(url=args.url, api_key=args.api_key, api_username=args.api_username, tiers=tiers,
                                dry_run=args.dry_run)
    return _run_import("discourse", lambda db: discourse.run(db, get_settings(), options),
                       refused=discourse.SourceError, refused_code=1)


def _import_file(name: str, args, start) -> int:
    from forum.imports.common import CannotImport

    return _run_import(name, start, refused=CannotImport, refused_code=2)


def _run_import(name: str, start, *, refused: type[Exception], refused_code: int) -> int:
    """Run one import and print its summary: 0 when all came in, 1 when something failed, and
    `refused_code` with one line when the source was refused before anything was written."""
    db = _database()
    try:
        report = start(db)
    except refused as e:
        print(f"forum import {name}: {e} (nothing was imported)", file=sys.stderr)
        return refused_code
    finally:
        db.dispose()
    report.print()
    return 0 if report.ok else 1


def cmd_import_mbox(args) -> int:
    from pathlib import Path

    from forum.imports import mbox

    options = mbox.Options(path=Path(args.file), category=args.category, dry_run=args.dry_run)
    return _import_file("mbox", args, lambda db: mbox.run(db, get_settings(), options))


def cmd_import_loomio(args) -> int:
    from pathlib import Path

    from forum.imports import loomio

    options = loomio.Options(path=Path(args.file), category=args.category, dry_run=args.dry_run)
    return _import_file("loomio", args, lambda db: loomio.run(db, get_settings(), options))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="forum", description="A discussion forum for federations of co-operatives.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("serve", help="migrate the database, then serve the forum")
    p.add_argument("--host", default=os.environ.get("FORUM_HOST", "127.0.0.1"))
    p.add_argument("--port", type=int, default=int(os.environ.get("FORUM_PORT", "8000")))
    p.add_argument("--workers", type=_at_least_one, default=os.environ.get("FORUM_WORKERS", "1"))
    p.add_argument("--log-level", default="info")
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("migrate", help="upgrade the database schema to the latest version")
    p.set_defaults(func=cmd_migrate)

    for name, func, help_text in (("create-admin", cmd_create_admin, "create an administrator account"),
                                  ("create-user", cmd_create_user, "create an account")):
        p = sub.add_parser(name, help=help_text)
        p.add_argument("username")
        p.add_argument("email")
        p.add_argument("--name", default="")
        p.add_argument("--tier", choices=["participant", "worker", "member"],
                       default="member" if name == "create-admin" else "participant")
        p.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
        if name == "create-user":
            p.add_argument("--moderator", action="store_true")
            p.add_argument("--admin", action="store_true")
        p.set_defaults(func=func)

    p = sub.add_parser("worker", help="run background jobs (emails, scheduled closes) for several server processes")
    p.set_defaults(func=cmd_worker)

    p = sub.add_parser("uploads", help="attached files: `forum uploads verify` checks each is there and intact")
    uploads_sub = p.add_subparsers(dest="uploads_command", required=True)
    v = uploads_sub.add_parser("verify", help="check that every recorded file exists and matches its SHA-1")
    v.set_defaults(func=cmd_uploads_verify)

    p = sub.add_parser("reindex-search", help="rebuild the full-text search index from every post")
    p.set_defaults(func=cmd_reindex_search)

    p = sub.add_parser("rotate-secret-key", help="sign with a new secret key, still accepting the previous ones")
    p.add_argument("--keep", type=int, choices=range(0, 11), default=2, metavar="N",
                   help="how many previous keys still verify links and forms (0-10, default 2)")
    p.set_defaults(func=cmd_rotate_secret_key)

    p = sub.add_parser("check", help="try the database, Redis, the mail server and the public address, "
                                     "and say what is wrong")
    p.set_defaults(func=cmd_check)

    p = sub.add_parser("backup", help="write the whole forum (database and uploaded files) to one archive, "
                                      "while it keeps serving")
    p.add_argument("file", nargs="?", help="the archive to write (default: FORUM_BACKUP_DIR/forum-backup-<time>.tar.gz)")
    p.set_defaults(func=cmd_backup)

    p = sub.add_parser("restore", help="restore a backup into an empty database, on SQLite or PostgreSQL")
    p.add_argument("file", help="an archive written by `forum backup`")
    p.add_argument("--replace", action="store_true", help="replace the forum the database holds (undone "
                                                          "if the archive proves damaged)")
    p.set_defaults(func=cmd_restore)

    p = sub.add_parser("import", help="bring another forum's history in (re-running imports only what is new)")
    import_sub = p.add_subparsers(dest="import_source", required=True)
    d = import_sub.add_parser("discourse", help="a Discourse site (or another forum like this one), through its API")
    d.add_argument("--url", required=True, help="the site's address, such as https://forum.example.org")
    d.add_argument("--api-key", required=True, help="an API key (an admin's all-users key reads the most)")
    d.add_argument("--api-username", required=True, help="the user the key acts as, such as system")
    d.add_argument("--map-groups", metavar="FILE", help="lines `group = member|worker|participant`, or JSON")
    d.add_argument("--member-groups", metavar="A,B", help="Discourse groups whose people and permissions are members'")
    d.add_argument("--worker-groups", metavar="A,B", help="... are workers'")
    d.add_argument("--participant-groups", metavar="A,B", help="... are participants'")
    d.add_argument("--dry-run", action="store_true", help="read the source and say what would be imported; write nothing")
    d.set_defaults(func=cmd_import_discourse)
    m = import_sub.add_parser("mbox", help="a mailing list archive (mbox file): threads become topics")
    m.add_argument("file", help="the mbox file")
    m.add_argument("--category", required=True, metavar="SLUG", help="the category the topics go in")
    m.add_argument("--dry-run", action="store_true", help="read the file and say what would be imported; write nothing")
    m.set_defaults(func=cmd_import_mbox)
    lo = import_sub.add_parser("loomio", help="a Loomio group export (JSON): discussions, comments, polls, proposals")
    lo.add_argument("file", help="the export file")
    lo.add_argument("--category", metavar="SLUG", help="the category the topics go in (default: the first one)")
    lo.add_argument("--dry-run", action="store_true", help="read the file and say what would be imported; write nothing")
    lo.set_defaults(func=cmd_import_loomio)

    p = sub.add_parser("demo", help="fill an empty database with a demo federation")
    p.add_argument("--password", default="demo-password-1", help="password for every demo account")
    p.set_defaults(func=cmd_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return _one_sentence(lambda: _run(args))


def _run(args) -> int:
    _check_redis_url(get_settings().redis_url)
    if args.command not in ("serve", "migrate", "check", "backup", "restore"):
        from forum.migrate import upgrade

        upgrade(get_settings().database_url)
    return args.func(args)


def _one_sentence(work) -> int:
    """`work()`'s exit code; a database or setting that cannot be used is one sentence an operator
    can act on, and exit code 1, not a traceback."""
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError, OperationalError

    from forum.checks import first_line, shown_url

    try:
        return work()
    except (OperationalError, ArgumentError, NoSuchModuleError, ModuleNotFoundError) as e:
        # One sentence an operator can act on, not a traceback.
        print(f"forum: cannot use the database FORUM_DATABASE_URL={shown_url(get_settings().database_url)}: "
              f"{first_line(e)}", file=sys.stderr)
        return 1
    except ValueError as e:
        print(f"forum: {e}", file=sys.stderr)
        return 1


def _check_redis_url(url: str | None) -> None:
    """A Redis URL that cannot be right stops the start; one that is right but unreachable does not
    (the forum counts in the database until Redis answers)."""
    if not url:
        return
    from redis.connection import parse_url

    try:
        parse_url(url)
    except ValueError as e:
        raise ValueError(f"FORUM_REDIS_URL={url} is not a Redis URL ({e})") from None


if __name__ == "__main__":
    raise SystemExit(main())
