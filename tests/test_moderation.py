"""Moderators acting on topics and posts, through the /admin pages, and the log of what they did."""

import re

import pytest
from sqlalchemy import select

from forum import moderation
from forum.models import Category, ModerationLog, Post, Topic, User
from forum.permissions import Viewer
from tests.conftest import login, post_form


@pytest.fixture
def mod_client(make_client, make_user):
    make_user("moe", tier="participant", moderator=True)
    c = make_client()
    login(c, "moe")
    return c


def mod_post(c, path, data=None):
    return post_form(c, path, data or {}, csrf_from="/admin")


def topic_path(topic):
    return f"/t/{topic.slug}/{topic.id}"


def numbers_and_raws(db, topic_id):
    with db.read() as s:
        return [(p.post_number, p.raw) for p in s.scalars(
            select(Post).where(Post.topic_id == topic_id).order_by(Post.post_number))]


def fresh_topic(db, topic_id) -> Topic:
    with db.read() as s:
        return s.get(Topic, topic_id)


def log_actions(db):
    with db.read() as s:
        return [e.action for e in s.scalars(select(ModerationLog).order_by(ModerationLog.id))]


# --- status -----------------------------------------------------------------------------------

def test_closed_topic_refuses_replies_with_a_notice_until_reopened(mod_client, make_client, make_user,
                                                                    make_category, make_topic):
    ana = make_user("ana", tier="member")
    topic = make_topic(ana, make_category("Assemblies"))
    r = mod_post(mod_client, f"/admin/topics/{topic.id}/status", {"change": "closed:1", "reason": "Decided."})
    assert r.status_code == 303

    bob = make_client()
    make_user("bob")
    login(bob, "bob")
    page = bob.get(topic_path(topic)).text
    assert "This topic is closed" in page and f'action="/t/{topic.id}/reply"' not in page
    r = post_form(bob, f"/t/{topic.id}/reply", {"raw": "One more thought."})
    assert r.status_code == 403 and "closed" in r.text
    assert "One more thought." in r.text  # the refused text is kept on the page

    mod_post(mod_client, f"/admin/topics/{topic.id}/status", {"change": "closed:0"})
    assert post_form(bob, f"/t/{topic.id}/reply", {"raw": "One more thought."}).status_code == 303
    assert log_actions(bob.app.state.db)[-2:] == ["close_topic", "open_topic"]


def test_pinned_topics_lead_their_category_and_globally_pinned_lead_latest(mod_client, client, make_user,
                                                                           make_category, make_topic):
    ana = make_user("ana", tier="member")
    news = make_category("News")
    old = make_topic(ana, news, title="An older announcement")
    make_topic(ana, news, title="A newer discussion")
    mod_post(mod_client, f"/admin/topics/{old.id}/status", {"change": "pinned:1"})

    category_page = client.get(f"/c/{news.slug}/{news.id}").text
    assert category_page.index("An older announcement") < category_page.index("A newer discussion")
    latest = client.get("/latest").text
    assert latest.index("A newer discussion") < latest.index("An older announcement")

    mod_post(mod_client, f"/admin/topics/{old.id}/status", {"change": "pinned_globally:1"})
    latest = client.get("/latest").text
    assert latest.index("An older announcement") < latest.index("A newer discussion")

    mod_post(mod_client, f"/admin/topics/{old.id}/status", {"change": "pinned:0"})
    assert not fresh_topic(client.app.state.db, old.id).pinned_globally


def test_archived_topic_takes_no_replies_edits_or_likes(mod_client, make_client, make_user, make_category,
                                                        make_topic, make_reply):
    ana = make_user("ana", tier="member")
    bob = make_user("bob")
    topic = make_topic(ana, make_category("Assemblies"))
    reply = make_reply(bob, topic)
    mod_post(mod_client, f"/admin/topics/{topic.id}/status", {"change": "archived:1"})
    c = make_client()
    login(c, "bob")
    assert post_form(c, f"/t/{topic.id}/reply", {"raw": "Late reply"}).status_code == 403
    assert post_form(c, f"/posts/{reply.id}/edit", {"raw": "Edited late"}).status_code == 403
    first = numbers_and_raws(c.app.state.db, topic.id)
    assert first[0][0] == 1
    with c.app.state.db.read() as s:
        first_id = s.scalar(select(Post.id).where(Post.topic_id == topic.id, Post.post_number == 1))
    assert post_form(c, f"/posts/{first_id}/like", {}).status_code == 403


def test_unlisted_topic_leaves_every_list_but_opens_by_link_for_those_allowed(mod_client, client, make_client,
                                                                             make_user, make_category,
                                                                             make_topic):
    ana = make_user("ana", tier="member")
    make_user("pia")
    public = make_category("News")
    lounge = make_category("Lounge", "members_only")
    listed_off = make_topic(ana, public, title="A quiet follow-up note")
    private = make_topic(ana, lounge, title="A members' quiet note")
    for t in (listed_off, private):
        mod_post(mod_client, f"/admin/topics/{t.id}/status", {"change": "visible:0"})

    assert "A quiet follow-up note" not in client.get("/latest").text
    assert "A quiet follow-up note" not in client.get(f"/c/{public.slug}/{public.id}").text
    assert client.get(topic_path(listed_off)).status_code == 200
    pia = make_client()
    login(pia, "pia")
    assert pia.get(topic_path(private)).status_code == 404
    assert "Unlisted" in mod_client.get(topic_path(listed_off)).text


def test_moving_a_topic_moves_its_counts_and_its_audience(mod_client, make_client, make_user, make_category,
                                                          make_topic, make_reply, db):
    ana = make_user("ana", tier="member")
    make_user("pia")
    public = make_category("News")
    lounge = make_category("Lounge", "members_only")
    topic = make_topic(ana, public, title="Budget talk in public")
    make_reply(ana, topic)
    r = mod_post(mod_client, f"/admin/topics/{topic.id}/category", {"category_id": str(lounge.id),
                                                                    "reason": "Internal matter"})
    assert r.status_code == 303
    with db.read() as s:
        assert (s.get(Category, public.id).topic_count, s.get(Category, public.id).post_count) == (0, 0)
        assert (s.get(Category, lounge.id).topic_count, s.get(Category, lounge.id).post_count) == (1, 2)
    pia = make_client()
    login(pia, "pia")
    assert pia.get(topic_path(topic)).status_code == 404
    with db.read() as s:
        entry = s.scalar(select(ModerationLog).where(ModerationLog.action == "move_topic"))
        assert entry.reason == "Internal matter" and entry.topic_id == topic.id


# --- moving posts and merging -----------------------------------------------------------------

def _thread(make_user, make_category, make_topic, make_reply, n=5):
    ana = make_user("ana", tier="member")
    bob = make_user("bob", tier="member")
    topic = make_topic(ana, make_category("Assemblies"), title="Venue and catering", raw="Where do we meet?")
    replies = [make_reply(bob if i % 2 else ana, topic, raw=f"Reply number {i}") for i in range(2, n + 1)]
    return ana, bob, topic, replies


def test_moving_posts_to_a_new_topic_keeps_their_order_and_renumbers_both_topics(
        mod_client, make_user, make_category, make_topic, make_reply, db, client):
    ana, bob, topic, replies = _thread(make_user, make_category, make_topic, make_reply, n=6)
    # Post 4 answers post 3; post 6 answers post 2.
    with db.write() as s:
        s.get(Post, replies[2].id).reply_to_post_number = 3
        s.get(Post, replies[4].id).reply_to_post_number = 2
    moving = [replies[1].id, replies[2].id]  # posts 3 and 4
    catering = make_category("Catering")
    r = post_form(mod_client, f"/admin/topics/{topic.id}/move-posts",
                  {"post_ids": moving, "destination": "new", "title": "Catering options",
                   "category_id": str(catering.id)}, csrf_from="/admin")
    assert r.status_code == 303
    new_id = int(r.headers["location"].rsplit("/", 1)[1])

    assert numbers_and_raws(db, new_id) == [(1, "Reply number 3"), (2, "Reply number 4")]
    assert numbers_and_raws(db, topic.id) == [(1, "Where do we meet?"), (2, "Reply number 2"),
                                              (3, "Reply number 5"), (4, "Reply number 6")]
    with db.read() as s:
        moved_reply = s.get(Post, replies[2].id)
        assert moved_reply.reply_to_post_number == 1  # still answers the post it answered
        assert s.get(Post, replies[4].id).reply_to_post_number == 2
        source, new = s.get(Topic, topic.id), s.get(Topic, new_id)
        assert (source.posts_count, source.highest_post_number) == (4, 4)
        assert (new.posts_count, new.highest_post_number, new.category_id) == (2, 2, catering.id)
        assert new.user_id == bob.id  # the author of its first post
        assert s.get(Category, catering.id).topic_count == 1
    page = client.get(f"/t/catering-options/{new_id}").text
    assert page.index("Reply number 3") < page.index("Reply number 4")
    # The source's page shows its renumbered posts with no gap.
    source_page = client.get(topic_path(topic)).text
    assert 'id="post_4"' in source_page and 'id="post_5"' not in source_page


def test_moving_posts_to_an_existing_topic_appends_them_after_its_last_post(
        mod_client, make_user, make_category, make_topic, make_reply, db):
    ana, bob, topic, replies = _thread(make_user, make_category, make_topic, make_reply, n=4)
    other = make_topic(ana, make_category("Catering"), title="Catering thread", raw="Menus go here.")
    r = post_form(mod_client, f"/admin/topics/{topic.id}/move-posts",
                  {"post_ids": [replies[0].id, replies[2].id], "destination": "existing",
                   "destination_topic_id": str(other.id)}, csrf_from="/admin")
    assert r.status_code == 303 and r.headers["location"] == f"/admin/topics/{other.id}"
    assert numbers_and_raws(db, other.id) == [(1, "Menus go here."), (2, "Reply number 2"), (3, "Reply number 4")]
    assert numbers_and_raws(db, topic.id) == [(1, "Where do we meet?"), (2, "Reply number 3")]


def test_posts_of_another_topic_cannot_be_moved_from_here_and_nothing_changes(mod_client, make_user, make_category,
                                                                             make_topic, make_reply, db):
    ana, bob, topic, replies = _thread(make_user, make_category, make_topic, make_reply, n=3)
    elsewhere = make_reply(ana, make_topic(ana, topic.category, title="Another topic entirely"))
    before = numbers_and_raws(db, topic.id)
    r = post_form(mod_client, f"/admin/topics/{topic.id}/move-posts",
                  {"post_ids": [elsewhere.id, replies[0].id], "destination": "new", "title": "Split off here",
                   "category_id": str(topic.category_id)}, csrf_from="/admin")
    assert r.status_code == 422 and "not in this topic" in r.text
    assert 'value="Split off here"' in r.text
    assert numbers_and_raws(db, topic.id) == before
    with db.read() as s:
        assert s.scalar(select(Topic).where(Topic.title == "Split off here")) is None


def test_merging_appends_every_post_in_order_and_deletes_the_emptied_topic(
        mod_client, client, make_user, make_category, make_topic, make_reply, db):
    ana, bob, topic, replies = _thread(make_user, make_category, make_topic, make_reply, n=3)
    target = make_topic(bob, topic.category, title="The main venue thread", raw="Main thread opens.")
    r = post_form(mod_client, f"/admin/topics/{topic.id}/merge", {"destination_topic_id": str(target.id)},
                  csrf_from="/admin")
    assert r.status_code == 303
    assert numbers_and_raws(db, target.id) == [(1, "Main thread opens."), (2, "Where do we meet?"),
                                               (3, "Reply number 2"), (4, "Reply number 3")]
    # The emptied topic's address leads to its posts (tests/test_moving_posts.py has the details).
    moved = client.get(topic_path(topic), follow_redirects=False)
    assert (moved.status_code, moved.headers["location"]) == (301, f"/t/{target.slug}/{target.id}/2")
    with db.read() as s:
        assert s.get(Category, topic.category_id).topic_count == 1
        assert s.get(Topic, target.id).posts_count == 4
    assert "merge_topic" in log_actions(db)


# --- editing, hiding, deleting ----------------------------------------------------------------

def test_staff_edit_keeps_a_revision_with_reason_and_readers_see_a_diff(
        mod_client, make_client, make_user, make_category, make_topic, make_reply, db):
    ana = make_user("ana", tier="member")
    topic = make_topic(ana, make_category("Assemblies"))
    reply = make_reply(ana, topic, raw="Call me on 555 1234 tonight.")
    r = post_form(mod_client, f"/posts/{reply.id}/edit",
                  {"raw": "Call me tonight.", "edit_reason": "Removed a phone number"}, csrf_from="/admin")
    assert r.status_code == 303
    reader = make_client()
    page = reader.get(f"/posts/{reply.id}/revisions")
    assert page.status_code == 200
    assert "Removed a phone number" in page.text and "Changes by moe" in page.text
    assert re.search(r"<del>on 555 1234 ?</del>", page.text)
    with db.read() as s:
        entry = s.scalar(select(ModerationLog).where(ModerationLog.action == "edit_post"))
        assert entry.reason == "Removed a phone number" and entry.target_user_id == ana.id


def test_hidden_post_is_shown_only_to_its_author_and_staff(mod_client, make_client, make_user, make_category,
                                                           make_topic, make_reply):
    ana = make_user("ana", tier="member")
    bob = make_user("bob")
    topic = make_topic(ana, make_category("Assemblies"))
    reply = make_reply(bob, topic, raw="Something heated about the budget.")
    assert mod_post(mod_client, f"/admin/posts/{reply.id}/hide", {"reason": "Cool down"}).status_code == 303

    anon = make_client()
    assert "Something heated" not in anon.get(topic_path(topic)).text
    assert anon.get(f"/posts/{reply.id}/revisions").status_code == 404
    assert "Something heated" not in anon.get("/u/bob").text
    author = make_client()
    login(author, "bob")
    assert "Something heated" in author.get(topic_path(topic)).text
    assert "Something heated" in mod_client.get(topic_path(topic)).text

    mod_post(mod_client, f"/admin/posts/{reply.id}/unhide")
    assert "Something heated" in anon.get(topic_path(topic)).text


def test_staff_delete_and_restore_a_reply_and_a_whole_topic(mod_client, client, make_user, make_category,
                                                            make_topic, make_reply, db):
    ana = make_user("ana", tier="member")
    category = make_category("Assemblies")
    topic = make_topic(ana, category)
    reply = make_reply(ana, topic, raw="A reply to remove.")
    assert mod_post(mod_client, f"/admin/posts/{reply.id}/delete").status_code == 303
    assert fresh_topic(db, topic.id).posts_count == 1
    assert "A reply to remove." not in client.get(topic_path(topic)).text
    assert mod_post(mod_client, f"/admin/posts/{reply.id}/restore").status_code == 303
    assert fresh_topic(db, topic.id).posts_count == 2
    assert "A reply to remove." in client.get(topic_path(topic)).text

    assert mod_post(mod_client, f"/admin/topics/{topic.id}/delete", {"reason": "Duplicate"}).status_code == 303
    assert client.get(topic_path(topic)).status_code == 404
    with db.read() as s:
        assert s.get(Category, category.id).topic_count == 0
    assert mod_post(mod_client, f"/admin/topics/{topic.id}/restore").status_code == 303
    assert client.get(topic_path(topic)).status_code == 200
    with db.read() as s:
        assert s.get(Category, category.id).topic_count == 1
    assert log_actions(db) == ["create_category", "delete_post", "restore_post", "delete_topic", "restore_topic"]


# --- slow mode and new participants -----------------------------------------------------------

def test_slow_mode_lets_each_person_reply_once_per_interval_but_not_staff(mod_client, make_client, make_user,
                                                                          make_category, make_topic):
    ana = make_user("ana", tier="member")
    make_user("bob", tier="member")
    topic = make_topic(ana, make_category("Heated debate"))
    assert mod_post(mod_client, f"/admin/topics/{topic.id}/slow-mode", {"seconds": "3600"}).status_code == 303
    bob = make_client()
    login(bob, "bob")
    assert "Slow mode" in bob.get(topic_path(topic)).text
    assert post_form(bob, f"/t/{topic.id}/reply", {"raw": "My first point."}).status_code == 303
    r = post_form(bob, f"/t/{topic.id}/reply", {"raw": "And another point right away."})
    assert r.status_code == 429 and "slow mode" in r.text
    assert "And another point right away." in r.text
    assert post_form(mod_client, f"/t/{topic.id}/reply", {"raw": "Staff note one."}).status_code == 303
    assert post_form(mod_client, f"/t/{topic.id}/reply", {"raw": "Staff note two."}).status_code == 303
    r = mod_post(mod_client, f"/admin/topics/{topic.id}/slow-mode", {"seconds": "-5"})
    assert r.status_code == 422 and "Slow mode is 0" in r.text


def test_new_participants_wait_between_posts_per_category_and_site_wide(make_client, make_user, make_category,
                                                                        make_topic, db, staff):
    ana = make_user("ana", tier="member")
    make_user("newbie", tier="participant")
    calm = make_category("Calm corner")
    busy = make_category("Busy corner")
    topic_calm = make_topic(ana, calm)
    topic_busy = make_topic(ana, busy)
    admin = make_client()
    login(admin, staff.username)
    r = post_form(admin, f"/admin/categories/{busy.id}/settings",
                  {"name": "Busy corner", "description": "", "color": "0088CC", "parent_id": "",
                   "new_participant_post_interval": "600"}, csrf_from="/admin")
    assert r.status_code == 200
    newbie = make_client()
    login(newbie, "newbie")
    assert post_form(newbie, f"/t/{topic_calm.id}/reply", {"raw": "Hello calm corner."}).status_code == 303
    r = post_form(newbie, f"/t/{topic_busy.id}/reply", {"raw": "Hello busy corner."})
    assert r.status_code == 429 and "New participants wait 600 seconds" in r.text
    # Members are not new participants.
    member = make_client()
    login(member, "ana")
    assert post_form(member, f"/t/{topic_busy.id}/reply", {"raw": "Member reply one."}).status_code == 303
    assert post_form(member, f"/t/{topic_busy.id}/reply", {"raw": "Member reply two."}).status_code == 303
    # A site-wide interval applies everywhere, also to starting topics.
    r = post_form(admin, "/admin/settings", {"signup_mode": "open", "new_participant_post_interval": "120"},
                  csrf_from="/admin")
    assert r.status_code == 200
    r = post_form(newbie, "/new-topic", {"title": "A question from a newcomer", "raw": "How do I join?",
                                         "category": str(calm.id)})
    assert r.status_code == 429
    with db.write() as s:  # an account older than the new-participant period is not limited
        from datetime import timedelta

        from forum.models import utcnow
        user = s.scalar(select(User).where(User.username == "newbie"))
        user.created_at = utcnow() - timedelta(days=30)
    assert post_form(newbie, f"/t/{topic_busy.id}/reply", {"raw": "Hello busy corner."}).status_code == 303


# --- the log ----------------------------------------------------------------------------------

def test_moderation_log_filters_by_action_moderator_and_person(make_client, make_user, make_category, make_topic,
                                                               make_reply, db, staff):
    ana = make_user("ana", tier="member")
    bob = make_user("bob")
    moe = make_user("moe", moderator=True)
    topic = make_topic(ana, make_category("Assemblies"))
    reply = make_reply(bob, topic)
    with db.write() as s:
        moderation.set_topic_status(s, Viewer(moe), topic.id, "closed", True, reason="Wrapped up")
        moderation.hide_post(s, Viewer(staff), reply.id, reason="Off colour")
    c = make_client()
    login(c, "moe")

    def table(params=None):
        html = c.get("/admin/log", params=params or {}).text
        found = re.search(r'<table class="modlog">.*?</table>', html, re.S)
        return found.group(0) if found else ""

    everything = table()
    assert "closed topic" in everything and "hid post" in everything and "Wrapped up" in everything
    by_moe = table({"by": "moe"})
    assert "closed topic" in by_moe and "hid post" not in by_moe
    about_bob = table({"user": "bob"})
    assert "hid post" in about_bob and "closed topic" not in about_bob
    hides = table({"action": "hide_post"})
    assert "Off colour" in hides and "Wrapped up" not in hides
    assert table({"by": "nobody-of-that-name"}) == ""
