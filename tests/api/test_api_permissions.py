"""The API sees and does what the user could in the browser, no more: tiers × category presets."""

import pytest

from forum.models import CREATE, NONE, REPLY, SEE, User
from tests.api.conftest import JSON
from tests.conftest import SEES, VIEWERS


@pytest.mark.parametrize("preset", list(SEES))
@pytest.mark.parametrize("who", VIEWERS)
def test_api_reads_exactly_what_each_tier_may_see(preset, who, client, db, people, make_category, make_topic,
                                                   make_reply, staff, as_user):
    category = make_category("Secret garden", preset)
    seeds = client.post("/uploads.json", headers=as_user(staff), files={"file": ("seed list.txt", b"Tomatoes\n")}).json()
    topic = make_topic(staff, category, title="Seeds for the spring exchange",
                       raw="We swap seeds in March. " + seeds["markdown"])
    reply = make_reply(staff, topic, raw="Bring labelled envelopes.")
    headers = {"Accept": JSON} if who == "anonymous" else as_user(people[who])
    allowed = who in SEES[preset]
    expected = 200 if allowed else 404

    def get(path, **params):
        return client.get(path, headers=headers, params=params)

    for path in (f"/t/{topic.id}.json", f"/t/{topic.slug}/{topic.id}.json", f"/t/{topic.slug}/{topic.id}/2.json",
                 f"/t/{topic.id}/posts.json", f"/posts/{reply.id}.json", f"/posts/by_number/{topic.id}/2.json",
                 f"/c/{category.id}.json", f"/c/{category.slug}/{category.id}.json", f"/c/{category.id}/show.json",
                 f"/c/{category.slug}/l/latest.json"):
        assert get(path).status_code == expected, path
    assert get(f"/t/{topic.slug}/{topic.id}").status_code == expected  # the bare path with Accept: JSON
    assert get(seeds["url"]).status_code == expected, seeds
    assert get(seeds["short_path"]).status_code == expected
    assert get("/post_action_users.json", id=reply.id, post_action_type_id=2).status_code == expected

    for path, params in (("/latest.json", {}), ("/top.json", {}), ("/posts.json", {}), ("/search.json", {"q": "seeds"}),
                         ("/categories.json", {}), ("/site.json", {}), ("/topics/created-by/staffer.json", {})):
        body = get(path, **params).text
        assert ("Seeds for the spring exchange" in body or "Secret garden" in body) == allowed, path
        assert "labelled envelopes" not in body or allowed, path
    profile = get("/u/staffer.json").json()["user"]
    assert (profile["topic_count"], profile["post_count"]) == ((1, 2) if allowed else (0, 0))
    stats = get("/about.json").json()["about"]["stats"]
    assert (stats["topic_count"], stats["post_count"]) == ((1, 2) if allowed else (0, 0))

    # Drafts: a reply draft only in a topic one may see; a visitor has none.
    draft = client.post("/drafts.json", headers=headers,
                        data={"draft_key": f"topic_{topic.id}", "sequence": "0", "data": '{"reply": "Seeds?"}'})
    assert draft.status_code == (403 if who == "anonymous" else expected), draft.text
    assert get(f"/drafts/topic_{topic.id}.json").status_code == (403 if who == "anonymous" else expected)

    # Writing: those who see the category may reply here (every preset grants `create` to its audience).
    r = client.post("/posts.json", headers=headers, data={"raw": "A reply through the API.", "topic_id": topic.id})
    if who == "anonymous":
        assert r.status_code == 403
    else:
        assert r.status_code == expected, r.text
        r = client.post("/post_actions.json", headers=headers, data={"id": reply.id, "post_action_type_id": 2})
        assert r.status_code == expected
        r = client.post("/posts.json", headers=headers,
                        data={"raw": "A new topic body.", "title": "A topic from the API", "category": category.id})
        assert r.status_code == (200 if allowed else 422)  # an unseen category is "no such category"


@pytest.mark.parametrize("level, can_reply, can_create", [(SEE, False, False), (REPLY, True, False),
                                                          (CREATE, True, True)])
def test_levels_decide_api_writes_as_on_pages(client, make_user, make_category, make_topic, staff, as_user,
                                              level, can_reply, can_create):
    pia = make_user("pia", tier="participant")
    category = make_category("Introductions", levels={"everyone": NONE, "participant": level,
                                                      "worker": CREATE, "member": CREATE})
    topic = make_topic(staff, category)
    headers = as_user(pia)
    details = client.get(f"/t/{topic.id}.json", headers=headers).json()["details"]
    assert details["can_create_post"] is can_reply
    r = client.post("/posts.json", headers=headers, data={"raw": "Hello from a participant co-op.", "topic_id": topic.id})
    assert r.status_code == (200 if can_reply else 403)
    r = client.post("/posts.json", headers=headers,
                    data={"raw": "Some body text.", "title": "My new topic here", "category": category.id})
    assert r.status_code == (200 if can_create else 403)
    show = client.get(f"/c/{category.id}/show.json", headers=headers).json()["category"]
    assert show["permission"] == {SEE: 3, REPLY: 2, CREATE: 1}[level]
    assert client.get(f"/c/{category.id}.json", headers=headers).json()["topic_list"]["can_create_topic"] is can_create


def test_a_lower_tier_takes_effect_on_the_next_api_request(client, db, make_user, make_category, make_topic, staff,
                                                            as_user):
    mei = make_user("mei", tier="member")
    lounge = make_category("Members' lounge", "members_only")
    topic = make_topic(staff, lounge, title="Lounge chat about pensions")
    headers = as_user(mei)
    assert client.get(f"/t/{topic.id}.json", headers=headers).status_code == 200
    with db.write() as s:
        s.get(User, mei.id).tier = "participant"
    assert client.get(f"/t/{topic.id}.json", headers=headers).status_code == 404
    assert "Lounge chat" not in client.get("/latest.json", headers=headers).text


def test_an_all_users_key_sees_as_the_named_user_not_as_its_maker(client, make_user, make_category, make_topic,
                                                                   staff, make_key):
    make_user("pia", tier="participant")
    lounge = make_category("Members' lounge", "members_only")
    topic = make_topic(staff, lounge, title="Lounge chat about pensions")
    key = make_key()  # made by an admin, for all users
    r = client.get(f"/t/{topic.id}.json", headers={"Api-Key": key, "Api-Username": "pia"})
    assert r.status_code == 404
    r = client.get(f"/t/{topic.id}.json", headers={"Api-Key": key, "Api-Username": "staffer"})
    assert r.status_code == 200


def test_deleted_posts_are_their_author_and_staff_only_through_the_api(client, db, make_user, make_category,
                                                                      make_topic, make_reply, staff, as_user):
    from forum import posting
    from forum.permissions import Viewer

    mei = make_user("mei", tier="member")
    news = make_category("News and events")
    topic = make_topic(staff, news)
    reply = make_reply(mei, topic, raw="A regrettable remark about budgets.")
    with db.write() as s:
        posting.delete_post(s, Viewer(mei), post_id=reply.id)
    pia = make_user("pia")
    assert client.get(f"/posts/{reply.id}.json", headers=as_user(pia)).status_code == 404
    assert "regrettable" not in client.get(f"/t/{topic.id}.json", headers=as_user(pia)).text
    assert "regrettable" not in client.get("/posts.json", headers=as_user(pia)).text
    # Its author still reads it, marked as deleted, as on the topic page.
    own = client.get(f"/posts/{reply.id}.json", headers=as_user(mei)).json()
    assert "regrettable" in own["cooked"] and own["deleted_at"] is not None
    assert client.get(f"/posts/{reply.id}.json", headers=as_user(staff)).status_code == 200
    shown = client.get(f"/t/{topic.id}.json", params={"show_deleted": "true"}, headers=as_user(staff)).json()
    assert reply.id in shown["post_stream"]["stream"]
