"""Feed routes: who the request reads as, and conditional GET (ETag, Last-Modified, 304); and /top.

A feed reads as an anonymous visitor unless its URL carries a personal feed token (`?token=`),
or, for Discourse compatibility, an API key (`Api-Key` header or `?api_key=&api_username=`).
The browser's session cookie is ignored on purpose: a feed URL must mean the same thing in a
feed reader as in the browser, and public feeds must be safe to cache.
"""

from __future__ import annotations

import hashlib
from email.utils import format_datetime

from fastapi import APIRouter, Request
from fastapi.responses import Response

from forum import accounts, apikeys, auth, feeds, feedtokens, pagecache, permissions, reading, urls
from forum.deps import LimiterDep, SessionDep, SettingsDep, ViewerDep, WriteDep, client_ip
from forum.errors import NotFound
from forum.models import utcnow
from forum.permissions import Viewer
from forum.web import lists
from forum.web.templating import render

router = APIRouter(tags=["feeds"])

RSS_TYPE = "application/rss+xml; charset=utf-8"


def feed_reader(request: Request, session, write, limiter, settings, scope: str) -> tuple[Viewer, bool]:
    """The viewer a feed request reads as, and whether the answer is personal."""
    token = request.query_params.get("token")
    if token is not None:
        key = f"feed-token-ip:{client_ip(request)}"
        limit, window = settings.feed_token_failures_per_ip, settings.feed_token_failure_window
        limiter.check(session, key, limit, window)
        found = feedtokens.reader_for(session, token, scope)
        if found is None:
            with write() as tx:
                limiter.hit(tx, key, limit, window)
            # A wrong, revoked or other-feed token answers like a missing feed.
            raise NotFound()
        viewer, feed_token = found
        if feedtokens.needs_touch(feed_token):
            with write() as tx:
                feedtokens.touch(tx, feed_token.id)
        return viewer, True
    if request.headers.get("user-api-key") is not None or request.query_params.get("user_api_key") is not None:
        raise apikeys.UserApiKeyRefused()
    api_key = request.headers.get("api-key") or request.query_params.get("api_key")
    if api_key:
        username = request.headers.get("api-username") or request.query_params.get("api_username")
        user_id = request.headers.get("api-user-id")
        _key, user = apikeys.authenticate(session, api_key, username=username, user_id=user_id)
        return Viewer(user=user), True
    return Viewer(), False


def _http_date(value) -> str:
    return format_datetime(value.astimezone(utcnow().tzinfo).replace(microsecond=0), usegmt=True)


def _not_modified(request: Request, etag: str, last_modified) -> bool:
    return pagecache.not_modified(request.headers.get("if-none-match"), request.headers.get("if-modified-since"),
                                  etag, last_modified)


def rss_response(request: Request, feed: feeds.Feed, settings, *, personal: bool) -> Response:
    self_url = urls.absolute(settings.base_url, request.url.path)
    if request.url.query:
        self_url += "?" + request.url.query
    body = feeds.render(feed, self_url=self_url, language=feed.language)
    etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
    last_modified = feed.last_build
    headers = {
        "ETag": etag,
        "Last-Modified": _http_date(last_modified),
        # Readers revalidate every time (a 304 is cheap), so a change of permissions shows at once.
        # Personal feeds stay out of shared caches.
        "Cache-Control": "private, no-cache" if personal else "public, no-cache",
        "X-Robots-Tag": "noindex",
        "Vary": "Api-Key, Api-Username, Accept-Language, Cookie",
        "Content-Language": feed.language,
    }
    if _not_modified(request, etag, last_modified):
        return Response(status_code=304, headers=headers)
    return Response(body, media_type=RSS_TYPE, headers=headers)


def _builder(request: Request, session, viewer, settings) -> feeds.FeedBuilder:
    """Feeds speak the reader's language: the feed owner's profile for private feeds, else the request's."""
    locale = request.app.state.renderer.languages(request).choose(
        profile=viewer.user.locale if viewer.user else None, cookie=request.cookies.get(auth.LOCALE_COOKIE),
        accept_language=request.headers.get("accept-language"))
    return feeds.FeedBuilder(session, viewer, settings, locale=locale)


@router.get("/latest.rss", response_class=Response)
@router.head("/latest.rss", response_class=Response, include_in_schema=False)
def latest_feed(request: Request, session: SessionDep, write: WriteDep, limiter: LimiterDep,
                settings: SettingsDep):
    viewer, personal = feed_reader(request, session, write, limiter, settings, "latest")
    return rss_response(request, _builder(request, session, viewer, settings).latest(), settings, personal=personal)


@router.get("/top.rss", response_class=Response)
@router.head("/top.rss", response_class=Response, include_in_schema=False)
@router.get("/top/{period}.rss", response_class=Response)
@router.head("/top/{period}.rss", response_class=Response, include_in_schema=False)
def top_feed(request: Request, session: SessionDep, write: WriteDep, limiter: LimiterDep,
             settings: SettingsDep, period: str = "all"):
    if period not in reading.TOP_PERIODS:
        raise NotFound()
    viewer, personal = feed_reader(request, session, write, limiter, settings, "top")
    return rss_response(request, _builder(request, session, viewer, settings).top(period), settings, personal=personal)


@router.get("/posts.rss", response_class=Response)
@router.head("/posts.rss", response_class=Response, include_in_schema=False)
def posts_feed(request: Request, session: SessionDep, write: WriteDep, limiter: LimiterDep,
               settings: SettingsDep):
    viewer, personal = feed_reader(request, session, write, limiter, settings, "posts")
    return rss_response(request, _builder(request, session, viewer, settings).posts(), settings, personal=personal)


@router.get("/c/{category_id:int}.rss", response_class=Response)
@router.head("/c/{category_id:int}.rss", response_class=Response, include_in_schema=False)
@router.get("/c/{slug}/{category_id:int}.rss", response_class=Response)
@router.head("/c/{slug}/{category_id:int}.rss", response_class=Response, include_in_schema=False)
@router.get("/c/{parent}/{slug}/{category_id:int}.rss", response_class=Response)
@router.head("/c/{parent}/{slug}/{category_id:int}.rss", response_class=Response, include_in_schema=False)
def category_feed(request: Request, session: SessionDep, write: WriteDep, limiter: LimiterDep,
                  settings: SettingsDep, category_id: int):
    viewer, personal = feed_reader(request, session, write, limiter, settings, f"category:{category_id}")
    category = reading.get_category(session, viewer, category_id)
    return rss_response(request, _builder(request, session, viewer, settings).category(category), settings,
                        personal=personal)


@router.get("/t/{topic_id:int}.rss", response_class=Response)
@router.head("/t/{topic_id:int}.rss", response_class=Response, include_in_schema=False)
@router.get("/t/{slug}/{topic_id:int}.rss", response_class=Response)
@router.head("/t/{slug}/{topic_id:int}.rss", response_class=Response, include_in_schema=False)
def topic_feed(request: Request, session: SessionDep, write: WriteDep, limiter: LimiterDep,
               settings: SettingsDep, topic_id: int):
    viewer, personal = feed_reader(request, session, write, limiter, settings, f"topic:{topic_id}")
    topic = reading.get_topic(session, viewer, topic_id)
    return rss_response(request, _builder(request, session, viewer, settings).topic(topic), settings, personal=personal)


@router.get("/u/{username}/activity.rss", response_class=Response)
@router.head("/u/{username}/activity.rss", response_class=Response, include_in_schema=False)
def user_feed(request: Request, session: SessionDep, write: WriteDep, limiter: LimiterDep,
              settings: SettingsDep, username: str):
    user = accounts.get_user(session, username)
    viewer, personal = feed_reader(request, session, write, limiter, settings, f"user:{user.id}")
    return rss_response(request, _builder(request, session, viewer, settings).user(user), settings, personal=personal)


# --- the page behind /top.rss -----------------------------------------------------------------

@router.get("/top", include_in_schema=False)
@router.get("/top/{period}", include_in_schema=False)
def top_page(request: Request, session: SessionDep, viewer: ViewerDep, settings: SettingsDep,
             period: str = "all", page: str = "1"):
    if period not in reading.TOP_PERIODS:
        raise NotFound()
    rows = lists.topic_rows(request, session, viewer, lambda: reading.top_topics(
        session, viewer, period=period, page=reading.parse_page(page), per_page=settings.topics_per_page),
        with_seen=False)
    base = "/top" if period == "all" else f"/top/{period}"
    return render(request, "latest.html", {
        "rows": rows, "category": None, "top_period": period, "top_base": base,
        "top_feed": base + ".rss", "can_create": bool(permissions.creatable_categories(session, viewer))})
