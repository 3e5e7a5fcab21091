"""A person's activity: GET /user_actions.json?username=&filter=1,4,5&offset= (pydiscourse's user_actions)."""

from __future__ import annotations

from typing import Any

from forum import accounts, markdown, useractions
from forum.api import serializers
from forum.api.base import ParamsDep, api_router
from forum.deps import SessionDep, ViewerDep
from forum.errors import ForumError
from forum.i18n import _
from forum.models import User

router = api_router()


def _action(action: useractions.UserAction, owner: User) -> dict[str, Any]:
    post, topic, actor, author = action.post, action.topic, action.acting_user, action.post.user
    return {
        "action_type": action.action_type, "created_at": serializers.iso(action.created_at),
        "excerpt": markdown.excerpt(post.cooked, 300), "locale": post.language,
        # The post's author; the acting user (who started, replied or liked); and whose activity it is.
        "username": author.username, "name": author.name or None, "user_id": author.id,
        "avatar_template": serializers.avatar_template(author),
        "acting_username": actor.username, "acting_name": actor.name or None, "acting_user_id": actor.id,
        "acting_avatar_template": serializers.avatar_template(actor),
        "target_username": owner.username, "target_name": owner.name or None, "target_user_id": owner.id,
        "topic_id": topic.id, "slug": topic.slug, "title": topic.title, "category_id": topic.category_id,
        "closed": topic.closed, "archived": topic.archived,
        "post_id": post.id, "post_number": post.post_number, "reply_to_post_number": post.reply_to_post_number,
        "post_type": serializers.POST_TYPES["regular"], "action_code": None,
        "deleted": post.deleted_at is not None or topic.deleted_at is not None, "hidden": post.hidden,
        "edit_reason": None,
    }


@router.get("/user_actions.json")
def user_actions(session: SessionDep, viewer: ViewerDep, params: ParamsDep):
    username = params.str("username")
    if not username:
        raise ForumError(_("param is missing or the value is empty: username"))
    user = accounts.get_user(session, username)
    actions = useractions.stream(session, viewer, user, action_types=useractions.parse_filter(params.str("filter")),
                                 offset=params.int("offset") or 0, limit=params.int("limit") or 30)
    return {"user_actions": [_action(a, user) for a in actions]}
