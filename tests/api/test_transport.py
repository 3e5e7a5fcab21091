"""Transport rules of the Discourse API (API.md §1, §3, §4): content type, bare paths with Accept,
no redirects, request bodies, error shapes, rate limits, OpenAPI, browser sessions."""

import json

import pytest

from forum.api.params import Params, decode
from forum.config import Settings
from tests.api.conftest import JSON, errors_of
from tests.conftest import csrf_of, login, post_form


@pytest.fixture
def forum(make_user, make_category, make_topic, make_reply, staff):
    ana = make_user("ana", tier="member")
    news = make_category("News and events")
    topic = make_topic(ana, news, title="General assembly in Lisbon", raw="Where shall we meet?")
    make_reply(staff, topic, raw="At the co-op hall.")
    return {"ana": ana, "news": news, "topic": topic}


def test_json_routes_answer_with_the_exact_content_type(client, forum):
    t, c = forum["topic"], forum["news"]
    for path in ["/latest.json", "/top.json", "/categories.json", f"/c/{c.id}.json", f"/c/{c.slug}/{c.id}.json",
                 f"/c/{c.id}/show.json", f"/t/{t.id}.json", f"/t/{t.slug}/{t.id}.json", f"/t/{t.id}/posts.json",
                 "/posts.json", "/posts/1.json", "/u/ana.json", "/users/ana.json", "/about.json", "/site.json",
                 "/site/basic-info.json", "/session/hp.json", "/session/csrf.json", "/search.json?q=assembly",
                 f"/c/{c.slug}/l/latest.json"]:
        r = client.get(path)
        assert r.status_code == 200, (path, r.text[:200])
        assert r.headers["content-type"] == "application/json; charset=utf-8", path
        body = r.json()
        assert not body.get("errors") if isinstance(body, dict) else True, path


def test_bare_paths_answer_json_when_json_is_asked_for(client, forum, as_user):
    t = forum["topic"]
    html = client.get(f"/t/{t.slug}/{t.id}")
    assert html.headers["content-type"].startswith("text/html")
    js = client.get(f"/t/{t.slug}/{t.id}", headers={"Accept": JSON})
    assert js.headers["content-type"] == JSON and js.json()["id"] == t.id
    assert client.get("/latest", headers={"Accept": JSON}).json()["topic_list"]["topics"][0]["id"] == t.id
    headers = as_user(forum["ana"])
    r = client.post("/posts", headers=headers, data={"raw": "A reply through the bare path.", "topic_id": t.id})
    assert r.status_code == 200 and r.json()["post_number"] == 3
    r = client.put(f"/posts/{r.json()['id']}", headers=headers, data={"post[raw]": "Edited through the bare path."})
    assert r.status_code == 200 and r.json()["post"]["raw"] == "Edited through the bare path."
    r = client.get(f"/posts/by_number/{t.id}/2", headers=headers)
    assert r.status_code == 200 and r.json()["raw"] == "At the co-op hall."
    r = client.get("/post_action_users", headers=headers, params={"id": 1, "post_action_type_id": 2})
    assert r.status_code == 200 and r.json()["post_action_users"] == []
    r = client.delete(f"/t/{t.id}", headers=headers)
    assert r.status_code == 200 and r.content == b""


def test_page_routes_are_not_taken_over_by_accept_json(client, forum):
    """Only paths an API route answers are rewritten; our own fetch() calls keep their routes."""
    login(client, "staffer")
    token = csrf_of(client, "/latest")
    r = client.post("/posts/1/like", headers={"Accept": "application/json", "X-Requested-With": "fetch",
                                              "X-CSRF-Token": token})
    assert r.status_code == 200 and r.json()["liked"] is True


def test_api_paths_never_redirect(client, forum):
    t = forum["topic"]
    for path in (f"/t/wrong-slug/{t.id}.json", f"/c/{forum['news'].id}.json", f"/c/wrong/{forum['news'].id}.json"):
        r = client.get(path, follow_redirects=False)
        assert r.status_code == 200, path
    assert client.get(f"/t/wrong-slug/{t.id}.json").json()["slug"] == t.slug


def test_rails_bracket_names_are_decoded():
    data = decode([("post[raw]", "hello"), ("post[edit_reason]", "typo"), ("tags[]", "a"), ("tags[]", "b"),
                   ("permissions[everyone]", "1"), ("permissions[members]", "3"), ("timings[3]", "1200"),
                   ("post_ids[]", "5"), ("post_ids[]", "7"), ("plain", "x"), ("a[b][]", "1"), ("bad]", "y")])
    assert data == {"post": {"raw": "hello", "edit_reason": "typo"}, "tags": ["a", "b"],
                    "permissions": {"everyone": "1", "members": "3"}, "timings": {"3": "1200"},
                    "post_ids": ["5", "7"], "plain": "x", "a": {"b": ["1"]}}
    params = Params({"enabled": "true", "n": "12", "flag": True})
    assert params.bool("enabled") and params.bool("flag") and params.int("n") == 12 and params.int("missing") is None


@pytest.mark.parametrize("encoding", ["form", "multipart", "json", "json-brackets"])
def test_form_multipart_and_json_bodies(client, forum, as_user, encoding):
    headers = as_user(forum["ana"])
    t = forum["topic"]
    fields = {"raw": f"A reply sent as {encoding}.", "topic_id": str(t.id)}
    edit = {"post[raw]": f"Edited as {encoding}.", "post[edit_reason]": "clarity"}
    if encoding == "form":
        created = client.post("/posts.json", headers=headers, data=fields)
        pid = created.json()["id"]
        edited = client.put(f"/posts/{pid}.json", headers=headers, data=edit)
    elif encoding == "multipart":
        created = client.post("/posts.json", headers=headers, files={k: (None, v) for k, v in fields.items()})
        pid = created.json()["id"]
        edited = client.put(f"/posts/{pid}.json", headers=headers, files={k: (None, v) for k, v in edit.items()})
    elif encoding == "json":
        created = client.post("/posts.json", headers=headers, json={"raw": fields["raw"], "topic_id": t.id})
        pid = created.json()["id"]
        edited = client.put(f"/posts/{pid}.json", headers=headers,
                            json={"post": {"raw": f"Edited as {encoding}.", "edit_reason": "clarity"}})
    else:
        created = client.post("/posts.json", headers={**headers, "Content-Type": "application/json"},
                              content=json.dumps(fields))
        pid = created.json()["id"]
        edited = client.put(f"/posts/{pid}.json", headers=headers, json=edit)
    assert created.status_code == 200 and created.json()["raw"] == fields["raw"]
    assert edited.status_code == 200, edited.text
    assert edited.json()["post"]["raw"] == f"Edited as {encoding}."
    assert edited.json()["post"]["edit_reason"] == "clarity"


def test_error_shapes(client, forum, as_user, make_key):
    r = client.get("/t/99999.json")
    assert r.status_code == 404 and r.json()["error_type"] == "not_found"
    assert errors_of(r) == ["The requested URL or resource could not be found."]
    r = client.get("/no/such/route.json")
    assert r.status_code == 404 and r.headers["content-type"] == JSON and errors_of(r)
    r = client.get("/latest.json", headers={"Api-Key": "0" * 64, "Api-Username": "ana"})
    assert r.status_code == 403 and r.json()["error_type"] == "invalid_access"
    assert errors_of(r) == ["You are not permitted to view the requested resource. The API username or key is invalid."]
    # An anonymous browser with a valid CSRF token is told to log in.
    token = csrf_of(client, "/latest")
    r = client.post("/posts.json", data={"raw": "hello there"}, headers={"X-CSRF-Token": token})
    assert r.status_code == 403 and r.json()["error_type"] == "not_logged_in"
    # Validation failures of POST /posts are 422 with Discourse's action member.
    headers = as_user(forum["ana"])
    r = client.post("/posts.json", headers=headers, data={"raw": "x", "title": "no", "category": forum["news"].id})
    assert r.status_code == 422 and r.json()["action"] == "create_post" and errors_of(r)
    r = client.put("/posts/1.json", headers=headers, data={})
    assert r.status_code == 400 and r.json()["error_type"] == "invalid_parameters"
    r = client.get("/search.json")
    assert r.status_code == 400 and errors_of(r)
    r = client.put("/posts/2.json", headers=headers, data={"post[raw]": "Not my post to edit."})
    assert r.status_code == 403 and r.json()["error_type"] == "invalid_access"


def test_edit_conflict_answers_409(client, forum, as_user):
    headers = as_user(forum["ana"])
    r = client.put("/posts/1.json", headers=headers, data={"post[raw]": "My new text here.",
                                                          "post[original_text]": "Something else entirely"})
    assert r.status_code == 409 and errors_of(r)
    r = client.put("/posts/1.json", headers=headers, data={"post[raw]": "My new text here.",
                                                          "post[original_text]": "Where shall we meet?"})
    assert r.status_code == 200


@pytest.fixture
def tight_app(settings, db):
    from fastapi.testclient import TestClient

    from forum.app import create_app

    tight = Settings(**{**settings.model_dump(), "posts_per_minute": 2})
    with TestClient(create_app(tight, db)) as c:
        yield c


def _assert_rate_limited(r):
    assert r.status_code == 429
    assert int(r.headers["Retry-After"]) > 0
    assert r.headers["Discourse-Rate-Limit-Error-Code"]
    body = r.json()
    assert body["error_type"] == "rate_limit" and errors_of(r)
    assert body["extras"]["wait_seconds"] == int(r.headers["Retry-After"])
    assert body["extras"]["time_left"].endswith("seconds")


def test_api_and_pages_share_the_posting_limit(tight_app, forum, as_user):
    t = forum["topic"]
    login(tight_app, "ana")
    for i in range(2):
        assert post_form(tight_app, f"/t/{t.id}/reply", {"raw": f"Page reply {i} here."}).status_code == 303
    r = tight_app.post("/posts.json", headers=as_user(forum["ana"]), data={"raw": "API reply.", "topic_id": t.id})
    _assert_rate_limited(r)


def test_pages_see_the_limit_the_api_used_up(tight_app, forum, as_user, make_user):
    t = forum["topic"]
    headers = as_user(forum["ana"])
    for i in range(2):
        r = tight_app.post("/posts.json", headers=headers, data={"raw": f"API reply {i} here.", "topic_id": t.id})
        assert r.status_code == 200
    _assert_rate_limited(tight_app.post("/posts.json", headers=headers, data={"raw": "One more.", "topic_id": t.id}))
    login(tight_app, "ana")
    assert post_form(tight_app, f"/t/{t.id}/reply", {"raw": "And from the page."}).status_code == 429


def test_openapi_describes_the_api(client):
    spec = client.get("/api/openapi.json").json()
    for path in ["/latest.json", "/posts.json", "/posts/{post_id}.json", "/t/{topic_id}.json",
                 "/c/{category_id}.json", "/categories.json", "/search.json", "/notifications.json",
                 "/post_actions.json", "/session/current.json", "/users.json", "/latest.rss",
                 "/t/{slug}/{topic_id}.rss"]:
        assert path in spec["paths"], path


def test_a_browser_session_reads_and_writes_the_json_api(client, forum, make_category, make_topic, staff):
    lounge = make_category("Members' lounge", "members_only")
    secret = make_topic(staff, lounge, title="Pension fund talks")
    assert client.get(f"/t/{secret.id}.json").status_code == 404
    login(client, "ana")
    assert client.get(f"/t/{secret.id}.json").status_code == 200
    assert "Pension fund talks" in client.get("/latest.json").text
    assert client.get("/session/current.json").json()["current_user"]["username"] == "ana"
    # A cookie is ambient: writes need the CSRF token, as forms do.
    r = client.post("/posts.json", data={"raw": "Reply from the browser.", "topic_id": secret.id})
    assert r.status_code == 403
    csrf = client.get("/session/csrf.json").json()["csrf"]
    r = client.post("/posts.json", data={"raw": "Reply from the browser.", "topic_id": secret.id},
                    headers={"X-CSRF-Token": csrf})
    assert r.status_code == 200 and r.json()["username"] == "ana"


def test_api_key_requests_need_no_csrf_token(client, forum, as_user):
    r = client.post("/posts.json", headers=as_user(forum["ana"]),
                    data={"raw": "No CSRF token needed here.", "topic_id": forum["topic"].id})
    assert r.status_code == 200


def test_a_client_preferring_html_gets_the_page(client, forum):
    t = forum["topic"]
    r = client.get(f"/t/{t.slug}/{t.id}", headers={"Accept": "text/html, application/json;q=0.5"})
    assert r.headers["content-type"].startswith("text/html")
