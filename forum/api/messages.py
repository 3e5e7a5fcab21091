"""Private messages as Discourse serves them: the inbox lists under /topics/private-messages*,
inviting (/t/{id}/invite.json), leaving (/t/{id}/remove-allowed-user.json) and archiving."""

from __future__ import annotations

from typing import Any

from fastapi import Request

from forum import accounts, bookmarks, messages, permissions, reading
from forum.api import serializers
from forum.api.base import DiscourseJSON, ParamsDep, api_router, tr
from forum.deps import SessionDep, SettingsDep, UserViewerDep, ViewerDep, WriteDep
from forum.errors import NotFound, ValidationFailed
from forum.models import Topic
from forum.permissions import Viewer

router = api_router()

MAX_PER_PAGE = 100


def details(session, viewer: Viewer, topic: Topic) -> dict[str, Any]:
    """What a message's topic JSON adds to `details`: who is in it, and what the viewer may change."""
    users, groups = messages.allowed(session, topic)
    return {
        "allowed_users": [serializers.basic_user(u) for u in users],
        "allowed_groups": [{"id": g.id, "name": g.name, "full_name": g.full_name or None,
                            "automatic": g.automatic} for g in groups],
        "can_invite_to": permissions.can_manage_message_people(session, viewer, topic),
        "can_remove_allowed_users": topic.user_id == viewer.id,
        "can_remove_self_id": viewer.id or 0,
    }


def _failed(request: Request, error: ValidationFailed) -> DiscourseJSON:
    return DiscourseJSON({"errors": [tr(request, m) for m in error.messages]}, status_code=422)


def _list(session, viewer: Viewer, settings, params, username: str, box: str, group_name: str | None = None):
    user = accounts.find_user(session, username)
    if user is None or not permissions.can_see_inbox(viewer, user):
        raise NotFound()
    group = messages.group_by_name(session, group_name) if group_name else None
    page = min(max(params.int("page") or 0, 0), 100_000)
    per_page = min(max(params.int("per_page") or settings.topics_per_page, 1), MAX_PER_PAGE)
    topics, more = messages.messages(session, viewer, user, box, group=group, page=page + 1, per_page=per_page)
    path = f"/topics/private-messages{'' if box == 'inbox' else '-' + box}/{user.username}"
    if group is not None:
        path += f"/{group.name}"
    return serializers.topic_list(topics, can_create_topic=permissions.can_send_private_messages(viewer),
                                  per_page=per_page, more_topics_url=f"{path}?page={page + 1}" if more else None,
                                  liked_topic_ids=reading.liked_topic_ids(session, viewer, [t.id for t in topics]),
                                  bookmarked_topic_ids=bookmarks.bookmarked_topic_ids(session, viewer,
                                                                                      [t.id for t in topics]))


@router.get("/topics/private-messages/{username}.json")
def inbox(session: SessionDep, viewer: ViewerDep, settings: SettingsDep, params: ParamsDep, username: str):
    return _list(session, viewer, settings, params, username, "inbox")


@router.get("/topics/private-messages-sent/{username}.json")
def sent(session: SessionDep, viewer: ViewerDep, settings: SettingsDep, params: ParamsDep, username: str):
    return _list(session, viewer, settings, params, username, "sent")


@router.get("/topics/private-messages-archive/{username}.json")
def archive(session: SessionDep, viewer: ViewerDep, settings: SettingsDep, params: ParamsDep, username: str):
    return _list(session, viewer, settings, params, username, "archive")


@router.get("/topics/private-messages-unread/{username}.json")
def unread(session: SessionDep, viewer: ViewerDep, settings: SettingsDep, params: ParamsDep, username: str):
    return _list(session, viewer, settings, params, username, "unread")


@router.get("/topics/private-messages-group/{username}/{group_name}.json")
def group_inbox(session: SessionDep, viewer: ViewerDep, settings: SettingsDep, params: ParamsDep, username: str,
                group_name: str):
    return _list(session, viewer, settings, params, username, "group", group_name)


@router.post("/t/{topic_id:int}/invite.json")
def invite(request: Request, write: WriteDep, viewer: UserViewerDep, settings: SettingsDep, params: ParamsDep,
           topic_id: int):
    name = params.str("user") or params.str("username") or params.str("email")
    group = params.str("group")
    try:
        with write() as tx:
            topic = messages.invite(tx, settings, viewer, topic_id, username=name if not group else None,
                                    group_name=group)
            users, _groups = messages.allowed(tx, topic)
            invited = next((u for u in users if name and u.username_lower == name.strip().lower()), None)
    except ValidationFailed as e:
        return _failed(request, e)
    body: dict[str, Any] = {"success": "OK"}
    if invited is not None:
        body["user"] = serializers.basic_user(invited)
    if group:
        body["group"] = {"name": group}
    return body


@router.put("/t/{topic_id:int}/remove-allowed-user.json")
def remove_allowed_user(request: Request, write: WriteDep, viewer: UserViewerDep, params: ParamsDep, topic_id: int):
    try:
        with write() as tx:
            messages.remove_allowed_user(tx, viewer, topic_id, params.str("username"))
    except ValidationFailed as e:
        return _failed(request, e)
    return {"success": "OK"}


@router.put("/t/{topic_id:int}/archive-message.json")
def archive_message(write: WriteDep, viewer: UserViewerDep, topic_id: int):
    with write() as tx:
        messages.set_archived(tx, viewer, topic_id, True)
    return {"success": "OK", "group_name": None}


@router.put("/t/{topic_id:int}/move-to-inbox.json")
def move_to_inbox(write: WriteDep, viewer: UserViewerDep, topic_id: int):
    with write() as tx:
        messages.set_archived(tx, viewer, topic_id, False)
    return {"success": "OK", "group_name": None}
