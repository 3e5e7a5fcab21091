"""Invitations for everyone who may send them (/my/invitations) and the invitation link itself."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse

from forum import accounts, auth, invitations, permissions, policy, urls
from forum.deps import CsrfDep, SessionDep, SettingsDep, UserViewerDep, ViewerDep, WriteDep
from forum.errors import ForumError, NotFound
from forum.models import Category, User
from forum.web.templating import render

router = APIRouter(dependencies=[CsrfDep])


def _mine_page(request: Request, session, viewer, settings, *, errors: dict | None = None,
               form: dict | None = None, created=None, status_code: int = 200):
    rows, _more = invitations.listing(session, created_by_id=viewer.id, per_page=100)
    return render(request, "mod/my_invitations.html", {
        "allowed": permissions.may_invite(session, viewer), "left": permissions.invitations_left(session, viewer),
        "rows": rows, "tiers": permissions.invitable_tiers(viewer),
        "categories": permissions.creatable_categories(session, viewer) or [],
        "errors": errors or {}, "form": form or {"tier": viewer.user.tier}, "created": created,
        "link": lambda inv: invitations.link(settings, inv), "status_labels": invitations.STATUS_LABELS,
        "days": policy.load(session).invitation_days,
    }, status_code=status_code)


@router.get("/my/invitations")
def my_invitations(request: Request, session: SessionDep, viewer: UserViewerDep, settings: SettingsDep):
    return _mine_page(request, session, viewer, settings)


@router.post("/my/invitations")
async def my_invitations_create(request: Request, session: SessionDep, write: WriteDep, viewer: UserViewerDep,
                                settings: SettingsDep):
    form = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
    try:
        with write() as tx:
            invitation = invitations.create_invitation(
                tx, settings, viewer, tier=form.get("tier", ""), email=form.get("email", ""),
                category_id=form.get("category_id") or None, message=form.get("message", ""),
                max_uses=form.get("max_uses") or 1)
            invitation_id = invitation.id
    except ForumError as e:
        return _mine_page(request, session, viewer, settings, errors=e.form_errors(), form=form,
                          status_code=e.status_code)
    return _mine_page(request, session, viewer, settings,
                      created=invitations.get_by_id(session, viewer, invitation_id))


@router.post("/my/invitations/{invitation_id}/revoke")
def my_invitations_revoke(write: WriteDep, viewer: UserViewerDep, invitation_id: str):
    with write() as tx:
        invitations.revoke(tx, viewer, invitation_id)
    return RedirectResponse("/my/invitations", status_code=303)


def _landing(request: Request, session, invitation, *, form: dict | None = None, errors: dict | None = None,
             status_code: int = 200):
    inviter = session.get(User, invitation.created_by_id)
    category = session.get(Category, invitation.category_id) if invitation.category_id else None
    return render(request, "mod/invite.html", {
        "invitation": invitation, "inviter": inviter, "category": category,
        "problem": invitations.refusal(invitation), "errors": errors or {},
        "form": form or {"email": invitation.email or ""},
    }, status_code=status_code)


@router.get("/invites/{code}")
def invitation_landing(request: Request, session: SessionDep, viewer: ViewerDep, code: str):
    invitation = invitations.get_by_code(session, code)
    if not viewer.is_anonymous:
        category = session.get(Category, invitation.category_id) if invitation.category_id else None
        return RedirectResponse(urls.category_url(category) if category else "/", status_code=303)
    problem = invitations.refusal(invitation)
    return _landing(request, session, invitation, status_code=410 if problem else 200)


@router.post("/invites/{code}")
async def invitation_accept(request: Request, session: SessionDep, write: WriteDep, viewer: ViewerDep,
                            settings: SettingsDep, code: str):
    invitation = invitations.get_by_code(session, code)
    form = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
    try:
        with write() as tx:
            user = invitations.redeem(tx, settings, code=code, username=form.get("username", ""),
                                      email=form.get("email", ""), password=form.get("password", ""),
                                      name=form.get("name", ""))
            token = accounts.start_session(tx, user, request.headers.get("user-agent", ""))
            category = tx.get(Category, invitation.category_id) if invitation.category_id else None
            landing = urls.category_url(category) if category else "/"
    except NotFound:
        raise
    except ForumError as e:
        session.expire_all()
        invitation = invitations.get_by_code(session, code)
        kept = {k: form.get(k, "") for k in ("username", "email", "name")}
        return _landing(request, session, invitation, form=kept, errors=e.form_errors(), status_code=e.status_code)
    response = RedirectResponse(landing, status_code=303)
    response.set_cookie(auth.SESSION_COOKIE, token, httponly=True, samesite="lax", secure=settings.cookies_secure,
                        max_age=settings.session_max_age, path="/")
    return response
