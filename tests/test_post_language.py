"""Each post records its language: chosen in the composer (the author's by default), shown as `lang`,
carried by the API and feeds, and used by search to find word forms in that language."""

from __future__ import annotations

import re

from sqlalchemy import func, select

from forum.models import Post
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


def test_search_finds_word_forms_in_each_posts_language(client, make_user, make_category, db):
    from forum import posting
    from forum.config import get_settings
    from forum.models import User
    from forum.permissions import Viewer

    ana = make_user("ana", tier="member")
    category = make_category("Asambleas")
    with db.write() as session:
        viewer = Viewer(session.get(User, ana.id))
        posting.create_topic(session, get_settings(), viewer, title="Encuentro anual", category_id=category.id,
                             raw="La cooperativa de limpieza abre una sede nueva.", language="es")
        posting.create_topic(session, get_settings(), viewer, title="Assemblée annuelle", category_id=category.id,
                             raw="Chaque sociétaire reçoit la convocation.", language="fr")
    assert "Encuentro anual" in client.get("/search?q=cooperativas").text
    assert "Assemblée annuelle" in client.get("/search?q=sociétaires").text
    found = client.get("/search.json?q=cooperativas").json()
    assert [t["title"] for t in found["topics"]] == ["Encuentro anual"]
    assert "<mark>cooperativa</mark>" in client.get("/search?q=cooperativas").text
