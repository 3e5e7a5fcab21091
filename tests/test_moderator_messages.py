"""Moderator messages: a moderator writes to one person from the account page; it arrives as a
notification they cannot mute, by email if they take notification emails, and stays in the log."""

import html

from sqlalchemy import select

from forum import emails, outbox, tracking
from forum.models import ModerationLog, Notification, User
from forum.permissions import Viewer
from tests.conftest import login, post_form
from tests.smtp import mail_settings, smtp_server  # noqa: F401  (fixtures)

MESSAGE = "Please keep the board's figures out of public threads."


def test_a_moderator_message_reaches_the_person_in_notifications_and_by_email(
        client, make_client, db, mail_settings, smtp_server, make_user, make_category):
    make_user("moe", tier="member", moderator=True)
    pat = make_user("pat", tier="participant")
    news = make_category("News")
    with db.write() as session:
        emails.confirm_address(session, pat.id)
        tracking.set_category_level(session, Viewer(session.get(User, pat.id)), session.merge(news), tracking.MUTED)
    login(client, "moe")
    r = post_form(client, f"/admin/users/{pat.id}/message", {"message": f"  {MESSAGE}  "},
                  csrf_from=f"/admin/users/{pat.id}")
    assert r.status_code == 303 and r.headers["location"] == f"/admin/users/{pat.id}"
    assert "sent a message" in client.get(f"/admin/users/{pat.id}").text

    reader = make_client()
    login(reader, "pat")
    page = html.unescape(reader.get("/u/pat/notifications").text)
    assert f"Message from the moderators: {MESSAGE}" in page
    body = reader.get("/notifications.json").json()
    assert body["notifications"][0]["notification_type"] == 6 and body["notifications"][0]["high_priority"] is True

    outbox.drain(db, mail_settings)
    [message] = smtp_server.wait_for(1)
    assert message["To"] == "pat@example.org"
    assert MESSAGE in message["Subject"]
    with db.read() as session:
        entry = session.scalar(select(ModerationLog).where(ModerationLog.action == "message_user"))
        assert entry.target_user_id == pat.id and entry.reason == MESSAGE


def test_an_empty_message_is_refused_and_only_moderators_may_send_one(client, db, make_user):
    make_user("moe", tier="member", moderator=True)
    pat = make_user("pat", tier="participant")
    make_user("mia", tier="member")
    login(client, "moe")
    r = post_form(client, f"/admin/users/{pat.id}/message", {"message": "   "}, csrf_from=f"/admin/users/{pat.id}")
    assert r.status_code == 422 and "Write the message." in r.text
    long = "x" * 1001
    r = post_form(client, f"/admin/users/{pat.id}/message", {"message": long}, csrf_from=f"/admin/users/{pat.id}")
    assert r.status_code == 422 and "at most 1000 characters" in r.text and long in r.text  # the text is kept
    login(client, "mia")
    assert post_form(client, f"/admin/users/{pat.id}/message", {"message": "Hello"}).status_code == 404
    with db.read() as session:
        assert session.scalars(select(Notification)).all() == []
