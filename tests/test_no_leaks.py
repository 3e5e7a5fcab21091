"""No private post leaks through a notification, an email, a digest or a search result, and a person
whose tier drops loses what those showed them. Each test also shows the channel working for what
the person may read, so that it fails if the channel leaks and cannot pass by sending nothing."""

import html

from sqlalchemy import select, update

from forum import emails, moderation, outbox
from forum.models import Post, User, UserOption
from forum.permissions import Viewer
from tests.conftest import login
from tests.smtp import mail_settings, smtp_server  # noqa: F401  (fixtures)


def _drop_tier(db, user) -> None:
    with db.write() as session:
        session.execute(update(User).where(User.id == user.id).values(tier="participant"))


def _wants_email(db, user, **preferences) -> None:
    with db.write() as session:
        emails.confirm_address(session, user.id)
        emails.set_preferences(session, session.get(User, user.id), timezone="Europe/Madrid",
                               **{"email_notifications": "immediate", "email_digest": "none", "digest_hour": 8,
                                  "digest_weekday": 0, **preferences})


def _text(message) -> str:
    return "\n".join(p.get_payload(decode=True).decode() for p in message.walk() if not p.is_multipart())


def test_a_tier_drop_takes_notifications_out_of_the_json_api_and_the_unread_count(
        client, db, make_user, make_category, make_topic, make_reply):
    ana, moira = make_user("ana", tier="member"), make_user("moira", tier="member")
    board = make_topic(ana, make_category("Board", "members_only"), title="Secret merger negotiation")
    make_reply(ana, board, raw="@moira the merger figures are in the minutes.")
    news = make_topic(ana, make_category("News"), title="Open day at the brewery")
    make_reply(ana, news, raw="@moira can you bring the banner?")
    login(client, "moira")
    body = client.get("/notifications.json").json()
    assert {n["topic_id"] for n in body["notifications"]} == {board.id, news.id}
    assert client.get("/session/current.json").json()["current_user"]["unread_notifications"] == 2

    _drop_tier(db, moira)
    r = client.get("/notifications.json")
    body = r.json()
    assert [n["topic_id"] for n in body["notifications"]] == [news.id]
    assert body["total_rows_notifications"] == 1
    assert "merger" not in r.text.lower() and "Secret" not in r.text
    assert client.get("/session/current.json").json()["current_user"]["unread_notifications"] == 1
    menu = html.unescape(client.get("/notifications/menu").text)
    assert "Open day at the brewery" in menu and "merger" not in menu.lower()


def test_no_email_tells_of_a_post_the_recipient_may_not_read_when_it_is_sent(
        db, mail_settings, smtp_server, make_user, make_category, make_topic, make_reply, staff):
    ana, pat = make_user("ana", tier="member"), make_user("pat", tier="participant")
    _wants_email(db, pat)
    news, board = make_category("News"), make_category("Board", "members_only")
    # Written where pat may not read: nobody tells pat.
    secret = make_topic(ana, board, title="Redundancy plans")
    make_reply(ana, secret, raw="@pat is on the redundancy list, do not tell anyone.")
    # Written in public, then moved to the board before the worker runs.
    moved = make_topic(ana, news, title="Warehouse lease")
    make_reply(ana, moved, raw="@pat the landlord wants a confidential rent rise.")
    # Written in public, then hidden by a moderator before the worker runs.
    hidden_topic = make_topic(ana, news, title="Auditors")
    hidden = make_reply(ana, hidden_topic, raw="@pat the auditors found a hole in the accounts.")
    # Written in public and left there: the one email pat gets.
    open_topic = make_topic(ana, news, title="Open day at the brewery")
    make_reply(ana, open_topic, raw="@pat can you bring the banner?")
    with db.write() as session:
        moderation.move_topic(session, Viewer(staff), moved.id, board.id)
        moderation.hide_post(session, Viewer(staff), hidden.id, reason="Under review")
    outbox.drain(db, mail_settings)
    [message] = smtp_server.wait_for(2, timeout=2)
    text = _text(message)
    assert "can you bring the banner?" in text and "Open day at the brewery" in message["Subject"]
    for leaked in ("redundancy", "Redundancy", "landlord", "Warehouse", "auditors", "Auditors"):
        assert leaked not in text and leaked not in message["Subject"]


def test_a_digest_written_after_a_tier_drop_leaves_out_what_the_person_may_no_longer_see(
        db, mail_settings, smtp_server, make_user, make_category, make_topic):
    ana, moira = make_user("ana", tier="member"), make_user("moira", tier="member")
    _wants_email(db, moira, email_notifications="none", email_digest="daily", digest_hour=7)
    make_topic(ana, make_category("Board", "members_only"), title="Secret merger negotiation",
               raw="The merger price is 4.2 million.")
    make_topic(ana, make_category("News"), title="Open day at the brewery", raw="Bring the whole family.")
    _drop_tier(db, moira)
    with db.read() as session:
        slot = session.get(UserOption, moira.id).next_digest_at
    outbox.tick(db, mail_settings, now=slot)
    outbox.drain(db, mail_settings)
    [message] = smtp_server.wait_for(1)
    text = _text(message)
    assert "Open day at the brewery" in text and "Bring the whole family." in text
    assert "merger" not in text.lower() and "4.2 million" not in text


def test_search_leaves_out_hidden_posts_and_what_a_dropped_tier_no_longer_sees(
        client, db, make_user, make_category, make_topic, make_reply, staff):
    ana, moira = make_user("ana", tier="member"), make_user("moira", tier="member")
    make_topic(ana, make_category("Board", "members_only"), title="Secret merger negotiation",
               raw="The merger figures stay in the boardroom.")
    news = make_topic(ana, make_category("News"), title="Merger rumours", raw="People talk about a merger.")
    regrettable = make_reply(ana, news, raw="A regrettable merger remark about the auditors.")
    with db.write() as session:
        moderation.hide_post(session, Viewer(staff), regrettable.id, reason="Off topic")
    login(client, "moira")
    titles = {t["title"] for t in client.get("/search.json", params={"q": "merger"}).json()["topics"]}
    assert titles == {"Secret merger negotiation", "Merger rumours"}

    _drop_tier(db, moira)
    r = client.get("/search.json", params={"q": "merger"})
    body = r.json()
    assert {t["title"] for t in body["topics"]} == {"Merger rumours"}
    with db.read() as session:
        first = session.scalar(select(Post.id).where(Post.topic_id == news.id, Post.post_number == 1))
    assert [p["id"] for p in body["posts"]] == [first]
    assert "boardroom" not in r.text and "regrettable" not in r.text and "Secret" not in r.text
    page = html.unescape(client.get("/search", params={"q": "merger"}).text)
    assert "<mark>Merger</mark> rumours" in page and "boardroom" not in page and "regrettable" not in page
    assert client.get("/search.json", params={"q": "boardroom"}).json()["posts"] == []
    assert client.get("/search.json", params={"q": "regrettable"}).json()["posts"] == []
    login(client, "staffer")
    assert client.get("/search.json", params={"q": "regrettable"}).json()["posts"] != []
