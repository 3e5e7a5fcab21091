"""The outbox sends queued email over real SMTP exactly once, and loses nothing when a worker dies."""

import os
import socket
import subprocess
import sys
import threading
import time
from datetime import timedelta

from sqlalchemy import select, update

from forum import mail, outbox, pagecache
from forum.models import OutboxItem, SiteSetting, utcnow
from tests.server import stop
from tests.smtp import mail_settings, smtp_server  # noqa: F401  (fixtures)


def _queue(db, **kw):
    with db.write() as session:
        mail.queue_email(session, **{"to": "ana@example.org", "subject": "Board report ready",
                                     "text": "The October report is online.",
                                     "html": "<p>The October report is <b>online</b>.</p>", **kw})


def test_queued_email_arrives_with_text_and_html(db, mail_settings, smtp_server):
    _queue(db, headers={"List-Unsubscribe": "<https://forum.example.org/unsubscribe/x>"})
    assert outbox.drain(db, mail_settings) == 1
    [message] = smtp_server.wait_for(1)
    assert message["To"] == "ana@example.org" and message["Subject"] == "Board report ready"
    assert message["From"] == "Federation Forum <forum@coops.example.org>"
    assert message["List-Unsubscribe"] == "<https://forum.example.org/unsubscribe/x>"
    assert message["Message-ID"].startswith("<outbox-")
    parts = {p.get_content_type(): p.get_payload(decode=True).decode() for p in message.walk()
             if not p.is_multipart()}
    assert "The October report is online." in parts["text/plain"]
    assert "<b>online</b>" in parts["text/html"]
    assert outbox.drain(db, mail_settings) == 0  # nothing is sent twice
    assert len(smtp_server.messages) == 1


def test_rolled_back_change_queues_nothing(db, mail_settings, smtp_server):
    try:
        with db.write() as session:
            mail.queue_email(session, to="ana@example.org", subject="Never", text="Never sent.")
            raise RuntimeError("the post failed to save")
    except RuntimeError:
        pass
    assert outbox.drain(db, mail_settings) == 0
    assert smtp_server.messages == []


def test_a_worker_that_died_mid_job_is_replaced_after_its_lease(db, mail_settings, smtp_server):
    _queue(db)
    claimed = outbox._claim(db, mail_settings, 10)  # a worker claims the item, then dies before sending
    assert len(claimed) == 1
    assert outbox.drain(db, mail_settings) == 0  # still leased: nobody else sends it
    with db.write() as session:
        session.execute(update(OutboxItem).values(locked_until=utcnow() - timedelta(seconds=1)))
    assert outbox.drain(db, mail_settings) == 1
    assert len(smtp_server.wait_for(1)) == 1


def _claimed(db) -> bool:
    with db.read() as session:
        item = session.scalar(select(OutboxItem))
        return item.attempts == 1 and item.locked_until is not None


def test_a_worker_process_killed_between_claiming_and_sending_loses_nothing_and_sends_once(
        database_url, db, mail_settings, smtp_server):
    # A mail server that accepts the connection and never answers: the worker is caught mid-send.
    stuck = socket.socket()
    stuck.bind(("127.0.0.1", 0))
    stuck.listen()
    stuck.settimeout(30)
    _queue(db)
    env = {**os.environ, "FORUM_DATABASE_URL": database_url, "FORUM_SMTP_HOST": "127.0.0.1",
           "FORUM_SMTP_PORT": str(stuck.getsockname()[1]), "FORUM_SMTP_TIMEOUT": "120",
           "FORUM_OUTBOX_POLL_SECONDS": "0.2"}
    worker = subprocess.Popen([sys.executable, "-c", "from forum.cli import main; main(['worker'])"], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        connection, _address = stuck.accept()  # the worker has claimed the email and is sending it
        assert _claimed(db)
        worker.kill()  # the process dies, as in a power cut: nothing is cleaned up
        worker.wait(timeout=10)
        connection.close()
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait(timeout=10)
        stuck.close()
    with db.read() as session:
        item = session.scalar(select(OutboxItem))
        assert item.done_at is None and item.failed_at is None  # not lost, not given up
    assert outbox.drain(db, mail_settings) == 0  # its lease still holds: nobody sends it meanwhile
    with db.write() as session:  # the lease runs out
        session.execute(update(OutboxItem).values(locked_until=utcnow() - timedelta(seconds=1)))
    assert outbox.drain(db, mail_settings) == 1
    [message] = smtp_server.wait_for(1)
    assert message["Subject"] == "Board report ready"
    assert outbox.drain(db, mail_settings) == 0
    assert len(smtp_server.wait_for(2, timeout=1)) == 1  # sent once



def _worker(database_url: str, smtp_port: int, tmp_path, **env: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", "from forum.cli import main; main(['worker'])"],
        env={**os.environ, "FORUM_DATABASE_URL": database_url, "FORUM_SMTP_HOST": "127.0.0.1",
             "FORUM_SMTP_PORT": str(smtp_port), "FORUM_UPLOADS_DIR": str(tmp_path / "uploads"), **env},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def test_a_second_worker_process_takes_over_the_email_of_one_killed_mid_send_once_its_lease_runs_out(
        database_url, db, mail_settings, smtp_server, tmp_path):
    # A mail server that accepts the connection and never answers: the first worker is caught mid-send.
    stuck = socket.socket()
    stuck.bind(("127.0.0.1", 0))
    stuck.listen()
    stuck.settimeout(60)
    _queue(db)
    short = {"FORUM_OUTBOX_LEASE_SECONDS": "2", "FORUM_OUTBOX_POLL_SECONDS": "0.2"}
    workers = [_worker(database_url, stuck.getsockname()[1], tmp_path, FORUM_SMTP_TIMEOUT="120", **short)]
    try:
        connection, _address = stuck.accept()  # the first worker has claimed the email and is sending it
        with db.read() as session:
            lease_end = session.scalar(select(OutboxItem.locked_until))
        assert _claimed(db)
        workers.append(_worker(database_url, smtp_server.port, tmp_path, **short))
        workers[0].kill()  # the first dies, as in a power cut: nothing is cleaned up
        workers[0].wait(timeout=10)
        connection.close()

        messages = smtp_server.wait_for(1, timeout=60)  # the second sends it once the lease runs out
        arrived = utcnow()
        assert [(m["To"], m["Subject"]) for m in messages] == [("ana@example.org", "Board report ready")]
        assert arrived >= lease_end.replace(tzinfo=arrived.tzinfo)  # not while the first still held it
        deadline = time.monotonic() + 30
        while True:
            with db.read() as session:
                item = session.scalar(select(OutboxItem))
            if item.done_at is not None or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert item.done_at is not None and item.failed_at is None and item.attempts == 2
        assert len(smtp_server.wait_for(2, timeout=3)) == 1  # more than a lease later, still sent once
    finally:
        for worker in workers:
            stop(worker)
        stuck.close()


def test_a_slow_batch_leaves_alone_an_email_another_worker_took_over(db, mail_settings, smtp_server):
    taken_over = []

    def slow(payload, ctx):
        # This worker is so slow that its lease on the rest of its batch runs out and another worker sends it.
        with db.write() as session:
            session.execute(update(OutboxItem).where(OutboxItem.kind == "email")
                            .values(locked_until=utcnow() - timedelta(seconds=1)))
        taken_over.append(outbox.drain(db, mail_settings))

    outbox.HANDLERS["test-slow"] = slow
    try:
        with db.write() as session:
            outbox.enqueue(session, "test-slow", {})
        _queue(db)
        outbox.drain(db, mail_settings)
    finally:
        del outbox.HANDLERS["test-slow"]
    assert taken_over == [1]
    assert len(smtp_server.wait_for(2, timeout=1)) == 1
    with db.read() as session:
        assert session.scalar(select(OutboxItem.done_at).where(OutboxItem.kind == "email")) is not None


def test_unreachable_smtp_is_retried_then_parked(db, settings):
    settings.smtp_port = 9  # nothing listens there
    settings.smtp_timeout = 2
    settings.outbox_max_attempts = 2
    _queue(db)
    assert outbox.drain(db, settings) == 1
    with db.read() as session:
        item = session.scalar(select(OutboxItem))
        assert item.done_at is None and item.failed_at is None and item.last_error
        assert item.available_at > utcnow()
    with db.write() as session:
        session.execute(update(OutboxItem).values(available_at=utcnow()))
    outbox.drain(db, settings)
    with db.read() as session:
        assert session.scalar(select(OutboxItem.failed_at)) is not None


def test_dedupe_key_queues_once(db, mail_settings, smtp_server):
    for _ in range(3):
        _queue(db, dedupe_key="reminder:proposal:7:user:3")
    assert outbox.drain(db, mail_settings) == 1
    assert len(smtp_server.wait_for(1)) == 1


def test_concurrent_workers_send_each_email_once(db, mail_settings, smtp_server):
    for i in range(20):
        _queue(db, subject=f"Digest {i}")
    threads = [threading.Thread(target=outbox.drain, args=(db, mail_settings), kwargs={"limit": 3})
               for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    subjects = sorted(m["Subject"] for m in smtp_server.wait_for(20))
    assert subjects == sorted(f"Digest {i}" for i in range(20))


def test_scheduled_items_wait_for_their_time(db, mail_settings, smtp_server):
    ran = []
    outbox.HANDLERS["test-scheduled"] = lambda payload, ctx: ran.append(payload["n"])
    try:
        with db.write() as session:
            outbox.enqueue(session, "test-scheduled", {"n": 1}, available_at=utcnow() + timedelta(hours=1))
            outbox.enqueue(session, "test-scheduled", {"n": 2})
        outbox.drain(db, mail_settings)
        assert ran == [2]
    finally:
        del outbox.HANDLERS["test-scheduled"]


def _generation(db) -> int:
    with db.read() as session:
        return pagecache.current_generation(session)


def test_sending_queued_email_keeps_every_cached_page_and_a_job_that_changes_content_does_not(
        db, mail_settings, smtp_server):
    _queue(db)
    before = _generation(db)
    assert outbox.drain(db, mail_settings) == 1 and smtp_server.wait_for(1)
    assert _generation(db) == before  # claiming, sending and finishing an email change no page

    def writes(payload, ctx):
        with ctx.db.write() as session:
            session.add(SiteSetting(key="test-job-wrote", value="yes"))

    outbox.HANDLERS["test-writes"] = writes
    try:
        with db.write() as session:
            outbox.enqueue(session, "test-writes", {})
        before = _generation(db)
        assert outbox.drain(db, mail_settings) == 1
        assert _generation(db) == before + 1  # the job's own change: every cached page is dropped, once
    finally:
        del outbox.HANDLERS["test-writes"]


def test_serving_process_drains_in_process(mail_settings, db, smtp_server):
    from fastapi.testclient import TestClient

    from forum.app import create_app

    mail_settings.inprocess_worker = True
    mail_settings.outbox_poll_seconds = 0.2
    with TestClient(create_app(mail_settings, db)):
        _queue(db)
        deadline = time.monotonic() + 10
        while not smtp_server.messages and time.monotonic() < deadline:
            time.sleep(0.05)
    assert len(smtp_server.messages) == 1


def test_finished_items_are_deleted_after_the_keeping_period_and_failed_ones_stay(db, settings):
    now = utcnow()
    with db.write() as session:
        old_done = outbox.enqueue(session, "email", {"n": 1})
        recent_done = outbox.enqueue(session, "email", {"n": 2})
        old_failed = outbox.enqueue(session, "email", {"n": 3})
        pending = outbox.enqueue(session, "email", {"n": 4})
        session.flush()
        old_done.done_at = now - timedelta(days=settings.outbox_keep_days + 1)
        recent_done.done_at = now - timedelta(days=1)
        old_failed.failed_at = now - timedelta(days=settings.outbox_keep_days + 100)
        ids = [i.id for i in (old_done, recent_done, old_failed, pending)]
    outbox.tick(db, settings, now=now)  # the worker's periodic tasks, as its tick runs them
    with db.read() as session:
        left = set(session.scalars(select(OutboxItem.id).where(OutboxItem.id.in_(ids))))
    assert left == {ids[1], ids[2], ids[3]}
