"""SMTP as operators configure it: credentials, STARTTLS and implicit TLS against real local servers
(aiosmtpd), with a certificate from a private CA; a refused log-in or an untrusted certificate
sends nothing and loses nothing."""

import ssl
import subprocess
from datetime import timedelta

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from sqlalchemy import select, update

from forum import mail, outbox
from forum.models import OutboxItem, utcnow
from tests.server import free_port
from tests.smtp import Inbox


class Accounts:
    """The mail server's one account; remembers who logged in."""

    def __init__(self):
        self.logins: list[str] = []

    def __call__(self, server, session, envelope, mechanism, auth_data):
        login, password = auth_data.login.decode(), auth_data.password.decode()
        if (login, password) == ("forum", "relay-secret"):
            self.logins.append(login)
            return AuthResult(success=True)
        return AuthResult(success=False, handled=False)


@pytest.fixture
def certificate(tmp_path):
    """A self-signed certificate for 127.0.0.1, standing in for a private CA."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out",
                    str(cert), "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(str(cert), str(key))
    return str(cert), context


def _serve(request, **kwargs) -> tuple[Inbox, Accounts, int]:
    inbox, accounts = Inbox(), Accounts()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port(), authenticator=accounts, **kwargs)
    controller.start()
    request.addfinalizer(controller.stop)
    return inbox, accounts, controller.port


def _queue(db):
    with db.write() as session:
        mail.queue_email(session, to="ana@example.org", subject="Board report ready",
                         text="The October report is online.")


def _outcome(db) -> OutboxItem:
    with db.read() as session:
        return session.scalar(select(OutboxItem))


def _retry_now(db) -> None:
    with db.write() as session:
        session.execute(update(OutboxItem).values(available_at=utcnow() - timedelta(seconds=1)))


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
def test_smtp_credentials_are_used_and_a_refused_log_in_is_retried_not_lost(request, db, settings):
    inbox, accounts, port = _serve(request, auth_required=True, auth_require_tls=False)
    settings.smtp_port, settings.smtp_user, settings.smtp_password = port, "forum", "wrong-secret"
    _queue(db)
    outbox.drain(db, settings)
    item = _outcome(db)
    assert inbox.messages == [] and item.done_at is None and item.failed_at is None
    assert "Authentication" in item.last_error or "535" in item.last_error
    settings.smtp_password = "relay-secret"  # the operator fixes the setting
    _retry_now(db)
    assert outbox.drain(db, settings) == 1
    [message] = inbox.wait_for(1)
    assert message["Subject"] == "Board report ready" and accounts.logins == ["forum"]


def test_starttls_verifies_the_certificate_against_the_configured_ca(request, db, settings, certificate):
    ca_file, server_context = certificate
    inbox, accounts, port = _serve(request, tls_context=server_context, require_starttls=True,
                                   auth_required=True, auth_require_tls=True)
    settings.smtp_port, settings.smtp_security = port, "starttls"
    settings.smtp_user, settings.smtp_password = "forum", "relay-secret"
    _queue(db)
    outbox.drain(db, settings)  # the private CA is not trusted yet: nothing is sent in the clear or at all
    assert inbox.messages == [] and "CERTIFICATE_VERIFY_FAILED" in _outcome(db).last_error
    settings.smtp_ca_file = ca_file
    _retry_now(db)
    assert outbox.drain(db, settings) == 1
    [message] = inbox.wait_for(1)
    assert message["To"] == "ana@example.org" and accounts.logins == ["forum"]


def test_implicit_tls_on_a_submissions_port(request, db, settings, certificate):
    ca_file, server_context = certificate
    inbox, _accounts, port = _serve(request, ssl_context=server_context)
    settings.smtp_port, settings.smtp_security, settings.smtp_ca_file = port, "ssl", ca_file
    _queue(db)
    assert outbox.drain(db, settings) == 1
    [message] = inbox.wait_for(1)
    assert message["Subject"] == "Board report ready"
    assert _outcome(db).done_at is not None
