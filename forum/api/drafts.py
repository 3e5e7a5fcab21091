"""Drafts as Discourse keeps them: GET/POST /drafts.json, GET/DELETE /drafts/{draft_key}.json.

Every route acts on the caller's own drafts only (forum/drafts.py binds each statement to them).
"""

from __future__ import annotations

import html
from typing import Any

from fastapi import Request

from forum import drafts, urls
from forum.api import serializers
from forum.api.base import DiscourseJSON, ParamsDep, api_router, tr
from forum.deps import LimiterDep, SessionDep, SettingsDep, UserViewerDep, WriteDep
from forum.errors import Forbidden
from forum.i18n import _
from forum.permissions import Viewer

router = api_router()
SUCCESS = {"success": "OK"}


def _listed(viewer: Viewer, item: drafts.Listed) -> dict[str, Any]:
    row, topic, user = item.draft, item.topic, viewer.user
    assert user is not None
    kept = drafts.Kept(row.draft_key, row.sequence, row.data, row.updated_at)
    title = topic.title if topic is not None else kept.fields.get("title")
    category_id = topic.category_id if topic is not None else kept.fields.get("categoryId")
    return {
        "excerpt": html.escape(kept.excerpt(300), quote=False), "created_at": serializers.iso(row.created_at),
        "updated_at": serializers.iso(row.updated_at), "draft_key": row.draft_key, "sequence": row.sequence,
        "draft_username": user.username, "avatar_template": urls.avatar_template(user), "data": row.data,
        "topic_id": topic.id if topic is not None else None, "username": user.username,
        "username_lower": user.username_lower, "name": user.name or None, "user_id": user.id,
        "title": title if isinstance(title, str) else None, "slug": topic.slug if topic is not None else None,
        "category_id": category_id if isinstance(category_id, int) else None,
        "closed": topic.closed if topic is not None else False, "archetype": "regular",
        "archived": topic.archived if topic is not None else False,
    }


@router.get("/drafts.json")
def index(request: Request, session: SessionDep, viewer: UserViewerDep, params: ParamsDep):
    username = params.str("username")
    assert viewer.user is not None
    if username and username.lower() != viewer.user.username_lower:
        raise Forbidden(_("You can only see your own drafts."))
    listed = drafts.stream(session, viewer, offset=params.int("offset") or 0, limit=params.int("limit") or 30)
    return {"drafts": [_listed(viewer, item) for item in listed],
            "no_results_help": tr(request, _("You have no drafts: what you start writing is kept here."))}


@router.get("/drafts/{draft_key}.json")
def show(session: SessionDep, viewer: UserViewerDep, draft_key: str):
    kept = drafts.get(session, viewer, draft_key)
    return {"draft": kept.data, "draft_sequence": kept.sequence}


@router.post("/drafts.json")
def update(session: SessionDep, write: WriteDep, viewer: UserViewerDep, settings: SettingsDep, limiter: LimiterDep,
           params: ParamsDep):
    with write() as tx:
        sequence = drafts.save(tx, settings, viewer, key=params.str("draft_key"), sequence=params.str("sequence"),
                               data=params.str("data"), force=params.bool("force_save"), limiter=limiter)
    return {**SUCCESS, "draft_sequence": sequence}


@router.delete("/drafts/{draft_key}.json")
def destroy(session: SessionDep, write: WriteDep, viewer: UserViewerDep, params: ParamsDep, draft_key: str):
    with write() as tx:
        drafts.clear(tx, viewer, key=draft_key, sequence=params.str("sequence"))
    return DiscourseJSON(SUCCESS)
