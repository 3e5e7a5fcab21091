"""The one markdown renderer: CommonMark plus tables, strikethrough, fenced code, autolinks and footnotes.

Raw HTML is off in the parser, and the HTML it makes then goes through an allowlist sanitizer
(nh3), so a plugin added later cannot open a hole. `@username` links to the profile when the user
exists; `[quote="name, post:3, topic:7"] … [/quote]` renders a quoted post with its attribution.
Footnotes (`text[^1]` … `[^1]: note`, and inline `^[note]`) are mdit-py-plugins' footnote plugin, as
Discourse renders them: a `<section class="footnotes">` after the post.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from html import escape

import nh3
from markdown_it import MarkdownIt
from markdown_it.rules_block import StateBlock
from markdown_it.rules_inline import StateInline
from mdit_py_plugins.footnote import footnote_plugin

from forum import markdown_decide

MENTION_RE = re.compile(r"@([A-Za-z0-9_][A-Za-z0-9_.-]{0,38}[A-Za-z0-9_]|[A-Za-z0-9_])")
QUOTE_OPEN_RE = re.compile(r"^\[quote(?:=\"([^\"\]]*)\")?\]\s*$", re.IGNORECASE)
QUOTE_CLOSE_RE = re.compile(r"^\[/quote\]\s*$", re.IGNORECASE)
QUOTE_PARAM_RE = re.compile(r"^\s*([^,]+?)\s*(?:,\s*post:(\d+))?\s*(?:,\s*topic:(\d+))?\s*(?:,.*)?$")

ALLOWED_TAGS = {
    "a", "abbr", "aside", "b", "blockquote", "br", "code", "del", "div", "em", "h1", "h2", "h3", "h4",
    "h5", "h6", "hr", "i", "img", "li", "ol", "p", "pre", "s", "section", "span", "strong", "sub", "sup",
    "table", "tbody", "td", "th", "thead", "tr", "ul",
}
ALLOWED_ATTRIBUTES = {
    "a": {"href", "title", "class", "id"},
    "abbr": {"title"},
    "aside": {"class", "data-username", "data-post", "data-topic"},
    "code": {"class"},
    "div": {"class"},
    "hr": {"class"},
    "img": {"src", "alt", "title", "width", "height"},
    "li": {"id", "class"},
    "ol": {"start", "class"},
    "section": {"class"},
    "span": {"class"},
    "sup": {"class"},
    "td": {"style"},
    "th": {"style"},
}
for _tag, _names in markdown_decide.ALLOWED_ATTRIBUTES.items():  # polls and local dates
    ALLOWED_ATTRIBUTES.setdefault(_tag, set()).update(_names)
LINK_REL = "nofollow ugc noopener"
# The only ids a post may carry: its footnotes' and their back-references' (see _footnote_id_prefix).
FOOTNOTE_ID_RE = re.compile(r"fn(?:ref)?-[0-9a-f]{10}-\d{1,4}(?::\d{1,4})?")


@dataclass
class Cooked:
    html: str
    mentions: list[str] = field(default_factory=list)  # usernames that resolved, as written
    quotes: list[tuple[str, int | None, int | None]] = field(default_factory=list)
    polls: list[dict] = field(default_factory=list)  # what each [poll] block says, see markdown_decide
    uploads: list[int] = field(default_factory=list)  # ids of the files it refers to (forum/uploads.py)


def _mention_rule(state: StateInline, silent: bool) -> bool:
    pos = state.pos
    if state.src[pos] != "@":
        return False
    if pos > 0 and (state.src[pos - 1].isalnum() or state.src[pos - 1] in "_.-/@"):
        return False
    match = MENTION_RE.match(state.src, pos)
    if not match:
        return False
    if not silent:
        token = state.push("mention", "", 0)
        token.meta = {"username": match.group(1)}
        token.content = match.group(0)
    state.pos = match.end()
    return True


def _render_mention(self, tokens, idx, options, env) -> str:
    name = tokens[idx].meta["username"]
    known: dict[str, str] = env.get("known_users", {})
    canonical = known.get(name.lower())
    if canonical is None:
        return escape(tokens[idx].content)
    return f'<a class="mention" href="/u/{escape(canonical)}">@{escape(canonical)}</a>'


def _quote_rule(state: StateBlock, start_line: int, end_line: int, silent: bool) -> bool:
    if state.sCount[start_line] - state.blkIndent >= 4:
        return False
    line = state.src[state.bMarks[start_line] + state.tShift[start_line]: state.eMarks[start_line]]
    opening = QUOTE_OPEN_RE.match(line)
    if not opening:
        return False
    depth, next_line = 1, start_line
    while True:
        next_line += 1
        if next_line >= end_line:
            return False  # unclosed: leave it as text
        text = state.src[state.bMarks[next_line] + state.tShift[next_line]: state.eMarks[next_line]]
        if QUOTE_OPEN_RE.match(text):
            depth += 1
        elif QUOTE_CLOSE_RE.match(text):
            depth -= 1
            if depth == 0:
                break
    if silent:
        return True
    params = opening.group(1) or ""
    username, post_number, topic_id = "", None, None
    parsed = QUOTE_PARAM_RE.match(params) if params else None
    if parsed:
        username = parsed.group(1)
        post_number = int(parsed.group(2)) if parsed.group(2) else None
        topic_id = int(parsed.group(3)) if parsed.group(3) else None
    old_parent, old_max = state.parentType, state.lineMax
    state.parentType = "quote"
    token = state.push("bbquote_open", "aside", 1)
    token.meta = {"username": username, "post": post_number, "topic": topic_id}
    token.map = [start_line, next_line]
    state.lineMax = next_line
    state.md.block.tokenize(state, start_line + 1, next_line)
    state.push("bbquote_close", "aside", -1)
    state.parentType, state.lineMax = old_parent, old_max
    state.line = next_line + 1
    return True


def _render_quote_open(self, tokens, idx, options, env) -> str:
    meta = tokens[idx].meta
    env.setdefault("quotes", []).append((meta["username"], meta["post"], meta["topic"]))
    attrs = ' class="quote"'
    title = ""
    if meta["username"]:
        attrs += f' data-username="{escape(meta["username"])}"'
        title = f'<div class="title">{escape(meta["username"])}:</div>'
    if meta["post"]:
        attrs += f' data-post="{meta["post"]}"'
    if meta["topic"]:
        attrs += f' data-topic="{meta["topic"]}"'
    return f"<aside{attrs}>{title}<blockquote>"


def _render_quote_close(self, tokens, idx, options, env) -> str:
    return "</blockquote></aside>\n"


def _emoji_rule(state) -> None:
    """`:tada:` and the other shortcodes Discourse knows become the emoji itself, outside code."""
    import emoji  # at the first text cooked, not at start: a process that only shows pages never needs it

    for token in state.tokens:
        for child in token.children or ():
            if child.type == "text" and ":" in child.content:
                child.content = emoji.emojize(child.content, language="alias")


UPLOAD_PREFIX = "upload://"
SIZE_SUFFIX_RE = re.compile(r"\|(\d{1,5})x(\d{1,5})$")
ATTACHMENT_SUFFIX = "|attachment"


def _upload_tokens(tokens):
    """(token, short name) for every image and link that names an upload (`upload://…`)."""
    stack = list(tokens)
    while stack:
        token = stack.pop()
        if token.children:
            stack.extend(token.children)
        if token.type == "image":
            src = token.attrGet("src") or ""
            if src.startswith(UPLOAD_PREFIX):
                yield token, src[len(UPLOAD_PREFIX):]
        elif token.type == "link_open":
            href = token.attrGet("href") or ""
            if href.startswith(UPLOAD_PREFIX):
                yield token, href[len(UPLOAD_PREFIX):]


def _resolve_uploads(tokens, resolve_uploads) -> list[int]:
    """Point `upload://` images and links at the files' addresses (Discourse's markdown: an image's
    alt text may end in `|WxH`, a file link's text in `|attachment`). Unknown names lead nowhere."""
    found = list(_upload_tokens(tokens))
    if not found or resolve_uploads is None:
        return []
    refs = resolve_uploads({name for _t, name in found})
    used: list[int] = []
    for token, name in found:
        ref = refs.get(name)
        if token.type == "image":
            _size_from_alt(token)
            if ref is not None:
                token.attrSet("src", ref.display_url)
                token.meta["lightbox"] = ref.url
                if ref.width and ref.height and not token.attrGet("width"):
                    token.attrSet("width", str(ref.width))
                    token.attrSet("height", str(ref.height))
        elif ref is not None:
            token.attrSet("href", ref.url)
            token.meta["attachment"] = True
        if ref is not None and ref.id not in used:
            used.append(ref.id)
    _strip_attachment_marks(tokens)
    return used


def _size_from_alt(token) -> None:
    text = "".join(c.content for c in token.children or ())
    m = SIZE_SUFFIX_RE.search(text)
    if not m:
        return
    token.attrSet("width", m.group(1))
    token.attrSet("height", m.group(2))
    for child in reversed(token.children or ()):
        if child.type == "text" and SIZE_SUFFIX_RE.search(child.content):
            child.content = SIZE_SUFFIX_RE.sub("", child.content)
            break


def _strip_attachment_marks(tokens) -> None:
    for token in tokens:
        children = token.children or []
        for i, child in enumerate(children):
            if child.type == "link_open" and child.meta.get("attachment"):
                child.attrSet("class", "attachment")
                for text in children[i + 1:]:
                    if text.type == "link_close":
                        break
                    if text.type == "text" and text.content.endswith(ATTACHMENT_SUFFIX):
                        text.content = text.content[: -len(ATTACHMENT_SUFFIX)]


def _render_image(self, tokens, idx, options, env) -> str:
    html = self.image(tokens, idx, options, env)
    target = tokens[idx].meta.get("lightbox") if tokens[idx].meta else None
    return f'<a class="lightbox" href="{escape(target)}">{html}</a>' if target else html


def _build() -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": False, "linkify": True, "typographer": False,
                                   "langPrefix": "lang-"})
    md.enable(["table", "strikethrough", "linkify"])
    md.use(footnote_plugin)
    md.inline.ruler.before("emphasis", "mention", _mention_rule)
    md.block.ruler.before("fence", "bbquote", _quote_rule, {"alt": ["paragraph", "blockquote", "list"]})
    md.add_render_rule("mention", _render_mention)
    md.add_render_rule("bbquote_open", _render_quote_open)
    md.add_render_rule("bbquote_close", _render_quote_close)
    md.add_render_rule("image", _render_image)
    markdown_decide.register(md)
    md.core.ruler.push("emoji", _emoji_rule)
    return md


_md = _build()


def _mention_names(tokens) -> set[str]:
    names: set[str] = set()
    stack = list(tokens)
    while stack:
        token = stack.pop()
        if token.type == "mention":
            names.add(token.meta["username"].lower())
        if token.children:
            stack.extend(token.children)
    return names


def _attribute_filter(tag: str, name: str, value: str) -> str | None:
    # An id could collide with the page's own (or clobber a global in scripts): footnote ids only.
    if name == "id" and not FOOTNOTE_ID_RE.fullmatch(value):
        return None
    return value


def _footnote_id_prefix(raw: str) -> str:
    # Several posts share a page, each with its own footnote 1: ids are told apart by the post's text.
    return hashlib.sha256(raw.encode()).hexdigest()[:10]


def sanitize(html: str) -> str:
    return nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        attribute_filter=_attribute_filter,
        link_rel=LINK_REL,
        url_schemes={"http", "https", "mailto"},
        filter_style_properties={"text-align"},
        strip_comments=True,
    )


def cook(raw: str, resolve_users: Callable[[Iterable[str]], dict[str, str]] | None = None,
         resolve_uploads: Callable[[Iterable[str]], dict] | None = None) -> Cooked:
    """Render markdown to safe HTML.

    `resolve_users` maps lowercased candidate usernames to their canonical spelling for those that
    exist; mentions of unknown names stay plain text.
    """
    env: dict = {"docId": _footnote_id_prefix(raw)}
    tokens = _md.parse(raw, env)
    candidates = _mention_names(tokens)
    env["known_users"] = resolve_users(candidates) if (candidates and resolve_users) else {}
    uploads = _resolve_uploads(tokens, resolve_uploads)
    html = _md.renderer.render(tokens, _md.options, env)
    return Cooked(html=sanitize(html), mentions=sorted(env["known_users"].values()),
                  quotes=env.get("quotes", []), polls=markdown_decide.polls_in(tokens), uploads=uploads)


def excerpt(cooked_html: str, length: int = 200) -> str:
    """Plain text from cooked HTML, cut at a word boundary."""
    # Footnotes are left out: they come after the post, and would end an excerpt with "↩︎".
    text = nh3.clean(cooked_html, tags=set(), clean_content_tags={"section"})
    text = re.sub(r"\s+", " ", text).strip()
    if len(text) <= length:
        return text
    cut = text[:length].rsplit(" ", 1)[0]
    return cut + "…"
