"""Tag pages: /tags, /tag/{name} (and its feed), /tags/c/{slug}/{id}/{name}, watching a tag,
retagging a topic from its page."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from starlette.convertors import StringConvertor, register_url_convertor

from forum import permissions, reading, tracking, urls
from forum import tags as forum_tags
from forum.deps import (
    CsrfDep,
    LimiterDep,
    SessionDep,
    SettingsDep,
    UserViewerDep,
    ViewerDep,
    WriteDep,
    see_other,
)
from forum.errors import ValidationFailed
from forum.web import (
    convertors,  # noqa: F401  ({name:id})
    lists,
)
from forum.web.feeds import _builder, feed_reader, rss_response
from forum.web.templating import render


class TagNameConvertor(StringConvertor):
    """A tag name never holds a dot, so `/tag/italy.json` and `/tag/italy.rss` are not pages."""

    regex = "[^/.]{1,80}"


register_url_convertor("tagname", TagNameConvertor())

router = APIRouter(dependencies=[CsrfDep])
feed_router = APIRouter(tags=["feeds"])


@router.get("/tags")
def tags_page(request: Request, session: SessionDep, viewer: ViewerDep):
    return render(request, "tags/index.html", {"tags": forum_tags.tag_list(session, viewer)})


def _tag_page(request: Request, session, viewer, settings, name: str, page: str, category=None):
    found = forum_tags.visible_tag(session, viewer, name)
    tag = found.tag
    number, per_page = reading.parse_page(page), settings.topics_per_page
    rows = lists.topic_rows(request, session, viewer, lambda: reading.latest_topics(
        session, viewer, page=number, per_page=per_page, category=category, tag_id=tag.id),
        category=category,
        key=("tag", tag.id, tag.name, category.id if category else None, number, per_page))
    context = lists.list_context(session, viewer, rows, category=category)
    return render(request, "tags/show.html", {
        "rows": rows, "tag": tag, "tag_count": found.count, "category": category, **context,
        "tag_level": forum_tags.tag_level(session, viewer.id, tag.id),
        "base_url": urls.tag_category_url(category, tag.name) if category else urls.tag_url(tag.name),
    })


@router.get("/tag/{name:tagname}")
def tag_page(request: Request, session: SessionDep, viewer: ViewerDep, settings: SettingsDep, name: str,
             page: str = "1"):
    return _tag_page(request, session, viewer, settings, name, page)


@router.get("/tags/c/{slug}/{category_id:id}/{name:tagname}")
def tag_in_category_page(request: Request, session: SessionDep, viewer: ViewerDep, settings: SettingsDep,
                         slug: str, category_id: str, name: str, page: str = "1"):
    category = reading.get_category(session, viewer, category_id)
    if slug != category.slug:
        return RedirectResponse(urls.tag_category_url(category, forum_tags.normalize(name)), status_code=301)
    return _tag_page(request, session, viewer, settings, name, page, category=category)


@router.post("/tag/{name:tagname}/notification-level")
def set_tag_level(write: WriteDep, viewer: UserViewerDep, name: str,
                  notification_level: Annotated[str, Form()] = ""):
    level = tracking.parse_level(notification_level)
    with write() as tx:
        tag = forum_tags.set_tag_level(tx, viewer, name, level)
        url = urls.tag_url(tag.name)
    return see_other(url)


@router.post("/t/{topic_id:id}/tags")
def retag_topic(request: Request, session: SessionDep, write: WriteDep, viewer: UserViewerDep,
                settings: SettingsDep, topic_id: str, tags: Annotated[str, Form()] = ""):
    """The topic page's tag form (works without JavaScript): the topic's tags become those named."""
    topic = reading.get_topic(session, viewer, topic_id)
    try:
        with write() as tx:
            forum_tags.retag(tx, settings, viewer, topic.id, forum_tags.parse_names(tags))
    except ValidationFailed as e:
        return render(request, "tags/retag.html", {"topic": topic, "form": {"tags": tags},
                                                   "errors": e.form_errors()}, status_code=e.status_code)
    return see_other(urls.topic_url(topic))


@router.get("/t/{topic_id:id}/tags")
def retag_form(request: Request, session: SessionDep, viewer: UserViewerDep, topic_id: str):
    topic = permissions.ensure_can_retag_topic(session, viewer, reading.get_topic(session, viewer, topic_id))
    names = forum_tags.names_by_topic(session, [topic.id])[topic.id]
    return render(request, "tags/retag.html", {"topic": topic, "form": {"tags": ", ".join(names)}, "errors": {}})


@feed_router.get("/tag/{name:tagname}.rss", response_class=Response)
@feed_router.head("/tag/{name:tagname}.rss", response_class=Response, include_in_schema=False)
def tag_feed(request: Request, session: SessionDep, write: WriteDep, limiter: LimiterDep, settings: SettingsDep,
             name: str):
    tag = forum_tags.by_name(session, name)
    # The token's scope names the tag by id, so a renamed tag keeps its readers' links working.
    viewer, personal = feed_reader(request, session, write, limiter, settings, f"tag:{tag.id if tag else 0}")
    tag = forum_tags.visible_tag(session, viewer, name).tag
    return rss_response(request, _builder(request, session, viewer, settings).tag(tag), settings, personal=personal)
