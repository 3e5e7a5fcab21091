"""Flagging a post: a page with the reasons (works without JavaScript) and its form."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from forum import flags, permissions, posting, urls
from forum.deps import CsrfDep, SessionDep, UserViewerDep, WriteDep
from forum.errors import ForumError
from forum.models import FLAG_TYPES
from forum.web.templating import render

router = APIRouter(dependencies=[CsrfDep])


def _form_page(request: Request, post, topic, *, form: dict | None = None, errors: dict | None = None,
               status_code: int = 200):
    return render(request, "mod/flag.html", {
        "post": post, "topic": topic, "types": FLAG_TYPES, "labels": flags.FLAG_LABELS, "help": flags.FLAG_HELP,
        "form": form or {}, "errors": errors or {}}, status_code=status_code)


@router.get("/posts/{post_id}/flag")
def flag_form(request: Request, session: SessionDep, viewer: UserViewerDep, post_id: str):
    post, topic = posting.get_post(session, post_id)
    permissions.ensure_can_flag_post(session, viewer, post, topic)
    return _form_page(request, post, topic)


@router.post("/posts/{post_id}/flag")
async def flag(request: Request, session: SessionDep, write: WriteDep, viewer: UserViewerDep, post_id: str):
    post, topic = posting.get_post(session, post_id)
    permissions.ensure_can_see_post(session, viewer, post, topic)
    form = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
    try:
        with write() as tx:
            flags.flag_post(tx, viewer, post_id=post.id, flag_type=form.get("flag_type", ""),
                            message=form.get("message", ""))
    except ForumError as e:
        if request.headers.get("x-requested-with") == "fetch":
            return JSONResponse({"errors": [str(m) for m in e.messages]}, status_code=e.status_code)
        return _form_page(request, post, topic, form=form, errors=e.form_errors(), status_code=e.status_code)
    if request.headers.get("x-requested-with") == "fetch":
        return JSONResponse({"flagged": True})
    return render(request, "mod/flag_done.html", {"post": post, "topic": topic,
                                                  "back": urls.post_url(topic, post.post_number)})
