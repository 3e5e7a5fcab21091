"""Topic lists and topics: /latest.json, /top.json, /c/….json, /t/….json, /t/{id}/posts.json."""

from __future__ import annotations

from html import escape
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import select
from starlette.requests import Request

from forum import accounts, merges, moderation, permissions, posting, reading, tracking, urls, visits
from forum.api import decide as api_decide
from forum.api import serializers
from forum.api.base import ParamsDep, api_router, empty
from forum.deps import SessionDep, SettingsDep, UserViewerDep, ViewerDep, WriteDep, client_ip, read_up_to_for
from forum.errors import ForumError, NotFound
from forum.i18n import _
from forum.models import Post, Topic
from forum.permissions import Viewer

router = api_router()

CHUNK_SIZE = 20
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
                  can_create: bool, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    topics = listing.pinned + listing.topics
    more = _more_url(path, params, page) if listing.has_more else None
    return serializers.topic_list(topics, can_create_topic=can_create, per_page=listing.per_page,
                                  more_topics_url=more, extra=extra)


# --- lists ------------------------------------------------------------------------------------

@router.get("/latest.json")
def latest(session: SessionDep, viewer: ViewerDep, settings: SettingsDep, params: ParamsDep):
    page, per_page = _paging(params, settings)
    listing = reading.latest_topics(session, viewer, page=page + 1, per_page=per_page,
                                    order=params.str("order") or "default", ascending=params.bool("ascending"))
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
                                    order=params.str("order") or "default", ascending=params.bool("ascending"))
    return _listing_json(session, viewer, listing, page=page, path=urls.category_url(category), params=params,
                         can_create=permissions.can_create_topic(session, viewer, category),
                         extra={"filter": f"c/{category.slug}/{category.id}/l/latest"})


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
    data = [serializers.post(session, viewer, p, topic, liked=p.id in liked, include_raw=include_raw,
                             reply_to_user=targets.get(p.reply_to_post_number or 0)) for p in posts]
    api_decide.add_to_posts(session, viewer, topic, posts, data)
    return data


def topic_view(session, viewer: Viewer, topic: Topic, params, *, near: int | None = None) -> dict[str, Any]:
    show_deleted = viewer.is_staff and params.bool("show_deleted")
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
    first = session.scalar(select(Post).where(Post.topic_id == topic.id, Post.post_number == 1))
    participants = reading.topic_participants(session, viewer, topic)
    can_edit = first is not None and permissions.can_edit_post(session, viewer, first, topic)
    last_poster = topic.last_post_user or topic.user
    proposal = api_decide.proposal_json(session, viewer, topic)
    return {
        **({"proposal": proposal} if proposal is not None else {}),
        "post_stream": {"posts": posts_json(session, viewer, topic, posts, include_raw=include_raw),
                        "stream": stream},
        "timeline_lookup": [], "suggested_topics": [], "tags": [], "tags_descriptions": {},
        "id": topic.id, "title": topic.title, "fancy_title": escape(topic.title, quote=False),
        "slug": topic.slug, "posts_count": topic.posts_count, "reply_count": topic.reply_count,
        "created_at": serializers.iso(topic.created_at), "views": topic.views,
        "like_count": topic.like_count, "last_posted_at": serializers.iso(topic.last_posted_at),
        "visible": topic.visible, "closed": topic.closed, "archived": topic.archived,
        "has_summary": False, "archetype": "regular", "category_id": topic.category_id,
        "word_count": None, "deleted_at": serializers.iso(topic.deleted_at), "user_id": topic.user_id,
        "pinned": topic.pinned or topic.pinned_globally, "pinned_globally": topic.pinned_globally,
        "highest_post_number": topic.highest_post_number, "chunk_size": chunk,
        "participant_count": topic.participant_count, "draft_key": f"topic_{topic.id}", "draft_sequence": 0,
        "actions_summary": [], "bookmarked": False, "unpinned": None, "featured_link": None,
        "current_post_number": near or (posts[0].post_number if posts else 1),
        "details": {
            "created_by": serializers.basic_user(topic.user),
            "last_poster": serializers.basic_user(last_poster),
            "participants": [{**serializers.list_user(u), "post_count": n} for u, n in participants],
            "can_edit": can_edit,
            "can_delete": first is not None and permissions.can_delete_post(session, viewer, first, topic),
            "can_create_post": permissions.can_reply_topic(session, viewer, topic),
            "can_reply_as_new_topic": permissions.can_reply_topic(session, viewer, topic),
            "can_flag_topic": not viewer.is_anonymous, "can_moderate": permissions.can_moderate(viewer),
            "notification_level": 1, "notifications_reason_id": None,
        },
    }


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
    first = session.scalar(select(Post.id).where(Post.topic_id == topic.id, Post.post_number == 1))
    if first is None:
        raise NotFound()
    with write() as tx:
        posting.delete_post(tx, viewer, post_id=first)
    return empty()



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
    """pydiscourse's update_topic(url, title): a new title is an edit of the first post."""
    topic = reading.get_topic(session, viewer, topic_id)
    title = params.str("title")
    if title is None:
        raise ForumError(_("param is missing or the value is empty: title"))
    first = session.scalar(select(Post).where(Post.topic_id == topic.id, Post.post_number == 1))
    if first is None:
        raise NotFound()
    with write() as tx:
        posting.edit_post(tx, settings, viewer, post_id=first.id, raw=first.raw, title=title)
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
