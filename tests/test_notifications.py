"""Notifications: who hears about what, the menu and page, marking read, and no leak of hidden posts."""

import html
import re

from sqlalchemy import select, update

from forum import avatars, notifications, posting, tracking
from forum.models import Notification, User
from forum.permissions import Viewer
from tests.conftest import csrf_of, login, post_form


def _kinds(db, user) -> list[str]:
    with db.read() as session:
        return list(session.scalars(select(Notification.kind).where(Notification.user_id == user.id)
                                    .order_by(Notification.id)))


def _page(client, username) -> str:
    return html.unescape(client.get(f"/u/{username}/notifications").text)


def test_mention_notifies_the_mentioned_person_with_a_link_to_the_post(client, make_user, make_category, make_topic,
                                                                     make_reply):
    ana, bob = make_user("ana", tier="member"), make_user("bob", tier="member")
    topic = make_topic(ana, make_category("Assembly"), title="Agenda for the spring assembly")
    make_reply(ana, topic, raw="What do you think, @bob? The budget needs a second reader.")
    assert _kinds(client.app.state.db, bob) == ["mentioned"]
    login(client, "bob")
    page = _page(client, "bob")
    assert "ana mentioned you in Agenda for the spring assembly" in page
    assert f'href="/t/{topic.slug}/{topic.id}/2#post_2"' in page
    assert "The budget needs a second reader." in page
    assert re.search(r'class="badge-count"[^>]*>1<', client.get("/latest").text)


def test_mention_inside_a_members_only_category_notifies_nobody_who_cannot_read_it(
        db, make_user, make_category, make_topic, make_reply):
    ana = make_user("ana", tier="member")
    pat = make_user("pat", tier="participant")
    wendy = make_user("wendy", tier="worker")
    board = make_category("Board", "members_only")
    topic = make_topic(ana, board, title="Confidential: the loan terms")
    make_reply(ana, topic, raw="Should @pat and @wendy hear about the loan terms yet?")
    assert _kinds(db, pat) == [] and _kinds(db, wendy) == []


def test_reply_quote_and_watching_each_notify_once_with_the_most_specific_reason(
        db, make_user, make_category, make_topic, make_reply):
    ana, bob, cy = make_user("ana", tier="member"), make_user("bob", tier="member"), make_user("cyd", tier="member")
    topic = make_topic(ana, make_category("Housing"), title="Housing co-op waiting lists")
    with db.write() as session:
        tracking.set_topic_level(session, Viewer(cy), session.merge(topic), tracking.WATCHING)
    make_reply(bob, topic, raw="Replying to ana's opening post directly.", reply_to=1)
    raw = f'[quote="ana, post:1, topic:{topic.id}"]\nHousing\n[/quote]\n\nAnd @ana, quoted and mentioned at once.'
    make_reply(bob, topic, raw=raw)
    assert _kinds(db, ana) == ["replied", "mentioned"]
    assert _kinds(db, cy) == ["posted", "posted"]
    assert _kinds(db, bob) == []  # nobody is notified about their own posts


def test_a_topic_you_reply_to_becomes_tracking_and_watching_a_category_announces_new_topics(
        db, make_user, make_category, make_topic, make_reply):
    ana, bob = make_user("ana", tier="member"), make_user("bob", tier="member")
    news = make_category("News")
    topic = make_topic(ana, news)
    make_reply(bob, topic)
    with db.read() as session:
        assert tracking.topic_level(session, bob.id, session.merge(topic)) == tracking.TRACKING
    with db.write() as session:
        tracking.set_category_level(session, Viewer(bob), session.merge(news), tracking.WATCHING)
    make_topic(ana, news, title="Federation congress dates announced")
    assert _kinds(db, bob) == ["new_topic"]


def test_likes_group_into_one_notification_while_unread(client, db, make_user, make_category, make_topic):
    ana = make_user("ana", tier="member")
    topic = make_topic(ana, make_category("News"), title="Solar panels for the bakery")
    likers = [make_user(name, tier="member") for name in ("bob", "cyd", "dee")]
    with db.write() as session:
        post_id = session.scalar(select(notifications.Post.id).where(notifications.Post.topic_id == topic.id))
    for liker in likers:
        with db.write() as session:
            posting.like_post(session, Viewer(liker), post_id=post_id)
    assert _kinds(db, ana) == ["liked"]
    login(client, "ana")
    assert "dee and 2 others liked your post in Solar panels for the bakery" in _page(client, "ana")


def test_a_muted_topic_sends_no_notifications(db, make_user, make_category, make_topic, make_reply):
    ana, bob = make_user("ana", tier="member"), make_user("bob", tier="member")
    topic = make_topic(ana, make_category("News"))
    with db.write() as session:
        tracking.set_topic_level(session, Viewer(ana), session.merge(topic), tracking.MUTED)
    make_reply(bob, topic, raw="@ana you will not hear about this.", reply_to=1)
    assert _kinds(db, ana) == []


def test_a_person_whose_tier_drops_loses_the_contents_of_those_notifications(
        client, db, make_user, make_category, make_topic, make_reply):
    ana, moira = make_user("ana", tier="member"), make_user("moira", tier="member")
    topic = make_topic(ana, make_category("Board", "members_only"), title="Secret merger negotiation")
    make_reply(ana, topic, raw="@moira the merger figures are attached to the minutes.")
    login(client, "moira")
    assert "Secret merger negotiation" in _page(client, "moira")
    with db.write() as session:
        session.execute(update(User).where(User.id == moira.id).values(tier="participant"))
    page = _page(client, "moira")
    assert "Secret merger negotiation" not in page and "merger figures" not in page
    assert "badge-count" not in client.get("/latest").text
    assert client.get("/notifications/menu").text.count("Secret") == 0
    with db.read() as session:
        assert notifications.list_for(session, Viewer(session.get(User, moira.id))).items == []


def test_a_deleted_post_takes_its_notification_with_it(client, db, make_user, make_category, make_topic, make_reply):
    ana = make_user("ana", tier="member")
    make_user("bob", tier="member")
    topic = make_topic(ana, make_category("News"))
    post = make_reply(ana, topic, raw="@bob a regrettable remark about the auditors.")
    with db.write() as session:
        posting.delete_post(session, Viewer(ana), post_id=post.id)
    login(client, "bob")
    assert "regrettable" not in _page(client, "bob")


def test_other_peoples_notifications_page_answers_404(client, make_user):
    make_user("ana", tier="member")
    make_user("bob", tier="member")
    assert client.get("/u/ana/notifications").status_code == 404
    login(client, "bob")
    assert client.get("/u/ana/notifications").status_code == 404
    assert client.get("/u/bob/notifications").status_code == 200


def test_mark_one_read_then_all_read(client, db, make_user, make_category, make_topic, make_reply):
    ana, bob = make_user("ana", tier="member"), make_user("bob", tier="member")
    topic = make_topic(ana, make_category("News"))
    make_reply(ana, topic, raw="@bob first mention.")
    make_reply(ana, topic, raw="@bob second mention.")
    login(client, "bob")
    with db.read() as session:
        first = session.scalar(select(Notification.id).where(Notification.user_id == bob.id).order_by(Notification.id))
    r = post_form(client, f"/notifications/{first}/read", {"next": "/u/bob/notifications"},
                  csrf_from="/u/bob/notifications")
    assert r.status_code == 303
    assert "Unread (1)" in _page(client, "bob")
    r = client.post("/notifications/mark-all-read", headers={"X-CSRF-Token": csrf_of(client),
                                                             "X-Requested-With": "fetch"})
    assert r.json() == {"success": "OK", "unread": 0}
    assert "Unread (0)" in _page(client, "bob")
    # Someone else's notification looks missing; without the token nothing changes.
    assert post_form(client, "/notifications/999999/read", {}).status_code == 404
    assert client.post("/notifications/mark-all-read", data={}).status_code == 403


def test_reading_the_post_marks_its_notification_read(client, db, make_user, make_category, make_topic, make_reply):
    ana, bob = make_user("ana", tier="member"), make_user("bob", tier="member")
    topic = make_topic(ana, make_category("News"))
    make_reply(ana, topic, raw="@bob have a look at this.")
    login(client, "bob")
    assert client.get(f"/t/{topic.slug}/{topic.id}/2").status_code == 200
    with db.read() as session:
        assert session.scalar(select(Notification.read).where(Notification.user_id == bob.id)) is True


def test_new_mentions_added_by_an_edit_are_notified_once(db, settings, make_user, make_category, make_topic,
                                                        make_reply):
    ana, bob, cy = (make_user(n, tier="member") for n in ("ana", "bob", "cyd"))
    topic = make_topic(ana, make_category("News"))
    post = make_reply(ana, topic, raw="Thanks @bob for the minutes.")
    with db.write() as session:
        posting.edit_post(session, settings, Viewer(ana), post_id=post.id,
                          raw="Thanks @bob for the minutes and @cyd for the coffee.")
    assert _kinds(db, bob) == ["mentioned"] and _kinds(db, cy) == ["mentioned"]


def test_mention_autocomplete_returns_only_users_and_needs_an_account(client, make_user, make_category, make_topic):
    make_user("bob", tier="member")
    make_user("bobbie", tier="participant", name="Roberta")
    make_topic(make_user("ana", tier="member"), make_category("News"), title="bob's secret plans for the bakery")
    assert client.get("/u/search/users.json?term=bo").status_code == 403
    login(client, "ana")
    r = client.get("/u/search/users.json?term=@Bo")
    assert r.headers["content-type"] == "application/json; charset=utf-8"
    assert r.json() == {"users": [
        {"username": "bob", "name": "", "avatar_template": avatars.template("bob")},
        {"username": "bobbie", "name": "Roberta", "avatar_template": avatars.template("bobbie")}]}
    assert "secret" not in r.text
    assert client.get("/u/search/users.json?term=%25").json() == {"users": []}


def test_other_services_notify_through_notify_and_respect_visibility(db, make_user, make_category, make_topic):
    ana, pat = make_user("ana", tier="member"), make_user("pat", tier="participant")
    secret = make_topic(ana, make_category("Board", "members_only"))
    with db.write() as session:
        assert notifications.notify(session, pat.id, "posted", session.merge(secret)) is None
        sent = notifications.notify(session, pat.id, "moderator_message", data={"message": "Please tone it down."})
        assert sent is not None
    with db.read() as session:
        [item] = notifications.list_for(session, Viewer(session.get(User, pat.id))).items
        assert str(item.message) == "Message from the moderators: Please tone it down."


def test_the_inviter_hears_when_their_invitation_is_accepted(client, db, settings, staff):
    from forum import invitations

    with db.write() as session:
        code = invitations.create_invitation(session, settings, Viewer(session.get(User, staff.id)),
                                             tier="participant", max_uses=1).code
    with db.write() as session:
        invitations.redeem(session, settings, code=code, username="lucia", email="lucia@bakery.coop",
                           password="correct-horse-battery")
    assert _kinds(db, staff) == ["invitee_accepted"]
    login(client, "staffer")
    page = _page(client, "staffer")
    assert "lucia accepted your invitation" in page and 'href="/u/lucia"' in page
    assert client.get("/notifications.json").json()["notifications"][0]["notification_type"] == 8
