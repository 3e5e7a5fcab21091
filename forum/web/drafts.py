"""Drafts on pages: the person's own list, and Discard, which asks first."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request

from forum import drafts, urls
from forum.deps import CsrfDep, SessionDep, UserViewerDep, ViewerDep, WriteDep, see_other
from forum.errors import NotFound
from forum.web.templating import render

router = APIRouter(dependencies=[CsrfDep])


def _composer_url(key: str, topic) -> str:
    return f"/t/{topic.id}/reply" if topic is not None else "/new-topic"


@router.get("/u/{username}/activity/drafts")
def drafts_page(request: Request, session: SessionDep, viewer: ViewerDep, username: str):
    if viewer.user is None or viewer.user.username_lower != username.lower():
        raise NotFound()  # other people's drafts look missing
    listed = drafts.stream(session, viewer, limit=100)
    return render(request, "drafts.html", {
        "items": [(drafts.Kept(i.draft.draft_key, i.draft.sequence, i.draft.data, i.draft.updated_at), i.topic,
                   _composer_url(i.draft.draft_key, i.topic)) for i in listed]})


@router.post("/drafts/discard")
def discard(request: Request, session: SessionDep, write: WriteDep, viewer: UserViewerDep,
            draft_key: Annotated[str, Form()] = "", draft_sequence: Annotated[str, Form()] = "",
            confirmed: Annotated[str, Form()] = ""):
    kept = drafts.get(session, viewer, draft_key)  # 404 for a topic the viewer may not see
    topic = drafts.topic_of(session, kept.key)
    back = _composer_url(kept.key, topic)
    if kept.data is None:
        return see_other(back)  # nothing kept (posted or discarded elsewhere)
    context = {"draft": kept, "topic": topic, "back": back, "sequence": draft_sequence}
    if confirmed != "1":
        return render(request, "draft_discard.html", context)
    with write() as tx:
        done = drafts.clear(tx, viewer, key=kept.key, sequence=draft_sequence)
    if not done:
        return render(request, "draft_discard.html", {**context, "kept_newer": True}, status_code=409)
    return see_other(back if topic is None else urls.topic_url(topic))
