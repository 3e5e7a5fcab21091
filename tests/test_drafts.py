"""Drafts kept on the server (Discourse's /drafts.json): what someone types comes back on any device,
two devices cannot overwrite each other's newer text unawares, Discard asks first, posting ends the
draft, and a draft is its author's alone. Also the composer's Preview button, which works without
scripts, and the preview's rate limit."""

from __future__ import annotations

import html
import json
import re

from sqlalchemy import select, update

from forum.models import Post, Topic, User
from tests.conftest import csrf_of, login, post_form

REPLY = "Our co-operative can host the working group in Bologna next spring."


def _page_token(client, path: str) -> str:
    return csrf_of(client, path)


def _save(client, key: str, sequence, text: str, *, token: str, force: bool = False, **extra):
    data = {"reply": text, "action": "reply" if key.startswith("topic_") else "createTopic", **extra}
    body = {"draft_key": key, "sequence": str(sequence), "data": json.dumps(data)}
    if force:
        body["force_save"] = "true"
    return client.post("/drafts.json", data=body, headers={"X-CSRF-Token": token})


def _sequence_on(page: str) -> int:
    return int(re.search(r'name="draft_sequence" value="(\d+)"', page).group(1))


def _textarea(page: str, id_: str = "reply-raw") -> str:
    return html.unescape(re.search(rf'<textarea id="{id_}"[^>]*>(.*?)</textarea>', page, re.S).group(1))


def _setup(make_user, make_category, make_topic, preset: str = "public"):
    ana, bea = make_user("ana", tier="member"), make_user("bea", tier="member")
    topic = make_topic(ana, make_category("Working groups", preset), title="Working group on housing co-ops")
    return ana, bea, topic


def test_a_reply_draft_comes_back_on_another_device_and_ends_when_posted(
        client, make_client, db, make_user, make_category, make_topic):
    _ana, _bea, topic = _setup(make_user, make_category, make_topic)
    path = f"/t/{topic.slug}/{topic.id}"
    login(client, "bea")
    page = client.get(path).text
    assert _textarea(page) == "" and 'class="discard-draft" hidden' in page
    r = _save(client, f"topic_{topic.id}", _sequence_on(page), REPLY, token=_page_token(client, path))
    assert r.status_code == 200 and r.json() == {"success": "OK", "draft_sequence": _sequence_on(page) + 1}

    phone = make_client()  # the same person on another device
    login(phone, "bea")
    again = phone.get(path).text
    assert _textarea(again) == REPLY
    assert "Your draft, saved" in again and "is back in the box" in again
    assert 'class="discard-draft" hidden' not in again
    reply_page = phone.get(f"/t/{topic.id}/reply?quote=1").text  # quoting keeps the draft and adds the quote
    assert _textarea(reply_page).startswith(REPLY + "\n\n[quote=\"ana, post:1")
    assert phone.get(f"/drafts/topic_{topic.id}.json").json()["draft"] == json.dumps({"reply": REPLY, "action": "reply"})

    other = make_client()  # someone else sees an empty composer
    login(other, "ana")
    assert _textarea(other.get(path).text) == ""
    assert other.get(f"/drafts/topic_{topic.id}.json").json()["draft"] is None

    posted = post_form(phone, f"/t/{topic.id}/reply", {"raw": REPLY, "draft_sequence": str(_sequence_on(again))},
                       csrf_from=path)
    assert posted.status_code == 303
    shown = phone.get(f"/drafts/topic_{topic.id}.json").json()
    assert shown["draft"] is None and shown["draft_sequence"] == _sequence_on(again) + 1
    assert _textarea(client.get(path).text) == ""
    assert client.get("/drafts.json").json()["drafts"] == []


def test_two_devices_racing_get_a_clear_conflict_and_nothing_is_lost(
        client, make_client, make_user, make_category, make_topic):
    _ana, _bea, topic = _setup(make_user, make_category, make_topic)
    path, key = f"/t/{topic.slug}/{topic.id}", f"topic_{topic.id}"
    login(client, "bea")
    laptop_token = _page_token(client, path)
    assert _save(client, key, 0, "First words.", token=laptop_token).json()["draft_sequence"] == 1
    phone = make_client()
    login(phone, "bea")
    phone_page = phone.get(path).text
    assert _sequence_on(phone_page) == 1 and _textarea(phone_page) == "First words."
    phone_token = _page_token(phone, path)

    # The laptop keeps typing (sequence 1 → 2), then the phone, still at 1, saves its own text.
    assert _save(client, key, 1, "First words, and the laptop's newer ones.", token=laptop_token).status_code == 200
    refused = _save(phone, key, 1, "First words, and the phone's.", token=phone_token)
    assert refused.status_code == 409
    assert "changed on another device" in refused.json()["errors"][0]
    kept = json.loads(client.get(f"/drafts/{key}.json").json()["draft"])
    assert kept["reply"] == "First words, and the laptop's newer ones."

    # The phone's writer chooses to keep theirs: saved over it, on purpose.
    forced = _save(phone, key, 1, "First words, and the phone's.", token=phone_token, force=True)
    assert forced.status_code == 200 and forced.json()["draft_sequence"] == 3
    assert json.loads(client.get(f"/drafts/{key}.json").json()["draft"])["reply"] == "First words, and the phone's."

    # A stale Discard does not throw away newer text either (Discourse answers it with success).
    assert client.request("DELETE", f"/drafts/{key}.json", params={"sequence": "1"},
                          headers={"X-CSRF-Token": laptop_token}).json() == {"success": "OK"}
    assert client.get(f"/drafts/{key}.json").json()["draft"] is not None
    assert client.request("DELETE", f"/drafts/{key}.json", params={"sequence": "3"},
                          headers={"X-CSRF-Token": laptop_token}).status_code == 200
    assert client.get(f"/drafts/{key}.json").json() == {"draft": None, "draft_sequence": 4}


def test_discard_asks_first_without_scripts(client, make_user, make_category, make_topic):
    _ana, _bea, topic = _setup(make_user, make_category, make_topic)
    path, key = f"/t/{topic.slug}/{topic.id}", f"topic_{topic.id}"
    login(client, "bea")
    _save(client, key, 0, REPLY, token=_page_token(client, path))
    asked = post_form(client, "/drafts/discard", {"draft_key": key, "draft_sequence": "1", "raw": REPLY},
                      csrf_from=path)
    assert asked.status_code == 200
    assert "Discard this draft?" in asked.text and "Bologna next spring" in asked.text
    assert 'name="confirmed" value="1"' in asked.text
    assert client.get(f"/drafts/{key}.json").json()["draft"] is not None  # asking discards nothing

    stale = post_form(client, "/drafts/discard", {"draft_key": key, "draft_sequence": "0", "confirmed": "1"},
                      csrf_from=path)
    assert stale.status_code == 409 and "so it was kept" in stale.text
    done = post_form(client, "/drafts/discard", {"draft_key": key, "draft_sequence": "1", "confirmed": "1"},
                     csrf_from=path)
    assert done.status_code == 303 and done.headers["location"] == path
    assert client.get(f"/drafts/{key}.json").json()["draft"] is None
    assert _textarea(client.get(path).text) == ""


def test_a_new_topic_draft_keeps_title_and_category_and_ends_when_the_topic_is_created(
        client, db, make_user, make_category):
    make_user("bea", tier="member")
    category = make_category("Newsletters")
    login(client, "bea")
    token = _page_token(client, "/new-topic")
    r = _save(client, "new_topic", 0, "The March newsletter, with the reports from Geneva.", token=token,
              title="March newsletter", categoryId=category.id)
    assert r.status_code == 200
    page = client.get("/new-topic").text
    assert 'value="March newsletter"' in page
    assert f'<option value="{category.id}" selected>' in page
    assert _textarea(page, "raw") == "The March newsletter, with the reports from Geneva."
    listed = client.get("/drafts.json").json()["drafts"]
    assert [(d["draft_key"], d["title"], d["category_id"], d["topic_id"], d["username"]) for d in listed] == \
        [("new_topic", "March newsletter", category.id, None, "bea")]
    assert listed[0]["excerpt"] == "The March newsletter, with the reports from Geneva."
    drafts_page = client.get("/u/bea/activity/drafts").text
    assert "March newsletter" in drafts_page and 'href="/new-topic"' in drafts_page

    created = post_form(client, "/new-topic", {"title": "March newsletter", "category": str(category.id),
                                               "raw": "The March newsletter, with the reports from Geneva."},
                        csrf_from="/new-topic")
    assert created.status_code == 303
    assert client.get("/drafts.json").json()["drafts"] == []
    assert 'value="March newsletter"' not in client.get("/new-topic").text


def test_a_draft_is_its_authors_alone_and_follows_what_they_may_see(
        client, make_client, db, make_user, make_category, make_topic):
    ana, bea, topic = _setup(make_user, make_category, make_topic, preset="members_only")
    path, key = f"/t/{topic.slug}/{topic.id}", f"topic_{topic.id}"
    make_user("pat", tier="participant")
    login(client, "bea")
    assert _save(client, key, 0, "Board minutes: the merger vote.", token=_page_token(client, path)).status_code == 200

    intruder = make_client()
    login(intruder, "pat")
    token = _page_token(intruder, "/latest")
    assert _save(intruder, key, 0, "probe", token=token).status_code == 404  # a topic they may not see
    assert intruder.get(f"/drafts/{key}.json").status_code == 404
    assert intruder.get("/drafts.json", params={"username": "bea"}).status_code == 403
    assert intruder.get("/u/bea/activity/drafts").status_code == 404
    assert "merger" not in intruder.get("/drafts.json").text
    anonymous = make_client()
    assert anonymous.get("/drafts.json").status_code in (401, 403)

    with db.write() as session:  # bea's tier drops: the draft of a topic she no longer sees is out of reach
        session.execute(update(User).where(User.id == bea.id).values(tier="participant"))
    assert client.get(f"/drafts/{key}.json").status_code == 404
    assert client.get("/drafts.json").json()["drafts"] == []
    assert "merger" not in client.get("/u/bea/activity/drafts").text
    assert _save(client, key, 1, "more", token=_page_token(client, "/latest")).status_code == 404
    with db.write() as session:  # and back: the text was never lost
        session.execute(update(User).where(User.id == bea.id).values(tier="member"))
    assert "merger vote" in client.get(f"/drafts/{key}.json").json()["draft"]


def test_bad_drafts_get_a_clear_error_and_change_nothing(client, settings, make_user, make_category, make_topic):
    _ana, _bea, topic = _setup(make_user, make_category, make_topic)
    path, key = f"/t/{topic.slug}/{topic.id}", f"topic_{topic.id}"
    login(client, "bea")
    token = _page_token(client, path)
    assert _save(client, key, 0, REPLY, token=token).status_code == 200
    too_long = _save(client, key, 1, "x" * (settings.max_post_length + 5000), token=token)
    assert too_long.status_code == 422 and "too long" in too_long.json()["errors"][0]
    for bad in ({"draft_key": key, "sequence": "1", "data": "not json"},
                {"draft_key": key, "sequence": "1", "data": "[1, 2]"},
                {"draft_key": "topic_abc", "sequence": "1", "data": "{}"},
                {"draft_key": key, "sequence": "-1", "data": '{"reply": "x"}'}):
        r = client.post("/drafts.json", data=bad, headers={"X-CSRF-Token": token})
        assert r.status_code == 422 and r.json()["errors"], bad
    assert client.post("/drafts.json", data={"draft_key": "topic_999999", "sequence": "0", "data": "{}"},
                       headers={"X-CSRF-Token": token}).status_code == 404
    assert client.post("/drafts.json", data={"draft_key": key, "sequence": "1", "data": "{}"}).status_code == 403
    assert json.loads(client.get(f"/drafts/{key}.json").json()["draft"])["reply"] == REPLY


def test_the_preview_button_works_without_scripts_and_keeps_the_draft(
        client, db, make_user, make_category, make_topic):
    _ana, _bea, topic = _setup(make_user, make_category, make_topic)
    path = f"/t/{topic.slug}/{topic.id}"
    login(client, "bea")
    page = client.get(path).text
    assert '<button type="submit" name="preview" value="1" formnovalidate' in page
    raw = "Our **co-operative** agrees, @ana."
    r = post_form(client, f"/t/{topic.id}/reply", {"raw": raw, "preview": "1",
                                                   "draft_sequence": str(_sequence_on(page))}, csrf_from=path)
    assert r.status_code == 200
    preview = r.text[r.text.index('<div class="preview"'):]
    assert "<strong>co-operative</strong>" in preview and 'class="mention"' in preview
    assert _textarea(r.text) == raw  # the text stays in the box
    assert _sequence_on(r.text) == _sequence_on(page) + 1  # and was kept as a draft
    with db.read() as session:
        assert session.scalar(select(Topic.posts_count).where(Topic.id == topic.id)) == 1  # nothing posted

    new = post_form(client, "/new-topic", {"title": "Draft title", "raw": "A *new* topic body.", "preview": "1"},
                    csrf_from="/new-topic")
    assert new.status_code == 200 and "<em>new</em>" in new.text and 'value="Draft title"' in new.text

    with db.read() as session:
        post_id = session.scalar(select(Post.id).where(Post.topic_id == topic.id, Post.post_number == 1))
    login(client, "ana")
    edit = post_form(client, f"/posts/{post_id}/edit", {"raw": "Edited *text* to check.", "preview": "1"},
                     csrf_from=f"/posts/{post_id}/edit")
    assert edit.status_code == 200 and "<em>text</em>" in edit.text
    with db.read() as session:
        assert session.get(Post, post_id).raw == "The first post of it."  # a preview changes nothing


def test_a_preview_shows_only_what_was_typed_never_the_hidden_post_a_quote_names(
        client, make_user, make_category, make_topic):
    ana = make_user("ana", tier="member")
    make_user("pat", tier="participant")
    secret = make_topic(ana, make_category("Board", "members_only"), title="Secret merger talks",
                        raw="The merger price is four million.")
    login(client, "pat")
    r = client.post("/preview", data={"raw": f'[quote="ana, post:1, topic:{secret.id}"]\n[/quote]\n\nWhat is this?'},
                    headers={"X-CSRF-Token": csrf_of(client, "/latest")})
    assert r.status_code == 200
    cooked = r.json()["cooked"]
    assert "What is this?" in cooked and 'class="quote"' in cooked
    assert "four million" not in cooked and "Secret merger" not in cooked


def test_previews_are_rate_limited(client, settings, make_user):
    make_user("bea", tier="member")
    login(client, "bea")
    settings.previews_per_minute = 3
    token = csrf_of(client, "/latest")
    answers = [client.post("/preview", data={"raw": f"Preview number {i}"}, headers={"X-CSRF-Token": token})
               for i in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
