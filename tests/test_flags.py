"""Flagging posts and the review queue."""

import re

import pytest
from sqlalchemy import select

from forum.models import Flag, ModerationLog, Post, User, UserSession
from tests.conftest import csrf_of, login, post_form


@pytest.fixture
def thread(make_user, make_category, make_topic, make_reply):
    ana = make_user("ana", tier="member")
    bob = make_user("bob", tier="participant")
    topic = make_topic(ana, make_category("Assemblies"), title="Budget for the assembly")
    reply = make_reply(bob, topic, raw="Buy cheap pills at example.com!")
    return ana, bob, topic, reply


def browser(make_client, username):
    c = make_client()
    login(c, username)
    return c


def flag(c, post_id, flag_type="8", message=""):
    return post_form(c, f"/posts/{post_id}/flag", {"flag_type": flag_type, "message": message})


def topic_path(topic):
    return f"/t/{topic.slug}/{topic.id}"


def review_item(html, post_id):
    found = re.search(rf'<article class="review-item"[^>]*data-post-id="{post_id}".*?</article>', html, re.S)
    return found.group(0) if found else None


def test_signed_in_reader_flags_a_post_once_but_never_their_own(thread, make_client, make_user, client, db):
    ana, bob, topic, reply = thread
    make_user("cyd")
    cy = browser(make_client, "cyd")
    page = cy.get(topic_path(topic)).text
    assert f'href="/posts/{reply.id}/flag"' in page
    form = cy.get(f"/posts/{reply.id}/flag")
    assert form.status_code == 200 and "Spam" in form.text and "Something else" in form.text
    r = flag(cy, reply.id, "8")
    assert r.status_code == 200 and "The moderators will look at this post." in r.text
    assert "Flagged" in cy.get(topic_path(topic)).text
    again = flag(cy, reply.id, "4")
    assert again.status_code == 409 and "already flagged" in again.text

    author = browser(make_client, "bob")
    assert f'href="/posts/{reply.id}/flag"' not in author.get(topic_path(topic)).text
    assert flag(author, reply.id).status_code == 403
    assert flag(client, reply.id).status_code == 403  # anonymous: log in first
    with db.read() as s:
        assert [(f.user_id, f.flag_type) for f in s.scalars(select(Flag))] == [
            (s.scalar(select(User.id).where(User.username == "cyd")), 8)]


def test_something_else_needs_a_message_and_the_form_keeps_the_choice(thread, make_client, make_user, db):
    ana, bob, topic, reply = thread
    make_user("cyd")
    cy = browser(make_client, "cyd")
    r = flag(cy, reply.id, "7", "")
    assert r.status_code == 422 and "Tell the moderators what is wrong." in r.text
    assert re.search(r'value="7" checked', r.text)
    assert flag(cy, reply.id, "99").status_code == 422
    with db.read() as s:
        assert s.scalar(select(Flag)) is None
    r = flag(cy, reply.id, "7", "This reads like an advert for a competitor.")
    assert r.status_code == 200


def test_a_post_the_reader_cannot_see_cannot_be_flagged(make_user, make_category, make_topic, make_client, db):
    ana = make_user("ana", tier="member")
    make_user("pia")
    topic = make_topic(ana, make_category("Lounge", "members_only"))
    with_post = browser(make_client, "pia")
    with db.read() as s:
        first_id = s.scalar(select(Post.id).where(Post.topic_id == topic.id))
    assert with_post.get(f"/posts/{first_id}/flag").status_code == 404
    assert flag(with_post, first_id).status_code == 404


def test_three_flags_from_different_people_hide_the_post_until_reviewed(thread, make_client, make_user, client):
    ana, bob, topic, reply = thread
    for name in ("cyd", "dia", "eda"):
        make_user(name)
    flag(browser(make_client, "cyd"), reply.id, "8")
    flag(browser(make_client, "dia"), reply.id, "4")
    assert "Buy cheap pills" in client.get(topic_path(topic)).text
    flag(browser(make_client, "eda"), reply.id, "8")
    page = client.get(topic_path(topic)).text
    assert "Buy cheap pills" not in page and "hidden until a moderator reviews it" in page
    assert "Buy cheap pills" in browser(make_client, "bob").get(topic_path(topic)).text  # the author still sees it


def test_the_flag_threshold_is_an_admin_setting(thread, make_client, make_user, client, staff):
    ana, bob, topic, reply = thread
    admin = browser(make_client, staff.username)
    r = post_form(admin, "/admin/settings", {"signup_mode": "open", "flags_to_hide": "1"}, csrf_from="/admin")
    assert r.status_code == 200 and "Settings saved" in r.text
    make_user("cyd")
    flag(browser(make_client, "cyd"), reply.id, "4")
    assert "Buy cheap pills" not in client.get(topic_path(topic)).text
    bad = post_form(admin, "/admin/settings", {"signup_mode": "open", "flags_to_hide": "zero"}, csrf_from="/admin")
    assert bad.status_code == 422 and "whole number" in bad.text and 'value="zero"' in bad.text


def test_review_queue_shows_reasons_and_counts_per_post(thread, make_client, make_user):
    ana, bob, topic, reply = thread
    make_user("cyd")
    make_user("dia")
    make_user("moe", moderator=True)
    flag(browser(make_client, "cyd"), reply.id, "8")
    flag(browser(make_client, "dia"), reply.id, "7", "He posts this in every thread.")
    queue = browser(make_client, "moe").get("/admin/review").text
    item = review_item(queue, reply.id)
    assert item is not None
    assert "Spam: 1" in item and "Something else: 1" in item
    assert "He posts this in every thread." in item and "cyd" in item and "dia" in item


def test_agreeing_can_delete_the_post_and_suspend_the_author_ending_their_sessions(thread, make_client, make_user,
                                                                                   client, db):
    ana, bob, topic, reply = thread
    make_user("cyd")
    make_user("moe", moderator=True)
    author = browser(make_client, "bob")
    flag(browser(make_client, "cyd"), reply.id, "8")
    moe = browser(make_client, "moe")
    r = post_form(moe, f"/admin/review/{reply.id}", {"decision": "agree", "action": "delete", "sanction": "suspend",
                                                     "until": "2099-01-01", "sanction_reason": "Spamming"},
                  csrf_from="/admin/review")
    assert r.status_code == 303
    assert "Buy cheap pills" not in client.get(topic_path(topic)).text
    assert review_item(moe.get("/admin/review").text, reply.id) is None
    assert author.get("/my/preferences").status_code == 403  # logged out at once
    with db.read() as s:
        assert s.scalar(select(UserSession).where(UserSession.user_id == bob.id)) is None
        assert s.scalar(select(Flag.status)) == "agreed"
        actions = [e.action for e in s.scalars(select(ModerationLog).order_by(ModerationLog.id))]
    assert actions[-3:] == ["delete_post", "suspend_user", "agree_flags"]


def test_agreeing_with_silence_keeps_the_author_reading_but_not_posting(thread, make_client, make_user, client):
    ana, bob, topic, reply = thread
    make_user("cyd")
    make_user("moe", moderator=True)
    flag(browser(make_client, "cyd"), reply.id, "4")
    moe = browser(make_client, "moe")
    r = post_form(moe, f"/admin/review/{reply.id}", {"decision": "agree", "action": "hide", "sanction": "silence",
                                                     "until": "2099-01-01", "sanction_reason": "Cool off"},
                  csrf_from="/admin/review")
    assert r.status_code == 303
    assert "Buy cheap pills" not in client.get(topic_path(topic)).text
    author = browser(make_client, "bob")
    page = author.get(topic_path(topic))
    assert page.status_code == 200 and "you can read, but not post" in page.text


def test_agreeing_without_an_end_date_for_a_sanction_is_refused_and_changes_nothing(thread, make_client,
                                                                                   make_user, client, db):
    ana, bob, topic, reply = thread
    make_user("cyd")
    make_user("moe", moderator=True)
    flag(browser(make_client, "cyd"), reply.id, "4")
    moe = browser(make_client, "moe")
    r = post_form(moe, f"/admin/review/{reply.id}", {"decision": "agree", "action": "delete", "sanction": "suspend",
                                                     "until": ""}, csrf_from="/admin/review")
    assert r.status_code == 422 and "YYYY-MM-DD" in r.text
    with db.read() as s:
        assert s.scalar(select(Flag.status)) == "pending"
        assert s.get(Post, reply.id).deleted_at is None


def test_disagreeing_brings_back_a_post_hidden_by_flags(thread, make_client, make_user, client, db):
    ana, bob, topic, reply = thread
    for name in ("cyd", "dia", "eda"):
        make_user(name)
        flag(browser(make_client, name), reply.id, "4")
    assert "Buy cheap pills" not in client.get(topic_path(topic)).text
    make_user("moe", moderator=True)
    moe = browser(make_client, "moe")
    r = post_form(moe, f"/admin/review/{reply.id}", {"decision": "disagree"}, csrf_from="/admin/review")
    assert r.status_code == 303
    assert "Buy cheap pills" in client.get(topic_path(topic)).text
    with db.read() as s:
        assert set(s.scalars(select(Flag.status))) == {"disagreed"}


def test_deferring_sets_the_flags_aside_and_changes_nothing_else(thread, make_client, make_user, client, db):
    ana, bob, topic, reply = thread
    make_user("cyd")
    make_user("moe", moderator=True)
    flag(browser(make_client, "cyd"), reply.id, "3")
    moe = browser(make_client, "moe")
    assert post_form(moe, f"/admin/review/{reply.id}", {"decision": "defer"},
                     csrf_from="/admin/review").status_code == 303
    assert review_item(moe.get("/admin/review").text, reply.id) is None
    assert "Buy cheap pills" in client.get(topic_path(topic)).text
    again = post_form(moe, f"/admin/review/{reply.id}", {"decision": "agree"}, csrf_from="/admin/review")
    assert again.status_code == 409
    with db.read() as s:
        assert s.scalar(select(Flag.status)) == "deferred"
        assert s.scalar(select(ModerationLog.action).order_by(ModerationLog.id.desc())) == "defer_flags"


def test_flags_through_the_discourse_api(thread, make_client, make_user, db):
    ana, bob, topic, reply = thread
    make_user("cyd")
    cy = browser(make_client, "cyd")
    token = csrf_of(cy)
    r = cy.post("/post_actions.json", data={"id": str(reply.id), "post_action_type_id": "4"},
                headers={"X-CSRF-Token": token})
    assert r.status_code == 200, r.text
    again = cy.post("/post_actions.json", data={"id": str(reply.id), "post_action_type_id": "8"},
                    headers={"X-CSRF-Token": token})
    assert again.status_code == 403 and again.json()["errors"]
    with db.read() as s:
        assert s.scalar(select(Flag.flag_type)) == 4
