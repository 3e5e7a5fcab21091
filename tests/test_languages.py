"""Every member in their own language: how the language is chosen, and everything that follows it."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from forum.i18n import pick_locale, preferred_locales, translations
from forum.models import ModerationLog, User
from tests.conftest import csrf_of, login, post_form

ALL = ("en", "es", "fr", "it")


def t(lang: str, message: str) -> str:
    translated = translations(lang).gettext(message)
    assert lang == "en" or translated != message, f"{message!r} is not translated into {lang}"
    return translated


def lang_of(page) -> str:
    return re.search(r'<html lang="([^"]+)"', page.text).group(1)


# --- the order: profile > switcher cookie > Accept-Language > site default ----------------------

def test_babel_negotiation_of_accept_language():
    assert preferred_locales("fr-CA,fr;q=0.9,it;q=0.5,en;q=0.3", ALL) == ("fr", "it", "en")
    assert preferred_locales("de, es;q=0.2, it;q=0.8", ALL) == ("it", "es")
    assert preferred_locales("EN-gb, pt-BR", ALL) == ("en",)
    assert preferred_locales("es;q=0, it", ALL) == ("it",)
    for nonsense in ("", "*", ";;;", "q=1", "zz;q=abc", "\x00\x01", "é" * 2000, ",".join(["x"] * 500)):
        assert preferred_locales(nonsense, ALL) == ()
    assert pick_locale("es", "fr", "en", ALL, cookie="it") == "fr"
    assert pick_locale("es", None, "en", ALL, cookie="it") == "it"
    assert pick_locale("es", None, "en", ALL, cookie="xx") == "es"
    assert pick_locale(None, None, "it", ALL) == "it"


@pytest.mark.parametrize("lang", ["es", "fr", "it"])
def test_a_visitor_reads_in_the_browser_language(client, lang, make_user, make_category, make_topic):
    make_topic(make_user("ana"), make_category("News and events"))
    for path in ("/latest", "/categories", "/login", "/signup", "/t/a-topic-about-co-operation/1"):
        page = client.get(path, headers={"Accept-Language": f"{lang}-XX,{lang};q=0.9,en;q=0.5"})
        assert page.status_code == 200, path
        assert lang_of(page) == lang and page.headers["content-language"] == lang, path
    latest = client.get("/latest", headers={"Accept-Language": lang})
    assert t(lang, "Latest topics") in latest.text and t(lang, "Log in") in latest.text
    assert ">Latest topics<" not in latest.text and ">Log in<" not in latest.text


def test_relative_times_and_dates_follow_the_language(client, make_user, make_category, make_topic):
    make_topic(make_user("ana"), make_category("News and events"))
    es = client.get("/latest", headers={"Accept-Language": "es"}).text
    fr = client.get("/latest", headers={"Accept-Language": "fr"}).text
    assert "hace " in es and "ago" not in es
    assert "il y a " in fr and "ago" not in fr


def test_unknown_or_malformed_wishes_fall_back_to_the_default(client):
    for header in (b"de-DE,de;q=0.9", b"zz", b"*", b"q=;;,", "\u00e9\u00e8".encode()):
        page = client.get("/latest", headers={"Accept-Language": header})
        assert page.status_code == 200 and lang_of(page) == "en", header
    client.cookies.set("forum_locale", "../../etc")
    page = client.get("/latest", headers={"Accept-Language": "fr"})
    assert page.status_code == 200 and lang_of(page) == "fr"


def test_the_switcher_sets_a_cookie_that_beats_accept_language(client):
    page = client.get("/latest", headers={"Accept-Language": "fr"})
    links = re.findall(r'<a href="(/language/(\w+)\?next=[^"]+)" lang="\w+" hreflang="\w+"', page.text)
    assert {code for _href, code in links} == set(ALL)
    href = next(h for h, code in links if code == "it").replace("&amp;", "&")
    r = client.get(href, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/latest"
    assert "forum_locale=it" in r.headers["set-cookie"] and "HttpOnly" in r.headers["set-cookie"]
    again = client.get("/categories", headers={"Accept-Language": "fr"})
    assert lang_of(again) == "it" and t("it", "Categories") in again.text


def test_the_switcher_refuses_what_is_not_offered_and_foreign_destinations(client):
    assert client.get("/language/de?next=/latest", follow_redirects=False).status_code == 404
    r = client.get("/language/es?next=//evil.example/", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/"


def test_the_page_cache_never_serves_one_language_to_another(client, make_user, make_category, make_topic):
    make_topic(make_user("ana"), make_category("News and events"))
    for _round in range(2):  # the second round is answered from the cache
        for lang in ALL:
            page = client.get("/latest", headers={"Accept-Language": lang})
            assert lang_of(page) == lang and t(lang, "Latest topics") in page.text
            assert "Accept-Language" in page.headers["vary"]
    client.cookies.set("forum_locale", "es")
    assert lang_of(client.get("/latest", headers={"Accept-Language": "fr"})) == "es"
    client.cookies.delete("forum_locale")
    # A visitor asking for French first and Italian second gets French; one asking for a language the
    # forum lacks first and Italian second gets Italian, though both "ask for French" nowhere.
    assert lang_of(client.get("/latest", headers={"Accept-Language": "fr,it"})) == "fr"
    assert lang_of(client.get("/latest", headers={"Accept-Language": "de,it"})) == "it"


def test_a_members_profile_setting_comes_first(client, make_user):
    make_user("ana", tier="member")
    login(client, "ana")
    page = client.get("/my/preferences", headers={"Accept-Language": "fr"})
    assert lang_of(page) == "fr" and t("fr", "Interface language") in page.text
    r = post_form(client, "/my/preferences", {"name": "Ana", "locale": "es"}, csrf_from="/my/preferences",
                  headers={"Accept-Language": "fr"})
    assert r.status_code == 200 and lang_of(r) == "es" and t("es", "Your profile has been saved.") in r.text
    client.cookies.set("forum_locale", "it")
    assert lang_of(client.get("/latest", headers={"Accept-Language": "fr"})) == "es"
    # Back to following the browser.
    post_form(client, "/my/preferences", {"name": "Ana", "locale": "auto"}, csrf_from="/my/preferences")
    client.cookies.delete("forum_locale")
    assert lang_of(client.get("/latest", headers={"Accept-Language": "fr"})) == "fr"


def test_a_bad_profile_language_is_refused_inline_and_changes_nothing(client, make_user, db):
    make_user("ana", tier="member")
    login(client, "ana")
    r = post_form(client, "/my/preferences", {"name": "Ana Changed", "locale": "de"}, csrf_from="/my/preferences")
    assert r.status_code == 422 and 'id="locale-error"' in r.text and "es, fr, it" in r.text
    with db.read() as session:
        ana = session.scalar(select(User).where(User.username == "ana"))
        assert ana.locale is None


def test_members_switch_with_the_footer_form(client, make_user, db):
    make_user("ana", tier="member")
    login(client, "ana")
    page = client.get("/latest")
    assert 'action="/language"' in page.text and 'id="footer-locale"' in page.text
    r = post_form(client, "/language", {"locale": "fr", "next": "/categories"}, csrf_from="/latest")
    assert r.status_code == 303 and r.headers["location"] == "/categories"
    with db.read() as session:
        assert session.scalar(select(User.locale).where(User.username == "ana")) == "fr"
    assert lang_of(client.get("/categories")) == "fr"
    r = client.post("/language", data={"locale": "fr", "next": "/"}, follow_redirects=False)
    assert r.status_code == 403  # no CSRF token: refused


# --- admins choose the languages offered ---------------------------------------------------------

def test_admins_choose_the_languages_offered_and_the_default(client, staff, db):
    login(client, staff.username)
    page = client.get("/admin/settings")
    assert all(f'id="language-{code}"' in page.text for code in ALL)
    r = post_form(client, "/admin/settings/languages", {"languages": ["en", "es"], "default_language": "es"},
                  csrf_from="/admin/settings")
    assert r.status_code == 200
    visitor_headers = {"Accept-Language": "fr"}
    client.post("/logout", data={"csrf_token": csrf_of(client)})
    client.cookies.clear()
    # French is no longer offered: a French browser gets the default, Spanish.
    page = client.get("/latest", headers=visitor_headers)
    assert lang_of(page) == "es"
    assert "/language/fr" not in page.text and "/language/es" in page.text
    assert client.get("/language/fr", follow_redirects=False).status_code == 404
    with db.read() as session:
        entry = session.scalars(select(ModerationLog).where(ModerationLog.action == "change_languages")).one()
        assert "en,es" in entry.summary


def test_the_language_setting_refuses_nonsense(client, staff):
    login(client, staff.username)
    r = post_form(client, "/admin/settings/languages", {"languages": ["es"], "default_language": "it"},
                  csrf_from="/admin/settings")
    assert r.status_code == 422 and 'id="default_language-error"' in r.text
    r = post_form(client, "/admin/settings/languages", {"default_language": "en"}, csrf_from="/admin/settings")
    assert r.status_code == 422 and 'id="languages-error"' in r.text
    assert lang_of(client.get("/latest", headers={"Accept-Language": "it"})) == "it"


def test_only_admins_change_the_languages(client, make_user):
    make_user("ana", tier="member")
    login(client, "ana")
    r = post_form(client, "/admin/settings/languages", {"languages": ["en"], "default_language": "en"})
    assert r.status_code == 404


# --- the API ------------------------------------------------------------------------------------

def test_api_profile_locale_read_and_written(client, make_user, staff):
    make_user("ana", tier="member")
    make_user("ben", tier="member")
    login(client, "ana")
    token = csrf_of(client)
    r = client.put("/u/ana.json", json={"locale": "it"}, headers={"X-CSRF-Token": token})
    assert r.status_code == 200 and r.json()["success"] == "OK" and r.json()["user"]["locale"] == "it"
    assert client.get("/u/ana.json").json()["user"]["locale"] == "it"
    assert lang_of(client.get("/latest")) == "it"
    r = client.put("/u/ana.json", json={"locale": "klingon"}, headers={"X-CSRF-Token": token})
    assert r.status_code == 422 and r.json()["errors"]
    # In the caller's language (Italian now): the error message is translated.
    assert r.json()["errors"] == [t("it", "Choose one of the languages offered: %(codes)s.") % {"codes": "en, es, fr, it"}]
    assert client.put("/u/ben.json", json={"locale": "es"}, headers={"X-CSRF-Token": token}).status_code == 403
    assert client.put("/u/nobody.json", json={"locale": "es"}, headers={"X-CSRF-Token": token}).status_code == 404


def test_api_errors_speak_the_callers_language(client):
    r = client.get("/t/999999.json", headers={"Accept-Language": "es"})
    assert r.status_code == 404 and r.headers["content-language"] == "es"
    assert r.json()["errors"] == [t("es", "The requested URL or resource could not be found.")]


# --- feeds ------------------------------------------------------------------------------------

def test_feeds_speak_the_readers_language(client, make_user, make_category, make_topic, settings):
    make_topic(make_user("ana"), make_category("News and events"))
    r = client.get("/latest.rss", headers={"Accept-Language": "fr"})
    assert r.status_code == 200 and "<language>fr</language>" in r.text and r.headers["content-language"] == "fr"
    title = t("fr", "%(site)s - Latest topics") % {"site": settings.site_title}
    assert f"<title>{title}</title>" in r.text
    assert "Accept-Language" in r.headers["vary"]
    english = client.get("/latest.rss")
    assert "<language>en</language>" in english.text and english.headers["etag"] != r.headers["etag"]


# --- categories in several languages -------------------------------------------------------------

def test_categories_have_names_and_descriptions_per_language(client, staff, make_category, make_user, make_topic,
                                                             db):
    news = make_category("News and events")
    make_topic(make_user("ana"), news, title="Assembly in Lisbon")
    login(client, staff.username)
    page = client.get(f"/admin/categories/{news.id}")
    assert all(f'name="name_{code}"' in page.text for code in ("es", "fr", "it"))
    assert 'name="name_en"' not in page.text  # the site default's name is the main one
    r = post_form(client, f"/admin/categories/{news.id}/settings",
                  {"name": "News and events", "description": "What happens in the federation", "color": "0088CC",
                   "parent_id": "", "new_participant_post_interval": "0",
                   "name_es": "Noticias y eventos", "description_es": "Lo que pasa en la federación",
                   "name_fr": "Actualités et événements", "description_fr": "", "name_it": "", "description_it": ""},
                  csrf_from=f"/admin/categories/{news.id}")
    assert r.status_code == 200
    client.post("/logout", data={"csrf_token": csrf_of(client)})
    client.cookies.clear()
    es = client.get("/categories", headers={"Accept-Language": "es"}).text
    assert "Noticias y eventos" in es and "Lo que pasa en la federación" in es
    fr = client.get(f"/c/{news.slug}/{news.id}", headers={"Accept-Language": "fr"}).text
    # French has a name but no description: the main description stands in.
    assert "<h1>Actualités et événements</h1>" in fr and "What happens in the federation" in fr
    it = client.get("/latest", headers={"Accept-Language": "it"}).text
    assert "News and events" in it  # no Italian name: the main one
    assert "Noticias y eventos" in client.get("/latest", headers={"Accept-Language": "es"}).text
    feed = client.get(f"/c/{news.slug}/{news.id}.rss", headers={"Accept-Language": "es"}).text
    assert "<title>Noticias y eventos - " in feed
    # The address is the same in every language.
    assert client.get(f"/c/news-and-events/{news.id}", headers={"Accept-Language": "es"}).status_code == 200


def test_a_too_long_translated_name_is_refused_and_nothing_changes(client, staff, make_category, db):
    news = make_category("News and events")
    login(client, staff.username)
    r = post_form(client, f"/admin/categories/{news.id}/settings",
                  {"name": "Renamed", "description": "", "color": "0088CC", "parent_id": "",
                   "new_participant_post_interval": "0", "name_es": "x" * 81},
                  csrf_from=f"/admin/categories/{news.id}")
    assert r.status_code == 422 and 'id="name_es-error"' in r.text
    from forum.models import Category

    with db.read() as session:
        category = session.get(Category, news.id)
        assert category.name == "News and events" and category.localized is None
