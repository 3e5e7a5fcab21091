"""Polls, events and proposals in the JSON API: Discourse's `polls` / `polls_votes` and `event` on posts,
our `proposal` on the topic, each showing a viewer only what the page shows them."""

from __future__ import annotations

from sqlalchemy import select

from forum import events, polls, proposals
from forum.models import Poll, PollOption, Post, Proposal, User
from forum.permissions import Viewer
from tests.api.conftest import JSON

THEMES = """Which themes for the assembly?

[poll name=themes type=multiple min=1 max=2 public=true]
# Pick two themes
* Housing
* Energy
* Care work
[/poll]

[poll name=secret results=on_vote]
* Lisbon
* Ghent
[/poll]
"""


def _poll(db, topic_id: int, name: str) -> tuple[Poll, list[PollOption]]:
    with db.read() as s:
        poll = s.scalar(select(Poll).join(Post, Post.id == Poll.post_id)
                        .where(Post.topic_id == topic_id, Poll.name == name))
        return poll, list(s.scalars(select(PollOption).where(PollOption.poll_id == poll.id)
                                    .order_by(PollOption.position)))


def _vote(db, user: User, poll: Poll, options: list[PollOption], ranks: dict | None = None) -> None:
    with db.write() as s:
        polls.vote(s, Viewer(s.get(User, user.id)), poll_id=poll.id, option_ids=[str(o.id) for o in options],
                   ranks=ranks)


def _by_number(body: dict, number: int) -> dict:
    return next(p for p in body["post_stream"]["posts"] if p["post_number"] == number)


def test_polls_in_posts_show_counts_public_voters_and_only_the_viewers_own_votes(
        client, db, make_user, make_category, make_topic, make_reply, as_user):
    ana, bob, cleo = make_user("ana"), make_user("bob", name="Bob Brown"), make_user("cleo")
    topic = make_topic(ana, make_category("Assembly"), title="Themes for the general assembly")
    make_reply(ana, topic, raw=THEMES)
    themes, [housing, energy, care] = _poll(db, topic.id, "themes")
    secret, [lisbon, ghent] = _poll(db, topic.id, "secret")
    _vote(db, bob, themes, [housing, energy])
    _vote(db, cleo, themes, [housing])
    _vote(db, cleo, secret, [ghent])

    body = client.get(f"/t/{topic.id}.json", headers=as_user(bob)).json()
    assert "polls" not in _by_number(body, 1)
    post = _by_number(body, 2)
    by_name = {p["name"]: p for p in post["polls"]}
    assert set(by_name) == {"themes", "secret"}
    shown = by_name["themes"]
    assert (shown["type"], shown["status"], shown["public"], shown["min"], shown["max"]) == (
        "multiple", "open", True, 1, 2)
    assert shown["title"] == "Pick two themes" and shown["voters"] == 2
    assert [(o["id"], o["html"], o["votes"]) for o in shown["options"]] == [
        (housing.digest, "Housing", 2), (energy.digest, "Energy", 1), (care.digest, "Care work", 0)]
    voters = shown["preloaded_voters"]
    assert [u["username"] for u in voters[housing.digest]] == ["bob", "cleo"]
    assert voters[energy.digest][0] == {**voters[energy.digest][0], "username": "bob", "name": "Bob Brown"}
    # Bob sees his own choices, not Cleo's, and no results of the poll he has not answered.
    assert post["polls_votes"] == {"themes": [housing.digest, energy.digest]}
    hidden = by_name["secret"]
    assert hidden["public"] is False and "preloaded_voters" not in hidden
    assert "voters" not in hidden and all("votes" not in o for o in hidden["options"])

    body = client.get(f"/t/{topic.id}.json", headers=as_user(cleo)).json()
    post = _by_number(body, 2)
    assert post["polls_votes"] == {"themes": [housing.digest], "secret": [ghent.digest]}
    secret_shown = next(p for p in post["polls"] if p["name"] == "secret")
    assert [o["votes"] for o in secret_shown["options"]] == [0, 1] and "preloaded_voters" not in secret_shown

    # A visitor: the counts of the open poll, no votes of anyone's as "theirs", no way to vote.
    visitor = client.get(f"/t/{topic.id}.json", headers={"Accept": JSON}).json()
    post = _by_number(visitor, 2)
    assert "polls_votes" not in post and all(p["can_vote"] is False for p in post["polls"])
    # The same on the post's own address and in /t/{id}/posts.json.
    one = client.get(f"/posts/{post['id']}.json", headers=as_user(bob)).json()
    assert one["polls_votes"] == {"themes": [housing.digest, energy.digest]}
    listed = client.get(f"/t/{topic.id}/posts.json", headers=as_user(cleo),
                        params={"post_ids[]": post["id"]}).json()
    assert listed["post_stream"]["posts"][0]["polls_votes"]["secret"] == [ghent.digest]


def test_ranked_polls_use_discourses_type_name_and_give_ranks(client, db, make_user, make_category, make_topic,
                                                             as_user):
    ana, bob = make_user("ana"), make_user("bob")
    topic = make_topic(ana, make_category("Assembly"), title="Rank the venues for the assembly",
                       raw="Rank them.\n\n[poll type=ranked]\n* Porto\n* Ghent\n* Dakar\n[/poll]\n")
    poll, [porto, ghent, dakar] = _poll(db, topic.id, "poll")
    _vote(db, bob, poll, [], ranks={str(dakar.id): "1", str(porto.id): "2"})
    post = _by_number(client.get(f"/t/{topic.id}.json", headers=as_user(bob)).json(), 1)
    [shown] = post["polls"]
    assert shown["type"] == "ranked_choice"
    assert post["polls_votes"] == {"poll": [{"digest": dakar.digest, "rank": 1}, {"digest": porto.digest, "rank": 2}]}
    points = {o["id"]: o["points"] for o in shown["options"]}
    assert points[dakar.digest] == 3 and points[porto.digest] == 2 and points[ghent.digest] == 0


def test_an_event_on_the_first_post_with_labelled_times_counts_and_names_for_those_allowed(
        client, db, settings, make_user, make_category, as_user):
    ana, bob = make_user("ana"), make_user("bob")
    housing = make_category("Housing")
    with db.write() as s:
        s.get(User, bob.id).timezone = "Europe/Paris"
        post = events.create_event(s, settings, Viewer(s.get(User, ana.id)), title="Online assembly of housing co-ops",
                                   raw="Agenda: rents, repairs, the new fund.",
                                   category_id=housing.id, start_date="2026-12-14",
                                   start_time="15:00", end_time="17:00", timezone="Europe/London",
                                   online_url="https://meet.example.org/housing")
        topic_id, first_id = post.topic_id, post.id
        event_id = s.scalar(select(events.Event.id).where(events.Event.topic_id == topic_id))
    with db.write() as s:
        events.rsvp(s, Viewer(s.get(User, bob.id)), event_id=event_id, status="going")

    body = client.get(f"/t/{topic_id}.json", headers=as_user(bob)).json()
    event = _by_number(body, 1)["event"]
    assert (event["id"], event["post"]["id"], event["timezone"]) == (event_id, first_id, "Europe/London")
    assert event["starts_at"] == "2026-12-14T15:00:00.000Z" and event["ends_at"] == "2026-12-14T17:00:00.000Z"
    assert event["starts_at_text"] == "Mon 14 Dec 2026, 15:00 London (GMT) · 16:00 your time (Paris, CET)"
    assert event["url"] == "https://meet.example.org/housing" and event["ics_url"] == f"/events/{event_id}.ics"
    assert event["stats"] == {"going": 1, "interested": 0, "not_going": 0}
    assert event["watching_invitee"] == {"status": "going"} and event["can_update_attendance"] is True
    assert [(i["status"], i["user"]["username"]) for i in event["sample_invitees"]] == [("going", "bob")]
    assert event["is_cancelled"] is False and event["sequence"] == 0

    visitor = _by_number(client.get(f"/t/{topic_id}.json", headers={"Accept": JSON}).json(), 1)["event"]
    assert visitor["stats"]["going"] == 1 and visitor["sample_invitees"] == []
    assert visitor["should_display_invitees"] is False and visitor["watching_invitee"] is None
    assert visitor["starts_at_text"] == "Mon 14 Dec 2026, 15:00 London (GMT) · 15:00 UTC"


def test_a_proposal_on_the_topic_with_tally_reasons_and_the_viewers_own_position(
        client, db, settings, make_user, make_category, make_topic, as_user):
    ana, bob = make_user("ana", tier="member"), make_user("bob", tier="member")
    cleo = make_user("cleo", tier="member")
    category = make_category("Proposals")
    with db.write() as s:
        post = proposals.create_proposal(s, settings, Viewer(s.get(User, ana.id)),
                                         title="Adopt the shared kitchen charter",
                                         raw="We propose to adopt the charter as drafted.", category_id=category.id,
                                         closes_date="2026-12-14", closes_time="15:00", timezone="Europe/London",
                                         quorum="50")
        topic_id = post.topic_id
        proposal_id = s.scalar(select(Proposal.id).where(Proposal.topic_id == topic_id))
    with db.write() as s:
        proposals.take_position(s, Viewer(s.get(User, bob.id)), proposal_id=proposal_id, position="block",
                                reason="The cleaning rota is unfair to night shifts.")
        proposals.take_position(s, Viewer(s.get(User, cleo.id)), proposal_id=proposal_id, position="agree")

    body = client.get(f"/t/{topic_id}.json", headers=as_user(bob)).json()
    shown = body["proposal"]
    assert (shown["id"], shown["kind"], shown["status"], shown["timezone"]) == (
        proposal_id, "consent", "open", "Europe/London")
    assert shown["closes_at"] == "2026-12-14T15:00:00.000Z"
    assert shown["closes_at_text"] == "Mon 14 Dec 2026, 15:00 London (GMT) · 15:00 UTC"
    assert shown["tally"] == {"agree": 1, "abstain": 0, "disagree": 0, "block": 1}
    # ana, bob, cleo and the staff member who made the category may reply: 2 of 4 responded.
    assert (shown["eligible_count"], shown["responded_count"], shown["quorum_percent"], shown["quorum_needed"]) == (
        4, 2, 50, 2)
    assert shown["quorum_met"] is None
    assert shown["blocks"] == [{"username": "bob", "name": None, "position": "block",
                                "reason": "The cleaning rota is unfair to night shifts."}]
    assert {p["username"]: p["position"] for p in shown["positions"]} == {"bob": "block", "cleo": "agree"}
    assert shown["my_position"] == {"position": "block", "reason": "The cleaning rota is unfair to night shifts."}
    assert set(shown["not_responded"]) == {"ana", "staffer"} and shown["can_respond"] is True

    assert client.get(f"/t/{topic_id}.json", headers=as_user(ana)).json()["proposal"]["my_position"] is None
    assert client.get(f"/t/{topic_id}.json", headers={"Accept": JSON}).json()["proposal"]["can_respond"] is False
    plain = make_topic(ana, category, title="Just a topic about the kitchen")
    assert "proposal" not in client.get(f"/t/{plain.id}.json", headers=as_user(ana)).json()


def test_hidden_polls_events_and_proposals_stay_hidden(client, db, settings, make_user, make_category, as_user):
    ana, pat = make_user("ana", tier="member"), make_user("pat")
    board = make_category("Board", "members_only")
    with db.write() as s:
        post = events.create_event(s, settings, Viewer(s.get(User, ana.id)), title="Board meeting in December",
                                   raw="[poll]\n* Yes\n* No\n[/poll]\n", category_id=board.id,
                                   start_date="2026-12-14", start_time="15:00", timezone="Europe/London")
    r = client.get(f"/t/{post.topic_id}.json", headers=as_user(pat))
    assert r.status_code == 404 and "Board meeting" not in r.text
    assert client.get(f"/posts/{post.id}.json", headers=as_user(pat)).status_code == 404
    first = _by_number(client.get(f"/t/{post.topic_id}.json", headers=as_user(ana)).json(), 1)
    assert first["event"]["timezone"] == "Europe/London" and first["polls"][0]["name"] == "poll"
