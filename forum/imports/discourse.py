"""`forum import discourse`: a Discourse site's history, read through its public API.

What comes in, in this order, each thing remembered in `import_map` under the source
"discourse:<url>" so that a second run brings only what is new:

1. categories, with their group permissions turned into this forum's levels: `everyone` stays
   `everyone`, the groups the operator maps to a tier (`members`, `workers`, `participants` by
   default, as this forum itself names its tiers) give that tier their level (1 create, 2 reply,
   3 see), staff groups are left out (staff see everything), and any other group is ignored, so a
   category only such a group could see becomes staff-only rather than public;
2. people: from the admin user list when the key may read it (with e-mail addresses when it may
   read those), otherwise as they are met as authors, likers and people in messages (with their
   profile's name and joining date). Nobody gets a password: people
   set one with "forgot password". Source admins and moderators become moderators here;
3. topics, oldest first, each in one transaction with its posts (raw markdown, original dates and
   authors, replies, polls as written), likes, and its pinned, closed, archived and listed state.
   Whispers, small actions, moderator notices and deleted posts are skipped; post numbers close
   up over what was skipped;
4. private messages, with the same people, when the key is an admin's;
5. with each post, the files its markdown refers to (`upload://…` short URLs, resolved through the
   post's cooked HTML or the source's `/uploads/short-url/…`, and `/uploads/…` paths): downloaded
   with the same key (only from the source's own address, or the addresses its cooked HTML or its
   redirects give, such as a CDN; the key is sent to the source only), checked and stored as any
   upload here, once (remembered as "upload" by the source's SHA-1), and the post's markdown
   rewritten to this forum's short URL. A file too big or of a kind refused here stays behind,
   counted with its reason, and the post comes in with its text;
6. the votes of public polls (`/polls/voters.json`), and of private polls only the key's own
   (`polls_votes`), for regular and multiple-choice polls.

Nothing notifies anyone, and nothing is written before the source has answered the first request:
a wrong address or key stops the command with one line.
"""

from __future__ import annotations

import dataclasses
import io
import json
import re
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import IO, Any
from urllib.parse import urljoin, urlsplit

import httpx
from sqlalchemy import func, select, update
from sqlalchemy.exc import DataError, IntegrityError
from sqlalchemy.orm import Session

from forum import accounts, posting, uploads
from forum.config import Settings
from forum.db import Database
from forum.errors import ValidationFailed
from forum.models import (
    AUDIENCES,
    CREATE,
    LIKE,
    NONE,
    REPLY,
    SEE,
    Category,
    ImportedRecord,
    Poll,
    PollOption,
    PollVote,
    Post,
    PostAction,
    Topic,
    TopicAllowedUser,
    Upload,
    User,
    utcnow,
)
from forum.permissions import Viewer
from forum.progress import Report, Tracker, progress
from forum.text import clean, slugify

TIERS = ("participant", "worker", "member")
TIER_RANK = {tier: rank for rank, tier in enumerate(TIERS)}
# How this forum names its tiers as Discourse groups: importing from another forum like this one
# needs no mapping at all.
DEFAULT_GROUP_TIERS = {"members": "member", "workers": "worker", "participants": "participant"}
STAFF_GROUPS = {"staff", "admins", "moderators"}
LEVELS_BY_PERMISSION_TYPE = {1: CREATE, 2: REPLY, 3: SEE}
REGULAR, MODERATOR_ACTION, SMALL_ACTION, WHISPER = 1, 2, 3, 4
SKIPPED_POST_TYPES = {MODERATOR_ACTION: "moderator notice", SMALL_ACTION: "small action (status change)",
                      WHISPER: "whisper (staff-only)"}
POSTS_PER_REQUEST = 20
UNUSABLE_PASSWORD = "!"  # no password verifies against it: people choose one with "forgot password"
USERNAME_MAX = accounts.USERNAME_MAX
QUOTE_RE = re.compile(r'\[quote="([^"\]]*)"\]')
# Files a post's markdown refers to: Discourse's short URLs, and paths (or whole URLs) under /uploads/.
SHORT_UPLOAD_RE = re.compile(r"upload://([0-9A-Za-z]{1,40})\.([A-Za-z0-9]{1,10})")
UPLOAD_PATH_RE = re.compile(r"(?<![\w./:-])(?:https?://[^\s()<>\[\]\"']+)?/uploads/[^\s()<>\[\]\"']+\.[A-Za-z0-9]{1,10}")
HTML_URL_RE = re.compile(r"(?:src|href|data-orig-src|data-download-href)=\"([^\"]+)\"")
SHA1_RE = re.compile(r"(?<![0-9a-f])([0-9a-f]{40})(?![0-9a-f])")
VOTED_POLL_TYPES = {"regular", "multiple"}
VOTERS_PER_PAGE = 50
# Safety stop for paging: a source that keeps answering "more" for the same page is not followed forever.
MAX_PAGES = 100_000


class SourceError(Exception):
    """The source cannot be read: one line for the operator."""


class AccessDenied(SourceError):
    pass


class NotThere(SourceError):
    pass


class Unreachable(SourceError):
    """The site itself does not answer: no use asking it for the next topic."""


class Refused(SourceError):
    """A file on an address that is not the source's."""


class TooBig(SourceError):
    def __init__(self, size: int):
        super().__init__(f"larger than allowed ({size} bytes or more)")
        self.size = size


# --- reading the source ---------------------------------------------------------------------------

class Client:
    """GET requests to a Discourse API with `Api-Key`/`Api-Username`, waiting when it says 429."""

    def __init__(self, url: str, api_key: str, api_username: str, *, timeout: float = 30.0,
                 max_wait: float = 300.0, sleep=time.sleep, tries: int = 6):
        url = url.strip().rstrip("/")
        if not re.match(r"^https?://[^/\s]+", url):
            raise SourceError(f"--url must be the site's address, such as https://forum.example.org (got {url!r})")
        self.url = url
        self.acting_as: str | None = None  # another Api-Username for the next requests (all-users keys)
        self._sleep, self._max_wait, self._tries = sleep, max_wait, tries
        self._bare: httpx.Client | None = None  # for files on other addresses (a CDN): no key sent there
        self._http = httpx.Client(base_url=url, timeout=timeout, follow_redirects=True, headers={
            "Api-Key": api_key, "Api-Username": api_username, "Accept": "application/json",
            "User-Agent": "forum-import-discourse"})

    def close(self) -> None:
        self._http.close()
        if self._bare is not None:
            self._bare.close()

    def get(self, path: str, params: dict[str, Any] | list[tuple[str, Any]] | None = None) -> Any:
        where = f"{self.url}{path}"
        for attempt in range(1, self._tries + 1):
            try:
                headers = {"Api-Username": self.acting_as} if self.acting_as else None
                r = self._http.get(path, params=params, headers=headers)
            except httpx.TimeoutException:
                if attempt < self._tries:
                    self._sleep(min(2 ** attempt, 30))
                    continue
                raise Unreachable(f"{where} did not answer in time") from None
            except httpx.HTTPError as e:
                raise Unreachable(f"cannot reach {self.url}: {e or type(e).__name__}") from None
            if r.status_code == 429 and attempt < self._tries:
                self._sleep(min(self._retry_after(r), self._max_wait))
                continue
            if r.status_code in (502, 503, 504) and attempt < self._tries:
                self._sleep(min(2 ** attempt, 30))
                continue
            if r.status_code in (401, 403):
                raise AccessDenied(f"{where} refused the API key ({r.status_code}): {self._message(r)}")
            if r.status_code in (404, 410):
                raise NotThere(f"{where} was not found ({r.status_code})")
            if r.status_code >= 400:
                raise SourceError(f"{where} answered {r.status_code}: {self._message(r)}")
            try:
                return r.json()
            except ValueError:
                raise SourceError(f"{where} did not answer with JSON: is {self.url} a Discourse site?") from None
        raise SourceError(f"{where} kept answering 429 (too many requests); try again later")

    def download(self, url: str, limit: int, hosts: set[str]) -> bytes:
        """A file's bytes, at most `limit` of them (TooBig beyond). The key goes to the source's own
        address only; other addresses must be in `hosts` (those its cooked HTML names) or be where
        the source itself redirects."""
        own = urlsplit(self.url).netloc.lower()
        url = urljoin(self.url + "/", url)
        for _hop in range(6):
            parts = urlsplit(url)
            host = parts.netloc.lower()
            if parts.scheme not in ("http", "https") or (host != own and host not in hosts):
                raise Refused(f"{host or url} is not the source's address")
            if host != own and self._bare is None:
                self._bare = httpx.Client(timeout=self._http.timeout, headers={"User-Agent": "forum-import-discourse"})
            client = self._http if host == own else self._bare
            assert client is not None
            try:
                with client.stream("GET", url, follow_redirects=False,
                                   headers={"Accept": "*/*"} if host == own else None) as r:
                    if r.is_redirect and r.headers.get("location"):
                        url = urljoin(url, r.headers["location"])
                        if host == own:  # the source itself sent us there (its file store, a CDN)
                            hosts = hosts | {urlsplit(url).netloc.lower()}
                        continue
                    if r.status_code >= 400:
                        raise NotThere(f"answered {r.status_code}")
                    declared = r.headers.get("content-length", "")
                    if declared.isdigit() and int(declared) > limit:
                        raise TooBig(int(declared))
                    data = bytearray()
                    for chunk in r.iter_bytes():
                        data += chunk
                        if len(data) > limit:
                            raise TooBig(len(data))
                    return bytes(data)
            except httpx.HTTPError as e:
                raise Unreachable(f"cannot fetch it: {e or type(e).__name__}") from None
        raise NotThere("too many redirects")

    @staticmethod
    def _retry_after(r: httpx.Response) -> float:
        header = r.headers.get("retry-after", "")
        if header.strip().isdigit():
            return float(header) + 1
        try:
            return float(r.json()["extras"]["wait_seconds"]) + 1
        except (ValueError, KeyError, TypeError):
            return 10.0

    @staticmethod
    def _message(r: httpx.Response) -> str:
        try:
            errors = r.json().get("errors")
            if errors:
                return "; ".join(str(e) for e in errors)[:300]
        except (ValueError, AttributeError):
            pass
        return r.reason_phrase or "error"


def _date(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


# --- the operator's group mapping ---------------------------------------------------------------

def parse_group_map(text: str) -> dict[str, str]:
    """A mapping file: JSON (`{"group": "tier"}`) or lines `group = tier` (`:` also works, `#` comments)."""
    pairs: dict[str, str] = {}
    if text.lstrip().startswith("{"):
        try:
            data = json.loads(text)
        except ValueError as e:
            raise ValueError(f"the group mapping is not valid JSON: {e}") from None
        items = [(str(k), str(v)) for k, v in data.items()]
    else:
        items = []
        for number, line in enumerate(text.splitlines(), 1):
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            m = re.match(r"^([^=:]+)[=:](.+)$", line)
            if not m:
                raise ValueError(f"line {number} of the group mapping should read `group = tier`: {line!r}")
            items.append((m.group(1), m.group(2)))
    for group, tier in items:
        group, tier = group.strip().strip("\"'").lower(), tier.strip().strip("\"'").lower()
        tier = {"members": "member", "workers": "worker", "participants": "participant"}.get(tier, tier)
        if tier not in TIERS:
            raise ValueError(f"group {group!r} is mapped to {tier!r}; tiers are member, worker and participant")
        pairs[group] = tier
    return pairs


def group_tiers(*, map_text: str | None = None, member: str = "", worker: str = "",
                participant: str = "") -> dict[str, str]:
    """Which Discourse groups stand for which tier: a mapping file, or the three lists, or the default."""
    if map_text is not None and (member or worker or participant):
        raise ValueError("give either --map-groups or the --member/--worker/--participant-groups lists, not both")
    if map_text is not None:
        return parse_group_map(map_text)
    pairs: dict[str, str] = {}
    for tier, names in (("participant", participant), ("worker", worker), ("member", member)):
        for name in (n.strip().lower() for n in (names or "").split(",")):
            if name:
                pairs[name] = tier
    return pairs or dict(DEFAULT_GROUP_TIERS)


# --- the import -----------------------------------------------------------------------------------

@dataclass
class Options:
    url: str
    api_key: str
    api_username: str
    tiers: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_GROUP_TIERS))
    dry_run: bool = False


@dataclass
class _Fetched:
    """One source topic as read, before anything is written."""

    view: dict[str, Any]
    posts: list[dict[str, Any]]  # to import, in post_number order
    likers: dict[int, list[dict[str, Any]]]
    older_numbers: dict[int, int]  # source post number -> local number, for replies to earlier imports
    highest: int
    # source post id -> [(text in the raw, file key, filename)]; the files themselves are in
    # DiscourseImport.files by key
    files: dict[int, list[tuple[str, str, str]]] = field(default_factory=dict)
    # source post id -> poll name -> [(source user, source option id)]
    votes: dict[int, dict[str, list[tuple[dict[str, Any], str]]]] = field(default_factory=dict)


class DiscourseImport:
    def __init__(self, db: Database, settings: Settings, options: Options, *, client: Client | None = None,
                 tracker: Tracker | None = None):
        self.db, self.settings, self.options = db, settings, options
        self.client = client or Client(options.url, options.api_key, options.api_username)
        self.source = f"discourse:{self.client.url}"
        self.dry = options.dry_run
        self.tracker = tracker or progress()
        title = f"Import from {self.client.url}" + (" (dry run: nothing written)" if self.dry else "")
        self.report = Report(title, done_label="would import" if self.dry else "imported")
        self.known: dict[tuple[str, str], int] = {}
        self.pending: dict[tuple[str, str], int] = {}
        self.emails: dict[str, str] = {}  # source user id -> address, where the key may read them
        self.user_tiers: dict[str, str] = {}  # source username (lower) -> tier
        self.usernames: dict[str, str] = {}  # source user id -> username, for private messages
        self.definition_topics: set[int] = set()
        self.profiles: dict[str, dict[str, Any]] = {}  # source user id -> /u/{username}.json's user
        self.key_is_admin = self.key_is_staff = False  # what the source site lets the key do
        self.me: dict[str, Any] = {}
        self.files: dict[str, uploads.Checked | str] = {}  # file key -> checked file, or why it stays behind
        known = {*uploads.IMAGE_TYPES, *uploads.OTHER_TYPES, *uploads.CONVERTED}
        self.file_limits = uploads.Limits(max_bytes=settings.max_upload_bytes,
                                          extensions=settings.allowed_extensions & known, per_day=0)
        self._started = False  # something was committed in this run

    # -- the map of what was brought in --

    def _load_map(self) -> None:
        with self.db.read() as session:
            rows = session.execute(select(ImportedRecord.kind, ImportedRecord.source_id, ImportedRecord.local_id)
                                   .where(ImportedRecord.source == self.source))
            self.known = {(kind, sid): local for kind, sid, local in rows}

    def _lookup(self, kind: str, source_id: Any) -> int | None:
        key = (kind, str(source_id))
        return self.pending.get(key, self.known.get(key))

    def _record(self, session: Session | None, kind: str, source_id: Any, local_id: int) -> None:
        key = (kind, str(source_id))
        if session is not None:
            if kind == "topic_upto" and key in self.known:
                session.execute(update(ImportedRecord).where(
                    ImportedRecord.source == self.source, ImportedRecord.kind == kind,
                    ImportedRecord.source_id == key[1]).values(local_id=local_id))
            else:
                session.add(ImportedRecord(source=self.source, kind=kind, source_id=key[1], local_id=local_id))
        self.pending[key] = local_id

    def _committed(self) -> None:
        self._started = self._started or (bool(self.pending) and not self.dry)
        self.known.update(self.pending)
        self.pending.clear()

    @contextmanager
    def _write(self) -> Iterator[Session | None]:
        """One transaction (none at all in a dry run); what it recorded counts once it has committed."""
        try:
            if self.dry:
                yield None
            else:
                with self.db.write() as session:
                    yield session
        except BaseException:
            self.pending.clear()
            raise
        self._committed()

    # -- the whole run --

    def run(self) -> Report:
        """Raises SourceError when the source cannot be read at all (then nothing is written). Once
        the import is under way, what stops it is written in the report: what was committed stays,
        and running the same command again continues from there."""
        try:
            self._connect()
            self._load_map()
            with self.tracker.running():
                self._import_categories()
                self._read_group_members()
                self._import_users()
                self._import_topics()
                self._import_messages()
        except KeyboardInterrupt:
            self.report.fail("import", "interrupted: run the same command again to continue")
        except SourceError as e:
            if not self._started:
                raise  # nothing written in this run: the caller says so in one line
            self.report.fail("import", f"stopped ({e}): run the same command again to continue")
        finally:
            self.client.close()
            for checked in self.files.values():
                if isinstance(checked, uploads.Checked):
                    uploads.discard(checked)
        return self.report

    def _connect(self) -> None:
        me = None
        try:
            me = self.client.get("/session/current.json")
        except NotThere:
            pass  # anonymous: Discourse answers 404, and the key was not taken
        current = me.get("current_user") if isinstance(me, dict) else None
        if not isinstance(current, dict) or not current.get("username"):
            raise AccessDenied(f"{self.client.url} did not accept the API key for {self.options.api_username!r}")
        self.me = current
        self.key_is_admin = bool(current.get("admin"))
        self.key_is_staff = self.key_is_admin or bool(current.get("moderator"))
        site = self.client.get("/site.json")
        if not isinstance(site, dict) or not isinstance(site.get("categories"), list):
            raise SourceError(f"{self.client.url}/site.json has no categories: is it a Discourse site?")
        self.site = site

    # -- categories --

    def _levels(self, data: dict[str, Any]) -> dict[str, int]:
        perms = data.get("group_permissions")
        if not isinstance(perms, list):
            # Only staff read a category's permissions: without them, what anyone may read is public
            # and the rest is kept to staff until someone sets its levels.
            self.report.skip("category permissions", "the key cannot read them: restricted categories "
                                                     "are staff-only here")
            return {a: NONE if data.get("read_restricted") else CREATE for a in AUDIENCES}
        levels = {a: NONE for a in AUDIENCES}
        for perm in perms:
            group = str(perm.get("group_name") or "").lower()
            level = LEVELS_BY_PERMISSION_TYPE.get(perm.get("permission_type"))
            if level is None or group in STAFF_GROUPS:
                continue
            audience = "everyone" if group == "everyone" else self.options.tiers.get(group)
            if audience is None:
                self.report.skip("category permissions", f"group {group} has no tier (see --map-groups)")
                continue
            levels[audience] = max(levels[audience], level)
        for tier in TIERS:  # everyone's level is every tier's floor, as on the category page
            levels[tier] = max(levels[tier], levels["everyone"])
        return levels

    def _import_categories(self) -> None:
        categories = [c for c in self.site["categories"] if isinstance(c, dict) and "id" in c]
        by_id = {c["id"]: c for c in categories}

        def depth(c: dict[str, Any]) -> int:
            n, seen = 0, set()
            while c.get("parent_category_id") in by_id and c["id"] not in seen:
                seen.add(c["id"])
                c, n = by_id[c["parent_category_id"]], n + 1
            return n

        for c in categories:
            m = re.search(r"/(\d+)/?$", str(c.get("topic_url") or ""))
            if m:
                self.definition_topics.add(int(m.group(1)))
        new: list[dict[str, Any]] = []
        with self.tracker.step("categories", total=len(categories)) as step:
            for c in sorted(categories, key=lambda c: (depth(c), c.get("position") or 0, c["id"])):
                step.advance()
                if self._lookup("category", c["id"]) is not None:
                    continue
                try:  # its permissions and description: read before the transaction, not inside it
                    shown = self.client.get(f"/c/{c['id']}/show.json").get("category") or {}
                except (AccessDenied, NotThere):
                    shown = {}
                new.append({**c, **shown})
        with self._write() as session:
            for c in new:
                self._create_category(session, c)

    def _create_category(self, session: Session | None, c: dict[str, Any]) -> None:
        levels = self._levels(c)
        parent_id = self._lookup("category", c.get("parent_category_id")) if c.get("parent_category_id") else None
        if session is None:
            self._record(None, "category", c["id"], -1)
            self.report.add("categories")
            return
        if parent_id is not None:
            parent = session.get(Category, parent_id)
            if parent is not None and parent.parent_id is not None:
                parent_id = parent.parent_id  # subcategories nest one level deep here
        name = clean(str(c.get("name") or "Category"), single_line=True)[:80] or "Category"
        existing = session.scalar(select(Category).where(func.lower(Category.name) == name.lower(),
                                                         Category.parent_id.is_(None) if parent_id is None
                                                         else Category.parent_id == parent_id))
        if existing is not None:
            self._record(session, "category", c["id"], existing.id)
            self.report.add("categories (matched to one of the same name)")
            return
        color = str(c.get("color") or "0088CC").lstrip("#").upper()
        text_color = str(c.get("text_color") or "FFFFFF").lstrip("#").upper()
        hexchars = set("0123456789ABCDEF")
        description = c.get("description_text") or re.sub(r"<[^>]+>", "", str(c.get("description") or ""))
        position = (session.scalar(select(func.max(Category.position))) or 0) + 1
        category = Category(
            name=name, slug=slugify(name, "category"), description=clean(str(description or ""))[:2000],
            color=color if len(color) in (3, 6) and set(color) <= hexchars else "0088CC",
            text_color=text_color if len(text_color) in (3, 6) and set(text_color) <= hexchars else "FFFFFF",
            parent_id=parent_id, position=position,
            created_at=_date(c.get("created_at")) or utcnow())
        for audience, level in levels.items():
            category.set_level(audience, level)
        session.add(category)
        session.flush()
        self._record(session, "category", c["id"], category.id)
        self.report.add("categories")

    # -- people --

    def _read_group_members(self) -> None:
        for group, tier in sorted(self.options.tiers.items()):
            offset = 0
            for _page in range(MAX_PAGES):
                try:
                    data = self.client.get(f"/groups/{group}/members.json", {"offset": offset, "limit": 50})
                except NotThere:
                    if self.options.tiers != DEFAULT_GROUP_TIERS:  # the operator named it: say so
                        self.report.skip("group mapping", f"group {group} not found in the source")
                    break
                except AccessDenied:
                    self.report.skip("group mapping", f"group {group}: the key cannot list its members")
                    break
                members = data.get("members") or []
                for m in members:
                    name = str(m.get("username") or "").lower()
                    if name and TIER_RANK[tier] >= TIER_RANK.get(self.user_tiers.get(name, "participant"), 0):
                        self.user_tiers[name] = tier
                offset += len(members)
                total = (data.get("meta") or {}).get("total")
                if not members or (isinstance(total, int) and offset >= total):
                    break

    def _import_users(self) -> None:
        if not self.key_is_staff:
            self.report.skip("user list", "the key is not staff's: people come in as they are met in posts")
            return
        with self.tracker.step("people") as step:
            seen: set[str] = set()
            for page in range(1, MAX_PAGES):
                try:
                    users = self.client.get("/admin/users/list/all.json", {"page": page, "show_emails": "true"})
                except (AccessDenied, NotThere):
                    self.report.skip("user list", "the key cannot read the admin user list: people come in "
                                                  "as they are met in posts")
                    return
                if not isinstance(users, list):
                    return
                fresh = [u for u in users if isinstance(u, dict) and str(u.get("id")) not in seen]
                if not fresh:
                    break
                with self._write() as session:
                    for u in fresh:
                        seen.add(str(u.get("id")))
                        step.advance()
                        if u.get("email"):
                            self.emails[str(u["id"])] = str(u["email"])
                        if u.get("staged"):
                            continue  # people who only wrote by e-mail: they come in with their posts
                        self._user_id(session, u)

    def _free_username(self, session: Session, wanted: str) -> str:
        ascii_name = wanted.encode("ascii", "ignore").decode()
        base = re.sub(r"[^A-Za-z0-9_.-]", "_", ascii_name)
        base = re.sub(r"[.-]{2,}", "_", base)[:USERNAME_MAX].strip(".-") or "user"
        if len(base) < accounts.USERNAME_MIN:
            base = (base + "___")[:accounts.USERNAME_MIN]
        candidate, n = base, 1
        while accounts.username_problem(session, candidate) is not None:
            suffix = str(n)
            candidate = base[:USERNAME_MAX - len(suffix)].rstrip(".-") + suffix
            n += 1
        return candidate

    @staticmethod
    def _author(p: dict[str, Any]) -> dict[str, Any]:
        if p.get("user_id") is None:  # the author's account was deleted in the source
            return {"id": "deleted", "username": "deleted_user", "name": ""}
        return {"id": p.get("user_id"), "username": p.get("username"), "name": p.get("name"),
                "admin": p.get("admin"), "moderator": p.get("moderator")}

    def _user_id(self, session: Session | None, data: dict[str, Any]) -> int:
        source_id = str(data.get("id"))
        username = str(data.get("username") or f"user{source_id}")
        self.usernames[source_id] = username  # whose messages to read, imported before or not
        found = self._lookup("user", source_id)
        if found is not None:
            return found
        if session is None:
            self._record(None, "user", source_id, -1)
            self.report.add("people")
            return -1
        data = {**self.profiles.get(source_id, {}), **{k: v for k, v in data.items() if v}}
        email = (self.emails.get(source_id) or str(data.get("email") or "")).strip().lower()
        if email and not accounts.EMAIL_RE.match(email):
            email = ""
        if email:
            existing = session.scalar(select(User.id).where(User.email == email))
            if existing is not None:
                self._record(session, "user", source_id, existing)
                self.report.add("people (matched to an account by e-mail)")
                return existing
        name = self._free_username(session, username)
        tier = self.user_tiers.get(username.lower(), "participant")
        user = User(username=name, username_lower=name.lower(), name=clean(str(data.get("name") or ""),
                                                                          single_line=True)[:100],
                    email=email or None, password_hash=UNUSABLE_PASSWORD, tier=tier,
                    is_moderator=bool(data.get("admin") or data.get("moderator")),
                    created_at=_date(data.get("created_at")) or utcnow(), approved=True)
        session.add(user)
        session.flush()
        self._record(session, "user", source_id, user.id)
        self.report.add("people")
        if not email:
            self.report.skip("e-mail addresses", "not readable with this key (the person cannot reset a password "
                                                 "until staff add one)")
        return user.id

    # -- topics --

    def _topic_total(self) -> int | None:
        """How many topics the site says it has, for the progress bar only."""
        try:
            stats = (self.client.get("/about.json").get("about") or {}).get("stats") or {}
        except SourceError:
            return None
        total = stats.get("topics_count", stats.get("topic_count"))
        return total if isinstance(total, int) else None

    def _import_topics(self) -> None:
        with self.tracker.step("topics", total=self._topic_total()) as step:
            seen: set[int] = set()
            for page in range(MAX_PAGES):
                data = self.client.get("/latest.json", {"order": "created", "ascending": "true", "page": page,
                                                        "no_definitions": "true"})
                topics = [t for t in (data.get("topic_list") or {}).get("topics") or [] if t.get("id") not in seen]
                for listed in topics:
                    seen.add(listed["id"])
                    step.advance()
                    if listed.get("archetype", "regular") != "regular":
                        continue
                    if listed["id"] in self.definition_topics:
                        self.report.skip("topics", "category description topic")
                        continue
                    self._import_one(listed["id"], listed, private=False)
                if not topics or not (data.get("topic_list") or {}).get("more_topics_url"):
                    break

    def _import_messages(self) -> None:
        """Private messages, read as each of their people (Discourse's and this forum's all-users keys
        may act as anyone), or as the key's own user where that user may list others' messages."""
        seen: set[int] = set()
        readable = False
        ways: list[bool] = [True, False]  # acting as the person; as the key's own user
        with self.tracker.step("private messages") as step:
            for username in sorted(set(self.usernames.values()), key=str.lower):
                for acting in list(ways):
                    self.client.acting_as = username if acting else None
                    try:
                        for listed in self._message_list(username):
                            readable = True
                            if listed["id"] in seen:
                                continue
                            seen.add(listed["id"])
                            step.advance()
                            self._import_one(listed["id"], listed, private=True)
                        break
                    except AccessDenied:
                        if acting and not readable:
                            ways.remove(True)  # a key for one user: it will not act as the next either
                        continue
                    except NotThere:
                        continue
                    finally:
                        self.client.acting_as = None
        if not readable:
            self.report.skip("private messages", "the key cannot read anyone's messages (an admin's all-users "
                                                 "key can)")

    def _message_list(self, username: str):
        for box in ("private-messages", "private-messages-archive"):
            for page in range(MAX_PAGES):
                data = self.client.get(f"/topics/{box}/{username}.json", {"page": page})
                topics = (data.get("topic_list") or {}).get("topics") or []
                yield from topics
                if not topics or not (data.get("topic_list") or {}).get("more_topics_url"):
                    break

    def _import_one(self, topic_id: int, listed: dict[str, Any], *, private: bool) -> None:
        kind = "private messages" if private else "topics"
        upto = self._lookup("topic_upto", topic_id)
        if upto is not None and upto >= int(listed.get("highest_post_number") or 0):
            return  # nothing new since the last run
        try:
            fetched = self._fetch(topic_id, private=private)
        except NotThere:
            self.report.skip(kind, "gone from the source while importing")
            return
        except AccessDenied:
            self.report.skip(kind, "the key may not read it")
            return
        except Unreachable:
            raise
        except SourceError as e:
            self.report.fail(kind, str(e)[:160])
            return
        if fetched is None:
            return
        try:
            with self._write() as session:
                self._write_topic(session, topic_id, listed, fetched, private=private)
        except (ValidationFailed, ValueError, IntegrityError, DataError) as e:
            messages = getattr(e, "messages", None) or [str(e).splitlines()[0] if str(e) else type(e).__name__]
            self.report.fail(kind, f"topic {topic_id}: " + "; ".join(str(m) for m in messages)[:140])

    def _fetch(self, topic_id: int, *, private: bool) -> _Fetched | None:
        kind = "private messages" if private else "topics"
        view = self.client.get(f"/t/{topic_id}.json", {"include_raw": "true"})
        if (view.get("archetype") == "private_message") != private:
            return None
        if not private and self._lookup("category", view.get("category_id")) is None:
            self.report.skip(kind, "its category was not imported")
            return None
        stream = [int(i) for i in (view.get("post_stream") or {}).get("stream") or []]
        wanted = [i for i in stream if self._lookup("post", i) is None]
        by_id: dict[int, dict[str, Any]] = {}
        for p in (view.get("post_stream") or {}).get("posts") or []:
            if p.get("id") in wanted and "raw" in p:
                by_id[p["id"]] = p
        missing = [i for i in wanted if i not in by_id]
        for start in range(0, len(missing), POSTS_PER_REQUEST):
            chunk = missing[start:start + POSTS_PER_REQUEST]
            data = self.client.get(f"/t/{topic_id}/posts.json",
                                   [("include_raw", "true"), *[("post_ids[]", i) for i in chunk]])
            for p in (data.get("post_stream") or {}).get("posts") or []:
                by_id[p["id"]] = p
        posts = []
        for p in sorted(by_id.values(), key=lambda p: p.get("post_number") or 0):
            reason = self._skip_reason(p)
            if reason is None and "raw" not in p:
                try:
                    p = {**p, "raw": self.client.get(f"/posts/{p['id']}.json")["raw"]}
                except (NotThere, AccessDenied, KeyError):
                    reason = "its text is not readable with this key"
            if reason:
                self.report.skip("posts", reason)
                continue
            posts.append(p)
        new_topic = self._lookup("topic", topic_id) is None
        if new_topic and (not posts or posts[0].get("post_number") != 1):
            self.report.skip(kind, "its first post is deleted or not readable")
            return None
        likers: dict[int, list[dict[str, Any]]] = {}
        for p in posts:
            if self._like_count(p):
                likers[p["id"]] = self._likers(p["id"])
        people = [self._author(p) for p in posts] + [u for found in likers.values() for u in found]
        people += list((view.get("details") or {}).get("allowed_users") or [])
        for person in people:
            self._read_profile(person)
        older: dict[int, int] = {}
        if not new_topic:
            numbers = {p.get("post_number") for p in posts}
            for p in posts:
                target = p.get("reply_to_post_number")
                if target and target not in numbers and target not in older:
                    older[target] = self._local_number(topic_id, target) or 0
        highest = int(view.get("highest_post_number") or max([p.get("post_number") or 0 for p in posts] or [0]))
        files = {p["id"]: self._files_of(p) for p in posts}
        votes = {p["id"]: self._votes_of(p) for p in posts if p.get("polls")}
        for found in votes.values():
            for voters in found.values():
                for person, _option in voters:
                    self._read_profile(person)
        return _Fetched(view, posts, likers, older, highest, files, votes)

    # -- files --

    def _file_refs(self, p: dict[str, Any]) -> list[tuple[str, str, str, str]]:
        """(text in the raw, key, filename, where to download it) of each file the raw refers to. A
        short URL is looked for in the post's cooked HTML (which may name a CDN), else asked of the
        source; a path or URL under /uploads/ counts only on the source's own address."""
        raw = str(p.get("raw") or "")
        cooked = str(p.get("cooked") or "")
        in_cooked = HTML_URL_RE.findall(cooked)
        refs: list[tuple[str, str, str, str]] = []
        for m in SHORT_UPLOAD_RE.finditer(raw):
            name, ext = m.group(1), m.group(2).lower()
            sha1 = uploads.sha1_of_base62(name)
            # The original (not a smaller copy) as the cooked HTML names it, else the short URL,
            # which the source redirects to the file.
            where = next((u for u in in_cooked if sha1 and sha1 in u and "/optimized/" not in u), None) or \
                f"/uploads/short-url/{name}.{ext}"
            refs.append((m.group(0), sha1 or f"{name}.{ext}", self._filename(raw, m.start(), f"{name}.{ext}"),
                         where))
        own = urlsplit(self.client.url).netloc.lower()
        for m in UPLOAD_PATH_RE.finditer(raw):
            text = m.group(0)
            host = urlsplit(text).netloc.lower()
            if host and host != own:
                continue  # a file on another site: a link like any other
            found = SHA1_RE.search(text)
            key = found.group(1) if found else urlsplit(text).path
            refs.append((text, key, self._filename(raw, m.start(), text.rsplit("/", 1)[-1]), text))
        return refs

    @staticmethod
    def _filename(raw: str, at: int, fallback: str) -> str:
        """The label of `[name|attachment](…)` or `![alt|WxH](…)` just before the URL, as the file's name."""
        m = re.search(r"\[([^\[\]|\n]*)(?:\|[^\[\]\n]*)?\]\($", raw[max(0, at - 300):at])
        ext = fallback.rsplit(".", 1)[-1].lower() if "." in fallback else ""
        label = (m.group(1).strip() if m else "") or fallback.rsplit(".", 1)[0]
        label = re.sub(r"[/\\]", "_", label)[:200]
        return label if not ext or label.lower().endswith("." + ext) else f"{label}.{ext}"

    def _files_of(self, p: dict[str, Any]) -> list[tuple[str, str, str]]:
        """Download (before the transaction) what is neither imported nor tried yet in this run."""
        out = []
        for text, key, filename, where in self._file_refs(p):
            out.append((text, key, filename))
            if self._lookup("upload", key) is not None or key in self.files or self.dry:
                continue
            ext = filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
            if ext not in self.file_limits.extensions:
                self.files[key] = f"a kind of file not accepted here (.{ext})"
                continue
            try:
                # The address the cooked HTML gives for this very file may be another (a CDN).
                hosts = {urlsplit(where).netloc.lower()} if text.startswith("upload://") else set()
                data = self.client.download(where, self.file_limits.max_bytes, hosts)
            except TooBig:
                self.files[key] = f"larger than {uploads.human_size(self.file_limits.max_bytes)}, the most accepted here"
                continue
            except Refused as e:
                self.files[key] = f"not fetched: {e}"
                continue
            except SourceError as e:
                self.files[key] = f"could not be fetched ({e})"
                continue
            try:
                self.files[key] = uploads.prepare(self.settings, Viewer(User(username="import")), self.file_limits,
                                                  filename=filename, source=io.BytesIO(data))
            except (ValidationFailed, uploads.TooLarge) as e:
                messages = getattr(e, "messages", None) or [str(e)]
                self.files[key] = "refused here: " + "; ".join(str(m) for m in messages)[:160]
        return out

    def _bring_files(self, session: Session, raw: str, refs: list[tuple[str, str, str]], author: int) -> str:
        """The raw with each file that came over pointing at this forum's copy."""
        done: dict[str, Upload] = {}
        for text, key, filename in refs:
            local = self._lookup("upload", key)
            upload = session.get(Upload, local) if local else None
            if upload is None:
                checked = self.files.get(key)
                if isinstance(checked, str) or checked is None:
                    if key not in done:
                        self.report.skip("uploaded files", checked or "not fetched")
                    continue
                user = session.get(User, author)
                upload = uploads.record(session, self.settings, Viewer(user), checked, self.file_limits,
                                        filename=filename)
                session.flush()
                self.files.pop(key, None)  # record() has stored (and removed) the checked copy
                self._record(session, "upload", key, upload.id)
                self.report.add("uploaded files")
            done[key] = upload
            raw = raw.replace(text, uploads.short_url(upload))
        return raw

    def _skip(self, kind: str, reason: str, count: int = 1) -> None:
        for _n in range(count):
            self.report.skip(kind, reason)

    # -- poll votes --

    def _votes_of(self, p: dict[str, Any]) -> dict[str, list[tuple[dict[str, Any], str]]]:
        found: dict[str, list[tuple[dict[str, Any], str]]] = {}
        for poll in p.get("polls") or []:
            name = str(poll.get("name") or "poll")
            if not int(poll.get("voters") or 0):
                continue
            if poll.get("type", "regular") not in VOTED_POLL_TYPES:
                self.report.skip("poll votes", f"{poll.get('type')} polls: votes not brought over")
                continue
            votes: list[tuple[dict[str, Any], str]] = []
            if poll.get("public"):
                try:
                    for option in poll.get("options") or []:
                        for voter in self._voters(p["id"], name, str(option.get("id"))):
                            votes.append((voter, str(option.get("id"))))
                except Unreachable:
                    raise
                except SourceError:
                    self.report.skip("poll votes", "voters not readable with this key")
                    votes = []
            else:
                mine = (p.get("polls_votes") or {}).get(name) or []
                if self.me.get("id") is not None:
                    votes = [(self.me, str(option)) for option in mine]
                others = int(poll.get("voters") or 0) - (1 if mine else 0)
                if others > 0:
                    self._skip("poll votes", "private poll: only the key's own vote is readable", others)
            found[name] = votes
        return found

    def _voters(self, post_id: int, poll_name: str, option_id: str) -> list[dict[str, Any]]:
        people: list[dict[str, Any]] = []
        for page in range(1, MAX_PAGES):
            data = self.client.get("/polls/voters.json", {"post_id": post_id, "poll_name": poll_name,
                                                          "option_id": option_id, "page": page,
                                                          "limit": VOTERS_PER_PAGE})
            voters = (data.get("voters") or {}) if isinstance(data, dict) else {}
            batch = voters.get(option_id) if isinstance(voters, dict) else voters
            batch = [v for v in batch or [] if isinstance(v, dict) and v.get("id") is not None]
            # Discourse's pages overlap by one voter (rows offset..offset+limit): keep each once.
            new = [v for v in batch if v["id"] not in {p["id"] for p in people}]
            people += new
            if len(batch) < VOTERS_PER_PAGE or not new:
                break
        return people

    def _write_votes(self, session: Session, post: Post, votes: dict[str, list[tuple[dict[str, Any], str]]],
                     source_polls: list[dict[str, Any]]) -> None:
        for poll_data in source_polls:
            name = str(poll_data.get("name") or "poll")
            chosen = votes.get(name) or []
            if not chosen:
                continue
            poll = session.scalar(select(Poll).where(Poll.post_id == post.id, Poll.name == name))
            if poll is None:
                self._skip("poll votes", "the poll is not a poll here", len(chosen))
                continue
            options = list(session.scalars(select(PollOption).where(PollOption.poll_id == poll.id)
                                           .order_by(PollOption.position)))
            source_options = [str(o.get("id")) for o in poll_data.get("options") or []]
            if len(options) != len(source_options):
                self._skip("poll votes", "the poll's options differ here", len(chosen))
                continue
            by_source = dict(zip(source_options, options, strict=True))
            seen: set[tuple[int, int]] = set()
            counts: dict[int, int] = {}
            for person, option_id in chosen:
                option = by_source.get(option_id)
                if option is None:
                    self.report.skip("poll votes", "an option not in the poll")
                    continue
                user_id = self._user_id(session, person)
                if (user_id, option.id) in seen:
                    continue
                seen.add((user_id, option.id))
                counts[user_id] = counts.get(user_id, 0) + 1
            for user_id, option_id in sorted(seen):
                if poll.type == "regular" and counts[user_id] > 1:
                    continue
                session.add(PollVote(poll_id=poll.id, option_id=option_id, user_id=user_id,
                                     created_at=post.created_at))
                self.report.add("poll votes")
            dropped = sum(1 for n in counts.values() if poll.type == "regular" and n > 1)
            if dropped:
                self._skip("poll votes", "more than one choice in a single-choice poll", dropped)
        session.flush()

    @staticmethod
    def _skip_reason(p: dict[str, Any]) -> str | None:
        post_type = p.get("post_type", REGULAR)
        if post_type in SKIPPED_POST_TYPES:
            return SKIPPED_POST_TYPES[post_type]
        if p.get("deleted_at") or p.get("user_deleted"):
            return "deleted in the source"
        if p.get("action_code"):
            return SKIPPED_POST_TYPES[SMALL_ACTION]
        return None

    @staticmethod
    def _like_count(p: dict[str, Any]) -> int:
        for action in p.get("actions_summary") or []:
            if action.get("id") == LIKE:
                return int(action.get("count") or 0)
        return int(p.get("like_count") or 0)

    def _likers(self, post_id: int) -> list[dict[str, Any]]:
        found: dict[Any, dict[str, Any]] = {}
        for page in range(MAX_PAGES):
            try:
                data = self.client.get("/post_action_users.json", {"id": post_id, "post_action_type_id": LIKE,
                                                                   "page": page, "limit": 200})
            except (AccessDenied, NotThere):
                self.report.skip("likes", "who liked is not readable with this key")
                return []
            users = [u for u in data.get("post_action_users") or [] if u.get("id") not in found]
            found.update({u.get("id"): u for u in users})
            total = data.get("total_rows_post_action_users")
            if not users or not isinstance(total, int) or len(found) >= total:
                break
        return list(found.values())

    def _read_profile(self, person: dict[str, Any]) -> None:
        """When someone not yet here joined the source (and their name), read before the transaction."""
        source_id = str(person.get("id"))
        if self._lookup("user", source_id) is not None or source_id in self.profiles or not person.get("username"):
            return
        try:
            self.profiles[source_id] = self.client.get(f"/u/{person['username']}.json").get("user") or {}
        except (AccessDenied, NotThere):
            self.profiles[source_id] = {}

    def _local_number(self, topic_id: int, source_number: int) -> int | None:
        try:
            data = self.client.get(f"/posts/by_number/{topic_id}/{source_number}.json")
        except SourceError:
            return None
        local = self._lookup("post", data.get("id"))
        if local is None:
            return None
        with self.db.read() as session:
            return session.scalar(select(Post.post_number).where(Post.id == local))

    def _write_topic(self, session: Session | None, topic_id: int, listed: dict[str, Any], f: _Fetched,
                     *, private: bool) -> None:
        kind = "private messages" if private else "topics"
        view = f.view
        local_topic = self._lookup("topic", topic_id)
        category_id = None if private else self._lookup("category", view.get("category_id"))
        if session is None:
            for p in f.posts:
                self._user_id(None, self._author(p))
                self._record(None, "post", p["id"], -1)
                self.report.add("posts")
                for _text, key, _name in f.files.get(p["id"]) or []:
                    if self._lookup("upload", key) is None:
                        self._record(None, "upload", key, -1)
                        self.report.add("uploaded files")
                for chosen in (f.votes.get(p["id"]) or {}).values():
                    if chosen:
                        self.report.add("poll votes", len(chosen))
                for liker in f.likers.get(p["id"], []):
                    if liker.get("id") != p.get("user_id"):
                        self._user_id(None, liker)
                        self.report.add("likes")
            if local_topic is None:
                self._record(None, "topic", topic_id, -1)
                self.report.add(kind)
            self._record(None, "topic_upto", topic_id, f.highest)
            return
        numbers: dict[int, int] = dict(f.older_numbers)
        is_new = local_topic is None
        if local_topic is None:
            first = f.posts[0]
            author = self._user_id(session, self._author(first))
            created = _date(first.get("created_at")) or _date(view.get("created_at")) or utcnow()
            title = clean(str(view.get("title") or listed.get("title") or "Untitled"), single_line=True)[:255]
            topic = Topic(title=title, slug=slugify(title), category_id=category_id,
                          archetype="private_message" if private else "regular", user_id=author,
                          last_post_user_id=author, created_at=created, bumped_at=created, last_posted_at=created,
                          highest_post_number=0, posts_count=0, participant_count=1)
            session.add(topic)
            session.flush()
            if private:
                people = {author}
                for u in (view.get("details") or {}).get("allowed_users") or []:
                    people.add(self._user_id(session, u))
                for uid in sorted(people):
                    session.add(TopicAllowedUser(topic_id=topic.id, user_id=uid, created_at=created))
                if (view.get("details") or {}).get("allowed_groups"):
                    self.report.skip("message groups", "groups in a message are not brought over; its people are")
            else:
                session.execute(update(Category).where(Category.id == category_id)
                                .values(topic_count=Category.topic_count + 1))
                session.execute(update(User).where(User.id == author).values(topic_count=User.topic_count + 1))
            self._record(session, "topic", topic_id, topic.id)
            self.report.add(kind)
            local_topic = topic.id
        for index, p in enumerate(f.posts):
            author = self._user_id(session, self._author(p))
            created = _date(p.get("created_at")) or utcnow()
            raw = self._rewrite_quotes(clean(str(p.get("raw") or "")), topic_id, local_topic, numbers)
            raw = self._bring_files(session, raw, f.files.get(p["id"]) or [], author)
            if not raw.strip():
                self.report.skip("posts", "empty")
                continue
            reply_to = numbers.get(p.get("reply_to_post_number") or 0) or None
            try:
                cooked = posting._cook_checked(session, raw)
            except ValidationFailed:
                # A [poll] block this forum reads differently: the post keeps its text, without the poll.
                cooked = dataclasses.replace(posting.cook_post(session, raw), polls=[])
                self.report.skip("polls", "not valid here: kept as written, without voting")
            post = posting._append_post(session, local_topic, category_id, author, raw, cooked, reply_to, created,
                                        first=is_new and index == 0, notify=False)
            post.updated_at = max(_date(p.get("updated_at")) or created, created)
            self._write_votes(session, post, f.votes.get(p["id"]) or {}, p.get("polls") or [])
            for poll in p.get("polls") or []:
                if poll.get("status") == "closed":
                    session.execute(update(Poll).where(Poll.post_id == post.id, Poll.name == poll.get("name"))
                                    .values(closed_at=post.updated_at))
            if p.get("hidden"):
                post.hidden, post.hidden_at, post.hidden_reason = True, post.updated_at, "flags"
            numbers[int(p.get("post_number") or 0)] = post.post_number
            self._record(session, "post", p["id"], post.id)
            self.report.add("posts")
            likes = 0
            for liker in f.likers.get(p["id"], []):
                liker_id = self._user_id(session, liker)
                if liker_id == author:
                    continue
                session.add(PostAction(post_id=post.id, user_id=liker_id, action_type=LIKE, created_at=created))
                likes += 1
            if likes:
                session.flush()
                session.execute(update(Post).where(Post.id == post.id).values(like_count=Post.like_count + likes))
                session.execute(update(Topic).where(Topic.id == local_topic)
                                .values(like_count=Topic.like_count + likes))
                self.report.add("likes", likes)
        topic = session.get(Topic, local_topic)
        session.refresh(topic)
        for flag in ("closed", "archived", "pinned_globally"):
            setattr(topic, flag, bool(view.get(flag, listed.get(flag, False))))
        topic.pinned = bool(view.get("pinned_at") or view.get("pinned") or listed.get("pinned")
                            or topic.pinned_globally)
        topic.visible = bool(view.get("visible", listed.get("visible", True)))
        topic.views = max(topic.views, int(view.get("views") or listed.get("views") or 0))
        bumped = _date(listed.get("bumped_at")) or _date(view.get("bumped_at"))
        topic.bumped_at = max(bumped or topic.last_posted_at, topic.created_at)
        self._record(session, "topic_upto", topic_id, f.highest)
        if not private:
            # Posting set each author's last post time to this topic's: older than what they
            # posted in topics already imported, perhaps.
            public = select(func.max(Post.created_at)).join(Topic, Topic.id == Post.topic_id).where(
                Post.user_id == User.id, Post.deleted_at.is_(None), Topic.category_id.is_not(None))
            authors = {self._lookup("user", self._author(p)["id"]) for p in f.posts}
            session.execute(update(User).where(User.id.in_([a for a in authors if a]))
                            .values(last_posted_at=public.scalar_subquery()))

    def _rewrite_quotes(self, raw: str, source_topic: int, local_topic: int, numbers: dict[int, int]) -> str:
        """`[quote="name, post:N, topic:T"]` names the source's numbers: point it at the imported post."""
        def fix(m: re.Match) -> str:
            parts = [part.strip() for part in m.group(1).split(",")]
            topic = next((int(p[6:]) for p in parts if re.fullmatch(r"topic:\d+", p)), None)
            local = local_topic if topic == source_topic else self._lookup("topic", topic) if topic else None
            out = []
            for part in parts:
                if re.fullmatch(r"topic:\d+", part) and local is not None and local > 0:
                    part = f"topic:{local}"
                elif re.fullmatch(r"post:\d+", part) and topic == source_topic and int(part[5:]) in numbers:
                    part = f"post:{numbers[int(part[5:])]}"
                out.append(part)
            return '[quote="' + ", ".join(out) + '"]'

        return QUOTE_RE.sub(fix, raw)


def run(db: Database, settings: Settings, options: Options, *, client: Client | None = None,
        out: IO[str] | None = None, terminal: bool | None = None) -> Report:
    """Import, and return the summary. Raises SourceError (nothing written) when the source cannot be read."""
    importer = DiscourseImport(db, settings, options, client=client,
                               tracker=progress(out or sys.stderr, terminal=terminal))
    return importer.run()
