"""Topic lists mark event topics with their start and proposals with their closing time or result,
in the reader's zone and labelled, with one query for the whole page."""

from __future__ import annotations

import re
from contextlib import contextmanager

from sqlalchemy import event as sa_event
from sqlalchemy import select, update

from forum import events, proposals
from forum.models import Proposal, User
from forum.permissions import Viewer
from tests.conftest import login


def _event(db, settings, user, category, title: str, **extra):
    with db.write() as s:
        fields = {"start_date": "2026-12-14", "start_time": "15:00", "timezone": "Europe/London",
                  "online_url": "https://meet.example.org/assembly", **extra}
        return events.create_event(s, settings, Viewer(s.get(User, user.id)), title=title,
                                   raw="Agenda: rents, repairs, the new fund.", category_id=category.id, **fields)


def _proposal(db, settings, user, category, title: str, **extra) -> int:
    with db.write() as s:
        post = proposals.create_proposal(s, settings, Viewer(s.get(User, user.id)), title=title,
                                         raw="We propose to adopt the charter as drafted.", category_id=category.id,
                                         closes_date="2026-12-14", closes_time="15:00",
                                         timezone="Europe/London", **extra)
        return s.scalar(select(Proposal.id).where(Proposal.topic_id == post.topic_id))


def _row(page: str, title: str) -> str:
    start = page.index(title)
    return page[start:page.index("</tr>", start)]


@contextmanager
def _statements(db):
    seen: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany):
        seen.append(statement)

    sa_event.listen(db.engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        sa_event.remove(db.engine, "before_cursor_execute", record)


def test_an_event_topic_shows_its_start_in_the_readers_zone_labelled(db, settings, client, make_user,
                                                                    make_category):
    ana, pierre = make_user("ana", tier="member"), make_user("pierre")
    with db.write() as s:
        s.get(User, pierre.id).timezone = "Europe/Paris"
    category = make_category("Assembly")
    _event(db, settings, ana, category, "Online assembly of housing co-ops")
    _event(db, settings, ana, category, "Cancelled meet-up of energy co-ops", start_date="2026-12-15")
    with db.write() as s:
        events.cancel_event(s, settings, Viewer(s.get(User, ana.id)),
                            event_id=s.scalar(select(events.Event.id).order_by(events.Event.id.desc())))

    row = _row(client.get("/latest").text, "Online assembly of housing co-ops")
    # A visitor: the organiser's zone, named; this device's zone is filled in by the script.
    assert "Event" in row and "Mon 14 Dec 2026, 15:00 London (GMT)" in row and "data-from-device" in row
    assert "Cancelled" in _row(client.get("/latest").text, "Cancelled meet-up of energy co-ops")
    login(client, "pierre")
    for path in ("/latest", f"/c/{category.slug}/{category.id}", "/top", "/new"):
        row = _row(client.get(path).text, "Online assembly of housing co-ops")
        assert "15:00 London (GMT)" in row and "16:00 your time (Paris, CET)" in row, path


def test_a_proposal_shows_when_it_closes_and_then_its_result_and_outcome(db, settings, client, make_user,
                                                                         make_category, make_topic, staff):
    ana, wes = make_user("ana", tier="member"), make_user("wes", tier="member")
    with db.write() as s:
        s.get(User, wes.id).timezone = "America/New_York"
    category = make_category("Proposals")
    make_topic(ana, category, title="Just a topic about the kitchen")
    proposal_id = _proposal(db, settings, ana, category, "Adopt the shared kitchen charter", quorum="50")

    login(client, "wes")
    page = client.get("/latest").text
    row = _row(page, "Adopt the shared kitchen charter")
    assert re.search(r"Proposal</span> closes <span class=\"zoned\"", row)
    assert "Mon 14 Dec 2026, 15:00 London (GMT)" in row and "10:00 your time (New York, EST)" in row
    assert "list-marker" not in _row(page, "Just a topic about the kitchen")

    with db.write() as s:
        proposals.take_position(s, Viewer(s.get(User, wes.id)), proposal_id=proposal_id, position="agree")
        proposals.take_position(s, Viewer(s.get(User, ana.id)), proposal_id=proposal_id, position="block",
                                reason="Night shifts need their own rota.")
    with db.write() as s:
        proposals.close_now(s, settings, Viewer(s.get(User, staff.id)), proposal_id=proposal_id)
    row = _row(client.get("/latest").text, "Adopt the shared kitchen charter")
    assert "closes" not in row
    assert "closed: Agree 1 · Abstain 0 · Disagree 0 · Block 1; quorum of 50% met" in row
    with db.write() as s:
        outcome = proposals.write_outcome(s, settings, Viewer(s.get(User, ana.id)), proposal_id=proposal_id,
                                          raw="Not adopted: the rota goes back to the working group.")
        number = outcome.post_number
    row = _row(client.get("/latest").text, "Adopt the shared kitchen charter")
    assert f"/{number}#post_{number}\">Outcome</a>: Not adopted: the rota goes back to the working group." in row
    # A hidden outcome is no longer quoted in lists.
    with db.write() as s:
        s.execute(update(proposals.Post).where(proposals.Post.id == outcome.id).values(hidden=True))
    assert "Not adopted" not in _row(client.get("/latest").text, "Adopt the shared kitchen charter")


def test_marks_cost_one_query_per_page_however_many_rows_carry_them(db, settings, client, make_user,
                                                                     make_category, make_topic):
    ana = make_user("ana", tier="member")
    category = make_category("Assembly")
    for n in range(3):
        make_topic(ana, category, title=f"An ordinary topic number {n}")

    def marks_queries() -> tuple[int, int]:
        with _statements(db) as seen:
            page = client.get("/latest").text
        assert "An ordinary topic number 0" in page
        touching = [s for s in seen if re.search(r"\b(events|proposals)\b", s)]
        return len(seen), len(touching)

    login(client, "ana")
    plain_total, plain_marks = marks_queries()
    for n in range(2):
        _event(db, settings, ana, category, f"Regional meeting number {n}", start_date=f"2026-12-1{n}")
        _proposal(db, settings, ana, category, f"Proposal on assembly theme {n}")
    few_total, few_marks = marks_queries()
    for n in range(2, 8):
        _event(db, settings, ana, category, f"Regional meeting number {n}", start_date=f"2026-12-1{n}")
        _proposal(db, settings, ana, category, f"Proposal on assembly theme {n}")
    many_total, many_marks = marks_queries()
    assert plain_marks == few_marks == many_marks == 1
    assert plain_total == few_total == many_total
    page = client.get("/latest").text
    assert page.count('class="list-marker event-marker"') == 8
    assert page.count('class="list-marker proposal-marker"') == 8
