"""People's own data, beyond tests/test_user_export.py and tests/test_erasure.py: the archive holds
the conversations a person is in (through a group too) and none they have left, and nothing of a
bookmarked post hidden from them since; erasing an account takes its archives, the emails waiting
for its address and the invitations naming it; an admin's account cannot be erased, and nothing
happens without the typed confirmation."""

import json
from datetime import timedelta

from sqlalchemy import select, update

from forum import bookmarks, mail, messages, outbox, uploads, user_export
from forum.models import (
    Category,
    Invitation,
    ModerationLog,
    Notification,
    OutboxItem,
    Post,
    Topic,
    User,
    utcnow,
)
from forum.models.messages import GroupUser
from forum.permissions import Viewer
from tests.api.conftest import JSON, as_user, make_key  # noqa: F401  (fixtures)
from tests.conftest import login, post_form

LEFT = "A conversation Lena walked out of."
GROUP = "Delegates only: the agenda for Turin."
HIDDEN = "The board's figures, members only."


def test_the_archive_has_the_conversations_one_is_in_and_nothing_hidden_since(
        db, settings, staff, make_user, make_category, make_topic, make_reply):
    lena = make_user("lena", tier="member")
    rui = make_user("rui", tier="member")
    hidden = make_topic(rui, make_category("Board", "members_only"), title="Board figures", raw=HIDDEN)
    open_topic = make_topic(rui, make_category("News"), title="Assembly budget", raw="Let us talk money.")
    make_reply(lena, open_topic, raw=f'[quote="rui, post:1, topic:{hidden.id}"]\n{HIDDEN}\n[/quote]\n\n'
                                     "Agreed, and we should say so at the assembly.")
    with db.write() as s:
        group = messages.create_group(s, Viewer(s.get(User, staff.id)), name="delegates", visibility="public",
                                      messageable_level="everyone")
        s.add(GroupUser(group_id=group.id, user_id=lena.id, owner=False))
        s.flush()
        as_rui = Viewer(s.get(User, rui.id))
        messages.create_private_message(s, settings, as_rui, recipients="delegates", title="Agenda for Turin",
                                        raw=GROUP)
        left = messages.create_private_message(s, settings, as_rui, recipients="lena", title="Walked out of",
                                               raw=LEFT)
        first = s.scalar(select(Post).where(Post.topic_id == hidden.id))
        bookmarks.create(s, Viewer(s.get(User, lena.id)), bookmarkable_type="Post", bookmarkable_id=first.id,
                         name="for the assembly")
    with db.write() as s:
        messages.remove_allowed_user(s, Viewer(s.get(User, lena.id)), left.topic_id, None)
        s.execute(update(User).where(User.id == lena.id).values(tier="participant"))
    with db.read() as s:
        parts = user_export.collect(s, s.get(User, lena.id))
    everything = json.dumps(parts, ensure_ascii=False)
    assert [c["title"] for c in parts["private_messages"]] == ["Agenda for Turin"]
    assert GROUP in everything and LEFT not in everything and "Walked out of" not in everything
    [mark] = parts["bookmarks"]
    assert mark["name"] == "for the assembly" and mark["topic_title"] is None  # hers: the name; not the post
    assert HIDDEN not in everything and "Board figures" not in everything
    [reply] = [p for p in parts["posts"] if "Agreed" in p["raw"]]  # her words stay, the quote goes
    assert "we should say so" in reply["cooked"] and "left out" in reply["raw"] and "<aside" not in reply["cooked"]
    nested = f'[quote="a, post:1, topic:{open_topic.id}"]\n[quote="b, post:1, topic:{hidden.id}"]\nx\n[/quote]\ny\n[/quote]'
    kept = user_export._without_hidden_quotes(nested, user_export._RAW_QUOTE, lambda t: t == hidden.id, 0)
    assert "\nx\n" not in kept and "y" in kept and kept.count("[/quote]") == 1


def test_erasing_takes_the_archives_waiting_emails_and_invitations_naming_the_account(
        client, db, settings, staff, make_user, make_category, make_topic, as_user):
    lena = make_user("lena", tier="member", name="Lena Marquez")
    topic = make_topic(lena, make_category("News"), title="Seed swap in March", raw="Bring your seeds.")
    cached = [f"/t/{topic.slug}/{topic.id}", "/latest", "/latest.rss", f"/t/{topic.id}.json"]
    assert all("lena" in client.get(path).text.lower() for path in cached)  # anonymous pages, now cached
    with db.write() as s:
        user_export.request(s, Viewer(s.get(User, lena.id)))
    outbox.drain(db, settings)
    with db.read() as s:
        name = json.loads(s.scalar(select(Notification.data).where(
            Notification.user_id == lena.id, Notification.kind == user_export.KIND)))["name"]
    store = uploads.store_for(settings)
    assert store.exists(f"exports/{name}")
    with db.write() as s:
        mail.queue_email(s, to="lena@example.org", subject="Hello lena", text="Dear lena", html=None,
                         headers={}, dedupe_key=None)
        s.add(Invitation(code="c0de-for-lena", created_by_id=staff.id, email="Lena@example.org", tier="member",
                         expires_at=utcnow() + timedelta(days=7)))
        s.add(ModerationLog(actor_id=staff.id, action="silence_user", target_type="user", target_id=lena.id,
                            target_user_id=lena.id, summary="lena", reason="lena (Lena@example.org) kept posting",
                            details=json.dumps({"to": "lena@example.org", "by": "lenard"})))

    r = client.put(f"/admin/users/{lena.id}/anonymize.json", headers=as_user(staff))
    assert r.status_code == 200
    outbox.drain(db, settings)
    assert not store.exists(f"exports/{name}")
    with db.read() as s:
        assert not s.scalars(select(Notification).where(Notification.user_id == lena.id,
                                                        Notification.kind == user_export.KIND)).all()
        waiting = " ".join(s.scalars(select(OutboxItem.payload)))
        assert "lena@example.org" not in waiting.lower()
        invitation = s.scalar(select(Invitation).where(Invitation.code == "c0de-for-lena"))
        assert invitation.email == s.get(User, lena.id).email != "lena@example.org"
        log = " ".join(f"{e.summary} {e.reason} {e.details}" for e in s.scalars(select(ModerationLog)))
        assert "lena" not in log.replace("lenard", "") and "lenard" in log  # another name stays as it was
    profile = client.get(f"/u/{r.json()['username']}.json", headers=as_user(staff)).text.lower()
    assert "lena" not in profile and "marquez" not in profile
    for path in cached:
        page = client.get(path).text.lower()
        assert "seed swap" in page and "lena" not in page and "marquez" not in page, path


def test_no_erasure_without_confirmation_and_none_of_an_admin(
        client, make_client, db, staff, make_user, make_category, make_topic, as_user):
    bob = make_user("bob", tier="member")
    news = make_category("News")
    alone = make_topic(bob, news, title="Nobody answered this question", raw="Does anyone keep bees?")
    other_admin = make_user("ada", tier="member", admin=True)
    admin = make_client()
    login(admin, staff.username)
    page = f"/admin/users/{bob.id}"
    for action in ("anonymize", "erase"):
        r = post_form(admin, f"{page}/{action}", {}, csrf_from=page)
        assert r.status_code == 422 and "Type the username bob to confirm." in r.text
    assert "Erase this account" not in admin.get(f"/admin/users/{other_admin.id}").text
    refused = post_form(admin, f"/admin/users/{other_admin.id}/erase", {"confirm": "ada"}, csrf_from=page)
    assert refused.status_code == 403
    assert client.put(f"/admin/users/{other_admin.id}/anonymize.json", headers=as_user(staff)).status_code == 403
    assert client.delete(f"/admin/users/{other_admin.id}.json", params={"delete_posts": "true"},
                         headers=as_user(staff)).status_code == 403
    with db.read() as s:
        assert s.get(User, bob.id).username == "bob" and s.get(User, other_admin.id).username == "ada"
        assert s.scalar(select(ModerationLog.id).where(ModerationLog.target_user_id.in_(
            [bob.id, other_admin.id]))) is None
    with db.read() as s:
        assert s.get(Category, news.id).topic_count == 1
    done = post_form(admin, f"{page}/erase", {"confirm": "bob"}, csrf_from=page)
    assert done.status_code == 303
    with db.read() as s:
        assert s.scalar(select(ModerationLog.id).where(ModerationLog.action == "delete_user_with_posts",
                                                       ModerationLog.target_user_id == bob.id))
        assert s.get(Topic, alone.id).deleted_at is not None  # nothing of anyone else's was left in it
        assert s.get(Category, news.id).topic_count == 0
    assert "Nobody answered" not in client.get("/latest").text
    assert client.get(f"/t/{alone.id}.json").status_code == 404
