"""Emails speak their recipient's language, whoever caused them and whatever the sender reads."""

from __future__ import annotations

from email.header import decode_header, make_header

from forum import emails, outbox
from forum.i18n import translations
from forum.models import User
from tests.conftest import post_form
from tests.smtp import mail_settings, smtp_server  # noqa: F401  (fixtures)


def t(lang: str, message: str, **params) -> str:
    text = translations(lang).gettext(message)
    assert text != message, f"{message!r} is not translated into {lang}"
    return text % params if params else text


def _subject(message) -> str:
    return str(make_header(decode_header(message["Subject"])))


def _parts(message) -> dict[str, str]:
    return {p.get_content_type(): p.get_payload(decode=True).decode() for p in message.walk() if not p.is_multipart()}


def _member(db, make_user, username: str, locale: str | None):
    user = make_user(username, tier="member")
    with db.write() as session:
        emails.confirm_address(session, user.id)
        session.get(User, user.id).locale = locale
        session.get(User, user.id).timezone = "Europe/Rome"
    return user


def test_one_post_three_languages(db, mail_settings, smtp_server, make_user, make_category, make_topic, make_reply):
    ana = make_user("ana", tier="member")
    for username, locale in (("bea", "es"), ("carlo", "it"), ("dora", "fr")):
        _member(db, make_user, username, locale)
    topic = make_topic(ana, make_category("News and events"), title="Assembly in Lisbon")
    make_reply(ana, topic, raw="@bea @carlo @dora please check the delegates' list.")
    outbox.drain(db, mail_settings)
    messages = {m["To"].split("@")[0]: m for m in smtp_server.wait_for(3)}
    assert set(messages) == {"bea", "carlo", "dora"}
    for username, lang in (("bea", "es"), ("carlo", "it"), ("dora", "fr")):
        message = messages[username]
        subject = t(lang, "%(actor)s mentioned you in %(topic)s", actor="ana", topic="Assembly in Lisbon")
        assert _subject(message) == f"[{mail_settings.site_title}] {subject}"
        assert "mentioned you" not in _subject(message)
        text = _parts(message)["text/plain"]
        assert t(lang, "Times in this email are in %(zone)s.", zone="Europe/Rome") in text
        assert t(lang, "Unsubscribe with one click: %(url)s", url="").strip() in text
        assert "Times in this email" not in text and "Unsubscribe with one click" not in text
        assert "please check the delegates' list." in text  # people's words stay as written
        html = _parts(message)["text/html"]
        assert f'lang="{lang}"' in html


def test_a_password_reset_in_italian(client, db, mail_settings, smtp_server, make_user):
    _member(db, make_user, "carlo", "it")
    r = post_form(client, "/password-reset", {"login": "carlo"}, csrf_from="/password-reset",
                  headers={"Accept-Language": "es"})  # asked from a Spanish browser: the email follows Carlo
    assert r.status_code == 200
    outbox.drain(db, mail_settings)
    [message] = smtp_server.wait_for(1)
    assert _subject(message) == f"[{mail_settings.site_title}] {t('it', 'Reset your password')}"
