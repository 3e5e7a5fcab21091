"""Pages for staying in the loop: notifications, new and unread topics, watching, email settings.

Search, password reset and address confirmation have their own modules beside this one.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import JSONResponse, PlainTextResponse

from forum import (
    emails,
    notifications,
    permissions,
    ratelimit,
    reading,
    timezones,
    tracking,
    urls,
)
from forum.deps import (
    CsrfDep,
    LimiterDep,
    SessionDep,
    SettingsDep,
    UserViewerDep,
    ViewerDep,
    WriteDep,
    is_fetch,
    safe_next,
    see_other,
)
from forum.errors import NotFound, ValidationFailed
from forum.i18n import _
from forum.models import User
from forum.permissions import Viewer
from forum.text import parse_id
from forum.web import lists
from forum.web.templating import render

router = APIRouter(dependencies=[CsrfDep])
# RFC 8058 one-click unsubscribe: mail clients POST to the link with no session and no CSRF token.
# The signed link itself is the credential (no cookie is read), so there is nothing for CSRF to forge.
oneclick_router = APIRouter()


# --- notifications ----------------------------------------------------------------------------

@router.get("/u/{username}/notifications")
def notifications_page(request: Request, session: SessionDep, viewer: ViewerDep, username: str,
                       filter: str = "", page: str = "1"):
    if viewer.user is None or viewer.user.username_lower != username.lower():
        raise NotFound()  # other people's notifications look missing
    per_page = 30
    number = reading.parse_page(page)
    result = notifications.list_for(session, viewer, limit=per_page, offset=(number - 1) * per_page,
                                    filter=filter if filter in ("read", "unread") else None)
    return render(request, "notifications/page.html", {"page": result, "page_number": number,
                                                        "filter": filter})


@router.get("/notifications/menu")
def notifications_menu(request: Request, session: SessionDep, viewer: UserViewerDep):
    result = notifications.list_for(session, viewer, limit=8, filter="menu")
    return render(request, "notifications/menu.html", {"page": result})


def _after_mark(request: Request, session, viewer, next_url: str):
    if is_fetch(request):
        return JSONResponse({"success": "OK", "unread": notifications.unread_count(session, viewer)})
    return see_other(safe_next(next_url, f"/u/{viewer.user.username}/notifications"))


@router.post("/notifications/{notification_id}/read")
def mark_notification_read(request: Request, session: SessionDep, write: WriteDep, viewer: UserViewerDep,
                           notification_id: str, next: Annotated[str, Form()] = ""):
    nid = parse_id(notification_id)
    if nid is None:
        raise NotFound()
    with write() as tx:
        notifications.mark_read(tx, viewer, nid)
    return _after_mark(request, session, viewer, next)


@router.post("/notifications/mark-all-read")
def mark_all_notifications_read(request: Request, session: SessionDep, write: WriteDep, viewer: UserViewerDep,
                                next: Annotated[str, Form()] = ""):
    with write() as tx:
        notifications.mark_read(tx, viewer)
    return _after_mark(request, session, viewer, next)


# --- new and unread topics, read marks, watching levels ---------------------------------------

def _filtered(request: Request, session, viewer, settings, which: str, page: str):
    if viewer.user is None:
        return see_other(f"/login?next=/{which}")
    rows = lists.topic_rows(request, session, viewer, lambda: tracking.filtered_topics(
        session, viewer, which, page=reading.parse_page(page), per_page=settings.topics_per_page))
    return render(request, "latest.html", {
        "rows": rows, "category": None,
        "can_create": bool(permissions.creatable_categories(session, viewer)),
        **lists.list_context(session, viewer, rows, tab=which),
    })


@router.get("/new")
def new_topics(request: Request, session: SessionDep, viewer: ViewerDep, settings: SettingsDep, page: str = "1"):
    return _filtered(request, session, viewer, settings, "new", page)


@router.get("/unread")
def unread_topics(request: Request, session: SessionDep, viewer: ViewerDep, settings: SettingsDep,
                  page: str = "1"):
    return _filtered(request, session, viewer, settings, "unread", page)


@router.post("/t/{topic_id}/read")
def read_progress(request: Request, write: WriteDep, viewer: UserViewerDep, topic_id: str,
                  post_number: Annotated[str, Form()] = ""):
    number = parse_id(post_number)
    if number is None:
        raise ValidationFailed(fields={"post_number": _("Say up to which post number you have read.")})
    with write() as tx:
        topic = reading.get_topic(tx, viewer, topic_id)
        last = tracking.mark_read(tx, viewer, topic, number)
    if is_fetch(request):
        return JSONResponse({"last_read_post_number": last})
    return see_other(urls.topic_url(topic))


@router.post("/t/{topic_id}/mark-read")
def mark_topic_read(write: WriteDep, viewer: UserViewerDep, topic_id: str):
    with write() as tx:
        topic = reading.get_topic(tx, viewer, topic_id)
        tracking.mark_read(tx, viewer, topic)
        url = urls.topic_url(topic)
    return see_other(url)


@router.post("/mark-all-read")
def mark_all_read(write: WriteDep, viewer: UserViewerDep, next: Annotated[str, Form()] = ""):
    with write() as tx:
        tracking.dismiss(tx, viewer)
    return see_other(safe_next(next, "/latest"))


@router.post("/c/{category_id}/mark-read")
def mark_category_read(write: WriteDep, viewer: UserViewerDep, category_id: str):
    with write() as tx:
        category = reading.get_category(tx, viewer, category_id)
        tracking.dismiss(tx, viewer, category)
        url = urls.category_url(category)
    return see_other(url)


@router.post("/t/{topic_id}/notification-level")
def set_topic_level(write: WriteDep, viewer: UserViewerDep, topic_id: str,
                    notification_level: Annotated[str, Form()] = ""):
    level = tracking.parse_level(notification_level)
    with write() as tx:
        topic = reading.get_topic(tx, viewer, topic_id)
        tracking.set_topic_level(tx, viewer, topic, level)
        url = urls.topic_url(topic)
    return see_other(url)


@router.post("/c/{category_id}/notification-level")
def set_category_level(write: WriteDep, viewer: UserViewerDep, category_id: str,
                       notification_level: Annotated[str, Form()] = ""):
    level = tracking.parse_level(notification_level)
    with write() as tx:
        category = reading.get_category(tx, viewer, category_id)
        tracking.set_category_level(tx, viewer, category, level)
        url = urls.category_url(category)
    return see_other(url)


@router.get("/t/{topic_id}/seen-by")
def seen_by_page(request: Request, session: SessionDep, viewer: ViewerDep, topic_id: str):
    topic = reading.get_topic(session, viewer, topic_id)
    breakdown = tracking.seen_by_breakdown(session, viewer, topic)
    return render(request, "notifications/seen_by.html", {"topic": topic, "breakdown": breakdown,
                                                           "seen_by": tracking.seen_by(session, topic)})


# --- email settings ---------------------------------------------------------------------------

def _email_page(request: Request, session, viewer: Viewer, *, form: dict | None = None, errors: dict | None = None,
                saved: str | None = None, status_code: int = 200):
    opts = emails.options(session, viewer.user.id)
    form = form or {"timezone": viewer.user.timezone or "", "email_notifications": opts.email_notifications,
                    "email_digest": opts.email_digest, "digest_hour": str(opts.digest_hour),
                    "digest_weekday": str(opts.digest_weekday)}
    return render(request, "notifications/email.html", {
        "form": form, "errors": errors or {}, "saved": saved, "options": opts, "zones": timezones.all_zones(),
        "next_digest": opts.next_digest_at,
    }, status_code=status_code)


@router.get("/my/email")
def email_settings_form(request: Request, session: SessionDep, viewer: UserViewerDep):
    return _email_page(request, session, viewer)


@router.post("/my/email")
def email_settings(request: Request, session: SessionDep, write: WriteDep, viewer: UserViewerDep,
                   timezone: Annotated[str, Form()] = "", email_notifications: Annotated[str, Form()] = "",
                   email_digest: Annotated[str, Form()] = "", digest_hour: Annotated[str, Form()] = "",
                   digest_weekday: Annotated[str, Form()] = "0"):
    form = {"timezone": timezone, "email_notifications": email_notifications, "email_digest": email_digest,
            "digest_hour": digest_hour, "digest_weekday": digest_weekday}
    try:
        with write() as tx:
            user = tx.get(User, viewer.id)
            emails.set_preferences(tx, user, timezone=timezone, email_notifications=email_notifications,
                                   email_digest=email_digest, digest_hour=digest_hour, digest_weekday=digest_weekday)
            viewer.user.timezone = user.timezone
    except ValidationFailed as e:
        return _email_page(request, session, viewer, form=form, errors=e.form_errors(), status_code=422)
    session.expire_all()
    return _email_page(request, session, viewer, saved="email")


@router.post("/my/email/confirm")
def resend_confirmation(request: Request, session: SessionDep, write: WriteDep, viewer: UserViewerDep,
                        settings: SettingsDep, limiter: LimiterDep):
    with write() as tx:
        ratelimit.hit_confirmation_email(limiter, tx, viewer.id)
        emails.send_confirmation(tx, settings, request.app.state.secret_key, tx.get(User, viewer.id))
    return _email_page(request, session, viewer, saved="confirmation")


@router.get("/email/unsubscribe/{user_id}/{what}/{signature}")
def unsubscribe_link(request: Request, write: WriteDep, user_id: str, what: str, signature: str):
    with write() as tx:
        user = emails.check_unsubscribe(tx, request.app.state.secret_key, user_id, what, signature)
        emails.unsubscribe(tx, user, what)
    return render(request, "notifications/unsubscribed.html", {"what": what, "done": "unsubscribed",
                                                               "path": request.url.path})


@oneclick_router.post("/email/unsubscribe/{user_id}/{what}/{signature}")
def unsubscribe_one_click(request: Request, write: WriteDep, user_id: str, what: str, signature: str):
    with write() as tx:
        user = emails.check_unsubscribe(tx, request.app.state.secret_key, user_id, what, signature)
        emails.unsubscribe(tx, user, what)
    return PlainTextResponse("Unsubscribed.")


@router.post("/email/resubscribe/{user_id}/{what}/{signature}")
def resubscribe(request: Request, write: WriteDep, user_id: str, what: str, signature: str):
    with write() as tx:
        user = emails.check_unsubscribe(tx, request.app.state.secret_key, user_id, what, signature)
        emails.resubscribe(tx, user, what)
    return render(request, "notifications/unsubscribed.html", {
        "what": what, "done": "resubscribed", "path": f"/email/unsubscribe/{user_id}/{what}/{signature}"})


