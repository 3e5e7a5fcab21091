"""RSS 2.0 feeds at Discourse's paths, built on reading.py, so they show exactly what the reader may see.

Every builder takes the viewer the request reads as: anonymous, or the owner of a feed token.
Links are absolute and open the HTML page of the topic or post. Items are capped and there is no
paging: topic lists hold 30 topics, post feeds the 50 newest posts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import format_datetime
from urllib.parse import urlsplit
from xml.etree import ElementTree as ET

from markupsafe import Markup
from sqlalchemy.orm import Session

from forum import events, permissions, proposals, reading, uploads, urls
from forum.config import Settings
from forum.i18n import _, translate, translations
from forum.models import Category, Post, Topic, User, utcnow
from forum.permissions import Viewer

TOPICS_PER_FEED = 30
POSTS_PER_FEED = 50

# Characters XML 1.0 does not allow, even escaped.
_XML_INVALID = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_RELATIVE_URL = re.compile(r'(\s(?:href|src))="/(?!/)')


@dataclass
class FeedItem:
    title: str
    link: str
    description: str
    creator: str
    pub_date: datetime
    guid: str
    updated: datetime
    category: str | None = None
    source_url: str | None = None
    source_title: str | None = None
    flags: dict[str, bool] = field(default_factory=dict)  # discourse:topicPinned and friends
    language: str | None = None  # the post's own (dc:language), where recorded
    enclosure: tuple[str, str, str] | None = None  # (url, length, type): a file anyone may fetch


@dataclass
class Feed:
    title: str
    link: str
    description: str
    items: list[FeedItem]
    category: str | None = None
    built: datetime | None = None
    language: str = "en"

    @property
    def last_build(self) -> datetime:
        """When the content last changed, as far as its timestamps tell: for lastBuildDate and Last-Modified."""
        stamps = [item.updated for item in self.items]
        if self.built is not None:
            stamps.append(self.built)
        return max(stamps) if stamps else datetime(2000, 1, 1, tzinfo=utcnow().tzinfo)


class FeedBuilder:
    """Builds the feeds for one request: one viewer, one site address."""

    def __init__(self, session: Session, viewer: Viewer, settings: Settings, locale: str | None = None):
        self.session, self.viewer, self.settings = session, viewer, settings
        self.locale = locale or settings.default_locale
        self.base = settings.base_url.rstrip("/")
        self.host = urlsplit(self.base).netloc or "forum"
        self.gettext = translations(self.locale).gettext
        self.ngettext = translations(self.locale).ngettext

    def t(self, message) -> str:
        return translate(message, self.gettext)

    def _feed(self, **fields) -> Feed:
        return Feed(language=self.locale, **fields)

    def _category_name(self, topic: Topic) -> str:
        # A private message (its own people's topic feed) has no category.
        return topic.category.name_in(self.locale) if topic.category is not None else ""

    def url(self, path: str) -> str:
        return urls.absolute(self.base, path)

    def post_title(self, post: Post, topic: Topic) -> str:
        """The item title, marked when the reader reads a post others may not (permissions.py, rule 8)."""
        shown = permissions.post_display(self.viewer, post)
        if shown is permissions.PostDisplay.DELETED_MARKED:
            return self.t(_("%(title)s (deleted post)", title=topic.title))
        if shown is permissions.PostDisplay.HIDDEN_MARKED:
            return self.t(_("%(title)s (hidden post)", title=topic.title))
        return topic.title

    def absolutize(self, html: str) -> Markup:
        """Cooked HTML links to /u/… and /t/…; a feed reader needs the full address."""
        # Cooked HTML went through the sanitizer when it was written: safe to put in a description as is.
        return Markup(_RELATIVE_URL.sub(lambda m: f'{m.group(1)}="{self.base}/', html))

    def enclosures(self, post_ids: list[int]) -> dict[int, tuple[str, str, str]]:
        """Post id → its first file as an RSS enclosure, only where a reader with no session may fetch it."""
        return {pid: (self.url(uploads.url(u)), str(u.filesize), u.mime_type)
                for pid, u in uploads.public_files(self.session, post_ids).items()}

    # --- topic lists --------------------------------------------------------------------------

    def _topic_items(self, topics: list[Topic]) -> list[FeedItem]:
        firsts = reading.first_posts(self.session, [t.id for t in topics])
        # Events and proposals name their time in the organiser's zone and in UTC: a feed has no reader's zone.
        event_notes = events.feed_notes(self.session, [t.id for t in topics], self.gettext,
                                        self.locale)
        event_notes |= proposals.feed_notes(self.session, [t.id for t in topics], self.gettext,
                                            self.locale)
        files = self.enclosures([p.id for p in firsts.values() if p is not None])
        items = []
        for topic in topics:
            first = firsts.get(topic.id)
            readable = first is not None and permissions.can_read_post(self.session, self.viewer, first, topic)
            topic_link = self.url(urls.topic_url(topic))
            body = self.absolutize(first.cooked) if readable and first is not None else Markup()
            if topic.id in event_notes:
                body = Markup("<p><strong>{}</strong></p>").format(event_notes[topic.id]) + body
            posts = self.ngettext("%(num)s post", "%(num)s posts", topic.posts_count) % {"num": topic.posts_count}
            people = self.ngettext("%(num)s participant", "%(num)s participants",
                                   topic.participant_count) % {"num": topic.participant_count}
            body += Markup('<p><small>{} - {}</small></p><p><a href="{}">{}</a></p>').format(
                posts, people, topic_link, self.t(_("Read full topic")))
            updated = max(topic.bumped_at, first.updated_at) if first is not None else topic.bumped_at
            items.append(FeedItem(
                title=topic.title, link=topic_link, description=str(body), creator=topic.user.username,
                pub_date=topic.created_at, guid=f"{self.host}-topic-{topic.id}", updated=updated,
                category=self._category_name(topic), source_url=self.url(urls.topic_feed_url(topic)),
                source_title=topic.title,
                flags={"topicPinned": topic.pinned or topic.pinned_globally, "topicClosed": topic.closed,
                       "topicArchived": topic.archived},
                language=first.language if readable and first is not None else None,
                enclosure=files.get(first.id) if readable and first is not None else None,
            ))
        return items

    def latest(self) -> Feed:
        topics = reading.newest_topics(self.session, self.viewer, limit=TOPICS_PER_FEED)
        return self._feed(title=self.t(_("%(site)s - Latest topics", site=self.settings.site_title)),
                    link=self.url("/latest"), description=self.t(_("Latest topics")),
                    items=self._topic_items(topics))

    def top(self, period: str = "all") -> Feed:
        listing = reading.top_topics(self.session, self.viewer, period=period, per_page=TOPICS_PER_FEED)
        return self._feed(title=self.t(_("%(site)s - Top topics", site=self.settings.site_title)),
                    link=self.url("/top" if period == "all" else f"/top/{period}"),
                    description=self.t(_("Top topics")), items=self._topic_items(listing.topics))

    def category(self, category: Category) -> Feed:
        permissions.ensure_can_see_category(self.session, self.viewer, category)
        topics = reading.newest_topics(self.session, self.viewer, category=category, limit=TOPICS_PER_FEED)
        return self._feed(title=f"{category.name_in(self.locale)} - {self.settings.site_title}",
                    link=self.url(urls.category_url(category)),
                    description=category.description_in(self.locale) or self.t(_("Topics in the %(name)s category",
                                                                                   name=category.name_in(self.locale))),
                    items=self._topic_items(topics), category=category.name_in(self.locale))

    def tag(self, tag) -> Feed:
        """The newest topics carrying the tag that the reader may see (the caller checked the tag)."""
        topics = reading.newest_topics(self.session, self.viewer, tag_id=tag.id, limit=TOPICS_PER_FEED)
        return self._feed(title=self.t(_("%(site)s - Topics tagged %(tag)s", site=self.settings.site_title,
                                         tag=tag.name)),
                          link=self.url(urls.tag_url(tag.name)),
                          description=self.t(_("Topics tagged %(tag)s", tag=tag.name)),
                          items=self._topic_items(topics))

    # --- posts --------------------------------------------------------------------------------

    def topic(self, topic: Topic) -> Feed:
        """The topic's newest posts, newest first: a range scan on (topic, post number), whatever its size."""
        # Every post the reader may read, deleted ones marked (the latest posts feed does the same).
        posts = reading.topic_posts(self.session, self.viewer, topic, newest_first=True, limit=POSTS_PER_FEED,
                                    include_deleted=True)
        first = reading.first_post(self.session, topic)
        description = topic.title
        if first is not None and permissions.can_read_post(self.session, self.viewer, first, topic):
            description = first.raw[:500]
        files = self.enclosures([p.id for p in posts if p.deleted_at is None])
        items = []
        for post in posts:
            link = self.url(urls.post_url(topic, post.post_number))
            body = Markup('<p>@{} {}</p><blockquote>{}</blockquote><p><a href="{}">{}</a></p>').format(
                post.user.username, self.t(_("wrote:")), self.absolutize(post.cooked), link,
                self.t(_("Read full topic")))
            items.append(FeedItem(
                title=self.post_title(post, topic), link=link, description=str(body), creator=f"@{post.user.username}",
                pub_date=post.created_at, guid=f"{self.host}-post-{topic.id}-{post.post_number}",
                updated=post.updated_at, category=self._category_name(topic),
                source_url=self.url(urls.topic_feed_url(topic)), source_title=topic.title, language=post.language,
                enclosure=files.get(post.id),
            ))
        return self._feed(title=topic.title, link=self.url(urls.topic_url(topic)), description=description,
                    items=items, category=self._category_name(topic), built=topic.bumped_at)

    def _post_items(self, rows: list[tuple[Post, Topic]]) -> list[FeedItem]:
        files = self.enclosures([post.id for post, _topic in rows if post.deleted_at is None])
        return [FeedItem(
            title=self.post_title(post, topic), link=self.url(urls.post_url(topic, post.post_number)),
            description=str(self.absolutize(post.cooked)), creator=post.user.username, pub_date=post.created_at,
            guid=f"{self.host}-post-{post.id}", updated=post.updated_at, category=self._category_name(topic),
            source_url=self.url(urls.topic_feed_url(topic)), source_title=topic.title, language=post.language,
            enclosure=files.get(post.id),
        ) for post, topic in rows]

    def posts(self) -> Feed:
        rows = reading.newest_posts(self.session, self.viewer, limit=POSTS_PER_FEED)
        return self._feed(title=self.t(_("%(site)s - Latest posts", site=self.settings.site_title)),
                    link=self.url("/latest"), description=self.t(_("Latest posts")), items=self._post_items(rows))

    def user(self, user: User) -> Feed:
        rows = reading.user_posts(self.session, self.viewer, user, limit=POSTS_PER_FEED)
        return self._feed(title=self.t(_("%(site)s - Posts by %(user)s", site=self.settings.site_title, user=user.username)),
                    link=self.url(urls.user_url(user) + "/activity"),
                    description=self.t(_("Posts by %(user)s", user=user.username)), items=self._post_items(rows))


# --- RSS 2.0 ----------------------------------------------------------------------------------

ATOM, DC, DISCOURSE = "http://www.w3.org/2005/Atom", "http://purl.org/dc/elements/1.1/", "http://www.discourse.org/"
for _prefix, _uri in (("atom", ATOM), ("dc", DC), ("discourse", DISCOURSE)):
    ET.register_namespace(_prefix, _uri)


def _clean(value: str) -> str:
    # ElementTree escapes; characters XML cannot hold at all, even escaped, are dropped.
    return _XML_INVALID.sub("", str(value))


def _add(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
    element = ET.SubElement(parent, tag, {k: _clean(v) for k, v in attrs.items()})
    if text is not None:
        element.text = _clean(text)
    return element


def rfc2822(value: datetime) -> str:
    return format_datetime(value.astimezone(utcnow().tzinfo))


def render(feed: Feed, *, self_url: str, language: str) -> bytes:
    rss = ET.Element("rss", {"version": "2.0"})
    channel = _add(rss, "channel")
    _add(channel, "title", feed.title)
    _add(channel, "link", feed.link)
    _add(channel, "description", feed.description)
    _add(channel, "language", language)
    _add(channel, "lastBuildDate", rfc2822(feed.last_build))
    _add(channel, f"{{{ATOM}}}link", href=self_url, rel="self", type="application/rss+xml")
    if feed.category:
        _add(channel, "category", feed.category)
    for entry in feed.items:
        item = _add(channel, "item")
        _add(item, "title", entry.title)
        _add(item, f"{{{DC}}}creator", entry.creator)
        if entry.language:
            _add(item, f"{{{DC}}}language", entry.language)
        if entry.category:
            _add(item, "category", entry.category)
        _add(item, "description", entry.description)
        _add(item, "link", entry.link)
        _add(item, "pubDate", rfc2822(entry.pub_date))
        if entry.enclosure:
            _add(item, "enclosure", url=entry.enclosure[0], length=entry.enclosure[1], type=entry.enclosure[2])
        for name, value in entry.flags.items():
            _add(item, f"{{{DISCOURSE}}}{name}", "Yes" if value else "No")
        _add(item, "guid", entry.guid, isPermaLink="false")
        if entry.source_url:
            _add(item, "source", entry.source_title or "", url=entry.source_url)
    ET.indent(rss, space="")
    return ET.tostring(rss, encoding="utf-8", xml_declaration=True) + b"\n"
