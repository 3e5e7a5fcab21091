"""Changing the site policy (forum/policy.py): admins only, validated, and logged.

Kept apart from forum/policy.py because permissions reads the policy, and this asks permissions.
"""

from __future__ import annotations

from dataclasses import fields

from sqlalchemy.orm import Session

from forum import modlog, permissions, policy
from forum.errors import ValidationFailed
from forum.i18n import _
from forum.models import SiteSetting


def save(session: Session, viewer, values: dict[str, str]) -> policy.Policy:
    """Validate and store the submitted settings (admins only); the change is logged."""
    permissions.ensure_can_administer(viewer)
    current = policy.load(session)
    errors: dict[str, str] = {}
    changes: dict[str, tuple[object, object]] = {}
    for f in fields(policy.Policy):
        if f.name not in values:
            continue
        raw = str(values[f.name]).strip()
        if f.name == "signup_mode":
            if raw not in policy.SIGNUP_MODES:
                errors[f.name] = _("Choose a sign-up mode.")
                continue
            value: object = raw
        elif f.name in policy.EXTENSION_LISTS:
            chosen = policy.parse_extensions(raw)
            unknown = sorted(chosen - policy.parse_extensions(policy.DEFAULT_EXTENSIONS))
            if unknown:
                errors[f.name] = _("These kinds of file cannot be allowed: %(list)s.", list=", ".join(unknown))
                continue
            value = ",".join(sorted(chosen))
        else:
            low, high = policy.LIMITS[f.name]
            try:
                value = int(raw)
            except ValueError:
                errors[f.name] = _("Enter a whole number from %(low)s to %(high)s.", low=low, high=high)
                continue
            if not low <= value <= high:
                errors[f.name] = _("Enter a whole number from %(low)s to %(high)s.", low=low, high=high)
                continue
        if getattr(current, f.name) != value:
            changes[f.name] = (getattr(current, f.name), value)
    if errors:
        raise ValidationFailed(fields=errors)
    for name, (_old, new) in changes.items():
        row = session.get(SiteSetting, policy.PREFIX + name)
        if row is None:
            session.add(SiteSetting(key=policy.PREFIX + name, value=str(new)))
        else:
            row.value = str(new)
        setattr(current, name, new)
    if changes:
        modlog.record(session, viewer, "change_policy", target_type="site",
                      summary=", ".join(f"{k}: {o} → {n}" for k, (o, n) in sorted(changes.items())),
                      details={k: {"from": o, "to": n} for k, (o, n) in changes.items()})
    return current

