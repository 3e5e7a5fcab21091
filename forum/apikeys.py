"""API keys for the Discourse-compatible API: made and revoked by admins, only a hash kept.

A request carrying `Api-Key` acts as a user: the key's own user, or for an all-users key the
one named by `Api-Username` (or `Api-User-Id`). From there on it sees and does exactly what that
user could in the browser: every route goes through the same services and permission checks.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from forum import auth, pagecache, permissions
from forum.errors import Forbidden, NotFound, ValidationFailed
from forum.i18n import _
from forum.models import ApiKey, User, utcnow
from forum.permissions import Viewer
from forum.text import clean, parse_id

INVALID_KEY = _("You are not permitted to view the requested resource. The API username or key is invalid.")
# Refresh last_used_at at most this often: reads should not all write.
TOUCH_EVERY = timedelta(minutes=5)


class InvalidApiKey(Forbidden):
    default_message = INVALID_KEY


class UserApiKeyRefused(Forbidden):
    """Discourse's user API keys (the `User-Api-Key` header, `?user_api_key=` on feeds) are not offered:
    such a request is refused, never quietly served as an anonymous one."""

    default_message = _("User API keys are not supported on this forum. Ask an administrator for an API key "
                        "and send it in the Api-Key and Api-Username headers.")


@dataclass
class NewApiKey:
    key: ApiKey
    secret: str  # shown once, never stored


def create_api_key(session: Session, viewer: Viewer, *, description: str = "",
                   username: str | None = None) -> NewApiKey:
    """An API key for one user (`username`) or, without one, for all users."""
    permissions.ensure_can_manage_api_keys(viewer)
    user = None
    username = clean(username, single_line=True)
    if username:
        user = session.scalar(select(User).where(User.username_lower == username.lower()))
        if user is None:
            raise ValidationFailed(fields={"username": _("There is no user with that username.")})
    secret = secrets.token_hex(32)
    key = ApiKey(key_hash=auth.token_hash(secret), truncated_key=secret[:4],
                 description=clean(description, single_line=True)[:255],
                 user_id=user.id if user else None, created_by_id=viewer.id)
    session.add(key)
    session.flush()
    return NewApiKey(key, secret)


def list_api_keys(session: Session, viewer: Viewer) -> list[ApiKey]:
    permissions.ensure_can_manage_api_keys(viewer)
    return list(session.scalars(select(ApiKey).order_by(ApiKey.revoked_at.is_not(None), ApiKey.id.desc())))


def revoke_api_key(session: Session, viewer: Viewer, key_id: int | str) -> ApiKey:
    permissions.ensure_can_manage_api_keys(viewer)
    kid = parse_id(key_id)
    key = session.get(ApiKey, kid) if kid is not None else None
    if key is None:
        raise NotFound()
    if key.revoked_at is None:
        key.revoked_at = utcnow()
    return key


def authenticate(session: Session, secret: str, *, username: str | None = None,
                 user_id: str | None = None) -> tuple[ApiKey, User]:
    """The key and the user a request acts as; InvalidApiKey (403) for anything wrong."""
    if not secret or len(secret) > 200:
        raise InvalidApiKey()
    # Looked up by its hash: the key itself is never stored, and timing reveals nothing about it.
    key = session.scalar(select(ApiKey).where(ApiKey.key_hash == auth.token_hash(secret.strip())))
    if key is None:
        raise InvalidApiKey()
    user: User | None = None
    if username:
        user = session.scalar(select(User).where(User.username_lower == clean(username, single_line=True).lower()))
    elif user_id:
        uid = parse_id(user_id)
        user = session.get(User, uid) if uid is not None else None
    elif key.user_id is not None:
        user = key.user
    if user is None or not permissions.api_key_may_act_as(key, user):
        raise InvalidApiKey()
    return key, user


def needs_touch(key: ApiKey) -> bool:
    return key.last_used_at is None or key.last_used_at < utcnow() - TOUCH_EVERY


def touch(session: Session, key_id: int) -> None:
    # Bookkeeping no shared page shows: quiet, and harmless to repeat when a request runs again.
    pagecache.quiet(session)
    session.execute(update(ApiKey).where(ApiKey.id == key_id).values(last_used_at=utcnow()))
