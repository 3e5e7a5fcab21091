"""Posts: create, read, edit, delete; likes and flags through /post_actions; the latest posts."""

from __future__ import annotations

from html import escape

from fastapi import Request

from forum import flags, markdown, messages, permissions, posting, ratelimit, reading, revisions, translations
from forum import tags as forum_tags
from forum.api import decide as api_decide
from forum.api import serializers
from forum.api import topics as api_topics
from forum.api.base import DiscourseJSON, ParamsDep, api_router, empty, tr
from forum.deps import LimiterDep, SessionDep, SettingsDep, UserViewerDep, ViewerDep, WriteDep
from forum.errors import Conflict, Forbidden, ForumError, NotFound, ValidationFailed
from forum.i18n import _
from forum.models import FLAG_TYPES, LIKE, Post, Topic
from forum.permissions import Viewer
from forum.text import clean, parse_id

router = api_router()

NOTIFY_USER = 6  # Discourse's post_action_type_id for a message to the post's author
EXCERPT_LENGTH = 300


def _one_post(session, viewer: Viewer, post: Post, topic: Topic) -> dict:
    liked = post.id in posting.liked_post_ids(session, viewer, [post.id])
    reply_to = None
    if post.reply_to_post_number:
        reply_to = reading.reply_authors(session, topic, {post.reply_to_post_number}).get(post.reply_to_post_number)
    data = serializers.post(session, viewer, post, topic, liked=liked, include_raw=True, reply_to_user=reply_to,
                            edit_reason=revisions.edit_reason(session, post),
                            review=serializers.reviews(session, viewer, [post.id]).get(post.id))
    api_decide.add_to_posts(session, viewer, topic, [post], [data])
    serializers.add_translations(session, viewer, [post], [data])
    return data


def _readable_post(session, viewer: Viewer, post_id: int) -> tuple[Post, Topic]:
    post, topic = posting.get_post(session, post_id)
    permissions.ensure_can_read_post(session, viewer, post, topic)
    return post, topic


def _fresh(session, post_id: int) -> tuple[Post, Topic]:
    session.expire_all()
    return posting.get_post(session, post_id)


# --- reading ----------------------------------------------------------------------------------

@router.get("/posts.json")
def latest_posts(session: SessionDep, viewer: ViewerDep, params: ParamsDep):
    rows = reading.newest_posts(session, viewer, limit=50, before_id=params.int("before"))
    liked = posting.liked_post_ids(session, viewer, [p.id for p, _t in rows])
    latest = []
    for post, topic in rows:
        data = serializers.post(session, viewer, post, topic, liked=post.id in liked, include_raw=True)
        excerpt = markdown.excerpt(post.cooked, EXCERPT_LENGTH)
        data.update(topic_title=topic.title, topic_html_title=escape(topic.title, quote=False),
                    category_id=topic.category_id, excerpt=excerpt, truncated=excerpt.endswith("…"))
        latest.append(data)
    return {"latest_posts": latest}


@router.get("/posts/{post_id:int}.json")
def get_post(session: SessionDep, viewer: ViewerDep, post_id: int):
    post, topic = _readable_post(session, viewer, post_id)
    return _one_post(session, viewer, post, topic)


@router.get("/posts/by_number/{topic_id:int}/{post_number:int}.json")
def get_post_by_number(session: SessionDep, viewer: ViewerDep, topic_id: int, post_number: int):
    topic = reading.get_topic(session, viewer, topic_id)
    post = reading.post_by_number(session, topic, post_number)
    permissions.ensure_can_read_post(session, viewer, post, topic)
    assert post is not None
    return _one_post(session, viewer, post, topic)


# --- writing ----------------------------------------------------------------------------------

def _create_failed(request: Request, error: ValidationFailed) -> DiscourseJSON:
    return DiscourseJSON({"action": "create_post", "errors": [tr(request, m) for m in error.messages]},
                         status_code=422)


def _same_post_again(tx, settings, viewer: Viewer, params, raw: str) -> int | None:
    """The post an API client already made with these very parameters moments ago, if any.

    Discourse memoizes API posts for 120 s: a client that repeats a request (a retry after a lost
    answer) gets the post it made, not a copy and not an error. The same text sent elsewhere is
    still refused by the duplicate-post check.
    """
    posting.lock_author(tx, viewer.user.id)  # two copies of one request sent at once: the second waits
    existing = posting.recent_duplicate(tx, settings, viewer.user.id, raw)
    if existing is None:
        return None
    topic = tx.get(Topic, existing.topic_id)
    if topic is None or not permissions.can_read_post(tx, viewer, existing, topic):
        return None
    if params.str("topic_id"):
        same = (existing.topic_id == params.int("topic_id") and existing.post_number > 1
                and existing.reply_to_post_number == params.int("reply_to_post_number"))
    else:
        same = (existing.post_number == 1
                and topic.category_id == parse_id(params.str("category") or params.str("category_id"))
                and topic.title == clean(params.str("title") or "", single_line=True))
    return existing.id if same else None


@router.post("/posts.json")
def create_post(request: Request, session: SessionDep, write: WriteDep, viewer: UserViewerDep,
                settings: SettingsDep, limiter: LimiterDep, params: ParamsDep):
    raw = params.str("raw") or ""
    topic_id = params.str("topic_id")
    # What the client means to keep private must not be published as an ordinary post.
    if params.bool("whisper"):
        return _create_failed(request, ValidationFailed(_("Whispers are not available on this forum.")))
    private = params.str("archetype") == "private_message" and not topic_id
    api_client = getattr(request.state, "api_key_user", None) is not None
    try:
        with write() as tx:
            post_id = _same_post_again(tx, settings, viewer, params, raw) if api_client and not private else None
            if private:
                post_id = messages.create_private_message(
                    tx, settings, viewer, title=params.str("title") or "", raw=raw,
                    recipients=params.str("target_recipients") or params.str("target_usernames") or "",
                    limiter=limiter, language=params.str("locale")).id
            elif post_id is None and topic_id:
                tid = params.int("topic_id")
                if tid is None or tid <= 0:
                    raise NotFound()
                post_id = posting.create_reply(tx, settings, viewer, topic_id=tid, raw=raw,
                                               reply_to_post_number=params.int("reply_to_post_number"),
                                               limiter=limiter, language=params.str("locale")).id
            elif post_id is None:
                post_id = posting.create_topic(tx, settings, viewer, title=params.str("title") or "", raw=raw,
                                               category_id=params.str("category") or params.str("category_id"),
                                               limiter=limiter, language=params.str("locale"),
                                               tags=forum_tags.parse_names(params.list("tags"))).id
    except ValidationFailed as e:
        return _create_failed(request, e)
    post, topic = _fresh(session, post_id)
    data = _one_post(session, viewer, post, topic)
    if params.bool("nested_post"):
        return {"action": "create_post", "post": data}
    return data


@router.put("/posts/{post_id:int}.json")
def update_post(request: Request, session: SessionDep, write: WriteDep, viewer: UserViewerDep, settings: SettingsDep,
                params: ParamsDep, post_id: int):
    raw = params.str("post", "raw")
    if raw is None:
        raw = params.str("raw")
    if raw is None:
        raise ForumError(_("param is missing or the value is empty: post"))
    reason = params.str("post", "edit_reason") or params.str("edit_reason") or ""
    original = params.str("post", "original_text")
    _readable_post(session, viewer, post_id)
    try:
        with write() as tx:
            if original is not None:
                current, _topic = posting.get_post(tx, post_id)
                if current.raw != original:
                    raise Conflict(_("This post was changed by someone else while you were editing it."))
            posting.edit_post(tx, settings, viewer, post_id=post_id, raw=raw, title=params.str("title"),
                              reason=reason, language=params.str("post", "locale") or params.str("locale"))
    except ValidationFailed as e:
        return DiscourseJSON({"errors": [tr(request, m) for m in e.messages], "error_type": e.error_type},
                             status_code=422)
    post, topic = _fresh(session, post_id)
    return {"post": _one_post(session, viewer, post, topic)}


@router.delete("/posts/{post_id:int}.json")
def delete_post(session: SessionDep, write: WriteDep, viewer: UserViewerDep, post_id: int):
    _readable_post(session, viewer, post_id)
    with write() as tx:
        posting.delete_post(tx, viewer, post_id=post_id)
    return empty()


@router.get("/posts/{post_id:int}/replies.json")
def post_replies(session: SessionDep, viewer: ViewerDep, post_id: int):
    post, topic = _readable_post(session, viewer, post_id)
    replies = api_topics.posts_json(session, viewer, topic, reading.post_replies(session, viewer, post, topic),
                                    include_raw=False)
    for reply in replies:
        # Discourse's reply serializer says these too; flag review is not a separate record here.
        reply.setdefault("can_see_hidden_post", permissions.can_moderate(viewer))
        reply.setdefault("reviewable_id", None)
        reply.setdefault("reviewable_score_count", 0)
        reply.setdefault("reviewable_score_pending_count", 0)
        # Discourse's reply summaries say only whether the viewer may act (like) now.
        reply["actions_summary"] = [{"id": a["id"], "can_act": bool(a.get("can_act"))}
                                    for a in reply["actions_summary"]]
    return replies


# --- likes (and flags) ------------------------------------------------------------------------

def _action_type(params) -> int:
    type_id = params.int("post_action_type_id")
    if type_id is None:
        raise ForumError(_("param is missing or the value is empty: post_action_type_id"))
    return type_id


@router.post("/post_actions.json")
def create_post_action(session: SessionDep, write: WriteDep, viewer: UserViewerDep, limiter: LimiterDep,
                       params: ParamsDep):
    post_id = params.int("id")
    if post_id is None:
        raise ForumError(_("param is missing or the value is empty: id"))
    type_id = _action_type(params)
    _readable_post(session, viewer, post_id)
    if type_id == NOTIFY_USER:
        # Discourse sends this "flag" as a private message to the author; this forum has no private
        # messages, so it refuses rather than pretend (flag 7 reaches the moderators instead).
        raise ValidationFailed(_("Messages to a post's author are not available on this forum: private messages "
                                 "do not exist here. Flag the post for the moderators instead (post_action_type_id "
                                 "7, with a message)."))
    if type_id in FLAG_TYPES:
        try:
            with write() as tx:
                flags.flag_post(tx, viewer, post_id=post_id, flag_type=type_id, message=params.str("message") or "")
        except Conflict as e:
            raise Forbidden(*e.messages) from None
        post, topic = _fresh(session, post_id)
        if not permissions.can_read_post(session, viewer, post, topic):
            return empty()  # the flag hid the post from its flagger
        return _one_post(session, viewer, post, topic)
    if type_id != LIKE:
        raise Forbidden(_("This kind of post action is not available."))
    try:
        with write() as tx:
            posting.like_post(tx, viewer, post_id=post_id, limiter=limiter)
            used = ratelimit.likes_used(limiter, tx, viewer.user.id)
    except Conflict as e:
        raise Forbidden(*e.messages) from None
    post, topic = _fresh(session, post_id)
    response = DiscourseJSON(_one_post(session, viewer, post, topic))
    response.headers["Discourse-Actions-Remaining"] = str(max(ratelimit.LIKES_PER_DAY - used, 0))
    response.headers["Discourse-Actions-Max"] = str(ratelimit.LIKES_PER_DAY)
    return response


@router.delete("/post_actions/{post_id:int}.json")
def destroy_post_action(session: SessionDep, write: WriteDep, viewer: UserViewerDep, params: ParamsDep,
                        post_id: int):
    type_id = params.int("post_action_type_id") or LIKE
    _readable_post(session, viewer, post_id)
    if type_id != LIKE:
        raise NotFound()
    with write() as tx:
        posting.unlike_post(tx, viewer, post_id=post_id)
    post, topic = _fresh(session, post_id)
    return _one_post(session, viewer, post, topic)


@router.get("/post_action_users.json")
def post_action_users(session: SessionDep, viewer: ViewerDep, params: ParamsDep):
    post_id = params.int("id")
    if post_id is None:
        raise ForumError(_("param is missing or the value is empty: id"))
    type_id = params.int("post_action_type_id") or LIKE
    post, topic = _readable_post(session, viewer, post_id)
    users = reading.post_likers(session, viewer, post, topic) if type_id == LIKE else []
    return {"post_action_users": [{**serializers.basic_user(u), "post_url": None} for u in users],
            "total_rows_post_action_users": len(users)}



# --- linked translations (forum/translations.py) ---------------------------------------------------

@router.post("/posts/{post_id:int}/translations.json")
def create_translation(request: Request, session: SessionDep, write: WriteDep, viewer: UserViewerDep,
                       settings: SettingsDep, limiter: LimiterDep, params: ParamsDep, post_id: int):
    """`{"locale": "es", "raw": "…"}`: a translation of the post, answered with the post as it now is."""
    _readable_post(session, viewer, post_id)
    try:
        with write() as tx:
            translations.create(tx, settings, viewer, post_id=post_id, language=params.str("locale"),
                                raw=params.str("raw") or "", limiter=limiter)
    except ValidationFailed as e:
        return DiscourseJSON({"errors": [tr(request, m) for m in e.messages]}, status_code=422)
    post, topic = _fresh(session, post_id)
    return {"post": _one_post(session, viewer, post, topic)}


@router.put("/translations/{translation_id:int}.json")
def update_translation(request: Request, session: SessionDep, write: WriteDep, viewer: UserViewerDep,
                       settings: SettingsDep, params: ParamsDep, translation_id: int):
    _t, post, _topic = translations.get_readable(session, viewer, translation_id)
    try:
        with write() as tx:
            translations.edit(tx, settings, viewer, translation_id=translation_id, raw=params.str("raw") or "")
    except ValidationFailed as e:
        return DiscourseJSON({"errors": [tr(request, m) for m in e.messages]}, status_code=422)
    post, topic = _fresh(session, post.id)
    return {"post": _one_post(session, viewer, post, topic)}


@router.delete("/translations/{translation_id:int}.json")
def delete_translation(session: SessionDep, write: WriteDep, viewer: UserViewerDep, translation_id: int):
    translations.get_readable(session, viewer, translation_id)
    with write() as tx:
        translations.remove(tx, viewer, translation_id=translation_id)
    return empty()
