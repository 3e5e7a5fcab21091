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


def _(message: str) -> str:
    """Marks a message in Python code for extraction; translated where it is rendered."""
    return message
