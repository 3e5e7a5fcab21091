"""Notifications about proposals and events, with times in each recipient's own zone and language.

They go through forum/notifications.py (the bell, and email for those who want it), in the caller's
transaction; it checks that each recipient may still see the topic. A time is written into each
notification as its recipient reads it, so people are grouped by zone and language, and each group
gets one `deliver()`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime

from sqlalchemy.orm import Session

from forum import languages, notifications, timezones
from forum.config import get_settings
from forum.i18n import Text, _, translate, translations
from forum.models import Topic, User

notifications.register_kind("proposal_closing", _("%(topic)s closes %(when)s, and you have not responded yet"))
notifications.register_kind("proposal_closed", _("%(topic)s has closed: %(result)s"))
notifications.register_kind("proposal_outcome", _("Your proposal %(topic)s has closed (%(result)s): please write its outcome"))
notifications.register_kind("event_reminder", _("%(topic)s starts %(when)s"))
notifications.register_kind("event_changed", _("%(topic)s has moved: it now starts %(when)s"))
notifications.register_kind("event_cancelled", _("%(topic)s has been cancelled"))


class Letter:
    """Words for one recipient: their gettext, language and zone."""

    def __init__(self, user: User, locale: str):
        self.user = user
        self.locale = locale
        self.gettext = translations(self.locale).gettext

    def t(self, message: Text | str) -> str:
        return translate(message, self.gettext)

    def when(self, value: datetime, organiser_zone: str) -> str:
        """The organiser's zone and the recipient's, both named (UTC when the recipient has no zone)."""
        return timezones.describe(value, organiser_zone, self.user.timezone, self.gettext, self.locale)


def tell(session: Session, users: Iterable[User], kind: str, topic: Topic,
         data_for: Callable[[Letter], dict[str, str]]) -> None:
    """Notify each user with data worded for them; people who read alike share one delivery."""
    groups: dict[tuple, tuple[set[int], dict[str, str]]] = {}
    site = languages.load(session, get_settings())
    for user in users:
        letter = Letter(user, site.choose(profile=user.locale))
        data = data_for(letter)
        key = tuple(sorted(data.items()))
        groups.setdefault(key, (set(), data))[0].add(user.id)
    for ids, data in groups.values():
        notifications.deliver(session, ids, kind, topic=topic, data=data)
