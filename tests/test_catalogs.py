"""The catalogs are complete: every message the sources mark is in every language, translated, not
fuzzy, with the same placeholders. Run scripts/update-catalogs after changing a string, then translate
what scripts/catalog-status lists."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
from babel.messages.pofile import read_po

from forum import ROOT
from forum.i18n import available_locales, language_name, translations

LOCALE_DIR = ROOT / "forum" / "locale"
LANGUAGES = ("es", "fr", "it")
PLACEHOLDER = re.compile(r"%\((\w+)\)[sd]|%%")


def _catalog(lang: str):
    with (LOCALE_DIR / lang / "LC_MESSAGES" / "messages.po").open("rb") as f:
        return read_po(f, locale=lang)


@pytest.fixture(scope="module")
def extracted(tmp_path_factory):
    """The messages the sources mark today, extracted as scripts/update-catalogs does."""
    out = tmp_path_factory.mktemp("pot") / "messages.pot"
    subprocess.run([sys.executable, "-m", "babel.messages.frontend", "extract", "-F", str(ROOT / "babel.cfg"),
                    "-k", "_", "-k", "gettext", "-k", "ngettext:1,2", "-k", "pgettext:1c,2",
                    "-k", "npgettext:1c,2,3", "-k", "lazy_gettext", "--omit-header", "-o", str(out), str(ROOT)],
                   check=True, capture_output=True, cwd=ROOT)
    with out.open("rb") as f:
        return {m.id if isinstance(m.id, str) else m.id[0] for m in read_po(f) if m.id}


def _ids(catalog) -> set[str]:
    return {m.id if isinstance(m.id, str) else m.id[0] for m in catalog if m.id}


def test_the_four_languages_are_installed():
    assert available_locales() == ("en", "es", "fr", "it")
    assert [language_name(c) for c in available_locales()] == ["English", "Español", "Français", "Italiano"]


def test_the_template_holds_every_marked_message(extracted):
    with (LOCALE_DIR / "messages.pot").open("rb") as f:
        template = _ids(read_po(f))
    assert extracted - template == set(), "run scripts/update-catalogs"
    assert template - extracted == set(), "run scripts/update-catalogs"


@pytest.mark.parametrize("lang", LANGUAGES)
def test_each_catalog_is_complete(lang, extracted):
    catalog = _catalog(lang)
    assert extracted - _ids(catalog) == set(), f"{lang}: messages missing; run scripts/update-catalogs"
    untranslated, fuzzy, wrong = [], [], []
    for message in catalog:
        if not message.id:
            continue
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        if message.fuzzy:
            fuzzy.append(message.id)
        if not all(strings):
            untranslated.append(message.id)
        source = message.id if isinstance(message.id, tuple) else (message.id,)
        wanted = set(PLACEHOLDER.findall(source[-1]))
        for string in strings:
            if string and set(PLACEHOLDER.findall(string)) != wanted:
                wrong.append((message.id, string))
    assert untranslated == [] and fuzzy == [], (untranslated[:10], fuzzy[:10])
    assert wrong == [], wrong[:10]
    assert [(m.id, e) for m, e in catalog.check()] == []


@pytest.mark.parametrize(("lang", "words"), [
    ("es", ("Temas recientes", "Iniciar sesión", "Categorías")),
    ("fr", ("Sujets récents", "Se connecter", "Catégories")),
    ("it", ("Argomenti recenti", "Accedi", "Categorie")),
])
def test_catalogs_load_as_the_forum_uses_them(lang, words):
    gettext = translations(lang).gettext
    found = (gettext("Latest topics"), gettext("Log in"), gettext("Categories"))
    assert found == words
