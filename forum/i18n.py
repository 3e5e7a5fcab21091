"""Translations. Every user-facing string goes through gettext; catalogs live in forum/locale."""

from __future__ import annotations

from functools import lru_cache

from babel.support import NullTranslations, Translations

from forum import LOCALE_DIR

AVAILABLE_LOCALES = ("en",)


@lru_cache
def translations(locale: str) -> NullTranslations:
    if locale == "en" or locale not in AVAILABLE_LOCALES:
        return NullTranslations()
    return Translations.load(str(LOCALE_DIR), [locale], domain="messages")


def pick_locale(accept_language: str | None, user_locale: str | None, default: str) -> str:
    if user_locale in AVAILABLE_LOCALES:
        return user_locale  # type: ignore[return-value]
    for part in (accept_language or "").split(","):
        code = part.split(";")[0].strip().lower().split("-")[0]
        if code in AVAILABLE_LOCALES:
            return code
    return default if default in AVAILABLE_LOCALES else "en"


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
        return text % self.params if self.params else text


def _(msgid: str, **params) -> Text:
    """Mark a message for extraction (pybabel keyword `_`) and keep it translatable."""
    return Text(msgid, **params)


def translate(message, gettext) -> str:
    if isinstance(message, Text):
        return message.translate(gettext)
    return gettext(message) if message else message
