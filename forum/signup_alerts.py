"""Email to moderators when a sign-up waits for their approval ("open with approval" mode).

The sign-up queues one outbox item in its own transaction; the worker writes one email per staff
member when it runs (so a sign-up approved or rejected in the meantime sends nothing), each in the
recipient's language and time zone, through the outbox and SMTP like every other email.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from forum import emails, languages, outbox, permissions
from forum.i18n import _
from forum.models import User
from forum.models.notifications import EMAIL_NONE, UserOption

JOB = "signup_awaiting_approval"


def queue(session: Session, user: User) -> None:
    """Called in the sign-up's transaction."""
    outbox.enqueue(session, JOB, {"user_id": user.id}, dedupe_key=f"{JOB}:{user.id}")


def recipients(session: Session) -> list[User]:
    """Moderators and admins who can act on it and have not turned notification emails off."""
    opted_out = select(UserOption.user_id).where(UserOption.email_notifications == EMAIL_NONE)
    staff = session.scalars(select(User).where(permissions.staff_clause(),
                                               User.approved.is_(True), User.email.is_not(None),
                                               User.id.not_in(opted_out)).order_by(User.id))
    return [u for u in staff if not permissions.is_suspended(u)]


def compose(session: Session, settings, secret_key: str, user_id: int) -> int:
    """Queue the emails for one waiting sign-up; returns how many (0 once it is no longer waiting)."""
    newcomer = session.get(User, user_id)
    if newcomer is None or newcomer.approved:
        return 0
    sent = 0
    for moderator in recipients(session):
        letter = emails.Letter(moderator, settings, secret_key,
                               languages.for_user(session, settings, moderator))
        subject = letter.t(_("New sign-up awaiting approval: %(username)s", username=newcomer.username))
        letter.queue(session, subject=f"[{settings.site_title}] {subject}", template="signup_awaiting_approval",
                     context={"username": newcomer.username, "email": newcomer.email or "-",
                              "when": letter.when(newcomer.created_at), "review_url": letter.link("/admin/review")},
                     what="notifications", dedupe_key=f"{JOB}:{newcomer.id}:{moderator.id}")
        sent += 1
    return sent


@outbox.handler(JOB)
def _job(payload: dict[str, Any], ctx: outbox.JobContext) -> None:
    from forum import sitestate

    secret = sitestate.secret_key(ctx.db)
    with ctx.db.write() as session:
        compose(session, ctx.settings, secret, int(payload["user_id"]))
