"""The language switcher: visitors choose with a link (a cookie remembers it), members with a form
that saves the choice in their profile. Both work without JavaScript."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import JSONResponse, RedirectResponse

from forum import accounts, auth
from forum.deps import CsrfDep, UserViewerDep, ViewerDep, WriteDep, safe_next
from forum.errors import NotFound
from forum.i18n import js_catalog, translations
from forum.models import User

router = APIRouter(dependencies=[CsrfDep])

# A year: the choice outlives browser sessions, like Discourse's.
COOKIE_AGE = 365 * 24 * 3600


def _remember(request: Request, response: RedirectResponse, code: str | None) -> RedirectResponse:
    settings = request.app.state.settings
    if code:
        response.set_cookie(auth.LOCALE_COOKIE, code, max_age=COOKIE_AGE, httponly=True, samesite="lax",
                            secure=settings.cookies_secure, path="/")
    else:
        response.delete_cookie(auth.LOCALE_COOKIE, path="/")
    return response


@router.get("/i18n/{code}.json", include_in_schema=False)
def script_catalog(request: Request, code: str):
    """The strings the page scripts show, in one language (pages also carry their own inline)."""
    renderer = request.app.state.renderer
    if code not in renderer.locales:
        raise NotFound()
    return JSONResponse({"locale": code, "messages": js_catalog(translations(code, renderer.locale_dir).gettext)},
                        headers={"Cache-Control": "public, max-age=3600", "Content-Language": code})


@router.get("/language/{code}")
def choose_language(request: Request, viewer: ViewerDep, code: str, next: str = "/"):
    """A visitor's choice: kept in a cookie; a member's profile setting still comes first."""
    if code not in request.app.state.renderer.languages(request).offered:
        raise NotFound()
    return _remember(request, RedirectResponse(safe_next(next), status_code=303), code)


@router.post("/language")
def save_language(request: Request, write: WriteDep, viewer: UserViewerDep,
                  locale: Annotated[str, Form()] = "", next: Annotated[str, Form()] = "/"):
    """A member's choice: saved in the profile (Discourse's user field `locale`)."""
    offered = request.app.state.renderer.languages(request).offered
    with write() as session:
        accounts.set_locale(session, session.get(User, viewer.id), locale, offered)
    return _remember(request, RedirectResponse(safe_next(next), status_code=303), locale or None)
