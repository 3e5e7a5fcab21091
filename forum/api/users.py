"""Users and the browser session: /u/{username}.json, POST /users, /session/*."""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import Response

from forum import (
    accounts,
    auth,
    emails,
    follows,
    honeypot,
    invitations,
    notifications,
    permissions,
    ratelimit,
    reading,
    user_export,
)
from forum.api import serializers
from forum.api.base import DiscourseJSON, ParamsDep, api_router, tr
from forum.deps import LimiterDep, SessionDep, SettingsDep, UserViewerDep, ViewerDep, WriteDep, client_ip
from forum.errors import Forbidden, ForumError, NotFound, ValidationFailed
from forum.i18n import _
from forum.models import User

router = api_router()

LOGIN_FAILED = _("Incorrect username, email or password")


# --- the session ------------------------------------------------------------------------------

@router.get("/session/csrf.json")
def csrf(request: Request, viewer: ViewerDep):
    """The CSRF token for this browser; an anonymous browser gets the cookie it is bound to."""
    binding = getattr(request.state, "csrf_binding", None)
    new_cookie = None
    if binding is None and getattr(request.state, "api_key_user", None) is None:
        binding = new_cookie = auth.new_token()
    token = auth.csrf_token_for(request.app.state.secret_key, binding) if binding else None
    response = DiscourseJSON({"csrf": token})
    if new_cookie is not None:
        settings = request.app.state.settings
        response.set_cookie(auth.ANON_CSRF_COOKIE, new_cookie, httponly=True, samesite="lax",
                            secure=settings.cookies_secure, path="/")
    return response


@router.get("/session/current.json")
def current(session: SessionDep, viewer: ViewerDep):
    if viewer.user is None:
        return Response(b"", status_code=404, media_type="text/plain")
    return {"current_user": serializers.current_user(
        viewer.user, can_create_topic=bool(permissions.creatable_categories(session, viewer)),
        unread_notifications=notifications.unread_count(session, viewer))}


@router.get("/session/hp.json")
def hp(request: Request):
    return honeypot.new_challenge(request.app.state.secret_key)


@router.post("/session.json")
def login(request: Request, session: SessionDep, write: WriteDep, settings: SettingsDep, limiter: LimiterDep,
          viewer: ViewerDep, params: ParamsDep):
    login_name = params.str("login") or ""
    password = params.str("password") or ""
    # Counted in a transaction of its own, with the log-in page's counters: failed attempts stay counted.
    with write() as tx:
        ratelimit.hit_login(limiter, tx, settings, client_ip(request), login_name)
    try:
        with write() as tx:
            user = accounts.authenticate(tx, login_name, password)
            token = accounts.start_session(tx, user, request.headers.get("user-agent", "")) if user else None
    except Forbidden as e:
        # Only someone who gave the right password gets here, so the reason may be told (as Discourse does).
        refused = accounts.find_user_by_login(session, login_name)
        reason = "suspended" if refused is not None and permissions.is_suspended(refused) else "not_approved"
        return {"error": tr(request, e.messages[0]), "reason": reason}
    if user is None or token is None:
        # Discourse answers a failed log-in with 200 and an `error` member.
        return {"error": str(LOGIN_FAILED)}
    signed_in = permissions.Viewer(user=user)
    response = DiscourseJSON({"user": serializers.current_user(
        user, can_create_topic=bool(permissions.creatable_categories(session, signed_in)))})
    response.set_cookie(auth.SESSION_COOKIE, token, httponly=True, samesite="lax",
                        secure=settings.cookies_secure, max_age=settings.session_max_age, path="/")
    return response


@router.delete("/session/{username}.json")
def logout(request: Request, write: WriteDep, viewer: UserViewerDep, username: str):
    if viewer.user is None or username.lower() != viewer.user.username_lower:
        raise NotFound()
    token = getattr(request.state, "session_token", None)
    if token:
        with write() as tx:
            accounts.end_session(tx, token)
    response = DiscourseJSON({"success": "OK", "redirect_url": "/"})
    response.delete_cookie(auth.SESSION_COOKIE, path="/")
    return response


@router.post("/session/forgot_password.json")
def forgot_password(request: Request, write: WriteDep, settings: SettingsDep, limiter: LimiterDep,
                    viewer: ViewerDep, params: ParamsDep):
    """Discourse's password reset request: the same email, limits and answer as the page's."""
    login_name = (params.str("login") or "").strip()
    if not login_name:
        raise ForumError(_("param is missing or the value is empty: login"))
    with write() as tx:
        ratelimit.hit_password_reset(limiter, tx, settings, client_ip(request), login_name)
    with write() as tx:
        found = accounts.find_user_by_login(tx, login_name) is not None
        emails.request_password_reset(tx, settings, request.app.state.secret_key, login_name)
    # Whether an account has this name or address is told to staff only (as Discourse does with
    # hide_email_address_taken); anyone else is answered as if it had, like the page answers.
    return {"success": "OK", "user_found": found if permissions.can_moderate(viewer) else True}


# --- users ------------------------------------------------------------------------------------

@router.get("/u/{username}.json")
@router.get("/users/{username}.json")
def user(request: Request, session: SessionDep, viewer: ViewerDep, username: str):
    target = accounts.get_user(session, username)
    topic_count, post_count = reading.user_visible_counts(session, viewer, target)
    extras = reading.profile_extras(session, target, private=permissions.can_see_private_profile(viewer, target))
    shaped = serializers.user_detail(
        target, topic_count=topic_count, post_count=post_count, viewer=viewer, extras=extras,
        takes_messages_from_viewer=permissions.message_refusal_for_user(session, viewer, target) is None,
        current_token_hash=auth.token_hash(token) if (token := getattr(request.state, "session_token", None)) else None)
    # The follow plugin's fields: whether the asker follows this person and may; the counts are theirs and staff's.
    shaped["is_followed"] = viewer.user is not None and follows.is_following(session, viewer.user.id, target.id)
    shaped["can_follow"] = viewer.user is not None and permissions.follow_refusal(viewer, target) is None
    if permissions.can_see_follows(viewer, target):
        shaped["total_following"], shaped["total_followers"] = follows.counts(session, target)
    return {"user_badges": [], "user": shaped}


@router.put("/u/{username}.json")
@router.put("/users/{username}.json")
def update_user(request: Request, session: SessionDep, write: WriteDep, viewer: UserViewerDep, params: ParamsDep,
                username: str):
    """Discourse's profile update: `name` and `locale` (one the site offers, or "" for the browser's)."""
    target = accounts.get_user(session, username)
    permissions.ensure_can_edit_profile(viewer, target)
    offered = request.app.state.renderer.languages(request).offered
    with write() as tx:
        user = tx.get(User, target.id)
        if (name := params.str("name")) is not None:
            accounts.change_profile(tx, user, name=name)
        if (locale := params.str("locale")) is not None:
            accounts.set_locale(tx, user, locale, offered)
    session.expire_all()
    target = accounts.get_user(session, username)
    topic_count, post_count = reading.user_visible_counts(session, viewer, target)
    return {"success": "OK", "user": serializers.user_detail(
        target, topic_count=topic_count, post_count=post_count, viewer=viewer,
        extras=reading.profile_extras(session, target, private=True))}


@router.post("/export_csv/export_entity.json")
def export_entity(write: WriteDep, viewer: UserViewerDep, params: ParamsDep):
    """Discourse's user archive export: `entity=user_archive`; the link arrives by notification and email."""
    if (params.str("entity") or "") != "user_archive":
        raise ValidationFailed(_("Only entity=user_archive can be exported here."))
    with write() as tx:
        user_export.request(tx, viewer)
    return {"success": "OK"}


@router.post("/users.json")
def create_user(request: Request, write: WriteDep, settings: SettingsDep, limiter: LimiterDep,
                viewer: ViewerDep, params: ParamsDep):
    values = {"name": params.str("name") or "", "username": params.str("username") or "",
              "email": params.str("email") or ""}
    is_api = getattr(request.state, "api_key_user", None) is not None
    if not is_api and not honeypot.passes(request.app.state.secret_key, params.str("password_confirmation"),
                                          params.str("challenge")):
        # Bots are told they succeeded; nobody is created.
        return {"success": True, "active": False,
                "message": tr(request, _("Your account has been created. Please check your email to activate it."))}
    with write() as tx:
        ratelimit.hit_signup(limiter, tx, settings, client_ip(request))
    try:
        with write() as tx:
            password = params.str("password") or ""
            if is_api and permissions.creates_approved_accounts(viewer):
                created = accounts.create_user(tx, username=values["username"], email=values["email"],
                                               password=password, name=values["name"], tier=settings.default_tier)
            else:
                # Everyone else signs up as on the sign-up page: invitation-only and approval modes apply.
                created = invitations.sign_up(tx, settings, username=values["username"], email=values["email"],
                                              password=password, name=values["name"])
                emails.send_confirmation(tx, settings, request.app.state.secret_key, created)
            user_id, approved = created.id, created.approved
    except Forbidden as e:
        return {"success": False, "message": tr(request, e.messages[0])}
    except ValidationFailed as e:
        return {"success": False, "message": "; ".join(tr(request, m) for m in e.messages),
                "errors": {field: [tr(request, message)] for field, message in e.fields.items()} or
                {"base": [tr(request, m) for m in e.messages]},
                "values": values, "is_developer": False}
    if not approved:
        return {"success": True, "active": True, "approved": False, "user_id": user_id,
                "message": tr(request, _("Your account waits for a moderator's approval. You can log in once it is approved."))}
    return {"success": True, "active": True, "message": tr(request, _("Your account is activated and ready to use.")),
            "user_id": user_id}
