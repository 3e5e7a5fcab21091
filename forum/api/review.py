"""Discourse's review queue API: GET /review.json, GET /review/{id}.json, GET /review/count.json and
PUT /review/{id}/perform/{action}.json. Staff only; everyone else gets 404, as on the pages.

The queue holds two kinds of items, as in Discourse: `ReviewableFlaggedPost` (a post with pending
flags) and `ReviewableUser` (a sign-up waiting for approval). There is no table of reviewables: an
item's id is derived from what it is about, 2n for the flags on post n and 2n+1 for the sign-up of
user n, so it stays the same while the item waits and comes back when new flags arrive (Discourse
keeps one reviewable per post too). Actions run the services the review page runs (forum/flags.py,
forum/user_admin.py), with the same moderation log entries. Discourse's `agree_and_suspend` and
`agree_and_silence` agree and keep the post, as there: the penalty itself is
`PUT /admin/users/{id}/suspend` or `/silence`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from forum import flags, moderation, permissions, urls, user_admin
from forum.api import serializers
from forum.api.base import ParamsDep, api_router
from forum.deps import SessionDep, SettingsDep, ViewerDep, WriteDep
from forum.errors import Conflict, Forbidden, ForumError, NotFound, ValidationFailed
from forum.i18n import _
from forum.models import FLAG_NAMES, Post, Topic, User
from forum.permissions import Viewer
from forum.text import parse_id

router = api_router()

PER_PAGE = 10
FLAGGED, SIGNUP = "ReviewableFlaggedPost", "ReviewableUser"
TYPES = (FLAGGED, SIGNUP)
# Discourse's reviewable statuses.
PENDING, APPROVED, REJECTED, IGNORED = 0, 1, 2, 3
STATUS_NAMES = {APPROVED: "approved", REJECTED: "rejected", IGNORED: "ignored"}

# action -> (flags.review decision, what happens to the post, status afterwards)
FLAG_ACTIONS = {
    "agree_and_hide": ("agree", "hide", APPROVED),
    "agree_and_keep": ("agree", "keep", APPROVED),
    "agree_and_keep_hidden": ("agree", "keep", APPROVED),
    "agree_and_suspend": ("agree", "keep", APPROVED),
    "agree_and_silence": ("agree", "keep", APPROVED),
    "agree_and_edit": ("agree", "keep", APPROVED),
    "delete_and_agree": ("agree", "delete", APPROVED),
    "disagree": ("disagree", "", REJECTED),
    "disagree_and_restore": ("disagree", "", REJECTED),
    "ignore": ("defer", "", IGNORED),
    "ignore_and_do_nothing": ("defer", "", IGNORED),
    "delete_and_ignore": ("defer", "delete", IGNORED),
}
SIGNUP_ACTIONS = {"approve_user": APPROVED, "reject_user_delete": REJECTED}
ACTION_LABELS = {
    "agree_and_hide": _("Agree and hide the post"),
    "agree_and_keep": _("Agree and keep the post"),
    "agree_and_keep_hidden": _("Agree and keep the post hidden"),
    "delete_and_agree": _("Agree and delete the post"),
    "disagree": _("Disagree"),
    "disagree_and_restore": _("Disagree and show the post again"),
    "ignore_and_do_nothing": _("Set the flags aside"),
    "delete_and_ignore": _("Set the flags aside and delete the post"),
    "approve_user": _("Approve the account"),
    "reject_user_delete": _("Reject and delete the account"),
}


def _flag_item_id(post_id: int) -> int:
    return serializers.flagged_post_reviewable_id(post_id)


def _signup_item_id(user_id: int) -> int:
    return user_id * 2 + 1


@dataclass
class Item:
    kind: str
    post: Post | None = None
    topic: Topic | None = None
    user: User | None = None

    @property
    def id(self) -> int:
        if self.kind == FLAGGED:
            assert self.post is not None
            return _flag_item_id(self.post.id)
        assert self.user is not None
        return _signup_item_id(self.user.id)


def _version(session, item: Item) -> int:
    """Goes up whenever someone flags the post again, so a decision taken on a stale view is refused."""
    if item.kind == SIGNUP:
        return 0
    assert item.post is not None
    return flags.flag_count(session, item.post.id)


def _actions(item: Item) -> list[str]:
    if item.kind == SIGNUP:
        return list(SIGNUP_ACTIONS)
    assert item.post is not None
    if item.post.hidden:
        return ["agree_and_keep_hidden", "delete_and_agree", "disagree_and_restore", "ignore_and_do_nothing",
                "delete_and_ignore"]
    return ["agree_and_hide", "agree_and_keep", "delete_and_agree", "disagree", "ignore_and_do_nothing",
            "delete_and_ignore"]


def _item_json(session, item: Item, users: dict[int, User]) -> dict[str, Any]:
    actions = [{"id": a, "label": str(ACTION_LABELS[a])} for a in _actions(item)]
    base: dict[str, Any] = {"id": item.id, "type": item.kind, "status": PENDING, "version": _version(session, item),
                            "can_edit": False, "actions": actions, "bundled_action_ids": [a["id"] for a in actions]}
    if item.kind == SIGNUP:
        user = item.user
        assert user is not None
        users[user.id] = user
        return {**base, "target_id": user.id, "target_type": "User", "target_created_by_id": user.id,
                "created_by_id": user.id, "created_at": serializers.iso(user.created_at), "score": 0.0,
                "topic_id": None, "category_id": None, "target_url": None,
                "payload": {"username": user.username, "name": user.name or None, "email": user.email},
                "reviewable_scores": []}
    post, topic = item.post, item.topic
    assert post is not None and topic is not None
    pending = flags.pending_flags(session, post.id)
    users[post.user_id] = post.user
    for _flag, flagger in pending:
        users[flagger.id] = flagger
    scores = [{"id": f.id, "score": 1.0, "status": PENDING, "reviewable_score_type": f.flag_type,
               "score_type": FLAG_NAMES.get(f.flag_type), "reason": f.message or None, "user_id": u.id,
               "created_at": serializers.iso(f.created_at)} for f, u in pending]
    return {**base, "target_id": post.id, "target_type": "Post", "target_created_by_id": post.user_id,
            "created_by_id": pending[0][1].id if pending else None,
            "created_at": serializers.iso(pending[0][0].created_at) if pending else None,
            "score": float(len(pending)), "topic_id": topic.id, "category_id": topic.category_id,
            "topic_url": urls.topic_url(topic), "target_url": urls.post_url(topic, post.post_number),
            "post_number": post.post_number, "topic_title": topic.title, "raw": post.raw, "cooked": post.cooked,
            "hidden": post.hidden, "deleted_at": serializers.iso(post.deleted_at), "reviewable_scores": scores}


def _count(session) -> int:
    return flags.pending_count(session) + user_admin.pending_signup_count(session)


def _find(session, viewer: Viewer, reviewable_id: int) -> Item:
    permissions.ensure_can_moderate(viewer)
    target = reviewable_id // 2
    if reviewable_id % 2 == 0:
        post = session.get(Post, target) if target else None
        if post is None or not flags.pending_flags(session, post.id):
            raise NotFound()
        return Item(FLAGGED, post=post, topic=session.get(Topic, post.topic_id))
    user = session.get(User, target) if target else None
    if user is None or user.approved:
        raise NotFound()
    return Item(SIGNUP, user=user)


def _id_param(value: str) -> int:
    number = parse_id(value)
    if number is None:
        raise NotFound()
    return number


@router.get("/review.json")
def review_list(session: SessionDep, viewer: ViewerDep, params: ParamsDep):
    permissions.ensure_can_moderate(viewer)
    kind = params.str("type") or None
    if kind is not None and kind not in TYPES:
        raise ForumError(_("Parameter type must be one of %(types)s.", types=", ".join(TYPES)))
    status = params.str("status") or "pending"
    if status != "pending":
        raise ForumError(_("Only pending items are listed (status=pending)."))
    offset = max(params.int("offset") or 0, 0) // PER_PAGE * PER_PAGE
    flagged_total = flags.pending_count(session) if kind in (None, FLAGGED) else 0
    signup_total = user_admin.pending_signup_count(session) if kind in (None, SIGNUP) else 0
    items: list[Item] = []
    if offset < flagged_total:
        queue, _more = flags.review_queue(session, viewer, page=offset // PER_PAGE + 1, per_page=PER_PAGE)
        items += [Item(FLAGGED, post=q.post, topic=q.topic) for q in queue]
    room = PER_PAGE - len(items)
    if room > 0 and signup_total:
        waiting = user_admin.pending_signups(session, offset=max(offset - flagged_total, 0), limit=room)
        items += [Item(SIGNUP, user=u) for u in waiting]
    users: dict[int, User] = {}
    reviewables = [_item_json(session, item, users) for item in items]
    total = flagged_total + signup_total
    meta: dict[str, Any] = {"status": status, "type": kind, "total_rows_reviewables": total,
                            "reviewable_count": _count(session),
                            "types": {"created_by": "user", "target_created_by": "user"},
                            "reviewable_types": list(TYPES)}
    if offset + PER_PAGE < total:
        more = f"/review?offset={offset + PER_PAGE}" + (f"&type={kind}" if kind else "")
        meta["load_more_reviewables"] = more
    return {"reviewables": reviewables, "users": [serializers.list_user(u) for u in users.values()],
            "meta": meta}


@router.get("/review/count.json")
def review_count(session: SessionDep, viewer: ViewerDep):
    permissions.ensure_can_moderate(viewer)
    return {"count": _count(session)}


@router.get("/review/{reviewable_id}.json")
def review_show(session: SessionDep, viewer: ViewerDep, reviewable_id: str):
    item = _find(session, viewer, _id_param(reviewable_id))
    users: dict[int, User] = {}
    data = _item_json(session, item, users)
    return {"reviewable": data, "users": [serializers.list_user(u) for u in users.values()]}


@router.put("/review/{reviewable_id}/perform/{action}.json")
def review_perform(session: SessionDep, write: WriteDep, viewer: ViewerDep, settings: SettingsDep,
                   params: ParamsDep, reviewable_id: str, action: str):
    item = _find(session, viewer, _id_param(reviewable_id))
    item_id = item.id
    version = params.int("version")
    if version is None:
        raise ValidationFailed(_("You must supply a version parameter."))
    if version != _version(session, item):
        raise Conflict(_("This item has changed since you loaded it (new flags came in). Reload it and decide again."))
    reason = params.str("reason") or ""
    if item.kind == FLAGGED:
        if action not in FLAG_ACTIONS:
            raise Forbidden(_("“%(action)s” is not an action on flagged posts.", action=action))
        decision, what, status = FLAG_ACTIONS[action]
        assert item.post is not None
        post_id = item.post.id
        with write() as tx:
            if decision == "defer" and what == "delete" and tx.get(Post, post_id).deleted_at is None:
                moderation.delete_post(tx, viewer, post_id, reason=reason)
            flags.review(tx, settings, viewer, post_id=post_id, decision=decision, action=what or "hide",
                         reason=reason)
    else:
        if action not in SIGNUP_ACTIONS:
            raise Forbidden(_("“%(action)s” is not an action on sign-ups.", action=action))
        status = SIGNUP_ACTIONS[action]
        assert item.user is not None
        with write() as tx:
            if status == APPROVED:
                user_admin.approve(tx, settings, viewer, item.user.id)
            else:
                user_admin.reject(tx, viewer, item.user.id, reason=reason)
    session.expire_all()
    return {"reviewable_perform_result": {
        "success": True, "id": item_id, "transition_to": STATUS_NAMES[status], "transition_to_id": status,
        "version": version + 1, "created_post_id": None, "created_post_topic_id": None,
        "remove_reviewable_ids": [item_id], "reviewable_count": _count(session)}}
