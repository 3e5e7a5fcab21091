"""The demo's content, read from the TOML files in forum/demo/data/.

- users.toml: the accounts (tier, staff flags, the role the summary shows, a profile time zone);
- categories.toml: the categories, with each audience's level or a preset;
- topics/*.toml: one discussion per file, created in file-name order;
- proposal.toml, meetup.toml: the proposal and the online meet-up (forum/demo/deciding.py).

A topic file has `category`, `title`, `start` and `end` (days ago of its first and last post),
optional `pinned`/`pinned_globally`, and its `[[posts]]`: `author`, `raw` (Markdown), and optionally
`reply_to` (a post number), `quote` (`{ post = n, passage = "..." }`, a passage of an earlier post)
and `likes`. Titles and posts may name dates relative to the day the demo is loaded:
`{ago:7}` and `{ahead:11}` are the nearest weekday that many days before or after it, written
"Tuesday 3 March"; `{assembly:%B %Y}` and `{assembly.year}` the General Assembly in five months;
`{webinar:day}`, `{eoi_deadline:day}` and `{newsletter_month}` what their names say. Literal braces
are doubled (`{{`). TOPIC_URL in a post becomes the path of its own topic.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from forum.categories import PRESETS
from forum.models import LEVELS_BY_NAME

DATA = Path(__file__).resolve().parent / "data"
TOPIC_URL = "TOPIC_URL"  # replaced by the topic's own path once it exists


@dataclass(frozen=True)
class DemoUser:
    username: str
    name: str
    email: str
    tier: str
    role: str
    moderator: bool = False
    admin: bool = False
    timezone: str | None = None


@dataclass(frozen=True)
class DemoCategory:
    key: str
    name: str
    description: str
    color: str
    levels: dict[str, int]
    parent: str | None = None


@dataclass
class P:
    """One post: its author, its text, and optionally the post it answers or quotes."""

    author: str
    raw: str
    reply_to: int | None = None
    quote: tuple[int, str] | None = None  # (post number, the quoted passage of that post)
    likes: int | None = None  # how many people like it; None lets chance decide


@dataclass
class T:
    category: str
    title: str
    start: float  # days ago of the first post
    end: float  # days ago of the last post
    posts: list[P]
    pinned: bool = False
    pinned_globally: bool = False
    tags: list[str] = field(default_factory=list)


@dataclass
class Written:
    """A demo topic once written: its spec, its topic and post ids, and later the times given to them."""

    spec: T
    topic_id: int
    post_ids: list[int] = field(default_factory=list)
    times: list[datetime] = field(default_factory=list)


def read(name: str) -> dict[str, Any]:
    with (DATA / name).open("rb") as f:
        return tomllib.load(f)


def _category(data: dict[str, Any]) -> DemoCategory:
    levels = PRESETS[data.pop("preset")] if "preset" in data else {
        audience: LEVELS_BY_NAME[level] for audience, level in data.pop("levels").items()}
    return DemoCategory(levels=levels, **data)


USERS: tuple[DemoUser, ...] = tuple(DemoUser(**u) for u in read("users.toml")["users"])
ADMIN = next(u.username for u in USERS if u.admin)
CATEGORIES: tuple[DemoCategory, ...] = tuple(_category(c) for c in read("categories.toml")["categories"])


# --- dates in the text ----------------------------------------------------------------------------

def _day(moment: datetime) -> str:
    return f"{moment:%A} {moment.day} {moment:%B}"


def weekday(moment: datetime, step: int) -> datetime:
    """The same day if it is a weekday, else the nearest weekday in the direction of `step`."""
    while moment.weekday() >= 5:
        moment += timedelta(days=step)
    return moment


class Moment:
    """A date for str.format: `{x:day}` writes "Tuesday 3 March", other specs are strftime's."""

    def __init__(self, moment: datetime):
        self.moment = moment

    def __getattr__(self, name: str) -> Any:
        return getattr(self.moment, name)

    def __format__(self, spec: str) -> str:
        return _day(self.moment) if spec == "day" else format(self.moment, spec)


class _Days:
    """`{ago:7}`, `{ahead:11}`: the nearest weekday that many days from now, as a day."""

    def __init__(self, now: datetime, step: int):
        self.now, self.step = now, step

    def __format__(self, spec: str) -> str:
        return _day(weekday(self.now + self.step * timedelta(days=float(spec)), self.step))


def values(now: datetime) -> dict[str, Any]:
    return {
        "ago": _Days(now, -1),
        "ahead": _Days(now, 1),
        "assembly": Moment(now + timedelta(days=150)),
        "webinar": Moment(weekday(now + timedelta(days=9), 1)),
        "eoi_deadline": Moment(weekday(now + timedelta(days=16), 1)),
        "newsletter_month": f"{now - timedelta(days=15):%B}",
    }


# --- topics ---------------------------------------------------------------------------------------

def topic(data: dict[str, Any], values: dict[str, Any]) -> T:
    posts = [P(author=p["author"], raw=p["raw"].strip("\n").format(**values), reply_to=p.get("reply_to"),
               quote=(p["quote"]["post"], p["quote"]["passage"]) if "quote" in p else None,
               likes=p.get("likes")) for p in data["posts"]]
    return T(category=data["category"], title=data["title"].format(**values), start=data["start"],
             end=data["end"], posts=posts, pinned=data.get("pinned", False),
             pinned_globally=data.get("pinned_globally", False), tags=list(data.get("tags", [])))


def topics(now: datetime) -> list[T]:
    given = values(now)
    return [topic(read(f"topics/{path.name}"), given) for path in sorted((DATA / "topics").glob("*.toml"))]
