"""Private messages: only the people and groups in a message see it, on every surface; a moderator
outside reaches it only through a flag, and that reach is logged; the Discourse API shapes."""


import pytest
from sqlalchemy import select

from forum import apikeys, emails, flags, messages, outbox
from forum.models import ModerationLog, Notification, Topic, UserOption
from forum.models.messages import GroupUser
from forum.permissions import Viewer
from tests.conftest import login
from tests.smtp import mail_settings, smtp_server  # noqa: F401  (fixtures)
from tests.test_migrations import scratch_url  # noqa: F401  (fixture)

JSON = "application/json; charset=utf-8"
SECRET = "Zanzibar-walnut"  # a word that appears nowhere but in the message
TITLE = "Confidential note on the Zanzibar-walnut grievance"


@pytest.fixture
def key_for(db, staff):
    def headers(user) -> dict[str, str]:
        with db.write() as s:
            secret = apikeys.create_api_key(s, Viewer(staff), description="t", username=user.username).secret
        return {"Api-Key": secret, "Api-Username": user.username, "Accept": JSON}

    return headers


def send(client, headers, recipients, *, title=TITLE, raw=f"The {SECRET} case, please keep it between us.",
         key="target_recipients"):
    return client.post("/posts.json", headers=headers,
                       data={"archetype": "private_message", "title": title, "raw": raw, key: recipients})


@pytest.fixture
def cast(make_user, make_category, make_topic, staff):
    """Sender, recipient, a group member, another member, a moderator outside, an admin (`staff`)."""
    news = make_category("News")
    return {
        "sender": make_user("sara", tier="member"),
        "recipient": make_user("rui", tier="member"),
        "group_member": make_user("gil", tier="member"),
        "other": make_user("otto", tier="member"),
        "moderator": make_user("mona", tier="member", moderator=True),
        "admin": staff,
        "public": make_topic(staff, news, title="A public topic everyone may read", raw="Public text here."),
        "news": news,
    }


@pytest.fixture
def delegation(db, cast):
    with db.write() as s:
        group = messages.create_group(s, Viewer(cast["admin"]), name="delegates", full_name="Delegates",
                                      visibility="public", messageable_level="everyone")
        s.add(GroupUser(group_id=group.id, user_id=cast["group_member"].id, owner=False))
    return group


@pytest.fixture
def message(client, db, cast, delegation, key_for):
    r = send(client, key_for(cast["sender"]), "rui,delegates")
    assert r.status_code == 200, r.text
    with db.read() as s:
        return s.get(Topic, r.json()["topic_id"])


# --- posting and bad input ----------------------------------------------------------------------

def test_a_message_is_a_topic_without_category_seen_by_its_people(client, db, cast, message, key_for):
    assert message.archetype == "private_message" and message.category_id is None
    body = client.get(f"/t/{message.id}.json", headers=key_for(cast["recipient"])).json()
    assert body["archetype"] == "private_message" and body["category_id"] is None
    assert [u["username"] for u in body["details"]["allowed_users"]] == ["sara", "rui"]
    assert [g["name"] for g in body["details"]["allowed_groups"]] == ["delegates"]
    assert SECRET in body["post_stream"]["posts"][0]["cooked"]
    member = client.get(f"/t/{message.id}.json", headers=key_for(cast["group_member"]))
    assert member.status_code == 200
    # Replies, likes and edits work inside as in any topic.
    r = client.post("/posts.json", headers=key_for(cast["recipient"]),
                    data={"topic_id": message.id, "raw": "I read it; let us talk on Monday."})
    assert r.status_code == 200, r.text
    like = client.post("/post_actions.json", headers=key_for(cast["sender"]),
                       data={"id": r.json()["id"], "post_action_type_id": 2})
    assert like.status_code == 200
    edit = client.put(f"/posts/{r.json()['id']}.json", headers=key_for(cast["recipient"]),
                      data={"post[raw]": "I read it; let us talk on Tuesday."})
    assert edit.status_code == 200
    outsider = client.post("/posts.json", headers=key_for(cast["other"]),
                           data={"topic_id": message.id, "raw": "Can I join in here please?"})
    assert outsider.status_code == 404


def test_target_usernames_is_accepted_as_discourse_does(client, cast, key_for):
    r = send(client, key_for(cast["sender"]), "rui", key="target_usernames")
    assert r.status_code == 200, r.text


@pytest.mark.parametrize("recipients, reason", [
    ("nobody-here", "There is no person or group named nobody-here."),
    ("sara", "You cannot send a message only to yourself."),
    ("", "Choose at least one person or group to write to."),
])
def test_bad_recipients_answer_422_with_a_reason(client, cast, key_for, recipients, reason):
    r = send(client, key_for(cast["sender"]), recipients)
    assert r.status_code == 422
    assert reason in r.json()["errors"]


def test_a_person_who_refuses_messages_cannot_be_written_to_except_by_staff(client, db, cast, key_for):
    with db.write() as s:
        s.merge(UserOption(user_id=cast["recipient"].id, messages_from="nobody"))
    r = send(client, key_for(cast["sender"]), "rui")
    assert r.status_code == 422 and "rui does not accept private messages." in r.json()["errors"]
    assert send(client, key_for(cast["moderator"]), "rui").status_code == 200


def test_user_json_says_whether_the_asker_may_write_to_that_person(client, db, cast, key_for):
    def may(asker, username):
        return client.get(f"/u/{username}.json", headers=key_for(cast[asker])).json()["user"][
            "can_send_private_message_to_user"]

    assert may("sender", "rui") is True and may("sender", "sara") is False
    with db.write() as s:
        s.merge(UserOption(user_id=cast["recipient"].id, messages_from="nobody"))
    assert may("sender", "rui") is False
    assert may("moderator", "rui") is True  # staff always may
    assert may("recipient", "sara") is True
    assert client.get("/u/rui.json").json()["user"]["can_send_private_message_to_user"] is False


def test_too_many_recipients_and_members_only_groups(client, db, cast, key_for, settings, delegation):
    settings.max_message_recipients = 1
    r = send(client, key_for(cast["sender"]), "rui,gil")
    assert r.status_code == 422 and "A message may have at most 1 recipients." in r.json()["errors"]
    settings.max_message_recipients = 20
    with db.write() as s:
        s.get(type(delegation), delegation.id).messageable_level = "members"
    r = send(client, key_for(cast["sender"]), "delegates")
    assert r.status_code == 422 and "You may not send messages to the group delegates." in r.json()["errors"]
    # A group hidden from non-members is unknown to them, as a missing name is.
    with db.write() as s:
        group = s.get(type(delegation), delegation.id)
        group.messageable_level, group.visibility = "everyone", "members"
    r = send(client, key_for(cast["sender"]), "delegates")
    assert r.status_code == 422 and "There is no person or group named delegates." in r.json()["errors"]
    assert send(client, key_for(cast["group_member"]), "delegates").status_code == 200


def test_new_accounts_start_few_conversations_per_hour(client, cast, key_for, settings):
    settings.new_account_messages_per_hour = 2
    headers = key_for(cast["sender"])
    assert send(client, headers, "rui", raw="First of several messages to Rui.").status_code == 200
    assert send(client, headers, "rui", raw="Second of several messages to Rui.").status_code == 200
    r = send(client, headers, "rui", raw="Third of several messages to Rui.")
    assert r.status_code == 429


def test_anonymous_and_refused_without_an_account(client):
    r = client.post("/posts.json", data={"archetype": "private_message", "title": TITLE, "raw": "x" * 30,
                                         "target_recipients": "rui"})
    assert r.status_code in (401, 403)


# --- the leak matrix ----------------------------------------------------------------------------

INSIDE = {"sender", "recipient", "group_member"}
OUTSIDE = {"other", "moderator", "admin"}


def _get(client, path, headers):
    return client.get(path, headers=headers)


SURFACES = [
    "/latest.json", "/latest.rss", "/top.json", "/categories.json", "/posts.json", "/posts.rss",
    "/search.json?q=Zanzibar", "/search?q=Zanzibar", "/search.json?q=walnut grievance", "/latest", "/categories", "/new.json",
    "/u/sara/activity.json", "/u/sara/activity.rss", "/u/sara.json", "/u/sara/summary.json",
    "/user_actions.json?username=sara&filter=4", "/user_actions.json?username=sara&filter=5",
    "/topics/created-by/sara.json", "/about.json", "/u/sara", "/u/sara/activity", "/top", "/top.rss",
    "/c/news/{news}", "/c/news/{news}.json", "/c/news/{news}.rss", "/directory_items.json?period=all&order=post_count",
    "/unread.json", "/new",
]


@pytest.fixture
def browser(make_client):
    """A signed-in browser (session cookie) for one of the cast, or a visitor's."""

    def make(who):
        c = make_client()
        if who != "visitor":
            login(c, USERNAMES[who])
        return c

    return make


USERNAMES = {"sender": "sara", "recipient": "rui", "group_member": "gil", "other": "otto", "moderator": "mona",
             "admin": "staffer"}


@pytest.mark.parametrize("who", sorted(INSIDE | OUTSIDE | {"visitor"}))
def test_no_list_feed_search_or_activity_shows_a_message_to_anyone(cast, message, browser, who):
    c = browser(who)
    for path in SURFACES:
        path = path.replace("{news}", str(cast["news"].id))
        r = c.get(path)
        assert r.status_code in (200, 404), (path, r.status_code)
        assert SECRET not in r.text, (who, path)
        assert f"/t/{message.slug}/{message.id}" not in r.text, (who, path)
    # The public topic still shows: the lists are not empty by accident.
    assert "A public topic everyone may read" in c.get("/latest.json").text
    assert "A public topic everyone may read" in c.get("/latest").text


@pytest.mark.parametrize("who", sorted(INSIDE | OUTSIDE | {"visitor"}))
def test_in_messages_search_finds_a_message_for_its_people_only(cast, message, browser, who):
    c = browser(who)
    inside = who in INSIDE
    for q in ("in:messages Zanzibar", "walnut grievance in:personal", "in:messages"):
        found = c.get("/search.json", params={"q": q}).json()
        assert ([p["topic_id"] for p in found["posts"]] == [message.id]) is inside, (who, q)
        assert (SECRET in str(found)) is inside, (who, q)
        page = c.get("/search", params={"q": q})
        assert page.status_code == 200 and (f"/t/{message.slug}/{message.id}" in page.text) is inside, (who, q)
        assert inside or "Zanzibar</mark>" not in page.text
    # Without in:messages, nobody finds it, its people included; a category filter finds no message.
    for q in ("Zanzibar", "walnut grievance", "in:title Zanzibar", "in:messages #news Zanzibar"):
        found = c.get("/search.json", params={"q": q}).json()
        assert message.id not in [p["topic_id"] for p in found["posts"]] and SECRET not in str(found), (who, q)


def test_a_moderator_who_reached_a_message_does_not_find_it_by_search(client, db, cast, message, key_for):
    from forum.models import Post

    with db.read() as s:
        post = s.scalar(select(Post).where(Post.topic_id == message.id))
    with db.write() as s:
        flags.flag_post(s, Viewer(cast["recipient"]), post_id=post.id, flag_type=4)
    login(client, "mona")
    client.post(f"/admin/review/message/{message.id}", data={"csrf_token": _csrf(client)})
    assert client.get(f"/t/{message.id}.json").status_code == 200
    for q in ("in:messages Zanzibar", "Zanzibar"):
        assert client.get("/search.json", params={"q": q}).json()["posts"] == []


@pytest.mark.parametrize("who", sorted(OUTSIDE | {"visitor"}))
def test_the_message_itself_is_404_to_everyone_outside(cast, message, browser, who):
    c = browser(who)
    for path in (f"/t/{message.slug}/{message.id}", f"/t/{message.slug}/{message.id}.json",
                 f"/t/{message.id}.json", f"/t/{message.id}", f"/t/{message.slug}/{message.id}.rss",
                 f"/t/{message.id}/posts.json", f"/t/{message.slug}/{message.id}/1",
                 f"/t/{message.id}/reply", "/topics/private-messages/sara.json",
                 "/topics/private-messages/rui.json", "/topics/private-messages-sent/sara.json",
                 "/topics/private-messages-archive/rui.json", "/u/sara/messages", "/u/rui/messages/sent",
                 "/u/gil/messages/group/delegates"):
        r = c.get(path)
        expected = (401, 403, 404) if who == "visitor" and path.startswith("/u/") or path.endswith("/reply") else (404,)
        assert r.status_code in expected, (who, path, r.status_code)
        assert SECRET not in r.text


@pytest.mark.parametrize("who", sorted(INSIDE))
def test_the_people_in_it_read_it_as_a_page_and_in_their_inbox(cast, message, browser, who):
    c = browser(who)
    page = c.get(f"/t/{message.slug}/{message.id}")
    assert page.status_code == 200 and SECRET in page.text
    assert "Only these people and groups see this conversation" in page.text
    inbox = c.get(f"/u/{USERNAMES[who]}/messages" + ("/group/delegates" if who == "group_member" else ""))
    assert inbox.status_code == 200 and TITLE in inbox.text


def test_the_first_post_by_id_is_404_outside(client, db, cast, message, key_for):
    from forum.models import Post

    with db.read() as s:
        post_id = s.scalar(select(Post.id).where(Post.topic_id == message.id))
    for who in OUTSIDE:
        assert client.get(f"/posts/{post_id}.json", headers=key_for(cast[who])).status_code == 404
    assert client.get(f"/posts/{post_id}.json").status_code == 404
    assert client.get(f"/posts/{post_id}.json", headers=key_for(cast["recipient"])).status_code == 200


def test_notifications_and_emails_reach_only_the_people_in_it(client, db, cast, message, key_for):
    with db.read() as s:
        notified = {n.user_id: n for n in s.scalars(select(Notification).where(Notification.topic_id == message.id))}
    assert set(notified) == {cast["recipient"].id, cast["group_member"].id}
    body = client.get("/notifications.json", headers=key_for(cast["recipient"])).json()
    assert [n["notification_type"] for n in body["notifications"]] == [6]
    for who in OUTSIDE:
        text = client.get("/notifications.json", headers=key_for(cast[who])).text
        assert SECRET not in text and "Zanzibar" not in text
    # A mention of an outsider inside the message notifies nobody outside.
    client.post("/posts.json", headers=key_for(cast["sender"]),
                data={"topic_id": message.id, "raw": "@otto and @mona would love this Zanzibar talk."})
    with db.read() as s:
        outsiders = s.scalars(select(Notification.user_id).where(
            Notification.topic_id == message.id,
            Notification.user_id.in_([cast[w].id for w in OUTSIDE]))).all()
    assert outsiders == []


def _text(message) -> str:
    return "\n".join(p.get_payload(decode=True).decode() for p in message.walk() if not p.is_multipart())


def _wants_email(db, user, **preferences) -> None:
    from forum.models import User

    with db.write() as s:
        emails.confirm_address(s, user.id)
        emails.set_preferences(s, s.get(User, user.id), timezone="Europe/Madrid",
                               **{"email_notifications": "immediate", "email_digest": "none", "digest_hour": 8,
                                  "digest_weekday": 0, **preferences})


def test_emails_and_digests_tell_the_people_in_it_and_nobody_else(
        db, mail_settings, smtp_server, cast, client, key_for, make_topic):
    _wants_email(db, cast["recipient"])
    _wants_email(db, cast["other"])
    r = send(client, key_for(cast["sender"]), "rui")
    assert r.status_code == 200
    # otto is watching nothing of it; a mention of him inside notifies nobody outside either.
    client.post("/posts.json", headers=key_for(cast["sender"]),
                data={"topic_id": r.json()["topic_id"], "raw": f"@otto should never hear of {SECRET}."})
    outbox.drain(db, mail_settings)
    sent = smtp_server.wait_for(2, timeout=2)
    assert {m["To"] for m in sent} == {"rui@example.org"}
    assert any(SECRET in _text(m) for m in sent)
    # Digests list the public topic, never the message, whoever they are for.
    from datetime import timedelta

    from forum.models import User, utcnow

    with db.read() as s:
        for who in ("sender", "recipient", "moderator"):  # the admin wrote the public topic
            items = emails.digest_items(s, s.get(User, cast[who].id), utcnow() - timedelta(days=1),
                                        utcnow() + timedelta(minutes=1))
            assert [i.topic.title for i in items] == ["A public topic everyone may read"], who


# --- a group to the moderators, and the flag reach ---------------------------------------------

def test_a_member_writes_to_the_moderators_and_every_moderator_sees_it(client, cast, key_for):
    r = send(client, key_for(cast["other"]), "moderators", raw=f"Someone keeps posting {SECRET} spam.")
    assert r.status_code == 200, r.text
    topic_id = r.json()["topic_id"]
    for who in ("moderator", "admin", "other"):
        assert client.get(f"/t/{topic_id}.json", headers=key_for(cast[who])).status_code == 200, who
    for who in ("sender", "recipient"):
        assert client.get(f"/t/{topic_id}.json", headers=key_for(cast[who])).status_code == 404
    r = client.post("/posts.json", headers=key_for(cast["moderator"]),
                    data={"topic_id": topic_id, "raw": "Thanks, we are looking into it now."})
    assert r.status_code == 200
    # "Seen by" counts the people in it (the moderators and the writer), and names them to staff.
    login(client, "mona")
    client.get(f"/t/{topic_id}")
    seen = client.get(f"/t/{topic_id}/seen-by")
    assert seen.status_code == 200 and "mona" in seen.text


def test_a_moderator_outside_reaches_a_message_only_through_a_flag_and_it_is_logged(
        client, db, cast, message, key_for):
    from forum.models import Post

    mona = key_for(cast["moderator"])
    with db.read() as s:
        post = s.scalar(select(Post).where(Post.topic_id == message.id))
    reach = f"/admin/review/message/{message.id}"
    login(client, "mona")
    assert client.post(reach, data={"csrf_token": _csrf(client)}, follow_redirects=False).status_code == 404
    assert client.get(f"/t/{message.id}.json", headers=mona).status_code == 404
    with db.write() as s:
        flags.flag_post(s, Viewer(cast["recipient"]), post_id=post.id, flag_type=4)
    # Flagged, but not yet opened from the review queue: still closed. The queue offers to open it.
    assert client.get(f"/t/{message.id}.json", headers=mona).status_code == 404
    queue = client.get("/admin/review").text
    assert f'action="/admin/review/message/{message.id}"' in queue and f'href="/t/{message.slug}/{message.id}' not in queue
    r = client.post(reach, data={"csrf_token": _csrf(client)}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].endswith(f"/t/{message.slug}/{message.id}")
    assert client.get(f"/t/{message.id}.json", headers=mona).status_code == 200
    with db.read() as s:
        log = s.scalars(select(ModerationLog).where(ModerationLog.action == "read_private_message")).all()
    assert [(e.actor_id, e.topic_id) for e in log] == [(cast["moderator"].id, message.id)]
    # It reached the moderator's eyes, not the lists.
    assert "Zanzibar" not in client.get("/latest.json", headers=mona).text
    # Reaching it is reading it: only its people write in it.
    r = client.post("/posts.json", headers=mona, data={"topic_id": message.id, "raw": "A moderator butting in."})
    assert r.status_code == 403
    # Another moderator has not reached it.
    assert client.get(f"/t/{message.id}.json", headers=key_for(cast["admin"])).status_code == 404


def test_a_moderator_who_reached_a_message_reads_it_and_changes_nothing_in_it(client, db, cast, message, key_for):
    from forum.models import Bookmark, Post, PostAction

    mona = key_for(cast["moderator"])
    with db.read() as s:
        post = s.scalar(select(Post).where(Post.topic_id == message.id))
    with db.write() as s:
        flags.flag_post(s, Viewer(cast["recipient"]), post_id=post.id, flag_type=4)
    login(client, "mona")
    r = client.post(f"/admin/review/message/{message.id}", data={"csrf_token": _csrf(client)}, follow_redirects=False)
    assert r.status_code == 303
    topic = client.get(f"/t/{message.id}.json", headers=mona).json()
    assert SECRET in topic["post_stream"]["posts"][0]["cooked"]
    first = topic["post_stream"]["posts"][0]
    assert first["can_edit"] is False and first["can_delete"] is False
    assert not any(a["id"] == 2 and a.get("can_act") for a in first["actions_summary"])
    assert topic["details"]["can_edit"] is False
    # JSON: edit, delete, like and bookmark are refused as for a post one may not change.
    assert client.put(f"/posts/{post.id}.json", headers=mona, data={"post[raw]": "Rewritten by a moderator."}
                      ).status_code == 403
    assert client.delete(f"/posts/{post.id}.json", headers=mona).status_code == 403
    assert client.post("/post_actions.json", headers=mona, data={"id": post.id, "post_action_type_id": 2}
                       ).status_code == 403
    assert client.post("/bookmarks.json", headers=mona, data={"bookmarkable_id": post.id, "bookmarkable_type": "Post"}
                       ).status_code in (403, 404)
    # The pages: the post shows no edit link, and the forms are refused.
    page = client.get(f"/t/{message.slug}/{message.id}")
    assert SECRET in page.text and f"/posts/{post.id}/edit" not in page.text
    token = _csrf(client)
    assert client.get(f"/posts/{post.id}/edit").status_code == 403
    assert client.post(f"/posts/{post.id}/edit", data={"csrf_token": token, "raw": "Rewritten by a moderator."},
                       follow_redirects=False).status_code == 403
    assert client.post(f"/posts/{post.id}/delete", data={"csrf_token": token}, follow_redirects=False).status_code == 403
    assert client.post(f"/posts/{post.id}/like", data={"csrf_token": token}, follow_redirects=False).status_code == 403
    with db.read() as s:
        kept = s.get(Post, post.id)
        assert SECRET in kept.raw and kept.deleted_at is None and kept.like_count == 0
        assert s.scalar(select(PostAction.id).where(PostAction.post_id == post.id,
                                                    PostAction.user_id == cast["moderator"].id)) is None
        assert s.scalar(select(Bookmark.id).where(Bookmark.user_id == cast["moderator"].id)) is None
    # Nor the topic: closing, pinning, listing, deleting or renaming it is refused too.
    for status in ("closed", "pinned", "visible"):
        r = client.put(f"/t/{message.id}/status.json", headers=mona, data={"status": status, "enabled": "true"})
        assert r.status_code == 403, status
    assert client.delete(f"/t/{message.id}.json", headers=mona).status_code == 403
    assert client.put(f"/t/{message.id}.json", headers=mona, data={"title": "Renamed by a moderator outside"}
                      ).status_code == 403
    with db.read() as s:
        kept_topic = s.get(Topic, message.id)
        assert (kept_topic.title, kept_topic.closed, kept_topic.pinned, kept_topic.deleted_at) == (
            TITLE, False, False, None)
    # The people in it still edit their own posts.
    assert client.put(f"/posts/{post.id}.json", headers=key_for(cast["sender"]),
                      data={"post[raw]": f"The {SECRET} case, edited by its author."}).status_code == 200


def _csrf(client):
    from tests.conftest import csrf_of

    return csrf_of(client, "/admin/review")


# --- inbox API, invite, leave -----------------------------------------------------------------

def test_inbox_sent_archive_and_unread_lists(client, db, cast, message, key_for):
    rui = key_for(cast["recipient"])
    inbox = client.get("/topics/private-messages/rui.json", headers=rui)
    assert inbox.status_code == 200 and inbox.headers["content-type"] == JSON
    topics = inbox.json()["topic_list"]["topics"]
    assert [t["id"] for t in topics] == [message.id] and topics[0]["archetype"] == "private_message"
    assert [t["id"] for t in client.get("/topics/private-messages-unread/rui.json", headers=rui)
            .json()["topic_list"]["topics"]] == [message.id]
    sent = client.get("/topics/private-messages-sent/sara.json", headers=key_for(cast["sender"])).json()
    assert [t["id"] for t in sent["topic_list"]["topics"]] == [message.id]
    assert client.get("/topics/private-messages-sent/rui.json", headers=rui).json()["topic_list"]["topics"] == []
    group = client.get("/topics/private-messages-group/gil/delegates.json", headers=key_for(cast["group_member"]))
    assert [t["id"] for t in group.json()["topic_list"]["topics"]] == [message.id]
    # Archive, then a reply brings it back.
    assert client.put(f"/t/{message.id}/archive-message.json", headers=rui).status_code == 200
    assert client.get("/topics/private-messages/rui.json", headers=rui).json()["topic_list"]["topics"] == []
    archived = client.get("/topics/private-messages-archive/rui.json", headers=rui).json()
    assert [t["id"] for t in archived["topic_list"]["topics"]] == [message.id]
    client.post("/posts.json", headers=key_for(cast["sender"]), data={"topic_id": message.id, "raw": "Any news?"})
    assert [t["id"] for t in client.get("/topics/private-messages/rui.json", headers=rui)
            .json()["topic_list"]["topics"]] == [message.id]


def test_invite_shows_the_whole_history_and_leaving_closes_it(client, db, cast, message, key_for):
    otto = key_for(cast["other"])
    assert client.get(f"/t/{message.id}.json", headers=otto).status_code == 404
    r = client.post(f"/t/{message.id}/invite.json", headers=key_for(cast["sender"]), data={"user": "otto"})
    assert r.status_code == 200, r.text
    body = client.get(f"/t/{message.id}.json", headers=otto).json()
    assert SECRET in body["post_stream"]["posts"][0]["cooked"]
    with db.read() as s:
        kinds = s.scalars(select(Notification.kind).where(Notification.user_id == cast["other"].id)).all()
    assert kinds == ["invited_to_private_message"]
    # An outsider cannot invite themselves or others.
    r = client.post(f"/t/{message.id}/invite.json", headers=key_for(cast["moderator"]), data={"user": "mona"})
    assert r.status_code == 404
    assert client.put(f"/t/{message.id}/remove-allowed-user.json", headers=otto,
                      data={"username": "otto"}).status_code == 200
    assert client.get(f"/t/{message.id}.json", headers=otto).status_code == 404
    # Only the starter removes others.
    r = client.put(f"/t/{message.id}/remove-allowed-user.json", headers=key_for(cast["recipient"]),
                   data={"username": "sara"})
    assert r.status_code == 403


def test_one_persons_message_lists_are_404_to_everyone_else(client, cast, message, key_for):
    for who in ("recipient", "admin", "moderator", "other"):
        assert client.get("/topics/private-messages/sara.json", headers=key_for(cast[who])).status_code == 404
    assert client.get("/topics/private-messages/sara.json").status_code == 404


# --- the migration ------------------------------------------------------------------------------

def test_migration_0020_keeps_topics_and_posts_and_makes_the_moderators_group(scratch_url):
    from alembic.script import ScriptDirectory
    from sqlalchemy import create_engine, text

    from forum.config import Settings
    from forum.db import Database
    from forum.migrate import alembic_config, upgrade
    from forum.models import Post, User
    from tests.test_migrations import _write_forum_content

    before = ScriptDirectory.from_config(alembic_config(scratch_url)).get_revision("0020").down_revision
    upgrade(scratch_url, before)
    _write_forum_content(scratch_url)
    upgrade(scratch_url, "0020")
    engine = create_engine(scratch_url)
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT title, archetype, category_id FROM topics")).all()
        groups = conn.execute(text("SELECT name, automatic FROM groups")).all()
        posts = conn.execute(text("SELECT count(*) FROM posts")).scalar()
    engine.dispose()
    assert [(r.title, r.archetype, r.category_id is not None) for r in rows] == \
        [("Kept across upgrades", "regular", True)]
    assert [(g.name, bool(g.automatic)) for g in groups] == [("moderators", True)]
    assert posts == 2
    upgrade(scratch_url)
    settings = Settings(database_url=scratch_url)
    database = Database(settings)
    try:
        with database.write() as s:
            keeper = s.scalar(select(User))
            other = User(username="ines", username_lower="ines", email="i@example.org", password_hash="x",
                         tier="member")
            s.add(other)
            s.flush()
            post = messages.create_private_message(s, settings, Viewer(keeper), title="A word after the upgrade",
                                                   raw="Written privately after the upgrade.", recipients="ines")
        with database.read() as s:
            assert s.get(Topic, s.get(Post, post.id).topic_id).archetype == "private_message"
            assert s.scalar(select(Topic.title).where(Topic.category_id.is_not(None))) == "Kept across upgrades"
    finally:
        database.dispose()


@pytest.mark.parametrize("who", ["moderator", "admin"])
def test_staff_tools_do_not_open_a_message_they_are_not_in(db, cast, message, browser, who):
    from forum.models import Post

    with db.read() as s:
        post_id = s.scalar(select(Post.id).where(Post.topic_id == message.id))
    c = browser(who)
    for path in (f"/admin/topics/{message.id}", f"/admin/posts/{post_id}", f"/admin/preview/member/t/{message.id}"):
        r = c.get(path)
        assert r.status_code in (404, 200) and SECRET not in r.text, (path, r.status_code)
    assert c.get(f"/admin/topics/{message.id}").status_code == 404


def test_live_updates_reach_only_the_people_in_it(db, cast, message):
    from forum import permissions

    with db.read() as s:
        topic = s.get(Topic, message.id)
        for who in ("sender", "recipient", "group_member"):
            assert permissions.can_receive_live_change(s, Viewer(cast[who]), topic)
            assert not permissions.can_receive_live_change(s, Viewer(cast[who]), topic, in_list=True)
        for who in ("other", "moderator", "admin"):
            assert not permissions.can_receive_live_change(s, Viewer(cast[who]), topic)


def test_admins_make_groups_and_members_read_their_messages(db, cast, browser, make_client):
    from tests.conftest import post_form

    admin = browser("admin")
    r = post_form(admin, "/admin/groups", {"name": "wg-energy", "full_name": "Energy working group",
                                           "visibility": "members", "messageable_level": "everyone"},
                  csrf_from="/admin/groups")
    assert r.status_code == 303
    with db.read() as s:
        group = messages.group_by_name(s, "wg-energy")
    r = post_form(admin, f"/admin/groups/{group.id}/members", {"username": "gil", "owner": "1"},
                  csrf_from="/admin/groups")
    assert r.status_code == 303
    assert "Energy working group" in admin.get("/admin/groups").text
    # A moderator who is not an admin does not manage groups.
    assert browser("moderator").get("/admin/groups").status_code == 404
    # The member writes to the group from the composer (no JavaScript), and finds it in the group folder.
    gil = browser("group_member")
    r = post_form(gil, "/new-message", {"target_recipients": "wg-energy, rui", "title": "Energy tariffs for 2027",
                                        "raw": "Our proposal on the tariffs."}, csrf_from="/new-message")
    assert r.status_code == 303, r.text
    assert "Energy tariffs for 2027" in gil.get("/u/gil/messages/group/wg-energy").text
    # Bad input stays on the form with the reason.
    r = post_form(gil, "/new-message", {"target_recipients": "nobody-at-all", "title": "Energy tariffs again",
                                        "raw": "Our proposal on the tariffs."}, csrf_from="/new-message")
    assert r.status_code == 422 and "There is no person or group named nobody-at-all." in r.text


# --- pages without JavaScript -------------------------------------------------------------------

def test_reply_privately_quotes_the_post_and_the_header_counts_unread_messages(db, cast, browser):
    from tests.conftest import post_form

    public = cast["public"]
    rui = browser("recipient")
    page = rui.get(f"/t/{public.slug}/{public.id}").text
    assert "Reply privately" in page
    with db.read() as s:
        from forum.models import Post

        post_id = s.scalar(select(Post.id).where(Post.topic_id == public.id, Post.post_number == 1))
    form = rui.get(f"/new-message?reply_to_post={post_id}")
    assert form.status_code == 200
    assert 'value="staffer"' in form.text and "[quote=&#34;staffer, post:1" in form.text
    assert "Re: A public topic everyone may read" in form.text
    r = post_form(rui, "/new-message", {"target_recipients": "staffer", "title": "Re: A public topic everyone may read",
                                        "raw": "[quote=\"staffer, post:1\"]\nPublic text here.\n[/quote]\n\nA word in private."},
                  csrf_from="/new-message")
    assert r.status_code == 303
    admin = browser("admin")
    header = admin.get("/latest").text
    assert 'class="messages-link"' in header and "1 unread message" in header
    opened = admin.get(r.headers["location"])
    assert "A word in private." in opened.text
    assert "1 unread message" not in admin.get("/latest").text
    # Nobody may quote a post they cannot read into a message.
    assert browser("other").get("/new-message?reply_to_post=999999").status_code == 404


def test_profile_message_button_archive_leave_and_preferences(db, cast, message, browser):
    from tests.conftest import post_form

    otto = browser("other")
    assert "/new-message?username=rui" in otto.get("/u/rui").text
    assert 'value="rui"' in otto.get("/new-message?username=rui").text
    rui = browser("recipient")
    topic_url = f"/t/{message.slug}/{message.id}"
    r = post_form(rui, f"/t/{message.id}/archive", {}, csrf_from=topic_url)
    assert r.status_code == 303
    assert TITLE not in rui.get("/u/rui/messages").text and TITLE in rui.get("/u/rui/messages/archive").text
    r = post_form(rui, f"/t/{message.id}/unarchive", {}, csrf_from=topic_url)
    assert TITLE in rui.get("/u/rui/messages").text
    r = post_form(rui, f"/t/{message.id}/invite", {"name": "otto"}, csrf_from=topic_url)
    assert r.status_code == 303 and SECRET in otto.get(topic_url).text
    r = post_form(otto, f"/t/{message.id}/leave", {}, csrf_from=topic_url)
    assert r.status_code == 303 and otto.get(topic_url).status_code == 404
    # "Nobody" in the preferences: others' messages are refused, a moderator's are not.
    r = post_form(rui, "/my/preferences", {"name": "", "messages_from": "nobody"}, csrf_from="/my/preferences")
    assert r.status_code == 200 and 'value="nobody" selected' in r.text
    r = post_form(otto, "/new-message", {"target_recipients": "rui", "title": "Can we talk about the rota?",
                                         "raw": "Just a quick word."}, csrf_from="/new-message")
    assert r.status_code == 422 and "rui does not accept private messages." in r.text
    mona = browser("moderator")
    r = post_form(mona, "/new-message", {"target_recipients": "rui", "title": "A word from the moderators",
                                         "raw": "About your last post."}, csrf_from="/new-message")
    assert r.status_code == 303


def test_a_file_in_a_message_is_fetched_by_its_people_only(db, cast, delegation, browser):
    from tests.conftest import csrf_of
    from tests.test_uploads import _pdf, _upload

    sara = browser("sender")
    token = csrf_of(sara, "/latest")
    upload = _upload(sara, "grievance.pdf", _pdf(), token).json()
    r = sara.post("/posts.json", headers={"X-CSRF-Token": token},
                  data={"archetype": "private_message", "title": TITLE, "target_recipients": "rui,delegates",
                        "raw": "The file: " + upload["markdown"]})
    assert r.status_code == 200, r.text
    fetched = {who: browser(who).get(upload["url"]).status_code
               for who in ("sender", "recipient", "group_member", "other", "moderator", "admin", "visitor")}
    assert fetched == {"sender": 200, "recipient": 200, "group_member": 200, "other": 404, "moderator": 404,
                       "admin": 404, "visitor": 404}
    assert browser("recipient").get(upload["url"]).headers["cache-control"] == "private, no-cache"


@pytest.mark.server
def test_the_message_bus_tells_only_the_people_in_it(database_url, db, cast, message):
    from tests.server import running_server
    from tests.test_message_bus import _poll, _reply, _signed_in, _status

    channels = {f"/topic/{message.id}": -1, "/latest": -1, "/new": -1}
    with running_server(database_url, env={"FORUM_MESSAGE_BUS_LONG_POLL_SECONDS": "2"}) as base:
        readers = {who: _signed_in(base, USERNAMES[who]) for who in ("recipient", "other", "moderator", "admin")}
        where = {who: _status(_poll(c, channels, dlp=True)) for who, c in readers.items()}
        _reply(_signed_in(base, "sara"), message.id, f"One more thing about {SECRET}.")
        for who in ("other", "moderator", "admin"):
            told = _poll(readers[who], where[who], dlp=True)
            assert [m["channel"] for m in told] == ["/__status"], who
        told = _poll(readers["recipient"], where["recipient"], dlp=True)
        channels_told = {m["channel"] for m in told}
        assert f"/topic/{message.id}" in channels_told and "/latest" not in channels_told
        assert SECRET not in str(told)  # identifiers and counts, never content


def test_inviting_a_group_lets_its_members_read_the_whole_conversation(db, cast, client, key_for):
    with db.write() as s:
        group = messages.create_group(s, Viewer(cast["admin"]), name="auditors", visibility="public")
        s.add(GroupUser(group_id=group.id, user_id=cast["other"].id, owner=False))
    r = send(client, key_for(cast["sender"]), "rui")
    topic_id = r.json()["topic_id"]
    otto = key_for(cast["other"])
    assert client.get(f"/t/{topic_id}.json", headers=otto).status_code == 404
    r = client.post(f"/t/{topic_id}/invite.json", headers=key_for(cast["recipient"]), data={"group": "auditors"})
    assert r.status_code == 200, r.text
    body = client.get(f"/t/{topic_id}.json", headers=otto).json()
    assert SECRET in body["post_stream"]["posts"][0]["cooked"]
    assert [g["name"] for g in body["details"]["allowed_groups"]] == ["auditors"]
    notified = client.get("/notifications.json", headers=otto).json()["notifications"]
    assert [n["notification_type"] for n in notified] == [7]
    # An unknown group is refused with its name.
    r = client.post(f"/t/{topic_id}/invite.json", headers=key_for(cast["recipient"]), data={"group": "nobody-group"})
    assert r.status_code == 422 and "There is no person or group named nobody-group." in r.json()["errors"]
