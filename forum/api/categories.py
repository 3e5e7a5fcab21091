"""Categories: list, show, create, update, delete. Tiers appear as Discourse groups."""

from __future__ import annotations

from typing import Any

from forum import categories, permissions, reading, tracking
from forum.api import serializers
from forum.api.base import ParamsDep, api_router
from forum.deps import SessionDep, UserViewerDep, ViewerDep, WriteDep
from forum.errors import ValidationFailed
from forum.i18n import _
from forum.models import AUDIENCES, NONE, NORMAL, Category
from forum.permissions import Viewer

router = api_router()

# Groups that stand for staff: staff see and do everything anyway.
STAFF_GROUPS = {"staff", "admins", "moderators"}


def levels_from_permissions(perms: dict[str, Any]) -> dict[str, int]:
    """Discourse's `permissions[<group>]=<1|2|3>` as our level matrix; groups not named get `none`."""
    levels = {audience: NONE for audience in AUDIENCES}
    for group, value in perms.items():
        group = str(group).lower()
        if group in STAFF_GROUPS:
            continue
        audience = "everyone" if group == "everyone" else serializers.GROUP_TIERS.get(group, group)
        if audience not in levels:
            raise ValidationFailed(fields={"permissions": _("Unknown group: %(group)s", group=group)})
        try:
            level = serializers.LEVELS_BY_PERMISSION_TYPE[int(str(value))]
        except (KeyError, ValueError):
            raise ValidationFailed(fields={"permissions": _("Permission types are 1, 2 or 3.")}) from None
        levels[audience] = max(levels[audience], level)
    return levels


def _category_json(session, viewer: Viewer, category: Category) -> dict[str, Any]:
    levels = permissions.category_levels(session, viewer)
    children = [c.id for c in permissions.visible_categories(session, viewer) if c.parent_id == category.id]
    data = serializers.category(category, level=levels.get(category.id, NONE), viewer=viewer,
                                subcategory_ids=children)
    if viewer.user is not None:
        data["notification_level"] = tracking.category_level(session, viewer.user.id, category.id)
    return data


@router.get("/categories.json")
def list_categories(session: SessionDep, viewer: ViewerDep, params: ParamsDep):
    rows = reading.category_list(session, viewer)
    include_subcategories = params.bool("include_subcategories")
    watching = tracking.category_levels_of(session, viewer.id)
    out = []
    for row in rows:
        data = serializers.category(row.category, level=row.level, viewer=viewer,
                                    subcategory_ids=[c.id for c in row.subcategories])
        data["notification_level"] = watching.get(row.category.id, NORMAL)
        if include_subcategories:
            levels = permissions.category_levels(session, viewer)
            data["subcategory_list"] = [
                {**serializers.category(c, level=levels[c.id], viewer=viewer),
                 "notification_level": watching.get(c.id, NORMAL)} for c in row.subcategories]
        out.append(data)
    return {"category_list": {
        "can_create_category": permissions.can_moderate(viewer),
        "can_create_topic": bool(permissions.creatable_categories(session, viewer)),
        "categories": out,
    }}


@router.get("/c/{category_id:int}/show.json")
@router.get("/c/{slug}/{category_id:int}/show.json")
def show_category(session: SessionDep, viewer: ViewerDep, category_id: int):
    category = reading.get_category(session, viewer, category_id)
    return {"category": _category_json(session, viewer, category)}


@router.post("/categories.json")
def create_category(session: SessionDep, write: WriteDep, viewer: UserViewerDep, params: ParamsDep):
    perms = params.dict("permissions")
    levels = levels_from_permissions(perms) if perms else categories.PRESETS["public"]
    with write() as tx:
        category = categories.create_category(
            tx, viewer, name=params.str("name") or "", description=params.str("description") or "",
            color=params.str("color") or "0088CC", parent_id=params.int("parent_category_id"), levels=levels)
        text_color, slug = params.str("text_color"), params.str("slug")
        if text_color or slug:
            categories.update_category(tx, viewer, category.id, text_color=text_color or None, slug=slug or None)
        category_id = category.id
    session.expire_all()
    return {"category": _category_json(session, viewer, session.get(Category, category_id))}


@router.put("/categories/{category_id:int}.json")
def update_category(session: SessionDep, write: WriteDep, viewer: UserViewerDep, params: ParamsDep,
                    category_id: int):
    reading.get_category(session, viewer, category_id)
    perms = params.dict("permissions")
    with write() as tx:
        categories.update_category(tx, viewer, category_id, name=params.str("name"), color=params.str("color"),
                                   text_color=params.str("text_color"), slug=params.str("slug"),
                                   description=params.str("description"))
        if perms:
            categories.set_levels(tx, viewer, category_id, levels_from_permissions(perms))
    session.expire_all()
    return {"success": "OK", "category": _category_json(session, viewer, session.get(Category, category_id))}


@router.delete("/categories/{category_id:int}.json")
def delete_category(session: SessionDep, write: WriteDep, viewer: UserViewerDep, category_id: int):
    reading.get_category(session, viewer, category_id)
    with write() as tx:
        categories.delete_category(tx, viewer, category_id)
    return {"success": "OK"}


@router.post("/category/{category_id:int}/notifications.json")
def category_notification_level(write: WriteDep, viewer: UserViewerDep, params: ParamsDep, category_id: int):
    """pydiscourse's notifications(category_id): the user's watch level for a category."""
    level = tracking.parse_level(params.str("notification_level"))
    with write() as tx:
        category = reading.get_category(tx, viewer, category_id)
        tracking.set_category_level(tx, viewer, category, level)
    return {"success": "OK", "notification_level": level}
