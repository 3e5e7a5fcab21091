"""Invitations and the sign-up policy.

An invitation is a link (`/invites/{code}`), sent by email or shared by hand. It carries the tier
the invitee gets and optionally a category to land in; it expires (7 days unless chosen otherwise),
is single-use or allows a number of uses, can be revoked, and can be limited to an email address
or an email domain. Staff invite freely; other users as far as their tier's quota allows, to their
own tier or a lower one. Accounts made through an invitation remember who invited them.

Sign-up itself follows the site's mode: open, invitation only, or open with approval by a moderator.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from forum import (
    accounts,
    emails,
    languages,
    mail,
    modlog,
    notifications,
    permissions,
    policy,
    signup_alerts,
    urls,
)
from forum.config import Settings
from forum.errors import Forbidden, NotFound, ValidationFailed
from forum.i18n import _, translate, translations
from forum.models import Category, Invitation, User, utcnow
from forum.permissions import Viewer
from forum.text import clean, parse_id

DOMAIN_CHARS = set("abcdefghijklmnopqrstuvwxyz0123456789.-")
MAX_USES = 1000
ACTIVE, EXPIRED, REVOKED, USED_UP = "active", "expired", "revoked", "used"
STATUS_LABELS = {ACTIVE: _("active"), EXPIRED: _("expired"), REVOKED: _("revoked"), USED_UP: _("used")}


def status(invitation: Invitation) -> str:
    if invitation.revoked_at is not None:
        return REVOKED
    if invitation.uses >= invitation.max_uses:
        return USED_UP
    if invitation.expires_at <= utcnow():
        return EXPIRED
    return ACTIVE


def refusal(invitation: Invitation) -> str | None:
    """Why this invitation can no longer be used, or None."""
    return {
        REVOKED: _("This invitation has been withdrawn."),
        USED_UP: _("This invitation has already been used."),
        EXPIRED: _("This invitation has expired. Ask for a new one."),
    }.get(status(invitation))


def link(settings: Settings, invitation: Invitation) -> str:
    return urls.absolute(settings.base_url, f"/invites/{invitation.code}")


def _int_field(value: object, name: str, low: int, high: int, default: int) -> int:
    if value in (None, ""):
        return default
    try:
        number = int(str(value).strip())
    except ValueError:
        number = low - 1
    if not low <= number <= high:
        raise ValidationFailed(fields={name: _("Enter a whole number from %(low)s to %(high)s.", low=low, high=high)})
    return number


def create_invitation(
    session: Session, settings: Settings, viewer: Viewer, *, tier: str, email: str = "", email_domain: str = "",
    category_id: int | str | None = None, max_uses: int | str | None = 1, expires_days: int | str | None = None,
    message: str = "",
) -> Invitation:
    permissions.ensure_can_invite(session, viewer)
    assert viewer.user is not None
    rules = policy.load(session)
    fields: dict[str, str] = {}
    email = clean(email, single_line=True).lower()
    domain = clean(email_domain, single_line=True).lower().lstrip("@")
    if tier not in permissions.invitable_tiers(viewer):
        fields["tier"] = _("Choose a tier you may invite people to.")
    if email and (not accounts.EMAIL_RE.match(email) or len(email) > 254):
        fields["email"] = _("Please enter a valid email address.")
    elif email and session.scalar(select(User.id).where(User.email == email)) is not None:
        fields["email"] = _("Someone with that email address already has an account.")
    if domain and ("." not in domain or not set(domain) <= DOMAIN_CHARS or len(domain) > 254):
        fields["email_domain"] = _("Enter a domain such as bakery.coop.")
    elif domain and email and not email.endswith("@" + domain):
        fields["email_domain"] = _("The email address is not at that domain.")
    category = None
    if category_id not in (None, ""):
        category = session.get(Category, parse_id(category_id) or 0)
        if category is None or not permissions.can_see_category(session, viewer, category):
            fields["category_id"] = _("Please choose a category.")
    left = permissions.invitations_left(session, viewer)
    try:
        uses = _int_field(max_uses, "max_uses", 1, MAX_USES, 1)
        if left is not None and uses > left and not email:
            fields["max_uses"] = _("You may invite %(n)s more people in the current 30 days.", n=left)
    except ValidationFailed as e:
        fields.update(e.fields)
        uses = 1
    try:
        days = _int_field(expires_days, "expires_days", 1, 365, rules.invitation_days)
    except ValidationFailed as e:
        fields.update(e.fields)
        days = rules.invitation_days
    message = clean(message).strip()[:2000]
    if fields:
        raise ValidationFailed(fields=fields)
    if email:
        uses = 1  # an invitation by email is for that one person
    invitation = Invitation(
        code=secrets.token_urlsafe(24), created_by_id=viewer.user.id, email=email or None,
        email_domain=domain or None, tier=tier, category_id=category.id if category else None, max_uses=uses,
        message=message, expires_at=utcnow() + timedelta(days=days))
    session.add(invitation)
    session.flush()
    if email:
        _send(session, settings, viewer.user, invitation)
    if permissions.is_moderation_act(viewer):
        modlog.record(session, viewer, "create_invitation", target_type="invitation", target_id=invitation.id,
                      summary=email or (f"@{domain}" if domain else str(_("shareable link"))),
                      details={"tier": tier, "max_uses": uses, "days": days,
                               "category": category.name if category else None})
    return invitation


def _send(session: Session, settings: Settings, inviter: User, invitation: Invitation) -> None:
    # The invitee has no account, so no language of their own yet: the site's.
    locale = languages.for_user(session, settings, None)
    gettext = translations(locale).gettext
    subject = translate(_("%(user)s invites you to %(site)s", user=inviter.display_name, site=settings.site_title),
                        gettext)
    text, html = emails.render(locale, "invitation", {
        "subject": subject, "site_title": settings.site_title, "site_url": urls.absolute(settings.base_url, "/"),
        "inviter": inviter.display_name, "message": invitation.message, "url": link(settings, invitation),
        "expires": f"{invitation.expires_at:%Y-%m-%d}"})
    mail.queue_email(session, to=invitation.email or "", subject=subject, text=text, html=html,
                     dedupe_key=f"invitation:{invitation.id}")


def get_by_id(session: Session, viewer: Viewer, invitation_id: int | str) -> Invitation:
    """An invitation its maker or staff may manage; anyone else gets NotFound."""
    iid = parse_id(invitation_id)
    invitation = session.get(Invitation, iid) if iid is not None else None
    if invitation is None or not permissions.can_manage_invitation(viewer, invitation):
        raise NotFound()
    return invitation


def revoke(session: Session, viewer: Viewer, invitation_id: int | str) -> Invitation:
    invitation = get_by_id(session, viewer, invitation_id)
    if invitation.revoked_at is not None:
        return invitation
    invitation.revoked_at = utcnow()
    if permissions.is_moderation_act(viewer):
        modlog.record(session, viewer, "revoke_invitation", target_type="invitation", target_id=invitation.id,
                      summary=invitation.email or (f"@{invitation.email_domain}" if invitation.email_domain
                                                   else str(_("shareable link"))))
    session.flush()
    return invitation


def get_by_code(session: Session, code: str) -> Invitation:
    if not code or len(code) > 64:
        raise NotFound()
    invitation = session.scalar(select(Invitation).where(Invitation.code == code))
    if invitation is None:
        raise NotFound()
    return invitation


def redeem(session: Session, settings: Settings, *, code: str, username: str, email: str, password: str,
           name: str = "") -> User:
    """Create the invitee's account with the invitation's tier; the account is approved at once."""
    invitation = get_by_code(session, code)
    why = refusal(invitation)
    if why is not None:
        raise Forbidden(why)
    email = clean(email, single_line=True).lower()
    if invitation.email and email != invitation.email:
        raise ValidationFailed(fields={"email": _("This invitation is for %(email)s.", email=invitation.email)})
    if invitation.email_domain and not email.endswith("@" + invitation.email_domain):
        raise ValidationFailed(fields={"email": _("This invitation is for addresses at %(domain)s.",
                                                  domain=invitation.email_domain)})
    user = accounts.create_user(session, username=username, email=email, password=password, name=name,
                                tier=invitation.tier)
    user.invited_by_id = invitation.created_by_id
    # Counted with a guarded UPDATE, so two people racing for the last use cannot both get in.
    taken = session.execute(
        update(Invitation).where(Invitation.id == invitation.id, Invitation.uses < Invitation.max_uses,
                                 Invitation.revoked_at.is_(None), Invitation.expires_at > utcnow())
        .values(uses=Invitation.uses + 1), execution_options={"synchronize_session": False}).rowcount
    if taken != 1:
        raise Forbidden(_("This invitation has already been used."))
    session.flush()
    notifications.notify(session, invitation.created_by_id, "invitee_accepted", actor_id=user.id,
                         data={"url": urls.user_url(user)})
    return user


# --- sign-up without an invitation ------------------------------------------------------------

SIGNUP_INVITE_ONLY, SIGNUP_APPROVAL = policy.SIGNUP_INVITE_ONLY, policy.SIGNUP_APPROVAL


def signup_mode(session: Session) -> str:
    return policy.load(session).signup_mode


def sign_up(session: Session, settings: Settings, *, username: str, email: str, password: str,
            name: str = "") -> User:
    """Open sign-up under the site's mode. In approval mode the account waits for a moderator."""
    mode = signup_mode(session)
    if mode == SIGNUP_INVITE_ONLY:
        raise Forbidden(_("This forum is open by invitation only. Ask a member for an invitation."))
    user = accounts.create_user(session, username=username, email=email, password=password, name=name,
                                tier=settings.default_tier)
    if mode == SIGNUP_APPROVAL:
        user.approved = False
    session.flush()
    if mode == SIGNUP_APPROVAL:
        signup_alerts.queue(session, user)  # moderators hear of it by email
    return user


# --- listings ---------------------------------------------------------------------------------

@dataclass
class InvitationRow:
    invitation: Invitation
    inviter: str
    category: Category | None

    @property
    def status(self) -> str:
        return status(self.invitation)


def listing(session: Session, *, created_by_id: int | None = None, page: int = 1,
            per_page: int = 50) -> tuple[list[InvitationRow], bool]:
    stmt = (select(Invitation, User.username, Category).join(User, User.id == Invitation.created_by_id)
            .outerjoin(Category, Category.id == Invitation.category_id)
            .order_by(Invitation.id.desc()).offset((page - 1) * per_page).limit(per_page + 1))
    if created_by_id is not None:
        stmt = stmt.where(Invitation.created_by_id == created_by_id)
    rows = [InvitationRow(i, u, c) for i, u, c in session.execute(stmt)]
    return rows[:per_page], len(rows) > per_page


@dataclass
class TreeNode:
    user: User
    children: list[TreeNode] = field(default_factory=list)
    more: int = 0


def invitation_tree(session: Session, viewer: Viewer, *, root: User | None = None, page: int = 1,
                    per_page: int = 30, max_nodes: int = 500) -> tuple[list[TreeNode], bool]:
    """Who invited whom. Without a root: a page of people who invited others but were not invited
    themselves, each with their invitees, level by level, up to `max_nodes` people in all."""
    permissions.ensure_can_moderate(viewer)
    if root is not None:
        roots, has_more = [root], False
    else:
        inviter_ids = select(User.invited_by_id).where(User.invited_by_id.is_not(None)).distinct()
        rows = list(session.scalars(select(User).where(User.id.in_(inviter_ids), User.invited_by_id.is_(None))
                                    .order_by(User.username_lower).offset((page - 1) * per_page)
                                    .limit(per_page + 1)))
        roots, has_more = rows[:per_page], len(rows) > per_page
    nodes = {u.id: TreeNode(u) for u in roots}
    level = list(nodes)
    budget = max_nodes - len(nodes)
    while level and budget > 0:
        children = list(session.scalars(select(User).where(User.invited_by_id.in_(level))
                                        .order_by(User.created_at, User.id).limit(budget + 1)))
        shown = children[:budget]
        for child in shown:
            node = nodes[child.id] = TreeNode(child)
            nodes[child.invited_by_id].children.append(node)  # type: ignore[index]
        if len(children) > budget:
            # Say where the tree was cut, so nobody mistakes a cut for the end.
            for parent_id, count in session.execute(
                    select(User.invited_by_id, func.count(User.id)).where(User.invited_by_id.in_(level))
                    .group_by(User.invited_by_id)):
                node = nodes[parent_id]
                node.more = count - len(node.children)
        budget -= len(shown)
        level = [c.id for c in shown]
    return [nodes[u.id] for u in roots], has_more
