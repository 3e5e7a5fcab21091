"""Account pages: sign up, log in and out, preferences, profiles, and first-admin setup."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import RedirectResponse

import forum.emails as emails
from forum import accounts, auth, follows, messages, permissions, ratelimit, reading, uploads, user_export
from forum.deps import (
    CsrfDep,
    LimiterDep,
    SessionDep,
    SettingsDep,
    UserViewerDep,
    ViewerDep,
    WriteDep,
    client_ip,
    safe_next,
)
from forum.errors import ForumError, NotFound, RateLimited, ValidationFailed
from forum.i18n import _
from forum.invitations import SIGNUP_APPROVAL, SIGNUP_INVITE_ONLY, sign_up, signup_mode
from forum.models import User
from forum.web.templating import render

router = APIRouter(dependencies=[CsrfDep])

LOGIN_FAILED = _("Incorrect username, email or password.")


def _signed_in(settings, token: str, next_url: str) -> RedirectResponse:
    response = RedirectResponse(safe_next(next_url), status_code=303)
    response.set_cookie(auth.SESSION_COOKIE, token, httponly=True, samesite="lax",
                        secure=settings.cookies_secure, max_age=settings.session_max_age, path="/")
    return response


@router.get("/login")
def login_form(request: Request, viewer: ViewerDep, next: str = "/"):
    if not viewer.is_anonymous:
        return RedirectResponse(safe_next(next), status_code=303)
    return render(request, "login.html", {"form": {"next": next}, "errors": {}})


@router.post("/login")
def login(request: Request, write: WriteDep, settings: SettingsDep, limiter: LimiterDep,
          login: Annotated[str, Form()] = "", password: Annotated[str, Form()] = "",
          next: Annotated[str, Form()] = "/"):
    form = {"login": login, "next": next}
    try:
        # Counted in a transaction of its own: failed attempts must stay counted.
        with write() as session:
            ratelimit.hit_login(limiter, session, settings, client_ip(request), login)
    except RateLimited as e:
        response = render(request, "login.html", {"form": form, "errors": e.form_errors()}, status_code=429)
        response.headers["Retry-After"] = str(e.retry_after)
        return response
    try:
        with write() as session:
            user = accounts.authenticate(session, login, password)
            token = accounts.start_session(session, user, request.headers.get("user-agent", "")) if user else None
    except ForumError as e:
        return render(request, "login.html", {"form": form, "errors": e.form_errors()}, status_code=e.status_code)
    if token is None:
        return render(request, "login.html", {"form": form, "errors": {"_": LOGIN_FAILED}}, status_code=401)
    return _signed_in(settings, token, next)


@router.post("/logout")
def logout(request: Request, write: WriteDep, viewer: ViewerDep):
    token = request.cookies.get(auth.SESSION_COOKIE)
    if token:
        with write() as session:
            accounts.end_session(session, token)
    response = RedirectResponse("/", status_code=303)
    response.delete_cookie(auth.SESSION_COOKIE, path="/")
    return response


@router.get("/signup")
def signup_form(request: Request, session: SessionDep, viewer: ViewerDep):
    if not viewer.is_anonymous:
        return RedirectResponse("/", status_code=303)
    mode = signup_mode(session)
    if mode == SIGNUP_INVITE_ONLY:
        return render(request, "mod/signup_closed.html", {})
    return render(request, "signup.html", {"form": {}, "errors": {}, "needs_approval": mode == SIGNUP_APPROVAL})


@router.post("/signup")
def signup(request: Request, write: WriteDep, settings: SettingsDep, limiter: LimiterDep,
           username: Annotated[str, Form()] = "", email: Annotated[str, Form()] = "",
           password: Annotated[str, Form()] = "", name: Annotated[str, Form()] = ""):
    form = {"username": username, "email": email, "name": name}
    try:
        with write() as session:
            ratelimit.hit_signup(limiter, session, settings, client_ip(request))
        with write() as session:
            user = sign_up(session, settings, username=username, email=email, password=password, name=name)
            # In approval mode the account waits for a moderator: no session yet.
            token = accounts.start_session(session, user, request.headers.get("user-agent", "")) if user.approved else None
            emails.send_confirmation(session, settings, request.app.state.secret_key, user)
    except ForumError as e:
        return render(request, "signup.html", {
            "form": form, "errors": e.form_errors()}, status_code=e.status_code)
    if token is None:
        return render(request, "mod/signup_pending.html", {"username": username})
    return _signed_in(settings, token, "/")


@router.get("/setup")
def setup_form(request: Request, write: WriteDep, token: str = ""):
    with write() as session:
        expected = accounts.setup_token(session)
    if expected is None or not hmac.compare_digest(token.encode(), expected.encode()):
        raise NotFound()
    return render(request, "setup.html", {"form": {"token": token}, "errors": {}})


@router.post("/setup")
def setup(request: Request, write: WriteDep, settings: SettingsDep,
          token: Annotated[str, Form()] = "", username: Annotated[str, Form()] = "",
          email: Annotated[str, Form()] = "", password: Annotated[str, Form()] = "",
          name: Annotated[str, Form()] = ""):
    form = {"token": token, "username": username, "email": email, "name": name}
    try:
        with write() as session:
            expected = accounts.setup_token(session)
            if expected is None or not hmac.compare_digest(token.encode(), expected.encode()):
                raise NotFound()
            user = accounts.create_user(session, username=username, email=email, password=password, name=name,
                                        tier="member", admin=True)
            accounts.set_site_value(session, "setup_token", None)
            session_token = accounts.start_session(session, user, request.headers.get("user-agent", ""))
    except ValidationFailed as e:
        return render(request, "setup.html", {"form": form, "errors": e.fields}, status_code=422)
    return _signed_in(settings, session_token, "/admin")


# --- profiles ---------------------------------------------------------------------------------

@router.get("/u/{username}")
@router.get("/u/{username}/activity")
def profile(request: Request, session: SessionDep, viewer: ViewerDep, username: str, before: str = ""):
    user = accounts.get_user(session, username)
    before_id = int(before) if before.isdigit() else None
    posts = reading.user_posts(session, viewer, user, limit=30, before_id=before_id)
    topic_count, post_count = reading.user_visible_counts(session, viewer, user)
    followed = viewer.user is not None and follows.is_following(session, viewer.user.id, user.id)
    follow_counts = follows.counts(session, user) if permissions.can_see_follows(viewer, user) else (0, 0)
    return render(request, "user.html", {"user": user, "posts": posts, "topic_count": topic_count,
                                         "post_count": post_count, "followed": followed,
                                         "follow_counts": follow_counts,
                                         "display": lambda post: permissions.post_display(viewer, post)})


@router.get("/my/preferences")
def preferences_form(request: Request, viewer: UserViewerDep):
    return render(request, "preferences.html", {"form": _profile_form(request, viewer), "errors": {}, "saved": None})


def _profile_form(request: Request, viewer) -> dict:
    with request.app.state.db.read() as session:
        shown = accounts.presence_shown(session, viewer.user)
        messages_from = messages.messages_from(session, viewer.user)
    return {"name": viewer.user.name, "locale": viewer.user.locale or "", "theme": viewer.user.theme or "system",
            "show_presence": shown, "messages_from": messages_from}


@router.post("/my/preferences")
def preferences(request: Request, write: WriteDep, viewer: UserViewerDep, name: Annotated[str, Form()] = "",
                locale: Annotated[str | None, Form()] = None, theme: Annotated[str | None, Form()] = None,
                presence_shown: Annotated[str | None, Form()] = None, show_presence: Annotated[str, Form()] = "",
                messages_from: Annotated[str | None, Form()] = None):
    offered = request.app.state.renderer.languages(request).offered  # read before the write transaction
    try:
        with write() as session:
            user = session.get(User, viewer.id)
            accounts.change_profile(session, user, name=name)
            if locale is not None:
                accounts.set_locale(session, user, locale, offered)
            if theme is not None:
                accounts.set_theme(session, user, theme)
            if presence_shown is not None:  # the form offered the choice (an unticked box sends nothing)
                accounts.set_presence_shown(session, user, show_presence == "1")
            if messages_from is not None:
                messages.set_messages_from(session, user, messages_from)
            viewer.user.name, viewer.user.locale, viewer.user.theme = user.name, user.locale, user.theme
    except ValidationFailed as e:
        return render(request, "preferences.html", {"form": {"name": name, "locale": locale or "",
                                                             "theme": theme or "system",
                                                             "show_presence": show_presence == "1"},
                                                    "errors": e.fields, "saved": None}, status_code=422)
    return render(request, "preferences.html", {"form": _profile_form(request, viewer), "errors": {},
                                                "saved": "profile"})


@router.post("/my/data")
def request_data(request: Request, write: WriteDep, viewer: UserViewerDep):
    """Download my data: the worker builds the archive and sends the link (forum/user_export.py)."""
    try:
        with write() as session:
            user_export.request(session, viewer)
    except RateLimited as e:
        answer = render(request, "preferences.html", {"form": _profile_form(request, viewer),
                                                      "errors": {"data": e.messages[0]}, "saved": None},
                        status_code=429)
        answer.headers["Retry-After"] = str(e.retry_after)
        return answer
    return render(request, "preferences.html", {"form": _profile_form(request, viewer), "errors": {},
                                                "saved": "data"})


@router.get("/my/data/{name}")
def download_data(request: Request, settings: SettingsDep, viewer: UserViewerDep, name: str):
    return user_export.download(settings, viewer, name, range_header=request.headers.get("range"))


@router.post("/my/avatar")
def upload_avatar(request: Request, session: SessionDep, write: WriteDep, viewer: UserViewerDep,
                  settings: SettingsDep, limiter: LimiterDep,
                  avatar: Annotated[UploadFile | None, File()] = None):
    """A profile picture (works without scripts): checked and cleaned as every upload is."""
    try:
        if avatar is None or not avatar.filename:
            raise ValidationFailed(fields={"avatar": _("Choose a picture to upload.")})
        allowed = uploads.limits(session, settings, viewer)
        checked = uploads.prepare(settings, viewer, allowed, filename=avatar.filename, source=avatar.file)
        with write() as tx:
            user = tx.get(User, viewer.id)
            uploads.set_avatar(tx, settings, viewer, user, checked, allowed, filename=avatar.filename,
                               limiter=limiter)
            viewer.user.uploaded_avatar_id = user.uploaded_avatar_id
    except ForumError as e:
        errors = e.fields if getattr(e, "fields", None) else {"avatar": e.messages[0]}
        return render(request, "preferences.html", {"form": _profile_form(request, viewer), "errors": errors, "saved": None},
                      status_code=e.status_code)
    return render(request, "preferences.html", {"form": _profile_form(request, viewer), "errors": {}, "saved": "avatar"})


@router.post("/my/avatar/remove")
def remove_avatar(request: Request, write: WriteDep, viewer: UserViewerDep):
    with write() as tx:
        uploads.clear_avatar(tx, viewer, tx.get(User, viewer.id))
    viewer.user.uploaded_avatar_id = None
    return render(request, "preferences.html", {"form": _profile_form(request, viewer), "errors": {}, "saved": "avatar"})


@router.post("/my/password")
def change_password(request: Request, write: WriteDep, viewer: UserViewerDep, limiter: LimiterDep,
                    settings: SettingsDep,
                    current_password: Annotated[str, Form()] = "", new_password: Annotated[str, Form()] = ""):
    try:
        with write() as session:
            ratelimit.hit_password_change(limiter, session, settings, viewer.id)
        with write() as session:
            user = session.get(User, viewer.id)
            accounts.change_password(session, user, current_password, new_password,
                                     keep_token=request.cookies.get(auth.SESSION_COOKIE))
    except ForumError as e:
        return render(request, "preferences.html", {
            "form": _profile_form(request, viewer), "errors": e.form_errors(),
            "saved": None}, status_code=e.status_code)
    return render(request, "preferences.html", {"form": _profile_form(request, viewer), "errors": {},
                                                "saved": "password"})
