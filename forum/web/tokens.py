"""Pages for secrets: a user's private feed links, and the admins' API keys.

A new secret is shown once, on the page that made it; only its hash is kept.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse

from forum import apikeys, feedtokens, permissions
from forum.deps import CsrfDep, SessionDep, SettingsDep, UserViewerDep, ViewerDep, WriteDep
from forum.errors import ValidationFailed
from forum.i18n import _
from forum.models import ALL_FEEDS
from forum.web.templating import render

router = APIRouter(dependencies=[CsrfDep])


# --- private feed links -----------------------------------------------------------------------

def _feeds_page(request: Request, session, viewer, settings, *, new=None, form=None, errors=None,
                status_code: int = 200):
    tokens = [(t, feedtokens.describe_scope(session, viewer, t.scope))
              for t in feedtokens.list_feed_tokens(session, viewer)]
    new_links = None
    if new is not None:
        info = feedtokens.describe_scope(session, viewer, new.token.scope)
        paths = [info.feed_path] if info.feed_path else ["/latest.rss", "/posts.rss"]
        new_links = {"label": info.label, "urls": [feedtokens.feed_url(settings.base_url, p, new.secret)
                                                   for p in paths],
                     "all": new.token.scope == ALL_FEEDS}
    return render(request, "feed_tokens.html", {"tokens": tokens, "new": new_links, "form": form or {},
                                                "errors": errors or {}}, status_code=status_code)


@router.get("/my/preferences/feeds")
def feed_tokens_page(request: Request, session: SessionDep, viewer: UserViewerDep, settings: SettingsDep):
    return _feeds_page(request, session, viewer, settings)


@router.post("/my/feed-tokens")
def create_feed_token(request: Request, session: SessionDep, write: WriteDep, viewer: UserViewerDep,
                      settings: SettingsDep, feed: Annotated[str, Form()] = "",
                      scope: Annotated[str, Form()] = "", label: Annotated[str, Form()] = ""):
    form = {"feed": feed, "label": label}
    try:
        wanted = scope or feedtokens.scope_from_url(session, feed)
        with write() as tx:
            new = feedtokens.create_feed_token(tx, viewer, scope=wanted, label=label)
    except ValidationFailed as e:
        return _feeds_page(request, session, viewer, settings, form=form, errors=e.form_errors(),
                           status_code=422)
    return _feeds_page(request, session, viewer, settings, new=new)


@router.post("/my/feed-tokens/{token_id}/revoke")
def revoke_feed_token(write: WriteDep, viewer: UserViewerDep, token_id: str):
    with write() as tx:
        feedtokens.revoke_feed_token(tx, viewer, token_id)
    return RedirectResponse("/my/preferences/feeds", status_code=303)


# --- API keys (admins) ------------------------------------------------------------------------

def require_admin(viewer: ViewerDep) -> None:
    permissions.ensure_can_manage_api_keys(viewer)


admin = APIRouter(prefix="/admin/api-keys", dependencies=[CsrfDep, Depends(require_admin)])


def _keys_page(request: Request, session, viewer, *, new=None, form=None, errors=None, status_code: int = 200):
    return render(request, "admin/api_keys.html", {"keys": apikeys.list_api_keys(session, viewer), "new": new,
                                                   "form": form or {}, "errors": errors or {}},
                  status_code=status_code)


@admin.get("")
def api_keys_page(request: Request, session: SessionDep, viewer: ViewerDep):
    return _keys_page(request, session, viewer)


@admin.post("")
def create_api_key(request: Request, session: SessionDep, write: WriteDep, viewer: ViewerDep,
                   description: Annotated[str, Form()] = "", username: Annotated[str, Form()] = "",
                   scope: Annotated[str, Form()] = "all"):
    form = {"description": description, "username": username, "scope": scope}
    try:
        if scope == "user" and not username.strip():
            raise ValidationFailed(fields={"username": _("Name the user this key acts as.")})
        with write() as tx:
            new = apikeys.create_api_key(tx, viewer, description=description,
                                         username=username if scope == "user" else None)
            secret = new.secret
    except ValidationFailed as e:
        return _keys_page(request, session, viewer, form=form, errors=e.form_errors(), status_code=422)
    session.expire_all()
    return _keys_page(request, session, viewer, new=secret)


@admin.post("/{key_id}/revoke")
def revoke_api_key(write: WriteDep, viewer: ViewerDep, key_id: str):
    with write() as tx:
        apikeys.revoke_api_key(tx, viewer, key_id)
    return RedirectResponse("/admin/api-keys", status_code=303)

