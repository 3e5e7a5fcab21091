"""Signed-in pages share their heavy part (posts, list rows) and never one reader's state or access."""

from __future__ import annotations

import re

from forum import moderation
from forum.models import User
from forum.permissions import Viewer
from tests.conftest import login, post_form


def topic_path(topic) -> str:
    return f"/t/{topic.slug}/{topic.id}"


def like_button(page: str, post_id: int) -> str | None:
    """The like form of one post ("like" or "unlike" action), or None when the reader has none."""
    match = re.search(rf'action="/posts/{post_id}/(like|unlike)"', page)
    return match.group(1) if match else None


def signed_in(make_client, username: str):
    client = make_client()
    login(client, username)
    return client


def test_readers_of_one_cached_topic_page_each_get_their_own_actions(app, make_client, make_user, make_category,
                                                                     make_topic, make_reply):
    ana = make_user("ana", tier="member")
    make_user("ben", tier="member")
    make_user("cleo", tier="member")
    news = make_category("News and events")
    topic = make_topic(ana, news, title="Themes for the general assembly",
                       raw="Which themes should the assembly discuss?")
    ben, cleo, author = (signed_in(make_client, name) for name in ("ben", "cleo", "ana"))
    page = cleo.get(topic_path(topic)).text
    first_post = int(re.search(r'id="post_1" data-post-id="(\d+)"', page).group(1))

    r = post_form(ben, f"/posts/{first_post}/like", {}, csrf_from=topic_path(topic))
    assert r.status_code in (200, 303), r.text

    app.state.fragments.store.entries.clear()
    pages = {name: c.get(topic_path(topic)).text for name, c in (("cleo", cleo), ("ben", ben), ("ana", author))}
    # The posts were rendered once for the three readers ...
    assert [key for key in app.state.fragments.store.entries if key[0] == "topic"] == [
        ("topic", topic.id, 1, 20, None, False, "en", "UTC", None)]
    for text in pages.values():
        assert "Which themes should the assembly discuss?" in text
    # ... and each reader got their own buttons around them.
    assert like_button(pages["ben"], first_post) == "unlike"
    assert like_button(pages["cleo"], first_post) == "like"
    assert like_button(pages["ana"], first_post) is None  # nobody likes their own post
    assert f"/posts/{first_post}/edit" in pages["ana"]
    assert f"/posts/{first_post}/edit" not in pages["ben"] and f"/posts/{first_post}/edit" not in pages["cleo"]
    assert f'class="like-count" id="likes-{first_post}">1<' in pages["cleo"]

    # A reply by one reader shows at once in the cached page of another.
    r = post_form(cleo, f"/t/{topic.id}/reply", {"raw": "Housing co-operatives and young workers."},
                  csrf_from=topic_path(topic))
    assert r.status_code == 303, r.text
    assert "Housing co-operatives and young workers." in ben.get(topic_path(topic)).text


def test_cached_topic_lists_are_shared_only_by_readers_who_see_the_same_categories(make_client, make_user,
                                                                                   make_category, make_topic):
    mei = make_user("mei", tier="member")
    make_user("pia", tier="participant")
    news = make_category("News and events")
    lounge = make_category("Members' lounge", "members_only")
    make_topic(mei, news, title="Newsletter for November")
    make_topic(mei, lounge, title="Draft budget for the federation")
    member, participant = signed_in(make_client, "mei"), signed_in(make_client, "pia")

    for _ in range(2):  # the second round is served from the kept rows
        assert "Draft budget for the federation" in member.get("/latest").text
        latest = participant.get("/latest").text
        assert "Newsletter for November" in latest
        assert "Draft budget for the federation" not in latest
    assert "Draft budget for the federation" not in participant.get(f"/c/{news.slug}/{news.id}").text


def test_hidden_and_deleted_posts_are_shown_in_full_only_to_their_author_and_staff(db, make_client, make_user,
                                                                                   make_category, make_topic,
                                                                                   make_reply):
    ana = make_user("ana", tier="member")
    ben = make_user("ben", tier="member")
    make_user("cleo", tier="member")
    moe = make_user("moe", moderator=True)
    news = make_category("News and events")
    topic = make_topic(ana, news, title="International reports")
    hidden = make_reply(ben, topic, raw="A report with a disputed figure.")
    deleted = make_reply(ana, topic, raw="A link that turned out to be wrong.")
    with db.write() as session:
        staff = Viewer(session.get(User, moe.id))
        moderation.hide_post(session, staff, hidden.id, reason="Checking the figure")
        moderation.delete_post(session, staff, deleted.id, reason="Wrong link")
    cleo, author, moderator = (signed_in(make_client, name) for name in ("cleo", "ben", "moe"))

    for _ in range(2):  # each reader twice, in turns, so that every view is also served from the cache
        others = cleo.get(topic_path(topic)).text
        assert "A report with a disputed figure." not in others and "(post hidden until" in others
        assert "A link that turned out to be wrong." not in others and "(post deleted)" in others
        own = author.get(topic_path(topic)).text
        assert "A report with a disputed figure." in own
        assert "hidden from others until a moderator reviews it" in own
        assert "A link that turned out to be wrong." not in own
        staff_page = moderator.get(topic_path(topic)).text
        assert "A report with a disputed figure." in staff_page
        assert "A link that turned out to be wrong." in staff_page
        assert f"/admin/posts/{hidden.id}" in staff_page and f"/admin/posts/{hidden.id}" not in others


def test_readers_in_other_time_zones_get_their_own_times(db, make_client, make_user,
                                                       make_category, make_topic):
    ana = make_user("ana", tier="member")
    make_user("ken", tier="member")
    news = make_category("News and events")
    topic = make_topic(ana, news, title="Regional meeting")
    with db.write() as session:
        session.get(User, ana.id).timezone = "America/New_York"
        for user in session.query(User).filter(User.username == "ken"):
            user.timezone = "Asia/Tokyo"
    new_york, tokyo = signed_in(make_client, "ana"), signed_in(make_client, "ken")
    for _ in range(2):
        for path in (topic_path(topic), "/latest"):
            assert re.search(r'title="[^"]+ E[SD]T"', new_york.get(path).text), path
            assert re.search(r'title="[^"]+ JST"', tokyo.get(path).text), path
