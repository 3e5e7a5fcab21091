"""Which languages the site offers, and the one it falls back to.

The installation's catalogs (forum/locale) bound what can be offered; `FORUM_LOCALES` and
`FORUM_DEFAULT_LOCALE` set the starting choice; admins change it in the browser (/admin/settings),
kept in the database (site_settings rows `languages.offered` and `languages.default`) so every
process sees a change at once (a change also bumps the page cache's generation).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from forum import modlog, permissions
from forum.errors import ValidationFailed
from forum.i18n import AVAILABLE_LOCALES, SOURCE_LOCALE, _, available_locales, pick_locale
from forum.models import SiteSetting

OFFERED_KEY, DEFAULT_KEY = "languages.offered", "languages.default"


@dataclass(frozen=True)
class Languages:
    offered: tuple[str, ...]
    default: str

    def choose(self, *, profile: str | None = None, cookie: str | None = None,
               accept_language: str | None = None) -> str:
        return pick_locale(accept_language, profile, self.default, self.offered, cookie=cookie)


def configured(settings, installed: tuple[str, ...] = AVAILABLE_LOCALES) -> Languages:
    """What the environment asks for (FORUM_LOCALES, FORUM_DEFAULT_LOCALE), within the catalogs installed."""
    wanted = [c.strip() for c in (settings.locales or "").split(",") if c.strip()]
    offered = tuple(c for c in installed if not wanted or c in wanted) or (SOURCE_LOCALE,)
    default = settings.default_locale if settings.default_locale in offered else offered[0]
    return Languages(offered, default)


def load(session: Session, settings, installed: tuple[str, ...] | None = None) -> Languages:
    """The site's languages now: the admins' choice where they made one, else the configuration."""
    installed = installed or available_locales()
    base = configured(settings, installed)
    rows = dict(session.execute(select(SiteSetting.key, SiteSetting.value)
                                .where(SiteSetting.key.in_((OFFERED_KEY, DEFAULT_KEY)))).all())
    offered = base.offered
    if rows.get(OFFERED_KEY):
        chosen = tuple(c for c in installed if c in rows[OFFERED_KEY].split(","))
        offered = chosen or offered
    default = rows.get(DEFAULT_KEY) or base.default
    if default not in offered:
        default = base.default if base.default in offered else offered[0]
    return Languages(offered, default)


def save(session: Session, viewer, settings, offered: list[str], default: str,
         installed: tuple[str, ...] | None = None) -> Languages:
    """Set the offered languages and the default (admins only); the change is logged."""
    permissions.ensure_can_administer(viewer)
    installed = installed or available_locales()
    errors: dict[str, str] = {}
    chosen = tuple(c for c in installed if c in offered)
    if not chosen or any(c not in installed for c in offered):
        errors["languages"] = _("Choose at least one of the languages listed.")
    elif default not in chosen:
        errors["default_language"] = _("The default language must be one of the languages offered.")
    if errors:
        raise ValidationFailed(fields=errors)
    before = load(session, settings, installed)
    after = Languages(chosen, default)
    if after != before:
        for key, value in ((OFFERED_KEY, ",".join(chosen)), (DEFAULT_KEY, default)):
            row = session.get(SiteSetting, key)
            if row is None:
                session.add(SiteSetting(key=key, value=value))
            else:
                row.value = value
        modlog.record(session, viewer, "change_languages", target_type="site",
                      summary=f"{','.join(before.offered)} ({before.default}) → {','.join(chosen)} ({default})",
                      details={"offered": {"from": list(before.offered), "to": list(chosen)},
                               "default": {"from": before.default, "to": default}})
    return after


def for_user(session: Session, settings, user) -> str:
    """The language to write to someone in (emails, notices): theirs if the site offers it, else the default."""
    return load(session, settings).choose(profile=getattr(user, "locale", None) if user is not None else None)
