"""Email to people: notification emails, digests, password reset and address confirmation.

Every email goes through the outbox (forum/outbox.py, forum/mail.py): queued in the transaction of
the change that causes it, sent by the worker, once. Notification emails and digests are composed
by outbox jobs, when they run, with the recipient's permissions at that moment; nothing a person may
not read goes into their email. Each email carries a one-click unsubscribe link and the
List-Unsubscribe / List-Unsubscribe-Post headers (RFC 8058), and writes every time in the
recipient's own time zone, labelled.

Digests are planned, not chained: `user_options.next_digest_at` says when each person's next digest
is due (their hour, in their zone). The worker's tick (`plan_due_digests`, every
`digest_check_seconds`, a minute by default) queues a job for every digest that has come due and
moves the plan on to the next slot in the same transaction, so a digest job that fails for good
never stops the ones after it, and the next digest covers what the failed one would have.
"""

from __future__ import annotations

import hashlib
import hmac
import html
import re
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from functools import lru_cache
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session

from forum import (
    TEMPLATES_DIR,
    accounts,
    auth,
    languages,
    mail,
    notifications,
    outbox,
    pagecache,
    permissions,
    signing,
    timezones,
    uploads,
    urls,
)
from forum.errors import NotFound, ValidationFailed
from forum.i18n import Text, _, translate, translations
from forum.markdown import excerpt
from forum.models import (
    MUTED,
    CategoryUser,
    EmailToken,
    Notification,
    Topic,
    TopicUser,
    User,
    UserOption,
    utcnow,
)
from forum.models.notifications import DIGEST_DAILY, DIGEST_NONE, DIGEST_WEEKLY, EMAIL_IMMEDIATE, EMAIL_NONE
from forum.permissions import Viewer

RESET, CONFIRM = "reset_password", "confirm_email"
TOKEN_LIFETIME = {RESET: timedelta(hours=1), CONFIRM: timedelta(days=7)}
UNSUBSCRIBE_WHAT = ("notifications", "digest", "all")
DIGEST_TOPICS = 20
DIGEST_BATCH = 500
# A digest covers the activity since the last one that went out, but never more than this many periods.
DIGEST_MAX_PERIODS = 2


# --- options ----------------------------------------------------------------------------------

def options(session: Session, user_id: int, *, create: bool = False) -> UserOption:
    row = session.get(UserOption, user_id)
    if row is None:
        row = UserOption(user_id=user_id, email_notifications=EMAIL_IMMEDIATE, email_digest=DIGEST_NONE,
                         digest_hour=8, digest_weekday=0)
        if create:
            session.add(row)
            session.flush()
    return row


def confirm_address(session: Session, user_id: int) -> None:
    opts = options(session, user_id, create=True)
    if opts.email_confirmed_at is None:
        opts.email_confirmed_at = utcnow()


def next_digest_time(after: datetime, zone_name: str | None, hour: int, weekday: int, weekly: bool) -> datetime:
    """The next instant after `after` when the recipient's own clock shows `hour` (on `weekday` if weekly)."""
    zone = timezones.zone(zone_name)
    day = after.astimezone(zone).date()
    for i in range(16):
        d = day + timedelta(days=i)
        if weekly and d.weekday() != weekday:
            continue
        candidate = datetime.combine(d, time(hour, 0), tzinfo=zone).astimezone(UTC)
        if candidate > after:
            return candidate
    raise AssertionError("no digest time within two weeks")


def is_digest_slot(user: User, opts: UserOption, slot: datetime) -> bool:
    """Is `slot` one of the times the person's current choice (zone, hour, day, frequency) gives?"""
    if opts.email_digest == DIGEST_NONE:
        return False
    return next_digest_time(slot - timedelta(seconds=1), user.timezone, opts.digest_hour, opts.digest_weekday,
                            opts.email_digest == DIGEST_WEEKLY) == slot


def set_preferences(session: Session, user: User, *, timezone: str, email_notifications: str, email_digest: str,
                    digest_hour: str | int, digest_weekday: str | int) -> UserOption:
    fields: dict[str, Text] = {}
    timezone = (timezone or "").strip()
    if timezone and not timezones.is_valid_zone(timezone):
        fields["timezone"] = _("Choose a time zone from the list, such as Europe/London.")
    if email_notifications not in (EMAIL_IMMEDIATE, EMAIL_NONE):
        fields["email_notifications"] = _("Choose whether to get an email for each notification.")
    if email_digest not in (DIGEST_NONE, DIGEST_DAILY, DIGEST_WEEKLY):
        fields["email_digest"] = _("Choose a daily digest, a weekly digest or none.")
    hour = _small_int(digest_hour, 0, 23)
    if hour is None:
        fields["digest_hour"] = _("Choose an hour from 0 to 23.")
    weekday = _small_int(digest_weekday, 0, 6)
    if weekday is None:
        fields["digest_weekday"] = _("Choose a day of the week.")
    if fields:
        raise ValidationFailed(fields=fields)
    assert hour is not None and weekday is not None
    user.timezone = timezone or None
    opts = options(session, user.id, create=True)
    if opts.email_digest == DIGEST_NONE and email_digest != DIGEST_NONE:
        opts.last_digest_at = utcnow()  # the first digest covers what happened since subscribing
    opts.email_notifications, opts.email_digest = email_notifications, email_digest
    opts.digest_hour, opts.digest_weekday = hour, weekday
    schedule_digest(session, user, opts)
    return opts


def _small_int(value: str | int, low: int, high: int) -> int | None:
    try:
        number = int(value)
    except (TypeError, ValueError):
        return None
    return number if low <= number <= high else None


def schedule_digest(session: Session, user: User, opts: UserOption, *, after: datetime | None = None) -> None:
    """Plan the next digest (the worker's tick queues it when it comes due)."""
    if opts.email_digest == DIGEST_NONE:
        opts.next_digest_at = None
        return
    opts.next_digest_at = next_digest_time(after or utcnow(), user.timezone, opts.digest_hour, opts.digest_weekday,
                                           opts.email_digest == DIGEST_WEEKLY)


def plan_due_digests(session: Session, now: datetime | None = None, *, limit: int = DIGEST_BATCH) -> int:
    """Queue the digests that have come due by `now` and plan each person's next one; returns how many were due.

    Idempotent: a digest is queued under a key made of its person and slot, and the plan moves on in
    the same transaction, so ticks of several workers (or a tick retried after a crash) queue it once.
    """
    now = now or utcnow()
    stmt = (select(UserOption, User).join(User, User.id == UserOption.user_id)
            .where(UserOption.email_digest != DIGEST_NONE, UserOption.next_digest_at.is_not(None),
                   UserOption.next_digest_at <= now)
            .order_by(UserOption.next_digest_at).limit(limit))
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update(of=UserOption, skip_locked=True, key_share=True)
    rows = session.execute(stmt).all()
    for opts, user in rows:
        slot = opts.next_digest_at
        assert slot is not None
        # A plan made before the person changed zone or hour by another route is not sent; the next one is.
        if is_digest_slot(user, opts, slot):
            outbox.enqueue(session, "digest", {"user_id": user.id, "slot": slot.isoformat()},
                           dedupe_key=f"digest:{user.id}:{slot.isoformat()}")
        # After an outage, one digest for the missed time rather than one per missed slot.
        schedule_digest(session, user, opts, after=max(slot, now))
    return len(rows)


@outbox.periodic("digests", lambda settings: settings.digest_check_seconds)
def _plan_digests_tick(db, settings, now: datetime) -> None:
    while True:
        with db.write() as session:
            pagecache.quiet(session)  # the next digest's time and its queued job
            if plan_due_digests(session, now) < DIGEST_BATCH:
                return


# --- unsubscribe links ------------------------------------------------------------------------

def unsubscribe_signature(secret_keys: signing.Keys, user_id: int, what: str) -> str:
    return signing.signature(secret_keys, signing.UNSUBSCRIBE, f"{user_id}:{what}")


def unsubscribe_path(secret_keys: signing.Keys, user_id: int, what: str) -> str:
    return f"/email/unsubscribe/{user_id}/{what}/{unsubscribe_signature(secret_keys, user_id, what)}"


_LEGACY_SIGNATURE = re.compile(r"[0-9a-f]{40}")


def _legacy_signature_valid(keys: list[str], user_id: int, what: str, given: str) -> bool:
    # Links mailed before signatures were made with itsdangerous: a bare HMAC-SHA256, cut to 40 hex digits.
    # Unsubscribe links stay in old emails for years, so these keep working while their key is kept.
    if not _LEGACY_SIGNATURE.fullmatch(given):
        return False
    message = f"unsubscribe:{user_id}:{what}".encode()
    return any(hmac.compare_digest(hmac.new(key.encode(), message, hashlib.sha256).hexdigest()[:40], given)
               for key in keys)


def check_unsubscribe(session: Session, secret_key: str, user_id: str, what: str, signature: str) -> User:
    """The person an unsubscribe link is for; NotFound unless one of the site's keys signed it."""
    from forum import sitestate

    uid = int(user_id) if user_id.isdigit() and len(user_id) < 11 else None
    if uid is None or what not in UNSUBSCRIBE_WHAT:
        raise NotFound()
    # Retired keys come from the database, so a link signed before a rotation works in every process.
    keys = [secret_key, *sitestate.retired_keys(session)]
    value = f"{uid}:{what}"
    if not (signing.signature_valid(keys, signing.UNSUBSCRIBE, value, signature)
            or _legacy_signature_valid(keys, uid, what, signature)):
        raise NotFound()
    user = session.get(User, uid)
    if user is None:
        raise NotFound()
    return user


def unsubscribe(session: Session, user: User, what: str) -> None:
    opts = options(session, user.id, create=True)
    if what in ("notifications", "all"):
        opts.email_notifications = EMAIL_NONE
    if what in ("digest", "all"):
        opts.email_digest = DIGEST_NONE
        opts.next_digest_at = None


def resubscribe(session: Session, user: User, what: str) -> None:
    opts = options(session, user.id, create=True)
    if what in ("notifications", "all"):
        opts.email_notifications = EMAIL_IMMEDIATE
    if what in ("digest", "all") and opts.email_digest == DIGEST_NONE:
        opts.email_digest = DIGEST_WEEKLY
        opts.last_digest_at = utcnow()
        schedule_digest(session, user, opts)


# --- composing --------------------------------------------------------------------------------

@dataclass
class Letter:
    """An email being written for one recipient, in their language and time zone."""

    user: User
    settings: Any
    secret_key: str
    locale: str

    def t(self, message: Text | str) -> str:
        return translate(message, translations(self.locale).gettext)

    def when(self, value: datetime) -> str:
        """A time in the recipient's zone, labelled with it: "Wed 25 Nov 2026, 14:05 Madrid (CET)"."""
        return timezones.zoned_text(value, self.user.timezone or "UTC", self.locale).full

    def link(self, path: str) -> str:
        return urls.absolute(self.settings.base_url, path)

    def queue(self, session: Session, *, subject: str, template: str, context: dict[str, Any], what: str,
              dedupe_key: str | None) -> None:
        """Render templates/email/<template>.txt and .html for this recipient and queue the email."""
        unsubscribe_url = self.link(unsubscribe_path(self.secret_key, self.user.id, what))
        text, html_body = render(self.locale, template, {
            **context, "subject": subject, "site_url": self.link("/"), "site_title": self.settings.site_title,
            "zone": self.user.timezone or "UTC", "preferences_url": self.link("/my/email"),
            "unsubscribe_url": unsubscribe_url})
        assert self.user.email
        mail.queue_email(
            session, to=self.user.email, subject=subject, text=text, html=html_body,
            headers={"List-Unsubscribe": f"<{unsubscribe_url}>",
                     "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
                     "Auto-Submitted": "auto-generated"},
            dedupe_key=dedupe_key)


def _environment(locale: str) -> Environment:
    return _environment_for(translations(locale))


@lru_cache(maxsize=32)
def _environment_for(trans) -> Environment:
    # Keyed on the catalog itself (translations() keeps one per language), not on the language code.
    env = Environment(
        loader=FileSystemLoader(str(TEMPLATES_DIR)),
        # HTML bodies are escaped; the plain-text ones are not (an "&" stays an "&").
        autoescape=select_autoescape(["html"], default_for_string=False, default=False),
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=StrictUndefined,
        auto_reload=False,
    )
    env.install_gettext_callables(trans.gettext, trans.ngettext, newstyle=True)  # type: ignore[attr-defined]
    return env


def render(locale: str, template: str, context: dict[str, Any]) -> tuple[str, str]:
    """The plain-text and HTML bodies of templates/email/<template>.txt and .html, in `locale`."""
    env = _environment(locale)
    context = {"locale": locale, "unsubscribe_url": None, **context}
    text = env.get_template(f"email/{template}.txt").render(context)
    html_body = env.get_template(f"email/{template}.html").render(context)
    # Templates may leave runs of blank lines where optional parts are left out.
    text = re.sub(r"\n{3,}", "\n\n", text.strip("\n")) + "\n"
    return text, html_body


def _letter(session: Session, user: User, settings, secret_key: str) -> Letter:
    return Letter(user, settings, secret_key, languages.for_user(session, settings, user))


def _may_email(session: Session, user: User, opts: UserOption) -> bool:
    return permissions.can_receive_email(user, address_confirmed=opts.email_confirmed_at is not None)


def compose_notification_email(session: Session, settings, secret_key: str, notification_id: int) -> bool:
    """Queue the email for one notification, if it is still unread, still readable and still wanted."""
    n = session.get(Notification, notification_id)
    if n is None or n.read or n.emailed_at is not None:
        return False
    user = session.get(User, n.user_id)
    if user is None:
        return False
    opts = options(session, user.id)
    if opts.email_notifications != EMAIL_IMMEDIATE or not _may_email(session, user, opts):
        return False
    try:
        # The reader's permissions now, not when the notification was written.
        view = notifications.get_visible(session, Viewer(user), n.id)
    except NotFound:
        return False
    letter = _letter(session, user, settings, secret_key)
    message = letter.t(view.message)
    letter.queue(session, subject=f"[{settings.site_title}] {message}"[:250], template="notification", context={
        "message": message,
        # Excerpts are HTML text (entities escaped); the templates escape what they put in HTML themselves.
        "post_excerpt": html.unescape(view.excerpt) if view.post is not None else None,
        "posted": letter.when(view.post.created_at) if view.post is not None else None,
        "url": letter.link(view.url) if view.url else None,
        # Files are linked, never attached: each link asks the reader's permission when it is opened.
        "files": [{"name": f.original_filename, "size": uploads.human_size(f.filesize), "link": letter.link(uploads.url(f))}
                  for f in uploads.attached(session, view.post.id)] if view.post is not None else [],
    }, what="notifications", dedupe_key=f"email:notification:{n.id}")
    n.emailed_at = utcnow()
    return True


@dataclass
class DigestItem:
    topic: Topic
    new: bool
    excerpt: str


def digest_items(session: Session, user: User, since: datetime, until: datetime) -> list[DigestItem]:
    """Topics with activity in the period, in categories the recipient may see now and has not muted."""
    viewer = Viewer(user)
    muted_categories = select(CategoryUser.category_id).where(CategoryUser.user_id == user.id,
                                                               CategoryUser.notification_level == MUTED)
    muted_topics = select(TopicUser.topic_id).where(TopicUser.user_id == user.id,
                                                    TopicUser.notification_level == MUTED)
    topics = list(session.scalars(
        select(Topic).where(permissions.visible_topics_clause(session, viewer),
                            Topic.bumped_at >= since, Topic.bumped_at < until,
                            Topic.category_id.not_in(muted_categories), Topic.id.not_in(muted_topics),
                            or_(Topic.last_post_user_id.is_(None), Topic.last_post_user_id != user.id,
                                and_(Topic.user_id != user.id, Topic.created_at >= since)))
        .order_by(Topic.bumped_at.desc(), Topic.id.desc()).limit(DIGEST_TOPICS)))
    from forum.reading import first_posts

    firsts = first_posts(session, [t.id for t in topics])
    items = []
    for t in topics:
        first = firsts.get(t.id)
        readable = first is not None and permissions.can_read_post(session, viewer, first, t)
        items.append(DigestItem(t, t.created_at >= since, excerpt(first.cooked, 200) if readable else ""))
    return items


def compose_digest(session: Session, settings, secret_key: str, user_id: int, slot: datetime) -> bool:
    """Write one due digest: queue the email, if there is anything to tell. False when there was not.

    A digest queued before a change of mind (no digest, another hour or zone) is not sent, nor one
    whose slot an earlier or later digest has already covered.
    """
    user = session.get(User, user_id)
    if user is None:
        return False
    opts = options(session, user_id)
    if not is_digest_slot(user, opts, slot) or (opts.last_digest_at is not None and opts.last_digest_at >= slot):
        return False
    period = timedelta(days=7 if opts.email_digest == DIGEST_WEEKLY else 1)
    # From the last digest that went out: activity a failed digest would have told is told now.
    since = max(opts.last_digest_at or slot - period, slot - DIGEST_MAX_PERIODS * period)
    sent = False
    if _may_email(session, user, opts):
        items = digest_items(session, user, since, slot)
        if items:
            _queue_digest(session, user, settings, secret_key, items, since, slot, opts.email_digest)
            sent = True
    opts.last_digest_at = slot
    return sent


def _queue_digest(session, user, settings, secret_key, items, since, until, kind) -> None:
    letter = _letter(session, user, settings, secret_key)
    title = letter.t(_("Your daily digest") if kind == DIGEST_DAILY else _("Your weekly digest"))
    letter.queue(session, subject=f"[{settings.site_title}] {title}", template="digest", context={
        "title": title, "start": letter.when(since), "end": letter.when(until),
        "items": [{"title": item.topic.title, "category": item.topic.category.name_in(letter.locale), "new": item.new,
                   "last_posted": letter.when(item.topic.last_posted_at), "excerpt": html.unescape(item.excerpt),
                   "url": letter.link(urls.topic_url(item.topic))} for item in items],
    }, what="digest", dedupe_key=f"email:digest:{user.id}:{until.isoformat()}")


# --- tokens: password reset and address confirmation ------------------------------------------

def _new_token(session: Session, user: User, purpose: str) -> str:
    token = auth.new_token()
    now = utcnow()
    session.add(EmailToken(user_id=user.id, purpose=purpose, token_hash=auth.token_hash(token), email=user.email or "",
                           created_at=now, expires_at=now + TOKEN_LIFETIME[purpose]))
    return token


def _token_email(session: Session, user: User, settings, secret_key: str, *, purpose: str, path: str) -> None:
    letter = _letter(session, user, settings, secret_key)
    subject = letter.t(_("Reset your password") if purpose == RESET else _("Confirm your email address"))
    letter.queue(session, subject=f"[{settings.site_title}] {subject}",
                 template="password_reset" if purpose == RESET else "confirm_email",
                 context={"link": letter.link(path), "expires": letter.when(utcnow() + TOKEN_LIFETIME[purpose]),
                          "username": user.username, "email": user.email or ""},
                 what="all", dedupe_key=None)


def archive_ready(session: Session, settings, secret_key: str, user: User, path: str, expires: datetime) -> None:
    """The link to a person's data archive (forum/user_export.py), whatever their email choices:
    they asked for it. Only to a confirmed address."""
    opts = options(session, user.id)
    if not user.email or not _may_email(session, user, opts):
        return
    letter = _letter(session, user, settings, secret_key)
    subject = letter.t(_("Your data is ready to download"))
    letter.queue(session, subject=f"[{settings.site_title}] {subject}", template="data_archive",
                 context={"link": letter.link(path), "expires": letter.when(expires), "username": user.username},
                 what="all", dedupe_key=None)


def request_password_reset(session: Session, settings, secret_key: str, login: str) -> None:
    """Send a reset link if the account exists; the answer to the asker is the same either way."""
    user = accounts.find_user_by_login(session, login)
    if user is None or not user.email:
        return
    token = _new_token(session, user, RESET)
    _token_email(session, user, settings, secret_key, purpose=RESET, path=f"/password-reset/{token}")


def send_confirmation(session: Session, settings, secret_key: str, user: User) -> None:
    if not user.email:
        return
    token = _new_token(session, user, CONFIRM)
    _token_email(session, user, settings, secret_key, purpose=CONFIRM, path=f"/confirm-email/{token}")


EXPIRED = _("This link has expired or has already been used. Ask for a new one.")


def valid_token(session: Session, token: str, purpose: str, *, lock: bool = False) -> EmailToken:
    if not token or len(token) > 100:
        raise ValidationFailed(EXPIRED)
    stmt = select(EmailToken).where(EmailToken.token_hash == auth.token_hash(token), EmailToken.purpose == purpose)
    row = session.scalar(stmt.with_for_update(key_share=True) if lock else stmt)
    if row is None or row.used_at is not None or row.expires_at <= utcnow():
        raise ValidationFailed(EXPIRED)
    user = session.get(User, row.user_id)
    if user is None or (user.email or "") != row.email:
        raise ValidationFailed(EXPIRED)  # the address changed since the link was sent
    return row


def reset_password(session: Session, token: str, new_password: str) -> User:
    row = valid_token(session, token, RESET, lock=True)
    user = session.get(User, row.user_id)
    assert user is not None
    problem = accounts.password_problem(new_password, user.username)
    if problem:
        raise ValidationFailed(fields={"password": problem})
    user.password_hash = auth.hash_password(new_password)
    now = utcnow()
    # Single use, and the other reset links of this account die with it.
    session.execute(update(EmailToken).where(EmailToken.user_id == user.id, EmailToken.purpose == RESET,
                                             EmailToken.used_at.is_(None)).values(used_at=now),
                    execution_options={"synchronize_session": False})
    accounts.end_all_sessions(session, user.id)
    confirm_address(session, user.id)  # the link reached the inbox: the address works
    # An account an import made for this address (forum/imports/mbox.py): whoever reads its mail
    # now holds it, with the posts written from that address.
    user.staged = False
    return user


def confirm_email(session: Session, token: str) -> User:
    row = valid_token(session, token, CONFIRM, lock=True)
    row.used_at = utcnow()
    confirm_address(session, row.user_id)
    user = session.get(User, row.user_id)
    assert user is not None
    return user


# --- outbox jobs ------------------------------------------------------------------------------

def _secret(ctx: outbox.JobContext) -> str:
    from forum import sitestate

    return sitestate.secret_key(ctx.db)


@outbox.handler("notification_email")
def _notification_email_job(payload: dict[str, Any], ctx: outbox.JobContext) -> None:
    secret = _secret(ctx)
    with ctx.db.write() as session:
        pagecache.quiet(session)  # an email queued and when: no page shows them, every cached page stays
        compose_notification_email(session, ctx.settings, secret, int(payload["notification_id"]))


@outbox.handler("digest")
def _digest_job(payload: dict[str, Any], ctx: outbox.JobContext) -> None:
    secret = _secret(ctx)
    slot = datetime.fromisoformat(payload["slot"])
    with ctx.db.write() as session:
        pagecache.quiet(session)  # as above: the digest queued, the person's last digest time
        compose_digest(session, ctx.settings, secret, int(payload["user_id"]), slot)
