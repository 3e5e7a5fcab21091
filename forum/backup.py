"""Backups and restores: one portable archive of the whole forum, restorable on SQLite or PostgreSQL.

An archive (`.tar.gz`) holds, in this order:

* `header.json`: the archive format, the forum's version, the schema's Alembic revision, the source
  engine, when it was taken, and each table's columns (with a neutral kind: int, str, bool,
  datetime, json …) and row count;
* `tables/<table>/<n>.jsonl`: every table's rows in primary-key order, one JSON array per row, cut
  into chunks of a few megabytes so that neither side ever holds a table in memory;
* `uploads/<key>`: the attached files, when they are kept in a local directory;
* `manifest.json`: the header again with each table's and file's SHA-256 (written last, since only
  then are they known).

A backup reads from one snapshot while the forum keeps serving: a PostgreSQL `REPEATABLE READ READ
ONLY` transaction, or a SQLite read transaction held for the whole dump (WAL mode lets writers go
on meanwhile). Timestamps are written as ISO 8601 in UTC, so a backup of either engine restores on
the other.

A restore runs in one transaction on the target: it empties the target (only with `replace`, if
it holds a forum), creates the schema at the archive's revision with Alembic, loads the tables in
dependency order, checks every count and checksum against the manifest, migrates to this code's
head, resets PostgreSQL's sequences and commits. Anything wrong (a corrupt or truncated archive, a
row the schema refuses) rolls all of it back, so the target is as it was. The search index comes
back as data (its terms are made in Python, the same on both engines); PostgreSQL's `tsvector`
column is recomputed from them. The page caches' generation is moved past both the archive's and
the target's, so no process keeps serving a page of the forum that was there before.

Scheduled backups (`FORUM_BACKUP_EVERY_HOURS`) are queued by the worker's periodic tick under one
key per period, so however many processes tick, one of them takes each backup.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import logging
import math
import os
import re
import shutil
import tarfile
import zlib
from base64 import b64decode, b64encode
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import IO, Any

from sqlalchemy import (
    JSON,
    Boolean,
    Connection,
    Engine,
    MetaData,
    Table,
    create_engine,
    event,
    func,
    select,
    text,
    update,
)
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool

from forum import __version__, outbox
from forum.config import Settings
from forum.models import Base, OutboxItem, utcnow
from forum.models.base import UTCDateTime
from forum.progress import Report, Tracker

log = logging.getLogger("forum.backup")

FORMAT = "forum-backup"
FORMAT_VERSION = 1
CHUNK_BYTES = 4 * 1024 * 1024  # rows are written (and read back) in members of about this size
READ_BATCH = 2000
LOAD_BATCH = 2000
RESTORE_CACHE_KB = 16 * 1024  # SQLite's page cache while restoring
COMPRESS_LEVEL = 3  # gzip: most of level 9's size at a fraction of its time
# Columns that are derived from others on their engine and recomputed on restore.
DERIVED = {("search_documents", "tsv")}
CONTENT_TABLES = ("users", "categories", "topics", "posts")
MANUAL_PREFIX = "forum-backup-"
SCHEDULED_PREFIX = "forum-scheduled-"
NAME_RE = re.compile(r"^(forum-backup-|forum-scheduled-)\d{8}-\d{6}(-\d+)?\.tar\.gz$")


class BackupError(Exception):
    """A backup or restore that cannot go on; the message is for the operator, as it is."""

    exit_code = 1


class ArchiveError(BackupError):
    """Not a forum backup, or damaged: unreadable, truncated, or not matching its manifest."""


class NotEmpty(BackupError):
    exit_code = 3


class NewerSchema(BackupError):
    exit_code = 4


# --- values ------------------------------------------------------------------------------------

def _kind(column) -> str:
    kind = column.type
    if isinstance(kind, UTCDateTime):
        return "datetime"
    if isinstance(kind, JSON):
        return "json"
    if isinstance(kind, Boolean):
        return "bool"
    try:
        python = kind.python_type
    except NotImplementedError:
        return "str"
    if python is datetime:
        return "datetime"
    if python is date:
        return "date"
    if python is bytes:
        return "bytes"
    if python in (float, Decimal):
        return "float"
    return {int: "int", str: "str", bool: "bool", dict: "json", list: "json"}.get(python, "str")


def _encode(value: Any) -> Any:
    # Only what json cannot write itself comes here.
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return b64encode(bytes(value)).decode("ascii")
    raise TypeError(f"cannot write a {type(value).__name__} in a backup")


def _decoder(kind: str, sqlite: bool):
    if kind == "datetime":
        def to_datetime(value):
            if value is None:
                return None
            moment = datetime.fromisoformat(value)
            # SQLite keeps UTC without a zone (as forum.models.base.UTCDateTime does).
            return moment.replace(tzinfo=None) if sqlite else moment
        return to_datetime
    if kind == "date":
        return lambda value: None if value is None else date.fromisoformat(value)
    if kind == "bytes":
        return lambda value: None if value is None else b64decode(value)
    return None


# --- where backups go --------------------------------------------------------------------------

def default_path(settings: Settings, *, scheduled: bool = False, now: datetime | None = None) -> Path:
    stamp = (now or utcnow()).strftime("%Y%m%d-%H%M%S")
    prefix = SCHEDULED_PREFIX if scheduled else MANUAL_PREFIX
    path = settings.backup_path / f"{prefix}{stamp}.tar.gz"
    n = 1
    while path.exists():
        n += 1
        path = settings.backup_path / f"{prefix}{stamp}-{n}.tar.gz"
    return path


def prune(settings: Settings, keep: int) -> list[Path]:
    """Remove all but the newest `keep` scheduled backups (backups taken by hand are never removed)."""
    folder = settings.backup_path
    if not folder.is_dir():
        return []
    scheduled = sorted(p for p in folder.iterdir() if p.name.startswith(SCHEDULED_PREFIX) and NAME_RE.match(p.name))
    gone = scheduled[:-keep] if keep > 0 else scheduled
    for path in gone:
        path.unlink(missing_ok=True)
    return gone


# --- backup ------------------------------------------------------------------------------------

@dataclass
class TableDump:
    name: str
    columns: list[tuple[str, str]]
    rows: int
    sha256: str = ""
    chunks: int = 0
    bytes: int = 0


@dataclass
class Written:
    path: Path
    bytes: int
    report: Report
    tables: list[TableDump] = field(default_factory=list)
    files: int = 0


def _tables() -> list[Table]:
    return list(Base.metadata.sorted_tables)


def _columns(table: Table) -> list:
    return [c for c in table.columns if (table.name, c.name) not in DERIVED]


def _primary_key(table: Table) -> list:
    return list(table.primary_key.columns) or list(table.columns)


def _add(tar: tarfile.TarFile, name: str, data: bytes, mtime: float) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = int(mtime)
    info.mode = 0o600
    tar.addfile(info, io.BytesIO(data))


@contextmanager
def _snapshot(engine: Engine) -> Iterator[Connection]:
    """One consistent view of the database for the whole dump, while the forum keeps writing."""
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True) as conn:
            with conn.begin():
                yield conn
        return
    with engine.connect() as conn:
        with conn.begin():  # BEGIN; SQLite fixes the snapshot at the first read, below, until the end
            yield conn


def _revision(conn: Connection) -> str | None:
    try:
        with conn.begin_nested() if conn.dialect.name == "postgresql" else _nothing():
            return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    except SQLAlchemyError:
        return None


@contextmanager
def _nothing() -> Iterator[None]:
    yield


def _upload_keys(row: dict) -> list[str]:
    keys = [f"original/1X/{row['sha1']}.{row['extension']}"]
    if row.get("optimized_width"):
        keys.append(f"optimized/1X/{row['sha1']}_2_{row['optimized_width']}x{row['optimized_height']}."
                    f"{row['extension']}")
    return keys


def backup(engine: Engine, settings: Settings, path: Path | str, *, tracker: Tracker | None = None) -> Written:
    """Write the whole forum to `path` (a `.tar.gz`), from one snapshot; raises BackupError."""
    from forum.migrate import head_revision

    path = Path(path)
    if path.is_dir():
        raise BackupError(f"{path} is a folder; give the archive's file name, or none for {settings.backup_path}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise BackupError(f"cannot create the folder {path.parent}: {e.strerror or e}") from None
    partial = path.with_name(f".{path.name}.partial")
    report = Report("Backup", done_label="written")
    tables = _tables()
    started = utcnow()
    local_uploads = not settings.uploads_s3_bucket
    try:
        with _snapshot(engine) as conn, open(partial, "wb") as raw:
            revision = _revision(conn)
            if revision is None:
                raise BackupError("the database has no forum schema (no migration revision): nothing to back up")
            if head_revision() not in (None, revision):
                raise BackupError(f"the database is at schema revision {revision}, this forum's code at "
                                  f"{head_revision()}: run `forum migrate` first (or back it up with the code that "
                                  "serves it)")
            dumps = [TableDump(t.name, [(c.name, _kind(c)) for c in _columns(t)],
                               conn.execute(select(func.count()).select_from(t)).scalar() or 0) for t in tables]
            header = {
                "format": FORMAT, "format_version": FORMAT_VERSION, "forum_version": __version__,
                "revision": revision, "dialect": engine.dialect.name, "created_at": started.isoformat(),
                "uploads": "local" if local_uploads else "s3 (not in the archive)",
                "tables": [{"name": d.name, "columns": d.columns, "rows": d.rows} for d in dumps],
            }
            mtime = started.timestamp()
            with gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=COMPRESS_LEVEL, mtime=int(mtime)) as gz, \
                    tarfile.open(fileobj=gz, mode="w|", format=tarfile.PAX_FORMAT) as tar:
                _add(tar, "header.json", json.dumps(header, indent=1).encode(), mtime)
                keys: list[str] = []
                with (tracker or _silent()).running() as progress:
                    for table, dump in zip(tables, dumps, strict=True):
                        _dump_table(conn, tar, table, dump, progress, mtime,
                                    keys if table.name == "uploads" and local_uploads else None)
                        if dump.rows:
                            report.add(f"rows: {table.name}", dump.rows)
                    files = _dump_files(tar, settings, keys, progress, report, mtime) if local_uploads else []
                if not local_uploads:
                    report.skip("uploaded files", "kept in the S3 bucket; back it up with the store's own tools")
                manifest = {**header, "tables": [d.__dict__ | {"columns": d.columns} for d in dumps], "files": files}
                _add(tar, "manifest.json", json.dumps(manifest, indent=1).encode(), mtime)
            raw.flush()
            os.fsync(raw.fileno())
        os.replace(partial, path)
    except OSError as e:
        partial.unlink(missing_ok=True)
        raise BackupError(f"cannot write the backup to {path}: {e.strerror or e} (nothing was kept)") from None
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    size = path.stat().st_size
    return Written(path, size, report, dumps, len(files))


class _Quiet:
    def advance(self, count: int = 1) -> None:
        pass


@contextmanager
def _step(progress: Tracker, name: str, total: int | None) -> Iterator:
    """A step of the progress display, unless there is nothing to do in it (most tables are empty)."""
    if total == 0:
        yield _Quiet()
        return
    with progress.step(name, total) as step:
        yield step


class _Silent(Tracker):
    def __init__(self):
        super().__init__(io.StringIO(), terminal=False)


def _silent() -> Tracker:
    return _Silent()


def _dump_table(conn: Connection, tar: tarfile.TarFile, table: Table, dump: TableDump, progress: Tracker,
                mtime: float, upload_keys: list[str] | None) -> None:
    columns = _columns(table)
    names = [c.name for c in columns]
    digest = hashlib.sha256()
    buffer = io.BytesIO()
    count = 0

    def flush() -> None:
        data = buffer.getvalue()
        dump.chunks += 1
        _add(tar, f"tables/{table.name}/{dump.chunks:05d}.jsonl", data, mtime)
        digest.update(data)
        dump.bytes += len(data)
        buffer.seek(0)
        buffer.truncate()

    dumps = json.JSONEncoder(default=_encode, ensure_ascii=False, separators=(",", ":"), check_circular=False).encode
    stmt = select(*columns).order_by(*_primary_key(table)).execution_options(yield_per=READ_BATCH)
    with _step(progress, f"back up {table.name}", dump.rows) as step:
        result = conn.execute(stmt)
        for part in result.partitions():
            lines = []
            for row in part:
                lines.append(dumps(list(row)))
                if upload_keys is not None:
                    upload_keys.extend(_upload_keys(dict(zip(names, row, strict=True))))
            buffer.write(("\n".join(lines) + "\n").encode())
            count += len(part)
            step.advance(len(part))
            if buffer.tell() >= CHUNK_BYTES:
                flush()
        if buffer.tell() or not dump.chunks:
            flush()
    dump.rows = count  # the same as counted, in this snapshot
    dump.sha256 = digest.hexdigest()


def _dump_files(tar: tarfile.TarFile, settings: Settings, keys: list[str], progress: Tracker, report: Report,
                mtime: float) -> list[dict]:
    root = settings.uploads_path
    files = []
    with _step(progress, "back up uploaded files", len(keys)) as step:
        for key in keys:
            source = root / key
            try:
                handle = open(source, "rb")
            except FileNotFoundError:
                report.skip("uploaded files", "missing from the uploads folder (`forum uploads verify`)")
                step.advance()
                continue
            with handle:
                size = os.fstat(handle.fileno()).st_size
                digest = hashlib.sha256()
                info = tarfile.TarInfo(f"uploads/{key}")
                info.size, info.mtime, info.mode = size, int(mtime), 0o600
                tar.addfile(info, _Hashing(handle, digest))
            files.append({"key": key, "bytes": size, "sha256": digest.hexdigest()})
            report.add("uploaded files")
            step.advance()
    return files


class _Hashing(io.RawIOBase):
    """A file read through, hashed on the way."""

    def __init__(self, source: IO[bytes], digest):
        self._source, self._digest = source, digest

    def read(self, size: int = -1) -> bytes:
        data = self._source.read(size)
        self._digest.update(data)
        return data

    def readable(self) -> bool:
        return True


# --- restore -----------------------------------------------------------------------------------

@dataclass
class Restored:
    revision: str
    report: Report


def _restore_engine(database_url: str) -> Engine:
    engine = create_engine(database_url, poolclass=NullPool)
    if engine.dialect.name == "sqlite":
        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn, _record):
            # SQLAlchemy, not the driver, begins transactions, so the schema's DDL is part of the one
            # transaction; foreign keys stay unchecked while tables are filled in dependency order.
            dbapi_conn.isolation_level = None
            dbapi_conn.execute("PRAGMA journal_mode=WAL")
            dbapi_conn.execute("PRAGMA synchronous=NORMAL")
            dbapi_conn.execute(f"PRAGMA cache_size=-{RESTORE_CACHE_KB}")  # the indexes being filled stay in memory
            dbapi_conn.execute("PRAGMA busy_timeout=30000")

        @event.listens_for(engine, "begin")
        def _begin(conn):
            conn.exec_driver_sql("BEGIN IMMEDIATE")
    return engine


def known_revision(revision: str) -> bool:
    from alembic.script import ScriptDirectory
    from alembic.script.revision import RevisionError
    from alembic.util import CommandError

    from forum.migrate import alembic_config

    try:
        return ScriptDirectory.from_config(alembic_config("sqlite://")).get_revision(revision) is not None
    except (CommandError, RevisionError, KeyError, ValueError):
        return False


def _migrate(conn: Connection, revision: str) -> None:
    from alembic import command

    from forum.migrate import alembic_config

    config = alembic_config(conn.engine.url.render_as_string(hide_password=False))
    config.attributes["connection"] = conn
    command.upgrade(config, revision)


def _user_tables(conn: Connection) -> list[str]:
    if conn.dialect.name == "sqlite":
        return [n for (n,) in conn.execute(text(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"))]
    return [n for (n,) in conn.execute(text(
        "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"))]


def _holds_a_forum(conn: Connection, names: list[str]) -> str | None:
    """Why the target is not empty, or None."""
    if not names:
        return None
    if "alembic_version" not in names:
        return f"it holds {len(names)} table(s) that are not a forum's"
    for name in CONTENT_TABLES:
        if name in names and conn.execute(text(f'SELECT 1 FROM "{name}" LIMIT 1')).first() is not None:
            return f"it holds a forum (its `{name}` table has rows)"
    return None


def _old_generation(conn: Connection, names: list[str]) -> int:
    if "content_generation" not in names:
        return 0
    return conn.execute(text("SELECT coalesce(max(value), 0) FROM content_generation")).scalar() or 0


def _drop_everything(conn: Connection, names: list[str]) -> None:
    if not names:
        return
    if conn.dialect.name == "postgresql":
        conn.execute(text("DROP TABLE IF EXISTS " + ", ".join(f'"{n}"' for n in names) + " CASCADE"))
        return
    for kind in ("trigger", "view"):
        for (name,) in conn.execute(text(f"SELECT name FROM sqlite_master WHERE type = '{kind}'")).all():
            conn.execute(text(f'DROP {kind.upper()} IF EXISTS "{name}"'))
    virtual = [n for (n,) in conn.execute(text(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND sql LIKE 'CREATE VIRTUAL TABLE%'"))]
    for name in virtual:  # its shadow tables go with it
        conn.execute(text(f'DROP TABLE IF EXISTS "{name}"'))
    for name in _user_tables(conn):
        conn.execute(text(f'DROP TABLE IF EXISTS "{name}"'))
    if conn.execute(text("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_sequence'")).first():
        conn.execute(text("DELETE FROM sqlite_sequence"))


class _Archive:
    """The archive's members in order, read once, as a stream."""

    def __init__(self, path: Path):
        self.path = path
        try:
            self._handle = open(path, "rb")
        except OSError as e:
            raise ArchiveError(f"cannot read {path}: {e.strerror or e}") from None
        try:
            self._tar = tarfile.open(fileobj=self._handle, mode="r|gz")
        except (tarfile.TarError, OSError, EOFError, zlib.error) as e:
            self._handle.close()
            raise ArchiveError(f"{path} is not a forum backup (not a .tar.gz archive: {e})") from None
        self._members = iter(self._tar)

    def next(self) -> tarfile.TarInfo | None:
        try:
            return next(self._members, None)
        except (tarfile.TarError, OSError, EOFError, zlib.error) as e:
            raise ArchiveError(f"{self.path} is damaged or cut short ({e})") from None

    def read(self, member: tarfile.TarInfo) -> bytes:
        try:
            handle = self._tar.extractfile(member)
            data = handle.read() if handle is not None else b""
        except (tarfile.TarError, OSError, EOFError, zlib.error) as e:
            raise ArchiveError(f"{self.path} is damaged or cut short ({e})") from None
        if len(data) != member.size:
            raise ArchiveError(f"{self.path} is cut short (in {member.name})")
        return data

    def copy(self, member: tarfile.TarInfo, target: IO[bytes], digest) -> None:
        try:
            handle = self._tar.extractfile(member)
            left = member.size
            while left and handle is not None:
                data = handle.read(min(left, 1024 * 1024))
                if not data:
                    raise ArchiveError(f"{self.path} is cut short (in {member.name})")
                digest.update(data)
                target.write(data)
                left -= len(data)
        except (tarfile.TarError, EOFError, zlib.error) as e:
            raise ArchiveError(f"{self.path} is damaged or cut short ({e})") from None

    def close(self) -> None:
        self._tar.close()
        self._handle.close()


def read_header(path: Path | str) -> dict:
    archive = _Archive(Path(path))
    try:
        return _header(archive)
    finally:
        archive.close()


def _header(archive: _Archive) -> dict:
    member = archive.next()
    if member is None or member.name != "header.json":
        raise ArchiveError(f"{archive.path} is not a forum backup (no header.json at its start)")
    try:
        header = json.loads(archive.read(member))
    except ValueError:
        raise ArchiveError(f"{archive.path} is damaged (its header is not JSON)") from None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise ArchiveError(f"{archive.path} is not a forum backup")
    if header.get("format_version", 0) > FORMAT_VERSION:
        raise NewerSchema(f"{archive.path} was written by a newer version of the forum (archive format "
                          f"{header.get('format_version')}); upgrade the forum's code, then restore it")
    return header


def restore(path: Path | str, database_url: str, settings: Settings, *, replace: bool = False,
            tracker: Tracker | None = None) -> Restored:
    """Restore the archive at `path` into the database, all or nothing; raises BackupError."""
    from forum.migrate import head_revision, refresh_statistics

    path = Path(path)
    report = Report("Restore", done_label="restored")
    archive = _Archive(path)
    staged: list[tuple[str, Path]] = []
    scratch: Path | None = None
    committed = False
    engine = _restore_engine(database_url)
    try:
        header = _header(archive)
        revision = header.get("revision")
        if not isinstance(revision, str) or not known_revision(revision):
            raise NewerSchema(f"{path} holds a schema this forum's code does not know (revision {revision}, "
                              f"taken by forum {header.get('forum_version')}): upgrade the forum's code to that "
                              "version or newer, then restore it")
        from forum.uploads import store_for

        store = store_for(settings)
        try:
            connection = engine.connect()
        except SQLAlchemyError as e:
            raise BackupError(f"cannot reach the database to restore into: {_first_line(e)}") from None
        with connection as conn, conn.begin():
            names = _user_tables(conn)
            reason = _holds_a_forum(conn, names)
            if reason and not replace:
                raise NotEmpty(f"the target database is not empty: {reason}. Restore into an empty database, "
                               "or add --replace to remove what it holds")
            offset = _old_generation(conn, names) + 1 if names else 0
            _drop_everything(conn, names)
            with (tracker or _silent()).running() as progress:
                with progress.step("create the schema"):
                    _migrate(conn, revision)
                tables = _load_targets(conn, header)
                scratch = Path(store.scratch()) / f"restore-{os.getpid()}"
                shutil.rmtree(scratch, ignore_errors=True)
                scratch.mkdir(parents=True)
                indexes = _set_indexes_aside(conn)
                sums, files = _load(conn, archive, header, tables, progress, scratch, staged)
                manifest = sums.pop("manifest.json", None)
                _check(path, header, manifest, sums, files, conn, tables)
                with _step(progress, "rebuild the indexes", None if indexes else 0):
                    _rebuild_indexes(conn, indexes)
                if revision != head_revision():
                    with progress.step(f"migrate from {revision} to this version's schema"):
                        _migrate(conn, "head")
                _after_load(conn, offset)
            for item in header["tables"]:
                if item["rows"]:
                    report.add(f"rows: {item['name']}", item["rows"])
        committed = True
        # The rows are in; now the files, each moved into place whole (a name is its content).
        for key, staged_path in staged:
            store.put(key, staged_path)
            report.add("uploaded files")
    except SQLAlchemyError as e:
        raise BackupError(f"the database refused the restore, nothing was changed: {_first_line(e)}") from None
    except OSError as e:
        if committed:
            raise BackupError(f"the database was restored, but the uploaded files could not all be put in "
                              f"place: {e.strerror or e}; free some space and restore again with --replace") from None
        raise BackupError(f"restore failed, nothing was changed: {e.strerror or e}") from None
    finally:
        archive.close()
        engine.dispose()
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)
    if header.get("uploads", "local") != "local":
        report.skip("uploaded files", "the source kept them in an S3 bucket")
    refresh_statistics(database_url)
    return Restored(revision, report)


def _first_line(e: BaseException) -> str:
    return str(getattr(e, "orig", None) or e).strip().splitlines()[0][:300]


def _load_targets(conn: Connection, header: dict) -> dict[str, Table]:
    names = [t["name"] for t in header["tables"]]
    meta = MetaData()
    existing = set(_user_tables(conn))
    missing = [n for n in names if n not in existing]
    if missing:
        raise ArchiveError(f"the archive's tables do not match its schema revision (no {', '.join(missing)})")
    meta.reflect(conn, only=names)
    for item in header["tables"]:
        table = meta.tables[item["name"]]
        unknown = [c for c, _kind in item["columns"] if c not in table.c]
        if unknown:
            raise ArchiveError(f"the archive's table {item['name']} has columns its schema revision lacks: "
                               f"{', '.join(unknown)}")
    # Tables seeded by the migrations (the first content generation, the moderators' group) start empty.
    for name in reversed(names):
        conn.execute(meta.tables[name].delete())
    return {n: meta.tables[n] for n in names}


@dataclass
class _Deferred:
    """Values of foreign keys to rows that come later (PostgreSQL checks each at once)."""

    table: Table
    key: str
    column: str
    pairs: list[tuple[Any, Any]] = field(default_factory=list)


def _deferrals(conn: Connection, header: dict, tables: dict[str, Table]) -> dict[str, list[tuple[str, str, bool]]]:
    """Per table: (column, key column, whether the reference is to the same table) for foreign keys
    that point at the table itself or at a table loaded after it."""
    if conn.dialect.name != "postgresql":
        return {}  # SQLite: foreign keys are not checked while loading
    order = {t["name"]: i for i, t in enumerate(header["tables"])}
    found: dict[str, list[tuple[str, str, bool]]] = {}
    for name, table in tables.items():
        pk = [c.name for c in table.primary_key.columns]
        for fk in table.foreign_keys:
            target = fk.column.table.name
            if target == name or order.get(target, -1) > order[name]:
                if len(pk) != 1:
                    raise ArchiveError(f"cannot order the rows of {name}: a reference to later rows in a table "
                                       "without a single key")
                found.setdefault(name, []).append((fk.parent.name, pk[0], target == name))
    return found


def _load(conn: Connection, archive: _Archive, header: dict, tables: dict[str, Table], progress: Tracker,
          scratch: Path, staged: list[tuple[str, Path]]) -> tuple[dict[str, Any], dict[str, tuple[int, str]]]:
    """Insert every row and stage every file; returns the tables' digests (and the manifest's text
    under `manifest.json`) and the files' sizes and digests."""
    sqlite = conn.dialect.name == "sqlite"
    copy = conn.dialect.name == "postgresql"
    info = {t["name"]: t for t in header["tables"]}
    deferrals = _deferrals(conn, header, tables)
    deferred: list[_Deferred] = []
    sums: dict[str, Any] = {}
    files: dict[str, tuple[int, str]] = {}
    member = archive.next()
    for name in info:
        table, columns = tables[name], info[name]["columns"]
        names = [c for c, _kind in columns]
        decoders = [(i, d) for i, (_c, kind) in enumerate(columns) if (d := _decoder(kind, sqlite)) is not None]
        later = [(names.index(col), col, names.index(key), same)
                 for col, key, same in deferrals.get(name, []) if col in names]
        holds = {col: _Deferred(table, names[key], col) for _i, col, key, _same in later}
        deferred.extend(holds.values())
        # PostgreSQL takes rows fastest by COPY, which wants JSON as its text.
        as_text = [i for i, (_c, kind) in enumerate(columns) if kind == "json"] if copy else []
        digest = hashlib.sha256()
        count = 0
        prefix = f"tables/{name}/"
        # The search index's tsvector is made from the terms as the rows go in: through a scratch
        # table, so that each row is written once.
        into = name
        if copy and name == "search_documents" and "tsv" in table.c and "tsv" not in names:
            into = "restore_search_documents"
            conn.execute(text(f'CREATE TEMPORARY TABLE "{into}" (LIKE search_documents) ON COMMIT DROP'))
        with _step(progress, f"restore {name}", info[name]["rows"]) as step:
            while member is not None and member.name.startswith(prefix):
                data = archive.read(member)
                digest.update(data)
                rows: list = []
                try:
                    for line in data.splitlines():
                        values = json.loads(line)
                        if len(values) != len(names):
                            raise ValueError(f"{len(values)} values for {len(names)} columns")
                        for i, decode in decoders:
                            values[i] = decode(values[i])
                        for i, col, key, same in later:
                            value = values[i]
                            if value is not None and (not same or value >= values[key]):
                                holds[col].pairs.append((values[key], value))
                                values[i] = None
                        for i in as_text:
                            if values[i] is not None:
                                values[i] = json.dumps(values[i])
                        rows.append(values if copy else dict(zip(names, values, strict=True)))
                except (ValueError, TypeError) as e:
                    raise ArchiveError(f"{archive.path} is damaged (a row of {name}: {e})") from None
                if copy:
                    _copy(conn, into, names, rows)
                else:
                    for start in range(0, len(rows), LOAD_BATCH):
                        conn.execute(table.insert(), rows[start:start + LOAD_BATCH])
                count += len(rows)
                step.advance(len(rows))
                member = archive.next()
        if into != name:
            columns_sql = ", ".join(f'"{n}"' for n in names)
            conn.execute(text(
                f'INSERT INTO search_documents ({columns_sql}, tsv) SELECT {columns_sql}, '
                "setweight(to_tsvector('simple'::regconfig, title_terms), 'A') "
                f"|| to_tsvector('simple'::regconfig, body_terms) FROM \"{into}\""))
            conn.execute(text(f'DROP TABLE "{into}"'))
        sums[name] = (count, digest.hexdigest())
    for hold in deferred:
        if hold.pairs:
            key = hold.table.c[hold.key]
            for k, v in hold.pairs:
                conn.execute(update(hold.table).where(key == k).values({hold.column: v}))
    with _step(progress, "restore uploaded files", None if member and member.name.startswith("uploads/") else 0) \
            as step:
        while member is not None and member.name.startswith("uploads/"):
            key = member.name.removeprefix("uploads/")
            if ".." in Path(key).parts or key.startswith("/"):
                raise ArchiveError(f"{archive.path} holds a file outside the uploads folder: {member.name}")
            target = scratch / f"{len(staged):08d}"
            digest = hashlib.sha256()
            with open(target, "wb") as out:
                archive.copy(member, out, digest)
            staged.append((key, target))
            files[key] = (member.size, digest.hexdigest())
            step.advance()
            member = archive.next()
    if member is None or member.name != "manifest.json":
        raise ArchiveError(f"{archive.path} is cut short or damaged (no manifest at its end"
                           + (f"; found {member.name} instead" if member is not None else "") + ")")
    try:
        sums["manifest.json"] = json.loads(archive.read(member))
    except ValueError:
        raise ArchiveError(f"{archive.path} is damaged (its manifest is not JSON)") from None
    return sums, files


def _copy(conn: Connection, table: str, names: list[str], rows: list[list]) -> None:
    """Rows into a PostgreSQL table by COPY, in the restore's transaction."""
    cursor = conn.connection.driver_connection.cursor()
    columns = ", ".join(f'"{n}"' for n in names)
    try:
        with cursor.copy(f'COPY "{table}" ({columns}) FROM STDIN') as copy:
            for row in rows:
                copy.write_row(row)
    except conn.dialect.loaded_dbapi.Error as e:
        raise BackupError(f"the database refused the restore of {table}, nothing was changed: "
                          f"{str(e).strip().splitlines()[0][:300]}") from None
    finally:
        cursor.close()


def _check(path: Path, header: dict, manifest: Any, sums: dict[str, Any], files: dict[str, tuple[int, str]],
           conn: Connection, tables: dict[str, Table]) -> None:
    if not isinstance(manifest, dict) or not isinstance(manifest.get("tables"), list):
        raise ArchiveError(f"{path} is damaged (its manifest is not a forum backup's)")
    listed = {t["name"]: t for t in manifest["tables"]}
    for item in header["tables"]:
        name = item["name"]
        entry = listed.get(name)
        count, digest = sums.get(name, (0, ""))
        if entry is None or entry.get("sha256") != digest:
            raise ArchiveError(f"{path} is damaged: table {name} does not match its checksum")
        if entry.get("rows") != count or item["rows"] != count:
            raise ArchiveError(f"{path} is damaged: table {name} has {count} rows, its manifest says {entry.get('rows')}")
        held = conn.execute(select(func.count()).select_from(tables[name])).scalar()
        if held != count:
            raise ArchiveError(f"table {name}: {held} rows in the database after loading {count}")
    wanted = {f["key"]: (f["bytes"], f["sha256"]) for f in manifest.get("files", [])}
    if wanted != files:
        bad = sorted(k for k in set(wanted) | set(files) if wanted.get(k) != files.get(k))
        raise ArchiveError(f"{path} is damaged: uploaded file(s) not matching the manifest: {', '.join(bad[:5])}")


def _set_indexes_aside(conn: Connection) -> list[tuple[str, str]]:
    """PostgreSQL builds an index over loaded rows much faster than it keeps one up to date row by row:
    the indexes that back no constraint are dropped for the load (in its transaction) and rebuilt."""
    if conn.dialect.name != "postgresql":
        return []
    indexes = [(name, definition) for name, definition in conn.execute(text(
        "SELECT i.indexname, i.indexdef FROM pg_indexes i WHERE i.schemaname = current_schema() "
        "AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname "
        "AND c.connamespace = (SELECT oid FROM pg_namespace WHERE nspname = current_schema()))")).all()]
    for name, _definition in indexes:
        conn.execute(text(f'DROP INDEX "{name}"'))
    return indexes


def _rebuild_indexes(conn: Connection, indexes: list[tuple[str, str]]) -> None:
    if conn.dialect.name != "postgresql":
        return
    conn.execute(text("SET LOCAL maintenance_work_mem = '64MB'"))
    for _name, definition in indexes:
        conn.execute(text(definition))


def _after_load(conn: Connection, generation_offset: int) -> None:
    if conn.dialect.name == "postgresql":
        for (name,) in conn.execute(text(
                "SELECT table_name FROM information_schema.columns WHERE table_schema = current_schema() "
                "AND column_name = 'id' AND column_default LIKE 'nextval(%'")).all():
            conn.execute(text(
                f"SELECT setval(pg_get_serial_sequence('\"{name}\"', 'id'), coalesce(max(id), 1), max(id) IS NOT NULL) "
                f'FROM "{name}"'))
    # Every process's cached pages were rendered at some generation; one past any of them drops them all.
    if generation_offset:
        conn.execute(text("UPDATE content_generation SET value = value + :n"), {"n": generation_offset})
    conn.execute(text("INSERT INTO content_generation (id, value) VALUES (1, :n) ON CONFLICT (id) DO NOTHING"),
                 {"n": generation_offset or 1})


# --- scheduled backups -------------------------------------------------------------------------

CHECK_SECONDS = 300


def _every(settings: Settings) -> float:
    return CHECK_SECONDS if settings.backup_every_hours > 0 else 3600


@outbox.periodic("backups", _every)
def schedule(db, settings: Settings, now: datetime) -> bool:
    """Queue the backup of the current period once, whichever process ticks first."""
    hours = settings.backup_every_hours
    if hours <= 0:
        return False
    from forum import pagecache

    period = math.floor(now.timestamp() / (hours * 3600))
    with db.write() as session:
        pagecache.quiet(session)
        return outbox.enqueue(session, "backup", {"period": period},
                              dedupe_key=f"backup:{hours:g}h:{period}") is not None


@outbox.handler("backup")
def run_scheduled(payload: dict, ctx: outbox.JobContext) -> None:
    settings = ctx.settings
    # Hold the item for the whole backup, however long it takes, so no other worker starts it again.
    hold = max(settings.outbox_lease_seconds, settings.backup_every_hours * 3600)
    with ctx.db.write() as session:
        from forum import pagecache

        pagecache.quiet(session)
        session.execute(update(OutboxItem).where(OutboxItem.id == ctx.item_id)
                        .values(locked_until=utcnow() + timedelta(seconds=hold)),
                        execution_options={"synchronize_session": False})
    written = backup(ctx.db.engine, settings, default_path(settings, scheduled=True))
    gone = prune(settings, settings.backup_keep)
    log.info("scheduled backup written to %s (%d bytes); %d older one(s) removed", written.path, written.bytes,
             len(gone))
