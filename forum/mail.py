"""Email: messages are queued in the outbox with the change that causes them and sent over SMTP."""

from __future__ import annotations

import smtplib
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from email import policy
from email.message import EmailMessage
from email.utils import formataddr, make_msgid, parseaddr
from typing import Any

from sqlalchemy.orm import Session

from forum import outbox
from forum.config import Settings


def queue_email(session: Session, *, to: str, subject: str, text: str, html: str | None = None,
                headers: dict[str, str] | None = None, dedupe_key: str | None = None) -> None:
    """Queue one email in the caller's transaction."""
    outbox.enqueue(session, "email", {"to": to, "subject": subject, "text": text, "html": html,
                                      "headers": headers or {}}, dedupe_key=dedupe_key)


def build_message(settings: Settings, payload: dict[str, Any], item_id: int | None = None) -> EmailMessage:
    # Long headers stay whole: a List-Unsubscribe URL folded into RFC 2047 encoded words is unusable.
    message = EmailMessage(policy=policy.default.clone(max_line_length=998))
    name, address = parseaddr(settings.mail_from)
    message["From"] = formataddr((name, address))
    message["To"] = payload["to"]
    message["Subject"] = payload["subject"]
    domain = address.split("@", 1)[-1] or "localhost"
    # A stable Message-ID per queued item lets mail systems drop a duplicate after a retried send.
    message["Message-ID"] = f"<outbox-{item_id}@{domain}>" if item_id else make_msgid(domain=domain)
    for key, value in (payload.get("headers") or {}).items():
        message[key] = value
    message.set_content(payload["text"])
    if payload.get("html"):
        message.add_alternative(payload["html"], subtype="html")
    return message


def _tls_context(settings: Settings) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=settings.smtp_ca_file or None)


@contextmanager
def connected(settings: Settings, *, timeout: float | None = None) -> Iterator[smtplib.SMTP]:
    """A connection to the mail server, secured and logged in as configured."""
    timeout = settings.smtp_timeout if timeout is None else timeout
    if settings.smtp_security == "ssl":
        client: smtplib.SMTP = smtplib.SMTP_SSL(settings.smtp_host, settings.smtp_port,
                                                timeout=timeout, context=_tls_context(settings))
    else:
        client = smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=timeout)
    with client:
        if settings.smtp_security == "starttls":
            client.starttls(context=_tls_context(settings))
        if settings.smtp_user:
            client.login(settings.smtp_user, settings.smtp_password or "")
        yield client


def send(settings: Settings, message: EmailMessage) -> None:
    with connected(settings) as client:
        client.send_message(message)


@outbox.handler("email")
def _send_queued_email(payload: dict[str, Any], ctx: outbox.JobContext) -> None:
    send(ctx.settings, build_message(ctx.settings, payload, ctx.item_id))
