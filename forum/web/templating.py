"""The Jinja environment, its filters, and render(): one way to answer with a page."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel.dates import format_datetime, format_timedelta
from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from forum import LOCALE_DIR, TEMPLATES_DIR, auth, permissions, urls
from forum.i18n import available_locales, pick_locale, translate, translations
from forum.models import LEVEL_NAMES, utcnow


def _zone(tz: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(tz) if tz else ZoneInfo("UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def make_environment(locale: str = "en", locale_dir: Path = LOCALE_DIR) -> Environment:
    env = Environment(
        loader=FileSystemLoader(str(TEMPLATES_DIR)),
        autoescape=select_autoescape(["html", "xml"]),
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,
    )
    trans = translations(locale, locale_dir)
    env.install_gettext_callables(trans.gettext, trans.ngettext, newstyle=True)  # type: ignore[attr-defined]
    env.filters["tr"] = lambda message: translate(message, trans.gettext)
    env.globals.update(urls=urls, permissions=permissions, LEVEL_NAMES=LEVEL_NAMES)
    return env


def _relative(value: datetime, locale: str) -> str:
    delta = value - utcnow()
    return format_timedelta(delta, add_direction=True, locale=locale, threshold=1.1)


class Renderer:
    def __init__(self, settings, secret_key: str, locale_dir: Path = LOCALE_DIR):
        self.envs: dict[str, Environment] = {}
        self.locale_dir = locale_dir
        self.locales = available_locales(locale_dir)
        self.settings = settings
        self.secret_key = secret_key

    def render(self, request: Request, template: str, context: dict[str, Any] | None = None, *,
               status_code: int = 200) -> HTMLResponse:
        viewer = getattr(request.state, "viewer", None) or permissions.ANONYMOUS
        user = viewer.user
        locale = pick_locale(request.headers.get("accept-language"), user.locale if user else None,
                             self.settings.default_locale, self.locales)
        zone = _zone(user.timezone if user else None)
        new_anon_cookie = None
        shared = user is None and getattr(request.state, "shared_page", False)
        binding = getattr(request.state, "csrf_binding", None)
        if binding is None:
            # Pages rendered before the viewer is resolved (a 404 for an unknown path) must keep the
            # visitor's cookie: replacing it would expire every form they have open elsewhere.
            binding = request.cookies.get(auth.ANON_CSRF_COOKIE)
        if binding is None and not shared:
            binding = new_anon_cookie = auth.new_token()
            request.state.csrf_binding = binding

        def exact(value: datetime) -> str:
            local = value.astimezone(zone)
            return format_datetime(local, "d MMM y, HH:mm", locale=locale) + f" {local.tzname()}"

        def relative(value: datetime) -> str:
            return _relative(value, locale)

        ctx = {
            "request": request,
            "viewer": viewer,
            "current_user": user,
            "settings": self.settings,
            "site_title": self.settings.site_title,
            # A page kept in the anonymous page cache is shown to many visitors: it carries no token.
            "csrf_token": "" if shared else auth.csrf_token_for(self.secret_key, binding),
            "locale": locale,
            "exact_time": exact,
            "relative_time": relative,
            "iso": lambda v: v.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
            "session": getattr(request.state, "db_session", None),
            "unread_notifications": lambda: _unread_notifications(request),
        }
        if context:
            ctx.update(context)
        env = self.envs.get(locale)
        if env is None:
            env = self.envs[locale] = make_environment(locale, self.locale_dir)
        html = env.get_template(template).render(ctx)
        response = HTMLResponse(html, status_code=status_code)
        response.headers["Cache-Control"] = "private, no-cache"
        response.headers["Vary"] = "Cookie, Accept-Language"
        if new_anon_cookie is not None:
            response.set_cookie(auth.ANON_CSRF_COOKIE, new_anon_cookie, httponly=True, samesite="lax",
                                secure=self.settings.cookies_secure, path="/")
        return response


def _unread_notifications(request: Request) -> int:
    from forum.web.notifications import unread_for_request

    return unread_for_request(request)


def render(request: Request, template: str, context: dict[str, Any] | None = None, *,
           status_code: int = 200) -> HTMLResponse:
    return request.app.state.renderer.render(request, template, context, status_code=status_code)
