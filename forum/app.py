"""The application factory: builds the FastAPI app, its middleware, routers and error pages."""

from __future__ import annotations

import gc
import logging
import time
from contextlib import asynccontextmanager

import anyio.to_thread
from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.routing import APIRoute
from sqlalchemy.exc import IntegrityError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.gzip import GZipMiddleware

from forum import STATIC_DIR, __version__, backup, live, mail, merges, observability, outbox, retry, sitestate  # noqa: F401  (mail and backup register their jobs)
from forum.api import ROUTERS as api_routers
from forum.api import AcceptJson
from forum.api import message_bus as api_message_bus
from forum.config import Settings, get_settings
from forum.db import Database
from forum.errors import Busy, Conflict, ForumError, NotFound, RateLimited
from forum.fragments import FragmentCache
from forum.i18n import translate
from forum.pagecache import AnonymousPageCache, ReaderPageCache
from forum.ratelimit import RateLimiter
from forum.web import accounts as web_accounts
from forum.web import admin as web_admin
from forum.web import avatars as web_avatars
from forum.web import bookmarks as web_bookmarks
from forum.web import decide as web_decide
from forum.web import drafts as web_drafts
from forum.web import email_confirmation as web_email_confirmation
from forum.web import feeds as web_feeds
from forum.web import flags as web_flags
from forum.web import follows as web_follows
from forum.web import invites as web_invites
from forum.web import language as web_language
from forum.web import live as web_live
from forum.web import messages as web_messages
from forum.web import meta as web_meta
from forum.web import mod as web_mod
from forum.web import notifications as web_notifications
from forum.web import password_reset as web_password_reset
from forum.web import search as web_search
from forum.web import tag_admin as web_tag_admin
from forum.web import tags as web_tags
from forum.web import tokens as web_tokens
from forum.web import topics as web_topics
from forum.web import translations as web_translations
from forum.web import uploads as web_uploads
from forum.web.assets import Assets
from forum.web.templating import Renderer, render

log = logging.getLogger("forum")

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: https:; "
    "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; "
    "frame-ancestors 'self'"
)
SECURITY_HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"strict-origin-when-cross-origin"),
    (b"x-frame-options", b"SAMEORIGIN"),
]


class SecurityHeaders:
    """Adds the security headers to every response (a plain ASGI middleware: cheap on hot paths)."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                names = {k.lower() for k, _ in message.get("headers", [])}
                message["headers"] = list(message.get("headers", [])) + [
                    (k, v) for k, v in SECURITY_HEADERS if k not in names]
            await send(message)

        await self.app(scope, receive, send_with_headers)


_last_outage_log = [0.0]
OUTAGE_LOG_SECONDS = 60.0


def _log_outage_once(exc: OperationalError) -> None:
    """An unreachable database is said once a minute, in one line, not as a traceback per request."""
    now = time.monotonic()
    if now - _last_outage_log[0] >= OUTAGE_LOG_SECONDS:
        _last_outage_log[0] = now
        first = (str(exc.orig).strip().splitlines() or [type(exc.orig).__name__])[0]
        log.error("the database is unreachable, answering 503: %s", first)


def wants_json(request: Request) -> bool:
    path = request.url.path
    return path.endswith(".json") or "application/json" in request.headers.get("accept", "")


def error_response(request: Request, exc: ForumError) -> Response:
    headers = {}
    if isinstance(exc, RateLimited | Busy):
        headers["Retry-After"] = str(getattr(exc, "retry_after", 5))
    if wants_json(request):
        gettext = request.app.state.renderer.gettext(request)
        body = {"errors": [translate(m, gettext) for m in exc.messages], "error_type": exc.error_type}
        if isinstance(exc, RateLimited):
            # Discourse's shape: API clients (pydiscourse) wait extras.wait_seconds, then retry.
            body["extras"] = {"wait_seconds": exc.retry_after, "time_left": f"{exc.retry_after} seconds"}
            headers["Discourse-Rate-Limit-Error-Code"] = "rate_limit"
        headers["Content-Language"] = request.app.state.renderer.locale(request)
        return JSONResponse(body, status_code=exc.status_code, headers=headers,
                            media_type="application/json; charset=utf-8")
    response = render(request, "error.html", {"error": exc, "form": _submitted_text(request)},
                      status_code=exc.status_code)
    response.headers.update(headers)
    return response


def _submitted_text(request: Request) -> dict[str, str]:
    """What the user typed, so a failed submission never loses it."""
    form = getattr(request.state, "form", None)
    if not form:
        return {}
    return {k: v for k, v in form.items() if k in ("title", "raw") and isinstance(v, str) and v}


def json_not_found(path: str) -> Response:
    raise NotFound()


def request_threads(settings: Settings, db: Database) -> int:
    if settings.threads:
        return settings.threads
    return 4 if db.reads_in_process else 8  # SQLite reads do not wait on a network


def create_app(settings: Settings | None = None, db: Database | None = None) -> FastAPI:
    settings = settings or get_settings()
    db = db or Database(settings)
    @asynccontextmanager
    async def lifespan(app: FastAPI):
        worker = None
        if settings.inprocess_worker:
            worker = outbox.Worker(db, settings)
            worker.start()
        app.state.worker = worker
        # FastAPI runs blocking work in anyio's thread pool (40 threads by default); that many
        # threads taking turns on one interpreter cost more CPU than the pages themselves.
        anyio.to_thread.current_default_thread_limiter().total_tokens = request_threads(settings, db)
        hub = app.state.live
        await hub.start()
        db.live_sink = hub.bus.publish
        live.close_streams_on_signals(hub)
        yield
        if db.live_sink == hub.bus.publish:
            db.live_sink = None
        await hub.stop()
        db.close_async_generation()
        if worker is not None:
            worker.stop()

    observability.configure_logging(settings)
    app = FastAPI(title=settings.site_title, version=__version__, docs_url="/api/docs",
                  redoc_url=None, openapi_url="/api/openapi.json", lifespan=lifespan)
    app.state.settings = settings
    app.state.db = db
    app.state.live = live.Hub(db, settings, live.make_bus(settings))
    # Newest first: the first signs, all of them verify (forum/signing.py).
    app.state.secret_keys = sitestate.secret_keys(db)
    app.state.secret_key = app.state.secret_keys[0]
    app.state.renderer = Renderer(settings, app.state.secret_key)
    app.state.fragments = FragmentCache(settings.anon_cache_seconds, settings.anon_cache_entries)
    app.state.limiter = RateLimiter(settings.redis_url, settings.redis_prefix)

    @app.exception_handler(ForumError)
    async def forum_error(request: Request, exc: ForumError):
        return error_response(request, exc)

    @app.exception_handler(merges.Moved)
    async def merged_topic(request: Request, exc: merges.Moved):
        # A merged topic's old address moves, as in Discourse, to where its posts are now.
        location = exc.location
        return RedirectResponse(location.json_url() if request.url.path.endswith(".json") else location.page_url(),
                                status_code=301)

    @app.exception_handler(OperationalError)
    async def db_busy(request: Request, exc: OperationalError):
        if retry.will_run_again(exc):
            raise exc  # a deadlock or serialization failure: RetryOnConflict sends the request again
        # A busy SQLite, a PostgreSQL conflict that persisted over every attempt, or a PostgreSQL
        # connection lost under the request (a server restart: the pool has been emptied and the
        # next request connects afresh).
        if retry.is_retryable(exc):
            log.warning("%s %s: %s after %s attempt(s), answered busy", request.method, request.url.path,
                        type(exc.orig).__name__, retry.attempt_number())
        unavailable = retry.is_unavailable(exc)
        if unavailable:
            _log_outage_once(exc)
        if (unavailable or retry.is_retryable(exc) or "locked" in str(exc.orig).lower()
                or "busy" in str(exc.orig).lower()):
            err = Busy()
            err.retry_after = 2  # type: ignore[attr-defined]
            return error_response(request, err)
        raise exc

    @app.exception_handler(IntegrityError)
    async def db_conflict(request: Request, exc: IntegrityError):
        # A race lost against a unique index (a double like, a taken username): nothing was written.
        log.info("integrity conflict: %s", exc.orig)
        return error_response(request, Conflict())

    @app.exception_handler(RequestValidationError)
    async def bad_request(request: Request, exc: RequestValidationError):
        return error_response(request, NotFound() if request.method == "GET" else ForumError(
            "Some required information is missing or malformed."))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException):
        if exc.status_code == 404:
            return error_response(request, NotFound())
        err = ForumError(str(exc.detail))
        err.status_code = exc.status_code
        return error_response(request, err)

    app.mount("/static", Assets(directory=str(STATIC_DIR)), name="static")
    # The pages read most come first (routes are tried in order). Their ids match digits only
    # (forum/web/convertors.py), so `.rss`/`.json` paths fall through to the feeds and the API.
    add_routes(app, web_messages.router, web_topics.router, web_avatars.router, web_translations.router,
               web_drafts.router, web_bookmarks.router, web_follows.router, web_notifications.oneclick_router,
               web_notifications.router, web_search.router, web_password_reset.router,
               web_email_confirmation.router, *api_routers)
    # A `.json` address that no API route answers is missing, whatever the method: the page and form
    # routes below take loose segments (`/invites/{code}`, `/admin/users/{user_id}/{action}`) and
    # would otherwise answer a JSON client with a page, a 405 or a form's CSRF refusal.
    app.add_api_route("/{path:path}.json", json_not_found, methods=["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"],
                      include_in_schema=False)
    add_routes(app, web_feeds.router, web_tags.feed_router, web_tags.router, web_tag_admin.router, web_tokens.router,
               web_tokens.admin, web_accounts.router, web_language.router, web_meta.router, web_live.router,
               web_admin.router, web_mod.router, web_flags.router, web_invites.router, web_decide.router)
    for route in app.router.routes:
        # Each request's log line and metrics name its route's template. The routes are the routers'
        # own, shared by every app built in this process: each is noted once, however many are built.
        if isinstance(route, APIRoute) and not isinstance(route.app, observability.RouteNote):
            route.app = observability.RouteNote(route.app, route.path)
    app.add_middleware(retry.RetryOnConflict)  # next to the routes: the outer layers see one request
    app.add_middleware(web_uploads.FileFastPath, db=db, settings=settings)
    app.add_middleware(SecurityHeaders)
    app.add_middleware(web_uploads.BodyLimit, settings=settings, renderer=app.state.renderer)
    app.add_middleware(AcceptJson)
    # Pages, styles and scripts travel compressed to browsers that ask (a phone on a slow network).
    app.add_middleware(GZipMiddleware, minimum_size=1024, compresslevel=5)
    # In front of compression: they keep their answers compressed once (gzip and brotli).
    app.add_middleware(ReaderPageCache, db=db, settings=settings, locales=lambda: app.state.renderer.locales,
                       limiter=app.state.limiter)
    app.add_middleware(AnonymousPageCache, db=db, settings=settings, locales=lambda: app.state.renderer.locales,
                       limiter=app.state.limiter)
    app.add_middleware(observability.RequestLog, enabled=settings.request_log)  # sees every answer but…
    app.add_middleware(web_live.LiveStreams, hub=app.state.live, db=db, settings=settings)  # …open live streams
    app.add_middleware(api_message_bus.MessageBusPolls, hub=app.state.live, db=db, settings=settings)  # …and polls
    return app


def add_routes(app: FastAPI, *routers: APIRouter) -> None:
    """The routers' routes, in this order, become the app's own, as `@app.get` would make them.

    Each route was built complete where its router declared it (its path with the router's prefix,
    the router's dependencies, tags and response class), and the app adds none of its own. The
    same routers included with `app.include_router` would be built a second time, lazily, in each
    process: on the first request matched through them (about 5 ms per route of CPU, 1 s for the
    whole JSON API), with the memory of that copy held by every worker, and their versions walked
    on every request that reaches routing. (So the app has no dependencies of its own either.)"""
    if app.router.dependencies:  # they would not reach these routes: give them to the routers instead
        raise ValueError("add_routes: the app's own dependencies would not apply to the routers' routes")
    for router in routers:
        app.router.routes.extend(router.routes)


def app_from_env() -> FastAPI:
    """Entry point for uvicorn workers (`uvicorn --factory forum.app:app_from_env`)."""
    app = create_app()
    settle()
    return app


def settle() -> None:
    """What was built at start-up (the app, its routes, templates, models) lives as long as the
    process: move it out of the cyclic garbage collector's way (so that forked workers never write
    to it either), and collect the young generation less often, since each page makes many
    short-lived objects. Pages cost about 5% less. (`forum serve` turns the collector off while
    the app loads: it is turned on here.)"""
    gc.collect()
    gc.freeze()
    gc.set_threshold(7000, 20, 20)
    gc.enable()
