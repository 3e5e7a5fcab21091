"""Confirming an email address with the link sent to it (the link is sent from the email settings page)."""

from __future__ import annotations

from fastapi import APIRouter, Request

from forum import emails
from forum.deps import CsrfDep, SessionDep, WriteDep
from forum.errors import ValidationFailed
from forum.web.templating import render

router = APIRouter(dependencies=[CsrfDep])


@router.get("/confirm-email/{token}")
def confirm_email_form(request: Request, session: SessionDep, token: str):
    try:
        emails.valid_token(session, token, emails.CONFIRM)
    except ValidationFailed as e:
        return render(request, "notifications/confirm_email.html", {"token": "", "errors": e.form_errors(),
                                                                    "done": False}, status_code=400)
    return render(request, "notifications/confirm_email.html", {"token": token, "errors": {}, "done": False})


@router.post("/confirm-email/{token}")
def confirm_email(request: Request, write: WriteDep, token: str):
    try:
        with write() as tx:
            emails.confirm_email(tx, token)
    except ValidationFailed as e:
        return render(request, "notifications/confirm_email.html", {"token": "", "errors": e.form_errors(),
                                                                    "done": False}, status_code=400)
    return render(request, "notifications/confirm_email.html", {"token": "", "errors": {}, "done": True})
