"""Times that leave the server other than on pages: emails about events in each recipient's zone,
and proposals' closing times in feeds (organiser's zone and UTC, labelled)."""

from __future__ import annotations

from sqlalchemy import select, update

from forum import emails, events, outbox, proposals
from forum.models import Event, OutboxItem, Proposal, User, utcnow
from forum.permissions import Viewer
from tests.smtp import mail_settings, smtp_server  # noqa: F401  (fixtures)


def _text_of(message) -> str:
    part = next(p for p in message.walk() if p.get_content_type() == "text/plain")
    return part.get_payload(decode=True).decode()


def test_event_reminders_and_changes_are_emailed_in_each_recipients_zone(
        db, mail_settings, smtp_server, make_user, make_category):  # noqa: F811 (fixtures)
    ana, bob, cleo = make_user("ana"), make_user("bob"), make_user("cleo")
    category = make_category("Housing")
    with db.write() as s:
        s.get(User, bob.id).timezone = "Asia/Kolkata"
        for user in (bob, cleo):
            emails.confirm_address(s, user.id)
        post = events.create_event(s, mail_settings, Viewer(s.get(User, ana.id)),
                                   title="Online assembly of housing co-ops", raw="Agenda: rents, repairs, the fund.",
                                   category_id=category.id, start_date="2026-12-14", start_time="15:00",
                                   timezone="Europe/London")
        event_id = s.scalar(select(Event.id).where(Event.topic_id == post.topic_id))
    with db.write() as s:
        for user in (bob, cleo):
            events.rsvp(s, Viewer(s.get(User, user.id)), event_id=event_id, status="going")
    with db.write() as s:
        s.execute(update(OutboxItem).where(OutboxItem.kind == "event.remind").values(available_at=utcnow()))
    outbox.drain(db, mail_settings)
    outbox.drain(db, mail_settings)  # the reminder, then the emails it queued
    by_recipient = {m["To"]: _text_of(m) for m in smtp_server.wait_for(2)}
    assert "Mon 14 Dec 2026, 15:00 London (GMT) · 20:30 your time (Kolkata, IST)" in by_recipient["bob@example.org"]
    # Without a zone in the profile, the organiser's zone and UTC, both named: never a bare time.
    assert "Mon 14 Dec 2026, 15:00 London (GMT) · 15:00 UTC" in by_recipient["cleo@example.org"]

    smtp_server.messages.clear()
    with db.write() as s:
        events.update_event(s, mail_settings, Viewer(s.get(User, ana.id)), event_id=event_id,
                            start_date="2026-12-15", start_time="09:00", timezone="Europe/London")
    outbox.drain(db, mail_settings)
    by_recipient = {m["To"]: _text_of(m) for m in smtp_server.wait_for(2)}
    assert "Tue 15 Dec 2026, 09:00 London (GMT) · 14:30 your time (Kolkata, IST)" in by_recipient["bob@example.org"]


def test_feeds_name_a_proposals_closing_time_in_its_zone_and_utc(db, settings, client, make_user, make_category,
                                                                staff):
    import feedparser

    ana = make_user("ana", tier="member")
    category = make_category("Proposals")
    with db.write() as s:
        post = proposals.create_proposal(s, settings, Viewer(s.get(User, ana.id)), title="Adopt the shared charter",
                                         raw="We propose to adopt the charter as drafted.", category_id=category.id,
                                         closes_date="2026-12-14", closes_time="09:00", timezone="Pacific/Auckland")
        proposal_id = s.scalar(select(Proposal.id).where(Proposal.topic_id == post.topic_id))
    for path in (f"/c/{category.slug}/{category.id}.rss", "/latest.rss"):
        [item] = feedparser.parse(client.get(path).content).entries
        assert "Proposal, closes: Mon 14 Dec 2026, 09:00 Auckland (NZDT) · Sun 13 Dec, 20:00 UTC" in item.description
    with db.write() as s:
        proposals.close_now(s, settings, Viewer(s.get(User, staff.id)), proposal_id=proposal_id)
    [item] = feedparser.parse(client.get("/latest.rss").content).entries
    assert "Proposal, closed: " in item.description and "Proposal, closes:" not in item.description
    assert " UTC" in item.description.split("Proposal, closed: ")[1].split("</strong>")[0]
