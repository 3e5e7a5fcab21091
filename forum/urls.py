"""Canonical URLs, decided once: templates, feeds, emails and redirects all use these."""

from __future__ import annotations

from urllib.parse import quote

from forum import avatars
from forum.models import Category, Topic, User


def topic_url(topic: Topic, post_number: int | None = None) -> str:
    url = f"/t/{topic.slug}/{topic.id}"
    if post_number and post_number > 1:
        url += f"/{post_number}"
    return url


def post_url(topic: Topic, post_number: int) -> str:
    return f"/t/{topic.slug}/{topic.id}/{post_number}"


def topic_page_url(topic: Topic, page: int) -> str:
    return topic_url(topic) + (f"?page={page}" if page > 1 else "")


def category_url(category: Category) -> str:
    return f"/c/{category.slug}/{category.id}"


def user_url(user: User | str) -> str:
    name = user if isinstance(user, str) else user.username
    return f"/u/{quote(name)}"


def avatar_template(user: User | str) -> str:
    """Discourse's `avatar_template` (a literal `{size}`): the person's uploaded picture, or their
    letter avatar, the same everywhere."""
    upload_id = getattr(user, "uploaded_avatar_id", None)
    if upload_id and not isinstance(user, str):
        return f"/user_avatar/default/{quote(user.username.lower(), safe='')}/{{size}}/{upload_id}_2.png"
    return avatars.template(user if isinstance(user, str) else user.username)


def avatar_url(user: User | str, size: int) -> str:
    return avatar_template(user).replace("{size}", str(avatars.nearest_size(size)))


def absolute(base_url: str, path: str) -> str:
    return base_url.rstrip("/") + path


def event_ics_url(event_id: int) -> str:
    return f"/events/{event_id}.ics"


def category_events_url(category: Category) -> str:
    return category_url(category) + "/events"


def category_calendar_url(category: Category) -> str:
    return category_url(category) + "/events.ics"


def topic_feed_url(topic: Topic) -> str:
    return topic_url(topic) + ".rss"


def category_feed_url(category: Category) -> str:
    return category_url(category) + ".rss"


def user_feed_url(user: User | str) -> str:
    return user_url(user) + "/activity.rss"


def tag_url(name: str) -> str:
    return f"/tag/{quote(name, safe='')}"


def tag_feed_url(name: str) -> str:
    return tag_url(name) + ".rss"


def tag_category_url(category: Category, name: str) -> str:
    return f"/tags/c/{category.slug}/{category.id}/{quote(name, safe='')}"
