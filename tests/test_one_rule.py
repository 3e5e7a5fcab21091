"""Rules that had a second copy outside forum/permissions.py, asked through their one function now."""

from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace

import pytest

from forum import permissions, reading, user_admin
from forum.models import utcnow
from forum.permissions import PostDisplay, Viewer

NOW = utcnow()


@pytest.mark.parametrize(("deleted", "hidden", "who", "shown"), [
    (False, False, "anonymous", PostDisplay.FULL),
    (True, False, "anonymous", PostDisplay.PLACEHOLDER),
    (True, False, "other", PostDisplay.PLACEHOLDER),
    (True, False, "author", PostDisplay.DELETED_MARKED),
    (True, False, "staff", PostDisplay.DELETED_MARKED),
    (False, True, "anonymous", PostDisplay.PLACEHOLDER),
    (False, True, "other", PostDisplay.PLACEHOLDER),
    (False, True, "author", PostDisplay.HIDDEN_MARKED),
    (False, True, "staff", PostDisplay.HIDDEN_MARKED),
    (True, True, "author", PostDisplay.DELETED_MARKED),
])
def test_post_display_is_the_one_deleted_and_hidden_rule(deleted, hidden, who, shown):
    users = {"other": SimpleNamespace(id=2, is_staff=False), "author": SimpleNamespace(id=1, is_staff=False),
             "staff": SimpleNamespace(id=3, is_staff=True)}
    viewer = Viewer(user=users.get(who))
    post = SimpleNamespace(user_id=1, deleted_at=NOW if deleted else None, hidden=hidden)
    assert permissions.post_display(viewer, post) is shown


def test_can_flag_topic_in_the_topic_json_follows_who_may_flag(client, db, make_user, make_category, make_topic,
                                                              staff):
    from tests.conftest import login

    ana = make_user("ana", tier="member")
    make_user("bob", tier="member")
    topic = make_topic(ana, make_category("News and events"))
    assert client.get(f"/t/{topic.id}.json").json()["details"]["can_flag_topic"] is False
    login(client, "bob")
    assert client.get(f"/t/{topic.id}.json").json()["details"]["can_flag_topic"] is True
    with db.write() as s:
        user_admin.silence(s, Viewer(staff), client.get("/session/current.json").json()["current_user"]["id"],
                           until=utcnow() + timedelta(days=1), reason="Cooling off")
    # Silenced accounts may not flag posts; the topic's answer agrees now.
    assert client.get(f"/t/{topic.id}.json").json()["details"]["can_flag_topic"] is False


def test_email_is_shown_to_its_owner_and_staff_only(client, make_user, staff, make_client):
    from tests.conftest import login

    make_user("ana", tier="member")
    make_user("bob", tier="member")
    login(client, "bob")
    assert "email" not in client.get("/u/ana.json").json()["user"]
    assert client.get("/u/bob.json").json()["user"]["email"] == "bob@example.org"
    admin = make_client()
    login(admin, "staffer")
    assert admin.get("/u/ana.json").json()["user"]["email"] == "ana@example.org"


def test_visible_categories_apply_parents_and_keep_the_page_order(db, make_user, make_category):
    pia = make_user("pia", tier="participant")
    news = make_category("News and events")
    lounge = make_category("Members' lounge", "members_only")
    make_category("Lounge archive", parent_id=lounge.id)  # public itself, hidden with its parent
    sub = make_category("Local news", parent_id=news.id)
    with db.read() as s:
        assert [c.id for c in permissions.visible_categories(s, Viewer(pia))] == [news.id, sub.id]
        assert {c.id for c in permissions.visible_categories(s, Viewer())} == {news.id, sub.id}


def test_first_post_is_the_opening_post_whatever_its_state(db, make_user, make_category, make_topic, make_reply):
    ana = make_user("ana", tier="member")
    topic = make_topic(ana, make_category("News and events"), raw="Opening words of the topic.")
    make_reply(ana, topic)
    with db.read() as s:
        assert reading.first_post(s, topic).raw == "Opening words of the topic."
        assert reading.first_post(s, topic.id).post_number == 1
        assert reading.first_post(s, 10_000) is None


def test_a_hidden_outcome_is_read_by_its_author_and_staff_only(db, settings, client, make_user, make_category,
                                                               make_client, staff):
    from forum import moderation, proposals
    from tests.conftest import login

    category = make_category("General assembly", "members_and_workers")
    ana = make_user("ana", tier="member")
    make_user("wes", tier="worker")
    with db.write() as s:
        post = proposals.create_proposal(s, settings, Viewer(ana), title="Adopt the shared kitchen charter",
                                         raw="We propose to adopt the charter as drafted.", category_id=category.id,
                                         closes_date=(utcnow() + timedelta(days=30)).strftime("%Y-%m-%d"),
                                         closes_time="15:00", timezone="UTC")
        topic_id = post.topic_id
    with db.write() as s:
        proposal = s.scalar(proposals.select(proposals.Proposal).where(proposals.Proposal.topic_id == topic_id))
        proposals.close_now(s, settings, Viewer(staff), proposal_id=proposal.id)
    with db.write() as s:
        outcome = proposals.write_outcome(s, settings, Viewer(ana), proposal_id=proposal.id,
                                          raw="Adopted; the kitchen charter applies from January.")
        moderation.hide_post(s, Viewer(staff), outcome.id)
    with db.read() as s:
        topic = s.get(proposals.Topic, topic_id)
        path = f"/t/{topic.slug}/{topic.id}"
    for name, reads in (("wes", False), ("ana", True), ("staffer", True)):
        c = make_client()
        login(c, name)
        page = c.get(path).text
        panel = page[page.index('id="proposal"'):page.index("</section>", page.index('id="proposal"'))]
        assert ("kitchen charter applies from January" in panel) is reads, name
