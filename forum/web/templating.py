"""The Jinja environment, its filters, and render(): one way to answer with a page."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from functools import cache, lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel.dates import TIMEDELTA_UNITS, format_date, format_timedelta
from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import BytecodeCache, Environment, FileSystemBytecodeCache, FileSystemLoader, select_autoescape
from markupsafe import Markup
from sqlalchemy.exc import OperationalError

from forum import (
    TEMPLATES_DIR,
    auth,
    fragments,
    labels,
    languages,
    messages,
    notifications,
    permissions,
    timezones,
    uploads,
    urls,
)
from forum.i18n import available_locales, js_catalog, language_name, translate, translations
from forum.models import LEVEL_NAMES, utcnow
from forum.permissions import Viewer
from forum.web.assets import static_url


def _zone(tz: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(tz) if tz else ZoneInfo("UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


@cache
def _compiled_templates() -> BytecodeCache | None:
    """Templates compiled once and kept for every language's environment and every later start:
    in this user's own cache folder (made private by Jinja), checked against each template's text."""
    try:
        return FileSystemBytecodeCache()
    except (OSError, RuntimeError):
        return None  # no private folder to be had: templates are compiled in memory only


def make_environment(locale: str = "en", locale_dir: Path | None = None) -> Environment:
    env = Environment(
        loader=FileSystemLoader(str(TEMPLATES_DIR)),
        autoescape=select_autoescape(["html", "xml"]),
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,
        bytecode_cache=_compiled_templates(),
    )
    trans = translations(locale, locale_dir)
    env.install_gettext_callables(trans.gettext, trans.ngettext, newstyle=True)  # type: ignore[attr-defined]
    env.filters["tr"] = lambda message: translate(message, trans.gettext)
    env.globals["js_catalog"] = js_catalog(trans.gettext)
    env.globals["zone_city"] = lambda name: timezones.city(name, locale)
    env.globals["language_in_page"] = lambda code: language_name(code, locale)  # "inglés" in a sentence
    env.filters.update(labels.filters(trans.gettext))
    # A category's name and description in the page's language, where an admin gave them.
    env.filters["category_name"] = lambda category: category.name_in(locale) if category is not None else ""
    env.filters["category_description"] = lambda category: category.description_in(locale) if category else ""
    env.globals["human_size"] = uploads.human_size
    env.globals["static"] = static_url
    env.globals["utcnow"] = utcnow
    env.globals.update(urls=urls, permissions=permissions, LEVEL_NAMES=LEVEL_NAMES, language_name=language_name)
    return env


def site_languages(db, session, settings, installed: tuple[str, ...]) -> languages.Languages:
    """The site's languages through the request's session, a fresh read, or (database down) the configuration."""
    try:
        if session is not None:
            return languages.load(session, settings, installed)
        with db.read() as fresh:
            return languages.load(fresh, settings, installed)
    except OperationalError:
        return languages.configured(settings, installed)


def _relative(value: datetime, locale: str) -> str:
    """"3 hours ago", as babel's format_timedelta(threshold=1.1) words it, at a fraction of its cost.

    The unit and the rounded number are worked out here exactly as babel does; the wording of each
    (unit, number, direction) is asked of babel once and kept.
    """
    delta = value - utcnow()
    seconds = int(delta.days * 86400 + delta.seconds)
    for unit, per_unit in TIMEDELTA_UNITS:  # the last unit, "second", always answers
        amount = abs(seconds) / per_unit
        if amount >= 1.1 or unit == "second":
            if unit == "second" and amount > 0:
                amount = max(1, amount)
            return _relative_words(unit, int(round(amount)), seconds >= 0, locale)
    raise AssertionError("babel's units end with seconds")


@lru_cache(maxsize=4096)
def _relative_words(unit: str, amount: int, future: bool, locale: str) -> str:
    seconds = amount * dict(TIMEDELTA_UNITS)[unit]
    return format_timedelta(timedelta(seconds=seconds if future else -seconds), granularity=unit,
                            threshold=1e15, add_direction=True, locale=locale)


@lru_cache(maxsize=4096)
def _date_words(day: date, locale: str) -> str:
    return format_date(day, "d MMM y", locale=locale)


def exact_time(value: datetime, zone: ZoneInfo, locale: str) -> str:
    """"14 Dec 2026, 15:00 GMT": the same as format_datetime(value, "d MMM y, HH:mm"), with the zone."""
    local = value.astimezone(zone)
    return f"{_date_words(local.date(), locale)}, {local.hour:02d}:{local.minute:02d} {local.tzname()}"


class Renderer:
    def __init__(self, settings, secret_key: str, locale_dir: Path | None = None):
        self.envs: dict[str, Environment] = {}
        self.locale_dir = locale_dir
        self.locales = available_locales(locale_dir)
        self.settings = settings
        self.secret_key = secret_key

    def render(self, request: Request, template: str, context: dict[str, Any] | None = None, *,
               status_code: int = 200) -> HTMLResponse:
        html = self._render(request, template, context)
        # Set when this page (or a part of it rendered before it) made the visitor a new token.
        new_anon_cookie = getattr(request.state, "new_csrf_cookie", None)
        response = HTMLResponse(html, status_code=status_code)
        response.headers["Cache-Control"] = "private, no-cache"
        response.headers["Vary"] = "Cookie, Accept-Language"
        response.headers["Content-Language"] = self.locale(request)
        if new_anon_cookie is not None:
            response.set_cookie(auth.ANON_CSRF_COOKIE, new_anon_cookie, httponly=True, samesite="lax",
                                secure=self.settings.cookies_secure, path="/")
        return response

    def personal_fragment(self, request: Request, template: str, context: dict[str, Any]) -> str:
        """Part of a page rendered for this request's viewer alone, with everything a page has."""
        return self._render(request, template, context)

    def _upload_limits(self, request: Request, viewer: Viewer) -> uploads.Limits:
        session = getattr(request.state, "db_session", None)
        if session is None:
            return uploads.limits(None, self.settings, viewer)
        # The admins' policy changes only through a write, which moves the generation.
        site = fragments.cache_for(request).get_or_build(session, ("upload policy",),
                                                         lambda: uploads.policy.load(session))
        return uploads.limits(session, self.settings, viewer, site)

    def _render(self, request: Request, template: str, context: dict[str, Any] | None) -> str:
        viewer = getattr(request.state, "viewer", None) or permissions.ANONYMOUS
        user = viewer.user
        locale, zone = self.locale_and_zone(request)
        shared = user is None and getattr(request.state, "shared_page", False)
        binding = getattr(request.state, "csrf_binding", None)
        if binding is None:
            # Pages rendered before the viewer is resolved (a 404 for an unknown path) must keep the
            # visitor's cookie: replacing it would expire every form they have open elsewhere.
            binding = request.cookies.get(auth.ANON_CSRF_COOKIE)
        if binding is None and not shared:
            binding = request.state.new_csrf_cookie = request.state.csrf_binding = auth.new_token()

        ctx = {
            **self._dates(locale, zone),
            "request": request,
            "viewer": viewer,
            "current_user": user,
            "settings": self.settings,
            "site_title": self.settings.site_title,
            # What the composer's file field may take (read only by pages that show one).
            "upload_limits": lambda: self._upload_limits(request, viewer),
            # A page kept in the anonymous page cache is shown to many visitors: it carries no token.
            "csrf_token": (token := "" if shared else auth.csrf_token_for(self.secret_key, binding)),
            "csrf_field": Markup(f'<input type="hidden" name="csrf_token" value="{token}">'),
            "session": getattr(request.state, "db_session", None),
            "site_languages": self.languages(request),
            "unread_notifications": lambda: _unread_notifications(request),
            "unread_messages": lambda: _unread_messages(request),
        }
        if context:
            ctx.update(context)
        return self._env(locale).get_template(template).render(ctx)

    def languages(self, request: Request) -> languages.Languages:
        """The site's offered languages and default, read once per request."""
        found = getattr(request.state, "languages", None)
        if found is None:
            found = request.state.languages = site_languages(request.app.state.db,
                                                             getattr(request.state, "db_session", None),
                                                             self.settings, self.locales)
        return found

    def locale(self, request: Request) -> str:
        """The language this request's answer is written in (forum/i18n.py's pick_locale order)."""
        chosen = getattr(request.state, "locale", None)
        if chosen is None:
            viewer = getattr(request.state, "viewer", None) or permissions.ANONYMOUS
            chosen = request.state.locale = self.languages(request).choose(
                profile=viewer.user.locale if viewer.user else None,
                cookie=request.cookies.get(auth.LOCALE_COOKIE),
                accept_language=request.headers.get("accept-language"))
        return chosen

    def locale_and_zone(self, request: Request) -> tuple[str, ZoneInfo]:
        """The language and time zone a page is written in for this request's viewer."""
        viewer = getattr(request.state, "viewer", None) or permissions.ANONYMOUS
        user = viewer.user
        return self.locale(request), _zone(user.timezone if user else None)

    def gettext(self, request: Request):
        """The request's translation function, for messages built in Python."""
        return translations(self.locale(request), self.locale_dir).gettext

    def fragment(self, locale: str, zone: ZoneInfo, template: str, context: dict[str, Any]) -> str:
        """Part of a page shared by many readers (forum/fragments.py): no viewer, no token, no request."""
        ctx = {**self._dates(locale, zone), "site_title": self.settings.site_title, **context}
        return self._env(locale).get_template(template).render(ctx)

    def prepare(self, locales: list[str]) -> None:
        """Compile every template now for these languages (`forum serve --workers N` does it once,
        before forking, so its workers share them)."""
        for locale in locales:
            env = self._env(locale)
            for name in env.list_templates(extensions=("html", "txt", "xml")):
                env.get_template(name)

    def _env(self, locale: str) -> Environment:
        env = self.envs.get(locale)
        if env is None:
            env = self.envs[locale] = make_environment(locale, self.locale_dir)
        return env

    @staticmethod
    def _dates(locale: str, zone: ZoneInfo) -> dict[str, Any]:
        return {
            "locale": locale,
            "exact_time": lambda value: exact_time(value, zone, locale),
            "relative_time": lambda value: _relative(value, locale),
            "iso": _iso,
        }


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _unread_notifications(request: Request) -> int:
    """The header's unread count: one indexed count, only for signed-in viewers."""
    return _header_count(request, notifications.unread_count)


def _unread_messages(request: Request) -> int:
    """The header's count of private messages with posts the viewer has not read."""
    return _header_count(request, messages.unread_count)


def _header_count(request: Request, count) -> int:
    viewer = getattr(request.state, "viewer", None)
    if viewer is None or viewer.user is None:
        return 0
    session = getattr(request.state, "db_session", None)
    try:
        if session is not None:
            return count(session, viewer)
        with request.app.state.db.read() as session:
            return count(session, Viewer(viewer.user))
    except OperationalError:
        return 0  # the page that says the database is away must not need it


def render(request: Request, template: str, context: dict[str, Any] | None = None, *,
           status_code: int = 200) -> HTMLResponse:
    return request.app.state.renderer.render(request, template, context, status_code=status_code)
