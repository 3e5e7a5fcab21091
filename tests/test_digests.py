"""Digests: each person's at the hour they chose in their own zone, planned by the worker's tick, and
a digest that fails for good never stops the next one. Sent over real SMTP (tests/smtp.py)."""

import re
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from fastapi.testclient import TestClient
from sqlalchemy import select, update

from forum import emails, outbox, pagecache, sitestate
from forum.app import create_app
from forum.models import OutboxItem, Topic, User, UserOption, utcnow
from tests.smtp import mail_settings, smtp_server  # noqa: F401  (fixtures)


def _subscribe(db, user, *, zone: str, digest: str, hour: int, weekday: int = 0) -> None:
    with db.write() as session:
        emails.confirm_address(session, user.id)
        emails.set_preferences(session, session.get(User, user.id), timezone=zone, email_notifications="none",
                               email_digest=digest, digest_hour=hour, digest_weekday=weekday)


def _first_local_slot(after: datetime, zone: str, hour: int, weekday: int | None = None) -> datetime:
    """The first instant after `after` when a clock in `zone` shows hour:00 (on `weekday`, if given)."""
    tz = ZoneInfo(zone)
    day = after.astimezone(tz).date()
    for i in range(15):
        d = day + timedelta(days=i)
        candidate = datetime(d.year, d.month, d.day, hour, tzinfo=tz)
        if candidate > after and (weekday is None or d.weekday() == weekday):
            return candidate
    raise AssertionError("no slot")


def _text(message) -> str:
    return next(p.get_payload(decode=True).decode() for p in message.walk() if p.get_content_type() == "text/plain")


def test_each_persons_digest_goes_at_the_hour_they_chose_in_their_own_zone(
        db, mail_settings, smtp_server, make_user, make_category, make_topic):
    ana = make_user("ana", tier="member")
    pat, lou, sam = (make_user(n, tier="participant") for n in ("pat", "lou", "sam"))
    start = utcnow()
    in_three_days: date = (start + timedelta(days=3)).astimezone(ZoneInfo("America/New_York")).date()
    _subscribe(db, pat, zone="Pacific/Auckland", digest="daily", hour=7)
    _subscribe(db, lou, zone="Europe/London", digest="daily", hour=18)
    _subscribe(db, sam, zone="America/New_York", digest="weekly", hour=9, weekday=in_three_days.weekday())
    expected = {
        "pat@example.org": _first_local_slot(start, "Pacific/Auckland", 7),
        "lou@example.org": _first_local_slot(start, "Europe/London", 18),
        "sam@example.org": _first_local_slot(start, "America/New_York", 9, in_three_days.weekday()),
    }
    make_topic(ana, make_category("News"), title="Open day at the brewery")
    make_topic(ana, make_category("Board", "members_only"), title="Brewery sale negotiations")

    sitestate.secret_key(db)  # made once in a forum's life, at its first start (here: the first digest's)
    with db.read() as session:
        generation = pagecache.current_generation(session)

    # The worker's clock moves on an hour at a time (two workers tick at every step).
    arrived: dict[str, tuple[datetime, datetime]] = {}
    now, last_slot = start, max(expected.values())
    while now <= last_slot + timedelta(hours=1):
        outbox.tick(db, mail_settings, now=now)
        outbox.tick(db, mail_settings, now=now)
        outbox.drain(db, mail_settings)
        for message in smtp_server.messages[len(arrived):]:
            arrived[message["To"]] = (now - timedelta(hours=1), now)
        now += timedelta(hours=1)
    smtp_server.wait_for(3, timeout=2)

    assert sorted(arrived) == sorted(expected)  # one digest each, none twice
    with db.read() as session:  # planning, queuing and sending digests changed no page: all stay cached
        assert pagecache.current_generation(session) == generation
    for address, slot in expected.items():
        before, at = arrived[address]
        assert before < slot <= at, (address, slot, arrived[address])
    by_address = {m["To"]: m for m in smtp_server.messages}
    assert re.search(r"to \w{3} \d+ \w{3} \d{4}, 07:00 Auckland \(NZ[DS]T\)", _text(by_address["pat@example.org"]))
    assert re.search(r"to \w{3} \d+ \w{3} \d{4}, 18:00 London \((GMT|BST)\)", _text(by_address["lou@example.org"]))
    assert re.search(r"to \w{3} \d+ \w{3} \d{4}, 09:00 New York \(E[DS]T\)", _text(by_address["sam@example.org"]))
    assert "Your weekly digest" in by_address["sam@example.org"]["Subject"]
    for message in smtp_server.messages:
        assert "Open day at the brewery" in _text(message)
        assert "Brewery sale negotiations" not in _text(message)  # participants may not see the board


def test_a_digest_that_fails_for_good_does_not_stop_the_next_one(
        db, mail_settings, smtp_server, make_user, make_category, make_topic, monkeypatch):
    ana, pat = make_user("ana", tier="member"), make_user("pat", tier="participant")
    _subscribe(db, pat, zone="Europe/Lisbon", digest="daily", hour=6)
    news = make_category("News")
    make_topic(ana, news, title="Open day at the brewery")
    with db.read() as session:
        first_slot = session.get(UserOption, pat.id).next_digest_at

    mail_settings.outbox_max_attempts = 1  # parked as failed at the first error
    real_job, calls = outbox.HANDLERS["digest"], []

    def broken_once(payload, ctx):
        calls.append(payload["slot"])
        if len(calls) == 1:
            raise RuntimeError("the digest could not be written")
        real_job(payload, ctx)

    monkeypatch.setitem(outbox.HANDLERS, "digest", broken_once)
    outbox.tick(db, mail_settings, now=first_slot)
    outbox.drain(db, mail_settings)
    assert smtp_server.wait_for(1, timeout=1) == []
    with db.read() as session:
        failed = session.scalar(select(OutboxItem).where(OutboxItem.kind == "digest"))
        assert failed.failed_at is not None and "could not be written" in failed.last_error
        second_slot = session.get(UserOption, pat.id).next_digest_at
    assert second_slot == first_slot + timedelta(days=1)

    make_topic(ana, news, title="Harvest rota for October")
    outbox.tick(db, mail_settings, now=second_slot)
    outbox.drain(db, mail_settings)
    [message] = smtp_server.wait_for(1)
    text = _text(message)
    # The failed digest's news is told in the next one.
    assert "Open day at the brewery" in text and "Harvest rota for October" in text
    assert "06:00 Lisbon" in text
    with db.read() as session:
        assert session.get(UserOption, pat.id).next_digest_at == second_slot + timedelta(days=1)
    assert len(calls) == 2


def test_a_digest_queued_before_a_change_of_hour_is_not_sent_and_the_new_hour_is(
        db, mail_settings, smtp_server, make_user, make_category, make_topic):
    pat = make_user("pat", tier="participant")
    _subscribe(db, pat, zone="Europe/Berlin", digest="daily", hour=6)
    make_topic(make_user("ana", tier="member"), make_category("News"), title="Open day at the brewery")
    with db.read() as session:
        old_slot = session.get(UserOption, pat.id).next_digest_at
    outbox.tick(db, mail_settings, now=old_slot)  # queued, not yet sent
    with db.write() as session:
        emails.set_preferences(session, session.get(User, pat.id), timezone="Europe/Berlin",
                               email_notifications="none", email_digest="daily", digest_hour="21",
                               digest_weekday="0")
        new_slot = session.get(UserOption, pat.id).next_digest_at
    outbox.drain(db, mail_settings)
    assert smtp_server.wait_for(1, timeout=1) == []
    assert new_slot.astimezone(ZoneInfo("Europe/Berlin")).hour == 21
    outbox.tick(db, mail_settings, now=new_slot)
    outbox.drain(db, mail_settings)
    [message] = smtp_server.wait_for(1)
    assert "21:00 Berlin" in _text(message)


def test_the_serving_process_worker_plans_and_sends_due_digests(
        db, mail_settings, smtp_server, make_user, make_category, make_topic):
    pat = make_user("pat", tier="participant")
    _subscribe(db, pat, zone="Asia/Tokyo", digest="daily", hour=9)
    topic = make_topic(make_user("ana", tier="member"), make_category("News"), title="Open day at the brewery")
    # The last 09:00 in Tokyo has passed with no worker running: the digest is overdue.
    overdue = emails.next_digest_time(utcnow() - timedelta(days=1), "Asia/Tokyo", 9, 0, False)
    with db.write() as session:
        session.execute(update(UserOption).where(UserOption.user_id == pat.id)
                        .values(next_digest_at=overdue, last_digest_at=overdue - timedelta(days=1)))
        session.execute(update(Topic).where(Topic.id == topic.id)
                        .values(created_at=overdue - timedelta(hours=2), bumped_at=overdue - timedelta(hours=2)))
    mail_settings.inprocess_worker = True
    mail_settings.outbox_poll_seconds = 0.2
    with TestClient(create_app(mail_settings, db)):
        [message] = smtp_server.wait_for(1)
    assert "Open day at the brewery" in _text(message) and "09:00 Tokyo" in _text(message)
    with db.read() as session:
        assert session.get(UserOption, pat.id).next_digest_at == overdue + timedelta(days=1)
