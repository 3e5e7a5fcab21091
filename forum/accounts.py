"""Accounts: sign-up, log-in, sessions, profile changes, and the first administrator."""

from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from forum import auth, permissions
from forum.config import Settings
from forum.errors import NotFound, ValidationFailed
from forum.i18n import _
from forum.models import TIERS, SiteSetting, User, UserSession, utcnow
from forum.text import clean

USERNAME_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*[A-Za-z0-9_]$|^[A-Za-z0-9_]$")
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
USERNAME_MIN, USERNAME_MAX = 3, 20
PASSWORD_MIN, PASSWORD_MAX = 10, 200
RESERVED_USERNAMES = frozenset({
    "admin", "administrator", "system", "moderator", "moderators", "mod", "staff", "root", "support",
    "everyone", "members", "member", "workers", "worker", "participants", "participant", "anonymous",
    "discobot", "forum", "help", "info", "about", "u", "user", "users", "null", "undefined", "webmaster",
    "postmaster", "hostmaster", "noreply", "no-reply", "security", "abuse", "api", "session", "latest",
})


def username_problem(session: Session, username: str) -> str | None:
    if not (USERNAME_MIN <= len(username) <= USERNAME_MAX):
        return _("Usernames are %(min)s to %(max)s characters long.", min=USERNAME_MIN, max=USERNAME_MAX)
    if not USERNAME_RE.match(username):
        return _("Usernames may use letters, digits, underscores, dots and hyphens, and must start and end with a letter, digit or underscore.")
    if re.search(r"[.-]{2}", username):
        return _("Usernames may not contain two dots or hyphens in a row.")
    if username.lower() in RESERVED_USERNAMES:
        return _("That username is reserved.")
    if session.scalar(select(User.id).where(User.username_lower == username.lower())) is not None:
        return _("That username is already taken.")
    return None


def password_problem(password: str, username: str = "") -> str | None:
    if len(password) < PASSWORD_MIN:
        return _("Passwords need at least %(n)s characters.", n=PASSWORD_MIN)
    if len(password) > PASSWORD_MAX:
        return _("Passwords may be at most %(n)s characters.", n=PASSWORD_MAX)
    if username and password.lower() == username.lower():
        return _("Your password may not be your username.")
    return None


def create_user(
    session: Session,
    *,
    username: str,
    email: str,
    password: str,
    name: str = "",
    tier: str = "participant",
    moderator: bool = False,
    admin: bool = False,
) -> User:
    username = clean(username, single_line=True)
    email = clean(email, single_line=True).lower()
    name = clean(name, single_line=True)[:100]
    fields: dict[str, str] = {}
    problem = username_problem(session, username)
    if problem:
        fields["username"] = problem
    if not EMAIL_RE.match(email) or len(email) > 254:
        fields["email"] = _("Please enter a valid email address.")
    elif (holder := session.scalar(select(User).where(User.email == email))) is not None:
        fields["email"] = (_("Messages from this address were brought in from a mailing list. To take over "
                             "that account and its posts, ask for a password reset link sent to it.")
                           if holder.staged else _("That email address is already in use."))
    problem = password_problem(password, username)
    if problem:
        fields["password"] = problem
    if tier not in TIERS:
        fields["tier"] = _("Tier must be one of %(tiers)s.", tiers=", ".join(TIERS))
    if fields:
        raise ValidationFailed(fields=fields)
    user = User(
        username=username, username_lower=username.lower(), email=email, name=name,
        password_hash=auth.hash_password(password), tier=tier, is_moderator=moderator or admin,
        is_admin=admin,
    )
    session.add(user)
    session.flush()
    return user


def find_user_by_login(session: Session, login: str) -> User | None:
    login = clean(login, single_line=True).lower()
    if not login:
        return None
    if "@" in login:
        return session.scalar(select(User).where(User.email == login))
    return session.scalar(select(User).where(User.username_lower == login))


def authenticate(session: Session, login: str, password: str) -> User | None:
    """The user whose credentials these are, or None; unknown names and wrong passwords look alike.

    A suspended account, or one awaiting approval, raises Forbidden with the reason, but only to
    someone who knows its password.
    """
    user = find_user_by_login(session, login)
    ok = auth.verify_password(user.password_hash if user else None, password)
    if not ok or user is None:
        return None
    permissions.ensure_can_log_in(user)
    if auth.needs_rehash(user.password_hash):
        user.password_hash = auth.hash_password(password)
    return user


def start_session(session: Session, user: User, user_agent: str = "") -> str:
    """Create a server-side session and return the cookie value (only its hash is stored)."""
    token = auth.new_token()
    session.add(UserSession(token_hash=auth.token_hash(token), user_id=user.id,
                            csrf_secret=auth.new_token(), user_agent=user_agent[:255]))
    user.last_seen_at = utcnow()
    return token


def end_session(session: Session, token: str) -> None:
    session.execute(delete(UserSession).where(UserSession.token_hash == auth.token_hash(token)))


def end_all_sessions(session: Session, user_id: int, *, keep_token: str | None = None) -> None:
    stmt = delete(UserSession).where(UserSession.user_id == user_id)
    if keep_token:
        stmt = stmt.where(UserSession.token_hash != auth.token_hash(keep_token))
    session.execute(stmt)


def session_for_token(session: Session, token: str | None, settings: Settings) -> UserSession | None:
    if not token or len(token) > 100:
        return None
    user_session = session.scalar(select(UserSession).where(UserSession.token_hash == auth.token_hash(token)))
    if user_session is None:
        return None
    if user_session.last_used_at + timedelta(seconds=settings.session_max_age) < utcnow():
        return None
    return user_session


def touch_session(session: Session, user_session_id: int, user_id: int) -> None:
    now = utcnow()
    session.execute(update(UserSession).where(UserSession.id == user_session_id).values(last_used_at=now))
    session.execute(update(User).where(User.id == user_id).values(last_seen_at=now))


def change_password(session: Session, user: User, current: str, new: str, keep_token: str | None) -> None:
    if not auth.verify_password(user.password_hash, current):
        raise ValidationFailed(fields={"current_password": _("Your current password is not correct.")})
    problem = password_problem(new, user.username)
    if problem:
        raise ValidationFailed(fields={"new_password": problem})
    user.password_hash = auth.hash_password(new)
    # Other devices are signed out: a changed password is often a response to a leak.
    end_all_sessions(session, user.id, keep_token=keep_token)


def change_profile(session: Session, user: User, *, name: str) -> None:
    name = clean(name, single_line=True)
    if len(name) > 100:
        raise ValidationFailed(fields={"name": _("Display names may be at most 100 characters.")})
    user.name = name


def set_locale(session: Session, user: User, locale: str | None, offered: tuple[str, ...]) -> None:
    """A member's interface language: one the site offers, or none ("" or "auto": the browser decides)."""
    locale = (locale or "").strip() or None
    if locale == "auto":
        locale = None
    if locale is not None and locale not in offered:
        raise ValidationFailed(fields={"locale": _("Choose one of the languages offered: %(codes)s.",
                                                   codes=", ".join(offered))})
    user.locale = locale


THEMES = ("light", "dark")


def set_theme(session: Session, user: User, theme: str | None) -> None:
    """Light, dark, or "system" (None): the device's own setting decides."""
    theme = (theme or "").strip() or None
    if theme == "system":
        theme = None
    if theme is not None and theme not in THEMES:
        raise ValidationFailed(fields={"theme": _("Choose light, dark or your system's setting.")})
    user.theme = theme


def presence_shown(session: Session, user: User) -> bool:
    """Whether others are told "… is replying" while this person writes (on unless they said no)."""
    from forum.models import UserOption

    row = session.get(UserOption, user.id)
    return row is None or not row.hide_presence


def set_presence_shown(session: Session, user: User, shown: bool) -> None:
    from forum.models import UserOption

    row = session.get(UserOption, user.id)
    if row is None:
        row = UserOption(user_id=user.id)  # the other options take their column defaults
        session.add(row)
    row.hide_presence = not shown


def set_tier(session: Session, user: User, tier: str) -> None:
    if tier not in TIERS:
        raise ValidationFailed(_("Tier must be one of %(tiers)s.", tiers=", ".join(TIERS)))
    user.tier = tier


def get_user(session: Session, username: str) -> User:
    if not username or len(username) > USERNAME_MAX * 2 or clean(username) != username:
        raise NotFound()
    user = session.scalar(select(User).where(User.username_lower == username.lower()))
    if user is None:
        raise NotFound()
    return user


def find_user(session: Session, username: str) -> User | None:
    return session.scalar(select(User).where(User.username_lower == username.lower()))


def users_named(session: Session, usernames: set[str]) -> dict[str, User]:
    if not usernames:
        return {}
    return {u.username: u for u in session.scalars(select(User).where(User.username.in_(usernames)))}


def users_matching(session: Session, *, usernames: list[str], emails: list[str], ids: list[int]) -> list[User]:
    """Accounts named by any of these usernames (any case), lower-case email addresses or ids."""
    return list(session.scalars(select(User).where(
        User.username_lower.in_([u.lower() for u in usernames]) | User.email.in_(emails) | User.id.in_(ids))))


def admin_exists(session: Session) -> bool:
    return session.scalar(select(func.count()).select_from(User).where(User.is_admin.is_(True))) > 0


# --- site state shared by all processes --------------------------------------------------------

def get_site_value(session: Session, key: str) -> str | None:
    return session.scalar(select(SiteSetting.value).where(SiteSetting.key == key))


def set_site_value(session: Session, key: str, value: str | None) -> None:
    row = session.get(SiteSetting, key)
    if value is None:
        if row is not None:
            session.delete(row)
    elif row is None:
        session.add(SiteSetting(key=key, value=value))
    else:
        row.value = value


def setup_token(session: Session) -> str | None:
    """A one-time token for creating the first admin in the browser, while there is none."""
    if admin_exists(session):
        set_site_value(session, "setup_token", None)
        return None
    token = get_site_value(session, "setup_token")
    if token is None:
        token = auth.new_token()
        set_site_value(session, "setup_token", token)
    return token
