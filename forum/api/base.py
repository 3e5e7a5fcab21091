"""What every API route shares: the JSON response type, API-key authentication, parameters."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response

from forum import apikeys
from forum.api.params import Params, read_params
from forum.deps import CsrfDep, SessionDep, WriteDep
from forum.i18n import translate
from forum.permissions import Viewer

JSON_TYPE = "application/json; charset=utf-8"


class DiscourseJSON(JSONResponse):
    # pydiscourse compares the header with this exact string.
    media_type = JSON_TYPE


def tr(request: Request, message) -> str:
    """A message in the caller's language (Accept-Language, or the API user's profile)."""
    return translate(message, request.app.state.renderer.gettext(request))


def empty() -> Response:
    """Discourse answers some writes with an empty 200; clients accept it only without a JSON type."""
    return Response(b"", status_code=200, media_type="text/plain")


def api_key_auth(request: Request, session: SessionDep, write: WriteDep) -> None:
    """Resolve `Api-Key` (+ `Api-Username` / `Api-User-Id`) before the viewer and CSRF checks run.

    Without the header the request is a browser's, and the session cookie decides as on pages.
    """
    secret = request.headers.get("api-key")
    if secret is None:
        if request.headers.get("user-api-key") is not None:
            raise apikeys.UserApiKeyRefused()
        return
    key, user = apikeys.authenticate(session, secret, username=request.headers.get("api-username"),
                                     user_id=request.headers.get("api-user-id"))
    if apikeys.needs_touch(key):
        with write() as tx:
            apikeys.touch(tx, key.id)
    request.state.viewer = Viewer(user=user)
    request.state.api_key_user = user  # API keys are not ambient credentials: no CSRF token needed
    request.state.csrf_binding = None


ParamsDep = Annotated[Params, Depends(read_params)]


def api_router() -> APIRouter:
    return APIRouter(tags=["discourse api"], dependencies=[Depends(api_key_auth), CsrfDep],
                     default_response_class=DiscourseJSON)
