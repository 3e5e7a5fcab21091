"""Raw HTTP tests of the endpoints pydiscourse has no method for, and of response shapes."""

import pytest
from sqlalchemy import select

from forum.models import NONE, SEE, Category, Notification, Post, Topic
from tests.api.conftest import JSON, errors_of


@pytest.fixture
def forum(make_user, make_category, make_topic, make_reply, staff):
    ana = make_user("ana", tier="member", name="Ana Lima")
    bob = make_user("bob", tier="participant")
    news = make_category("News and events")
    topic = make_topic(ana, news, title="General assembly in Lisbon", raw="Where shall we meet in **Lisbon**?")
    reply = make_reply(bob, topic, raw="At the co-op hall near the river.")
    make_reply(ana, topic, raw="Agreed, see you there.", reply_to=2)
    return {"ana": ana, "bob": bob, "news": news, "topic": topic, "reply": reply}


# --- likes ------------------------------------------------------------------------------------

def test_like_and_unlike_through_post_actions(client, db, forum, as_user):
    bob = as_user(forum["bob"])
    first = 1
    r = client.post("/post_actions.json", headers=bob, data={"id": first, "post_action_type_id": 2})
    assert r.status_code == 200
    post = r.json()
    assert post["id"] == first and post["like_count"] == 1
    assert {"id": 2, "count": 1, "acted": True, "can_undo": True}.items() <= post["actions_summary"][0].items()
    assert int(r.headers["Discourse-Actions-Remaining"]) == int(r.headers["Discourse-Actions-Max"]) - 1
    # The topic's counter, the author's notification, and who liked it.
    topic = client.get(f"/t/{forum['topic'].id}.json", headers=bob).json()
    assert topic["like_count"] == 1
    users = client.get("/post_action_users.json", headers=bob, params={"id": first, "post_action_type_id": 2}).json()
    assert [u["username"] for u in users["post_action_users"]] == ["bob"]
    assert users["total_rows_post_action_users"] == 1
    with db.read() as s:
        assert s.scalar(select(Notification.kind).where(Notification.user_id == forum["ana"].id,
                                                        Notification.kind == "liked")) == "liked"
    # Twice is refused, as is liking one's own post.
    again = client.post("/post_actions.json", headers=bob, data={"id": first, "post_action_type_id": 2})
    assert again.status_code == 403 and errors_of(again)
    own = client.post("/post_actions.json", headers=bob, data={"id": forum["reply"].id, "post_action_type_id": 2})
    assert own.status_code == 403 and own.json()["error_type"] == "invalid_access"
    # Undo, with the type in the query string as the Ruby gem sends it.
    r = client.delete(f"/post_actions/{first}.json", headers=bob, params={"post_action_type_id": 2})
    assert r.status_code == 200 and r.json()["like_count"] == 0
    assert client.delete(f"/post_actions/{first}.json", headers=bob, params={"post_action_type_id": 2}).status_code == 404


def test_likes_need_a_user_and_a_visible_post(client, forum, make_category, make_topic, staff, as_user):
    lounge = make_category("Members' lounge", "members_only")
    hidden = make_topic(staff, lounge, title="Pension fund talks")
    hidden_post = client.get(f"/t/{hidden.id}.json", headers=as_user(staff)).json()["post_stream"]["posts"][0]["id"]
    r = client.post("/post_actions.json", headers=as_user(forum["bob"]), data={"id": hidden_post, "post_action_type_id": 2})
    assert r.status_code == 404
    r = client.get("/post_action_users.json", headers=as_user(forum["bob"]), params={"id": hidden_post})
    assert r.status_code == 404
    csrf = client.get("/session/csrf.json").json()["csrf"]
    r = client.post("/post_actions.json", data={"id": 1, "post_action_type_id": 2}, headers={"X-CSRF-Token": csrf})
    assert r.status_code == 403 and r.json()["error_type"] == "not_logged_in"
    r = client.post("/post_actions.json", headers=as_user(forum["bob"]), data={"id": 1})
    assert r.status_code == 400


def test_flag_through_post_actions(client, forum, as_user):
    bob = as_user(forum["bob"])
    r = client.post("/post_actions.json", headers=bob, data={"id": 1, "post_action_type_id": 4})
    assert r.status_code == 200
    again = client.post("/post_actions.json", headers=bob, data={"id": 1, "post_action_type_id": 3})
    assert again.status_code == 403
    r = client.post("/post_actions.json", headers=bob, data={"id": 1, "post_action_type_id": 99})
    assert r.status_code == 403


# --- search and notifications -----------------------------------------------------------------

def test_search_json(client, forum, make_category, make_topic, staff, as_user):
    lounge = make_category("Members' lounge", "members_only")
    make_topic(staff, lounge, title="Lisbon pension fund", raw="Members only talk about Lisbon pensions.")
    r = client.get("/search.json", params={"q": "Lisbon"})
    body = r.json()
    assert r.status_code == 200
    titles = {t["title"] for t in body["topics"]}
    assert titles == {"General assembly in Lisbon"}
    assert body["posts"] and {p["topic_id"] for p in body["posts"]} == {forum["topic"].id}
    post = body["posts"][0]
    assert {"id", "username", "avatar_template", "created_at", "like_count", "blurb", "post_number",
            "topic_title_headline"} <= set(post)
    grouped = body["grouped_search_result"]
    assert grouped["term"] == "Lisbon" and grouped["post_ids"] == [p["id"] for p in body["posts"]]
    # A member finds the members-only topic too.
    member = client.get("/search.json", params={"q": "Lisbon"}, headers=as_user(forum["ana"])).json()
    assert {t["title"] for t in member["topics"]} == {"General assembly in Lisbon", "Lisbon pension fund"}
    assert client.get("/search.json", params={"q": "nothingmatcheshere"}).json()["posts"] == []


def test_notifications_json(client, db, forum, as_user):
    csrf = client.get("/session/csrf.json").json()["csrf"]
    r = client.get("/notifications.json", headers={"X-CSRF-Token": csrf})
    assert r.status_code == 403 and r.json()["error_type"] == "not_logged_in"
    bob = as_user(forum["bob"])
    body = client.get("/notifications.json", headers=bob).json()
    assert {"notifications", "total_rows_notifications", "seen_notification_id", "load_more_notifications"} <= set(body)
    assert body["load_more_notifications"].startswith("/notifications?offset=")
    # ana replied to bob's post: Discourse's "replied" is type 2.
    replied = [n for n in body["notifications"] if n["notification_type"] == 2]
    assert replied and replied[0]["topic_id"] == forum["topic"].id and replied[0]["read"] is False
    assert replied[0]["post_number"] == 3 and replied[0]["data"]["display_username"] == "ana"
    me = client.get("/session/current.json", headers=bob).json()["current_user"]
    assert me["unread_notifications"] == body["total_rows_notifications"] > 0
    r = client.put("/notifications/mark-read.json", headers=bob)
    assert r.json() == {"success": "OK"}
    assert client.get("/session/current.json", headers=bob).json()["current_user"]["unread_notifications"] == 0


# --- deleting ---------------------------------------------------------------------------------

def test_delete_a_post(client, db, forum, as_user, make_reply):
    bob = as_user(forum["bob"])
    t = forum["topic"]
    reply_id = forum["reply"].id
    r = client.delete(f"/posts/{reply_id}.json", headers=bob)
    assert r.status_code == 200 and r.content == b""
    ana = as_user(forum["ana"])
    topic = client.get(f"/t/{t.id}.json", headers=ana).json()
    assert reply_id not in topic["post_stream"]["stream"]
    assert [p["post_number"] for p in topic["post_stream"]["posts"]] == [1, 3]
    assert topic["posts_count"] == 2
    assert client.get(f"/posts/{reply_id}.json", headers=ana).status_code == 404
    # Its author still reads it, marked as deleted (forum/permissions.py, rule 8).
    own = client.get(f"/t/{t.id}.json", headers=bob).json()["post_stream"]["posts"]
    assert [(p["post_number"], p["deleted_at"] is not None) for p in own] == [(1, False), (2, True), (3, False)]
    assert client.get(f"/posts/{reply_id}.json", headers=bob).json()["deleted_at"] is not None
    # Numbering is not reused.
    new = make_reply(forum["ana"], t, raw="After the deletion.")
    assert new.post_number == 4
    # Someone else's post: 403; a missing one: 404.
    assert client.delete("/posts/1.json", headers=bob).status_code == 403
    assert client.delete("/posts/99999.json", headers=bob).status_code == 404


def test_deleting_the_first_post_deletes_the_topic(client, forum, as_user, staff):
    ana = as_user(forum["ana"])
    t = forum["topic"]
    assert client.delete(f"/t/{t.id}.json", headers=ana).status_code == 200
    assert client.get(f"/t/{t.id}.json", headers=ana).status_code == 404
    assert client.get(f"/t/{t.id}.json", headers=as_user(staff)).json()["deleted_at"] is not None
    assert t.title not in client.get("/latest.json").text


# --- topics and posts -------------------------------------------------------------------------

def test_topic_json_shape(client, forum, as_user):
    t = forum["topic"]
    body = client.get(f"/t/{t.slug}/{t.id}.json", headers=as_user(forum["bob"])).json()
    assert body["id"] == t.id and body["title"] == t.title and body["posts_count"] == 3
    assert body["chunk_size"] == 20 and body["archetype"] == "regular"
    posts = body["post_stream"]["posts"]
    assert [p["post_number"] for p in posts] == [1, 2, 3]
    assert body["post_stream"]["stream"] == [p["id"] for p in posts]
    assert "raw" not in posts[0]
    assert posts[0]["cooked"] == "<p>Where shall we meet in <strong>Lisbon</strong>?</p>\n"
    assert posts[0]["created_at"].endswith("Z") and len(posts[0]["created_at"]) == 24
    assert "{size}" in posts[0]["avatar_template"]
    assert posts[2]["reply_to_post_number"] == 2 and posts[2]["reply_to_user"]["username"] == "bob"
    assert posts[1]["yours"] is True and posts[1]["can_edit"] is True and posts[0]["can_edit"] is False
    assert posts[0]["post_url"] == f"/t/{t.slug}/{t.id}/1"
    details = body["details"]
    assert details["created_by"]["username"] == "ana" and details["last_poster"]["username"] == "ana"
    assert details["can_create_post"] is True
    assert {p["username"]: p["post_count"] for p in details["participants"]} == {"ana": 2, "bob": 1}
    raw = client.get(f"/t/{t.id}.json", params={"include_raw": 1}).json()["post_stream"]["posts"][0]
    assert raw["raw"] == "Where shall we meet in **Lisbon**?"


def test_topic_posts_and_post_numbers(client, forum, make_reply):
    t = forum["topic"]
    for i in range(25):
        make_reply(forum["bob"], t, raw=f"Reply number {i + 4} in the thread.")
    body = client.get(f"/t/{t.id}.json").json()
    assert len(body["post_stream"]["posts"]) == 20 and len(body["post_stream"]["stream"]) == 28
    wanted = body["post_stream"]["stream"][24:26]
    some = client.get(f"/t/{t.id}/posts.json", params=[("post_ids[]", wanted[0]), ("post_ids[]", wanted[1])]).json()
    assert some["id"] == t.id and [p["id"] for p in some["post_stream"]["posts"]] == wanted
    assert "stream" not in some["post_stream"]
    near = client.get(f"/t/{t.id}/27.json").json()  # Discourse reads this as a post number
    assert 27 in [p["post_number"] for p in near["post_stream"]["posts"]]
    at = client.get(f"/t/{t.slug}/{t.id}/27.json").json()
    assert 27 in [p["post_number"] for p in at["post_stream"]["posts"]]
    by_number = client.get(f"/posts/by_number/{t.id}/27.json").json()
    assert by_number["post_number"] == 27 and by_number["raw"] == "Reply number 27 in the thread."


def test_latest_posts_json(client, forum):
    body = client.get("/posts.json").json()["latest_posts"]
    assert [p["post_number"] for p in body] == [3, 2, 1]
    assert body[0]["raw"] == "Agreed, see you there." and body[0]["topic_title"] == "General assembly in Lisbon"
    assert body[0]["category_id"] == forum["news"].id
    older = client.get("/posts.json", params={"before": body[1]["id"]}).json()["latest_posts"]
    assert [p["id"] for p in older] == [body[1]["id"], body[2]["id"]]


def test_latest_json_envelope_and_paging(client, forum, make_topic, staff):
    for i in range(4):
        make_topic(staff, forum["news"], title=f"Extra topic number {i}")
    body = client.get("/latest.json", params={"per_page": 2}).json()
    topics = body["topic_list"]["topics"]
    assert len(topics) == 2 and body["topic_list"]["more_topics_url"] == "/latest?per_page=2&page=1"
    user_ids = {u["id"] for u in body["users"]}
    assert all(p["user_id"] in user_ids for t in topics for p in t["posters"])
    last = client.get("/latest.json", params={"per_page": 2, "page": 2}).json()["topic_list"]
    assert len(last["topics"]) == 1 and "more_topics_url" not in last
    created = client.get("/latest.json", params={"order": "created", "ascending": "true"}).json()
    assert created["topic_list"]["topics"][0]["title"] == "General assembly in Lisbon"


def test_top_json(client, forum, as_user):
    client.post("/post_actions.json", headers=as_user(forum["bob"]), data={"id": 1, "post_action_type_id": 2})
    for period in ("all", "monthly", "daily"):
        body = client.get("/top.json" if period == "all" else f"/top/{period}.json").json()
        assert body["topic_list"]["for_period"] == period
        assert body["topic_list"]["topics"][0]["title"] == "General assembly in Lisbon"
    assert client.get("/top/someday.json").status_code == 404


# --- categories -------------------------------------------------------------------------------

def test_categories_create_update_delete(client, db, forum, as_user, staff):
    admin = as_user(staff)
    r = client.post("/categories.json", headers=admin,
                    data={"name": "Members' lounge", "color": "AA3300", "text_color": "000000",
                          "permissions[members]": "1", "permissions[workers]": "3"})
    assert r.status_code == 200, r.text
    cat = r.json()["category"]
    assert cat["name"] == "Members' lounge" and cat["color"] == "AA3300" and cat["text_color"] == "000000"
    assert cat["read_restricted"] is True
    assert {(g["group_name"], g["permission_type"]) for g in cat["group_permissions"]} == {("members", 1), ("workers", 3)}
    with db.read() as s:
        row = s.get(Category, cat["id"])
        assert (row.level_everyone, row.level_participant, row.level_worker, row.level_member) == (NONE, NONE, SEE, 3)
    # Seen as each tier.
    assert client.get(f"/c/{cat['id']}/show.json", headers=as_user(forum["bob"])).status_code == 404
    shown = client.get(f"/c/{cat['id']}/show.json", headers=as_user(forum["ana"])).json()["category"]
    assert shown["permission"] == 1 and "group_permissions" not in shown

    r = client.put(f"/categories/{cat['id']}.json", headers=admin,
                   json={"name": "Members' room", "permissions": {"everyone": 3}})
    assert r.status_code == 200 and r.json()["success"] == "OK" and r.json()["category"]["name"] == "Members' room"
    assert client.get(f"/c/{cat['id']}/show.json", headers=as_user(forum["bob"])).json()["category"]["permission"] == 3

    sub = client.post("/categories.json", headers=admin, data={"name": "Minutes", "color": "112233",
                                                               "parent_category_id": cat["id"]}).json()["category"]
    assert sub["parent_category_id"] == cat["id"]
    listed = client.get("/categories.json", params={"include_subcategories": "true"}, headers=admin).json()
    parent = next(c for c in listed["category_list"]["categories"] if c["id"] == cat["id"])
    assert parent["subcategory_ids"] == [sub["id"]] and parent["subcategory_list"][0]["name"] == "Minutes"
    assert client.delete(f"/categories/{cat['id']}.json", headers=admin).status_code == 422  # it has a child
    assert client.delete(f"/categories/{sub['id']}.json", headers=admin).json() == {"success": "OK"}
    assert client.delete(f"/categories/{forum['news'].id}.json", headers=admin).status_code == 422  # it has topics


def test_only_staff_create_categories(client, forum, as_user):
    r = client.post("/categories.json", headers=as_user(forum["ana"]), data={"name": "Mine", "color": "000000"})
    assert r.status_code == 404
    r = client.post("/categories.json", headers=as_user(forum["ana"]),
                    data={"name": "Mine", "color": "000000", "permissions[pirates]": "1"})
    assert r.status_code in (404, 422)


def test_category_watch_level(client, forum, as_user, make_category):
    ana = as_user(forum["ana"])
    news = forum["news"]
    r = client.post(f"/category/{news.id}/notifications", headers=ana, data={"notification_level": 3})
    assert r.status_code == 200 and r.json()["success"] == "OK"
    assert client.get(f"/c/{news.id}/show.json", headers=ana).json()["category"]["notification_level"] == 3
    assert client.post("/category/9999/notifications", headers=ana, data={"notification_level": 3}).status_code == 404
    hidden = make_category("Staff room", "staff_only")
    r = client.post(f"/category/{hidden.id}/notifications", headers=ana, data={"notification_level": 3})
    assert r.status_code == 404
    r = client.post(f"/category/{news.id}/notifications", headers=ana, data={"notification_level": 9})
    assert r.status_code == 422


def test_topic_status_through_the_api(client, forum, as_user, staff):
    t = forum["topic"]
    r = client.put(f"/t/{t.id}/status", headers=as_user(staff), data={"status": "closed", "enabled": "true"})
    assert r.status_code == 200 and r.json()["success"] == "OK"
    assert client.get(f"/t/{t.id}.json").json()["closed"] is True
    r = client.post("/posts.json", headers=as_user(forum["bob"]), data={"raw": "Can I still reply?", "topic_id": t.id})
    assert r.status_code == 403
    assert client.put(f"/t/{t.id}/status", headers=as_user(forum["bob"]),
                      data={"status": "closed", "enabled": "false"}).status_code in (403, 404)


# --- users and the site -----------------------------------------------------------------------

def test_user_json_counts_only_what_the_viewer_may_see(client, forum, make_category, make_topic, as_user):
    lounge = make_category("Members' lounge", "members_only")
    make_topic(forum["ana"], lounge, title="Pension fund talks")
    public = client.get("/u/ana.json").json()["user"]
    assert public["username"] == "ana" and public["name"] == "Ana Lima"
    assert (public["topic_count"], public["post_count"]) == (1, 2)
    assert "email" not in public
    member = client.get("/users/ana.json", headers=as_user(forum["ana"])).json()["user"]
    assert (member["topic_count"], member["post_count"]) == (2, 3) and member["email"] == "ana@example.org"
    assert client.get("/u/nobody.json").status_code == 404


def test_about_and_site(client, forum, make_category, make_topic, staff, as_user):
    lounge = make_category("Members' lounge", "members_only")
    make_topic(staff, lounge, title="Pension fund talks")
    about = client.get("/about.json").json()["about"]
    assert about["stats"]["topic_count"] == 1 and about["stats"]["post_count"] == 3
    assert [a["username"] for a in about["admins"]] == ["staffer"]
    site = client.get("/site.json").json()
    assert site["notification_types"]["liked"] == 5 and site["post_types"]["regular"] == 1
    assert {g["name"] for g in site["groups"]} == {"everyone", "members", "workers", "participants"}
    assert [c["name"] for c in site["categories"]] == ["News and events"]
    member_site = client.get("/site.json", headers=as_user(forum["ana"])).json()
    assert [c["name"] for c in member_site["categories"]] == ["News and events", "Members' lounge"]
    assert client.get("/site/basic-info.json").json()["title"]


def test_topics_created_by(client, forum):
    body = client.get("/topics/created-by/ana.json").json()
    assert [t["title"] for t in body["topic_list"]["topics"]] == ["General assembly in Lisbon"]


def test_html_escaping_in_titles(client, make_category, make_topic, staff):
    news = make_category("News and events")
    make_topic(staff, news, title="Tools & <tips> for co-ops")
    item = client.get("/latest.json").json()["topic_list"]["topics"][0]
    assert item["title"] == "Tools & <tips> for co-ops" and item["fancy_title"] == "Tools &amp; &lt;tips&gt; for co-ops"


def test_hidden_posts_are_left_out_for_everyone_but_staff(client, db, forum, as_user, staff):
    with db.write() as s:
        s.execute(Post.__table__.update().where(Post.id == forum["reply"].id).values(hidden=True))
    stream = client.get(f"/t/{forum['topic'].id}.json", headers=as_user(forum["ana"])).json()["post_stream"]["stream"]
    assert forum["reply"].id not in stream
    staff_stream = client.get(f"/t/{forum['topic'].id}.json", headers=as_user(staff)).json()["post_stream"]["stream"]
    assert forum["reply"].id in staff_stream
    with db.read() as s:
        assert s.scalar(select(Topic.posts_count)) == 3
    assert JSON


def test_avatar_templates_resolve(client, forum):
    template = client.get("/u/ana.json").json()["user"]["avatar_template"]
    r = client.get(template.replace("{size}", "90"))
    assert r.status_code == 200 and r.headers["content-type"].startswith("image/svg+xml") and b">A<" in r.content
    assert client.get("/letter_avatar_proxy/v4/letter/a/zzzzzz/90.png").status_code == 404


def test_rename_a_topic_and_report_reading_progress(client, db, forum, as_user):
    from forum.models import TopicUser

    t = forum["topic"]
    ana, bob = as_user(forum["ana"]), as_user(forum["bob"])
    r = client.put(f"/t/{t.slug}/{t.id}", headers=ana, data={"title": "General assembly in Porto"})
    assert r.status_code == 200 and r.json()["basic_topic"]["slug"] == "general-assembly-in-porto"
    assert client.put(f"/t/{t.id}.json", headers=bob, data={"title": "Bob renames it"}).status_code == 403
    r = client.post("/topics/timings", headers=bob, data={"topic_id": t.id, "topic_time": 3000,
                                                          "timings[1]": 1000, "timings[3]": 2000})
    assert r.status_code == 200 and r.content == b""
    with db.read() as s:
        row = s.get(TopicUser, (forum["bob"].id, t.id))
        assert row is not None and row.last_read_post_number == 3


def test_private_messages_stay_private_and_whispers_are_refused_not_published(client, forum, as_user):
    ana = as_user(forum["ana"])
    r = client.post("/posts.json", headers=ana, data={"raw": "Just between us two.", "title": "A private word",
                                                      "archetype": "private_message", "target_recipients": "bob"})
    assert r.status_code == 200 and r.json()["topic_id"]  # a private message (tests/test_private_messages.py)
    r = client.post("/posts.json", headers=ana, data={"raw": "Staff-only note.", "topic_id": forum["topic"].id,
                                                      "whisper": "true"})
    assert r.status_code == 422
    assert "A private word" not in client.get("/latest.json").text
    assert "Staff-only note" not in client.get(f"/t/{forum['topic'].id}.json").text
