"""Download my data: the archive holds exactly the person's own data, and of anything else only what
they may read now; its link opens for them alone and expires; one request a day."""

import io
import json
import zipfile
from datetime import timedelta

from sqlalchemy import select, update

from forum import emails, messages, outbox, polls, posting, uploads, user_export
from forum.models import Notification, PollOption, Post, User, utcnow
from forum.permissions import Viewer
from tests.api.conftest import JSON, as_user, make_key  # noqa: F401  (fixtures)
from tests.conftest import login, post_form
from tests.smtp import mail_settings, smtp_server  # noqa: F401  (fixtures)

HIDDEN_TITLE = "Secret merger with the Hopcraft brewery"
HIDDEN_TEXT = "Hopcraft offers nine hundred thousand."
OTHERS_MESSAGE = "Otto and Rui keep this between them."


def _first(db, topic) -> Post:
    with db.read() as s:
        return s.scalar(select(Post).where(Post.topic_id == topic.id, Post.post_number == 1))


def _forum(db, settings, make_user, make_category, make_topic, make_reply, staff):
    lena = make_user("lena", tier="member")
    rui = make_user("rui", tier="member")
    otto = make_user("otto", tier="member")
    news = make_category("News")
    board = make_category("Board", "members_only")
    public = make_topic(rui, news, title="Open day at the bakery", raw="Come and see the ovens on Saturday.")
    make_reply(lena, public, raw="I will bring the co-op's banner.")
    secret = make_topic(rui, board, title=HIDDEN_TITLE, raw=HIDDEN_TEXT)
    make_reply(lena, secret, raw="My own view on the merger, which is mine to keep.")
    vote_topic = make_topic(rui, news, title="Where should the assembly meet?",
                            raw="[poll]\n* In Lisbon\n* In Turin\n[/poll]")
    with db.write() as s:
        viewer = Viewer(s.get(User, lena.id))
        posting.like_post(s, viewer, post_id=_first(db, public).id)
        posting.like_post(s, viewer, post_id=_first(db, secret).id)
        option = s.scalar(select(PollOption).where(PollOption.label == "In Turin"))
        polls.vote(s, viewer, poll_id=option.poll_id, option_ids=[str(option.id)])
        messages.create_private_message(s, settings, viewer, recipients="rui", title="About the banner for Saturday",
                      raw="Shall I bring the big banner or the small one?")
        messages.create_private_message(s, settings, Viewer(s.get(User, otto.id)), recipients="rui", title="Just us two",
                      raw=OTHERS_MESSAGE)
        emails.confirm_address(s, lena.id)
    # Lena's tier drops: the board is hidden from her from now on.
    with db.write() as s:
        s.execute(update(User).where(User.id == lena.id).values(tier="participant"))
    return lena, rui, vote_topic


def _archive(client, url) -> dict[str, str]:
    r = client.get(url)
    assert r.status_code == 200 and r.headers["content-type"] == "application/zip"
    assert "attachment" in r.headers["content-disposition"]
    with zipfile.ZipFile(io.BytesIO(r.content)) as z:
        return {name: z.read(name).decode() for name in z.namelist()}


def test_download_my_data_holds_what_is_mine_and_nothing_hidden(
        client, make_client, db, mail_settings, smtp_server, make_user, make_category, make_topic, make_reply,
        staff):
    lena, rui, vote_topic = _forum(db, mail_settings, make_user, make_category, make_topic, make_reply, staff)
    login(client, "lena")
    page = client.get("/my/preferences")
    assert "Download my data" in page.text
    asked = post_form(client, "/my/data", {}, csrf_from="/my/preferences")
    assert asked.status_code == 200 and "Your archive is being prepared." in asked.text
    again = post_form(client, "/my/data", {}, csrf_from="/my/preferences")
    assert again.status_code == 429 and "You asked for your data today already" in again.text
    for _ in range(3):
        outbox.drain(db, mail_settings)

    with db.read() as s:
        note = s.scalar(select(Notification).where(Notification.user_id == lena.id,
                                                   Notification.kind == user_export.KIND))
        url = json.loads(note.data)["url"]
    assert url.startswith("/my/data/")
    smtp_server.wait_for(1, timeout=5)
    bodies = ["\n".join(p.get_payload(decode=True).decode() for p in m.walk() if not p.is_multipart())
              for m in smtp_server.messages]
    assert any(url in body for body in bodies)
    assert "/my/data/" in client.get("/notifications.json").text

    files = _archive(client, url)
    assert {"README.txt", "profile.json", "posts.json", "posts.csv", "likes.json", "poll_votes.json",
            "private_messages.json", "settings.json", "bookmarks.json"} <= set(files)
    everything = "\n".join(files.values())
    profile = json.loads(files["profile.json"])
    assert profile["username"] == "lena" and profile["email"] == "lena@example.org"
    posts = {p["raw"]: p for p in json.loads(files["posts.json"])}
    assert "I will bring the co-op's banner." in posts
    mine_hidden = posts["My own view on the merger, which is mine to keep."]  # hers: kept
    assert mine_hidden["topic_title"] is None  # but the topic's title is not hers to see now
    likes = json.loads(files["likes.json"])
    assert sorted(bool(like["topic_title"]) for like in likes) == [False, True]
    [vote] = json.loads(files["poll_votes.json"])
    assert vote["option"] == "In Turin" and vote["topic_title"] == "Where should the assembly meet?"
    conversations = json.loads(files["private_messages.json"])
    assert [c["title"] for c in conversations] == ["About the banner for Saturday"]
    assert HIDDEN_TITLE not in everything and HIDDEN_TEXT not in everything and OTHERS_MESSAGE not in everything
    assert "rui@example.org" not in everything

    # The link is hers alone, and only for 48 hours.
    rui_client = make_client()
    login(rui_client, "rui")
    assert rui_client.get(url).status_code == 404
    assert make_client().get(url).status_code in (401, 403)
    name = url.rsplit("/", 1)[1]
    assert user_export.owner_of(name, now=utcnow() + timedelta(hours=49)) is None
    user_export._cleanup(db, mail_settings, utcnow() + timedelta(hours=49))
    assert not uploads.store_for(mail_settings).exists(f"exports/{name}")
    assert client.get(url).status_code == 404


def test_the_api_asks_for_the_archive_as_discourse_does(client, db, make_user, as_user):
    lena = make_user("lena", tier="member")
    r = client.post("/export_csv/export_entity.json", data={"entity": "user_archive"}, headers=as_user(lena))
    assert r.status_code == 200 and r.json() == {"success": "OK"}
    again = client.post("/export_csv/export_entity.json", data={"entity": "user_archive"}, headers=as_user(lena))
    assert again.status_code == 429 and "today already" in again.json()["errors"][0]
    wrong = client.post("/export_csv/export_entity.json", data={"entity": "user_list"}, headers=as_user(lena))
    assert wrong.status_code == 422
    assert client.post("/export_csv/export_entity.json", data={"entity": "user_archive"},
                       headers={"Accept": JSON}).status_code in (401, 403)
