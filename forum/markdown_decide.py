"""Markdown rules for polls and local dates, registered by forum/markdown.py.

`[poll …]` … `[/poll]` (Discourse's syntax) becomes a `<div class="poll">` holding the options as a
list; the live poll (forms, results) is put in its place when a page is rendered, from the rows
that forum/polls.py keeps in step with the post. A poll inside a quote or a list is only text, so
quoting a post never creates a second poll.

`[date=2024-12-14 time=15:00 timezone="Europe/London"]` becomes a `<span class="local-date">`
naming the organiser's zone, which pages then show next to the reader's own zone.
"""

from __future__ import annotations

import hashlib
import re
from html import escape

from markdown_it.rules_block import StateBlock
from markdown_it.rules_inline import StateInline

from forum import timezones

_ATTR = r"[A-Za-z_][\w-]*=(?:\"[^\"\n\]]*\"|[^\s\]\"]+)"
POLL_OPEN_RE = re.compile(rf"^\[poll((?:\s+{_ATTR})*)\s*\]\s*$", re.IGNORECASE)
POLL_CLOSE_RE = re.compile(r"^\[/poll\]\s*$", re.IGNORECASE)
ATTR_RE = re.compile(r"([A-Za-z_][\w-]*)=(?:\"([^\"\n\]]*)\"|([^\s\]\"]+))")
OPTION_RE = re.compile(r"^(?:[*+-]|\d{1,3}[.)])\s+(.*\S)\s*$")
TITLE_RE = re.compile(r"^#{1,6}\s+(.*\S)\s*$")
DATE_RE = re.compile(rf"\[date=(\d{{4}}-\d{{2}}-\d{{2}})((?:\s+{_ATTR})*)\s*\]", re.IGNORECASE)


def parse_attrs(text: str) -> dict[str, str]:
    return {key.lower(): (quoted if quoted else bare) for key, quoted, bare in ATTR_RE.findall(text)}


def option_digest(label: str) -> str:
    """A stable id for an option, so that an edit which keeps an option keeps its votes."""
    return hashlib.sha256(" ".join(label.split()).encode()).hexdigest()[:16]


def _line(state: StateBlock, n: int) -> str:
    return state.src[state.bMarks[n] + state.tShift[n]: state.eMarks[n]]


def poll_rule(state: StateBlock, start_line: int, end_line: int, silent: bool) -> bool:
    if state.sCount[start_line] - state.blkIndent >= 4 or state.level > 0:
        return False
    opening = POLL_OPEN_RE.match(_line(state, start_line))
    if not opening:
        return False
    close_line = start_line + 1
    while close_line < end_line:
        text = _line(state, close_line)
        if POLL_CLOSE_RE.match(text):
            break
        if POLL_OPEN_RE.match(text):
            return False  # a poll inside a poll: leave both as text
        close_line += 1
    else:
        return False  # unclosed: leave it as text
    if silent:
        return True
    options: list[str] = []
    title, stray = "", []
    for n in range(start_line + 1, close_line):
        text = _line(state, n).strip()
        if not text:
            continue
        option = OPTION_RE.match(text)
        if option:
            options.append(option.group(1))
            continue
        heading = TITLE_RE.match(text)
        if heading and not options and not title:
            title = heading.group(1)
            continue
        stray.append(text)
    attrs = parse_attrs(opening.group(1))
    token = state.push("poll_open", "div", 1)
    token.map = [start_line, close_line + 1]
    token.meta = {"attrs": attrs, "title": title, "stray": stray,
                  "options": [(option_digest(o), o) for o in options]}
    if title:
        state.push("poll_title_open", "span", 1)
        _inline(state, title, start_line)
        state.push("poll_title_close", "span", -1)
    if options:
        state.push("poll_list_open", "ul", 1)
        for digest, label in token.meta["options"]:
            item = state.push("poll_option_open", "li", 1)
            item.meta = {"digest": digest}
            _inline(state, label, start_line)
            state.push("poll_option_close", "li", -1)
        state.push("poll_list_close", "ul", -1)
    state.push("poll_close", "div", -1)
    state.line = close_line + 1
    return True


def _inline(state: StateBlock, content: str, line: int) -> None:
    token = state.push("inline", "", 0)
    token.content = content
    token.map = [line, line + 1]
    token.children = []


def render_poll_open(self, tokens, idx, options, env) -> str:
    attrs = tokens[idx].meta["attrs"]
    name = escape(attrs.get("name", "poll"))
    kind = escape(attrs.get("type", "regular"))
    return f'<div class="poll" data-poll-name="{name}" data-poll-type="{kind}">'


def render_poll_option_open(self, tokens, idx, options, env) -> str:
    return f'<li data-poll-option-id="{escape(tokens[idx].meta["digest"])}">'


SIMPLE_RENDERERS = {
    "poll_close": "</div>\n",
    "poll_title_open": '<span class="poll-title">',
    "poll_title_close": "</span>",
    "poll_list_open": "<ul>",
    "poll_list_close": "</ul>",
    "poll_option_close": "</li>",
}


def date_rule(state: StateInline, silent: bool) -> bool:
    if state.src[state.pos] != "[":
        return False
    match = DATE_RE.match(state.src, state.pos)
    if not match:
        return False
    meta = parse_local_date(match.group(1), parse_attrs(match.group(2)))
    if meta is None:
        return False
    if not silent:
        token = state.push("local_date", "span", 0)
        token.meta = meta
        token.content = match.group(0)
    state.pos = match.end()
    return True


def parse_local_date(day: str, attrs: dict[str, str]) -> dict | None:
    """The date's meaning, or None when it names no real moment (left as text then)."""
    from datetime import date

    from forum.errors import ValidationFailed

    try:
        date.fromisoformat(day)
    except ValueError:
        return None
    clock = attrs.get("time", "").strip()
    zone_name = attrs.get("timezone", "").strip() or "UTC"
    if not clock:
        return {"date": day, "time": "", "timezone": "", "utc": ""}
    if not timezones.is_valid_zone(zone_name) or len(clock) > 8:
        return None
    try:
        utc = timezones.wall_clock_to_utc(day, clock, zone_name)
    except ValidationFailed:
        return None
    return {"date": day, "time": clock[:5], "timezone": zone_name,
            "utc": utc.isoformat(timespec="seconds").replace("+00:00", "Z")}


def render_local_date(self, tokens, idx, options, env) -> str:
    from datetime import date, datetime

    from babel.dates import format_date

    meta = tokens[idx].meta
    if not meta["utc"]:
        text = format_date(date.fromisoformat(meta["date"]), "EEE d MMM y", locale="en")
        return f'<span class="local-date" data-date="{escape(meta["date"])}">{escape(text)}</span>'
    text = timezones.zoned_text(datetime.fromisoformat(meta["utc"].replace("Z", "+00:00")), meta["timezone"]).full
    return (f'<span class="local-date" data-date="{escape(meta["date"])}" data-time="{escape(meta["time"])}" '
            f'data-timezone="{escape(meta["timezone"])}" data-utc="{escape(meta["utc"])}">{escape(text)}</span>')


def register(md) -> None:
    md.block.ruler.before("fence", "poll", poll_rule, {"alt": ["paragraph"]})
    md.inline.ruler.before("link", "local_date", date_rule)
    md.add_render_rule("poll_open", render_poll_open)
    md.add_render_rule("poll_option_open", render_poll_option_open)
    for name, html in SIMPLE_RENDERERS.items():
        md.add_render_rule(name, lambda self, tokens, idx, options, env, _html=html: _html)
    md.add_render_rule("local_date", render_local_date)


def polls_in(tokens) -> list[dict]:
    return [t.meta for t in tokens if t.type == "poll_open"]


ALLOWED_ATTRIBUTES = {
    "div": {"data-poll-name", "data-poll-type"},
    "li": {"data-poll-option-id"},
    "span": {"data-date", "data-time", "data-timezone", "data-utc"},
}
