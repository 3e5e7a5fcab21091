"""Time zones: IANA names, wall-clock times in a zone, and times shown in two zones side by side.

Events and inline dates are written as a wall-clock time in the organiser's zone ("15:00 in
Europe/London") and stored in UTC. Every rendering names its zone, and shows the reader's own zone
next to the organiser's, because "4pm" without a zone is how people end up a meeting hour apart.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from babel.dates import format_datetime, get_timezone_location

from forum.errors import ValidationFailed
from forum.i18n import _

MAX_ZONE_LENGTH = 64


@lru_cache(maxsize=1)
def _known() -> frozenset[str]:
    return frozenset(available_timezones())


@lru_cache(maxsize=1)
def all_zones() -> tuple[str, ...]:
    """The IANA zones people choose from: Area/City names plus UTC, without legacy aliases."""
    names = {
        n for n in _known()
        if "/" in n and not n.startswith(("Etc/", "SystemV/", "US/", "posix", "right/", "Canada/", "Brazil/",
                                           "Chile/", "Mexico/"))
    }
    return ("UTC", *sorted(names))


@lru_cache(maxsize=2048)
def _zone(name: str) -> ZoneInfo | None:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        return None


def is_valid_zone(name: str | None) -> bool:
    return bool(name) and len(name) <= MAX_ZONE_LENGTH and name in _known()


def zone(name: str | None, fallback: str = "UTC") -> ZoneInfo:
    found = _zone(name) if name and is_valid_zone(name) else None
    return found or ZoneInfo(fallback)


@lru_cache(maxsize=2048)
def city(name: str, locale: str = "en") -> str:
    """A short human name for a zone in the reader's language: Europe/Brussels -> Brussels, Bruselas,
    Bruxelles (Babel's CLDR names; the zone's own last part where CLDR has none)."""
    fallback = name.rsplit("/", 1)[-1].replace("_", " ")
    if "/" not in name:
        return fallback
    try:
        return get_timezone_location(name, locale=locale, return_city=True) or fallback
    except (LookupError, ValueError):
        return fallback


def abbreviation(local: datetime) -> str:
    """GMT, BST, CET … or UTC+13 where the zone has no letters of its own."""
    name = local.tzname() or ""
    if not name or name[0] in "+-":
        offset = local.utcoffset()
        minutes = int(offset.total_seconds() // 60) if offset is not None else 0
        sign = "+" if minutes >= 0 else "-"
        hours, mins = divmod(abs(minutes), 60)
        return f"UTC{sign}{hours}" + (f":{mins:02d}" if mins else "")
    return name


def clean_zone(value: str | None, *, field: str = "timezone") -> str:
    value = (value or "").strip()
    if not is_valid_zone(value):
        raise ValidationFailed(fields={field: _("Choose a time zone from the list, such as Europe/London.")})
    return value


def wall_clock_to_utc(day: str, clock: str, zone_name: str, *, field: str = "starts") -> datetime:
    """The UTC instant of a wall-clock time in a zone; refuses times that do not exist there."""
    try:
        d = date.fromisoformat((day or "").strip())
    except ValueError:
        raise ValidationFailed(fields={field: _("Enter a date as YYYY-MM-DD.")}) from None
    try:
        t = time.fromisoformat((clock or "").strip()) if (clock or "").strip() else time(0, 0)
    except ValueError:
        raise ValidationFailed(fields={field: _("Enter a time as HH:MM, on the 24-hour clock.")}) from None
    z = zone(zone_name)
    naive = datetime.combine(d, t.replace(tzinfo=None, microsecond=0))
    local = naive.replace(tzinfo=z)
    utc = local.astimezone(UTC)
    if utc.astimezone(z).replace(tzinfo=None) != naive:
        raise ValidationFailed(fields={field: _(
            "%(time)s does not exist on %(date)s in %(zone)s: the clocks skip that hour. Choose another time.",
            time=naive.strftime("%H:%M"), date=d.isoformat(), zone=zone_name)})
    return utc


@dataclass
class ZonedText:
    zone: str
    local: datetime
    date: str  # "Thu 14 Dec 2026"
    short_date: str  # "Thu 14 Dec"
    time: str  # "15:00"
    place: str  # "London"
    abbr: str  # "GMT"

    @property
    def label(self) -> str:
        return f"{self.place} ({self.abbr})" if self.place != self.abbr else self.place

    @property
    def inner(self) -> str:
        """The label for use inside parentheses: "Paris, CET"."""
        return f"{self.place}, {self.abbr}" if self.place != self.abbr else self.place

    @property
    def full(self) -> str:
        return f"{self.date}, {self.time} {self.label}"


@dataclass
class TimePair:
    """One instant in the organiser's zone and, when known, the reader's."""

    utc: datetime
    organiser: ZonedText
    reader: ZonedText | None

    @property
    def iso(self) -> str:
        return self.utc.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")

    @property
    def same_zone(self) -> bool:
        return self.reader is not None and (
            self.reader.zone == self.organiser.zone
            or (self.reader.local.utcoffset() == self.organiser.local.utcoffset()
                and self.reader.place == self.organiser.place))

    @property
    def reader_same_day(self) -> bool:
        return self.reader is not None and self.reader.local.date() == self.organiser.local.date()


def zoned_text(value: datetime, zone_name: str, locale: str = "en") -> ZonedText:
    local = value.astimezone(zone(zone_name))
    return ZonedText(
        zone=zone_name, local=local,
        date=format_datetime(local, "EEE d MMM y", locale=locale),
        short_date=format_datetime(local, "EEE d MMM", locale=locale),
        time=format_datetime(local, "HH:mm", locale=locale),
        place=city(zone_name, locale), abbr=abbreviation(local),
    )


def pair(value: datetime, organiser_zone: str, reader_zone: str | None, locale: str = "en") -> TimePair:
    org = organiser_zone if is_valid_zone(organiser_zone) else "UTC"
    reader = reader_zone if reader_zone and is_valid_zone(reader_zone) else None
    return TimePair(utc=value, organiser=zoned_text(value, org, locale),
                    reader=zoned_text(value, reader, locale) if reader else None)


def describe(value: datetime, organiser_zone: str, reader_zone: str | None, gettext, locale: str = "en") -> str:
    """Plain text for emails and feeds: "Thu 14 Dec 2026, 15:00 London (GMT) · 16:00 your time (Paris, CET)"."""
    from forum.i18n import translate

    p = pair(value, organiser_zone, reader_zone, locale)
    text = p.organiser.full
    if p.reader is None:
        utc = zoned_text(value, "UTC", locale)
        if p.organiser.zone != "UTC":
            text += " · " + translate(_("%(time)s UTC", time=utc.time if utc.local.date() == p.organiser.local.date()
                                        else f"{utc.short_date}, {utc.time}"), gettext)
        return text
    if p.same_zone:
        return text + " · " + translate(_("your time"), gettext)
    when = p.reader.time if p.reader_same_day else f"{p.reader.short_date}, {p.reader.time}"
    return text + " · " + translate(_("%(time)s your time (%(zone)s)", time=when, zone=p.reader.inner), gettext)


def set_user_zone(user, value: str | None) -> None:
    """A person's own zone (empty clears it); used for pages and emails."""
    value = (value or "").strip()
    if value and not is_valid_zone(value):
        raise ValidationFailed(fields={"timezone": _("Choose a time zone from the list, such as Europe/London.")})
    user.timezone = value or None
