"""Pages speak the reader's language when a catalog exists; English is the source."""

import subprocess
import sys

from babel.messages.catalog import Catalog
from babel.messages.pofile import write_po

from forum import ROOT
from forum.web.templating import Renderer
from tests.conftest import login, post_form


def _spanish_catalog(tmp_path):
    catalog = Catalog(locale="es")
    catalog.add("Latest topics", "Temas recientes")
    catalog.add("Log in", "Entrar")
    catalog.add("Title must be at least %(n)s characters.", "El título necesita al menos %(n)s caracteres.")
    folder = tmp_path / "es" / "LC_MESSAGES"
    folder.mkdir(parents=True)
    with (folder / "messages.po").open("wb") as f:
        write_po(f, catalog)
    return tmp_path


def test_page_and_error_messages_follow_accept_language(app, client, tmp_path, make_user, make_category):
    app.state.renderer = Renderer(app.state.settings, app.state.secret_key, locale_dir=_spanish_catalog(tmp_path))
    page = client.get("/latest", headers={"Accept-Language": "es-ES,es;q=0.9,en;q=0.5"})
    assert '<html lang="es">' in page.text and "Temas recientes" in page.text and "Entrar" in page.text
    english = client.get("/latest", headers={"Accept-Language": "fr"})
    assert "Latest topics" in english.text
    make_user("ana", tier="member")
    news = make_category("News and events")
    login(client, "ana")
    r = post_form(client, "/new-topic", {"title": "Hi", "raw": "A body long enough.", "category": news.id},
                  headers={"Accept-Language": "es"})
    assert r.status_code == 422 and "El título necesita al menos 5 caracteres." in r.text


def test_message_catalog_template_extracts_every_marked_string(tmp_path):
    """The catalog template can be regenerated from the sources (pybabel reads templates and code)."""
    out = tmp_path / "messages.pot"
    subprocess.run([sys.executable, "-m", "babel.messages.frontend", "extract", "-F", str(ROOT / "babel.cfg"),
                    "-k", "_", "-k", "gettext", "-k", "ngettext:1,2", "--no-location", "--omit-header",
                    "-o", str(out), str(ROOT)], check=True, capture_output=True, cwd=ROOT)
    text = out.read_text()
    for message in ("Latest topics", "Create your account", "Title must be at least %(n)s characters.",
                    "Usernames are %(min)s to %(max)s characters long."):
        assert f'msgid "{message}"' in text
