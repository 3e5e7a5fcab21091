"""Staff pages. The whole router carries the moderator check, so no route here can forget it."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse

from forum import categories, labels, user_admin
from forum.deps import CsrfDep, SessionDep, ViewerDep, WriteDep, require_staff
from forum.errors import NotFound, ValidationFailed
from forum.i18n import _
from forum.models import AUDIENCES, LEVELS_BY_NAME, TIERS, Category
from forum.text import parse_id
from forum.web.mod import category_page, index_extras
from forum.web.templating import render

router = APIRouter(prefix="/admin", dependencies=[Depends(require_staff), CsrfDep])


def _category_form_levels(form) -> dict[str, int]:
    levels = {}
    for audience in AUDIENCES:
        value = form.get(f"level_{audience}", "")
        if value not in LEVELS_BY_NAME:
            raise ValidationFailed(_("Choose a level for %(audience)s.",
                                     audience=labels.AUDIENCE_LABELS.get(audience, audience)))
        levels[audience] = LEVELS_BY_NAME[value]
    return levels


@router.get("")
def admin_index(request: Request, session: SessionDep, viewer: ViewerDep):
    cats = categories.all_categories(session)
    return render(request, "admin/index.html", {"categories": cats, "presets": categories.PRESETS,
                                                 "audiences": AUDIENCES, "form": {}, "errors": {},
                                                 **index_extras(session, viewer)})


@router.post("/categories")
async def admin_create_category(request: Request, write: WriteDep, session: SessionDep, viewer: ViewerDep):
    form = await request.form()
    try:
        preset = form.get("preset", "public")
        if preset not in categories.PRESETS:
            raise ValidationFailed(fields={"preset": _("Choose a preset.")})
        parent = form.get("parent_id") or None
        with write() as tx:
            category = categories.create_category(
                tx, viewer, name=str(form.get("name", "")), description=str(form.get("description", "")),
                color=str(form.get("color", "0088CC")), parent_id=parse_id(parent),
                levels=categories.PRESETS[preset])
            cid = category.id
    except ValidationFailed as e:
        cats = categories.all_categories(session)
        return render(request, "admin/index.html", {"categories": cats, "presets": categories.PRESETS,
                                                     "audiences": AUDIENCES, "form": dict(form),
                                                     "errors": e.form_errors(), **index_extras(session, viewer)},
                      status_code=422)
    return RedirectResponse(f"/admin/categories/{cid}", status_code=303)


@router.get("/categories/{category_id}")
def admin_category(request: Request, session: SessionDep, viewer: ViewerDep, category_id: str):
    cid = parse_id(category_id)
    category = session.get(Category, cid) if cid else None
    if category is None:
        raise NotFound()
    return category_page(request, session, viewer, category)


@router.post("/categories/{category_id}")
async def admin_category_save(request: Request, write: WriteDep, session: SessionDep, viewer: ViewerDep,
                              category_id: str):
    cid = parse_id(category_id)
    if cid is None:
        raise NotFound()
    form = await request.form()
    try:
        preset = form.get("preset")
        levels = categories.PRESETS[preset] if preset in categories.PRESETS else _category_form_levels(form)
        with write() as tx:
            categories.set_levels(tx, viewer, cid, levels)
    except ValidationFailed as e:
        category = session.get(Category, cid)
        if category is None:
            raise NotFound() from None
        return category_page(request, session, viewer, category, errors=e.form_errors(), status_code=422)
    session.expire_all()
    category = session.get(Category, cid)
    if category is None:
        raise NotFound()
    return category_page(request, session, viewer, category, saved=True)


@router.get("/users")
def admin_users(request: Request, session: SessionDep, q: str = "", show: str = ""):
    users = user_admin.find_users(session, q=q, show=show)
    return render(request, "admin/users.html", {"users": users, "tiers": TIERS, "q": q, "show": show})


@router.post("/users/{user_id}/tier")
def admin_set_tier(write: WriteDep, viewer: ViewerDep, user_id: str, tier: Annotated[str, Form()] = "",
                   reason: Annotated[str, Form()] = "", next: Annotated[str, Form()] = ""):
    uid = parse_id(user_id)
    if uid is None:
        raise NotFound()
    with write() as tx:
        user_admin.set_tier(tx, viewer, uid, tier, reason=reason)
    return RedirectResponse(f"/admin/users/{uid}" if next == "user" else "/admin/users", status_code=303)
