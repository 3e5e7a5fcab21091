"""Staff pages. The whole router carries the moderator check, so no route here can forget it."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse
from sqlalchemy import or_, select

from forum import accounts, categories, permissions
from forum.errors import NotFound, ValidationFailed
from forum.i18n import _
from forum.models import AUDIENCES, LEVELS_BY_NAME, TIERS, Category, User
from forum.text import parse_id
from forum.web.deps import CsrfDep, SessionDep, ViewerDep, WriteDep
from forum.web.templating import render


def require_staff(viewer: ViewerDep) -> None:
    permissions.ensure_can_moderate(viewer)


router = APIRouter(prefix="/admin", dependencies=[Depends(require_staff), CsrfDep])


def _category_form_levels(form) -> dict[str, int]:
    levels = {}
    for audience in AUDIENCES:
        value = form.get(f"level_{audience}", "")
        if value not in LEVELS_BY_NAME:
            raise ValidationFailed(_("Choose a level for %(audience)s.", audience=audience))
        levels[audience] = LEVELS_BY_NAME[value]
    return levels


@router.get("")
def admin_index(request: Request, session: SessionDep):
    cats = list(session.scalars(select(Category).order_by(Category.position, Category.id)))
    return render(request, "admin/index.html", {"categories": cats, "presets": categories.PRESETS,
                                                 "audiences": AUDIENCES, "form": {}, "errors": {}})


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
        cats = list(session.scalars(select(Category).order_by(Category.position, Category.id)))
        return render(request, "admin/index.html", {"categories": cats, "presets": categories.PRESETS,
                                                     "audiences": AUDIENCES, "form": dict(form),
                                                     "errors": e.form_errors()}, status_code=422)
    return RedirectResponse(f"/admin/categories/{cid}", status_code=303)


@router.get("/categories/{category_id}")
def admin_category(request: Request, session: SessionDep, category_id: str):
    cid = parse_id(category_id)
    category = session.get(Category, cid) if cid else None
    if category is None:
        raise NotFound()
    return render(request, "admin/category.html", {"category": category, "audiences": AUDIENCES,
                                                   "presets": categories.PRESETS, "errors": {}, "saved": False})


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
        return render(request, "admin/category.html", {"category": category, "audiences": AUDIENCES,
                                                       "presets": categories.PRESETS,
                                                       "errors": e.form_errors(), "saved": False},
                      status_code=422)
    session.expire_all()
    category = session.get(Category, cid)
    return render(request, "admin/category.html", {"category": category, "audiences": AUDIENCES,
                                                   "presets": categories.PRESETS, "errors": {}, "saved": True})


@router.get("/users")
def admin_users(request: Request, session: SessionDep, q: str = ""):
    stmt = select(User).order_by(User.username_lower).limit(100)
    if q:
        like = f"%{q.lower()}%"
        stmt = stmt.where(or_(User.username_lower.like(like), User.email.like(like)))
    return render(request, "admin/users.html", {"users": list(session.scalars(stmt)), "tiers": TIERS, "q": q})


@router.post("/users/{user_id}/tier")
def admin_set_tier(write: WriteDep, user_id: str, tier: Annotated[str, Form()] = ""):
    uid = parse_id(user_id)
    if uid is None:
        raise NotFound()
    with write() as tx:
        user = tx.get(User, uid)
        if user is None:
            raise NotFound()
        accounts.set_tier(tx, user, tier)
    return RedirectResponse("/admin/users", status_code=303)
