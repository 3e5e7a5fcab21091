"""`forum check`: read the configuration, try everything the forum needs, and say in plain words
what is wrong. Each check gives one line: ok, a warning (worth knowing, not fatal) or a problem
(the forum will not work as configured; `forum check` then exits with 1)."""

from __future__ import annotations

import json
import smtplib
import ssl
import urllib.error
import urllib.request
from dataclasses import dataclass

from forum.config import Settings

OK, WARNING, PROBLEM = "ok", "warning", "PROBLEM"


@dataclass
class Finding:
    what: str
    status: str
    message: str


def shown_url(url: str) -> str:
    """A URL as it may be printed: its password hidden."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001  (a URL too malformed to parse is shown as given)
        return url


def first_line(error: BaseException) -> str:
    """The first line of what went wrong, from the driver when there is one."""
    orig = getattr(error, "orig", None) or error
    return (str(orig).strip().splitlines() or [type(orig).__name__])[0]


def database(settings: Settings) -> Finding:
    from pathlib import Path

    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    from forum.health import head_revision

    shown = shown_url(settings.database_url)
    try:
        url = make_url(settings.database_url)
        if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:") \
                and not Path(url.database).exists():  # connecting would create an empty file
            return Finding("database", WARNING, f"{shown}: no database file yet (`forum serve` or `forum migrate` "
                                                "creates it)")
        engine = create_engine(settings.database_url)
    except Exception as e:  # noqa: BLE001  (any reason a URL cannot be used is reported, not raised)
        return Finding("database", PROBLEM, f"FORUM_DATABASE_URL={shown} cannot be used: {first_line(e)}")
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
            try:
                current = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
            except Exception:  # noqa: BLE001  (no such table: never migrated)
                current = None
    except Exception as e:  # noqa: BLE001
        return Finding("database", PROBLEM, f"cannot connect to FORUM_DATABASE_URL={shown}: {first_line(e)}")
    finally:
        engine.dispose()
    head = head_revision()
    if current is None:
        return Finding("database", WARNING, f"{shown} answers but holds no forum yet (`forum serve` or "
                                            "`forum migrate` creates it)")
    if current != head:
        return Finding("database", WARNING, f"{shown} is at schema {current}, this code expects {head} "
                                            "(`forum migrate` upgrades it)")
    return Finding("database", OK, f"{shown}, schema at {current}")


def redis(settings: Settings) -> Finding:
    if not settings.redis_url:
        return Finding("redis", OK, "not configured (one process needs none; several share one)")
    import redis as redis_lib

    try:
        redis_lib.Redis.from_url(settings.redis_url, socket_timeout=3, socket_connect_timeout=3).ping()
    except ValueError as e:
        return Finding("redis", PROBLEM, f"FORUM_REDIS_URL={settings.redis_url} is not a Redis URL ({e})")
    except redis_lib.RedisError as e:
        return Finding("redis", PROBLEM, f"Redis at FORUM_REDIS_URL={settings.redis_url} does not answer: "
                                         f"{first_line(e)} (the forum still serves, but processes stop "
                                         "sharing live updates, rate limits and view counts)")
    return Finding("redis", OK, settings.redis_url)


def mail(settings: Settings) -> Finding:
    from forum.mail import connected

    where = f"{settings.smtp_host}:{settings.smtp_port} ({settings.smtp_security})"
    try:
        with connected(settings, timeout=5) as client:
            code, _reply = client.noop()
    except smtplib.SMTPAuthenticationError as e:
        return Finding("mail", PROBLEM, f"the mail server at {where} refused the log-in of FORUM_SMTP_USER="
                                        f"{settings.smtp_user}: {e.smtp_code} {e.smtp_error.decode(errors='replace')}")
    except (smtplib.SMTPException, OSError, ssl.SSLError) as e:
        return Finding("mail", PROBLEM, f"cannot reach a mail server at {where}: {first_line(e) or type(e).__name__}"
                                        " (set FORUM_SMTP_HOST and FORUM_SMTP_PORT; no email goes out until then)")
    if code != 250:
        return Finding("mail", PROBLEM, f"the mail server at {where} answered {code} to NOOP")
    return Finding("mail", OK, f"{where}, sending as {settings.mail_from}")


def base_url(settings: Settings) -> Finding:
    base = settings.base_url.rstrip("/")
    if not base.startswith(("http://", "https://")):
        return Finding("base URL", PROBLEM, f"FORUM_BASE_URL={base} must start with http:// or https://")
    try:
        with urllib.request.urlopen(f"{base}/health/live", timeout=5) as r:  # noqa: S310  (http(s) only, above)
            answer = json.loads(r.read().decode())
    except (TimeoutError, urllib.error.URLError, OSError, ValueError) as e:
        reason = getattr(e, "reason", None) or e
        return Finding("base URL", WARNING, f"nothing answers at {base}/health/live ({first_line(reason)}): start the "
                                            "forum, or check that the proxy in front of it forwards there")
    seen = str(answer.get("seen_as", "")).rstrip("/")
    if seen and seen != base:
        return Finding("base URL", PROBLEM, f"requests to {base} reach the forum as {seen}: links, cookies and "
                                            "feeds would point to the wrong place. Behind a proxy, let the forum "
                                            "trust its X-Forwarded-Proto and Host (FORWARDED_ALLOW_IPS set to the "
                                            "proxy's address) and have the proxy pass the original Host")
    return Finding("base URL", OK, f"{base} answers as itself")


def run_all(settings: Settings) -> list[Finding]:
    return [database(settings), redis(settings), mail(settings), base_url(settings)]
