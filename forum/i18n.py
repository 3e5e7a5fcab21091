"""Translations. Every user-facing string goes through gettext; catalogs live in forum/locale."""

from __future__ import annotations

import io
from functools import lru_cache
from pathlib import Path

from babel.core import Locale, UnknownLocaleError, negotiate_locale
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations

from forum import LOCALE_DIR

SOURCE_LOCALE = "en"


def available_locales(locale_dir: Path | None = None) -> tuple[str, ...]:
    """English plus every language with a catalog in forum/locale/<lang>/LC_MESSAGES/messages.po."""
    locale_dir = locale_dir or LOCALE_DIR
    found = sorted(p.parent.parent.name for p in locale_dir.glob("*/LC_MESSAGES/messages.po"))
    return (SOURCE_LOCALE, *[code for code in found if code != SOURCE_LOCALE])


AVAILABLE_LOCALES = available_locales()


def translations(locale: str, locale_dir: Path | None = None) -> NullTranslations:
    """The catalog for a language, compiled from its .po file when the process starts using it.

    The folder is read when asked (`forum.i18n.LOCALE_DIR`), so a test can point it elsewhere."""
    return _translations(locale, locale_dir or LOCALE_DIR)


@lru_cache
def _translations(locale: str, locale_dir: Path) -> NullTranslations:
    po_path = locale_dir / locale / "LC_MESSAGES" / "messages.po"
    if locale == SOURCE_LOCALE or not po_path.exists():
        return NullTranslations()
    with po_path.open("rb") as f:
        catalog = read_po(f, locale=locale)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return Translations(buffer, domain="messages")


def preferred_locales(accept_language: str | None, available: tuple[str, ...]) -> tuple[str, ...]:
    """The languages of `available` an Accept-Language header asks for, most wanted first.

    Each range is matched with Babel's negotiation (`fr-CA` finds `fr`); weights order them, `q=0`
    excludes, and a malformed header simply asks for nothing.
    """
    ranges: list[tuple[float, int, str]] = []
    for index, part in enumerate((accept_language or "")[:1000].split(",")[:32]):
        tag, _sep, params = part.strip().partition(";")
        tag = tag.strip()
        if not tag or tag == "*" or not all(c.isalnum() or c in "-_" for c in tag):
            continue
        weight = 1.0
        params = params.strip()
        if params.startswith("q="):
            try:
                weight = float(params[2:])
            except ValueError:
                continue
        if weight > 0:
            ranges.append((-weight, index, tag.replace("_", "-")))
    found: list[str] = []
    for _w, _i, tag in sorted(ranges):
        match = negotiate_locale([tag], list(available), sep="-")
        if match is None and "-" in tag:
            match = negotiate_locale([tag.split("-")[0]], list(available), sep="-")
        # Babel answers in the asker's spelling ("EN"); the forum's own code is kept.
        code = next((a for a in available if match and a.lower() == match.lower()), None)
        if code is not None and code not in found:
            found.append(code)
    return tuple(found)


def pick_locale(accept_language: str | None, user_locale: str | None, default: str,
                available: tuple[str, ...] | None = None, *, cookie: str | None = None) -> str:
    """The language a page is written in: the member's profile setting, then the visitor's choice
    in the language switcher (a cookie), then the browser's Accept-Language, then the site default."""
    available = available or AVAILABLE_LOCALES
    for chosen in (user_locale, cookie):
        if chosen in available:
            return chosen  # type: ignore[return-value]
    wanted = preferred_locales(accept_language, available)
    if wanted:
        return wanted[0]
    return default if default in available else available[0]


def language_name(code: str, in_locale: str | None = None) -> str:
    """A language's name in itself, as a switcher shows it: "Español", "Français", "Italiano"; or,
    given `in_locale`, as a sentence in that language names it ("inglés" in Spanish)."""
    try:
        if in_locale is not None:
            return Locale.parse(code).get_display_name(in_locale) or code
        name = Locale.parse(code).get_display_name(code) or code
    except (ValueError, UnknownLocaleError):
        return code
    return name[:1].upper() + name[1:]


class Text(str):
    """A user-facing message from Python code: English as a str, translatable where it is shown.

    It keeps its msgid and parameters so a page can render it in the reader's language.
    """

    msgid: str
    params: dict

    def __new__(cls, msgid: str, **params) -> Text:
        obj = super().__new__(cls, msgid % params if params else msgid)
        obj.msgid, obj.params = msgid, params
        return obj

    def translate(self, gettext) -> str:
        text = gettext(self.msgid)
        if not self.params:
            return text
        # A parameter that is itself a message (a tier's label) is translated too.
        return text % {k: v.translate(gettext) if isinstance(v, Text) else v for k, v in self.params.items()}


def _(msgid: str, **params) -> Text:
    """Mark a message for extraction (pybabel keyword `_`) and keep it translatable."""
    return Text(msgid, **params)


def translate(message, gettext) -> str:
    if isinstance(message, Text):
        return message.translate(gettext)
    return gettext(message) if message else message


# The strings static/*.js shows itself (most of what scripts show comes translated in the page).
JS_MESSAGES = (
    _("Are you sure?"),
    _("Like"),
    _("Unlike"),
    _("Something went wrong with that request."),
    _("New notifications: %(num)s unread"),
    _("Draft saved"),
    _("Could not save the draft."),
    _("Save my text over it"),
    _("Discard your draft? What you typed will be lost."),
    _("Uploading %(name)s: %(percent)s"),
    _("Attached %(name)s."),
    _("Could not attach %(name)s: %(reason)s"),
    _("New replies: %(num)s"),
    _("New or updated topics: %(num)s"),
    _("%(user)s is replying…"),
    _("This topic is closed. It no longer accepts new replies."),
    _("This page has changed. Reload"),
)


def js_catalog(gettext) -> dict[str, str]:
    """The scripts' strings in one language: {English: translation}."""
    return {str(m): translate(m, gettext) for m in JS_MESSAGES}
