"""`forum import loomio`: a Loomio group export (tests/fixtures/loomio) becomes topics, replies,
a poll with its votes and a proposal with its positions and reasons."""

import io
import json
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import func, select

from forum import proposals
from forum.imports import loomio
from forum.models import Poll, PollOption, PollVote, Post, Proposal, ProposalPosition, Topic, User

FIXTURE = Path(__file__).parent / "fixtures" / "loomio" / "riverside-housing.json"


def _import(db, settings, path=FIXTURE, category=None, *, dry_run=False):
    return loomio.run(db, settings, loomio.Options(path=path, category=category, dry_run=dry_run), out=io.StringIO())


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _posts(s, topic) -> list[Post]:
    return list(s.scalars(select(Post).where(Post.topic_id == topic.id).order_by(Post.post_number)))


def test_a_group_export_becomes_topics_replies_a_poll_and_a_proposal(db, settings, make_user, make_category):
    alice = make_user("alice")
    make_category("General")
    housing = make_category("Riverside Housing")  # found by the group's handle
    report = _import(db, settings)
    assert report.ok, report.failed
    assert dict(report.done) == {"topics": 2, "replies": 4, "polls": 1, "votes": 3, "reasons": 1, "proposals": 1,
                                 "positions": 4, "outcomes": 1, "staged accounts": 3}
    assert report.skipped[("comments", "discarded in Loomio")] == 1
    with db.read() as s:
        solar = s.scalar(select(Topic).where(Topic.title == "Solar panels on the roof"))
        assert solar.category_id == housing.id and solar.created_at.replace(tzinfo=UTC) == _at("2023-04-03T08:30:00Z")
        posts = _posts(s, solar)
        assert [p.user.name or p.user.username for p in posts] == ["alice", "Bongani Dlamini", "alice", "Chen Wei"]
        assert posts[0].user_id == alice.id and posts[1].user.staged
        assert "**24 panels**" in posts[0].raw and "<li>payback: 9 years</li>" in posts[0].cooked
        assert [p.reply_to_post_number for p in posts] == [None, None, 2, None]  # 3002 answered comment 3001
        assert posts[3].created_at.replace(tzinfo=UTC) == _at("2023-04-04T07:45:00Z")

        garden = s.scalar(select(Topic).where(Topic.title == "Garden work day"))
        posts = _posts(s, garden)
        assert len(posts) == 4 and "[poll name=loomio-6002 type=multiple" in posts[2].raw
        poll = s.scalar(select(Poll).where(Poll.post_id == posts[2].id))
        assert poll.closed_at.replace(tzinfo=UTC) == _at("2023-04-29T08:00:00Z")
        votes = {label: n for label, n in s.execute(
            select(PollOption.label, func.count(PollVote.id)).join(PollVote, PollVote.option_id == PollOption.id)
            .where(PollOption.poll_id == poll.id).group_by(PollOption.label))}
        assert votes == {"6 May": 1, "13 May": 3, "20 May": 1}
        assert posts[3].raw == "*Voted: 13 May*\n\nOnly the 13th, sorry." and posts[3].reply_to_post_number == 3
        assert garden.last_posted_at.replace(tzinfo=UTC) == _at("2023-04-22T20:00:00Z")
        assert garden.closed and not solar.closed

        proposal = s.scalar(select(Proposal))
        topic = s.get(Topic, proposal.topic_id)
        assert topic.title == "Install the solar panels, paid from the maintenance fund"
        assert f"/t/{solar.slug}/{solar.id}" in _posts(s, topic)[0].raw
        assert proposal.closed_at.replace(tzinfo=UTC) == _at("2023-04-12T09:00:00Z")
        positions = {u.name or u.username: (p.position, p.reason) for p, u in s.execute(
            select(ProposalPosition, User).join(User, User.id == ProposalPosition.user_id))}
        assert positions == {"alice": ("agree", ""), "Bongani Dlamini": ("agree", "Panels pay for themselves."),
                             "Chen Wei": ("disagree", "The fund is for emergencies."),
                             "Dana Okafor": ("abstain", "Not here in June.")}
        assert proposals.tally(s, proposal, topic) == {"agree": 2, "abstain": 1, "disagree": 1, "block": 0}
        outcome = s.get(Post, proposal.outcome_post_id)
        assert outcome.raw == "Agreed: installation starts on 5 June." and outcome.user_id == alice.id

    again = _import(db, settings)
    assert not again.done and again.ok


def test_a_newer_export_brings_only_new_comments_and_dry_run_writes_nothing(db, settings, make_category, tmp_path):
    make_category("Riverside Housing")
    dry = _import(db, settings, dry_run=True)
    assert dry.done["topics"] == 2 and dry.done["proposals"] == 1
    with db.read() as s:
        assert s.scalar(select(func.count()).select_from(Topic)) == 0
        assert s.scalar(select(func.count()).select_from(User)) == 1  # the staff fixture only
    _import(db, settings)
    newer = tmp_path / "newer.json"
    extra = {"table": "comments", "record": {
        "id": 3010, "discussion_id": 7002, "user_id": 503, "parent_id": 3005, "parent_type": "Comment",
        "body": "<p>I will bring gloves.</p>", "body_format": "html", "created_at": "2023-04-25T09:00:00.000Z"}}
    newer.write_text(FIXTURE.read_text(encoding="utf-8") + json.dumps(extra) + "\nnot json\n", encoding="utf-8")
    report = _import(db, settings, newer)
    assert dict(report.done) == {"replies": 1} and report.skipped[("export lines", "not JSON")] == 1
    with db.read() as s:
        garden = s.scalar(select(Topic).where(Topic.title == "Garden work day"))
        last = _posts(s, garden)[-1]
        assert last.raw == "I will bring gloves." and last.reply_to_post_number == 2


def test_not_an_export_or_no_category_stops_with_one_line(db, settings, make_category, tmp_path):
    bad = tmp_path / "other.json"
    bad.write_text('{"hello": "world"}\n', encoding="utf-8")
    try:
        _import(db, settings, bad)
    except loomio.CannotImport as e:
        assert "not a Loomio group export" in str(e)
    else:
        raise AssertionError("read as an export")
    try:
        _import(db, settings)
    except loomio.CannotImport as e:
        assert "no category" in str(e)
    else:
        raise AssertionError("imported without a category")


def test_cli_says_in_one_line_when_the_file_is_missing(db, database_url, monkeypatch, capsys, tmp_path):
    from forum import cli
    from forum.config import get_settings

    monkeypatch.setenv("FORUM_DATABASE_URL", database_url)
    get_settings.cache_clear()
    try:
        code = cli.main(["import", "loomio", str(tmp_path / "missing.json")])
    finally:
        get_settings.cache_clear()
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "no such file" in err and "nothing was imported" in err
