"""Staff actions on accounts: tier, suspension, silencing, staff roles, approval of sign-ups.

Each function checks who may act on whom (permissions.ensure_can_moderate_user), acts, and logs.
Suspending ends every session of the account at once.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import and_, case, delete, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, aliased

from forum import accounts, auth, languages, mail, modlog, notifications, permissions, policy, urls
from forum.config import Settings
from forum.errors import Conflict, Forbidden, NotFound, ValidationFailed
from forum.i18n import _, translate
from forum.models import (
    LIKE,
    TIERS,
    ApiKey,
    CategoryUser,
    EmailToken,
    FeedToken,
    Flag,
    ModerationLog,
    Post,
    PostAction,
    Topic,
    TopicUser,
    User,
    UserOption,
    UserSession,
    utcnow,
)
from forum.models.notifications import DIGEST_NONE, EMAIL_NONE
from forum.permissions import Viewer
from forum.text import clean, parse_id

ROLES = ("moderator", "admin")
_NO_SYNC = {"synchronize_session": False}
MESSAGE_MAX = 1000


def get_user(session: Session, user_id: int | str | None) -> User:
    uid = parse_id(user_id)
    user = session.get(User, uid) if uid is not None else None
    if user is None:
        raise NotFound()
    return user


def target(session: Session, viewer: Viewer, user_id: int | str) -> User:
    """The account a staff action is about, if the viewer may act on it (rule 10); 404 otherwise."""
    permissions.ensure_can_moderate(viewer)
    return permissions.ensure_can_moderate_user(viewer, get_user(session, user_id))


def _required_reason(reason: str) -> str:
    reason = clean(reason, single_line=True)
    if not reason:
        raise ValidationFailed(fields={"reason": _("Give a reason; the person will see it.")})
    if len(reason) > 500:
        raise ValidationFailed(fields={"reason": _("Reasons may be at most 500 characters.")})
    return reason


def send_message(session: Session, viewer: Viewer, user_id: int | str, message: str) -> User:
    """A message from the moderators to one person: a notification they cannot mute (and an email, if
    they take notification emails). The log keeps its text."""
    user = target(session, viewer, user_id)
    text = clean(message, single_line=True)
    if not text:
        raise ValidationFailed(fields={"message": _("Write the message.")})
    if len(text) > MESSAGE_MAX:
        raise ValidationFailed(fields={"message": _("Messages may be at most %(n)s characters.", n=MESSAGE_MAX)})
    sent = notifications.notify(session, user.id, "moderator_message", data={"message": text}, actor_id=viewer.id,
                                high_priority=True)
    if sent is None:
        raise ValidationFailed(_("This account cannot receive messages until its sign-up is approved."))
    _log(session, viewer, "message_user", user, reason=text)
    return user


def parse_until(value: str | None) -> datetime:
    """The end of a suspension or silence from a form: a date (YYYY-MM-DD), ending at 00:00 UTC that day."""
    try:
        day = date.fromisoformat((value or "").strip())
    except ValueError:
        raise ValidationFailed(fields={"until": _("Enter the end date as YYYY-MM-DD.")}) from None
    return datetime.combine(day, time(0, 0), tzinfo=UTC)


def _future(until: datetime) -> datetime:
    if until.tzinfo is None:
        until = until.replace(tzinfo=UTC)
    if until <= utcnow():
        raise ValidationFailed(fields={"until": _("The end date must be in the future.")})
    if until > utcnow() + timedelta(days=365 * 100):
        raise ValidationFailed(fields={"until": _("The end date is too far away.")})
    return until


def _log(session: Session, viewer: Viewer, action: str, user: User, reason: str = "", **details) -> None:
    modlog.record(session, viewer, action, target_type="user", target_id=user.id, target_user_id=user.id,
                  summary=user.username, reason=reason, details=details or None)


def set_tier(session: Session, viewer: Viewer, user_id: int | str, tier: str, *, reason: str = "") -> User:
    user = target(session, viewer, user_id)
    if tier not in TIERS:
        raise ValidationFailed(fields={"tier": _("Tier must be one of %(tiers)s.", tiers=", ".join(TIERS))})
    if user.tier == tier:
        return user
    before = user.tier
    accounts.set_tier(session, user, tier)
    _log(session, viewer, "set_tier", user, clean(reason, single_line=True), **{"from": before, "to": tier})
    return user


ANONYMOUS_DOMAIN = "anonymized.invalid"


def anonymize(session: Session, viewer: Viewer, user_id: int | str, *, reason: str = "") -> User:
    """Discourse's anonymize: the account keeps its posts under a new, meaningless username, and loses
    its name, address, settings and every way in (sessions, API keys, feed tokens, e-mail links).
    The log names only the new username: keeping the old one there would undo the point."""
    user = target(session, viewer, user_id)
    username = _anonymous_username(session)
    user.username, user.username_lower = username, username.lower()
    user.name = ""
    user.email = f"{username.lower()}@{ANONYMOUS_DOMAIN}"
    user.password_hash = auth.hash_password(secrets.token_urlsafe(32))  # nobody knows it
    user.timezone = user.locale = None
    for model in (UserSession, ApiKey, FeedToken, EmailToken, UserOption, CategoryUser):
        session.execute(delete(model).where(model.user_id == user.id))
    # Nothing is mailed to the placeholder address.
    session.add(UserOption(user_id=user.id, email_notifications=EMAIL_NONE, email_digest=DIGEST_NONE))
    _log(session, viewer, "anonymize_user", user, clean(reason, single_line=True))
    session.flush()
    return user


def _anonymous_username(session: Session) -> str:
    while True:
        candidate = f"anon{secrets.randbelow(10**8):08d}"
        if session.scalar(select(User.id).where(User.username_lower == candidate)) is None:
            return candidate


def suspend(session: Session, viewer: Viewer, user_id: int | str, *, until: datetime, reason: str) -> User:
    """The account cannot log in until then, and every session it has ends now."""
    user = target(session, viewer, user_id)
    reason = _required_reason(reason)
    until = _future(until)
    user.suspended_until = until
    user.suspend_reason = reason
    accounts.end_all_sessions(session, user.id)
    _log(session, viewer, "suspend_user", user, reason, until=until.isoformat())
    session.flush()
    return user


def unsuspend(session: Session, viewer: Viewer, user_id: int | str, *, reason: str = "") -> User:
    user = target(session, viewer, user_id)
    if not permissions.is_suspended(user):
        raise Conflict(_("This account is not suspended."))
    user.suspended_until = None
    user.suspend_reason = ""
    _log(session, viewer, "unsuspend_user", user, clean(reason, single_line=True))
    session.flush()
    return user


def silence(session: Session, viewer: Viewer, user_id: int | str, *, until: datetime, reason: str) -> User:
    """The account can read but not post until then."""
    user = target(session, viewer, user_id)
    reason = _required_reason(reason)
    until = _future(until)
    user.silenced_until = until
    user.silence_reason = reason
    _log(session, viewer, "silence_user", user, reason, until=until.isoformat())
    session.flush()
    return user


def unsilence(session: Session, viewer: Viewer, user_id: int | str, *, reason: str = "") -> User:
    user = target(session, viewer, user_id)
    if not permissions.is_silenced(user):
        raise Conflict(_("This account is not silenced."))
    user.silenced_until = None
    user.silence_reason = ""
    _log(session, viewer, "unsilence_user", user, clean(reason, single_line=True))
    session.flush()
    return user


def set_role(session: Session, viewer: Viewer, user_id: int | str, role: str, enabled: bool, *,
             reason: str = "") -> User:
    """Admins grant and revoke moderator and admin. Nobody changes their own role, and one admin always stays."""
    permissions.ensure_can_administer(viewer)
    user = get_user(session, user_id)
    if role not in ROLES:
        raise ValidationFailed(fields={"role": _("Role must be moderator or admin.")})
    if user.id == viewer.id:
        raise ValidationFailed(_("You cannot change your own staff role."))
    column = "is_moderator" if role == "moderator" else "is_admin"
    if getattr(user, column) == enabled:
        return user
    if role == "admin" and not enabled:
        admins = session.scalar(select(func.count(User.id)).where(User.is_admin.is_(True))) or 0
        if admins <= 1:
            raise ValidationFailed(_("The forum needs at least one admin."))
    setattr(user, column, enabled)
    if role == "admin" and enabled:
        user.is_moderator = True
    action = f"{'grant' if enabled else 'revoke'}_{role}"
    _log(session, viewer, action, user, clean(reason, single_line=True))
    session.flush()
    return user


# --- sign-ups awaiting approval ---------------------------------------------------------------

def pending_signups(session: Session, *, limit: int = 100, offset: int = 0) -> list[User]:
    return list(session.scalars(select(User).where(User.approved.is_(False))
                                .order_by(User.created_at, User.id).offset(offset).limit(limit)))


def pending_signup_count(session: Session) -> int:
    return session.scalar(select(func.count(User.id)).where(User.approved.is_(False))) or 0


def approve(session: Session, settings: Settings, viewer: Viewer, user_id: int | str) -> User:
    permissions.ensure_can_moderate(viewer)
    user = get_user(session, user_id)
    if user.approved:
        raise Conflict(_("This account is already approved."))
    user.approved = True
    _log(session, viewer, "approve_user", user)
    if user.email:
        from forum import emails

        # In the newcomer's language, when they chose one.
        locale = languages.for_user(session, settings, user)
        subject = translate(_("Your account at %(site)s is ready", site=settings.site_title),
                            emails.translations(locale).gettext)
        text, html = emails.render(locale, "account_approved", {
            "subject": subject, "site_title": settings.site_title, "site_url": urls.absolute(settings.base_url, "/"),
            "username": user.username, "url": urls.absolute(settings.base_url, "/login")})
        mail.queue_email(session, to=user.email, subject=subject, text=text, html=html,
                         dedupe_key=f"approved:{user.id}")
    session.flush()
    return user


def reject(session: Session, viewer: Viewer, user_id: int | str, *, reason: str = "") -> None:
    """Remove a sign-up that was never approved (it has no posts: it could not log in)."""
    permissions.ensure_can_moderate(viewer)
    user = get_user(session, user_id)
    if user.approved:
        raise Conflict(_("Only sign-ups awaiting approval can be rejected."))
    modlog.record(session, viewer, "reject_user", target_type="user", target_id=user.id,
                  summary=f"{user.username} <{user.email}>", reason=clean(reason, single_line=True))
    session.delete(user)
    session.flush()


# --- activation, sessions and deletion (Discourse's admin user actions) -----------------------

def activate(session: Session, settings: Settings, viewer: Viewer, user_id: int | str) -> User:
    """Discourse's activate: the account may log in (a pending sign-up is approved, and told so) and
    its email address counts as confirmed."""
    from forum import emails

    permissions.ensure_can_moderate(viewer)
    user = get_user(session, user_id)
    if not user.approved:
        approve(session, settings, viewer, user.id)
    emails.confirm_address(session, user.id)
    session.flush()
    return user


def deactivate(session: Session, viewer: Viewer, user_id: int | str, *, reason: str = "") -> User:
    """The account may not log in until staff activate (approve) it again; its sessions end now."""
    user = target(session, viewer, user_id)
    if not user.approved:
        raise Conflict(_("This account is not active."))
    user.approved = False
    accounts.end_all_sessions(session, user.id)
    _log(session, viewer, "deactivate_user", user, clean(reason, single_line=True))
    session.flush()
    return user


def log_out(session: Session, viewer: Viewer, user_id: int | str) -> User:
    """End every session of the account (browsers must log in again; API keys are not sessions)."""
    user = target(session, viewer, user_id)
    accounts.end_all_sessions(session, user.id)
    _log(session, viewer, "log_out_user", user)
    session.flush()
    return user


def delete_user(session: Session, viewer: Viewer, user_id: int | str, *, reason: str = "") -> None:
    """Remove an account that never posted, as Discourse does; one with posts is suspended instead.

    Its likes go with it (the counters they added are taken back); the log keeps its name."""
    user = target(session, viewer, user_id)
    if session.scalar(select(Post.id).where(Post.user_id == user.id).limit(1)) is not None:
        raise Forbidden(_("%(username)s has posts: suspend the account instead, or delete its posts first.",
                          username=user.username))
    liked = list(session.scalars(select(PostAction.post_id).where(PostAction.user_id == user.id,
                                                                 PostAction.action_type == LIKE)))
    if liked:
        session.execute(update(Post).where(Post.id.in_(liked), Post.like_count > 0)
                        .values(like_count=Post.like_count - 1), execution_options=_NO_SYNC)
        per_topic = session.execute(select(Post.topic_id, func.count()).where(Post.id.in_(liked))
                                    .group_by(Post.topic_id)).all()
        for topic_id, n in per_topic:
            session.execute(update(Topic).where(Topic.id == topic_id)
                            .values(like_count=Topic.like_count - n),
                            execution_options=_NO_SYNC)
    # The log and the invitation tree keep their rows; they name the account by its username.
    session.execute(update(ModerationLog).where(ModerationLog.target_user_id == user.id)
                    .values(target_user_id=None), execution_options=_NO_SYNC)
    session.execute(update(User).where(User.invited_by_id == user.id).values(invited_by_id=None),
                    execution_options=_NO_SYNC)
    modlog.record(session, viewer, "delete_user", target_type="user", target_id=user.id,
                  summary=f"{user.username} <{user.email}>", reason=clean(reason, single_line=True))
    try:
        with session.begin_nested():
            session.delete(user)
            session.flush()
    except IntegrityError:
        raise Forbidden(_("%(username)s has acted on the forum (as staff, or in reviews): suspend the account "
                          "instead.", username=user.username)) from None


# --- what staff see about a person ------------------------------------------------------------

@dataclass
class FlagRow:
    flag: Flag
    flagger: str
    author: str
    post: Post
    topic: Topic


def _flag_rows(session: Session, where, limit: int) -> list[FlagRow]:
    flagger, author = aliased(User), aliased(User)
    stmt = (select(Flag, flagger.username, author.username, Post, Topic)
            .join(flagger, flagger.id == Flag.user_id)
            .join(Post, Post.id == Flag.post_id)
            .join(author, author.id == Post.user_id)
            .join(Topic, Topic.id == Post.topic_id)
            .where(where).order_by(Flag.id.desc()).limit(limit))
    return [FlagRow(f, a, b, p, t) for f, a, b, p, t in session.execute(stmt)]


def flags_received(session: Session, user: User, *, limit: int = 50) -> list[FlagRow]:
    """Flags on this person's posts, newest first."""
    return _flag_rows(session, and_(Post.user_id == user.id), limit)


def flags_given(session: Session, user: User, *, limit: int = 50) -> list[FlagRow]:
    return _flag_rows(session, and_(Flag.user_id == user.id), limit)


def invitees(session: Session, user: User, *, limit: int = 100) -> list[User]:
    return list(session.scalars(select(User).where(User.invited_by_id == user.id)
                                .order_by(User.created_at, User.id).limit(limit)))


def find_users(session: Session, *, q: str = "", show: str = "", limit: int = 100) -> list[User]:
    """Accounts whose username or email contains `q`, narrowed to the suspended, silenced, pending or staff ones (staff pages)."""
    stmt = select(User).order_by(User.username_lower).limit(limit)
    if q:
        like = f"%{q.lower()}%"
        stmt = stmt.where(User.username_lower.like(like) | User.email.like(like))
    now = utcnow()
    if show == "suspended":
        stmt = stmt.where(User.suspended_until > now)
    elif show == "silenced":
        stmt = stmt.where(User.silenced_until > now)
    elif show == "pending":
        stmt = stmt.where(User.approved.is_(False))
    elif show == "staff":
        stmt = stmt.where(User.is_moderator.is_(True) | User.is_admin.is_(True))
    return list(session.scalars(stmt))


# --- Discourse's admin user lists and account page ----------------------------------------------

LIST_PAGE_SIZE = 100
# Discourse's `order` names and our columns; those we do not record sort by creation.
LIST_ORDERS = {"created": User.created_at, "seen": User.last_seen_at, "username": User.username_lower,
               "email": User.email, "posts": User.post_count,
               "trust_level": case({"participant": 1, "worker": 2, "member": 3}, value=User.tier, else_=0)}
LIST_FLAGS = ("all", "active", "new", "staff", "admins", "moderators", "suspended", "silenced", "blocked", "pending",
              "suspect", "staged")


def _list_flag_clause(session: Session, flag: str):
    now = utcnow()
    if flag == "all":
        return None
    if flag == "active":
        return User.approved.is_(True)
    if flag == "new":
        # Discourse's new users are its lowest trust level; here, participants still in their first days.
        days = policy.load(session).new_participant_days
        return (User.tier == "participant") & (User.created_at > now - timedelta(days=days))
    if flag == "staff":
        return permissions.staff_clause()
    if flag == "admins":
        return User.is_admin.is_(True)
    if flag == "moderators":
        return User.is_moderator.is_(True) & User.is_admin.is_(False)
    if flag == "suspended":
        return User.suspended_until > now
    if flag in ("silenced", "blocked"):
        return User.silenced_until > now
    if flag == "pending":
        return User.approved.is_(False)
    return User.id.is_(None)  # suspect and staged accounts are not a thing here


def list_users(session: Session, viewer: Viewer, *, flag: str = "all", text: str = "", order: str = "created",
               ascending: bool = False, page: int = 1) -> list[User]:
    """One page of accounts for staff: narrowed by Discourse's list flag and a username/email fragment."""
    permissions.ensure_can_moderate(viewer)
    if flag not in LIST_FLAGS:
        raise NotFound()
    stmt = select(User)
    where = _list_flag_clause(session, flag)
    if where is not None:
        stmt = stmt.where(where)
    text = text.strip().lower()[:100]
    if text:
        like = "%" + text.replace("\\", "").replace("%", "").replace("_", "") + "%"
        stmt = stmt.where(or_(User.username_lower.like(like), User.email.like(like)))
    column = LIST_ORDERS.get(order, User.created_at)
    page = min(max(page, 1), 100_000)
    stmt = stmt.order_by(column.asc() if ascending else column.desc(), User.id.desc() if not ascending else User.id)
    return list(session.scalars(stmt.offset((page - 1) * LIST_PAGE_SIZE).limit(LIST_PAGE_SIZE)))


@dataclass
class AccountRecord:
    has_posts: bool
    topics_entered: int
    topic_count: int
    like_count: int
    like_given_count: int
    flags_given_count: int
    flags_received_count: int
    api_key_count: int
    times_suspended: int
    times_silenced: int


def account_record(session: Session, viewer: Viewer, user: User) -> AccountRecord:
    """The counts on Discourse's admin account page. Staff only: they count what staff may see."""
    permissions.ensure_can_moderate(viewer)

    def count(stmt) -> int:
        return session.scalar(stmt) or 0

    penalties = dict(session.execute(
        select(ModerationLog.action, func.count(ModerationLog.id))
        .where(ModerationLog.target_user_id == user.id,
               ModerationLog.action.in_(("suspend_user", "silence_user")))
        .group_by(ModerationLog.action)).all())
    return AccountRecord(
        has_posts=session.scalar(select(Post.id).where(Post.user_id == user.id).limit(1)) is not None,
        topics_entered=count(select(func.count(TopicUser.topic_id)).where(
            TopicUser.user_id == user.id, TopicUser.first_visited_at.is_not(None))),
        topic_count=count(select(func.count(Topic.id)).where(Topic.user_id == user.id, Topic.deleted_at.is_(None))),
        like_count=count(select(func.count(PostAction.id)).join(Post, Post.id == PostAction.post_id)
                         .where(Post.user_id == user.id, PostAction.action_type == LIKE)),
        like_given_count=count(select(func.count(PostAction.id)).where(
            PostAction.user_id == user.id, PostAction.action_type == LIKE)),
        flags_given_count=count(select(func.count(Flag.id)).where(Flag.user_id == user.id)),
        flags_received_count=count(select(func.count(Flag.id)).join(Post, Post.id == Flag.post_id)
                                   .where(Post.user_id == user.id)),
        api_key_count=count(select(func.count(ApiKey.id)).where(ApiKey.user_id == user.id,
                                                                ApiKey.revoked_at.is_(None))),
        times_suspended=penalties.get("suspend_user", 0),
        times_silenced=penalties.get("silence_user", 0),
    )
