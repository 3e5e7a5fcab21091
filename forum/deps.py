"""What both doors (forum/web pages and forum/api JSON) share: the database, the viewer, CSRF, and the
small request and response helpers. Routes read like prose with these aliases.

This module sits under both doors and imports neither; forum/web and forum/api never import each
other (the contracts in pyproject.toml check it).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Annotated

from fastapi import Depends, Request
from fastapi.responses import RedirectResponse
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from forum import accounts, auth, observability, pagecache, permissions, posting
from forum.config import Settings
from forum.db import Database
from forum.errors import ForumError, LoginRequired
from forum.i18n import _
from forum.models import utcnow
from forum.permissions import Viewer
from forum.ratelimit import RateLimiter

SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}

# Dependencies that do no I/O are `async def`: FastAPI runs them on the event loop instead of
# handing each to the thread pool, which costs more than the work itself (under load, each hand-off
# to a thread and back costs about as much CPU as a query). On SQLite the request's session lookup
# and closing its read session are in-process reads, so they stay on the loop too
# (Database.reads_in_process); on PostgreSQL, and for any write, they go to the thread pool.


async def get_db(request: Request) -> Database:
    return request.app.state.db


async def get_settings(request: Request) -> Settings:
    return request.app.state.settings


async def get_limiter(request: Request) -> RateLimiter:
    return request.app.state.limiter


# The request's own dependencies read the app's state directly rather than through get_db and
# get_settings: FastAPI walks every node of the dependency tree on each request, cached or not.

async def get_session(request: Request) -> AsyncIterator[Session]:
    # Opening a session does no I/O; closing one that holds a pooled connection may, so only that
    # goes to the thread pool.
    db = request.app.state.db
    session = db.read_sessions()
    request.state.db_session = session  # the page's header (unread count) reads through it too
    try:
        yield session
    finally:
        # An error page is rendered after this cleanup: its header must not reopen a closed session
        # (that would leave a connection in a transaction until the garbage collector came by).
        request.state.db_session = None
        if session.in_transaction() and not db.reads_in_process:
            await run_in_threadpool(session.close)
        else:
            session.close()


DbDep = Annotated[Database, Depends(get_db)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
LimiterDep = Annotated[RateLimiter, Depends(get_limiter)]
SessionDep = Annotated[Session, Depends(get_session)]


class Writer:
    """Opens the request's write transaction.

    The request's read session gives its connection back first, so a request holds one pooled
    connection at a time: under a burst of writers, two per request would exhaust the pool.
    On PostgreSQL the transaction of a signed-in person locks their own row first, whatever the
    route does next: the first step of the lock order in forum/db.py, kept by every route.
    """

    def __init__(self, db: Database, session: Session, request: Request | None = None):
        self.db, self.session, self.request = db, session, request

    @contextmanager
    def __call__(self) -> Iterator[Session]:
        self.session.commit()  # objects stay loaded (expire_on_commit=False); reads reconnect lazily
        with self.db.write() as write:
            viewer = getattr(self.request.state, "viewer", None) if self.request is not None else None
            if viewer is not None and viewer.user is not None and not self.db.reads_in_process:
                posting.lock_author(write, viewer.user.id)
            yield write


async def get_writer(request: Request, session: SessionDep) -> Writer:
    return Writer(request.app.state.db, session, request)


WriteDep = Annotated[Writer, Depends(get_writer)]


async def get_viewer(request: Request, session: SessionDep, write: WriteDep) -> Viewer:
    cached = getattr(request.state, "viewer", None)
    if cached is not None:
        return cached
    settings = request.app.state.settings
    request.state.csrf_binding = request.cookies.get(auth.ANON_CSRF_COOKIE)
    viewer = Viewer()
    if request.cookies.get(auth.SESSION_COOKIE):  # without one there is nothing to look up
        if write.db.reads_in_process:
            user_session = _session_for_cookie(request, session, settings)
        else:
            user_session = await run_in_threadpool(_session_for_cookie, request, session, settings)
        if user_session is not None:
            # Refresh the session's clock at most every few minutes: reads should not all write.
            if user_session.last_used_at < utcnow() - timedelta(minutes=5):
                await run_in_threadpool(_touch, write, user_session)
            viewer = Viewer(user=user_session.user)
    request.state.viewer = viewer
    observability.note_request(request.scope, user_id=viewer.id)
    return viewer


def _session_for_cookie(request: Request, session: Session, settings: Settings):
    """The account session behind the cookie, or None when it no longer counts."""
    token = request.cookies.get(auth.SESSION_COOKIE)
    user_session = accounts.session_for_token(session, token, settings)
    if user_session is None or permissions.login_refusal(user_session.user) is not None:
        return None  # unknown, expired, or suspended since the session began
    request.state.csrf_binding = user_session.csrf_secret
    request.state.session_token = token
    pagecache.note_reader(request.scope, user_session.user_id,
                          (user_session.last_used_at + timedelta(seconds=settings.session_max_age)).timestamp())
    return user_session


def _touch(write: Writer, user_session) -> None:
    with write() as w:
        accounts.touch_session(pagecache.quiet(w), user_session.id, user_session.user_id)


ViewerDep = Annotated[Viewer, Depends(get_viewer)]


def get_user_viewer(viewer: ViewerDep) -> Viewer:
    if viewer.is_anonymous:
        raise LoginRequired()
    return viewer


UserViewerDep = Annotated[Viewer, Depends(get_user_viewer)]


def require_staff(viewer: ViewerDep) -> None:
    # Given to a whole router (dependencies=[Depends(require_staff)]), so no staff route can forget it.
    permissions.ensure_can_moderate(viewer)


class CsrfFailed(ForumError):
    status_code = 403
    error_type = "invalid_access"
    default_message = _("This form has expired or did not come from this site. Please reload the page and try again.")


async def verify_csrf(request: Request, viewer: ViewerDep) -> None:
    """Every state-changing request from a browser must carry the token of its session."""
    if request.method in SAFE_METHODS:
        return
    if getattr(request.state, "api_key_user", None) is not None:
        return  # API keys are not ambient credentials, so they need no CSRF token
    given = request.headers.get("x-csrf-token")
    if not given:
        ctype = request.headers.get("content-type", "")
        if ctype.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
            form = await request.form()
            request.state.form = form
            value = form.get("csrf_token")
            given = value if isinstance(value, str) else None
    if not auth.csrf_valid(request.app.state.secret_keys, getattr(request.state, "csrf_binding", None), given):
        raise CsrfFailed()


CsrfDep = Depends(verify_csrf)


def client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def read_up_to_for(request: Request, last_on_page: int) -> int | None:
    # With JavaScript on, posts count as read when they scroll into view (static/notify.js);
    # without it, a page view reads every post on the page.
    return None if request.cookies.get(auth.JS_COOKIE) == "1" else last_on_page


def is_fetch(request: Request) -> bool:
    """Sent by our own scripts (static/*.js), which then want the fragment instead of a redirect."""
    return request.headers.get("x-requested-with") == "fetch"


def see_other(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def safe_next(next_url: str | None, fallback: str = "/") -> str:
    # Only same-site paths: an open redirect would let a phishing link borrow our pages.
    if next_url and next_url.startswith("/") and not next_url.startswith("//") and "\\" not in next_url:
        return next_url
    return fallback
