"""Tags: who sees a tag and how many of its topics, tagging new topics (form and API), retagging,
the tag feed, search by tag, watching a tag, and the staff's tag and tag group management."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime

import feedparser
import pytest
from sqlalchemy import select

from forum import posting
from forum import tags as forum_tags
from forum.models import ModerationLog, Notification, Topic
from forum.permissions import Viewer
from tests.api.conftest import as_user, errors_of, make_key  # noqa: F401  (fixtures)
from tests.conftest import login, post_form
from tests.test_migrations import _insert, _write_forum_content, scratch_url  # noqa: F401  (fixture)

VIEWERS = ("anonymous", "participant", "member", "moderator")


@pytest.fixture
def make_tagged(db, settings):
    def make(user, category, title: str, tags: list[str]) -> Topic:
        with db.write() as session:
            post = posting.create_topic(session, settings, Viewer(user), title=title, raw="A report from the field.",
                                        category_id=category.id, tags=tags)
            return session.get(Topic, post.topic_id)

    return make


@pytest.fixture
def forum_with_tags(db, staff, people, make_category, make_tagged):
    """`italy` on a public topic and a members-only one; `ilo` only on the members-only one."""
    with db.write() as session:
        for name in ("italy", "ilo", "spain"):
            forum_tags.create_tag(session, Viewer(staff), name)
    public = make_category("Reports", "public")
    members = make_category("Delegates", "members_only")
    make_tagged(people["member"], public, "Worker co-ops in Bologna", ["italy"])
    make_tagged(people["member"], members, "Delegates meet the ILO in Rome", ["italy", "ilo"])
    return {"public": public, "members": members}


def _names(topic_json) -> list[str]:
    return [t["name"] for t in topic_json["tags"]]


def _client_as(make_client, people, who: str):
    client = make_client()
    if who != "anonymous":
        login(client, people[who].username)
    return client


EXPECTED = {  # viewer -> {tag: count}; a tag missing from the dict is hidden from the viewer
    "anonymous": {"italy": 1, "spain": 0},
    "participant": {"italy": 1, "spain": 0},
    "member": {"italy": 2, "ilo": 1, "spain": 0},
    "moderator": {"italy": 2, "ilo": 1, "spain": 0},
}


@pytest.mark.parametrize("who", VIEWERS)
def test_each_viewer_sees_the_tags_and_counts_of_the_topics_they_may_see(make_client, people, forum_with_tags, who):
    client = _client_as(make_client, people, who)
    listed = {t["name"]: t["count"] for t in client.get("/tags.json").json()["tags"]}
    assert listed == EXPECTED[who]
    page = client.get("/tags").text
    for name in ("italy", "ilo", "spain"):
        assert (f'href="/tag/{name}"' in page) == (name in EXPECTED[who])
    body = client.get("/tag/italy.json").json()
    assert [t["topic_count"] for t in body["topic_list"]["tags"]] == [EXPECTED[who]["italy"]]
    titles = {t["title"] for t in body["topic_list"]["topics"]}
    assert ("Delegates meet the ILO in Rome" in titles) == (who in ("member", "moderator"))
    assert all("italy" in t["tags"] for t in body["topic_list"]["topics"])


@pytest.mark.parametrize("path", ["/tag/ilo", "/tag/ilo.json", "/tag/ilo.rss"])
def test_a_tag_used_only_where_the_visitor_cannot_see_answers_404_and_shows_for_a_member(
        make_client, people, forum_with_tags, path):
    visitor = make_client()
    assert visitor.get(path).status_code == 404
    participant = _client_as(make_client, people, "participant")
    assert participant.get(path).status_code == 404
    member = _client_as(make_client, people, "member")
    if path.endswith(".rss"):  # feeds read with the browser's cookie ignored: a personal token opens it
        assert member.get(path).status_code == 404
    else:
        answer = member.get(path)
        assert answer.status_code == 200
        assert "Delegates meet the ILO in Rome" in html.unescape(answer.text)
    # A missing tag looks the same as a hidden one.
    assert visitor.get(path.replace("ilo", "nowhere")).status_code == 404


def test_the_tag_feed_holds_only_the_topics_its_reader_may_see(client, db, people, forum_with_tags, make_key):
    feed = feedparser.parse(client.get("/tag/italy.rss").content)
    assert feed.bozo == 0
    assert [e.title for e in feed.entries] == ["Worker co-ops in Bologna"]
    assert feed.entries[0].link.endswith("/t/worker-co-ops-in-bologna/1")
    # With the member's API key (Discourse's feed-reader path) the members-only topic is there too.
    key = make_key(people["member"])
    mine = feedparser.parse(client.get(f"/tag/italy.rss?api_key={key}&api_username=mei").content)
    assert sorted(e.title for e in mine.entries) == ["Delegates meet the ILO in Rome", "Worker co-ops in Bologna"]
    assert client.get(f"/tag/ilo.rss?api_key={key}&api_username=mei").status_code == 200


def test_rows_and_topic_pages_show_their_tags_as_links(client, people, forum_with_tags):
    latest = client.get("/latest").text
    assert 'href="/tag/italy"' in latest and 'href="/tag/ilo"' not in latest
    topic = client.get("/t/worker-co-ops-in-bologna/1")
    assert 'href="/tag/italy"' in topic.text
    assert client.get("/t/worker-co-ops-in-bologna/1.json").json()["tags"] == [
        {"id": 1, "name": "italy", "slug": "italy"}]
    items = client.get("/latest.json").json()["topic_list"]["topics"]
    assert [t["tags"] for t in items] == [["italy"]]


def test_category_and_tag_together(make_client, people, forum_with_tags):
    public, members = forum_with_tags["public"], forum_with_tags["members"]
    member = _client_as(make_client, people, "member")
    body = member.get(f"/tags/c/{members.slug}/{members.id}/italy.json").json()
    assert [t["title"] for t in body["topic_list"]["topics"]] == ["Delegates meet the ILO in Rome"]
    page = member.get(f"/tags/c/{public.slug}/{public.id}/italy")
    assert page.status_code == 200 and "Worker co-ops in Bologna" in page.text
    assert "Delegates meet" not in page.text
    visitor = make_client()
    assert visitor.get(f"/tags/c/{members.slug}/{members.id}/italy").status_code == 404
    assert visitor.get(f"/tags/c/{members.slug}/{members.id}/italy.json").status_code == 404


def test_a_member_tags_a_new_topic_in_the_form_and_is_told_what_is_wrong(client, db, staff, people, settings,
                                                                        forum_with_tags):
    public = forum_with_tags["public"]
    login(client, people["member"].username)
    form = client.get("/new-topic").text
    assert '<datalist id="tag-choices">' in form and '<option value="italy">' in form
    data = {"title": "Cooperatives in Valencia", "raw": "A report on Valencia.", "category": str(public.id)}
    unknown = post_form(client, "/new-topic", {**data, "tags": "spain, atlantis"}, csrf_from="/new-topic")
    assert unknown.status_code == 422 and "There is no tag “atlantis”." in html.unescape(unknown.text)
    settings.max_tags_per_topic = 2
    many = post_form(client, "/new-topic", {**data, "tags": "spain, italy, ilo"}, csrf_from="/new-topic")
    assert many.status_code == 422 and "A topic may have at most 2 tags." in html.unescape(many.text)
    with db.write() as session:
        forum_tags.set_category_tags(session, Viewer(staff), public.id, tag_names=["italy"], group_ids=[])
    refused = post_form(client, "/new-topic", {**data, "tags": "spain"}, csrf_from="/new-topic")
    assert refused.status_code == 422
    assert "The category does not allow the tag “spain”." in html.unescape(refused.text)
    with db.read() as session:
        assert session.scalar(select(Topic).where(Topic.title == "Cooperatives in Valencia")) is None
    made = post_form(client, "/new-topic", {**data, "tags": "Italy"}, csrf_from="/new-topic")
    assert made.status_code == 303
    assert 'href="/tag/italy"' in client.get(made.headers["location"]).text


def test_api_topics_take_tags_and_refuse_bad_ones(client, db, staff, people, forum_with_tags, as_user):
    public = forum_with_tags["public"]
    base = {"title": "Social co-ops in Spain", "raw": "Notes from Madrid and Seville.", "category": public.id}
    member = as_user(people["member"])
    made = client.post("/posts.json", data={**base, "tags[]": ["spain", "italy"]}, headers=member)
    assert made.status_code == 200, made.text
    topic = client.get(f"/t/{made.json()['topic_id']}.json", headers=member).json()
    assert _names(topic) == ["italy", "spain"]
    participant = as_user(people["participant"])
    hidden = client.post("/posts.json", data={**base, "title": "Trying a hidden tag", "tags[]": ["ilo"]},
                         headers=participant)
    assert hidden.status_code == 422 and errors_of(hidden) == ["There is no tag “ilo”."]
    many = client.post("/posts.json", data={**base, "title": "Too many tags here",
                                            "tags[]": ["a1", "a2", "a3", "a4", "a5", "a6"]}, headers=member)
    assert many.status_code == 422 and errors_of(many) == ["A topic may have at most 5 tags."]
    # Staff may bring a new tag into being by naming it (Discourse's default for staff).
    by_staff = client.post("/posts.json", data={**base, "title": "A new tag by staff", "tags[]": ["ica"]},
                           headers=as_user(staff))
    assert by_staff.status_code == 200
    assert client.get("/tag/ica.json").json()["topic_list"]["tags"][0]["topic_count"] == 1


def test_a_moderator_retags_and_someone_else_may_not(client, db, people, make_client, forum_with_tags, as_user):
    url = "/t/worker-co-ops-in-bologna/1.json"
    refused = client.put(url, data={"tags[]": ["spain"]}, headers=as_user(people["participant"]))
    assert refused.status_code == 403 and errors_of(refused)
    moved = client.put(url, data={"tags[]": ["spain", "italy"]}, headers=as_user(people["moderator"]))
    assert moved.status_code == 200, moved.text
    assert _names(client.get(url).json()) == ["italy", "spain"]
    bad = client.put(url, data={"tags[]": ["nowhere-tag"]}, headers=as_user(people["participant"]))
    assert bad.status_code == 403
    # The topic page's form, without JavaScript.
    moderator = _client_as(make_client, people, "moderator")
    assert 'href="/t/1/tags"' in moderator.get("/t/worker-co-ops-in-bologna/1").text
    done = post_form(moderator, "/t/1/tags", {"tags": "spain"}, csrf_from="/t/1/tags")
    assert done.status_code == 303
    assert _names(client.get(url).json()) == ["spain"]
    with db.read() as session:
        logged = session.scalars(select(ModerationLog).where(ModerationLog.action == "retag_topic")
                                 .order_by(ModerationLog.id)).all()
        assert [(e.actor_id, e.topic_id) for e in logged] == [(people["moderator"].id, 1)] * 2
    other = _client_as(make_client, people, "participant")
    assert 'href="/t/1/tags"' not in other.get("/t/worker-co-ops-in-bologna/1").text
    assert post_form(other, "/t/1/tags", {"tags": "italy"}).status_code == 403
    assert _names(client.get(url).json()) == ["spain"]


def test_search_by_tag_finds_only_visible_tagged_topics(make_client, people, forum_with_tags):
    visitor = make_client()
    found = visitor.get("/search.json", params={"q": "tags:italy"}).json()
    assert [t["title"] for t in found["topics"]] == ["Worker co-ops in Bologna"]
    assert visitor.get("/search.json", params={"q": "tag:ilo"}).json()["topics"] == []
    member = _client_as(make_client, people, "member")
    assert [t["title"] for t in member.get("/search.json", params={"q": "tags:ilo"}).json()["topics"]] == [
        "Delegates meet the ILO in Rome"]
    both = member.get("/search.json", params={"q": "tags:italy+ilo"}).json()["topics"]
    assert [t["title"] for t in both] == ["Delegates meet the ILO in Rome"]
    assert "Worker co-ops in Bologna" in html.unescape(visitor.get("/search", params={"q": "report tags:italy"}).text)


def test_watching_a_tag_notifies_of_new_topics_its_watcher_may_see(db, make_client, people, forum_with_tags,
                                                                   make_tagged, make_user):
    watchers = {}
    for who in ("participant", "member"):
        client = _client_as(make_client, people, who)
        answer = post_form(client, "/tag/italy/notification-level", {"notification_level": "3"},
                           csrf_from="/tag/italy")
        assert answer.status_code == 303
        watchers[who] = people[who]
    author = make_user("writer", tier="member")
    make_tagged(author, forum_with_tags["public"], "Open call from Turin", ["italy"])
    make_tagged(author, forum_with_tags["members"], "Members-only call from Milan", ["italy"])
    make_tagged(author, forum_with_tags["public"], "Untagged call from Lyon", [])
    with db.read() as session:
        def told(user):
            return sorted(session.scalars(select(Topic.title).join(Notification, Notification.topic_id == Topic.id)
                                          .where(Notification.user_id == user.id, Notification.kind == "new_topic")))
        assert told(people["member"]) == ["Members-only call from Milan", "Open call from Turin"]
        assert told(people["participant"]) == ["Open call from Turin"]


def test_staff_manage_tags_and_groups_and_others_cannot(client, db, staff, people, make_client, forum_with_tags,
                                                        as_user):
    created = client.post("/tag_groups.json", json={"tag_group": {"name": "Countries",
                                                                  "tag_names": ["italy", "France"]}},
                          headers=as_user(staff))
    assert created.status_code == 200, created.text
    assert created.json()["tag_group"]["tag_names"] == ["france", "italy"]
    groups = client.get("/tag_groups.json", headers=as_user(people["moderator"])).json()["tag_groups"]
    assert [g["name"] for g in groups] == ["Countries"]
    assert client.post("/tag_groups.json", json={"name": "Sectors"},
                       headers=as_user(people["member"])).status_code == 404
    renamed = client.put("/tag/italy.json", data={"tag[id]": "italia"}, headers=as_user(people["moderator"]))
    assert renamed.status_code == 200 and renamed.json()["tag"]["id"] == "italia"
    assert client.get("/tag/italy.json").status_code == 404
    assert client.get("/tag/italia.json").json()["topic_list"]["tags"][0]["topic_count"] == 1
    assert client.put("/tag/italia.json", data={"tag[id]": "bad name!"},
                      headers=as_user(staff)).status_code == 422
    assert client.put("/tag/italia.json", data={"tag[id]": "x"},
                      headers=as_user(people["member"])).status_code == 404
    # The admin page, without JavaScript.
    moderator = _client_as(make_client, people, "moderator")
    assert "Countries" in moderator.get("/admin/tags").text
    assert post_form(moderator, "/admin/tags", {"name": "Social Coops"}, csrf_from="/admin/tags").status_code == 303
    assert client.get("/tag/social-coops").status_code == 200
    taken = post_form(moderator, "/admin/tags", {"name": "italia"}, csrf_from="/admin/tags")
    assert taken.status_code == 409 and "already exists" in html.unescape(taken.text)
    member = _client_as(make_client, people, "member")
    assert member.get("/admin/tags").status_code in (403, 404)
    assert post_form(moderator, "/admin/tags/social-coops/delete", {}, csrf_from="/admin/tags").status_code == 303
    assert client.get("/tag/social-coops").status_code == 404
    with db.read() as session:
        actions = set(session.scalars(select(ModerationLog.action)))
    assert {"create_tag", "rename_tag", "delete_tag", "save_tag_group"} <= actions


def test_tag_names_are_lowercase_letters_digits_dash_and_underscore():
    assert forum_tags.check_name(" Social Coops ") == "social-coops"
    assert forum_tags.check_name("ILO_2026") == "ilo_2026"
    assert forum_tags.check_name("Österreich") == "österreich"
    for bad in ("a.b", "co/op", "#italy", "x" * 41, ""):
        with pytest.raises(Exception):  # noqa: B017
            forum_tags.check_name(bad)
    assert forum_tags.parse_names("italy, Spain ,,italy") == ["italy", "spain"]
    assert forum_tags.parse_names(["ilo", "ILO", ""]) == ["ilo"]


def test_migration_0018_adds_tags_to_a_forum_that_holds_data(scratch_url):
    """A forum at 0017 with content upgrades to 0018; its topic takes a tag, and the services read it."""
    from sqlalchemy import create_engine

    from forum.config import Settings
    from forum.db import Database
    from forum.migrate import upgrade
    from forum.models import User

    upgrade(scratch_url, "0017")
    _write_forum_content(scratch_url)
    upgrade(scratch_url, "0018")
    engine = create_engine(scratch_url)
    try:
        with engine.begin() as conn:
            topic_id = conn.execute(select(Topic.__table__.c.id)).scalar_one()
            tag_id = _insert(conn, "tags", name="kept", created_at=datetime.now(UTC))
            _insert(conn, "topic_tags", topic_id=topic_id, tag_id=tag_id, created_at=datetime.now(UTC))
    finally:
        engine.dispose()
    upgrade(scratch_url)
    settings = Settings(database_url=scratch_url)
    database = Database(settings)
    try:
        with database.read() as session:
            keeper = session.scalar(select(User))
            assert session.scalar(select(Topic.title)) == "Kept across upgrades"
            assert [(t.tag.name, t.count) for t in forum_tags.tag_list(session, Viewer(keeper))] == [("kept", 1)]
            assert [(t.tag.name, t.count) for t in forum_tags.tag_list(session, Viewer())] == [("kept", 1)]
        with database.write() as session:
            keeper = session.scalar(select(User))
            forum_tags.retag(session, settings, Viewer(keeper), topic_id, ["kept", "archive"])
        with database.read() as session:
            assert forum_tags.names_by_topic(session, [topic_id]) == {topic_id: ["archive", "kept"]}
    finally:
        database.dispose()


def test_a_private_feed_link_opens_a_hidden_tag_feed_for_its_owner_only(client, db, people, forum_with_tags):
    login(client, people["member"].username)
    page = client.get("/tag/ilo").text
    assert 'name="scope" value="tag:' in page
    made = post_form(client, "/my/feed-tokens", {"feed": "http://testserver/tag/ilo.rss"},
                     csrf_from="/my/preferences/feeds")
    (url, secret), = re.findall(r'value="(http://testserver/[^"?]+\?token=([A-Za-z0-9_-]+))"', made.text)
    assert url == f"http://testserver/tag/ilo.rss?token={secret}"
    assert "Tag: ilo" in client.get("/my/preferences/feeds").text
    reader = feedparser.parse(client.get(f"/tag/ilo.rss?token={secret}").content)
    assert [e.title for e in reader.entries] == ["Delegates meet the ILO in Rome"]
    # Made for this tag's feed: another tag's feed, and the feed without the token, answer 404.
    assert client.get(f"/tag/italy.rss?token={secret}").status_code == 404
    assert client.get("/tag/ilo.rss").status_code == 404


def test_staff_create_tags_by_naming_them_only_while_the_site_allows_it(client, staff, settings, forum_with_tags,
                                                                        as_user):
    settings.staff_create_tags_when_tagging = False
    base = {"title": "A tag nobody made", "raw": "Trying a brand new tag.", "category": forum_with_tags["public"].id}
    refused = client.post("/posts.json", data={**base, "tags[]": ["brand-new"]}, headers=as_user(staff))
    assert refused.status_code == 422 and errors_of(refused) == ["There is no tag “brand-new”."]
    assert client.get("/tag/brand-new.json").status_code == 404


def test_retagging_shows_at_once_on_pages_visitors_share(client, make_client, people, forum_with_tags, as_user):
    visitor = make_client()
    assert 'href="/tag/spain"' not in visitor.get("/latest").text
    assert 'href="/tag/spain"' not in visitor.get("/t/worker-co-ops-in-bologna/1").text
    client.put("/t/1.json", data={"tags[]": ["spain"]}, headers=as_user(people["moderator"]))
    assert 'href="/tag/spain"' in visitor.get("/latest").text
    assert 'href="/tag/italy"' not in visitor.get("/t/worker-co-ops-in-bologna/1").text
    assert visitor.get("/tag/spain.json").json()["topic_list"]["tags"][0]["topic_count"] == 1


def test_a_muted_tag_silences_a_watched_category(db, people, forum_with_tags, make_tagged, make_user):
    from forum import tracking
    from forum.models import WATCHING

    reader = make_user("rosa", tier="member")
    members = forum_with_tags["members"]
    with db.write() as session:
        tracking.set_category_level(session, Viewer(reader), members, WATCHING)
        forum_tags.set_tag_level(session, Viewer(reader), "ilo", 0)
    make_tagged(people["member"], members, "Another ILO session", ["ilo"])
    make_tagged(people["member"], members, "Budget of the delegation", [])
    with db.read() as session:
        titles = sorted(session.scalars(select(Topic.title).join(Notification, Notification.topic_id == Topic.id)
                                        .where(Notification.user_id == reader.id)))
    assert titles == ["Budget of the delegation"]


def test_a_muted_tag_keeps_its_topics_out_of_new_and_unread(client, db, people, forum_with_tags, make_tagged,
                                                            make_user, as_user):
    reader = make_user("rosa", tier="member")
    members = forum_with_tags["members"]
    with db.write() as session:
        forum_tags.set_tag_level(session, Viewer(reader), "ilo", 0)
    make_tagged(people["member"], members, "Another ILO session", ["ilo"])
    make_tagged(people["member"], members, "Budget of the delegation", [])
    login(client, "rosa")
    new = client.get("/new").text
    assert "Budget of the delegation" in new and "Another ILO session" not in new
    assert "Delegates meet the ILO in Rome" not in new  # an older topic carrying the muted tag
    assert "Worker co-ops in Bologna" in new
    # Still listed in /latest, as the topics of a muted category are.
    assert "Another ILO session" in client.get("/latest").text


def test_site_json_tells_who_may_tag_and_the_readers_top_tags(make_client, people, forum_with_tags):
    visitor = make_client().get("/site.json").json()
    assert (visitor["can_tag_topics"], visitor["can_create_tag"]) == (False, False)
    assert [t["name"] for t in visitor["top_tags"]] == ["italy", "spain"]
    member = _client_as(make_client, people, "member").get("/site.json").json()
    assert (member["can_tag_topics"], member["can_create_tag"]) == (True, False)
    assert [t["name"] for t in member["top_tags"]] == ["italy", "ilo", "spain"]
    assert _client_as(make_client, people, "moderator").get("/site.json").json()["can_create_tag"] is True


def test_the_author_changes_tags_with_the_first_posts_edit_form(client, db, people, forum_with_tags):
    login(client, people["member"].username)
    with db.read() as session:
        from forum.models import Post

        first = session.scalar(select(Post.id).where(Post.topic_id == 1, Post.post_number == 1))
    form = client.get(f"/posts/{first}/edit").text
    assert 'id="tags"' in form and 'value="italy"' in form
    bad = post_form(client, f"/posts/{first}/edit", {"raw": "A report from the field.", "title": "Worker co-ops in Bologna",
                                                    "tags": "italy, atlantis"}, csrf_from=f"/posts/{first}/edit")
    assert bad.status_code == 422 and "There is no tag “atlantis”." in html.unescape(bad.text)
    done = post_form(client, f"/posts/{first}/edit", {"raw": "A report from the field, revised.",
                                                     "title": "Worker co-ops in Bologna", "tags": "italy, spain"},
                     csrf_from=f"/posts/{first}/edit")
    assert done.status_code == 303
    assert _names(client.get("/t/1.json").json()) == ["italy", "spain"]
    assert 'href="/tag/spain"' in client.get("/t/worker-co-ops-in-bologna/1").text


def test_the_demo_tags_its_reports_and_hides_the_board_and_lounge_tags(db, settings, make_client, monkeypatch):
    from argon2 import PasswordHasher

    from forum import auth
    from forum.demo import load_demo
    from tests.conftest import PASSWORD

    monkeypatch.setattr(auth, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
    load_demo(db, settings, PASSWORD)
    visitor = {t["name"] for t in make_client().get("/tags.json").json()["tags"]}
    assert {"ilo", "international", "social-coops", "worker-buyouts", "portugal"} <= visitor
    assert not visitor & {"finance", "pay"}
    member = make_client()
    login(member, "marta.ferreira", PASSWORD)
    assert {"finance", "pay"} <= {t["name"] for t in member.get("/tags.json").json()["tags"]}


def test_a_persons_own_json_lists_the_tags_they_watch_track_and_mute(client, db, people, forum_with_tags, as_user):
    member = people["member"]
    for name, level in (("italy", "watching"), ("ilo", "tracking"), ("spain", "muted")):
        answer = client.put(f"/tag/{name}/notifications.json", data={"tag_notification[notification_level]": level},
                            headers=as_user(member))
        assert answer.status_code == 200, answer.text
    mine = client.get(f"/u/{member.username}.json", headers=as_user(member)).json()["user"]
    assert (mine["watched_tags"], mine["tracked_tags"], mine["muted_tags"]) == (["italy"], ["ilo"], ["spain"])
    # Watching a tag hidden from the asker is refused as a missing one.
    hidden = client.put("/tag/ilo/notifications.json", data={"notification_level": "3"},
                        headers=as_user(people["participant"]))
    assert hidden.status_code == 404
    assert "watched_tags" not in client.get(f"/u/{member.username}.json", headers=as_user(people["participant"])).json()["user"]
