"""Proposals: positions with reasons, the tally among those asked, quorum, closing on time, reminders, outcome."""

from __future__ import annotations

import json
import re
import time
from datetime import timedelta

from sqlalchemy import select, update

from forum import notifications, outbox, proposals
from forum.models import Notification, OutboxItem, Poll, Proposal, ProposalPosition, Topic, User, utcnow
from forum.permissions import Viewer
from tests.conftest import csrf_of, login, post_form
from tests.smtp import mail_settings, smtp_server  # noqa: F401  (fixtures)

FORM = {"title": "Adopt the shared kitchen charter", "raw": "We propose to adopt the charter as drafted.",
        "kind": "consent", "closes_date": "2026-12-14", "closes_time": "15:00", "timezone": "Europe/London"}


def start(client, category, **extra):
    data = {**FORM, "category": category.id, **extra}
    r = post_form(client, "/new-proposal", data)
    assert r.status_code == 303, r.text
    return r.headers["location"]


def the_proposal(db) -> tuple[Proposal, Topic]:
    with db.read() as s:
        proposal = s.scalar(select(Proposal))
        return proposal, s.get(Topic, proposal.topic_id)


def take(client, proposal, position, reason="", **kw):
    return post_form(client, f"/proposals/{proposal.id}/position", {"position": position, "reason": reason}, **kw)


def logout(client):
    client.post("/logout", data={"csrf_token": csrf_of(client)})


def federation(make_user, make_category):
    """A members-and-workers category: staffer, ana (member) and wes (worker) are asked; pat is not."""
    category = make_category("General assembly", "members_and_workers")
    ana = make_user("ana", tier="member")
    wes = make_user("wes", tier="worker")
    pat = make_user("pat", tier="participant")
    return category, ana, wes, pat


def test_a_proposal_shows_its_closing_time_in_both_zones_and_who_is_asked(db, client, make_user, make_category):
    category, ana, _wes, _pat = federation(make_user, make_category)
    with db.write() as s:
        s.get(User, ana.id).timezone = "Europe/Paris"
    login(client, "ana")
    page = client.get(start(client, category)).text
    assert "Closes:" in page
    assert "Mon 14 Dec 2026, 15:00 London (GMT)" in page and "16:00 your time (Paris, CET)" in page
    assert "0 of 3 have responded" in page  # staffer, ana and wes may reply; pat may not even see it
    assert "Not responded yet: 3" in page and "ana, staffer, wes" in page


def test_take_and_change_a_position_and_see_the_tally(db, client, make_user, make_category):
    category, *_ = federation(make_user, make_category)
    login(client, "ana")
    url = start(client, category)
    proposal, topic = the_proposal(db)
    assert take(client, proposal, "agree").status_code == 303
    page = client.get(url).text
    assert re.search(r'data-position="agree">1<', page) and "1 of 3 have responded" in page
    assert take(client, proposal, "disagree", "The budget line is missing.").status_code == 303
    page = client.get(url).text
    assert re.search(r'data-position="agree">0<', page) and re.search(r'data-position="disagree">1<', page)
    assert "The budget line is missing." in page and "Change my position" in page
    assert post_form(client, f"/proposals/{proposal.id}/withdraw", {}).status_code == 303
    assert "0 of 3 have responded" in client.get(url).text


def test_a_block_needs_a_reason_and_is_shown_prominently(db, client, make_user, make_category):
    category, *_ = federation(make_user, make_category)
    login(client, "ana")
    url = start(client, category)
    proposal, _topic = the_proposal(db)
    logout(client)
    login(client, "wes")
    r = take(client, proposal, "block", "   ")
    assert r.status_code == 422
    assert "A block needs a reason" in r.text
    with db.read() as s:
        assert s.scalar(select(ProposalPosition.id)) is None
    r = take(client, proposal, "block", "It breaks our hygiene rules.")
    assert r.status_code == 303
    page = client.get(url).text
    blocks = page[page.index('class="blocks"'):]
    assert "1 block" in blocks and "<strong>wes</strong>: <span class=\"reason\">It breaks our hygiene rules.</span>" in blocks


def test_a_block_without_reason_through_fetch_answers_the_panel_with_the_error(db, client, make_user, make_category):
    category, *_ = federation(make_user, make_category)
    login(client, "ana")
    start(client, category)
    proposal, _topic = the_proposal(db)
    r = client.post(f"/proposals/{proposal.id}/position", data={"position": "block", "reason": ""},
                    headers={"X-Requested-With": "fetch", "X-CSRF-Token": csrf_of(client)})
    assert r.status_code == 422
    assert r.text.lstrip().startswith('<section class="decide-panel proposal-panel" id="proposal"')
    assert "A block needs a reason" in r.text


def test_people_who_may_not_reply_cannot_take_a_position(db, client, make_user, make_category):
    category = make_category("Assembly", levels={"everyone": 1, "participant": 1, "worker": 3, "member": 3})
    make_user("ana", tier="member")
    make_user("pat", tier="participant")
    login(client, "ana")
    url = start(client, category)
    proposal, _topic = the_proposal(db)
    logout(client)
    login(client, "pat")
    page = client.get(url).text
    assert "You may read this category but not reply in it." in page
    assert take(client, proposal, "agree").status_code == 403
    logout(client)
    assert take(client, proposal, "agree").status_code == 403  # anonymous: log in first


def test_a_proposal_in_a_hidden_category_answers_404(db, client, make_user, make_category):
    category, *_ = federation(make_user, make_category)
    login(client, "ana")
    start(client, category)
    proposal, _topic = the_proposal(db)
    logout(client)
    login(client, "pat")
    assert take(client, proposal, "agree").status_code == 404


def test_bad_proposal_forms_are_refused_with_the_text_kept(client, make_user, make_category):
    category, *_ = federation(make_user, make_category)
    login(client, "ana")
    cases = [
        ({"timezone": "Mars/Olympus_Mons"}, "Choose a time zone from the list"),
        ({"closes_date": "2026-11-01"}, "at least ten minutes from now"),
        ({"closes_date": "2027-03-28", "closes_time": "01:30"}, "does not exist on 2027-03-28 in Europe/London"),
        ({"quorum": "150"}, "percentage from 1 to 100"),
        ({"kind": "choice", "options": "Only one"}, "at least two choices"),
    ]
    for extra, message in cases:
        r = post_form(client, "/new-proposal", {**FORM, "category": category.id, **extra})
        assert r.status_code == 422, extra
        assert message in r.text, extra
        assert "We propose to adopt the charter as drafted." in r.text


def test_a_moderator_closes_early_and_the_author_is_invited_to_write_the_outcome(db, client, make_user,
                                                                                  make_category):
    category, *_ = federation(make_user, make_category)
    login(client, "ana")
    url = start(client, category)
    proposal, topic = the_proposal(db)
    take(client, proposal, "agree")
    assert post_form(client, f"/proposals/{proposal.id}/close", {}).status_code == 403
    logout(client)
    login(client, "wes")
    take(client, proposal, "abstain")
    logout(client)
    login(client, "staffer")
    assert post_form(client, f"/proposals/{proposal.id}/close", {}).status_code == 303
    page = client.get(url).text
    assert "Closed:" in page and "2 of 3 have responded" in page
    again = post_form(client, f"/proposals/{proposal.id}/close", {})
    assert again.status_code == 422
    panel = again.text[again.text.index('id="proposal"'):again.text.index("</section>", again.text.index('id="proposal"'))]
    assert "This proposal has already closed." in panel
    with db.read() as s:
        kinds = {(n.user_id, n.kind) for n in s.scalars(select(Notification))}
        ana_id, wes_id = (s.scalar(select(User.id).where(User.username == n)) for n in ("ana", "wes"))
    assert (ana_id, "proposal_outcome") in kinds and (wes_id, "proposal_closed") in kinds
    logout(client)
    login(client, "wes")
    assert take(client, proposal, "agree").status_code == 403
    assert post_form(client, f"/proposals/{proposal.id}/outcome", {"raw": "Adopted."}).status_code == 403
    logout(client)
    login(client, "ana")
    assert "Publish the outcome" in client.get(url).text
    assert post_form(client, f"/proposals/{proposal.id}/outcome",
                     {"raw": "Adopted unanimously; the charter applies from January."}).status_code == 303
    page = client.get(url).text
    panel = page[page.index('id="proposal"'):page.index("</section>", page.index('id="proposal"'))]
    assert "Outcome" in panel and "the charter applies from January." in panel
    r = post_form(client, f"/proposals/{proposal.id}/outcome", {"raw": "A second outcome."})
    assert r.status_code == 422 and "edit that post" in r.text


def test_the_outcome_waits_for_the_close(db, client, make_user, make_category):
    category, *_ = federation(make_user, make_category)
    login(client, "ana")
    start(client, category)
    proposal, _topic = the_proposal(db)
    r = post_form(client, f"/proposals/{proposal.id}/outcome", {"raw": "Too early to say."})
    assert r.status_code == 422 and "once the proposal has closed" in r.text


def test_a_moderator_extends_the_closing_time(db, client, make_user, make_category):
    category, *_ = federation(make_user, make_category)
    login(client, "ana")
    url = start(client, category)
    proposal, _topic = the_proposal(db)
    data = {"closes_date": "2026-12-21", "closes_time": "15:00", "timezone": "Europe/London"}
    assert post_form(client, f"/proposals/{proposal.id}/extend", data).status_code == 403
    logout(client)
    login(client, "staffer")
    r = post_form(client, f"/proposals/{proposal.id}/extend", {**data, "closes_date": "2026-12-01"})
    assert r.status_code == 422 and "later than the current one" in r.text
    assert post_form(client, f"/proposals/{proposal.id}/extend", data).status_code == 303
    assert "Mon 21 Dec 2026, 15:00 London (GMT)" in client.get(url).text
    with db.read() as s:
        keys = set(s.scalars(select(OutboxItem.dedupe_key).where(OutboxItem.kind == "proposal.close")))
    assert keys == {f"proposal-close:{proposal.id}:2026-12-14T15:00:00+00:00",
                    f"proposal-close:{proposal.id}:2026-12-21T15:00:00+00:00"}


def _due_now(db, proposal_id: int, *, seconds: float = 0) -> None:
    """Move a proposal's closing time close to now, as if it had been created long ago."""
    with db.write() as s:
        proposal = s.get(Proposal, proposal_id)
        proposal.closes_at = utcnow() + timedelta(seconds=seconds)
        from forum.config import Settings

        proposals.schedule(s, Settings(database_url="sqlite://"), proposal)


def test_the_superseded_closing_job_does_nothing(db, settings, client, make_user, make_category):
    category, *_ = federation(make_user, make_category)
    login(client, "ana")
    start(client, category)
    proposal, _topic = the_proposal(db)
    # The job for 14 December runs (say, after an extension it was not told about): nothing closes.
    with db.write() as s:
        s.execute(update(OutboxItem).where(OutboxItem.kind == "proposal.close").values(available_at=utcnow()))
        s.get(Proposal, proposal.id).closes_at = utcnow() + timedelta(days=30)
    outbox.drain(db, settings)
    with db.read() as s:
        assert s.get(Proposal, proposal.id).closed_at is None


def test_quorum_is_enforced_at_close_and_the_outcome_says_whether_it_was_met(db, settings, client, make_user,
                                                                              make_category):
    category, *_ = federation(make_user, make_category)
    login(client, "ana")
    url = start(client, category, quorum="67")
    proposal, _topic = the_proposal(db)
    page = client.get(url).text
    assert "quorum: 67%, that is 3 responses" in page and "(3 to go)" in page
    take(client, proposal, "agree")
    logout(client)
    login(client, "wes")
    take(client, proposal, "agree")
    _due_now(db, proposal.id)
    outbox.drain(db, settings)
    with db.read() as s:
        closed = s.get(Proposal, proposal.id)
        assert closed.closed_at is not None and closed.quorum_met is False
        assert (closed.eligible_count, closed.responded_count) == (3, 2)
        assert json.loads(closed.final_tally)["positions"]["agree"] == 2
    page = client.get(url).text
    assert "quorum of 67% not met" in page and "2 of 3 have responded" in page


def test_the_tally_at_close_stays_as_it_was_when_people_later_lose_access(db, settings, client, make_user,
                                                                          make_category):
    category, *_ = federation(make_user, make_category)
    login(client, "ana")
    url = start(client, category)
    proposal, _topic = the_proposal(db)
    take(client, proposal, "agree")
    _due_now(db, proposal.id)
    outbox.drain(db, settings)
    with db.write() as s:
        s.execute(update(User).where(User.username == "wes").values(tier="participant"))
    assert "1 of 3 have responded" in client.get(url).text


def test_a_proposal_closes_by_itself_at_its_time_without_any_request(db, settings, make_user, make_category):
    from fastapi.testclient import TestClient

    from forum.app import create_app

    category, ana, *_ = federation(make_user, make_category)
    with db.write() as s:
        post = proposals.create_proposal(s, settings, Viewer(s.get(User, ana.id)), title="Close me on time",
                                         raw="A proposal that closes in a moment.", category_id=category.id,
                                         closes_date="2026-12-14", closes_time="15:00", timezone="Europe/London")
        proposal_id = s.scalar(select(Proposal.id).where(Proposal.topic_id == post.topic_id))
    _due_now(db, proposal_id, seconds=1.5)
    settings.inprocess_worker = True
    settings.outbox_poll_seconds = 0.2
    with TestClient(create_app(settings, db)):  # the server runs; nobody sends it a request
        deadline = time.monotonic() + 15
        closed_at = None
        while closed_at is None and time.monotonic() < deadline:
            time.sleep(0.2)
            with db.read() as s:
                closed_at = s.get(Proposal, proposal_id).closed_at
    assert closed_at is not None


def test_the_reminder_a_day_before_goes_to_those_who_have_not_responded_in_their_own_zone(
        db, settings, client, make_user, make_category):
    category, ana, wes, _pat = federation(make_user, make_category)
    with db.write() as s:
        s.get(User, wes.id).timezone = "America/New_York"
    login(client, "ana")
    start(client, category)
    proposal, topic = the_proposal(db)
    take(client, proposal, "agree")
    with db.read() as s:
        item = s.scalar(select(OutboxItem).where(OutboxItem.kind == "proposal.remind"))
        assert item.available_at == proposal.closes_at - timedelta(hours=24)
    with db.write() as s:
        s.execute(update(OutboxItem).where(OutboxItem.id == item.id).values(available_at=utcnow()))
    outbox.drain(db, settings)
    with db.read() as s:
        reminded = {s.get(User, n.user_id).username: json.loads(n.data)["when"]
                    for n in s.scalars(select(Notification).where(Notification.kind == "proposal_closing"))}
        wes_user = s.get(User, wes.id)
        [view] = notifications.list_for(s, Viewer(wes_user)).items
    assert set(reminded) == {"wes", "staffer"}  # ana has responded; pat is not asked
    assert reminded["wes"] == "Mon 14 Dec 2026, 15:00 London (GMT) · 10:00 your time (New York, EST)"
    assert reminded["staffer"] == "Mon 14 Dec 2026, 15:00 London (GMT) · 15:00 UTC"
    assert str(view.message).startswith("Adopt the shared kitchen charter closes Mon 14 Dec 2026, 15:00 London")


def test_the_reminder_email_states_the_closing_time_in_the_recipients_zone(
        db, mail_settings, smtp_server, client, make_user, make_category):  # noqa: F811 (fixtures)
    from forum import emails

    category, _ana, wes, _pat = federation(make_user, make_category)
    with db.write() as s:
        s.get(User, wes.id).timezone = "Asia/Kolkata"
        emails.confirm_address(s, wes.id)
    login(client, "ana")
    start(client, category)
    with db.write() as s:
        s.execute(update(OutboxItem).where(OutboxItem.kind == "proposal.remind").values(available_at=utcnow()))
    outbox.drain(db, mail_settings)
    messages = [m for m in smtp_server.wait_for(1) if m["To"] == "wes@example.org"]
    assert len(messages) == 1
    text = next(p for p in messages[0].walk() if p.get_content_type() == "text/plain").get_payload(decode=True).decode()
    assert "15:00 London (GMT) · 20:30 your time (Kolkata, IST)" in text


def test_choose_up_to_three_themes_decides_through_its_poll(db, client, make_user, make_category):
    category, *_ = federation(make_user, make_category)
    login(client, "ana")
    options = "Housing\nEnergy transition\nCare work\nDigital commons\nFood sovereignty"
    url = start(client, category, kind="choice", options=options, max_choices="3", results="on_close",
                public="on")
    proposal, topic = the_proposal(db)
    with db.read() as s:
        poll = s.scalar(select(Poll))
        from forum.models import PollOption

        opts = list(s.scalars(select(PollOption).where(PollOption.poll_id == poll.id).order_by(PollOption.position)))
    assert (poll.name, poll.type, poll.max_choices, poll.results, poll.public) == ("decision", "multiple", 3,
                                                                                   "on_close", True)
    r = post_form(client, f"/polls/{poll.id}/vote", {"option": [o.id for o in opts[:4]]})
    assert r.status_code == 422 and "Choose between 1 and 3 options." in r.text
    assert post_form(client, f"/polls/{poll.id}/vote", {"option": [o.id for o in opts[:3]]}).status_code == 303
    page = client.get(url).text
    assert "1 of 3 have responded" in page and "Results are shown when the poll closes." in page
    logout(client)
    login(client, "staffer")
    post_form(client, f"/proposals/{proposal.id}/close", {})
    page = client.get(url).text
    assert "1 vote · 100%" in page
    assert post_form(client, f"/polls/{poll.id}/vote", {"option": [opts[4].id]}).status_code == 403


def test_rank_the_themes_variant_makes_a_ranked_poll(db, client, make_user, make_category):
    category, *_ = federation(make_user, make_category)
    login(client, "ana")
    start(client, category, kind="ranked", options="Housing\nEnergy\nCare")
    with db.read() as s:
        poll = s.scalar(select(Poll))
    assert (poll.type, poll.max_choices) == ("ranked", 3)


def test_forum_worker_closes_a_due_proposal_in_its_own_process(db, database_url, settings, make_user,
                                                                make_category):
    import os
    import subprocess
    import sys

    category, ana, *_ = federation(make_user, make_category)
    with db.write() as s:
        post = proposals.create_proposal(s, settings, Viewer(s.get(User, ana.id)), title="Closed by the worker",
                                         raw="A proposal for the worker process.", category_id=category.id,
                                         closes_date="2026-12-14", closes_time="15:00", timezone="Europe/London")
        proposal_id = s.scalar(select(Proposal.id).where(Proposal.topic_id == post.topic_id))
    _due_now(db, proposal_id, seconds=1)
    env = {**os.environ, "FORUM_DATABASE_URL": database_url, "FORUM_OUTBOX_POLL_SECONDS": "0.2"}
    worker = subprocess.Popen([sys.executable, "-m", "forum.cli", "worker"], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20
        closed_at = None
        while closed_at is None and time.monotonic() < deadline:
            time.sleep(0.2)
            with db.read() as s:
                closed_at = s.get(Proposal, proposal_id).closed_at
    finally:
        worker.terminate()
        worker.wait(timeout=10)
    assert closed_at is not None
