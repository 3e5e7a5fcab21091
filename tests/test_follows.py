"""Following people: the Follow button, one's own lists, the follow plugin's API, and private
messages taken only from the people one follows."""

from datetime import UTC, datetime

from sqlalchemy import MetaData, Table, create_engine, select

from forum import apikeys
from forum.migrate import upgrade
from forum.models import UserOption
from forum.permissions import Viewer
from tests.conftest import login, post_form
from tests.test_migrations import scratch_url  # noqa: F401  (fixture)

JSON = "application/json; charset=utf-8"


def api(db, staff, user) -> dict[str, str]:
    with db.write() as s:
        secret = apikeys.create_api_key(s, Viewer(staff), description="t", username=user.username).secret
    return {"Api-Key": secret, "Api-Username": user.username, "Accept": JSON}


def test_following_from_a_profile_and_the_own_lists(client, make_client, make_user, staff):
    make_user("sara", tier="member")
    make_user("rui", tier="worker")
    login(client, "sara")
    page = client.get("/u/rui")
    assert ">Follow</button>" in page.text
    r = post_form(client, "/u/rui/follow", {}, csrf_from="/u/rui")
    assert r.status_code == 303 and r.headers["location"] == "/u/rui"
    page = client.get("/u/rui")
    assert ">Unfollow</button>" in page.text and 'aria-pressed="true"' in page.text
    assert post_form(client, "/u/rui/follow", {}, csrf_from="/u/rui").status_code == 303  # twice: still one
    own = client.get("/u/sara")
    assert "Following (1)" in own.text and "Followers (0)" in own.text
    following = client.get("/u/sara/follow/following")
    assert following.status_code == 200 and 'href="/u/rui"' in following.text
    # Someone else's lists are theirs and staff's.
    assert client.get("/u/rui/follow/followers").status_code == 404
    rui = make_client()
    login(rui, "rui")
    assert 'href="/u/sara"' in rui.get("/u/rui/follow/followers").text
    moderator = make_client()
    login(moderator, staff.username)
    assert 'href="/u/rui"' in moderator.get("/u/sara/follow/following").text
    # Without a form token nothing happens.
    assert client.post("/u/rui/unfollow", data={}, follow_redirects=False).status_code == 403
    assert post_form(client, "/u/rui/unfollow", {}, csrf_from="/u/rui").status_code == 303
    assert ">Follow</button>" in client.get("/u/rui").text
    assert "Nobody yet." in client.get("/u/sara/follow/following").text


def test_nobody_follows_themselves_and_visitors_follow_nobody(client, make_client, make_user):
    make_user("sara", tier="member")
    assert client.get("/u/sara/follow/following").status_code == 403  # sign in first, as for bookmarks
    login(client, "sara")
    r = post_form(client, "/u/sara/follow", {}, csrf_from="/u/sara")
    assert r.status_code == 422 and "You cannot follow yourself." in r.text
    assert "Following (0)" in client.get("/u/sara").text


def test_messages_from_people_i_follow_only(client, db, make_user, staff):
    sara = make_user("sara", tier="member")
    rui = make_user("rui", tier="member")
    otto = make_user("otto", tier="member")
    mona = make_user("mona", tier="member", moderator=True)
    login(client, "rui")
    page = client.get("/my/preferences")
    assert 'value="following"' in page.text and "People I follow" in page.text
    r = post_form(client, "/my/preferences", {"name": "", "messages_from": "following"},
                  csrf_from="/my/preferences")
    assert r.status_code == 200, r.text
    with db.read() as s:
        assert s.get(UserOption, rui.id).messages_from == "following"

    def send(user):
        return client.post("/posts.json", headers=api(db, staff, user), data={
            "archetype": "private_message", "title": "About the assembly minutes draft",
            "raw": "Could you read the draft minutes before Friday?", "target_recipients": "rui"})

    r = send(sara)
    assert r.status_code == 422
    assert "rui accepts private messages only from people they follow." in r.json()["errors"]
    assert client.get("/u/rui.json", headers=api(db, staff, sara)).json()["user"][
        "can_send_private_message_to_user"] is False
    assert post_form(client, "/u/sara/follow", {}, csrf_from="/u/sara").status_code == 303
    assert send(sara).status_code == 200
    assert client.get("/u/rui.json", headers=api(db, staff, sara)).json()["user"][
        "can_send_private_message_to_user"] is True
    assert send(otto).status_code == 422  # rui follows sara, not otto
    assert send(mona).status_code == 200  # staff always may


def test_the_follow_plugin_api(client, db, make_user, staff):
    sara = make_user("sara", tier="member")
    rui = make_user("rui", tier="member")
    headers = api(db, staff, sara)
    assert client.put("/follow/rui.json", headers=headers).json() == {"success": "OK", "following": True}
    body = client.get("/u/rui.json", headers=headers).json()["user"]
    assert body["is_followed"] is True and body["can_follow"] is True and "total_followers" not in body
    mine = client.get("/u/sara.json", headers=headers).json()["user"]
    assert mine["total_following"] == 1 and mine["total_followers"] == 0 and mine["can_follow"] is False
    listed = client.get("/u/sara/follow/following.json", headers=headers).json()
    assert [u["username"] for u in listed] == ["rui"]
    assert client.get("/u/rui/follow/followers.json", headers=headers).status_code == 404
    assert [u["username"] for u in client.get("/u/rui/follow/followers.json",
                                              headers=api(db, staff, rui)).json()] == ["sara"]
    me = client.put("/follow/sara.json", headers=headers)
    assert me.status_code == 422 and me.json()["errors"] == ["You cannot follow yourself."]
    assert client.put("/follow/nobody-here.json", headers=headers).status_code == 404
    assert client.delete("/follow/rui.json", headers=headers).json()["following"] is False
    assert client.get("/u/sara/follow/following.json", headers=headers).json() == []
    assert client.put("/follow/rui.json", headers={"Accept": JSON}).status_code in (401, 403)


def test_the_upgrade_keeps_a_refusal_of_messages(scratch_url):  # noqa: F811
    upgrade(scratch_url, "0020")
    engine = create_engine(scratch_url)
    now = datetime.now(UTC).replace(tzinfo=None)
    try:
        with engine.begin() as conn:
            users = Table("users", MetaData(), autoload_with=conn)
            options = Table("user_options", MetaData(), autoload_with=conn)
            for n, allow in ((1, False), (2, True)):
                conn.execute(users.insert().values(
                    id=n, username=f"u{n}", username_lower=f"u{n}", name="", email=f"u{n}@example.org",
                    password_hash="x", tier="member", is_moderator=False, is_admin=False, created_at=now,
                    post_count=0, topic_count=0))
                conn.execute(options.insert().values(
                    user_id=n, email_notifications="immediate", email_digest="none", digest_hour=8,
                    digest_weekday=0, allow_private_messages=allow))
        upgrade(scratch_url, "0021")
        with engine.connect() as conn:
            options = Table("user_options", MetaData(), autoload_with=conn)
            assert dict(conn.execute(select(options.c.user_id, options.c.messages_from)).all()) == {
                1: "nobody", 2: "everyone"}
    finally:
        engine.dispose()
