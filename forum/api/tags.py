"""Tags as Discourse serves them: /tags.json, /tag/{name}.json (and within a category), renaming and
deleting a tag, tag groups, and a person's watching level for a tag."""

from __future__ import annotations

from typing import Any

from forum import permissions, reading, tracking, urls
from forum import tags as forum_tags
from forum.api import topics as api_topics
from forum.api.base import ParamsDep, api_router
from forum.deps import SessionDep, SettingsDep, UserViewerDep, ViewerDep, WriteDep
from forum.errors import ForumError, NotFound
from forum.i18n import _
from forum.models import Tag, TagGroup

router = api_router()


def _tag_json(found: forum_tags.TagCount) -> dict[str, Any]:
    return {"id": found.tag.id, "text": found.tag.name, "name": found.tag.name, "count": found.count,
            "pm_count": 0, "target_tag": None}


@router.get("/tags.json")
def tags_index(session: SessionDep, viewer: ViewerDep):
    return {"tags": [_tag_json(t) for t in forum_tags.tag_list(session, viewer)],
            "extras": {"categories": [], "tag_groups": []}}


def _tag_topics(session, viewer, settings, params, name: str, category=None):
    found = forum_tags.visible_tag(session, viewer, name)
    page, per_page = api_topics._paging(params, settings)
    listing = reading.latest_topics(session, viewer, page=page + 1, per_page=per_page, category=category,
                                    tag_id=found.tag.id, order=params.str("order") or "default",
                                    ascending=params.bool("ascending"))
    path = urls.tag_category_url(category, found.tag.name) if category else urls.tag_url(found.tag.name)
    can_create = (permissions.can_create_topic(session, viewer, category) if category
                  else bool(permissions.creatable_categories(session, viewer)))
    data = api_topics._listing_json(session, viewer, listing, page=page, path=path, params=params,
                                    can_create=can_create)
    data["topic_list"]["tags"] = [{"id": found.tag.id, "name": found.tag.name, "topic_count": found.count,
                                   "staff": False}]
    return data


@router.get("/tag/{name}.json")
def tag_topics(session: SessionDep, viewer: ViewerDep, settings: SettingsDep, params: ParamsDep, name: str):
    return _tag_topics(session, viewer, settings, params, name)


@router.get("/tags/c/{slug}/{category_id:int}/{name}.json")
def tag_topics_in_category(session: SessionDep, viewer: ViewerDep, settings: SettingsDep, params: ParamsDep,
                           slug: str, category_id: int, name: str):
    category = reading.get_category(session, viewer, category_id)
    return _tag_topics(session, viewer, settings, params, name, category=category)


@router.put("/tag/{name}.json")
def rename_tag(write: WriteDep, viewer: UserViewerDep, params: ParamsDep, name: str):
    """Discourse's rename: `tag[id]=<new name>`."""
    new_name = params.str("tag", "id") or params.str("id") or params.str("tag", "name")
    if not new_name:
        raise ForumError(_("param is missing or the value is empty: tag"))
    with write() as tx:
        tag = forum_tags.rename_tag(tx, viewer, name, new_name)
        renamed = tag.name
    return {"tag": {"id": renamed, "name": renamed, "description": None}}


@router.delete("/tag/{name}.json")
def delete_tag(write: WriteDep, viewer: UserViewerDep, name: str):
    with write() as tx:
        forum_tags.delete_tag(tx, viewer, name)
    return {"success": "OK"}


@router.put("/tag/{name}/notifications.json")
@router.post("/tag/{name}/notifications.json")
def tag_notification_level(write: WriteDep, viewer: UserViewerDep, params: ParamsDep, name: str):
    level = tracking.parse_level(params.str("tag_notification", "notification_level")
                                 or params.str("notification_level"))
    with write() as tx:
        tag = forum_tags.set_tag_level(tx, viewer, name, level)
        tag_id = tag.id
    return {"notification_level": level, "tag_id": tag_id}


# --- tag groups (staff) -----------------------------------------------------------------------

def _group_json(group: TagGroup, tags: list[Tag], *, with_names: bool = True) -> dict[str, Any]:
    """Discourse's tag group: `tags` as objects (the list), and `tag_names` too (one group)."""
    data: dict[str, Any] = {"id": group.id, "name": group.name,
                            "tags": [{"id": t.id, "name": t.name, "slug": t.name} for t in tags],
                            "parent_tag": [], "one_per_topic": False, "permissions": {"everyone": 1}}
    if with_names:
        data.update(tag_names=[t.name for t in tags], parent_tag_name=[])
    return data


def _group_fields(params) -> tuple[str, list[str] | None]:
    """The group's name, and its tags when the request names them (None: keep those it has)."""
    name = params.str("tag_group", "name") or params.str("name") or ""
    if params.get("tag_group", "tag_names") is None and params.get("tag_names") is None:
        return name, None
    return name, forum_tags.parse_names(params.list("tag_group", "tag_names") or params.list("tag_names"))


@router.get("/tag_groups.json")
def tag_groups(session: SessionDep, viewer: UserViewerDep):
    permissions.ensure_can_manage_tags(viewer)
    return {"tag_groups": [_group_json(g, tags, with_names=False) for g, tags in forum_tags.groups_with_tags(session)]}


@router.get("/tag_groups/{group_id:int}.json")
def tag_group(session: SessionDep, viewer: UserViewerDep, group_id: int):
    permissions.ensure_can_manage_tags(viewer)
    return {"tag_group": _one_group(session, group_id)}


@router.post("/tag_groups.json")
def create_tag_group(session: SessionDep, write: WriteDep, viewer: UserViewerDep, params: ParamsDep):
    name, names = _group_fields(params)
    with write() as tx:
        group_id = forum_tags.save_tag_group(tx, viewer, name=name, tag_names=names or []).id
    return {"tag_group": _one_group(session, group_id)}


@router.put("/tag_groups/{group_id:int}.json")
def update_tag_group(session: SessionDep, write: WriteDep, viewer: UserViewerDep, params: ParamsDep, group_id: int):
    name, names = _group_fields(params)
    with write() as tx:
        forum_tags.save_tag_group(tx, viewer, name=name, tag_names=names, group_id=group_id)
    session.expire_all()
    return {"success": "OK", "tag_group": _one_group(session, group_id)}


@router.delete("/tag_groups/{group_id:int}.json")
def delete_tag_group(write: WriteDep, viewer: UserViewerDep, group_id: int):
    with write() as tx:
        forum_tags.delete_tag_group(tx, viewer, group_id)
    return {"success": "OK"}


def _one_group(session, group_id: int) -> dict[str, Any]:
    for group, tags in forum_tags.groups_with_tags(session):
        if group.id == group_id:
            return _group_json(group, tags)
    raise NotFound()
