"""Topic lists and topics: /latest.json, /top.json, /c/….json, /t/….json, /t/{id}/posts.json."""

from __future__ import annotations

from html import escape
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request

from forum import (
    accounts,
    bookmarks,
    markdown,
    merges,
    moderation,
    permissions,
    posting,
    reading,
    tracking,
    urls,
    visits,
)
from forum import tags as forum_tags
from forum.api import bookmarks as api_bookmarks
from forum.api import decide as api_decide
from forum.api import messages as api_messages
from forum.api import serializers
from forum.api.base import ParamsDep, api_router, empty
from forum.deps import SessionDep, SettingsDep, UserViewerDep, ViewerDep, WriteDep, client_ip, read_up_to_for
from forum.errors import Forbidden, ForumError, NotFound
from forum.i18n import _
from forum.models import PRIVATE_MESSAGE, Post, Topic, User
from forum.permissions import Viewer
from forum.text import parse_id

router = api_router()

CHUNK_SIZE = 20
EXCERPT_LENGTH = 300
MAX_PER_PAGE = 100


def _paging(params, settings) -> tuple[int, int]:
    page = params.int("page") or 0
    per_page = params.int("per_page") or settings.topics_per_page
    return min(max(page, 0), 100_000), min(max(per_page, 1), MAX_PER_PAGE)


def _more_url(path: str, params, page: int) -> str:
    query = {k: v for k, v in params.data.items() if isinstance(v, str) and k not in ("page", "api_key")}
    query["page"] = str(page + 1)
    return f"{path}?{urlencode(query)}"


def _listing_json(session, viewer: Viewer, listing: reading.TopicList, *, page: int, path: str, params,
                  can_create: bool, extra: dict[str, Any] | None = None,
                  with_excerpts: bool = False) -> dict[str, Any]:
    topics = listing.pinned + listing.topics
    more = _more_url(path, params, page) if listing.has_more else None
    excerpts = None
    if with_excerpts:
        # Discourse's category lists carry each topic's excerpt (`always_include_topic_excerpts`).
        by_id = {t.id: t for t in topics}
        firsts = reading.first_posts(session, list(by_id))
        excerpts = {tid: markdown.excerpt(p.cooked, EXCERPT_LENGTH) if permissions.can_read_post(
            session, viewer, p, by_id[tid]) else "" for tid, p in firsts.items()}
    return serializers.topic_list(topics, can_create_topic=can_create, per_page=listing.per_page,
                                  more_topics_url=more, extra=extra, excerpts=excerpts,
                                  tags=forum_tags.names_by_topic(session, [t.id for t in topics]),
                                  liked_topic_ids=reading.liked_topic_ids(session, viewer, [t.id for t in topics]),
                                  bookmarked_topic_ids=bookmarks.bookmarked_topic_ids(session, viewer,
                                                                                      [t.id for t in topics]),
                                  featured=reading.frequent_posters(session, viewer, topics))


# --- lists ------------------------------------------------------------------------------------

@router.get("/latest.json")
def latest(session: SessionDep, viewer: ViewerDep, settings: SettingsDep, params: ParamsDep):
    page, per_page = _paging(params, settings)
    listing = reading.latest_topics(session, viewer, page=page + 1, per_page=per_page,
                                    order=params.str("order") or "default", ascending=params.bool("ascending"),
                                    status=params.str("status"))
    return _listing_json(session, viewer, listing, page=page, path="/latest", params=params,
                         can_create=bool(permissions.creatable_categories(session, viewer)))


@router.get("/top.json")
@router.get("/top/{period}.json")
def top(session: SessionDep, viewer: ViewerDep, settings: SettingsDep, params: ParamsDep,
        period: str | None = None):
    period = period or params.str("period") or "all"
    if period not in reading.TOP_PERIODS:
        raise NotFound()
    page, per_page = _paging(params, settings)
    listing = reading.top_topics(session, viewer, period=period, page=page + 1, per_page=per_page)
    path = "/top" if period == "all" else f"/top/{period}"
    return _listing_json(session, viewer, listing, page=page, path=path, params=params,
                         can_create=bool(permissions.creatable_categories(session, viewer)),
                         extra={"for_period": period})


def _category_topics(session, viewer, settings, params, category_id: int):
    category = reading.get_category(session, viewer, category_id)
    page, per_page = _paging(params, settings)
    listing = reading.latest_topics(session, viewer, page=page + 1, per_page=per_page, category=category,
                                    order=params.str("order") or "default", ascending=params.bool("ascending"),
                                    status=params.str("status"))
    return _listing_json(session, viewer, listing, page=page, path=urls.category_url(category), params=params,
                         can_create=permissions.can_create_topic(session, viewer, category),
                         extra={"filter": f"c/{category.slug}/{category.id}/l/latest"}, with_excerpts=True)


@router.get("/c/{category_id:int}.json")
@router.get("/c/{slug}/{category_id:int}.json")
@router.get("/c/{parent}/{slug}/{category_id:int}.json")
@router.get("/c/{slug}/{category_id:int}/l/{filter}.json")
def category_topics(session: SessionDep, viewer: ViewerDep, settings: SettingsDep, params: ParamsDep,
                    category_id: int):
    return _category_topics(session, viewer, settings, params, category_id)


@router.get("/c/{slug}/l/{filter}.json")
@router.get("/c/{parent}/{slug}/l/{filter}.json")
def category_topics_by_slug(session: SessionDep, viewer: ViewerDep, settings: SettingsDep, params: ParamsDep,
                            slug: str, parent: str | None = None):
    """pydiscourse's category_latest_topics(name, parent) names categories by slug."""
    category = reading.category_by_slug(session, viewer, slug, parent)
    return _category_topics(session, viewer, settings, params, category.id)


@router.get("/topics/created-by/{username}.json")
def topics_created_by(session: SessionDep, viewer: ViewerDep, settings: SettingsDep, params: ParamsDep,
                      username: str):
    user = accounts.get_user(session, username)
    page, per_page = _paging(params, settings)
    listing = reading.topics_created_by(session, viewer, user, page=page + 1, per_page=per_page)
    return _listing_json(session, viewer, listing, page=page, path=f"/topics/created-by/{user.username}",
                         params=params, can_create=bool(permissions.creatable_categories(session, viewer)))


# --- one topic --------------------------------------------------------------------------------

def posts_json(session, viewer: Viewer, topic: Topic, posts: list[Post], *, include_raw: bool) -> list[dict]:
    liked = posting.liked_post_ids(session, viewer, [p.id for p in posts])
    targets = reading.reply_authors(session, topic, {p.reply_to_post_number for p in posts
                                                     if p.reply_to_post_number})
    reviews = serializers.reviews(session, viewer, [p.id for p in posts])
    data = [serializers.post(session, viewer, p, topic, liked=p.id in liked, include_raw=include_raw,
                             reply_to_user=targets.get(p.reply_to_post_number or 0), review=reviews.get(p.id),
                             in_topic_view=True) for p in posts]
    api_decide.add_to_posts(session, viewer, topic, posts, data)
    api_bookmarks.add_to_posts(session, viewer, posts, data)
    serializers.add_translations(session, viewer, posts, data)
    return data


def topic_view(session, viewer: Viewer, topic: Topic, params, *, near: int | None = None) -> dict[str, Any]:
    show_deleted = permissions.can_see_deleted_posts(viewer) and params.bool("show_deleted")
    chunk = 1000 if params.bool("print") else CHUNK_SIZE
    near = near or params.int("post_number")
    page = params.int("page")
    if near:
        start = max(1, near - 9)
    elif page and page > 1:
        start = (page - 1) * chunk + 1
    else:
        start = 1
    posts = reading.topic_posts(session, viewer, topic, from_number=start, limit=chunk,
                                include_deleted=show_deleted)
    stream = reading.topic_stream(session, viewer, topic, include_deleted=show_deleted)
    include_raw = params.bool("include_raw")
    first = reading.first_post(session, topic)
    participants = reading.topic_participants(session, viewer, topic)
    can_edit = first is not None and permissions.can_edit_post(session, viewer, first, topic)
    last_poster = topic.last_post_user or topic.user
    proposal = api_decide.proposal_json(session, viewer, topic)
    moderator = permissions.can_moderate(viewer)
    view = {
        **({"proposal": proposal} if proposal is not None else {}),
        "post_stream": {"posts": posts_json(session, viewer, topic, posts, include_raw=include_raw),
                        "stream": stream},
        "timeline_lookup": [], "suggested_topics": [],
        # Tag objects here, names in topic lists: as Discourse's API description has them.
        "tags": [{"id": tag_id, "name": name, "slug": name} for tag_id, name in forum_tags.of_topic(session, topic.id)],
        "tags_descriptions": {},
        "id": topic.id, "title": topic.title, "fancy_title": escape(topic.title, quote=False),
        "slug": topic.slug, "posts_count": topic.posts_count, "reply_count": topic.reply_count,
        "created_at": serializers.iso(topic.created_at), "views": topic.views,
        "like_count": topic.like_count, "last_posted_at": serializers.iso(topic.last_posted_at),
        "visible": topic.visible, "closed": topic.closed, "archived": topic.archived,
        "has_summary": False, "archetype": topic.archetype, "category_id": topic.category_id,
        "word_count": None, "deleted_at": serializers.iso(topic.deleted_at), "user_id": topic.user_id,
        "pinned": topic.pinned or topic.pinned_globally, "pinned_globally": topic.pinned_globally,
        "highest_post_number": topic.highest_post_number, "chunk_size": chunk,
        "participant_count": topic.participant_count, "draft_key": f"topic_{topic.id}", "draft_sequence": 0,
        "actions_summary": [], "bookmarked": bookmarks.topic_bookmarked(session, viewer, topic.id), "unpinned": None, "featured_link": None,
        "current_post_number": near or (posts[0].post_number if posts else 1),
        "pinned_at": serializers.iso(reading.pinned_at(session, topic)), "pinned_until": None,
        "deleted_by": _deleted_by(session, topic, first),
        "has_deleted": moderator and reading.has_deleted_posts(session, topic),
        "slow_mode_seconds": topic.slow_mode_seconds, "slow_mode_enabled_until": None,
        # What the forum has no notion of, with Discourse's neutral values.
        "image_url": None, "thumbnails": None, "draft": None, "bookmarks": [], "topic_timer": None,
        "message_bus_last_id": 0, "show_read_indicator": False,
        "details": {
            "created_by": serializers.basic_user(topic.user),
            "last_poster": serializers.basic_user(last_poster),
            "participants": [{**serializers.list_user(u), "post_count": n} for u, n in participants],
            "can_edit": can_edit,
            "can_delete": first is not None and permissions.can_delete_post(session, viewer, first, topic),
            "can_create_post": permissions.can_reply_topic(session, viewer, topic),
            "can_reply_as_new_topic": permissions.can_reply_topic(session, viewer, topic),
            "can_flag_topic": permissions.can_flag_topic(session, viewer, topic), "can_moderate": moderator,
            "notification_level": 1, "notifications_reason_id": None,
            # Staff do every moderation on every topic here; there is no per-category moderator.
            "can_moderate_category": moderator, "can_review_topic": moderator, "can_close_topic": moderator,
            "can_archive_topic": moderator, "can_pin_unpin_topic": moderator,
            "can_toggle_topic_visibility": moderator, "can_move_posts": moderator,
            "can_split_merge_topic": moderator,
            # No private messages (nothing to convert to, no allowed users) and no staff notes.
            "can_convert_topic": False, "can_remove_allowed_users": False, "can_remove_self_id": 0,
            "can_edit_staff_notes": False,
        },
    }
    if viewer.user is not None:
        view["details"]["notification_level"] = tracking.topic_level(session, viewer.user.id, topic)
    if topic.archetype == PRIVATE_MESSAGE:
        view["details"].update(api_messages.details(session, viewer, topic))
    return view


def _deleted_by(session, topic: Topic, first: Post | None) -> dict[str, Any] | None:
    """Who deleted the topic (its first post): only staff see a deleted topic at all."""
    if topic.deleted_at is None or first is None or first.deleted_by_id is None:
        return None
    user = session.get(User, first.deleted_by_id)
    return serializers.basic_user(user) if user is not None else None


def _track_visit(request: Request, session, write, viewer: Viewer, topic: Topic, params) -> None:
    """A view of a topic's JSON counts only when the client asks, as in Discourse: `track_visit=true`,
    or the `Discourse-Track-View` header of its web app. It then counts like a page view: once per
    viewer (account, or address) per window, however often they reload, and a signed-in viewer's
    visit shows in "seen by". Reading positions move with /topics/timings, not here."""
    header = (request.headers.get("discourse-track-view") or "").strip().lower()
    if params.bool("track_visit") or header not in ("", "0", "false"):
        visits.record_topic_visit(session, write, viewer, topic, who=visits.visitor_key(viewer, client_ip(request)),
                                  read_up_to=read_up_to_for(request, 0), limiter=request.app.state.limiter)


def _topic_or_post_number(session, viewer: Viewer, first: str, second: int) -> tuple[Topic, int | None]:
    """`/t/{a}/{b}.json` is Discourse's `/t/{topic_id}/{post_number}` when `a` is a number,
    unless `b` is a topic the viewer sees whose slug is `a`."""
    if first.isdigit():
        by_slug = session.get(Topic, second)
        if by_slug is not None and by_slug.slug == first and permissions.can_see_topic(session, viewer, by_slug):
            return by_slug, None
        return merges.get_topic(session, viewer, first, second), second
    return merges.get_topic(session, viewer, second), None


@router.get("/t/{topic_id:int}.json")
def topic_by_id(request: Request, session: SessionDep, write: WriteDep, viewer: ViewerDep, params: ParamsDep,
                topic_id: int):
    topic = merges.get_topic(session, viewer, topic_id)  # a merged topic's address moves (301)
    _track_visit(request, session, write, viewer, topic, params)
    return topic_view(session, viewer, topic, params)


@router.get("/t/{first}/{second:int}.json")
def topic_by_slug(request: Request, session: SessionDep, write: WriteDep, viewer: ViewerDep, params: ParamsDep,
                  first: str, second: int):
    # A wrong slug is served, not redirected: API clients do not follow redirects.
    topic, near = _topic_or_post_number(session, viewer, first, second)
    _track_visit(request, session, write, viewer, topic, params)
    return topic_view(session, viewer, topic, params, near=near)


@router.get("/t/{slug}/{topic_id:int}/{post_number:int}.json")
def topic_at_post(request: Request, session: SessionDep, write: WriteDep, viewer: ViewerDep, params: ParamsDep,
                  topic_id: int, post_number: int):
    topic = merges.get_topic(session, viewer, topic_id, post_number)
    _track_visit(request, session, write, viewer, topic, params)
    return topic_view(session, viewer, topic, params, near=max(post_number, 1))


@router.get("/t/{topic_id:int}/posts.json")
def topic_posts(session: SessionDep, viewer: ViewerDep, params: ParamsDep, topic_id: int):
    topic = reading.get_topic(session, viewer, topic_id)
    ids = [int(i) for i in params.list("post_ids") if i.isdigit() and len(i) <= 10]
    include_raw = params.bool("include_raw")
    if ids:
        posts = reading.topic_posts(session, viewer, topic, post_ids=ids, limit=1000)
    else:
        start = params.int("post_number") or 1
        posts = reading.topic_posts(session, viewer, topic, from_number=max(start, 1), limit=CHUNK_SIZE)
    if params.str("asc") == "false":
        posts = list(reversed(posts))
    return {"id": topic.id, "post_stream": {"posts": posts_json(session, viewer, topic, posts,
                                                                include_raw=include_raw)}}


@router.delete("/t/{topic_id:int}.json")
def delete_topic(write: WriteDep, session: SessionDep, viewer: ViewerDep, topic_id: int):
    topic = reading.get_topic(session, viewer, topic_id)
    first = reading.first_post(session, topic)
    if first is None:
        raise NotFound()
    with write() as tx:
        posting.delete_post(tx, viewer, post_id=first.id)
    return empty()



@router.post("/t/{topic_id:int}/notifications.json")
def topic_notification_level(write: WriteDep, viewer: UserViewerDep, params: ParamsDep, topic_id: int):
    """Watching a topic: 3 watching, 2 tracking, 1 normal, 0 muted (Discourse's levels)."""
    level = tracking.parse_level(params.str("notification_level"))
    with write() as tx:
        tracking.set_topic_level(tx, viewer, reading.get_topic(tx, viewer, topic_id), level)
    return {"success": "OK"}


@router.put("/t/{topic_id:int}/status.json")
def update_topic_status(session: SessionDep, write: WriteDep, viewer: UserViewerDep, params: ParamsDep,
                        topic_id: int):
    reading.get_topic(session, viewer, topic_id)
    status = params.str("status") or ""
    with write() as tx:
        moderation.set_topic_status(tx, viewer, topic_id, status, params.bool("enabled"))
    return {"success": "OK", "topic_status_update": None}


@router.put("/t/{slug}/{topic_id:int}.json")
@router.put("/t/{topic_id:int}.json")
def update_topic(session: SessionDep, write: WriteDep, viewer: UserViewerDep, settings: SettingsDep,
                 params: ParamsDep, topic_id: int):
    """Discourse's `{"topic": {"title", "category_id"}}`, or pydiscourse's update_topic(url, title) form.
    A new title is an edit of the first post (its author or staff); moving the topic to another
    category is a moderator's action."""
    topic = reading.get_topic(session, viewer, topic_id)
    title = params.str("topic", "title") or params.str("title")
    category_id = params.str("topic", "category_id") or params.str("category_id")
    # `tags[]` (an empty `tags` clears them): Discourse retags through this same call.
    retagging = params.get("tags") is not None or params.get("topic", "tags") is not None
    if retagging:
        names = forum_tags.parse_names(params.list("tags") or params.list("topic", "tags"))
        with write() as tx:
            forum_tags.retag(tx, settings, viewer, topic.id, names)
        if title is None and category_id is None:
            session.expire_all()
            topic = reading.get_topic(session, viewer, topic_id)
            return {"basic_topic": {"id": topic.id, "title": topic.title,
                                    "fancy_title": escape(topic.title, quote=False), "slug": topic.slug,
                                    "posts_count": topic.posts_count, "tags": names}}
    if title is None and category_id is None:
        raise ForumError(_("param is missing or the value is empty: topic"))
    moving = category_id is not None and parse_id(category_id) != topic.category_id
    if moving and not permissions.can_moderate(viewer):
        raise Forbidden(_("Only moderators move topics to another category."))
    first = reading.first_post(session, topic)
    if first is None:
        raise NotFound()
    with write() as tx:
        if title is not None:
            posting.edit_post(tx, settings, viewer, post_id=first.id, raw=first.raw, title=title)
        if moving:
            moderation.move_topic(tx, viewer, topic.id, category_id or "")
    session.expire_all()
    topic = reading.get_topic(session, viewer, topic_id)
    return {"basic_topic": {"id": topic.id, "title": topic.title, "fancy_title": escape(topic.title, quote=False),
                            "slug": topic.slug, "posts_count": topic.posts_count}}


@router.post("/topics/timings.json")
def topic_timings(write: WriteDep, viewer: UserViewerDep, params: ParamsDep):
    """Reading progress: the posts named in `timings[N]` have been read."""
    numbers = [int(n) for n in params.dict("timings") if str(n).isdigit() and len(str(n)) <= 9]
    topic_id = params.int("topic_id")
    if topic_id is None:
        raise ForumError(_("param is missing or the value is empty: topic_id"))
    if numbers:
        with write() as tx:
            topic = reading.get_topic(tx, viewer, topic_id)
            tracking.mark_read(tx, viewer, topic, max(numbers))
    return empty()
