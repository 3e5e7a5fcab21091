"""No interface text escapes translation.

Every message of the catalog template is "translated" into a pseudo-language that wraps it in
markers (⟦Latest⟧), and the forum is crawled in it by a visitor, a member and an admin over the demo
federation, and its emails and feeds are rendered in it. Any interface word left outside markers was
never sent through gettext (or was glued from pieces). The pseudo-language borrows Greek's code, so
Babel's dates and numbers come out in Greek letters, not English ones.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

import pytest
from argon2 import PasswordHasher
from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po, write_po
from sqlalchemy import select

import forum.i18n
from forum import ROOT, auth
from forum.demo import load_demo
from forum.models import Category, Group, Tag, TagGroup, Topic, User
from forum.permissions import Viewer
from tests.conftest import PASSWORD, login

PSEUDO = "el"
OPEN, CLOSE = "⟦", "⟧"
MARKED = re.compile(f"{OPEN}[^{OPEN}{CLOSE}]*{CLOSE}")
# What may stay outside markers: zone abbreviations, format names, addresses, mentions.
ALLOWED = re.compile(r"https?://\S*|/[\w./-]+|\b[\w-]+\.(?:coop|org|com|net)\b|\S+@\S+|@[\w.-]+|\b[A-Z]{2,5}\b|\b(?:RSS|JSON|API|iCalendar|ICS|Markdown|UTC[+-]?\d*)\b")
WORD = re.compile(r"[A-Za-z]{2,}")
ATTRIBUTES = ("title", "aria-label", "placeholder", "alt")
SKIP_CLASSES = {"cooked", "post-body", "excerpt", "topic-excerpt", "preview", "revision-diff", "blurb", "title", "reason"}
MAX_PAGES = 150
# A post's own address shows the same page as its topic.
POST_PERMALINK = re.compile(r"^/t/[^/]+/\d+/\d+$")


def mark(text: str) -> str:
    return f"{OPEN}{text}{CLOSE}"


@pytest.fixture
def pseudo_catalog(tmp_path, monkeypatch):
    with (ROOT / "forum" / "locale" / "messages.pot").open("rb") as f:
        template = read_po(f)
    catalog = Catalog(locale=PSEUDO)
    for message in template:
        if not message.id:
            continue
        if message.pluralizable:
            catalog.add(message.id, tuple(mark(form) for form in message.id), flags=message.flags)
        else:
            catalog.add(message.id, mark(message.id), flags=message.flags)
    folder = tmp_path / PSEUDO / "LC_MESSAGES"
    folder.mkdir(parents=True)
    with (folder / "messages.po").open("wb") as f:
        write_po(f, catalog)
    monkeypatch.setattr(forum.i18n, "LOCALE_DIR", tmp_path)
    monkeypatch.setattr(auth, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
    return tmp_path


class _Text(HTMLParser):
    """Visible text and the attributes people hear or see, outside posts' own content."""

    VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}

    def __init__(self):
        super().__init__()
        self.stack: list[tuple[str, bool]] = []
        self.found: list[str] = []  # attributes, one by one
        self.text: list[str] = []  # text, in document order (a translated sentence may hold a tag)
        self.links: list[str] = []

    def _skipping(self) -> bool:
        return any(skip for _tag, skip in self.stack)

    def handle_starttag(self, tag, attrs):
        values = dict(attrs)
        classes = set((values.get("class") or "").split())
        # Posts and excerpts are people's words; a language's own name (lang="es") is not English.
        skip = (tag in ("script", "style", "code", "pre", "textarea", "select", "title")
                or bool(classes & SKIP_CLASSES) or values.get("lang") not in (None, PSEUDO))
        if not self._skipping() and not skip:
            self.found += [values[a] for a in ATTRIBUTES if values.get(a)]
            if tag == "input" and values.get("type") in ("submit", "button") and values.get("value"):
                self.found.append(values["value"])
        if tag == "a" and values.get("href"):
            self.links.append(values["href"])
        if tag not in self.VOID:
            self.stack.append((tag, skip))

    def handle_endtag(self, tag):
        for i in range(len(self.stack) - 1, -1, -1):
            if self.stack[i][0] == tag:
                del self.stack[i:]
                break

    def handle_data(self, data):
        if data.strip() and not self._skipping():
            self.text.append(data)


def _unmarked(text: str, content: list[str]) -> str:
    """The text without translated parts, people's own words and what may stay as it is."""
    previous = None
    while previous != text:
        previous, text = text, MARKED.sub(" ", text)
    for piece in content:
        text = text.replace(piece, " ")
    return ALLOWED.sub(" ", text)


def _content(db, settings) -> list[str]:
    """Words people wrote (titles, names, categories, tags, groups): not the interface's to translate."""
    with db.read() as session:
        pieces = [*session.scalars(select(Topic.title)), *session.scalars(select(Category.name)),
                  *session.scalars(select(Tag.name)), *session.scalars(select(TagGroup.name)),
                  *session.scalars(select(Group.name)), *[n for n in session.scalars(select(Group.full_name)) if n],
                  *[d for d in session.scalars(select(Category.description)) if d],
                  *session.scalars(select(User.username)), *[n for n in session.scalars(select(User.name)) if n],
                  settings.site_title, settings.site_description]
    return sorted({p for p in pieces if p}, key=len, reverse=True)


def _crawl(client, start: list[str], content: list[str], seen: set[str]) -> dict[str, list[str]]:
    problems: dict[str, list[str]] = {}
    queue = list(start)
    pages = 0
    while queue and pages < MAX_PAGES:
        path = queue.pop(0)
        if path in seen:
            continue
        seen.add(path)
        r = client.get(path)
        if r.status_code != 200 or "text/html" not in r.headers.get("content-type", ""):
            continue
        pages += 1
        assert f'<html lang="{PSEUDO}">' in r.text, path
        parser = _Text()
        parser.feed(r.text)
        for text in [*parser.found, " | ".join(parser.text)]:
            remaining = _unmarked(text, content)
            for hit in WORD.finditer(remaining):
                around = remaining[max(0, hit.start() - 40):hit.end() + 40].replace("\n", " ")
                problems.setdefault(path, []).append(f"{hit.group()!r} in {' '.join(around.split())!r}")
        for href in parser.links:
            target = urlsplit(urljoin("http://testserver" + path, href))
            if target.netloc != "testserver":
                continue
            link = target.path + (f"?{target.query}" if target.query else "")
            if (link not in seen and not target.path.startswith(("/static", "/language", "/logout", "/uploads"))
                    and not POST_PERMALINK.match(target.path)
                    and not re.search(r"\.(rss|json|ics|xml)$", target.path) and "page=" not in target.query):
                queue.append(link)
    return problems


DRAFT_TEXT = "Borrador: el boletín de marzo."
DRAFT_TITLE = "Boletín de marzo"


@pytest.mark.usefixtures("pseudo_catalog")
def test_every_page_speaks_only_through_the_catalog(db, settings, make_client):
    from forum.app import create_app

    settings.default_locale = PSEUDO
    app = create_app(settings, db)
    load_demo(db, settings, PASSWORD)
    content = _content(db, settings)
    with db.read() as session:
        topics = session.scalars(select(Topic).order_by(Topic.id)).all()
        starts = [f"/t/{t.slug}/{t.id}" for t in topics]
    with db.write() as session:  # a linked translation, edited once, for its pages and its place in a topic
        from forum import translations
        from forum.models import Post

        post = session.scalar(select(Post).where(Post.topic_id == topics[0].id, Post.post_number == 1))
        translator = Viewer(session.scalar(select(User).where(User.username == "tiago.p")))
        language = next(code for code in ("en", "el") if code != post.language)
        translation = translations.create(session, settings, translator, post_id=post.id, language=language,
                                          raw="Una traducción de la primera publicación.")
        translations.edit(session, settings, translator, translation_id=translation.id,
                          raw="Una traducción revisada de la primera publicación.")
        translation_pages = [f"/posts/{post.id}/translate", f"/translations/{translation.id}/edit",
                             f"/translations/{translation.id}/revisions"]
        # Drafts, so that the composers offer one back and the drafts page lists them.
        import json

        from forum import drafts

        for key, data in ((drafts.NEW_TOPIC, {"reply": DRAFT_TEXT, "title": DRAFT_TITLE}),
                          (drafts.topic_key(topics[0].id), {"reply": DRAFT_TEXT})):
            drafts.save(session, settings, translator, key=key, sequence=0, data=json.dumps(data))
        translation_pages.append("/u/tiago.p/activity/drafts")
    content = sorted({*content, DRAFT_TEXT, DRAFT_TITLE}, key=len, reverse=True)
    problems: dict[str, list[str]] = {}
    visited: dict[str | None, set[str]] = {}
    for username in (None, "tiago.p", "olga.petrenko", "niko.h"):
        from fastapi.testclient import TestClient

        with TestClient(app) as client:
            if username:
                with db.read() as session:
                    if session.scalar(select(User.id).where(User.username == username)) is None:
                        continue
                login(client, username, PASSWORD)
            extra = ["/my/preferences", "/my/email", "/new-topic", "/admin", "/admin/settings",
                     *translation_pages] if username else []
            seen = visited[username] = set()
            problems |= _crawl(client, ["/", "/categories", "/events", "/search?q=co-operative", "/login",
                                        "/signup", *extra, *starts], content, seen)
    # The crawl reached the pages of every kind of person.
    assert {"/admin", "/admin/settings", "/admin/users", "/admin/review"} <= visited["niko.h"]
    assert {"/my/preferences", "/new-topic", "/events"} <= visited["tiago.p"]
    unique: dict[str, str] = {}
    for path, found in problems.items():
        for p in found:
            unique.setdefault(p, path)
    report = "\n".join(f"{path}: {p}" for p, path in unique.items())
    assert not problems, "interface text outside gettext:\n" + report


class _Anything:
    """Stands for whatever an email template asks of its context: one of everything, shown as nothing."""

    def __getattr__(self, name):
        return self

    def __getitem__(self, key):
        return self

    def __call__(self, *args, **kwargs):
        return self

    def __iter__(self):
        return iter([self])

    def __len__(self):
        return 1

    def __int__(self):
        return 2

    def __str__(self):
        return ""

    def __html__(self):
        return ""


def _email_variables() -> set[str]:
    """Every name the email templates take from their context."""
    from jinja2 import Environment, meta

    env = Environment(extensions=["jinja2.ext.i18n"])
    names: set[str] = set()
    for path in (ROOT / "templates" / "email").iterdir():
        names |= meta.find_undeclared_variables(env.parse(path.read_text()))
    return names - {"_", "gettext", "ngettext", "locale"}


EMAILS = ("account_approved", "confirm_email", "digest", "invitation", "notification", "password_reset",
          "signup_awaiting_approval")


@pytest.mark.usefixtures("pseudo_catalog")
@pytest.mark.parametrize("template", EMAILS)
def test_every_email_speaks_only_through_the_catalog(template):
    from forum import emails

    anything = _Anything()
    context = {name: anything for name in _email_variables()}
    text, html_body = emails.render(PSEUDO, template, context)
    assert OPEN in text and OPEN in html_body, "the email was rendered in the pseudo-language"
    plain = _unmarked(text, [])
    parser = _Text()
    parser.feed(html_body)
    rich = _unmarked(" | ".join([*parser.found, *parser.text]), [])
    assert not WORD.findall(plain), plain
    assert not WORD.findall(rich), rich


@pytest.mark.usefixtures("pseudo_catalog")
def test_feeds_speak_only_through_the_catalog(db, settings, make_user, make_category, make_topic):
    from fastapi.testclient import TestClient

    from forum.app import create_app

    settings.default_locale = PSEUDO
    author = make_user("ana", tier="member")
    make_topic(author, make_category("News and events"), title="Assembly in Lisbon")
    with TestClient(create_app(settings, db)) as client:
        for path in ("/latest.rss", "/top.rss", "/posts.rss", "/u/ana/activity.rss"):
            r = client.get(path)
            if r.status_code == 404:
                continue
            assert r.status_code == 200, path
            assert f"<language>{PSEUDO}</language>" in r.text and r.headers["content-language"] == PSEUDO
            for name in ("title", "description"):
                channel = re.search(f"<channel>.*?<{name}>(.*?)</{name}>", r.text, re.DOTALL)
                assert channel is not None
                left = _unmarked(channel.group(1), [settings.site_title, "ana"])
                assert not WORD.findall(left), (path, channel.group(1))
