"""What follows posts when moderators move or merge them: old addresses, readers' places, notifications,
and the first post (copied, as in Discourse)."""

import html

from sqlalchemy import select

from forum import merges, moderation, posting, tracking
from forum.config import Settings
from forum.db import Database
from forum.migrate import upgrade
from forum.models import ModerationLog, MovedPost, Post, PostAction, Topic, TopicUser, User
from forum.permissions import Viewer
from tests.conftest import login, post_form
from tests.test_migrations import _revisions, _write_forum_content, scratch_url  # noqa: F401  (fixture)


def browser(make_client, username):
    c = make_client()
    login(c, username)
    return c


def mod_post(c, path, data):
    return post_form(c, path, data, csrf_from="/admin")


def numbers_and_raws(db, topic_id):
    with db.read() as s:
        return [(p.post_number, p.raw) for p in s.scalars(
            select(Post).where(Post.topic_id == topic_id).order_by(Post.post_number))]


def post_id(db, topic_id, number):
    with db.read() as s:
        return s.scalar(select(Post.id).where(Post.topic_id == topic_id, Post.post_number == number))


def read_up_to(db, user, topic, number):
    with db.write() as s:
        tracking.mark_read(s, Viewer(user), s.get(Topic, topic.id), number)


def last_read(db, user, topic_id):
    with db.read() as s:
        row = s.get(TopicUser, (user.id, topic_id))
        return None if row is None else row.last_read_post_number


# --- merged topics keep their addresses -------------------------------------------------------

def _merged_pair(make_user, make_category, make_topic, make_reply, make_client, *, preset="public"):
    ana = make_user("ana", tier="member")
    make_user("moe", moderator=True)
    old = make_topic(ana, make_category("Venues"), title="Venue for the assembly", raw="Where shall we meet?")
    make_reply(ana, old, raw="The library has a room.")
    make_reply(ana, old, raw="The bakery has a back room.")
    target = make_topic(ana, make_category("Assembly", preset), title="Assembly planning", raw="Planning starts.")
    make_reply(ana, target, raw="Date first, then venue.")
    moe = browser(make_client, "moe")
    r = mod_post(moe, f"/admin/topics/{old.id}/merge", {"destination_topic_id": str(target.id)})
    assert r.status_code == 303
    return old, target, moe


def test_a_merged_topics_old_addresses_redirect_to_where_its_posts_went(make_user, make_category, make_topic,
                                                                         make_reply, make_client, client, db):
    old, target, moe = _merged_pair(make_user, make_category, make_topic, make_reply, make_client)
    # The target had 2 posts: the old topic's posts 1, 2, 3 are now its posts 3, 4, 5.
    assert numbers_and_raws(db, target.id)[2:] == [(3, "Where shall we meet?"), (4, "The library has a room."),
                                                   (5, "The bakery has a back room.")]
    base = f"/t/{target.slug}/{target.id}"
    for path, location in [
        (f"/t/{old.slug}/{old.id}", f"{base}/3"),
        (f"/t/{old.slug}/{old.id}?page=2", f"{base}/3"),
        (f"/t/any-slug/{old.id}/3", f"{base}/5"),
        (f"/t/{old.slug}/{old.id}/2", f"{base}/4"),
        (f"/t/{old.slug}/{old.id}/99", f"{base}/3"),  # a number it never had: the topic's start
        (f"/t/{old.id}", f"{base}/3"),
        (f"/t/{old.id}.json", f"{base}/3.json"),
        (f"/t/{old.slug}/{old.id}.json", f"{base}/3.json"),
        (f"/t/{old.slug}/{old.id}/2.json", f"{base}/4.json"),
        (f"/t/{old.id}/2.json", f"{base}/4.json"),
    ]:
        r = client.get(path, follow_redirects=False)
        assert (r.status_code, r.headers.get("location")) == (301, location), path
    # Followed, the address shows the post in its new topic, to visitors and staff alike.
    page = client.get(f"/t/{old.slug}/{old.id}/2")
    assert page.status_code == 200 and "The library has a room." in page.text and 'id="post_4"' in page.text
    assert moe.get(f"/t/{old.slug}/{old.id}", follow_redirects=False).headers["location"] == f"{base}/3"
    assert client.get(f"/t/{old.id}.json").json()["id"] == target.id
    with db.read() as s:
        assert s.scalar(select(MovedPost.old_post_number).where(MovedPost.post_id == post_id(db, target.id, 5))) == 3


def test_only_those_who_may_see_the_destination_are_redirected(make_user, make_category, make_topic, make_reply,
                                                               make_client, db):
    old, target, moe = _merged_pair(make_user, make_category, make_topic, make_reply, make_client,
                                    preset="members_only")
    make_user("pat", tier="participant")
    pat, anonymous = browser(make_client, "pat"), make_client()
    for c in (pat, anonymous):
        for path in (f"/t/{old.slug}/{old.id}", f"/t/{old.slug}/{old.id}/2", f"/t/{old.id}", f"/t/{old.id}.json",
                     f"/t/{old.slug}/{old.id}/2.json"):
            r = c.get(path, follow_redirects=False)
            assert r.status_code == 404, path
            assert target.title not in r.text
    ana = browser(make_client, "ana")
    r = ana.get(f"/t/{old.slug}/{old.id}/2", follow_redirects=False)
    assert (r.status_code, r.headers["location"]) == (301, f"/t/{target.slug}/{target.id}/4")


def test_redirects_follow_later_merges_and_hidden_posts_lead_to_the_topic(make_user, make_category, make_topic,
                                                                          make_reply, make_client, client, db):
    old, target, moe = _merged_pair(make_user, make_category, make_topic, make_reply, make_client)
    final = make_topic(target.user, target.category, title="Everything about the assembly", raw="One thread.")
    assert mod_post(moe, f"/admin/topics/{target.id}/merge", {"destination_topic_id": str(final.id)}).status_code == 303
    # The old topic's post 2 was the target's post 4, and is now the final topic's post 5.
    r = client.get(f"/t/{old.slug}/{old.id}/2", follow_redirects=False)
    assert r.headers["location"] == f"/t/{final.slug}/{final.id}/5"
    r = client.get(f"/t/{target.slug}/{target.id}/4", follow_redirects=False)
    assert r.headers["location"] == f"/t/{final.slug}/{final.id}/5"
    # A post the visitor may not read is not pointed at; its topic still is.
    assert mod_post(moe, f"/admin/posts/{post_id(db, final.id, 5)}/hide", {"reason": "Off"}).status_code == 303
    r = client.get(f"/t/{old.slug}/{old.id}/2", follow_redirects=False)
    assert r.headers["location"] == f"/t/{final.slug}/{final.id}"


def test_a_deleted_topic_that_was_not_merged_still_answers_404(make_user, make_category, make_topic, make_client,
                                                               client):
    ana = make_user("ana", tier="member")
    make_user("moe", moderator=True)
    topic = make_topic(ana, make_category("Venues"))
    moe = browser(make_client, "moe")
    assert mod_post(moe, f"/admin/topics/{topic.id}/delete", {}).status_code == 303
    assert client.get(f"/t/{topic.slug}/{topic.id}", follow_redirects=False).status_code == 404
    assert client.get(f"/t/{topic.id}.json", follow_redirects=False).status_code == 404
    assert moe.get(f"/t/{topic.slug}/{topic.id}", follow_redirects=False).status_code == 200


# --- moving posts: readers' places and notifications ------------------------------------------

def _six_posts(make_user, make_category, make_topic, make_reply):
    ana, bob = make_user("ana", tier="member"), make_user("bob", tier="member")
    topic = make_topic(ana, make_category("Assembly"), title="Venue and catering", raw="Post 1: where and what?")
    for n in range(2, 7):
        make_reply(ana, topic, raw=f"Post {n} for @bob to read.")
    return ana, bob, topic


def test_readers_keep_their_place_in_both_topics_after_posts_are_moved(make_user, make_category, make_topic,
                                                                       make_reply, make_client, db):
    ana, bob, topic = _six_posts(make_user, make_category, make_topic, make_reply)
    cyd, dee = make_user("cyd", tier="member"), make_user("dee", tier="member")
    read_up_to(db, bob, topic, 5)   # read posts 1-5 of 6
    read_up_to(db, cyd, topic, 2)   # read posts 1-2
    read_up_to(db, dee, topic, 6)   # read everything
    make_user("moe", moderator=True)
    moe = browser(make_client, "moe")
    r = mod_post(moe, f"/admin/topics/{topic.id}/move-posts",
                 {"post_ids": [post_id(db, topic.id, 3), post_id(db, topic.id, 4)], "destination": "new",
                  "title": "Catering options", "category_id": str(topic.category_id)})
    assert r.status_code == 303
    new_id = int(r.headers["location"].rsplit("/", 1)[1])
    # The source is now old posts 1, 2, 5, 6 numbered 1-4; the new topic old posts 3, 4 as 1-2.
    assert [raw[:6] for _n, raw in numbers_and_raws(db, topic.id)] == ["Post 1", "Post 2", "Post 5", "Post 6"]
    assert (last_read(db, bob, topic.id), last_read(db, bob, new_id)) == (3, 2)
    assert (last_read(db, cyd, topic.id), last_read(db, cyd, new_id)) == (2, None)
    assert (last_read(db, dee, topic.id), last_read(db, dee, new_id)) == (4, 2)
    # What bob sees: one unread post left where he was, which is old post 6 (now 4), and nothing
    # new to read in the split-off topic made of posts he had read.
    listing = html.unescape(browser(make_client, "bob").get("/latest").text)
    assert f'href="/t/{topic.slug}/{topic.id}/4#post_4"' in listing and "1 unread" in listing
    assert "Catering options" in listing and f"/t/catering-options/{new_id}/3#post_3" not in listing
    cyd_view = browser(make_client, "cyd")
    assert "Catering options" in cyd_view.get("/new").text


def test_moving_posts_into_an_existing_topic_adds_to_the_place_of_readers_who_were_caught_up(
        make_user, make_category, make_topic, make_reply, make_client, db):
    ana, bob, topic = _six_posts(make_user, make_category, make_topic, make_reply)
    other = make_topic(ana, topic.category, title="Catering thread", raw="Menus go here.")
    make_reply(ana, other, raw="Vegetarian by default.")
    cyd = make_user("cyd", tier="member")
    read_up_to(db, bob, topic, 6)
    read_up_to(db, bob, other, 2)   # caught up in both
    read_up_to(db, cyd, topic, 6)
    read_up_to(db, cyd, other, 1)   # behind in the destination
    make_user("moe", moderator=True)
    r = mod_post(browser(make_client, "moe"), f"/admin/topics/{topic.id}/move-posts",
                 {"post_ids": [post_id(db, topic.id, 5), post_id(db, topic.id, 6)], "destination": "existing",
                  "destination_topic_id": str(other.id)})
    assert r.status_code == 303
    assert (last_read(db, bob, topic.id), last_read(db, bob, other.id)) == (4, 4)
    assert (last_read(db, cyd, topic.id), last_read(db, cyd, other.id)) == (4, 1)


def test_notifications_point_at_the_moved_and_the_renumbered_posts(make_user, make_category, make_topic, make_reply,
                                                                   make_client, db):
    ana, bob, topic = _six_posts(make_user, make_category, make_topic, make_reply)
    make_user("moe", moderator=True)
    r = mod_post(browser(make_client, "moe"), f"/admin/topics/{topic.id}/move-posts",
                 {"post_ids": [post_id(db, topic.id, 3)], "destination": "new", "title": "Catering options",
                  "category_id": str(topic.category_id)})
    new_id = int(r.headers["location"].rsplit("/", 1)[1])
    page = html.unescape(browser(make_client, "bob").get("/u/bob/notifications").text)
    # Mentions in old posts 2, 4, 5, 6 (now 2, 3, 4, 5) and in old post 3 (now post 1 of the new topic).
    for number in (2, 3, 4, 5):
        assert f'href="/t/{topic.slug}/{topic.id}/{number}#post_{number}"' in page
    assert f'href="/t/{topic.slug}/{topic.id}/6#post_6"' not in page
    assert f'href="/t/catering-options/{new_id}/1#post_1"' in page
    bob_api = browser(make_client, "bob")
    listed = bob_api.get("/notifications.json").json()["notifications"]
    assert sorted((n["topic_id"], n["post_number"]) for n in listed) == sorted(
        [(new_id, 1)] + [(topic.id, n) for n in (2, 3, 4, 5)])


# --- the first post -----------------------------------------------------------------------------

def test_moving_the_first_post_copies_it_into_a_new_topic_and_the_source_keeps_it(
        make_user, make_category, make_topic, make_reply, make_client, client, db):
    ana, bob, topic = _six_posts(make_user, make_category, make_topic, make_reply)
    with db.write() as s:
        s.get(Post, post_id(db, topic.id, 2)).reply_to_post_number = 1
        s.add(PostAction(post_id=post_id(db, topic.id, 1), user_id=bob.id))
        s.get(Post, post_id(db, topic.id, 1)).like_count = 1
    make_user("moe", moderator=True)
    moe = browser(make_client, "moe")
    r = mod_post(moe, f"/admin/topics/{topic.id}/move-posts",
                 {"post_ids": [post_id(db, topic.id, 1)], "destination": "new", "title": "The question alone",
                  "category_id": str(topic.category_id)})
    assert r.status_code == 303, r.text
    new_id = int(r.headers["location"].rsplit("/", 1)[1])
    assert numbers_and_raws(db, new_id) == [(1, "Post 1: where and what?")]
    assert numbers_and_raws(db, topic.id)[0] == (1, "Post 1: where and what?")
    assert len(numbers_and_raws(db, topic.id)) == 6
    with db.read() as s:
        source, new = s.get(Topic, topic.id), s.get(Topic, new_id)
        assert source.deleted_at is None and not source.closed and source.posts_count == 6
        assert (new.posts_count, new.user_id, new.like_count) == (1, ana.id, 1)
        assert s.get(Post, post_id(db, topic.id, 2)).reply_to_post_number == 1  # still answers the original
    assert "Post 1: where and what?" in client.get(f"/t/the-question-alone/{new_id}").text
    assert "Post 2 for" in client.get(f"/t/{topic.slug}/{topic.id}").text


def test_moving_every_post_copies_the_first_moves_the_rest_and_closes_the_source(
        make_user, make_category, make_topic, make_reply, make_client, client, db):
    ana = make_user("ana", tier="member")
    topic = make_topic(ana, make_category("Assembly"), title="Venue and catering", raw="Where and what?")
    make_reply(ana, topic, raw="The library.")
    make_reply(ana, topic, raw="Answering the library idea.", reply_to=2)
    other = make_topic(ana, topic.category, title="Catering thread", raw="Menus go here.")
    make_user("moe", moderator=True)
    moe = browser(make_client, "moe")
    r = mod_post(moe, f"/admin/topics/{topic.id}/move-posts",
                 {"post_ids": [post_id(db, topic.id, n) for n in (1, 2, 3)], "destination": "existing",
                  "destination_topic_id": str(other.id)})
    assert r.status_code == 303
    assert numbers_and_raws(db, other.id) == [(1, "Menus go here."), (2, "Where and what?"), (3, "The library."),
                                              (4, "Answering the library idea.")]
    assert numbers_and_raws(db, topic.id) == [(1, "Where and what?")]
    with db.read() as s:
        assert s.get(Post, post_id(db, other.id, 4)).reply_to_post_number == 3
        assert s.get(Topic, topic.id).closed and s.get(Topic, topic.id).posts_count == 1
        actions = [e.action for e in s.scalars(select(ModerationLog).order_by(ModerationLog.id))]
    assert actions[-2:] == ["move_posts", "close_topic"]
    assert "This topic is closed" in client.get(f"/t/{topic.slug}/{topic.id}").text


# --- the migration that adds the table --------------------------------------------------------

def test_upgrading_a_database_with_topics_adds_moved_posts_and_merges_then_redirect(scratch_url):
    revisions = _revisions(scratch_url)
    upgrade(scratch_url, revisions[revisions.index("0009") - 1])
    _write_forum_content(scratch_url)
    upgrade(scratch_url)
    settings = Settings(database_url=scratch_url)
    database = Database(settings)
    try:
        with database.write() as s:
            keeper = s.scalar(select(User))
            old = s.scalar(select(Topic))
            target = posting.create_topic(s, settings, Viewer(keeper), title="Where it all goes now",
                                                     raw="The surviving thread.", category_id=old.category_id)
            moderation.merge_topics(s, Viewer(keeper), topic_id=old.id, destination_topic_id=target.topic_id)
            old_id, old_slug = old.id, old.slug
        with database.read() as s:
            found = merges.find(s, Viewer(None), old_id, 2)
            assert found is not None and found.page_url().endswith(f"/{found.topic.id}/3")
            assert s.scalar(select(Post.raw).where(Post.topic_id == found.topic.id, Post.post_number == 3)) == \
                "And this reply."
            assert old_slug == "kept-across-upgrades"
    finally:
        database.dispose()
