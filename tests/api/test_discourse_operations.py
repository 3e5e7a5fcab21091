"""Operations of Discourse's API description that answered wrongly, and the fields they now carry:
routing of `.json` addresses, PUT /t/-/{id}.json, POST /invites/create-multiple.json, removing
someone from a tier group, anonymizing an account, review state on posts, topic permissions."""

from __future__ import annotations

import re

from sqlalchemy import func, select

from forum import accounts, flags, moderation
from forum.models import ApiKey, ModerationLog, Topic, User, UserSession
from forum.permissions import Viewer
from tests.api.conftest import JSON, errors_of
from tests.api.test_openapi_conformance import endpoint_for, is_api, route_contexts
from tests.conftest import PASSWORD, login


def staff_headers(make_key, staff) -> dict[str, str]:
    return {"Api-Key": make_key(staff), "Api-Username": staff.username, "Accept": JSON}


# --- routing ----------------------------------------------------------------------------------

def _sample(route) -> str:
    def value(m: re.Match) -> str:
        convertor = route.param_convertors.get(m.group(1))
        regex = getattr(convertor, "regex", "")
        if regex.startswith("[0-9]") or regex.startswith("-?[0-9]"):
            return "7"
        return regex.split("|")[0] if "|" in regex else "some-name"
    return re.sub(r"\{([^}:]+)(?::[^}]+)?\}", value, route.path)


def test_every_json_route_is_reached_before_any_page_route(app):
    checked = 0
    for route, endpoint in route_contexts(app):
        if not is_api(endpoint) or not getattr(route, "path", "").endswith(".json"):
            continue
        path = _sample(route)
        for method in route.methods - {"HEAD"}:
            assert endpoint_for(app, method, path) is endpoint, (method, route.path, path)
            checked += 1
    assert checked > 50


def test_json_addresses_no_api_route_answers_are_404_json_not_pages_or_forms(client, make_key, staff):
    headers = staff_headers(make_key, staff)
    # Page and form routes take these loose segments; a JSON client must not get their answers.
    for method, path in [("POST", "/invites/some-code.json"), ("GET", f"/admin/users/{staff.id}/nothing.json"),
                         ("POST", f"/admin/users/{staff.id}/nothing.json"), ("PUT", "/u/staffer/nothing.json")]:
        r = client.request(method, path, headers=headers)
        assert r.status_code == 404, (method, path, r.status_code, r.text[:200])
        assert r.headers["content-type"] == JSON and errors_of(r)


def test_staff_role_route_answers_only_its_four_changes(client, make_user, make_key, staff):
    mod = make_user("modest", tier="member")
    headers = staff_headers(make_key, staff)
    r = client.put(f"/admin/users/{mod.id}/grant_moderation.json", headers=headers)
    assert r.status_code == 200 and r.json()["admin_user"]["moderator"] is True
    assert client.put(f"/admin/users/{mod.id}/promote_somehow.json", headers=headers).status_code == 404


# --- PUT /t/-/{id}.json -----------------------------------------------------------------------

def test_update_topic_with_discourses_body(client, db, make_user, make_category, make_topic, make_key, staff,
                                           as_user):
    ana = make_user("ana", tier="member")
    bob = make_user("bob", tier="member")
    news, events = make_category("News"), make_category("Events")
    topic = make_topic(ana, news, title="General assembly in Lisbon")
    r = client.put(f"/t/-/{topic.id}.json", headers=as_user(ana),
                   json={"topic": {"title": "General assembly in Porto", "category_id": news.id}})
    assert r.status_code == 200, r.text
    assert r.json()["basic_topic"]["title"] == "General assembly in Porto"
    # Moving is a moderator's action; the author is told so and nothing changes.
    r = client.put(f"/t/-/{topic.id}.json", headers=as_user(ana),
                   json={"topic": {"title": "Moved by the author", "category_id": events.id}})
    assert r.status_code == 403 and errors_of(r)
    # Someone else may not rename it.
    r = client.put(f"/t/-/{topic.id}.json", headers=as_user(bob), json={"topic": {"title": "Renamed by Bob"}})
    assert r.status_code == 403
    r = client.put(f"/t/-/{topic.id}.json", headers=staff_headers(make_key, staff),
                   json={"topic": {"title": "General assembly, moved", "category_id": events.id}})
    assert r.status_code == 200
    with db.read() as s:
        t = s.get(Topic, topic.id)
        assert (t.title, t.category_id) == ("General assembly, moved", events.id)
    # pydiscourse's form, and a body naming nothing to change.
    r = client.put(f"/t/{topic.slug}/{topic.id}", headers=as_user(ana), data={"title": "Back in Lisbon again"})
    assert r.status_code == 200 and r.json()["basic_topic"]["title"] == "Back in Lisbon again"
    r = client.put(f"/t/-/{topic.id}.json", headers=as_user(ana), json={"topic": {}})
    assert r.status_code == 400 and errors_of(r)


# --- POST /invites/create-multiple.json -------------------------------------------------------

def test_create_multiple_invites_by_api_key(client, db, make_user, make_key, staff):
    make_user("member1", tier="member")
    r = client.post("/invites/create-multiple.json", headers=staff_headers(make_key, staff),
                    json={"email": ["one@example.org", "two@example.org", "member1@example.org", "not-an-address"],
                          "skip_email": True, "custom_message": "Welcome!"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["num_successfully_created_invitations"] == 2 and body["num_failed_invitations"] == 2
    assert {i["email"] for i in body["successful_invitations"]} == {"one@example.org", "two@example.org"}
    assert {f["email"] for f in body["failed_invitations"]} == {"member1@example.org", "not-an-address"}
    assert all(f["error"] for f in body["failed_invitations"])
    r = client.post("/invites/create-multiple.json", headers=staff_headers(make_key, staff), json={})
    assert r.status_code == 400 and errors_of(r)


def test_create_multiple_invites_from_a_browser_session_needs_the_csrf_header(client, staff):
    login(client, staff.username, PASSWORD)
    r = client.post("/invites/create-multiple.json", json={"email": ["three@example.org"]},
                    headers={"Accept": JSON})
    assert r.status_code == 403
    csrf = client.get("/session/csrf.json").json()["csrf"]
    r = client.post("/invites/create-multiple.json", json={"email": ["three@example.org"]},
                    headers={"Accept": JSON, "X-CSRF-Token": csrf})
    assert r.status_code == 200 and r.json()["num_successfully_created_invitations"] == 1


# --- DELETE /groups/{id}/members.json ---------------------------------------------------------

def test_removing_someone_from_a_tier_group_is_422_in_discourses_error_shape(client, db, make_user, make_key,
                                                                           staff):
    wes = make_user("wes", tier="worker")
    r = client.request("DELETE", "/groups/11/members.json", headers=staff_headers(make_key, staff),
                       json={"usernames": "wes"})
    assert r.status_code == 422 and r.headers["content-type"] == JSON
    assert errors_of(r) and r.json()["error_type"] == "record_invalid"
    with db.read() as s:
        assert s.get(User, wes.id).tier == "worker"


# --- PUT /admin/users/{id}/anonymize.json -----------------------------------------------------

def test_staff_anonymize_an_account(client, db, make_user, make_category, make_topic, make_key, staff, as_user):
    ana = make_user("ana", tier="member", name="Ana Lima")
    topic = make_topic(ana, make_category("News"), title="A topic Ana started")
    ana_headers = as_user(ana)  # a key of Ana's own
    login(client, "ana")
    client.cookies.clear()
    r = client.put(f"/admin/users/{ana.id}/anonymize.json", headers=staff_headers(make_key, staff))
    assert r.status_code == 200, r.text
    new_name = r.json()["username"]
    assert r.json()["success"] == "OK" and new_name.startswith("anon") and new_name != "ana"
    with db.read() as s:
        user = s.get(User, ana.id)
        assert (user.username, user.name) == (new_name, "") and "ana" not in (user.email or "")
        assert s.scalar(select(func.count()).select_from(UserSession).where(UserSession.user_id == ana.id)) == 0
        assert s.scalar(select(func.count()).select_from(ApiKey).where(ApiKey.user_id == ana.id)) == 0
        entry = s.scalar(select(ModerationLog).where(ModerationLog.action == "anonymize_user"))
        assert entry.actor_id == staff.id and entry.target_user_id == ana.id and "ana" not in entry.summary
    assert client.get("/u/ana.json").status_code == 404
    assert client.get(f"/t/{topic.id}.json").json()["details"]["created_by"]["username"] == new_name
    assert client.get("/latest.json", headers=ana_headers).status_code == 403  # her key is gone
    with db.write() as s:
        # Neither the old name, nor the old address, nor the old password opens the account.
        assert accounts.authenticate(s, "ana", PASSWORD) is None
        assert accounts.authenticate(s, "ana@example.org", PASSWORD) is None
        assert accounts.authenticate(s, new_name, PASSWORD) is None


def test_only_staff_anonymize_and_never_an_admin(client, make_user, make_key, staff, as_user):
    bob = make_user("bob", tier="member")
    mod = make_user("moe", moderator=True)
    r = client.put(f"/admin/users/{bob.id}/anonymize.json", headers=as_user(make_user("cyd", tier="member")))
    assert r.status_code == 404
    r = client.put(f"/admin/users/{staff.id}/anonymize.json", headers=as_user(mod))
    assert r.status_code == 403


# --- fields that carry real values ------------------------------------------------------------

def test_review_state_on_posts_is_for_staff(client, db, make_user, make_category, make_topic, make_reply,
                                            make_key, staff, as_user):
    ana, bob, cy = (make_user(n, tier="member") for n in ("ana", "bob", "cyd"))
    topic = make_topic(ana, make_category("News"))
    reply = make_reply(bob, topic, raw="A reply that someone will flag.")
    with db.write() as s:
        flags.flag_post(s, Viewer(cy), post_id=reply.id, flag_type=3, message="")
    staff_view = client.get(f"/t/{topic.id}.json", headers=staff_headers(make_key, staff)).json()
    flagged, first = staff_view["post_stream"]["posts"][1], staff_view["post_stream"]["posts"][0]
    assert (flagged["reviewable_id"], flagged["reviewable_score_count"],
            flagged["reviewable_score_pending_count"]) == (reply.id * 2, 1, 1)
    assert (first["reviewable_id"], first["reviewable_score_count"]) == (0, 0)
    assert client.get(f"/review/{reply.id * 2}.json", headers=staff_headers(make_key, staff)).status_code == 200
    member_view = client.get(f"/t/{topic.id}.json", headers=as_user(ana)).json()["post_stream"]["posts"][1]
    assert (member_view["reviewable_id"], member_view["reviewable_score_count"]) == (0, 0)
    post = client.get(f"/posts/{reply.id}.json", headers=as_user(ana)).json()
    assert post["reviewable_id"] is None and post["can_see_hidden_post"] is False
    assert client.get(f"/posts/{reply.id}.json", headers=staff_headers(make_key, staff)).json()["reviewable_id"] \
        == reply.id * 2


def test_topic_pinned_at_and_moderation_permissions(client, db, make_user, make_category, make_topic, make_key,
                                                    staff, as_user):
    ana = make_user("ana", tier="member")
    topic = make_topic(ana, make_category("News"))
    body = client.get(f"/t/{topic.id}.json", headers=as_user(ana)).json()
    assert body["pinned_at"] is None and body["deleted_by"] is None and body["has_deleted"] is False
    assert not any(body["details"][k] for k in ("can_close_topic", "can_pin_unpin_topic", "can_move_posts"))
    with db.write() as s:
        moderation.set_topic_status(s, Viewer(staff), topic.id, "pinned", True)
    body = client.get(f"/t/{topic.id}.json", headers=staff_headers(make_key, staff)).json()
    assert body["pinned"] is True and body["pinned_at"] and body["pinned_at"].endswith("Z")
    assert all(body["details"][k] for k in ("can_close_topic", "can_pin_unpin_topic", "can_move_posts",
                                            "can_archive_topic", "can_toggle_topic_visibility"))
    r = client.delete(f"/t/{topic.id}.json", headers=staff_headers(make_key, staff))
    assert r.status_code == 200
    body = client.get(f"/t/{topic.id}.json", headers=staff_headers(make_key, staff)).json()
    assert body["deleted_by"]["username"] == staff.username and body["has_deleted"] is True


def test_private_profile_fields_are_for_the_owner_and_staff(client, db, make_user, make_category, make_key, staff,
                                                             as_user):
    ana, bob = make_user("ana", tier="member"), make_user("bob", tier="member")
    news = make_category("News")
    r = client.post(f"/category/{news.id}/notifications.json", headers=as_user(ana),
                    data={"notification_level": "3"})
    assert r.status_code == 200
    own = client.get("/u/ana.json", headers=as_user(ana)).json()["user"]
    assert own["watched_category_ids"] == [news.id] and own["user_option"]["email_level"] == 0
    assert own["groups"][0]["name"] == "members" and own["primary_group_id"] == 10
    assert client.get("/u/ana.json", headers=staff_headers(make_key, staff)).json()["user"]["user_option"]
    other = client.get("/u/ana.json", headers=as_user(bob)).json()["user"]
    assert "user_option" not in other and "watched_category_ids" not in other and "user_auth_tokens" not in other
    assert other["primary_group_id"] == 10 and other["can_edit_name"] is False


def test_topic_lists_say_which_topics_the_viewer_liked(client, db, make_user, make_category, make_topic,
                                                      as_user):
    from forum import posting
    from tests.api.test_openapi_conformance import _first_post_id

    ana, bob = make_user("ana", tier="member"), make_user("bob", tier="member")
    news = make_category("News")
    liked, other = make_topic(ana, news, title="A topic Bob likes"), make_topic(ana, news, title="Another topic")
    with db.write() as s:
        posting.like_post(s, Viewer(bob), post_id=_first_post_id(s, liked.id))
    topics = {t["id"]: t for t in client.get("/latest.json", headers=as_user(bob)).json()["topic_list"]["topics"]}
    assert topics[liked.id]["liked"] is True and topics[other.id]["liked"] is False
    in_category = client.get(f"/c/{news.slug}/{news.id}.json", headers=as_user(bob)).json()["topic_list"]["topics"]
    assert all(t["excerpt"] for t in in_category)
