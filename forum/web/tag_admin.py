"""Staff pages for tags: create, rename and delete tags, gather them in groups, and choose which
tags each category allows. The whole router carries the staff check."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request

from forum import categories, permissions
from forum import tags as forum_tags
from forum.deps import CsrfDep, SessionDep, ViewerDep, WriteDep, require_staff, see_other
from forum.errors import ForumError, NotFound
from forum.text import parse_id
from forum.web.templating import render

router = APIRouter(prefix="/admin", dependencies=[Depends(require_staff), CsrfDep])


def _page(request: Request, session, viewer, *, errors: dict | None = None, status_code: int = 200,
          where: str = ""):
    cats = categories.all_categories(session)
    limits = {c.id: forum_tags.category_limits(session, c.id) for c in cats}
    return render(request, "admin/tags.html", {
        "tags": forum_tags.tag_list(session, viewer), "groups": forum_tags.groups_with_tags(session),
        "categories": cats, "limits": limits, "errors": errors or {}, "where": where,
    }, status_code=status_code)


def _act(request: Request, session, viewer, write, where: str, action) -> object:
    try:
        with write() as tx:
            action(tx)
    except ForumError as e:
        if isinstance(e, NotFound):
            raise
        session.expire_all()
        return _page(request, session, viewer, errors=e.form_errors(), status_code=e.status_code, where=where)
    return see_other(f"/admin/tags#{where}" if where else "/admin/tags")


@router.get("/tags")
def tags_admin(request: Request, session: SessionDep, viewer: ViewerDep):
    permissions.ensure_can_manage_tags(viewer)
    return _page(request, session, viewer)


@router.post("/tags")
def create_tag(request: Request, session: SessionDep, write: WriteDep, viewer: ViewerDep,
               name: Annotated[str, Form()] = ""):
    return _act(request, session, viewer, write, "new-tag", lambda tx: forum_tags.create_tag(tx, viewer, name))


@router.post("/tags/{name}/rename")
def rename_tag(request: Request, session: SessionDep, write: WriteDep, viewer: ViewerDep, name: str,
               new_name: Annotated[str, Form()] = ""):
    return _act(request, session, viewer, write, "tags",
                lambda tx: forum_tags.rename_tag(tx, viewer, name, new_name))


@router.post("/tags/{name}/delete")
def delete_tag(request: Request, session: SessionDep, write: WriteDep, viewer: ViewerDep, name: str):
    return _act(request, session, viewer, write, "tags", lambda tx: forum_tags.delete_tag(tx, viewer, name))


@router.post("/tag-groups")
def create_group(request: Request, session: SessionDep, write: WriteDep, viewer: ViewerDep,
                 name: Annotated[str, Form()] = "", tags: Annotated[str, Form()] = ""):
    return _act(request, session, viewer, write, "new-group", lambda tx: forum_tags.save_tag_group(
        tx, viewer, name=name, tag_names=forum_tags.parse_names(tags)))


@router.post("/tag-groups/{group_id}")
def update_group(request: Request, session: SessionDep, write: WriteDep, viewer: ViewerDep, group_id: str,
                 name: Annotated[str, Form()] = "", tags: Annotated[str, Form()] = ""):
    return _act(request, session, viewer, write, "groups", lambda tx: forum_tags.save_tag_group(
        tx, viewer, name=name, tag_names=forum_tags.parse_names(tags), group_id=group_id))


@router.post("/tag-groups/{group_id}/delete")
def delete_group(request: Request, session: SessionDep, write: WriteDep, viewer: ViewerDep, group_id: str):
    return _act(request, session, viewer, write, "groups",
                lambda tx: forum_tags.delete_tag_group(tx, viewer, group_id))


@router.post("/tags/categories/{category_id}")
def category_tags(request: Request, session: SessionDep, write: WriteDep, viewer: ViewerDep, category_id: str,
                  tags: Annotated[str, Form()] = "", groups: Annotated[list[str], Form()] = []):  # noqa: B006
    group_ids = [gid for gid in (parse_id(g) for g in groups) if gid is not None]
    return _act(request, session, viewer, write, f"category-{parse_id(category_id) or 0}",
                lambda tx: forum_tags.set_category_tags(tx, viewer, category_id,
                                                        tag_names=forum_tags.parse_names(tags), group_ids=group_ids))
