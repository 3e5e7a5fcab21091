"""Email bodies come from templates/email/: text and HTML from one layout, escaped, in the recipient's language."""
# ruff: noqa: F811  (the SMTP fixtures are imported by name, then requested by name)

import functools
import subprocess
import sys

from babel.messages.catalog import Catalog
from babel.messages.pofile import write_po

from forum import ROOT, emails, i18n, outbox
from forum.models import User
from tests.smtp import mail_settings, smtp_server  # noqa: F401  (fixtures)
from tests.test_email import _confirm, _parts

TITLE = 'Fish & <chips> for "all" co-ops'
SPANISH = {
    "Open it on the forum": "Ábrelo en el foro",
    "Times in this email are in %(zone)s.": "Las horas de este correo están en %(zone)s.",
    "Unsubscribe": "Darse de baja",
    "Unsubscribe with one click: %(url)s": "Darse de baja con un clic: %(url)s",
    "Posted %(when)s": "Publicado %(when)s",
}


def _spanish(tmp_path, monkeypatch):
    catalog = Catalog(locale="es")
    for english, spanish in SPANISH.items():
        catalog.add(english, spanish)
    folder = tmp_path / "es" / "LC_MESSAGES"
    folder.mkdir(parents=True)
    with (folder / "messages.po").open("wb") as f:
        write_po(f, catalog)
    monkeypatch.setattr(i18n, "AVAILABLE_LOCALES", ("en", "es"))
    monkeypatch.setattr(emails, "translations", functools.partial(i18n.translations, locale_dir=tmp_path))


def _mention(db, mail_settings, smtp_server, make_user, make_category, make_topic, make_reply, *, locale=None):
    ana, bob = make_user("ana", tier="member"), make_user("bob", tier="member")
    _confirm(db, bob, "Europe/Madrid")
    if locale:
        with db.write() as session:
            session.get(User, bob.id).locale = locale
    topic = make_topic(ana, make_category("News"), title=TITLE)
    make_reply(ana, topic, raw="@bob look at <this> & that.")
    outbox.drain(db, mail_settings)
    [message] = smtp_server.wait_for(1)
    return {kind: body.replace("\r\n", "\n") for kind, body in _parts(message).items()}


def test_html_email_escapes_what_people_wrote_and_the_text_email_keeps_it_as_written(
        db, mail_settings, smtp_server, make_user, make_category, make_topic, make_reply):
    parts = _mention(db, mail_settings, smtp_server, make_user, make_category, make_topic, make_reply)
    text, html = parts["text/plain"], parts["text/html"]
    assert f"ana mentioned you in {TITLE}" in text and "look at <this> & that." in text
    assert "<chips>" not in html and "<this>" not in html
    assert "Fish &amp; &lt;chips&gt; for &#34;all&#34; co-ops" in html
    # Once, not twice: the excerpt reads "<this> & that" in the mail client too.
    assert "look at &lt;this&gt; &amp; that." in html and "&amp;lt;" not in html
    # One layout for both: the site in the header, the footer with settings and unsubscribe links.
    assert html.startswith("<!doctype html>") and 'lang="en"' in html
    assert 'href="http://testserver/"' in html and 'href="http://testserver/my/email"' in html
    assert "\n-- \nTimes in this email are in Europe/Madrid.\nEmail settings: http://testserver/my/email\n" in text


def test_email_bodies_are_written_in_the_recipients_language(
        tmp_path, monkeypatch, db, mail_settings, smtp_server, make_user, make_category, make_topic, make_reply):
    _spanish(tmp_path, monkeypatch)
    parts = _mention(db, mail_settings, smtp_server, make_user, make_category, make_topic, make_reply, locale="es")
    text, html = parts["text/plain"], parts["text/html"]
    assert "Las horas de este correo están en Europe/Madrid." in text
    assert "Darse de baja con un clic: http://testserver/email/unsubscribe/" in text
    assert "Publicado " in text and "Posted " not in text
    assert "Ábrelo en el foro</a>" in html and ">Darse de baja</a>" in html and 'lang="es"' in html


def test_invitation_and_approval_emails_have_an_html_part_and_no_unsubscribe_footer(mail_settings):
    text, html = emails.render("en", "invitation", {
        "subject": "s", "site_title": "The <Federation>", "site_url": "http://testserver/", "inviter": "Ana & Co",
        "message": "Come <b>in</b>", "url": "http://testserver/invites/abc", "expires": "2026-12-01"})
    assert "Ana & Co invites you to join The <Federation>." in text and "Come <b>in</b>" in text
    assert "Ana &amp; Co invites you to join The &lt;Federation&gt;." in html and "Come &lt;b&gt;in&lt;/b&gt;" in html
    assert "Unsubscribe" not in text + html and "-- " not in text
    text, html = emails.render("en", "account_approved", {
        "subject": "s", "site_title": "Forum", "site_url": "http://testserver/", "username": "lucia",
        "url": "http://testserver/login"})
    assert text.startswith("Hello lucia,\n\nA moderator has approved your account at Forum.")
    assert '<a href="http://testserver/login">' in html


def test_email_template_strings_are_extracted_for_translators(tmp_path):
    out = tmp_path / "messages.pot"
    subprocess.run([sys.executable, "-m", "babel.messages.frontend", "extract", "-F", str(ROOT / "babel.cfg"),
                    "-k", "_", "--no-location", "--omit-header", "-o", str(out), str(ROOT)],
                   check=True, capture_output=True, cwd=ROOT)
    text = out.read_text()
    for message in ("Unsubscribe with one click: %(url)s", "Open it on the forum",
                    "A moderator has approved your account at %(site)s. You can log in now:"):
        assert f'msgid "{message}"' in text
