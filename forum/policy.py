"""Site policy that admins set in the browser: sign-up mode, flags, limits for new participants, invitations.

Kept in the database (site_settings rows named `policy.*`) so every process sees a change at once.
forum/permissions.py reads it; admins change it through forum/policy_admin.py.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from sqlalchemy import select
from sqlalchemy.orm import Session

from forum.i18n import _
from forum.models import SiteSetting

SIGNUP_OPEN, SIGNUP_INVITE_ONLY, SIGNUP_APPROVAL = "open", "invite_only", "approval"
SIGNUP_MODES = (SIGNUP_OPEN, SIGNUP_INVITE_ONLY, SIGNUP_APPROVAL)
SIGNUP_MODE_LABELS = {
    SIGNUP_OPEN: _("Open: anyone may sign up"),
    SIGNUP_INVITE_ONLY: _("Invitation only"),
    SIGNUP_APPROVAL: _("Open, with approval by a moderator"),
}
PREFIX = "policy."

# name -> (lowest, highest) for the numeric settings
LIMITS = {
    "flags_to_hide": (1, 100),
    "new_participant_days": (0, 3650),
    "new_participant_post_interval": (0, 86400),
    "invitation_days": (1, 365),
    "invite_quota_participant": (0, 1000),
    "invite_quota_worker": (0, 1000),
    "invite_quota_member": (0, 1000),
    "upload_max_mb": (1, 1024),
    "uploads_per_day": (0, 100000),
}
# Settings that are lists of file extensions, one per tier (the kinds each tier may attach).
EXTENSION_LISTS = ("upload_extensions_participant", "upload_extensions_worker", "upload_extensions_member")
DEFAULT_EXTENSIONS = "jpg,jpeg,png,gif,webp,avif,heic,heif,pdf,odt,ods,odp,docx,xlsx,pptx,csv,txt"


@dataclass
class Policy:
    signup_mode: str = SIGNUP_OPEN
    # Flags from this many different people hide a post until a moderator reviews it.
    flags_to_hide: int = 3
    # Participants whose account is younger than this are "new participants".
    new_participant_days: int = 7
    # Site-wide least seconds between two posts of a new participant (0: off).
    new_participant_post_interval: int = 0
    # How long an invitation stays valid unless its maker chooses otherwise.
    invitation_days: int = 7
    # Invitations a non-staff user of each tier may send per 30 days (0: may not invite).
    invite_quota_participant: int = 0
    invite_quota_worker: int = 0
    invite_quota_member: int = 0
    # Files: the largest one may attach (within FORUM_MAX_UPLOAD_BYTES), how many a day (staff
    # exempt; 0: no limit), and which kinds each tier may attach (within FORUM_UPLOAD_EXTENSIONS).
    upload_max_mb: int = 10
    uploads_per_day: int = 50
    upload_extensions_participant: str = DEFAULT_EXTENSIONS
    upload_extensions_worker: str = DEFAULT_EXTENSIONS
    upload_extensions_member: str = DEFAULT_EXTENSIONS

    def invite_quota(self, tier: str) -> int:
        return int(getattr(self, f"invite_quota_{tier}", 0))

    def upload_extensions(self, tier: str | None) -> set[str]:
        return parse_extensions(getattr(self, f"upload_extensions_{tier or 'member'}", DEFAULT_EXTENSIONS))


def parse_extensions(text: str) -> set[str]:
    return {e.strip().lower().lstrip(".") for e in text.replace(" ", ",").split(",") if e.strip()}


def load(session: Session) -> Policy:
    policy = Policy()
    names = {f.name: f for f in fields(Policy)}
    for key, value in session.execute(select(SiteSetting.key, SiteSetting.value)
                                      .where(SiteSetting.key.startswith(PREFIX))):
        name = key[len(PREFIX):]
        if name not in names:
            continue
        if name == "signup_mode":
            if value in SIGNUP_MODES:
                policy.signup_mode = value
        elif name in EXTENSION_LISTS:
            setattr(policy, name, value)
        else:
            try:
                setattr(policy, name, int(value))
            except ValueError:
                pass
    return policy
