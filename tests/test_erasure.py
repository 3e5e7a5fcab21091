"""A person asks to be forgotten: staff anonymise the account, or delete it with its posts. Neither
leaves the old name or address in pages, search, feeds, JSON or edit histories; both are logged,
confirmed on the page, and refused on staff accounts to moderators."""

import re

from sqlalchemy import select

from forum import posting
from forum.models import ModerationLog, Post, Topic, User
from forum.permissions import Viewer
from tests.api.conftest import JSON, as_user, make_key  # noqa: F401  (fixtures)
from tests.conftest import login, post_form

OLD = "rosalind"  # appears nowhere but in her name, address and what names her


def _forum(db, settings, make_user, make_category, make_topic, make_reply):
    rosalind = make_user(OLD, tier="member", name="Rosalind Okafor")
    bob = make_user("bob", tier="member")
    topic = make_topic(rosalind, make_category("News"), title="Worker buyouts in Lagos",
                       raw="Three bakeries became co-operatives this year.")
    make_reply(bob, topic, raw=f'[quote="{OLD}, post:1, topic:{topic.id}"]\nThree bakeries\n[/quote]\n\n'
                               f"Thanks @{OLD}, which ones?")
    with db.write() as s:
        mention = s.scalar(select(Post).where(Post.topic_id == topic.id, Post.post_number == 2))
        posting.edit_post(s, settings, Viewer(s.get(User, bob.id)), post_id=mention.id,
                          raw=f"Thanks @{OLD} and welcome, which ones exactly?")
    make_reply(rosalind, topic, raw="The ones in Yaba and Surulere, both worker-owned now.")
    make_reply(bob, topic, raw="Great news for the federation.")
    return rosalind, bob, topic


def _everywhere(client, topic) -> str:
    with_revisions = ""
    for n in (1, 2, 3):
        page = client.get(f"/t/{topic.slug}/{topic.id}/{n}")
        for post_id in re.findall(r'/posts/(\d+)/revisions', page.text):
            with_revisions += client.get(f"/posts/{post_id}/revisions").text
    return "\n".join([
        client.get(f"/t/{topic.slug}/{topic.id}").text, client.get(f"/t/{topic.id}.json").text,
        client.get("/latest").text, client.get("/latest.json").text, client.get("/latest.rss").text,
        client.get(f"/t/{topic.slug}/{topic.id}.rss").text, client.get("/posts.rss").text,
        client.get("/search?q=bakeries").text, client.get("/search.json?q=federation").text, with_revisions,
    ]).lower()


def test_anonymising_from_the_admin_page_leaves_no_trace_of_the_name_or_address(
        client, make_client, db, settings, staff, make_user, make_category, make_topic, make_reply):
    rosalind, bob, topic = _forum(db, settings, make_user, make_category, make_topic, make_reply)
    admin = make_client()
    login(admin, staff.username)
    before = _everywhere(admin, topic)
    assert OLD in before and "okafor" in before  # the checks below could fail

    page = f"/admin/users/{rosalind.id}"
    assert "Erase this account" in admin.get(page).text
    wrong = post_form(admin, f"{page}/anonymize", {"confirm": "bob"}, csrf_from=page)
    assert wrong.status_code == 422 and f"Type the username {OLD} to confirm." in wrong.text
    with db.read() as s:
        assert s.get(User, rosalind.id).username == OLD  # nothing happened
    done = post_form(admin, f"{page}/anonymize", {"confirm": OLD.upper()}, csrf_from=page)
    assert done.status_code == 303
    with db.read() as s:
        user = s.get(User, rosalind.id)
        new = user.username
        assert new.startswith("anon") and user.name == "" and OLD not in (user.email or "")
        assert s.scalar(select(ModerationLog.id).where(ModerationLog.action == "anonymize_user",
                                                       ModerationLog.target_user_id == rosalind.id))
    after = _everywhere(admin, topic)
    assert OLD not in after and "okafor" not in after
    assert f"@{new}" in after and "three bakeries" in after  # her posts stay, under the new name
    assert client.get(f"/u/{OLD}").status_code == 404 and client.get(f"/u/{new}").status_code == 200
    found = admin.get(f"/search.json?q={OLD}").json()
    assert not found.get("posts") and not found.get("users") and not found.get("topics")


def test_deleting_with_posts_keeps_the_numbering_and_the_replies_of_others(
        client, db, settings, staff, make_user, make_category, make_topic, make_reply, as_user):
    rosalind, bob, topic = _forum(db, settings, make_user, make_category, make_topic, make_reply)
    r = client.delete(f"/admin/users/{rosalind.id}.json", params={"delete_posts": "true"}, headers=as_user(staff))
    assert r.status_code == 200 and r.json() == {"deleted": True}
    # Staff see every number, the deleted ones saying why; readers see the replies of others.
    body = client.get(f"/t/{topic.id}.json", params={"show_deleted": "true"}, headers=as_user(staff)).json()
    cooked = {p["post_number"]: p["cooked"] for p in body["post_stream"]["posts"]}
    assert sorted(cooked) == [1, 2, 3, 4]
    assert "deleted with its author" in cooked[1] and "deleted with its author" in cooked[3]
    assert "Great news for the federation." in cooked[4] and "which ones exactly" in cooked[2]
    public = client.get(f"/t/{topic.id}.json").json()["post_stream"]["posts"]
    assert [p["post_number"] for p in public] == [2, 4]
    with db.read() as s:
        assert s.get(Topic, topic.id).posts_count == 2  # bob's two replies
        for post in s.scalars(select(Post).where(Post.user_id == rosalind.id)):
            assert post.deleted_at is not None and "deleted with its author's account" in post.raw
        assert s.scalar(select(ModerationLog.id).where(ModerationLog.action == "delete_user_with_posts"))
    found = client.get(f"/search.json?q={OLD}").json()
    assert not found.get("posts") and not found.get("users") and not found.get("topics")
    everything = _everywhere(client, topic)
    assert OLD not in everything and "yaba" not in everything and "okafor" not in everything


def test_moderators_erase_no_staff_account_and_members_nothing(client, staff, make_user, as_user):
    mod = make_user("moe", tier="member", moderator=True)
    bob = make_user("bob", tier="member")
    assert client.delete(f"/admin/users/{staff.id}.json", params={"delete_posts": "true"},
                         headers=as_user(mod)).status_code == 403
    assert client.put(f"/admin/users/{bob.id}/anonymize.json",
                      headers=as_user(make_user("cyd", tier="member"))).status_code == 404
    assert client.put(f"/admin/users/{bob.id}/anonymize.json", headers=as_user(mod)).status_code == 200
