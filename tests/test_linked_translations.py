"""Linked translations: a member translates a post; readers of that language see it in the post's
place, with the original a click away; it has its translator, history and likes, counts as no
reply, and is exactly as visible as its post."""

from __future__ import annotations

import html
import re

from sqlalchemy import func, select, update

from forum import moderation, translations
from forum.models import Notification, Post, PostTranslation, Topic, User
from forum.permissions import Viewer
from tests.conftest import csrf_of, login, post_form

ORIGINAL = "The general assembly meets on Friday in Brussels."
SPANISH = "La asamblea general se reúne el viernes en Bruselas."
FRENCH = "L'assemblée générale se réunit vendredi à Bruxelles."


def _post_id(db, number: int = 1) -> int:
    with db.read() as session:
        return session.scalar(select(Post.id).where(Post.post_number == number))


def _locale(db, user, code: str | None) -> None:
    with db.write() as session:
        session.get(User, user.id).locale = code


def _translate(client, post_id: int, language: str, raw: str):
    return post_form(client, f"/posts/{post_id}/translate", {"language": language, "raw": raw},
                     csrf_from=f"/posts/{post_id}/translate")


def _setup(db, make_user, make_category, make_topic, preset: str = "public"):
    ana, bea = make_user("ana", tier="member"), make_user("bea", tier="member")
    topic = make_topic(ana, make_category("Assemblies", preset), title="General assembly", raw=ORIGINAL)
    return ana, bea, topic, _post_id(db)


def test_readers_of_the_language_see_the_translation_in_place_with_the_original_a_click_away(
        client, db, make_user, make_category, make_topic):
    ana, bea, topic, post_id = _setup(db, make_user, make_category, make_topic)
    login(client, "bea")
    form = client.get(f"/posts/{post_id}/translate", headers={"Accept-Language": "es"})
    assert form.status_code == 200
    assert ORIGINAL in form.text  # the original, for reference
    choices = re.search(r'<select id="language" name="language"[^>]*>(.*?)</select>', form.text, re.S).group(1)
    assert '<option value="es" lang="es" selected>' in choices  # the reader's own language first
    assert '<option value="en"' not in choices and '<option value="fr"' in choices  # not the post's own
    assert _translate(client, post_id, "es", SPANISH).status_code == 303
    path = f"/t/{topic.slug}/{topic.id}"

    spanish = client.get(path, headers={"Accept-Language": "es"}).text
    shown = spanish[spanish.index('id="post_1"'):]
    assert shown.index(SPANISH) < shown.index(ORIGINAL)  # in place; the original after it, folded
    assert '<div class="cooked translation" lang="es">' in shown
    assert "Traducido del inglés por bea." in shown
    assert "<summary>Mostrar el original (inglés)</summary>" in shown

    client.cookies.clear()  # an English-reading visitor: the original, the translation folded under it
    english = html.unescape(client.get(path).text)
    post = english[english.index('id="post_1"'):]
    assert post.index(ORIGINAL) < post.index(SPANISH)
    assert '<details class="translation-switch" lang="es">' in post and "<summary>Español</summary>" in post
    french = client.get(path, headers={"Accept-Language": "fr"}).text
    assert '<details class="translation-switch" lang="es">' in french and "Traduit par bea." in french


def test_a_translation_is_no_reply_and_moves_no_counter(client, db, make_user, make_category, make_topic):
    ana, bea, topic, post_id = _setup(db, make_user, make_category, make_topic)

    def counters():
        with db.read() as session:
            t = session.get(Topic, topic.id)
            return (t.posts_count, t.highest_post_number, t.participant_count, t.bumped_at,
                    session.get(User, bea.id).post_count, session.scalar(select(func.count()).select_from(Post)))

    before = counters()
    login(client, "bea")
    assert _translate(client, post_id, "es", SPANISH).status_code == 303
    assert counters() == before
    row = next(t for t in client.get("/latest.json").json()["topic_list"]["topics"] if t["id"] == topic.id)
    assert row["posts_count"] == 1 and row["reply_count"] == 0
    assert f'/t/{topic.slug}/{topic.id}/2' not in client.get(f"/t/{topic.slug}/{topic.id}").text


def test_only_readers_of_the_language_are_notified(client, db, settings, make_user, make_category, make_topic):
    ana, bea, topic, post_id = _setup(db, make_user, make_category, make_topic)
    carla, didier = make_user("carla", tier="member"), make_user("didier", tier="member")
    _locale(db, carla, "es")
    _locale(db, didier, "fr")
    for user in (carla, didier):
        login(client, user.username)
        assert post_form(client, f"/t/{topic.id}/notification-level", {"notification_level": "watching"},
                         csrf_from=f"/t/{topic.slug}/{topic.id}").status_code == 303
        client.cookies.clear()
    with db.write() as session:
        translations.create(session, settings, Viewer(session.get(User, bea.id)), post_id=post_id, language="es",
                            raw=SPANISH)

    def translated(user) -> int:
        with db.read() as session:
            return session.scalar(select(func.count()).select_from(Notification).where(
                Notification.user_id == user.id, Notification.kind == "translated"))

    assert translated(carla) == 1  # watching, reads Spanish
    assert translated(didier) == 0  # watching, reads French
    assert translated(ana) == 0  # the author reads English (the site's default)
    _locale(db, ana, "fr")
    with db.write() as session:
        translations.create(session, settings, Viewer(session.get(User, bea.id)), post_id=post_id, language="fr",
                            raw=FRENCH)
    assert translated(ana) == 1 and translated(didier) == 1 and translated(carla) == 1
    login(client, "carla")
    menu = html.unescape(client.get("/u/carla/notifications").text)
    assert "bea tradujo una publicación de General assembly a tu idioma" in menu


def test_edit_history_and_who_may_edit(client, db, make_user, make_category, make_topic, staff):
    ana, bea, topic, post_id = _setup(db, make_user, make_category, make_topic)
    login(client, "bea")
    _translate(client, post_id, "es", SPANISH)
    with db.read() as session:
        tid = session.scalar(select(PostTranslation.id))
    r = post_form(client, f"/translations/{tid}/edit", {"raw": SPANISH.replace("viernes", "sábado")},
                  csrf_from=f"/translations/{tid}/edit")
    assert r.status_code == 303
    history = html.unescape(client.get(f"/translations/{tid}/revisions").text)
    assert "<del>viernes</del>" in history and "<ins>sábado</ins>" in history
    assert "Version 2 (current)" in history and "Translated by bea" in history
    page = client.get(f"/t/{topic.slug}/{topic.id}", headers={"Accept-Language": "es"}).text
    assert "sábado" in page and f'href="/translations/{tid}/revisions"' in page

    client.cookies.clear()
    login(client, "ana")  # someone else: may read the history, not edit
    assert client.get(f"/translations/{tid}/edit").status_code == 403
    r = post_form(client, f"/translations/{tid}/edit", {"raw": "Vandalised translation text."})
    assert r.status_code == 403
    client.cookies.clear()
    login(client, staff.username)  # staff may
    r = post_form(client, f"/translations/{tid}/edit", {"raw": SPANISH}, csrf_from=f"/translations/{tid}/edit")
    assert r.status_code == 303
    with db.read() as session:
        t = session.get(PostTranslation, tid)
        assert (t.version, t.raw) == (3, SPANISH)


def test_likes_are_the_translators_own(client, db, make_user, make_category, make_topic):
    ana, bea, topic, post_id = _setup(db, make_user, make_category, make_topic)
    _locale(db, ana, "es")
    login(client, "bea")
    _translate(client, post_id, "es", SPANISH)
    with db.read() as session:
        tid = session.scalar(select(PostTranslation.id))
    assert post_form(client, f"/translations/{tid}/like", {}).status_code == 403  # one's own
    client.cookies.clear()
    login(client, "ana")
    page = client.get(f"/t/{topic.slug}/{topic.id}").text
    assert f'action="/translations/{tid}/like"' in page and 'aria-pressed="false"' in page
    assert post_form(client, f"/translations/{tid}/like", {}).status_code == 303
    assert post_form(client, f"/translations/{tid}/like", {}).status_code == 409
    page = client.get(f"/t/{topic.slug}/{topic.id}").text
    assert f'action="/translations/{tid}/unlike"' in page and f'<span class="like-count" id="tlikes-{tid}">1</span>' in page
    with db.read() as session:
        assert session.get(Post, post_id).like_count == 0  # the post's likes are its author's
    assert post_form(client, f"/translations/{tid}/unlike", {}).status_code == 303
    with db.read() as session:
        assert session.get(PostTranslation, tid).like_count == 0


def test_bad_input_is_refused_with_a_reason_and_writes_nothing(client, db, make_user, make_category, make_topic):
    ana, bea, topic, post_id = _setup(db, make_user, make_category, make_topic)
    login(client, "bea")
    r = _translate(client, post_id, "en", "The same language as the post itself.")
    assert r.status_code == 422 and 'id="language-error"' in r.text
    assert _translate(client, post_id, "de", "Die Generalversammlung tagt am Freitag.").status_code == 422
    r = _translate(client, post_id, "es", "x")
    assert r.status_code == 422 and 'id="raw-error"' in r.text
    r = _translate(client, post_id, "es", "[poll]\n* sí\n* no\n[/poll]\n")
    assert r.status_code == 422 and "poll" in html.unescape(r.text).lower()
    with db.read() as session:
        assert session.scalar(select(func.count()).select_from(PostTranslation)) == 0
    assert _translate(client, post_id, "es", SPANISH).status_code == 303
    # A second Spanish translation: refused, the first one is named, nothing replaced.
    r = post_form(client, f"/posts/{post_id}/translate", {"language": "es", "raw": "Otra traducción distinta."})
    assert r.status_code == 409 and "Español" in r.text
    with db.read() as session:
        assert [t.raw for t in session.scalars(select(PostTranslation))] == [SPANISH]
    assert client.get("/posts/999999/translate").status_code == 404
    assert client.get("/translations/999999/revisions").status_code == 404
    client.cookies.clear()
    r = client.get(f"/posts/{post_id}/translate", follow_redirects=False)
    assert r.status_code in (303, 401, 403) and SPANISH not in r.text


def test_a_closed_topic_takes_no_new_translation(client, db, make_user, make_category, make_topic, staff):
    ana, bea, topic, post_id = _setup(db, make_user, make_category, make_topic)
    with db.write() as session:
        session.execute(update(Topic).where(Topic.id == topic.id).values(closed=True))
    login(client, "bea")
    assert client.get(f"/posts/{post_id}/translate").status_code == 403
    assert f'/posts/{post_id}/translate' not in client.get(f"/t/{topic.slug}/{topic.id}").text
    r = _translate(client, post_id, "es", SPANISH)
    assert r.status_code == 403


def test_a_translation_is_exactly_as_visible_as_its_post(client, db, settings, make_user, make_category,
                                                          make_topic, staff):
    ana, bea, topic, post_id = _setup(db, make_user, make_category, make_topic, preset="members_only")
    make_user("pat", tier="participant")
    with db.write() as session:
        tid = translations.create(session, settings, Viewer(session.get(User, bea.id)), post_id=post_id,
                                  language="es", raw=SPANISH).id
    surfaces = [f"/posts/{post_id}/translate", f"/translations/{tid}/edit", f"/translations/{tid}/revisions",
                f"/t/{topic.slug}/{topic.id}", f"/t/{topic.id}.json", f"/posts/{post_id}.json"]
    for who in (None, "pat"):
        client.cookies.clear()
        if who:
            login(client, who)
        for path in surfaces:
            r = client.get(path, headers={"Accept-Language": "es"}, follow_redirects=False)
            # A visitor is asked to log in where writing is concerned, whichever post it is.
            assert r.status_code in (403, 404) if who is None else r.status_code == 404, (who, path, r.status_code)
            assert "Bruselas" not in r.text, (who, path)
        r = post_form(client, f"/translations/{tid}/like", {}) if who else None
        assert r is None or r.status_code == 404

    # A member reads it through the API; once a moderator hides the post, only its author and staff do.
    client.cookies.clear()
    login(client, "bea")
    api_post = client.get(f"/posts/{post_id}.json").json()
    assert [(t["locale"], t["username"]) for t in api_post["translations"]] == [("es", "bea")]
    assert client.get(f"/t/{topic.id}.json").json()["post_stream"]["posts"][0]["translations"][0]["raw"] == SPANISH
    with db.write() as session:
        moderation.hide_post(session, Viewer(session.get(User, staff.id)), post_id)
    page = client.get(f"/t/{topic.slug}/{topic.id}", headers={"Accept-Language": "es"}).text
    assert "Bruselas" not in page
    assert client.get(f"/translations/{tid}/revisions").status_code == 404
    assert "Bruselas" not in client.get(f"/t/{topic.id}.json").text
    assert client.get(f"/posts/{post_id}.json").status_code == 404
    client.cookies.clear()
    login(client, staff.username)
    assert client.get(f"/translations/{tid}/revisions").status_code == 200


def test_the_api_creates_and_edits_translations(client, db, make_user, make_category, make_topic):
    ana, bea, topic, post_id = _setup(db, make_user, make_category, make_topic)
    login(client, "bea")
    token = csrf_of(client)
    r = client.post(f"/posts/{post_id}/translations.json", json={"locale": "fr", "raw": FRENCH},
                    headers={"X-CSRF-Token": token})
    assert r.status_code == 200, r.text
    (t,) = r.json()["post"]["translations"]
    assert (t["locale"], t["username"], t["version"]) == ("fr", "bea", 1) and "Bruxelles" in t["cooked"]
    r = client.put(f"/translations/{t['id']}.json", json={"raw": FRENCH.replace("vendredi", "samedi")},
                   headers={"X-CSRF-Token": token})
    assert r.status_code == 200 and r.json()["post"]["translations"][0]["version"] == 2
    r = client.post(f"/posts/{post_id}/translations.json", json={"locale": "xx", "raw": FRENCH},
                    headers={"X-CSRF-Token": token})
    assert r.status_code == 422 and r.json()["errors"]
    r = client.post(f"/posts/{post_id}/translations.json", json={"locale": "fr", "raw": "Encore une autre."},
                    headers={"X-CSRF-Token": token})
    assert r.status_code == 409 and r.json()["errors"]
    r = client.delete(f"/translations/{t['id']}.json", headers={"X-CSRF-Token": token})
    assert r.status_code == 200
    assert client.get(f"/posts/{post_id}.json").json()["translations"] == []
