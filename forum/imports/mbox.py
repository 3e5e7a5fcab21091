"""`forum import mbox FILE --category SLUG`: a mailing list archive becomes topics and replies.

Two passes over the file. The first reads only headers and threads the messages: a message
belongs under the one its `In-Reply-To` names, else under the nearest of its `References` that is
known (in this file or imported before); a message with neither, whose subject says it answers
("Re:", "AW:", "Fwd:", "[list] Re: …"), joins the thread that started with that subject. The second
writes one thread per transaction: authors are matched by address to the people here, and anyone
else gets a staged account (forum/models/user.py) that a password reset to that address claims.
HTML-only mail becomes markdown, quoted text and signatures are folded away (the earlier message
is in the thread already), every charset is decoded, and attachments become uploads.

Each message is remembered in `import_map` by its Message-ID (source "mbox"), so a second run
imports only what is new, into the topics already there. A message that cannot be read (no From,
no date, garbage) is skipped with a line in the report; it never stops the import.
"""

from __future__ import annotations

import email.utils
import functools
import hashlib
import io
import mailbox
import re
import sys
from dataclasses import dataclass, field
from datetime import datetime
from email.message import EmailMessage
from email.parser import BytesHeaderParser, BytesParser
from email.policy import default as default_policy
from pathlib import Path
from typing import IO

import html2text
from mailparser_reply import EmailReplyParser
from sqlalchemy import select
from sqlalchemy.orm import Session

from forum import accounts, uploads
from forum.config import Settings
from forum.db import Database
from forum.errors import ForumError
from forum.imports.common import (
    CannotImport,
    ImportMap,
    People,
    Tally,
    append_post,
    find_category,
    new_topic,
    settle_dates,
    utc,
)
from forum.models import Post, Topic, User
from forum.permissions import Viewer
from forum.progress import Report, progress

SOURCE = "mbox"
PREFIX_RE = re.compile(r"^\s*(?:(?:re|fwd?|aw|wg|sv|vs|antw|tr|r|rif|enc)\s*(?:\[\d+\])?\s*[:：]\s*|\[[^\]]{1,60}\]\s*)",
                       re.IGNORECASE)
REPLY_PREFIX_RE = re.compile(r"^(?:re|aw|sv|vs|antw|r|rif)\s*(?:\[\d+\])?\s*[:：]", re.IGNORECASE)
MSGID_RE = re.compile(r"<[^<>\s]+>")
LIST_FOOTER_RE = re.compile(r"\n_{20,}\n.*\Z", re.DOTALL)  # Mailman's "list mailing list / https://…" footer
REPLY_LANGUAGES = ["en", "de", "fr", "es", "it", "nl", "sv", "da", "pl", "cs", "ja"]
TITLE_MAX = 255


def normalise_subject(subject: str) -> tuple[str, bool]:
    """The subject without its Re:/Fwd:/AW:/[list] prefixes, and whether one of them said "reply"."""
    text, replying = " ".join((subject or "").split()), False
    while True:
        m = PREFIX_RE.match(text)
        if not m or not m.group(0).strip():
            break
        replying = replying or bool(REPLY_PREFIX_RE.match(m.group(0).strip()))
        text = text[m.end():]
    return text.strip(), replying


def _unmangle(text: str) -> str:
    """Undeclared 8-bit header bytes come back as surrogates: read them as UTF-8, else Windows-1252."""
    if not any("\udc80" <= ch <= "\udcff" for ch in text):
        return text
    data = text.encode("utf-8", "surrogateescape")
    for codec in ("utf-8", "cp1252"):
        try:
            return data.decode(codec)
        except UnicodeDecodeError:
            continue
    return data.decode("latin-1")


def _header(msg: EmailMessage, name: str) -> str:
    try:
        value = msg.get(name)
    except Exception:  # noqa: BLE001  a header the parser chokes on is as good as missing
        value = None
    if value is None:
        return ""
    try:
        return _unmangle(str(value))
    except Exception:  # noqa: BLE001
        return ""


def _ids(value: str) -> list[str]:
    return MSGID_RE.findall(value or "")


@dataclass
class Entry:
    """One message as the first pass saw it."""
    key: str
    message_id: str
    parents: list[str]
    subject: str
    replying: bool
    date: datetime | None
    sender: str
    problem: str | None = None
    parent: Entry | None = field(default=None, repr=False)
    root: Entry | None = field(default=None, repr=False)


def _entry(key: str, data: bytes) -> Entry:
    msg = BytesHeaderParser(policy=default_policy).parsebytes(data)
    mid = _ids(_header(msg, "message-id"))
    message_id = mid[0] if mid else f"<{hashlib.sha1(data, usedforsecurity=False).hexdigest()}@mbox.invalid>"
    parents = _ids(_header(msg, "in-reply-to"))[:1] + list(reversed(_ids(_header(msg, "references"))))
    subject, replying = normalise_subject(_header(msg, "subject"))
    date = None
    raw_date = _header(msg, "date")
    if raw_date:
        try:
            date = utc(email.utils.parsedate_to_datetime(raw_date))
        except (TypeError, ValueError, IndexError, OverflowError):
            date = None
    name, address = email.utils.parseaddr(_header(msg, "from"))
    problem = None
    if not address or not accounts.EMAIL_RE.match(address):
        problem = "no usable From address"
    elif date is None:
        problem = "no usable Date"
    return Entry(key, message_id, [p for p in parents if p != message_id], subject, replying, date,
                 f"{name}\x00{address.lower()}", problem)


# --- bodies ---------------------------------------------------------------------------------------

def _decode(payload: bytes, charset: str | None) -> str:
    for codec in (charset, "utf-8", "cp1252"):
        if not codec:
            continue
        try:
            return payload.decode(codec)
        except (LookupError, UnicodeDecodeError):
            continue
    return payload.decode("latin-1")


def _html_to_markdown(html: str) -> str:
    converter = html2text.HTML2Text()
    converter.body_width = 0
    converter.ignore_images = True  # inline cid: images; attached ones come in as uploads
    converter.unicode_snob = True
    return converter.handle(html)


@functools.cache
def _reply_parser() -> EmailReplyParser:
    return EmailReplyParser(languages=REPLY_LANGUAGES)  # its patterns, compiled once


def fold(text: str) -> str:
    """The new part of a reply: quoted text, the "On … wrote:" line and the signature folded away."""
    text = LIST_FOOTER_RE.sub("\n", text.replace("\r\n", "\n"))
    try:
        replies = _reply_parser().read(text).replies
        body = replies[0].body.strip() if replies else ""
    except Exception:  # noqa: BLE001  the parser's regexes on odd text: keep the whole text
        body = ""
    return body or text.strip()


@dataclass
class Body:
    text: str
    files: list[tuple[str, bytes]]
    was_html: bool = False


def body_of(msg: EmailMessage) -> Body:
    plain = html = None
    files: list[tuple[str, bytes]] = []
    for part in msg.walk():
        if part.is_multipart():
            continue
        try:
            filename = part.get_filename()
            disposition = part.get_content_disposition()
        except Exception:  # noqa: BLE001
            filename = disposition = None
        ctype = part.get_content_type()
        payload = part.get_payload(decode=True)
        if not isinstance(payload, bytes):
            payload = b""
        if filename or (disposition == "attachment" and not ctype.startswith("text/")):
            if payload:
                files.append((_unmangle(filename or f"attachment.{ctype.rsplit('/', 1)[-1]}"), payload))
            continue
        if ctype == "text/plain" and plain is None:
            plain = _decode(payload, part.get_content_charset())
        elif ctype == "text/html" and html is None:
            html = _decode(payload, part.get_content_charset())
    if plain is not None and plain.strip():
        return Body(fold(plain), files)
    if html is not None:
        return Body(fold(_html_to_markdown(html)), files, was_html=True)
    return Body("", files)


# --- the import -----------------------------------------------------------------------------------

@dataclass
class Options:
    path: Path
    category: str
    dry_run: bool = False


class MboxImport:
    def __init__(self, db: Database, settings: Settings, options: Options, tracker):
        self.db, self.settings, self.options, self.tracker = db, settings, options, tracker
        self.report = Report("mbox import" + (" (dry run: nothing written)" if options.dry_run else ""),
                             done_label="would import" if options.dry_run else "imported")
        self.tally = Tally(self.report)

    def _open(self) -> mailbox.mbox:
        path = self.options.path
        if not path.is_file():
            raise CannotImport(f"{path}: no such file")
        try:
            with open(path, "rb") as f:
                start = f.read(5)
        except OSError as e:
            raise CannotImport(f"{path}: cannot read it ({e.strerror or e})") from None
        if start != b"From ":
            raise CannotImport(f"{path}: not an mbox file (it does not start with a \"From \" line)")
        return mailbox.mbox(str(path), create=False)

    def run(self) -> Report:
        with self.db.read() as session:
            category = find_category(session, self.options.category)
            self.category_id = category.id
            self.map = ImportMap(session, SOURCE)
        box = self._open()
        try:
            with self.tracker.running():
                threads = self._thread(box)
                self._write(box, threads)
        finally:
            box.close()
        return self.report

    # first pass: headers and threads

    def _thread(self, box: mailbox.mbox) -> list[list[Entry]]:
        entries: list[Entry] = []
        by_id: dict[str, Entry] = {}
        with self.tracker.step("reading messages") as step:
            for key in box.iterkeys():
                step.advance()
                try:
                    entry = _entry(key, box.get_bytes(key))
                except Exception as e:  # noqa: BLE001  whatever a broken message does, the rest goes on
                    self.report.skip("messages", f"unreadable ({type(e).__name__})")
                    continue
                if entry.problem:
                    self.report.skip("messages", entry.problem)
                    continue
                if self.map.get("message", entry.message_id) is not None:
                    self.report.skip("messages", "imported before")
                    continue
                if entry.message_id in by_id:
                    self.report.skip("messages", "same Message-ID twice")
                    continue
                by_id[entry.message_id] = entry
                entries.append(entry)
        entries.sort(key=lambda e: e.date)  # type: ignore[arg-type, return-value]
        for e in entries:
            e.parent = next((by_id[p] for p in e.parents if p in by_id), None)
        started_by_subject: dict[str, Entry] = {}
        threads: dict[int, list[Entry]] = {}
        for e in entries:
            top, seen = e, {id(e)}
            while top.parent is not None and id(top.parent) not in seen:
                seen.add(id(top.parent))
                top = top.parent
            if top.parent is not None:  # a cycle of references: this one starts the thread
                e.parent, top = None, e
            root = top.root or top  # the top may have joined a thread by its subject
            if root is e and e.subject and e.replying and not self._imported_parent(e):
                earlier = started_by_subject.get(e.subject.lower())
                if earlier is not None:
                    root = earlier  # in its thread, but answering no message in particular
            e.root = root
            if root is e and e.subject:
                started_by_subject.setdefault(e.subject.lower(), e)
            threads.setdefault(id(root), []).append(e)
        # The thread's first message first, even when a reply's clock ran ahead of it.
        return [sorted(t, key=lambda e: (e is not e.root, e.date)) for t in threads.values()]

    def _imported_parent(self, e: Entry) -> int | None:
        """The post (imported before) that this message answers, if any."""
        for p in e.parents:
            post_id = self.map.get("message", p)
            if post_id is not None:
                return post_id
        return None

    # second pass: one thread per transaction

    def _write(self, box: mailbox.mbox, threads: list[list[Entry]]) -> None:
        people = People()
        with self.tracker.step("importing threads", total=len(threads)) as step:
            for thread in threads:
                step.advance()
                if self.options.dry_run:
                    self._dry(thread)
                    continue
                try:
                    with self.db.write() as session:
                        self._write_thread(session, box, thread, people)
                except Exception as e:  # noqa: BLE001  one thread's failure is reported, the rest go on
                    self.map.rolled_back()
                    people.rolled_back()
                    self.tally.rolled_back()
                    self.report.fail("threads", f"{type(e).__name__}: {str(e).splitlines()[0][:120] if str(e) else ''}")
                    continue
                self.map.committed()
                people.committed()
                self.tally.committed()

    def _dry(self, thread: list[Entry]) -> None:
        root = thread[0]
        existing = self._imported_parent(root) or (self.map.get("subject", root.subject.lower())
                                                   if root.replying and root.subject else None)
        if existing is None:
            self.report.add("topics")
            if root.subject and self.map.get("subject", root.subject.lower()) is None:
                self.map.add(None, "subject", root.subject.lower(), -1)
        self.report.add("messages", len(thread))

    def _existing_topic(self, session: Session, root: Entry) -> Topic | None:
        post_id = self._imported_parent(root)
        if post_id is not None:
            post = session.get(Post, post_id)
            return session.get(Topic, post.topic_id) if post is not None else None
        if root.replying and root.subject:
            topic_id = self.map.get("subject", root.subject.lower())
            if topic_id is not None:
                return session.get(Topic, topic_id)
        return None

    def _write_thread(self, session: Session, box: mailbox.mbox, thread: list[Entry], people: People) -> None:
        topic = self._existing_topic(session, thread[0])
        numbers: dict[str, int] = {}
        authors: set[int] = set()
        for entry in thread:
            try:
                msg = BytesParser(policy=default_policy).parsebytes(box.get_bytes(entry.key))
                body = body_of(msg)  # type: ignore[arg-type]
            except Exception as e:  # noqa: BLE001
                self.report.skip("messages", f"unreadable body ({type(e).__name__})")
                continue
            name, address = entry.sender.split("\x00", 1)
            author = people.author(session, address, name, entry.date, self.tally)  # type: ignore[arg-type]
            raw = body.text
            files = self._attach(session, author, body.files)
            if files:
                raw = (raw + "\n\n" if raw else "") + "\n".join(files)
            if not raw.strip():
                self.report.skip("messages", "empty")
                continue
            first = topic is None
            if topic is None:
                topic = new_topic(session, title=(entry.subject or "(no subject)")[:TITLE_MAX],
                                  category_id=self.category_id, user_id=author, created=entry.date)
                if entry.subject and self.map.get("subject", entry.subject.lower()) is None:
                    # The first topic of a subject is where later "Re: <subject>" without references go.
                    self.map.add(session, "subject", entry.subject.lower(), topic.id)
                self.tally.add("topics")
            reply_to = numbers.get(entry.parent.message_id) if entry.parent is not None else None
            if reply_to is None and entry.parent is None:
                parent_post = self._imported_parent(entry)
                if parent_post is not None:
                    reply_to = session.scalar(select(Post.post_number).where(Post.id == parent_post,
                                                                             Post.topic_id == topic.id))
            post = append_post(session, topic, author, raw, entry.date, reply_to=reply_to,  # type: ignore[arg-type]
                               first=first)
            numbers[entry.message_id] = post.post_number
            authors.add(author)
            self.map.add(session, "message", entry.message_id, post.id)
            self.tally.add("messages")
            if body.was_html:
                self.tally.add("HTML-only messages turned into markdown")
        if topic is not None:
            session.flush()
            settle_dates(session, topic.id, authors)

    def _attach(self, session: Session, author_id: int, files: list[tuple[str, bytes]]) -> list[str]:
        if not files:
            return []
        user = session.get(User, author_id)
        viewer = Viewer(user)
        allowed = uploads.limits(session, self.settings, viewer)
        out = []
        for filename, data in files:
            try:
                checked = uploads.prepare(self.settings, viewer, allowed, filename=filename, source=io.BytesIO(data))
                upload = uploads.record(session, self.settings, viewer, checked, allowed, filename=filename)
            except ForumError as e:
                self.report.skip("attachments", str(e.args[0] if e.args else type(e).__name__)[:80])
                continue
            session.flush()
            out.append(uploads.markdown_for(upload))
            self.tally.add("attachments")
        return out


def run(db: Database, settings: Settings, options: Options, *, out: IO[str] | None = None,
        terminal: bool | None = None) -> Report:
    """Import, and return the summary. Raises CannotImport (nothing written) when it cannot start."""
    return MboxImport(db, settings, options, progress(out or sys.stderr, terminal=terminal)).run()

