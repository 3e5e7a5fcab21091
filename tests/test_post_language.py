"""Each post records its language: chosen in the composer (the author's by default), shown as `lang`,
carried by the API and feeds, and used by search to find word forms in that language."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from forum import posting, search
from forum.errors import ValidationFailed
from forum.models import Post, SiteSetting, Topic, User
from forum.permissions import Viewer
from tests.conftest import csrf_of, login, post_form


def _language_of(db, number: int) -> str | None:
    with db.read() as session:
        return session.scalar(select(Post.language).where(Post.post_number == number))


def test_the_composer_offers_the_authors_language_and_records_the_choice(client, db, make_user, make_category,
                                                                       make_topic):
    ana = make_user("ana", tier="member")
    topic = make_topic(ana, make_category("Asambleas"), title="Asamblea de primavera")
    login(client, "ana")
    path = f"/t/{topic.slug}/{topic.id}"
    page = client.get(path, headers={"Accept-Language": "es"}).text
    select_html = re.search(r'<select id="reply-language" name="language">(.*?)</select>', page, re.S).group(1)
    assert re.search(r'<option value="es" lang="es" selected>Español</option>', select_html)
    r = post_form(client, f"/t/{topic.id}/reply", {"raw": "Nos vemos en Lisboa.", "language": "es"}, csrf_from=path)
    assert r.status_code == 303 and _language_of(db, 2) == "es"
    # No choice sent (an old form, a client): the author's language, here the site default.
    post_form(client, f"/t/{topic.id}/reply", {"raw": "A reply without a language."}, csrf_from=path)
    assert _language_of(db, 3) == "en"
    page = client.get(path).text
    assert '<div class="cooked" lang="es"><p>Nos vemos en Lisboa.</p>' in page


def test_an_unknown_language_is_refused_inline_and_nothing_is_written(client, db, make_user, make_category,
                                                                     make_topic):
    ana = make_user("ana", tier="member")
    category = make_category("Asambleas")
    topic = make_topic(ana, category)
    login(client, "ana")
    r = post_form(client, f"/t/{topic.id}/reply", {"raw": "Hallo zusammen.", "language": "de"})
    assert r.status_code == 422 and 'id="language-error"' in r.text and "Hallo zusammen." in r.text
    r = post_form(client, "/new-topic", {"title": "Ein neues Thema", "raw": "Hallo zusammen.", "language": "xx",
                                         "category": category.id}, csrf_from="/new-topic")
    assert r.status_code == 422 and 'id="language-error"' in r.text
    with db.read() as session:
        assert session.scalar(select(func.count()).select_from(Post)) == 1


def test_editing_changes_the_language(client, db, make_user, make_category, make_topic):
    ana = make_user("ana", tier="member")
    topic = make_topic(ana, make_category("Asambleas"), raw="Un texte écrit en français.")
    login(client, "ana")
    with db.read() as session:
        post_id = session.scalar(select(Post.id))
    form = client.get(f"/posts/{post_id}/edit").text
    assert 'name="language"' in form
    r = post_form(client, f"/posts/{post_id}/edit", {"raw": "Un texte écrit en français.", "language": "fr",
                                                    "title": topic.title}, csrf_from=f"/posts/{post_id}/edit")
    assert r.status_code == 303 and _language_of(db, 1) == "fr"
    assert re.search(r'<option value="fr" lang="fr" selected>', client.get(f"/posts/{post_id}/edit").text)


def test_the_api_carries_and_takes_the_locale(client, db, make_user, make_category, make_topic):
    ana = make_user("ana", tier="member")
    topic = make_topic(ana, make_category("Asambleas"))
    login(client, "ana")
    token = csrf_of(client)
    r = client.post("/posts.json", json={"topic_id": topic.id, "raw": "Una respuesta en español.", "locale": "es"},
                    headers={"X-CSRF-Token": token})
    assert r.status_code == 200 and r.json()["locale"] == "es"
    posts = client.get(f"/t/{topic.id}.json").json()["post_stream"]["posts"]
    assert [p["locale"] for p in posts] == ["en", "es"]
    r = client.post("/posts.json", json={"topic_id": topic.id, "raw": "Noch eine Antwort.", "locale": "de"},
                    headers={"X-CSRF-Token": token})
    assert r.status_code == 422 and r.json()["errors"]
    r = client.put(f"/posts/{posts[1]['id']}.json", json={"post": {"raw": "Una respuesta en italiano, ahora.",
                                                                     "locale": "it"}},
                   headers={"X-CSRF-Token": token})
    assert r.status_code == 200 and r.json()["post"]["locale"] == "it"


def test_feeds_carry_each_posts_language(client, make_user, make_category, make_topic, make_reply, db):
    ana = make_user("ana", tier="member")
    topic = make_topic(ana, make_category("Asambleas"))
    make_reply(ana, topic, raw="Ceci est une réponse.")
    with db.write() as session:
        session.execute(Post.__table__.update().where(Post.post_number == 2).values(language="fr"))
    feed = client.get(f"/t/{topic.slug}/{topic.id}.rss").text
    assert "<dc:language>fr</dc:language>" in feed


# --- added: the composer's default and when it is hidden ----------------------------------------

def _selected(page: str, select_id: str = "language") -> str | None:
    found = re.search(rf'<select id="{select_id}" name="language"[^>]*>(.*?)</select>', page, re.S)
    if found is None:
        return None
    chosen = re.search(r'<option value="([^"]+)"[^>]* selected>', found.group(1))
    return chosen.group(1) if chosen else None


def test_every_composer_defaults_to_the_page_language(client, db, make_user, make_category, make_topic):
    ana = make_user("ana", tier="member")
    topic = make_topic(ana, make_category("Asambleas"))
    login(client, "ana")
    with db.read() as session:
        post_id = session.scalar(select(Post.id))
    with db.write() as session:  # a post from before languages were recorded
        session.execute(Post.__table__.update().values(language=None))
    fr = {"Accept-Language": "fr"}
    assert _selected(client.get("/new-topic", headers=fr).text) == "fr"
    assert _selected(client.get(f"/t/{topic.id}/reply", headers=fr).text) == "fr"
    assert _selected(client.get(f"/t/{topic.slug}/{topic.id}", headers=fr).text, "reply-language") == "fr"
    # Editing: the post's own language; for a post without one, the page's.
    assert _selected(client.get(f"/posts/{post_id}/edit", headers=fr).text) == "fr"
    with db.write() as session:
        session.execute(Post.__table__.update().values(language="it"))
    page = client.get(f"/posts/{post_id}/edit", headers=fr).text
    assert _selected(page) == "it"
    assert '<label for="language">' in page and "Langue de ce message" in page


def test_no_language_choice_when_the_site_offers_one_language(client, db, make_user, make_category, make_topic):
    ana = make_user("ana", tier="member")
    topic = make_topic(ana, make_category("Assemblies"))
    with db.write() as session:
        session.add(SiteSetting(key="languages.offered", value="en"))
        session.add(SiteSetting(key="languages.default", value="en"))
    login(client, "ana")
    with db.read() as session:
        post_id = session.scalar(select(Post.id))
    for path in ("/new-topic", f"/t/{topic.id}/reply", f"/t/{topic.slug}/{topic.id}", f"/posts/{post_id}/edit"):
        page = client.get(path).text
        assert 'name="raw"' in page and 'name="language"' not in page, path
    r = post_form(client, f"/t/{topic.id}/reply", {"raw": "A reply in the only language."})
    assert r.status_code == 303 and _language_of(db, 2) == "en"


def test_a_bad_language_and_a_short_body_are_both_shown_inline(client, db, make_user, make_category, make_topic):
    ana = make_user("ana", tier="member")
    topic = make_topic(ana, make_category("Asambleas"))
    login(client, "ana")
    r = post_form(client, f"/t/{topic.id}/reply", {"raw": "x", "language": "klingon"})
    assert r.status_code == 422
    assert 'id="language-error"' in r.text and 'id="raw-error"' in r.text
    assert 'aria-describedby="language-error"' in r.text
    with db.read() as session:
        post_id = session.scalar(select(Post.id))
    r = post_form(client, f"/posts/{post_id}/edit", {"raw": "The first post of it.", "language": "zz"},
                  csrf_from=f"/posts/{post_id}/edit")
    assert r.status_code == 422 and 'id="language-error"' in r.text
    assert _language_of(db, 1) == "en"
    with db.read() as session:
        assert session.scalar(select(func.count()).select_from(Post)) == 1


def test_the_service_defaults_to_the_authors_profile_language(db, settings, make_user, make_category, make_topic):
    ana = make_user("ana", tier="member")
    category = make_category("Asambleas")
    with db.write() as session:
        session.get(User, ana.id).locale = "es"
    with db.write() as session:
        post = posting.create_topic(session, settings, Viewer(session.get(User, ana.id)), title="Asamblea",
                                    raw="Nos vemos en la asamblea.", category_id=category.id)
        assert post.language == "es"
    with db.write() as session:  # a profile language the site no longer offers: the site's default
        session.add(SiteSetting(key="languages.offered", value="en,fr"))
    with db.write() as session:
        reply = posting.create_reply(session, settings, Viewer(session.get(User, ana.id)), topic_id=post.topic_id,
                                     raw="Otra respuesta más.")
        assert reply.language == "en"
    with db.write() as session, pytest.raises(ValidationFailed) as refused:
        posting.create_reply(session, settings, Viewer(session.get(User, ana.id)), topic_id=post.topic_id,
                             raw="Una respuesta en español.", language="es")
    assert set(refused.value.fields) == {"language"}


# --- added: reading -----------------------------------------------------------------------------

def test_post_bodies_carry_their_language_wherever_they_are_shown(client, db, settings, make_user,
                                                                   make_category, make_topic, staff):
    ana = make_user("ana", tier="member")
    topic = make_topic(ana, make_category("Asambleas"), title="Assemblée", raw="Chaque sociétaire peut voter.")
    with db.write() as session:
        post = session.scalar(select(Post))
        posting.edit_post(session, settings, Viewer(session.get(User, ana.id)), post_id=post.id,
                          raw="Chaque sociétaire peut voter demain.", language="fr")
        post_id = post.id
    assert '<div class="cooked" lang="fr">' in client.get(f"/t/{topic.slug}/{topic.id}").text
    assert 'class="blurb" lang="fr"' in client.get("/search?q=voter").text
    assert 'class="cooked excerpt" lang="fr"' in client.get("/u/ana/activity").text
    revisions = client.get(f"/posts/{post_id}/revisions").text
    assert revisions.count('<pre class="raw" lang="fr">') == 2 and 'class="diff" lang="fr"' in revisions
    login(client, staff.username)
    assert 'class="cooked quoted-post" lang="fr"' in client.get(f"/admin/posts/{post_id}").text


def test_a_post_without_a_recorded_language_has_no_lang_of_its_own(client, db, make_user, make_category,
                                                                    make_topic):
    topic = make_topic(make_user("ana", tier="member"), make_category("Archive"))
    with db.write() as session:
        session.execute(Post.__table__.update().values(language=None))
    page = client.get(f"/t/{topic.slug}/{topic.id}").text
    assert '<div class="cooked"><p>The first post of it.</p>' in page
    assert client.get(f"/t/{topic.id}.json").json()["post_stream"]["posts"][0]["locale"] is None
    assert "<dc:language>" not in client.get(f"/t/{topic.slug}/{topic.id}.rss").text


def test_a_language_change_alone_shows_on_the_shared_topic_page(client, db, make_user, make_category, make_topic):
    ana = make_user("ana", tier="member")
    topic = make_topic(ana, make_category("Asambleas"), raw="Ci vediamo a Roma.")
    path = f"/t/{topic.slug}/{topic.id}"
    login(client, "ana")
    assert '<div class="cooked" lang="en">' in client.get(path).text  # now kept as a shared fragment
    with db.read() as session:
        post_id = session.scalar(select(Post.id))
    r = post_form(client, f"/posts/{post_id}/edit", {"raw": "Ci vediamo a Roma.", "language": "it",
                                                    "title": topic.title}, csrf_from=f"/posts/{post_id}/edit")
    assert r.status_code == 303
    assert '<div class="cooked" lang="it">' in client.get(path).text
    client.cookies.clear()  # and for visitors
    assert '<div class="cooked" lang="it">' in client.get(path).text


# --- added: the API -----------------------------------------------------------------------------

def test_every_post_shape_of_the_api_carries_the_locale(client, db, settings, make_user, make_category):
    ana = make_user("ana", tier="member")
    post = _write(db, settings, ana, make_category("Asambleas"), "Encuentro", "Queremos trabajar juntos.", "es")
    post_id, topic_id = post.id, post.topic_id
    assert client.get(f"/posts/{post_id}.json").json()["locale"] == "es"
    assert client.get(f"/t/{topic_id}/posts.json").json()["post_stream"]["posts"][0]["locale"] == "es"
    assert [p["locale"] for p in client.get("/posts.json").json()["latest_posts"]] == ["es"]
    assert client.get("/search.json?q=trabajamos").json()["posts"][0]["locale"] == "es"
    actions = client.get("/user_actions.json?username=ana&filter=4").json()["user_actions"]
    assert [a["locale"] for a in actions] == ["es"]


def test_the_api_refuses_a_locale_the_site_does_not_offer(client, db, make_user, make_category, make_topic):
    ana = make_user("ana", tier="member")
    category = make_category("Asambleas")
    make_topic(ana, category)
    login(client, "ana")
    token = csrf_of(client)
    r = client.post("/posts.json", json={"title": "Ein Thema auf Deutsch", "raw": "Hallo zusammen, alle.",
                                         "category": category.id, "locale": "de"},
                    headers={"X-CSRF-Token": token, "Accept-Language": "es"})
    assert r.status_code == 422 and r.json()["errors"] == ["Elige uno de los idiomas ofrecidos: en, es, fr, it."]
    with db.read() as session:
        post_id = session.scalar(select(Post.id))
    r = client.put(f"/posts/{post_id}.json", json={"post": {"raw": "The first post of it.", "locale": "de"}},
                   headers={"X-CSRF-Token": token})
    assert r.status_code == 422 and r.json()["errors"]
    r = client.put(f"/posts/{post_id}.json", data={"post[raw]": "The first post of it, in French now.",
                                                   "post[locale]": "fr"}, headers={"X-CSRF-Token": token})
    assert r.status_code == 200 and r.json()["post"]["locale"] == "fr"
    # Left out, the locale stays as it was.
    r = client.put(f"/posts/{post_id}.json", json={"post": {"raw": "The first post of it, edited again."}},
                   headers={"X-CSRF-Token": token})
    assert r.status_code == 200 and r.json()["post"]["locale"] == "fr"
    with db.read() as session:
        assert session.scalar(select(func.count()).select_from(Topic)) == 1


# --- added: search in each post's language -------------------------------------------------------

def _found(db, q: str) -> list[str]:
    with db.read() as session:
        return [t.title for _p, t in search.search(session, Viewer(), q).posts]


def _write(db, settings, user, category, title: str, raw: str, language: str | None) -> Post:
    with db.write() as session:
        return posting.create_topic(session, settings, Viewer(session.get(User, user.id)), title=title,
                                    raw=raw, category_id=category.id, language=language)


def test_search_finds_word_forms_that_only_the_posts_own_language_knows(db, settings, make_user, make_category):
    # Chosen so that English stems would miss them: "trabajamos" and "trabajar" share a stem only in
    # Spanish, "votaient" and "voter" only in French, "lavoriamo" and "lavorare" only in Italian.
    ana = make_user("ana", tier="member")
    category = make_category("Asambleas")
    _write(db, settings, ana, category, "Encuentro anual", "Queremos trabajar juntos en la cooperativa.", "es")
    _write(db, settings, ana, category, "Assemblée annuelle", "Chaque sociétaire peut voter demain.", "fr")
    _write(db, settings, ana, category, "Assemblea annuale", "Vogliamo lavorare insieme ogni giorno.", "it")
    _write(db, settings, ana, category, "Annual meeting", "The federations are meeting in Geneva.", "en")
    assert _found(db, "trabajamos") == ["Encuentro anual"]
    assert _found(db, "cooperativas") == ["Encuentro anual"]
    assert _found(db, "votaient") == ["Assemblée annuelle"]
    assert _found(db, "sociétaires") == ["Assemblée annuelle"]
    assert _found(db, "lavoriamo") == ["Assemblea annuale"]
    assert _found(db, "federation meetings") == ["Annual meeting"]
    assert _found(db, "trabajamos cooperativas") == ["Encuentro anual"]  # every word, each in any language
    assert _found(db, "trabajamos votaient") == []
    with db.read() as session:
        hit = search.search(session, Viewer(), "trabajamos").hits[0]
    assert "<mark>trabajar</mark>" in hit.blurb_html


def test_search_indexes_a_post_again_when_only_its_language_changes(db, settings, make_user, make_category):
    ana = make_user("ana", tier="member")
    category = make_category("Asambleas")
    post = _write(db, settings, ana, category, "Encuentro", "Queremos trabajar juntos.", "en")
    assert _found(db, "trabajamos") == []  # an English "trabajar" is not a form of "trabajamos"
    with db.write() as session:
        posting.edit_post(session, settings, Viewer(session.get(User, ana.id)), post_id=post.id,
                          raw="Queremos trabajar juntos.", language="es")
    assert _found(db, "trabajamos") == ["Encuentro"]
    with db.write() as session:  # re-indexing a whole topic (a move, a retitle) keeps each post's language
        search.reindex_topic(session, post.topic_id)
    assert _found(db, "trabajamos") == ["Encuentro"]


def test_posts_from_before_languages_are_found_in_the_default_language(db, settings, make_user, make_category):
    ana = make_user("ana", tier="member")
    category = make_category("Archive")
    post = _write(db, settings, ana, category, "Old minutes", "The federation built new houses.", "en")
    with db.write() as session:
        session.execute(Post.__table__.update().values(language=None))
        search.reindex_topic(session, post.topic_id)
    assert _found(db, "housing") == ["Old minutes"]
    with db.write() as session:  # still when admins no longer offer that language
        session.add(SiteSetting(key="languages.offered", value="es,fr"))
        session.add(SiteSetting(key="languages.default", value="es"))
    assert _found(db, "housing") == ["Old minutes"]  # "houses" is a form of "housing" only in English
