"""Full-text search: one interface over SQLite FTS5 and PostgreSQL tsvector.

`search(session, viewer, q, page)` is the entry point for the page, `/search.json` and anything else.

How the index keeps hidden categories out of the cost of a search: every indexed word is a stem
prefixed with the post's category (`c0000012` + `cooper`). A search asks the index only for the
prefixes of the categories the viewer may see, so the index never reads entries of other categories,
however many there are. The query still joins posts and topics through
`permissions.visible_posts_clause()`, so a stale index entry (a topic moved since it was indexed)
can only miss, never leak.

Both engines index the same terms, made here in Python (lowercase, accents folded, Snowball stems in
the post's own language, or in the configured default language, `FORUM_DEFAULT_LOCALE`, for posts
from before languages were recorded), so both find the same posts. A query's words are stemmed in
every language the site offers, and a word matches a post when any of its stems does: "cooperativas"
finds a Spanish "cooperativa", "sociétaires" a French "sociétaire", whatever language the reader's
pages are in. Posts are indexed, re-indexed and removed by the posting service in the transaction
that writes them (an edit that only changes a post's language re-indexes it too).

Posts of private messages are indexed under their own prefix (`MESSAGES`, no category has id 0),
which only an `in:messages` (or `in:personal`) search asks for, and that search keeps only the
messages the searcher is in (`permissions.private_messages_clause()`). Every other search asks for
the prefixes of visible categories and joins `Topic.category_id IN (…)`, so it never returns one.
"""

from __future__ import annotations

import html
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import date, datetime, time
from functools import lru_cache

import nh3
from sqlalchemy import Connection, and_, column, delete, func, insert, literal_column, select, table, text
from sqlalchemy.orm import Session

from forum import permissions
from forum.i18n import Text, _
from forum.models import Post, SearchDocument, Tag, Topic, TopicTag, User
from forum.permissions import Viewer
from forum.text import clean
from forum.tracking import user_zone

PER_PAGE = 50
MESSAGES = 0  # the index's "category" of private messages' posts
MAX_TERMS = 10
MAX_QUERY = 300
_WORD_RE = re.compile(r"[^\W_]+")
_TOKEN_RE = re.compile(r'"([^"]*)"|(\S+)')
_STEMMER_LANGUAGES = {
    "en": "english", "es": "spanish", "fr": "french", "de": "german", "it": "italian", "pt": "portuguese",
    "nl": "dutch", "sv": "swedish", "da": "danish", "nb": "norwegian", "no": "norwegian", "fi": "finnish",
    "ca": "catalan", "eu": "basque", "ro": "romanian", "hu": "hungarian", "tr": "turkish", "ru": "russian",
    "el": "greek", "id": "indonesian", "ga": "irish", "lt": "lithuanian",
}


@lru_cache(maxsize=4)
def _stemmer(language: str):
    import snowballstemmer  # at the first search or post, not at start (every language's algorithm)

    return snowballstemmer.stemmer(_STEMMER_LANGUAGES.get(language, "english"))


def _language() -> str:
    from forum.config import get_settings

    return get_settings().default_locale.split("-")[0].lower()


def _fold(word: str) -> str:
    decomposed = unicodedata.normalize("NFKD", word.lower())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def stem(word: str, language: str | None = None) -> str:
    return _stemmer(language or _language()).stemWord(_fold(word))


def words(text_value: str) -> list[str]:
    return _WORD_RE.findall(text_value)


def stems(text_value: str, language: str | None = None) -> list[str]:
    stemmer = _stemmer(language or _language())
    return [s for s in stemmer.stemWords([_fold(w) for w in words(text_value)]) if s]


def prefix(category_id: int) -> str:
    # Fixed width, so "category 1 + word 23x" and "category 12 + word 3x" never make the same term.
    return f"c{category_id:07d}"


def plain_text(cooked: str) -> str:
    return re.sub(r"\s+", " ", html.unescape(nh3.clean(cooked, tags=set()))).strip()


def _terms(category_id: int, text_value: str, language: str | None = None) -> str:
    p = prefix(category_id)
    return " ".join(p + s for s in stems(text_value, language))


# --- keeping the index up to date -------------------------------------------------------------

def _document_values(post_id: int, topic_id: int, category_id: int, post_number: int, title: str,
                     cooked: str, language: str | None = None) -> dict:
    return {
        "post_id": post_id, "topic_id": topic_id, "category_id": category_id,
        "title_terms": _terms(category_id, title, language) if post_number == 1 else "",
        "body_terms": _terms(category_id, plain_text(cooked), language),
    }


def _tsv_expression(dialect: str):
    if dialect != "postgresql":
        return None
    simple = literal_column("'simple'::regconfig")
    return func.setweight(func.to_tsvector(simple, func.coalesce(column("title_terms"), "")), "A").op("||")(
        func.to_tsvector(simple, func.coalesce(column("body_terms"), "")))


def _write(conn_or_session, dialect: str, rows: list[dict]) -> None:
    if not rows:
        return
    ids = [r["post_id"] for r in rows]
    conn_or_session.execute(delete(SearchDocument).where(SearchDocument.post_id.in_(ids)))
    conn_or_session.execute(insert(SearchDocument), rows)
    if dialect == "postgresql":
        conn_or_session.execute(text(
            "UPDATE search_documents SET tsv = setweight(to_tsvector('simple'::regconfig, title_terms), 'A') "
            "|| to_tsvector('simple'::regconfig, body_terms) WHERE post_id = ANY(:ids)"), {"ids": ids})


def _index_category(topic_category_id: int | None) -> int:
    return MESSAGES if topic_category_id is None else topic_category_id


def index_post(session: Session, post: Post, topic: Topic) -> None:
    """Add or refresh one post in the index (in the caller's transaction); deleted posts leave it.
    Private messages (no category) are indexed apart, found only by `in:messages` (module note)."""
    if post.deleted_at is not None or topic.deleted_at is not None:
        remove_post(session, post.id)
        return
    _write(session, session.get_bind().dialect.name,
           [_document_values(post.id, topic.id, _index_category(topic.category_id), post.post_number, topic.title,
                             post.cooked, post.language)])


def remove_post(session: Session, post_id: int) -> None:
    session.execute(delete(SearchDocument).where(SearchDocument.post_id == post_id))


def reindex_topic(session: Session, topic_id: int) -> int:
    """Re-index every live post of a topic: after a move to another category, a retitle or a restore."""
    topic = session.get(Topic, topic_id)
    if topic is None:
        return 0
    session.execute(delete(SearchDocument).where(SearchDocument.topic_id == topic_id))
    if topic.deleted_at is not None:
        return 0
    rows = [_document_values(p.id, topic.id, _index_category(topic.category_id), p.post_number, topic.title, p.cooked,
                             p.language)
            for p in session.scalars(select(Post).where(Post.topic_id == topic_id, Post.deleted_at.is_(None)))]
    _write(session, session.get_bind().dialect.name, rows)
    return len(rows)


def backfill(conn: Connection, *, batch: int = 500) -> int:
    """Index every live post, in batches (the migration that creates the index, `forum reindex-search`).

    Uses only columns that exist since the first schema (and the post's language once it exists), so
    the migration that made the index can run it.
    """
    from sqlalchemy import inspect, null

    dialect = conn.dialect.name
    has_language = any(c["name"] == "language" for c in inspect(conn).get_columns("posts"))
    posts = table("posts", column("id"), column("topic_id"), column("post_number"), column("cooked"),
                  column("deleted_at"), column("language"))
    language = posts.c.language if has_language else null()
    topics = table("topics", column("id"), column("title"), column("category_id"), column("deleted_at"))
    conn.execute(delete(SearchDocument))
    last_id, done = 0, 0
    while True:
        rows = conn.execute(
            select(posts.c.id, posts.c.topic_id, posts.c.post_number, posts.c.cooked, topics.c.title,
                   topics.c.category_id, language.label("language"))
            .join(topics, topics.c.id == posts.c.topic_id)
            .where(posts.c.id > last_id, posts.c.deleted_at.is_(None), topics.c.deleted_at.is_(None))
            .order_by(posts.c.id).limit(batch)).all()
        if not rows:
            return done
        _write(conn, dialect, [_document_values(r.id, r.topic_id, _index_category(r.category_id), r.post_number, r.title, r.cooked,
                                                r.language) for r in rows])
        last_id, done = rows[-1].id, done + len(rows)


# --- queries ----------------------------------------------------------------------------------

@dataclass
class Query:
    text: str
    words: list[str] = field(default_factory=list)
    username: str | None = None
    category_slug: str | None = None
    before: date | None = None
    after: date | None = None
    status: str | None = None
    order: str = "relevance"
    title_only: bool = False
    error: Text | None = None
    # `tags:italy,spain` (either) or `tags:italy+ilo` (both), as Discourse reads them.
    tags: list[str] = field(default_factory=list)
    all_tags: bool = False
    # `in:messages` (or `in:personal`): only the private messages the searcher is in.
    messages: bool = False

    @property
    def has_filters(self) -> bool:
        return bool(self.username or self.category_slug or self.before or self.after or self.status or self.tags
                    or self.messages)


def _parse_date(value: str) -> date | None:
    try:
        return date.fromisoformat(value)
    except ValueError:
        return None


def parse(q: str) -> Query:
    q = clean(q, single_line=True)[:MAX_QUERY]
    query = Query(text=q)
    for quoted, bare in _TOKEN_RE.findall(q):
        if quoted:
            query.words.extend(words(quoted))
            continue
        lower = bare.lower()
        key, _sep, value = lower.partition(":")
        if bare.startswith("@") and len(bare) > 1:
            query.username = lower[1:]
        elif bare.startswith("#") and len(bare) > 1:
            query.category_slug = lower[1:]
        elif lower == "in:title":
            query.title_only = True
        elif lower in ("in:messages", "in:personal"):
            query.messages = True
        elif key in ("in", "category") and value:
            query.category_slug = value
        elif key == "user" and value:
            query.username = value.lstrip("@")
        elif key in ("tags", "tag") and value:
            query.all_tags = "+" in value
            query.tags = [t for t in re.split(r"[,+]", value) if t][:MAX_TERMS]
        elif key in ("before", "after") and value:
            day = _parse_date(value)
            if day is None:
                query.error = _("Dates in a search look like %(example)s.", example=f"{key}:2026-11-25")
            elif key == "before":
                query.before = day
            else:
                query.after = day
        elif key == "status" and value:
            if value not in ("open", "closed"):
                query.error = _("Search by status:open or status:closed.")
            query.status = value
        elif key == "order" and value:
            if value not in ("latest", "relevance"):
                query.error = _("Order results with order:latest (newest first) or leave it out (best first).")
            query.order = value
        else:
            query.words.extend(words(bare))
    query.words = query.words[:MAX_TERMS]
    if not query.error and not query.words and not query.has_filters:
        query.error = _("Type a word to search for.")
    return query


@dataclass
class Hit:
    post: Post
    topic: Topic
    title_html: str
    blurb_html: str


@dataclass
class SearchResult:
    term: str
    posts: list[tuple[Post, Topic]] = field(default_factory=list)
    hits: list[Hit] = field(default_factory=list)
    has_more: bool = False
    page: int = 1
    error: Text | None = None
    query: Query | None = None

    @property
    def topics(self) -> list[Topic]:
        seen: dict[int, Topic] = {}
        for _post, topic in self.posts:
            seen.setdefault(topic.id, topic)
        return list(seen.values())


def _visible_subtree(session: Session, viewer: Viewer, slug: str) -> list[int] | None:
    """Visible category ids matching a slug (with their subcategories); None when there is no such visible one."""
    visible = permissions.visible_categories(session, viewer)
    ids = {c.id for c in visible if c.slug.lower() == slug}
    if not ids:
        return None
    ids |= {c.id for c in visible if c.parent_id in ids}
    return sorted(ids)


def _query_stems(session: Session, query_words: list[str]) -> list[tuple[str, ...]]:
    """Each word of the query (in order, once) with its stems in every language the site offers."""
    from forum import languages
    from forum.config import get_settings

    site = languages.load(session, get_settings())
    # And the language that posts with none recorded were indexed in, so they stay findable after
    # admins change the default or stop offering it.
    codes = list(dict.fromkeys([site.default, *site.offered, _language()]))
    found: dict[str, tuple[str, ...]] = {}
    for word in query_words:
        for w in words(word):
            folded = _fold(w)
            variants = tuple(dict.fromkeys(s for code in codes if (s := _stemmer(code).stemWord(folded))))
            if variants and folded not in found:
                found[folded] = variants
    return list(found.values())


def _match_sqlite(category_ids: list[int], term_stems: list[tuple[str, ...]], title_only: bool) -> str:
    groups = []
    for cid in category_ids:
        p = prefix(cid)
        groups.append("(" + " AND ".join("(" + " OR ".join(f'"{p}{s}"' for s in variants) + ")"
                                         for variants in term_stems) + ")")
    expression = " OR ".join(groups)
    return "{title_terms} : (" + expression + ")" if title_only else expression


def _match_postgres(category_ids: list[int], term_stems: list[tuple[str, ...]], title_only: bool) -> str:
    weight = ":A" if title_only else ""
    return " | ".join("(" + " & ".join("(" + " | ".join(f"{prefix(cid)}{s}{weight}" for s in variants) + ")"
                                       for variants in term_stems) + ")"
                      for cid in category_ids)


def _day_start(day: date, zone) -> datetime:
    return datetime.combine(day, time(0, 0), tzinfo=zone)


def search(session: Session, viewer: Viewer, q: str, page: int = 1) -> SearchResult:
    """Posts matching every word of `q` that the viewer may see, best (or newest) first; `page` counts from 1."""
    query = parse(q)
    page = min(max(page, 1), 1000)
    result = SearchResult(term=query.text, page=page, query=query, error=query.error)
    if query.error:
        return result
    if query.messages:
        # Private messages only, and only those the searcher is in (rule 13); never with a category.
        if query.category_slug:
            return result
        category_ids = [MESSAGES]
        where = and_(permissions.private_messages_clause(viewer), permissions.readable_posts_clause(viewer))
    else:
        category_ids = permissions.visible_category_ids(session, viewer)
        if query.category_slug:
            wanted = _visible_subtree(session, viewer, query.category_slug)
            if wanted is None:
                return result
            category_ids = [c for c in category_ids if c in wanted]
        # MESSAGES is no category: a search outside in:messages never reaches a message's entries.
        category_ids = [c for c in category_ids if c != MESSAGES]
        where = and_(permissions.visible_posts_clause(session, viewer), Topic.category_id.in_(category_ids))
    if not category_ids:
        return result
    term_stems = _query_stems(session, query.words)
    dialect = session.get_bind().dialect.name

    stmt = (select(Post, Topic).join(Topic, Topic.id == Post.topic_id)
            .where(where, Post.deleted_at.is_(None)))
    rank = None
    if term_stems:
        if dialect == "postgresql":
            tsquery = func.to_tsquery(literal_column("'simple'::regconfig"),
                                      _match_postgres(category_ids, term_stems, query.title_only))
            stmt = stmt.join(SearchDocument, SearchDocument.post_id == Post.id).where(
                SearchDocument.tsv.op("@@")(tsquery))
            rank = func.ts_rank(SearchDocument.tsv, tsquery).desc()
        else:
            fts = table("search_fts", column("rowid"))
            stmt = stmt.join(fts, fts.c.rowid == Post.id).where(
                literal_column("search_fts").op("MATCH")(_match_sqlite(category_ids, term_stems, query.title_only)))
            rank = func.bm25(literal_column("search_fts"), 4.0, 1.0).asc()
    elif query.title_only:
        stmt = stmt.where(Post.post_number == 1)
    if query.username:
        stmt = stmt.join(User, User.id == Post.user_id).where(User.username_lower == query.username)
    zone = user_zone(viewer.user)
    if query.after:
        stmt = stmt.where(Post.created_at >= _day_start(query.after, zone))
    if query.before:
        stmt = stmt.where(Post.created_at < _day_start(query.before, zone))
    if query.tags:
        # Only topics the viewer may see are searched, so a hidden tag finds nothing (rule 14).
        tagged = select(TopicTag.topic_id).join(Tag, Tag.id == TopicTag.tag_id)
        if query.all_tags:
            for name in query.tags:
                stmt = stmt.where(Topic.id.in_(tagged.where(Tag.name == name)))
        else:
            stmt = stmt.where(Topic.id.in_(tagged.where(Tag.name.in_(query.tags))))
    if query.status == "open":
        stmt = stmt.where(Topic.closed.is_(False))
    elif query.status == "closed":
        stmt = stmt.where(Topic.closed.is_(True))
    if rank is not None and query.order != "latest":
        stmt = stmt.order_by(rank, Post.created_at.desc(), Post.id.desc())
    else:
        stmt = stmt.order_by(Post.created_at.desc(), Post.id.desc())
    rows = [(p, t) for p, t in session.execute(stmt.offset((page - 1) * PER_PAGE).limit(PER_PAGE + 1))]
    result.posts = rows[:PER_PAGE]
    result.has_more = len(rows) > PER_PAGE
    wanted_stems = {s for variants in term_stems for s in variants}
    result.hits = [Hit(p, t, highlight(t.title, wanted_stems, whole=True, language=p.language),
                       highlight(plain_text(p.cooked), wanted_stems, language=p.language)) for p, t in result.posts]
    return result


def highlight(value: str, wanted: set[str], *, whole: bool = False, length: int = 240,
              language: str | None = None) -> str:
    """Escaped HTML of `value` (or an excerpt around the first match) with matching words in <mark>."""
    matches = [m for m in _WORD_RE.finditer(value) if wanted and stem(m.group(0), language) in wanted]
    start, end = 0, len(value)
    if not whole and len(value) > length:
        first = matches[0].start() if matches else 0
        start = max(0, first - length // 3)
        if start:
            space = value.find(" ", start)
            start = space + 1 if 0 <= space < first else start
        end = min(len(value), start + length)
        if end < len(value):
            space = value.rfind(" ", start, end)
            end = space if space > start else end
    out, pos = [], start
    for m in matches:
        if m.start() < start or m.end() > end:
            continue
        out.append(html.escape(value[pos:m.start()]))
        out.append(f"<mark>{html.escape(m.group(0))}</mark>")
        pos = m.end()
    out.append(html.escape(value[pos:end]))
    return ("…" if start > 0 else "") + "".join(out) + ("…" if end < len(value) else "")



def mention_candidates(session: Session, term: str, limit: int = 8) -> list[User]:
    """Approved accounts whose username starts with `term`, for @mention autocomplete."""
    term = term.strip().lstrip("@").lower()[:40]
    if not term:
        return []
    pattern = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    return list(session.scalars(select(User).where(User.username_lower.like(pattern, escape="\\"),
                                                   User.approved.is_(True))
                                .order_by(User.username_lower).limit(limit)))
