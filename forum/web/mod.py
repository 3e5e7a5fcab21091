"""Moderators' pages under /admin: topics, posts, the review queue, users, the log, invitations,
site policy, category settings and the "view as" preview.

The router carries the staff check, so no route here can forget it: everyone else gets 404.
Admin-only pages (staff roles, site policy) check again and answer 404 to moderators.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request

from forum import (
    accounts,
    categories,
    category_admin,
    erasure,
    flags,
    invitations,
    languages,
    moderation,
    modlog,
    permissions,
    policy,
    policy_admin,
    reading,
    user_admin,
)
from forum.deps import CsrfDep, SessionDep, SettingsDep, ViewerDep, WriteDep, require_staff, see_other
from forum.errors import ForumError, NotFound, ValidationFailed
from forum.i18n import _
from forum.models import AUDIENCES, TIERS, Category, Flag, Post, Topic, User
from forum.text import clean, parse_id
from forum.web import lists
from forum.web.templating import render

router = APIRouter(prefix="/admin", dependencies=[Depends(require_staff), CsrfDep])

PREVIEW_AUDIENCES = ("anonymous", *TIERS)


async def _form(request: Request) -> dict[str, Any]:
    form = await request.form()
    return {k: v for k, v in form.items() if isinstance(v, str)}


def _gettext(request: Request, viewer):
    return request.app.state.renderer.gettext(request)


# --- categories -------------------------------------------------------------------------------

def category_page(request: Request, session, viewer, category: Category, *, errors: dict | None = None,
                  saved: bool | str = False, form: dict | None = None, status_code: int = 200):
    """The category settings page: levels matrix, presets, summary, settings, order, deletion."""
    others = categories.all_categories(session)
    parent = session.get(Category, category.parent_id) if category.parent_id else None
    topics = categories.topic_count(session, category)
    site = request.app.state.renderer.languages(request)
    other_languages = [code for code in site.offered if code != site.default]
    if form is None:
        form = {"name": category.name, "description": category.description, "color": category.color,
                "parent_id": str(category.parent_id or ""),
                "new_participant_post_interval": str(category.new_participant_post_interval)}
        for code in other_languages:
            form[f"name_{code}"] = ((category.localized or {}).get(code) or {}).get("name", "")
            form[f"description_{code}"] = ((category.localized or {}).get(code) or {}).get("description", "")
    return render(request, "admin/category.html", {
        "category": category, "audiences": AUDIENCES, "presets": categories.PRESETS,
        "preset_labels": category_admin.PRESET_LABELS, "current_preset": category_admin.matching_preset(category),
        "summary": category_admin.summary(category, parent, _gettext(request, viewer)),
        "parents": [c for c in others if c.parent_id is None and c.id != category.id],
        "others": [c for c in others if c.id != category.id], "topic_total": topics,
        "has_children": any(c.parent_id == category.id for c in others),
        "preview_audiences": PREVIEW_AUDIENCES,
        "errors": errors or {}, "saved": saved, "form": form, "other_languages": other_languages,
        "default_language": site.default,
    }, status_code=status_code)


@router.post("/categories/{category_id}/settings")
async def category_settings(request: Request, session: SessionDep, write: WriteDep, viewer: ViewerDep,
                            category_id: str):
    form = await _form(request)
    site = request.app.state.renderer.languages(request)
    localized = {code: {"name": form.get(f"name_{code}", ""), "description": form.get(f"description_{code}", "")}
                 for code in site.offered if code != site.default and f"name_{code}" in form}
    try:
        with write() as tx:
            category_admin.update_category(
                tx, viewer, category_id, name=form.get("name", ""), description=form.get("description", ""),
                color=form.get("color", ""), parent_id=form.get("parent_id") or None,
                new_participant_post_interval=form.get("new_participant_post_interval", "0"), localized=localized)
    except ValidationFailed as e:
        category = category_admin.get_category(session, viewer, category_id)
        return category_page(request, session, viewer, category, errors=e.form_errors(), form=form,
                             status_code=422)
    session.expire_all()
    category = category_admin.get_category(session, viewer, category_id)
    return category_page(request, session, viewer, category, saved="settings")


@router.post("/categories/{category_id}/move")
async def category_move(request: Request, write: WriteDep, viewer: ViewerDep, category_id: str):
    form = await _form(request)
    with write() as tx:
        category_admin.move_category(tx, viewer, category_id, form.get("direction", ""))
    return see_other("/admin#categories")


@router.post("/categories/{category_id}/delete")
async def category_delete(request: Request, session: SessionDep, write: WriteDep, viewer: ViewerDep,
                          category_id: str):
    form = await _form(request)
    try:
        with write() as tx:
            category_admin.delete_category(tx, viewer, category_id, move_to=form.get("move_to") or None,
                                           reason=form.get("reason", ""))
    except ValidationFailed as e:
        category = category_admin.get_category(session, viewer, category_id)
        return category_page(request, session, viewer, category, errors=e.form_errors(), status_code=422)
    return see_other("/admin#categories")


# --- "view as" --------------------------------------------------------------------------------

def _preview_viewer(audience: str):
    if audience not in PREVIEW_AUDIENCES:
        raise NotFound()
    return permissions.preview_viewer(None if audience == "anonymous" else audience)


@router.get("/preview/{audience}")
@router.get("/preview/{audience}/categories")
def preview_categories(request: Request, session: SessionDep, audience: str):
    seen_as = _preview_viewer(audience)
    return render(request, "categories.html", {"rows": reading.category_list(session, seen_as),
                                               "viewer": seen_as, "preview_audience": audience,
                                               "preview_audiences": PREVIEW_AUDIENCES,
                                               "preview_path": "/categories"})


@router.get("/preview/{audience}/latest")
def preview_latest(request: Request, session: SessionDep, settings: SettingsDep, audience: str):
    seen_as = _preview_viewer(audience)
    rows = lists.topic_rows(request, session, seen_as, lambda: reading.latest_topics(
        session, seen_as, page=1, per_page=settings.topics_per_page), with_seen=False)
    return render(request, "latest.html", {"rows": rows, "category": None, "can_create": False,
                                           "viewer": seen_as, "preview_audience": audience,
                                           "preview_audiences": PREVIEW_AUDIENCES, "preview_path": "/latest"})


def _hidden_from(request: Request, audience: str, what: str, path: str):
    return render(request, "mod/preview_hidden.html", {"preview_audience": audience, "what": what,
                                                      "preview_audiences": PREVIEW_AUDIENCES,
                                                      "preview_path": path})


@router.get("/preview/{audience}/c/{category_id}")
def preview_category(request: Request, session: SessionDep, settings: SettingsDep, audience: str,
                     category_id: str):
    seen_as = _preview_viewer(audience)
    category = session.get(Category, parse_id(category_id) or 0)
    if category is None:
        raise NotFound()
    path = f"/c/{category.id}"
    if not permissions.can_see_category(session, seen_as, category):
        return _hidden_from(request, audience, category.name, path)
    rows = lists.topic_rows(request, session, seen_as, lambda: reading.latest_topics(
        session, seen_as, page=1, per_page=settings.topics_per_page, category=category),
        category=category, with_seen=False)
    return render(request, "latest.html", {
        "rows": rows, "category": category, "viewer": seen_as, "preview_audience": audience,
        "can_create": permissions.can_create_topic(session, seen_as, category),
        "preview_audiences": PREVIEW_AUDIENCES, "preview_path": path})


@router.get("/preview/{audience}/t/{topic_id}")
def preview_topic(request: Request, session: SessionDep, settings: SettingsDep, audience: str, topic_id: str,
                  page: str = "1"):
    from forum.web import topics as web_topics

    seen_as = _preview_viewer(audience)
    topic = session.get(Topic, parse_id(topic_id) or 0)
    if topic is None or topic.category_id is None:  # a private message has no audience to preview as
        raise NotFound()
    path = f"/t/{topic.id}"
    if not permissions.can_see_topic(session, seen_as, topic):
        return _hidden_from(request, audience, topic.title, path)
    return web_topics._render_topic(request, session, seen_as, settings, topic, reading.parse_page(page),
                                    extra={"viewer": seen_as, "preview_audience": audience,
                                           "preview_audiences": PREVIEW_AUDIENCES, "preview_path": path})


# --- topics -----------------------------------------------------------------------------------

def _topic_page(request: Request, session, viewer, settings, topic: Topic, *, page: int = 1,
                errors: dict | None = None, form: dict | None = None, status_code: int = 200):
    per_page = settings.posts_per_page
    pages = max(1, reading.page_of_post(topic.highest_post_number, per_page))
    page = min(max(page, 1), pages)
    first = (page - 1) * per_page + 1
    posts = reading.numbered_posts(session, topic, first=first, count=per_page)
    return render(request, "mod/topic.html", {
        "topic": topic, "posts": posts, "page": page, "pages": pages, "categories": categories.all_categories(session),
        "log": modlog.entries(session, topic_id=topic.id, limit=20), "statuses": moderation.TOPIC_STATUSES,
        "preview_audiences": PREVIEW_AUDIENCES, "errors": errors or {}, "form": form or {},
    }, status_code=status_code)


@router.get("/topics/{topic_id}")
def topic_tools(request: Request, session: SessionDep, viewer: ViewerDep, settings: SettingsDep, topic_id: str,
                page: str = "1"):
    topic = moderation.get_topic(session, viewer, topic_id)
    return _topic_page(request, session, viewer, settings, topic, page=reading.parse_page(page))


TOPIC_ACTIONS = ("status", "category", "slow-mode", "delete", "restore", "merge", "move-posts")


@router.post("/topics/{topic_id}/{action}")
async def topic_action(request: Request, session: SessionDep, write: WriteDep, viewer: ViewerDep,
                       settings: SettingsDep, topic_id: str, action: str):
    if action not in TOPIC_ACTIONS:
        raise NotFound()
    topic = moderation.get_topic(session, viewer, topic_id)
    form = await _form(request)
    raw_form = await request.form()
    reason = form.get("reason", "")
    try:
        with write() as tx:
            if action == "status":
                # One form, one button per change: value "closed:1" closes, "closed:0" reopens.
                status, _sep, enabled = form.get("change", "").partition(":")
                if not status:
                    status, enabled = form.get("status", ""), form.get("enabled", "")
                moderation.set_topic_status(tx, viewer, topic.id, status, enabled in ("1", "true", "on"),
                                            reason=reason)
                destination = topic.id
            elif action == "category":
                moderation.move_topic(tx, viewer, topic.id, form.get("category_id", ""), reason=reason)
                destination = topic.id
            elif action == "slow-mode":
                moderation.set_slow_mode(tx, viewer, topic.id, form.get("seconds", ""), reason=reason)
                destination = topic.id
            elif action == "delete":
                moderation.delete_topic(tx, viewer, topic.id, reason=reason)
                destination = topic.id
            elif action == "restore":
                first = reading.first_post(tx, topic)
                if first is None:
                    raise ValidationFailed(_("This topic has no first post to restore."))
                moderation.restore_post(tx, viewer, first.id, reason=reason)
                destination = topic.id
            elif action == "merge":
                destination = moderation.merge_topics(
                    tx, viewer, topic_id=topic.id, destination_topic_id=form.get("destination_topic_id", ""),
                    reason=reason).id
            else:
                into_existing = form.get("destination") == "existing"
                destination = moderation.move_posts(
                    tx, settings, viewer, topic_id=topic.id,
                    post_ids=[v for v in raw_form.getlist("post_ids") if isinstance(v, str)],
                    destination_topic_id=form.get("destination_topic_id", "") if into_existing else None,
                    title=None if into_existing else form.get("title", ""),
                    category_id=None if into_existing else form.get("category_id", ""), reason=reason).id
    except ForumError as e:
        session.expire_all()
        topic = moderation.get_topic(session, viewer, topic.id)
        return _topic_page(request, session, viewer, settings, topic, errors=e.form_errors(), form=form,
                           page=reading.parse_page(form.get("page")), status_code=e.status_code)
    return see_other(f"/admin/topics/{destination}")


# --- posts ------------------------------------------------------------------------------------

def _post_page(request: Request, session, viewer, post: Post, topic: Topic, *, errors: dict | None = None,
               status_code: int = 200):
    flag_rows = user_admin._flag_rows(session, Flag.post_id == post.id, 100)
    return render(request, "mod/post.html", {
        "post": post, "topic": topic, "flags": flag_rows, "flag_labels": flags.FLAG_LABELS,
        "log": [row for row in modlog.entries(session, topic_id=topic.id, limit=200)
                if row.entry.target_type == "post" and row.entry.target_id == post.id][:20],
        "errors": errors or {},
    }, status_code=status_code)


@router.get("/posts/{post_id}")
def post_tools(request: Request, session: SessionDep, viewer: ViewerDep, post_id: str):
    post, topic = moderation.get_post(session, viewer, post_id)
    return _post_page(request, session, viewer, post, topic)


POST_ACTIONS = {"hide": moderation.hide_post, "unhide": moderation.unhide_post,
                "delete": moderation.delete_post, "restore": moderation.restore_post}


@router.post("/posts/{post_id}/{action}")
async def post_action(request: Request, session: SessionDep, write: WriteDep, viewer: ViewerDep, post_id: str,
                      action: str):
    if action not in POST_ACTIONS:
        raise NotFound()
    post, topic = moderation.get_post(session, viewer, post_id)
    form = await _form(request)
    try:
        with write() as tx:
            POST_ACTIONS[action](tx, viewer, post.id, reason=form.get("reason", ""))
    except ForumError as e:
        return _post_page(request, session, viewer, post, topic, errors=e.form_errors(),
                          status_code=e.status_code)
    return see_other(f"/admin/posts/{post.id}")


# --- the review queue -------------------------------------------------------------------------

def _review_page(request: Request, session, viewer, *, page: int = 1, errors: dict | None = None,
                 error_post: int | None = None, form: dict | None = None, status_code: int = 200):
    items, has_more = flags.review_queue(session, viewer, page=page)
    return render(request, "mod/review.html", {
        "items": items, "page": page, "has_more": has_more, "errors": errors or {}, "error_post": error_post,
        "form": form or {}, "pending_signups": user_admin.pending_signups(session, limit=20),
    }, status_code=status_code)


@router.get("/review")
def review_queue(request: Request, session: SessionDep, viewer: ViewerDep, page: str = "1"):
    return _review_page(request, session, viewer, page=reading.parse_page(page))


@router.post("/review/{post_id}")
async def review_post(request: Request, session: SessionDep, write: WriteDep, viewer: ViewerDep,
                      settings: SettingsDep, post_id: str):
    form = await _form(request)
    try:
        sanction = form.get("sanction", "")
        until = user_admin.parse_until(form.get("until")) if sanction else None
        with write() as tx:
            flags.review(tx, settings, viewer, post_id=post_id, decision=form.get("decision", ""),
                         action=form.get("action", "hide"), sanction=sanction, until=until,
                         sanction_reason=form.get("sanction_reason", ""), reason=form.get("reason", ""))
    except ForumError as e:
        return _review_page(request, session, viewer, errors=e.form_errors(), error_post=parse_id(post_id),
                            form=form, status_code=e.status_code)
    return see_other("/admin/review")


# --- users ------------------------------------------------------------------------------------

def _user_page(request: Request, session, viewer, user: User, *, errors: dict | None = None,
               form: dict | None = None, status_code: int = 200):
    inviter = session.get(User, user.invited_by_id) if user.invited_by_id else None
    return render(request, "mod/user.html", {
        "user": user, "tiers": TIERS, "inviter": inviter, "invitees": user_admin.invitees(session, user),
        "history": modlog.entries(session, target_user_id=user.id, limit=50),
        "actions_by": modlog.entries(session, actor_id=user.id, limit=20) if user.is_staff else [],
        "flags_received": user_admin.flags_received(session, user, limit=30),
        "flags_given": user_admin.flags_given(session, user, limit=30), "flag_labels": flags.FLAG_LABELS,
        "can_act": permissions.can_moderate_user(viewer, user), "can_grant": permissions.can_grant_staff(viewer),
        "suspended": permissions.is_suspended(user), "silenced": permissions.is_silenced(user),
        "errors": errors or {}, "form": form or {},
    }, status_code=status_code)


@router.get("/users/{user_id}")
def user_tools(request: Request, session: SessionDep, viewer: ViewerDep, user_id: str):
    return _user_page(request, session, viewer, user_admin.get_user(session, user_id))


USER_ACTIONS = ("suspend", "unsuspend", "silence", "unsilence", "role", "approve", "reject", "message",
                "anonymize", "erase")


@router.post("/users/{user_id}/{action}")
async def user_action(request: Request, session: SessionDep, write: WriteDep, viewer: ViewerDep,
                      settings: SettingsDep, user_id: str, action: str):
    if action not in USER_ACTIONS:
        raise NotFound()
    if action == "role":
        permissions.ensure_can_administer(viewer)
    user = user_admin.get_user(session, user_id)
    form = await _form(request)
    reason = form.get("reason", "")
    try:
        with write() as tx:
            if action in ("suspend", "silence"):
                act = user_admin.suspend if action == "suspend" else user_admin.silence
                act(tx, viewer, user.id, until=user_admin.parse_until(form.get("until")), reason=reason)
            elif action == "unsuspend":
                user_admin.unsuspend(tx, viewer, user.id, reason=reason)
            elif action == "unsilence":
                user_admin.unsilence(tx, viewer, user.id, reason=reason)
            elif action == "role":
                user_admin.set_role(tx, viewer, user.id, form.get("role", ""), form.get("enabled") == "1",
                                    reason=reason)
            elif action == "approve":
                user_admin.approve(tx, settings, viewer, user.id)
            elif action == "message":
                user_admin.send_message(tx, viewer, user.id, form.get("message", ""))
            elif action == "anonymize":
                erasure.anonymize(tx, viewer, user.id, confirm=form.get("confirm", ""))
            elif action == "erase":
                erasure.delete_with_posts(tx, viewer, user.id, confirm=form.get("confirm", ""))
            else:
                user_admin.reject(tx, viewer, user.id, reason=reason)
    except ForumError as e:
        return _user_page(request, session, viewer, user, errors=e.form_errors(), form={**form, "action": action},
                          status_code=e.status_code)
    if action == "reject":
        return see_other("/admin/review")
    return see_other(f"/admin/users/{user.id}")


# --- the moderation log -----------------------------------------------------------------------

@router.get("/log")
def log_page(request: Request, session: SessionDep, action: str = "", by: str = "", user: str = "",
             topic: str = "", before: str = ""):
    def user_id(name: str) -> int | None:
        name = clean(name, single_line=True)
        if not name:
            return None
        found = accounts.find_user(session, name)
        return found.id if found is not None else -1  # an unknown name matches nothing

    rows = modlog.entries(session, action=action if action in modlog.ACTIONS else None, actor_id=user_id(by),
                          target_user_id=user_id(user), topic_id=parse_id(topic), before_id=parse_id(before),
                          limit=50)
    filters = {"action": action, "by": by, "user": user, "topic": topic}
    return render(request, "mod/log.html", {"rows": rows, "actions": modlog.ACTIONS, "filters": filters,
                                            "has_more": len(rows) == 50})


# --- invitations ------------------------------------------------------------------------------

def _invitations_page(request: Request, session, viewer, settings, *, page: int = 1, errors: dict | None = None,
                      form: dict | None = None, created=None, status_code: int = 200):
    rows, has_more = invitations.listing(session, page=page)
    return render(request, "mod/invitations.html", {
        "rows": rows, "page": page, "has_more": has_more, "tiers": permissions.invitable_tiers(viewer),
        "categories": categories.all_categories(session), "errors": errors or {},
        "form": form or {"tier": settings.default_tier, "max_uses": "1",
                         "expires_days": str(policy.load(session).invitation_days)},
        "created": created, "link": lambda inv: invitations.link(settings, inv),
        "status_labels": invitations.STATUS_LABELS,
    }, status_code=status_code)


@router.get("/invitations")
def invitations_page(request: Request, session: SessionDep, viewer: ViewerDep, settings: SettingsDep,
                     page: str = "1"):
    return _invitations_page(request, session, viewer, settings, page=reading.parse_page(page))


@router.post("/invitations")
async def invitations_create(request: Request, session: SessionDep, write: WriteDep, viewer: ViewerDep,
                             settings: SettingsDep):
    form = await _form(request)
    try:
        with write() as tx:
            invitation = invitations.create_invitation(
                tx, settings, viewer, tier=form.get("tier", ""), email=form.get("email", ""),
                email_domain=form.get("email_domain", ""), category_id=form.get("category_id") or None,
                max_uses=form.get("max_uses", "1"), expires_days=form.get("expires_days") or None,
                message=form.get("message", ""))
            invitation_id = invitation.id
    except ForumError as e:
        return _invitations_page(request, session, viewer, settings, errors=e.form_errors(), form=form,
                                 status_code=e.status_code)
    created = invitations.get_by_id(session, viewer, invitation_id)
    return _invitations_page(request, session, viewer, settings, created=created)


@router.post("/invitations/{invitation_id}/revoke")
def invitations_revoke(write: WriteDep, viewer: ViewerDep, invitation_id: str):
    with write() as tx:
        invitations.revoke(tx, viewer, invitation_id)
    return see_other("/admin/invitations")


@router.get("/invitations/tree")
def invitation_tree(request: Request, session: SessionDep, viewer: ViewerDep, user: str = "", page: str = "1"):
    root = None
    if user:
        root = accounts.find_user(session, clean(user, single_line=True))
        if root is None:
            raise NotFound()
    page_number = reading.parse_page(page)
    nodes, has_more = invitations.invitation_tree(session, viewer, root=root, page=page_number)
    return render(request, "mod/tree.html", {"nodes": nodes, "root": root, "page": page_number,
                                             "has_more": has_more})


# --- site policy (admins) ---------------------------------------------------------------------

def _settings_page(request: Request, session, *, errors: dict | None = None, form: dict | None = None,
                   saved: bool = False, status_code: int = 200):
    current = policy.load(session)
    values = {**{k: str(v) for k, v in vars(current).items()}, **(form or {})}
    site = request.app.state.renderer.languages(request)
    values.setdefault("languages", list(site.offered))
    values.setdefault("default_language", site.default)
    return render(request, "mod/settings.html", {"form": values, "errors": errors or {}, "saved": saved,
                                                 "modes": policy.SIGNUP_MODE_LABELS, "tiers": TIERS,
                                                 "installed": request.app.state.renderer.locales,
                                                 "known_extensions": policy.DEFAULT_EXTENSIONS.replace(",", ", ")},
                  status_code=status_code)


@router.get("/settings")
def settings_page(request: Request, session: SessionDep, viewer: ViewerDep):
    permissions.ensure_can_administer(viewer)
    return _settings_page(request, session)


@router.post("/settings")
async def settings_save(request: Request, session: SessionDep, write: WriteDep, viewer: ViewerDep):
    permissions.ensure_can_administer(viewer)
    form = await _form(request)
    try:
        with write() as tx:
            policy_admin.save(tx, viewer, form)
    except ValidationFailed as e:
        return _settings_page(request, session, errors=e.form_errors(), form=form, status_code=422)
    session.expire_all()
    return _settings_page(request, session, saved=True)


@router.post("/settings/languages")
async def languages_save(request: Request, session: SessionDep, write: WriteDep, viewer: ViewerDep):
    permissions.ensure_can_administer(viewer)
    form = await request.form()
    offered = [v for v in form.getlist("languages") if isinstance(v, str)]
    default = str(form.get("default_language") or "")
    renderer = request.app.state.renderer
    try:
        with write() as tx:
            languages.save(tx, viewer, renderer.settings, offered, default, renderer.locales)
    except ValidationFailed as e:
        return _settings_page(request, session, errors=e.form_errors(),
                              form={"languages": offered, "default_language": default}, status_code=422)
    session.expire_all()
    request.state.languages = request.state.locale = None  # this very page already in the new choice
    return _settings_page(request, session, saved=True)


# --- what the admin index shows ---------------------------------------------------------------

def index_extras(session, viewer) -> dict[str, Any]:
    return {"review_count": flags.pending_count(session),
            "pending_signups": len(user_admin.pending_signups(session, limit=100)),
            "preview_audiences": PREVIEW_AUDIENCES}

