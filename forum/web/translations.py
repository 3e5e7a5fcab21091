"""Pages for linked translations (forum/translations.py): translate a post, edit or remove a
translation, its history, and likes."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import JSONResponse

from forum import permissions, posting, revisions, translations, urls
from forum.deps import (
    CsrfDep,
    LimiterDep,
    SessionDep,
    SettingsDep,
    UserViewerDep,
    ViewerDep,
    WriteDep,
    is_fetch,
    see_other,
)
from forum.errors import ForumError
from forum.i18n import language_name
from forum.models import Topic
from forum.web.templating import render

router = APIRouter(dependencies=[CsrfDep])


def _back(topic: Topic, post_number: int) -> str:
    return urls.post_url(topic, post_number) + f"#post_{post_number}"


def _translate_page(request: Request, session, settings, post, topic, form: dict, errors: dict, status_code=200):
    left = translations.languages_left(session, settings, post)
    existing = translations.for_posts(session, [post.id]).get(post.id, [])
    return render(request, "translate.html", {
        "post": post, "topic": topic, "form": form, "errors": errors, "languages_left": left,
        "existing": existing}, status_code=status_code)


@router.get("/posts/{post_id}/translate")
def translate_form(request: Request, session: SessionDep, viewer: UserViewerDep, settings: SettingsDep,
                   post_id: str, language: str = ""):
    post, topic = posting.get_post(session, post_id)
    permissions.ensure_can_translate_post(session, viewer, post, topic)
    left = translations.languages_left(session, settings, post)
    # The reader's own language first, when it is still to be done.
    mine = request.app.state.renderer.locale(request)
    chosen = language if language in left else (mine if mine in left else (left[0] if left else ""))
    return _translate_page(request, session, settings, post, topic, {"language": chosen, "raw": ""}, {})


@router.post("/posts/{post_id}/translate")
def translate(request: Request, session: SessionDep, write: WriteDep, viewer: UserViewerDep, settings: SettingsDep,
              limiter: LimiterDep, post_id: str, raw: Annotated[str, Form()] = "",
              language: Annotated[str, Form()] = ""):
    post, topic = posting.get_post(session, post_id)
    permissions.ensure_can_translate_post(session, viewer, post, topic)
    try:
        with write() as tx:
            translations.create(tx, settings, viewer, post_id=post.id, language=language, raw=raw, limiter=limiter)
    except ForumError as e:
        return _translate_page(request, session, settings, post, topic, {"language": language, "raw": raw},
                               e.form_errors(), status_code=e.status_code)
    return see_other(_back(topic, post.post_number))


def _edit_page(request: Request, translation, post, topic, form: dict, errors: dict, status_code=200):
    return render(request, "translation_edit.html", {"translation": translation, "post": post, "topic": topic,
                                                     "form": form, "errors": errors}, status_code=status_code)


@router.get("/translations/{translation_id}/edit")
def edit_form(request: Request, session: SessionDep, viewer: UserViewerDep, translation_id: str):
    translation, post, topic = translations.get_readable(session, viewer, translation_id)
    permissions.ensure_can_edit_translation(session, viewer, translation, post, topic)
    return _edit_page(request, translation, post, topic, {"raw": translation.raw}, {})


@router.post("/translations/{translation_id}/edit")
def edit(request: Request, session: SessionDep, write: WriteDep, viewer: UserViewerDep, settings: SettingsDep,
         translation_id: str, raw: Annotated[str, Form()] = ""):
    translation, post, topic = translations.get_readable(session, viewer, translation_id)
    permissions.ensure_can_edit_translation(session, viewer, translation, post, topic)
    try:
        with write() as tx:
            translations.edit(tx, settings, viewer, translation_id=translation.id, raw=raw)
    except ForumError as e:
        return _edit_page(request, translation, post, topic, {"raw": raw}, e.form_errors(),
                          status_code=e.status_code)
    return see_other(_back(topic, post.post_number))


@router.post("/translations/{translation_id}/delete")
def remove(request: Request, session: SessionDep, write: WriteDep, viewer: UserViewerDep, translation_id: str):
    translation, post, topic = translations.get_readable(session, viewer, translation_id)
    with write() as tx:
        translations.remove(tx, viewer, translation_id=translation.id)
    return see_other(_back(topic, post.post_number))


@router.get("/translations/{translation_id}/revisions")
def history(request: Request, session: SessionDep, viewer: ViewerDep, translation_id: str):
    translation, post, topic = translations.get_readable(session, viewer, translation_id)
    revs = translations.revisions(session, translation)
    texts = [r.raw for r in revs] + [translation.raw]
    # Version n said texts[n-1]; whoever saved revision n made version n+1.
    versions = [{"number": n, "raw": texts[n - 1],
                 "editor": revs[n - 2].user.username if n > 1 else translation.user.username,
                 "at": revs[n - 2].created_at if n > 1 else translation.created_at,
                 "changes": revisions.word_diff(texts[n - 2], texts[n - 1]) if n > 1 else None}
                for n in range(1, len(texts) + 1)]
    return render(request, "translation_revisions.html", {
        "translation": translation, "post": post, "topic": topic, "versions": versions,
        "language": language_name(translation.language, request.app.state.renderer.locale(request))})


def _like_answer(request: Request, session, translation_id: int, liked: bool):
    translation, post, topic = translations.get(session, translation_id)
    session.refresh(translation)
    if is_fetch(request):
        return JSONResponse({"translation_id": translation.id, "like_count": translation.like_count, "liked": liked})
    return see_other(_back(topic, post.post_number))


@router.post("/translations/{translation_id}/like")
def like(request: Request, session: SessionDep, write: WriteDep, viewer: UserViewerDep, limiter: LimiterDep,
         translation_id: str):
    with write() as tx:
        tid = translations.like(tx, viewer, translation_id=translation_id, limiter=limiter).id
    return _like_answer(request, session, tid, True)


@router.post("/translations/{translation_id}/unlike")
def unlike(request: Request, session: SessionDep, write: WriteDep, viewer: UserViewerDep, translation_id: str):
    with write() as tx:
        tid = translations.unlike(tx, viewer, translation_id=translation_id).id
    return _like_answer(request, session, tid, False)
