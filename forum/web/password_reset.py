"""Password reset: ask for a link by email, then choose a new password with it."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request

from forum import emails, ratelimit
from forum.deps import CsrfDep, LimiterDep, SessionDep, SettingsDep, WriteDep, client_ip
from forum.errors import ForumError, ValidationFailed
from forum.web.templating import render

router = APIRouter(dependencies=[CsrfDep])


@router.get("/password-reset")
def password_reset_form(request: Request):
    return render(request, "notifications/reset_request.html", {"form": {}, "errors": {}, "sent": False})


@router.post("/password-reset")
def password_reset_request(request: Request, write: WriteDep, settings: SettingsDep, limiter: LimiterDep,
                           login: Annotated[str, Form()] = ""):
    form = {"login": login}
    try:
        with write() as tx:
            ratelimit.hit_password_reset(limiter, tx, settings, client_ip(request), login)
        with write() as tx:
            emails.request_password_reset(tx, settings, request.app.state.secret_key, login)
    except ForumError as e:
        return render(request, "notifications/reset_request.html", {"form": form, "errors": e.form_errors(),
                                                                    "sent": False}, status_code=e.status_code)
    return render(request, "notifications/reset_request.html", {"form": form, "errors": {}, "sent": True})


@router.get("/password-reset/{token}")
def password_reset_token_form(request: Request, session: SessionDep, token: str):
    try:
        emails.valid_token(session, token, emails.RESET)
    except ValidationFailed as e:
        return render(request, "notifications/reset_password.html", {"token": "", "errors": e.form_errors(),
                                                                     "done": False}, status_code=400)
    return render(request, "notifications/reset_password.html", {"token": token, "errors": {}, "done": False})


@router.post("/password-reset/{token}")
def password_reset(request: Request, write: WriteDep, token: str, password: Annotated[str, Form()] = ""):
    try:
        with write() as tx:
            emails.reset_password(tx, token, password)
    except ValidationFailed as e:
        valid = "password" in e.fields
        return render(request, "notifications/reset_password.html", {
            "token": token if valid else "", "errors": e.form_errors(), "done": False},
            status_code=422 if valid else 400)
    return render(request, "notifications/reset_password.html", {"token": "", "errors": {}, "done": True})
