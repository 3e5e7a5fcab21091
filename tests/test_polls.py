"""Polls in posts: the [poll] markup, voting through plain forms and fetch, who sees results, edit protection."""

from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import select, update

from forum.markdown import cook
from forum.models import Poll, PollOption, PollVote, Post, utcnow
from tests.conftest import csrf_of, login, post_form

THEMES = """Which themes for the assembly?

[poll name=themes type=multiple min=1 max=2 public=true]
# Pick **two** themes
* Housing
* Energy
* Care work
[/poll]
"""

SINGLE = """Where do we meet?

[poll]
* Lisbon
* Ghent
[/poll]
"""


def topic_url(topic) -> str:
    return f"/t/{topic.slug}/{topic.id}"


def poll_of(db, topic, name="poll") -> tuple[Poll, list[PollOption]]:
    with db.read() as s:
        poll = s.scalar(select(Poll).join(Post, Post.id == Poll.post_id)
                        .where(Post.topic_id == topic.id, Poll.name == name))
        options = list(s.scalars(select(PollOption).where(PollOption.poll_id == poll.id)
                                 .order_by(PollOption.position)))
        return poll, options


def vote(client, poll, options, *, fetch=False, topic=None, ranks=None):
    data = {"option": [o.id for o in options]} if ranks is None else {"rank": ranks}
    if fetch:
        return client.post(f"/polls/{poll.id}/vote", data=data,
                           headers={"X-Requested-With": "fetch", "X-CSRF-Token": csrf_of(client)})
    return post_form(client, f"/polls/{poll.id}/vote", data)


def results_block(html: str, poll_id: int) -> str:
    """The results list of one poll (without its voting form)."""
    start = html.index('class="poll-results"', html.index(f'id="poll-{poll_id}"'))
    return html[start:html.index("</ol>", start)]


# --- markup -----------------------------------------------------------------------------------

def test_poll_markup_renders_a_named_block_with_its_options():
    cooked = cook(THEMES)
    assert '<div class="poll" data-poll-name="themes" data-poll-type="multiple">' in cooked.html
    assert cooked.html.count("data-poll-option-id=") == 3
    assert '<span class="poll-title">Pick <strong>two</strong> themes</span>' in cooked.html
    [meta] = cooked.polls
    assert [label for _d, label in meta["options"]] == ["Housing", "Energy", "Care work"]


def test_a_quoted_poll_is_only_text():
    cooked = cook('[quote="ana, post:1, topic:1"]\n[poll]\n* A\n* B\n[/poll]\n[/quote]')
    assert cooked.polls == []
    assert 'class="poll"' not in cooked.html


def test_several_named_polls_in_one_post_each_get_their_own_votes(db, make_user, make_category, make_topic, client):
    ana = make_user("ana")
    raw = "Two questions.\n\n[poll name=place]\n* Lisbon\n* Ghent\n[/poll]\n\n[poll name=month]\n* May\n* June\n[/poll]"
    topic = make_topic(ana, make_category("Assemblies"), raw=raw)
    place, place_options = poll_of(db, topic, "place")
    month, month_options = poll_of(db, topic, "month")
    login(client, "ana")
    assert vote(client, place, place_options[:1]).status_code == 303
    assert vote(client, month, month_options[1:]).status_code == 303
    page = client.get(topic_url(topic)).text
    assert f'id="poll-{place.id}"' in page and f'id="poll-{month.id}"' in page
    with db.read() as s:
        assert s.scalar(select(PollVote.option_id).where(PollVote.poll_id == place.id)) == place_options[0].id
        assert s.scalar(select(PollVote.option_id).where(PollVote.poll_id == month.id)) == month_options[1].id


def test_a_post_with_a_broken_poll_is_refused_with_the_text_kept(client, make_user, make_category):
    make_user("ana")
    category = make_category("Assemblies")
    login(client, "ana")
    raw = "Pick one\n\n[poll type=multiple max=5]\n* Only one option\n[/poll]"
    r = post_form(client, "/new-topic", {"title": "A poll with one option", "raw": raw, "category": category.id})
    assert r.status_code == 422
    assert "needs at least two options" in r.text
    assert "Only one option" in r.text  # what was typed is still in the form


def test_two_polls_with_the_same_name_are_refused(client, make_user, make_category):
    make_user("ana")
    category = make_category("Assemblies")
    login(client, "ana")
    raw = "[poll]\n* A\n* B\n[/poll]\n\n[poll]\n* C\n* D\n[/poll]"
    r = post_form(client, "/new-topic", {"title": "Two unnamed polls", "raw": raw, "category": category.id})
    assert r.status_code == 422 and "needs its own name" in r.text


# --- voting -----------------------------------------------------------------------------------

def test_vote_change_and_remove_a_vote_without_javascript(db, client, make_user, make_category, make_topic):
    ana = make_user("ana")
    make_user("bob")
    topic = make_topic(ana, make_category("Assemblies"), raw=SINGLE)
    poll, (lisbon, ghent) = poll_of(db, topic)
    login(client, "bob")
    r = vote(client, poll, [lisbon])
    assert r.status_code == 303 and r.headers["location"].endswith(f"#poll-{poll.id}")
    page = client.get(topic_url(topic)).text
    block = results_block(page, poll.id)
    assert re.search(r"Lisbon</span>\s*<span class=\"poll-count\">1 vote · 100%", block)
    assert "Change my vote" in page

    assert vote(client, poll, [ghent]).status_code == 303
    block = results_block(client.get(topic_url(topic)).text, poll.id)
    assert re.search(r"Ghent</span>\s*<span class=\"poll-count\">1 vote · 100%", block)
    assert re.search(r"Lisbon</span>\s*<span class=\"poll-count\">0 votes", block)

    assert post_form(client, f"/polls/{poll.id}/unvote", {}).status_code == 303
    with db.read() as s:
        assert s.scalar(select(PollVote.id).where(PollVote.poll_id == poll.id)) is None


def test_vote_with_fetch_answers_the_updated_poll(db, client, make_user, make_category, make_topic):
    ana = make_user("ana")
    make_user("bob")
    topic = make_topic(ana, make_category("Assemblies"), raw=SINGLE)
    poll, (lisbon, _ghent) = poll_of(db, topic)
    login(client, "bob")
    r = vote(client, poll, [lisbon], fetch=True)
    assert r.status_code == 200
    assert r.text.lstrip().startswith(f'<div class="poll-widget" id="poll-{poll.id}"')
    assert "1 vote · 100%" in r.text and "<html" not in r.text


def test_multiple_choice_enforces_its_minimum_and_maximum(db, client, make_user, make_category, make_topic):
    ana = make_user("ana")
    make_user("bob")
    topic = make_topic(ana, make_category("Assemblies"), raw=THEMES)
    poll, options = poll_of(db, topic, "themes")
    login(client, "bob")
    r = vote(client, poll, options)  # three of at most two
    assert r.status_code == 422 and "Choose between 1 and 2 options." in r.text
    r = vote(client, poll, options, fetch=True)
    assert r.status_code == 422 and "Choose between 1 and 2 options." in r.text
    assert vote(client, poll, options[:2]).status_code == 303
    with db.read() as s:
        assert len(s.scalars(select(PollVote).where(PollVote.poll_id == poll.id)).all()) == 2


def test_number_poll_shows_the_average(db, client, make_user, make_category, make_topic):
    ana = make_user("ana")
    make_user("bob")
    topic = make_topic(ana, make_category("Assemblies"), raw="Rate it\n\n[poll type=number min=1 max=5]\n[/poll]")
    poll, options = poll_of(db, topic)
    assert [o.label for o in options] == ["1", "2", "3", "4", "5"]
    login(client, "bob")
    vote(client, poll, [options[3]])
    client.post("/logout", data={"csrf_token": csrf_of(client)})
    login(client, "ana")
    vote(client, poll, [options[1]])
    assert "Average: 3.0" in client.get(topic_url(topic)).text


def test_ranked_poll_counts_points_and_first_choices(db, client, make_user, make_category, make_topic):
    ana = make_user("ana")
    make_user("bob")
    raw = "Rank the themes\n\n[poll type=ranked max=3]\n* Housing\n* Energy\n* Care\n[/poll]"
    topic = make_topic(ana, make_category("Assemblies"), raw=raw)
    poll, (housing, energy, care) = poll_of(db, topic)
    login(client, "bob")
    r = vote(client, poll, [], ranks=[f"{energy.id}:1", f"{housing.id}:2"])
    assert r.status_code == 303
    r = vote(client, poll, [], ranks=[f"{energy.id}:1", f"{housing.id}:1"])
    assert r.status_code == 422 and "different place" in r.text
    page = client.get(topic_url(topic)).text
    block = results_block(page, poll.id)
    # Energy first (3 points of 3 options), Housing second (2), Care unranked (0).
    assert block.index("Energy") < block.index("Housing") < block.index("Care")
    assert "3 points · 1 first choice" in block and "2 points · 0 first choices" in block


def test_voting_needs_the_right_to_reply_in_the_category(db, client, make_user, make_category, make_topic):
    ana = make_user("ana", tier="member")
    make_user("pat", tier="participant")
    category = make_category("Members decide", levels={"everyone": 1, "participant": 1, "worker": 2, "member": 3})
    topic = make_topic(ana, category, raw=SINGLE)
    poll, options = poll_of(db, topic)
    login(client, "pat")
    page = client.get(topic_url(topic)).text
    assert "You may read this category but not reply in it." in page
    assert f'action="/polls/{poll.id}/vote"' not in page
    assert vote(client, poll, options[:1]).status_code == 403


def test_a_poll_in_a_hidden_category_answers_404(db, client, make_user, make_category, make_topic):
    ana = make_user("ana", tier="member")
    make_user("pat", tier="participant")
    topic = make_topic(ana, make_category("Board", "members_only"), raw=SINGLE)
    poll, options = poll_of(db, topic)
    login(client, "pat")
    assert vote(client, poll, options[:1]).status_code == 404
    assert client.get(f"/polls/{poll.id}").status_code == 404


def test_anonymous_visitors_see_results_but_cannot_vote(db, client, make_user, make_category, make_topic):
    ana = make_user("ana")
    topic = make_topic(ana, make_category("Assemblies"), raw=SINGLE)
    poll, options = poll_of(db, topic)
    page = client.get(topic_url(topic)).text
    assert "Log in to vote" in page and "0 voters" in page
    r = client.post(f"/polls/{poll.id}/vote", data={"option": [options[0].id], "csrf_token": csrf_of(client)})
    assert r.status_code == 403


def test_a_closed_poll_takes_no_votes(db, client, make_user, make_category, make_topic):
    ana = make_user("ana")
    make_user("bob")
    raw = "Past\n\n[poll close=2026-01-01T12:00:00Z]\n* Yes\n* No\n[/poll]"
    topic = make_topic(ana, make_category("Assemblies"), raw=raw)
    poll, options = poll_of(db, topic)
    login(client, "bob")
    r = vote(client, poll, options[:1])
    assert r.status_code == 403 and "This poll is closed." in r.text


def test_the_author_can_close_a_poll_and_others_cannot(db, client, make_user, make_category, make_topic):
    ana = make_user("ana")
    make_user("bob")
    topic = make_topic(ana, make_category("Assemblies"), raw=SINGLE)
    poll, options = poll_of(db, topic)
    login(client, "bob")
    assert post_form(client, f"/polls/{poll.id}/close", {}).status_code == 403
    client.post("/logout", data={"csrf_token": csrf_of(client)})
    login(client, "ana")
    assert post_form(client, f"/polls/{poll.id}/close", {}).status_code == 303
    assert vote(client, poll, options[:1]).status_code == 403


# --- who sees results -------------------------------------------------------------------------

def test_results_on_vote_appear_only_after_voting(db, client, make_user, make_category, make_topic):
    ana = make_user("ana")
    make_user("bob")
    topic = make_topic(ana, make_category("Assemblies"), raw="Q\n\n[poll results=on_vote]\n* Yes\n* No\n[/poll]")
    poll, options = poll_of(db, topic)
    login(client, "ana")
    vote(client, poll, options[:1])
    client.post("/logout", data={"csrf_token": csrf_of(client)})
    login(client, "bob")
    page = client.get(topic_url(topic)).text
    assert "Results are shown once you have voted." in page and "1 vote" not in page
    vote(client, poll, options[1:])
    page = client.get(topic_url(topic)).text
    assert "1 vote · 50%" in page


def test_results_on_close_stay_hidden_until_the_poll_closes(db, client, make_user, make_category, make_topic):
    ana = make_user("ana")
    topic = make_topic(ana, make_category("Assemblies"), raw="Q\n\n[poll results=on_close]\n* Yes\n* No\n[/poll]")
    poll, options = poll_of(db, topic)
    login(client, "ana")
    vote(client, poll, options[:1])
    assert "Results are shown when the poll closes." in client.get(topic_url(topic)).text
    post_form(client, f"/polls/{poll.id}/close", {})
    assert "1 vote · 100%" in client.get(topic_url(topic)).text


def test_staff_only_results_are_shown_to_moderators_and_to_nobody_else(db, client, make_client, make_user,
                                                                          make_category, make_topic, staff):
    ana = make_user("ana")
    topic = make_topic(ana, make_category("Assemblies"), raw="Q\n\n[poll results=staff_only]\n* Yes\n* No\n[/poll]")
    poll, options = poll_of(db, topic)
    login(client, "ana")
    vote(client, poll, options[:1])
    page = client.get(topic_url(topic)).text
    assert "Results are shown to moderators only." in page and "1 vote" not in page
    assert post_form(client, f"/polls/{poll.id}/close", {}).status_code == 303
    with db.read() as s:
        assert s.get(Poll, poll.id).closed_at is not None
    assert "1 vote" not in client.get(topic_url(topic)).text  # closing does not show them to the author
    moderator = make_client()
    login(moderator, staff.username)
    assert "1 vote · 100%" in moderator.get(topic_url(topic)).text


def test_public_polls_name_voters_and_anonymous_polls_do_not(db, client, make_user, make_category, make_topic):
    ana = make_user("ana")
    make_user("bob_voter")
    category = make_category("Assemblies")
    public = make_topic(ana, category, title="A public question", raw="Q\n\n[poll public=true]\n* Yes\n* No\n[/poll]")
    secret = make_topic(ana, category, title="A secret question", raw="Q\n\n[poll]\n* Yes\n* No\n[/poll]")
    login(client, "bob_voter")
    for topic in (public, secret):
        poll, options = poll_of(db, topic)
        vote(client, poll, options[:1])
    client.post("/logout", data={"csrf_token": csrf_of(client)})
    assert "bob_voter" in results_block(client.get(topic_url(public)).text, poll_of(db, public)[0].id)
    assert "bob_voter" not in client.get(topic_url(secret)).text


# --- editing a post with a poll ---------------------------------------------------------------

def _age_post(db, topic, minutes: int) -> Post:
    with db.write() as s:
        s.execute(update(Post).where(Post.topic_id == topic.id, Post.post_number == 1)
                  .values(created_at=utcnow() - timedelta(minutes=minutes)))
        return s.scalar(select(Post).where(Post.topic_id == topic.id, Post.post_number == 1))


def _edit(client, post, raw):
    return post_form(client, f"/posts/{post.id}/edit", {"raw": raw, "title": "A topic about co-operation"})


def test_changing_options_of_a_poll_with_votes_after_the_grace_period_is_refused(db, client, make_user,
                                                                                 make_category, make_topic):
    ana = make_user("ana")
    make_user("bob")
    topic = make_topic(ana, make_category("Assemblies"), raw=SINGLE)
    poll, options = poll_of(db, topic)
    login(client, "bob")
    vote(client, poll, options[:1])
    client.post("/logout", data={"csrf_token": csrf_of(client)})
    post = _age_post(db, topic, 10)
    login(client, "ana")
    changed = SINGLE.replace("* Ghent", "* Porto")
    r = _edit(client, post, changed)
    assert r.status_code == 422
    assert "already has votes, so its options and type can no longer be changed" in r.text
    assert "Porto" in r.text  # the edit is kept in the form
    removed = "Where do we meet? We decided already."
    r = _edit(client, post, removed)
    assert r.status_code == 422 and "can no longer be removed" in r.text
    with db.read() as s:
        assert s.scalar(select(Post.raw).where(Post.id == post.id)) == SINGLE.strip("\n")
        assert s.scalar(select(PollVote.id).where(PollVote.poll_id == poll.id)) is not None
    # Words around the poll may still change, and the votes stay.
    assert _edit(client, post, SINGLE.replace("Where do we meet?", "Where shall we meet?")).status_code == 303
    with db.read() as s:
        assert s.scalar(select(PollVote.option_id).where(PollVote.poll_id == poll.id)) == options[0].id


def test_within_the_grace_period_options_can_change_and_kept_options_keep_their_votes(db, client, make_user,
                                                                                      make_category, make_topic):
    ana = make_user("ana")
    make_user("bob")
    topic = make_topic(ana, make_category("Assemblies"), raw=SINGLE)
    poll, (lisbon, ghent) = poll_of(db, topic)
    login(client, "bob")
    vote(client, poll, [lisbon])
    client.post("/logout", data={"csrf_token": csrf_of(client)})
    with db.read() as s:
        post = s.scalar(select(Post).where(Post.topic_id == topic.id))
    login(client, "ana")
    assert _edit(client, post, SINGLE.replace("* Ghent", "* Porto")).status_code == 303
    poll_after, options_after = poll_of(db, topic)
    assert poll_after.id == poll.id
    assert [o.label for o in options_after] == ["Lisbon", "Porto"]
    with db.read() as s:
        assert s.scalar(select(PollVote.option_id).where(PollVote.poll_id == poll.id)) == lisbon.id


def test_an_anonymous_poll_with_votes_cannot_be_made_public(db, client, make_user, make_category, make_topic):
    ana = make_user("ana")
    topic = make_topic(ana, make_category("Assemblies"), raw=SINGLE)
    poll, options = poll_of(db, topic)
    login(client, "ana")
    vote(client, poll, options[:1])
    with db.read() as s:
        post = s.scalar(select(Post).where(Post.topic_id == topic.id))
    r = _edit(client, post, SINGLE.replace("[poll]", "[poll public=true]"))
    assert r.status_code == 422 and "answered anonymously" in r.text
