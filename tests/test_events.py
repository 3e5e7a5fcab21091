"""Events: times in the organiser's and the reader's zone (across DST and the date line), RSVPs, calendars."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

from icalendar import Calendar
from sqlalchemy import select, update

from forum import feedtokens, outbox
from forum.models import Event, Notification, OutboxItem, User, utcnow
from forum.permissions import Viewer
from tests.conftest import csrf_of, login, post_form

FORM = {"title": "Online assembly of housing co-ops", "raw": "Agenda: rents, repairs, the new fund.",
        "start_date": "2026-12-14", "start_time": "15:00", "end_date": "", "end_time": "17:00",
        "timezone": "Europe/London", "location": "", "online_url": "https://meet.example.org/housing"}


def create(client, category, **extra) -> str:
    r = post_form(client, "/new-event", {**FORM, "category": category.id, **extra})
    assert r.status_code == 303, r.text
    return r.headers["location"]


def the_event(db) -> Event:
    with db.read() as s:
        return s.scalar(select(Event).order_by(Event.id.desc()))


def set_zone(db, username: str, zone: str | None) -> None:
    with db.write() as s:
        s.execute(update(User).where(User.username == username).values(timezone=zone))


def logout(client):
    client.post("/logout", data={"csrf_token": csrf_of(client)})


def ics(client, path: str, **kw) -> Calendar:
    r = client.get(path, **kw)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/calendar")
    return Calendar.from_ical(r.content)


def vevents(cal: Calendar) -> list:
    return list(cal.walk("VEVENT"))


# --- showing times ----------------------------------------------------------------------------

def test_the_event_time_shows_in_the_organisers_zone_and_the_readers_side_by_side(db, client, make_user,
                                                                                   make_category):
    category = make_category("Housing")
    make_user("ana")
    make_user("pierre")
    set_zone(db, "pierre", "Europe/Paris")
    login(client, "ana")
    url = create(client, category)
    logout(client)
    login(client, "pierre")
    page = client.get(url).text
    start = page[page.index('class="event-start"'):]
    start = start[:start.index("</dd>")]
    assert "Mon 14 Dec 2026, 15:00 London (GMT)" in start
    assert "16:00 your time (Paris, CET)" in start
    assert "17:00 London (GMT)" in page and "18:00 your time (Paris, CET)" in page


def test_without_a_profile_zone_the_page_names_the_organisers_zone_and_leaves_the_readers_to_the_browser(
        db, client, make_user, make_category):
    make_user("ana")
    login(client, "ana")
    url = create(client, make_category("Housing"))
    logout(client)
    page = client.get(url).text
    assert "Mon 14 Dec 2026, 15:00 London (GMT)" in page
    assert 'data-utc="2026-12-14T15:00:00Z" data-zone="Europe/London"' in page
    assert "data-from-device hidden" in page


def test_a_reader_in_the_same_zone_is_told_it_is_their_time(db, client, make_user, make_category):
    make_user("ana")
    set_zone(db, "ana", "Europe/London")
    login(client, "ana")
    page = client.get(create(client, make_category("Housing"))).text
    assert re.search(r"15:00 London \(GMT\)</time> <span class=\"zoned-reader\">· your time", page)


def test_times_stay_right_across_a_dst_change(db, client, make_user, make_category):
    """Europe changes clocks on 28 March 2027, the US on 14 March: the gap is 4 hours, then 5."""
    make_user("ana")
    make_user("nina")
    set_zone(db, "nina", "America/New_York")
    category = make_category("Housing")
    login(client, "ana")
    before = create(client, category, title="Assembly before the change", start_date="2027-03-27",
                    end_time="")
    after = create(client, category, title="Assembly after the change", start_date="2027-03-29", end_time="")
    logout(client)
    login(client, "nina")
    assert "Sat 27 Mar 2027, 15:00 London (GMT)" in client.get(before).text
    assert "11:00 your time (New York, EDT)" in client.get(before).text
    assert "Mon 29 Mar 2027, 15:00 London (BST)" in client.get(after).text
    assert "10:00 your time (New York, EDT)" in client.get(after).text


def test_times_stay_right_across_the_date_line(db, client, make_user, make_category):
    make_user("ana")
    make_user("leilani")
    set_zone(db, "leilani", "Pacific/Honolulu")
    login(client, "ana")
    url = create(client, make_category("Pacific"), timezone="Pacific/Auckland", start_date="2026-12-14",
                 start_time="09:00", end_time="")
    logout(client)
    login(client, "leilani")
    page = client.get(url).text
    # 09:00 on Monday in Auckland (NZDT, UTC+13) is 10:00 on Sunday in Honolulu (UTC-10).
    assert "Mon 14 Dec 2026, 09:00 Auckland (NZDT)" in page
    assert "Sun 13 Dec, 10:00 your time (Honolulu, HST)" in page


def test_inline_dates_in_any_post_render_in_both_zones(db, client, make_user, make_category, make_topic):
    ana = make_user("ana")
    make_user("pierre")
    set_zone(db, "pierre", "Europe/Paris")
    topic = make_topic(ana, make_category("Housing"),
                       raw='We meet [date=2024-12-14 time=15:00 timezone="Europe/London"], online.')
    login(client, "pierre")
    page = client.get(f"/t/{topic.slug}/{topic.id}").text
    assert "Sat 14 Dec 2024, 15:00 London (GMT)" in page and "16:00 your time (Paris, CET)" in page


def test_bad_event_forms_are_refused_with_what_was_typed(client, make_user, make_category):
    category = make_category("Housing")
    make_user("ana")
    login(client, "ana")
    cases = [
        ({"timezone": "Europe/Londres"}, "Choose a time zone from the list"),
        ({"start_date": "2027-03-28", "start_time": "01:30"}, "does not exist on 2027-03-28 in Europe/London"),
        ({"end_time": "14:00"}, "The end must come after the start."),
        ({"start_date": "14/12/2026"}, "Enter a date as YYYY-MM-DD."),
        ({"online_url": "javascript:alert(1)"}, "An online link starts with https://"),
        ({"start_time": ""}, "Enter a start time"),
    ]
    for extra, message in cases:
        r = post_form(client, "/new-event", {**FORM, "category": category.id, **extra})
        assert r.status_code == 422, extra
        assert message in r.text, extra
        assert "Agenda: rents, repairs, the new fund." in r.text


# --- RSVPs ------------------------------------------------------------------------------------

def test_rsvp_counts_and_names_for_signed_in_readers_only(db, client, make_user, make_category):
    make_user("ana")
    make_user("bob")
    make_user("cleo")
    login(client, "ana")
    url = create(client, make_category("Housing"))
    event = the_event(db)
    logout(client)
    for name, status in (("bob", "going"), ("cleo", "interested")):
        login(client, name)
        assert post_form(client, f"/events/{event.id}/rsvp", {"status": status}).status_code == 303
        logout(client)
    page = client.get(url).text
    assert re.search(r'data-status="going">1<', page) and re.search(r'data-status="interested">1<', page)
    assert "bob" not in page and "cleo" not in page  # visitors see counts only
    login(client, "bob")
    page = client.get(url).text
    assert '<span class="rsvp-names">bob</span>' in page and '<span class="rsvp-names">cleo</span>' in page
    assert post_form(client, f"/events/{event.id}/rsvp", {"status": "not_going"}).status_code == 303
    page = client.get(url).text
    assert re.search(r'data-status="going">0<', page) and re.search(r'data-status="not_going">1<', page)
    r = client.post(f"/events/{event.id}/rsvp", data={"status": "going"},
                    headers={"X-Requested-With": "fetch", "X-CSRF-Token": csrf_of(client)})
    assert r.status_code == 200 and r.text.lstrip().startswith('<section class="decide-panel event-panel"')
    assert re.search(r'data-status="going">1<', r.text)
    assert post_form(client, f"/events/{event.id}/rsvp", {"status": "maybe"}).status_code == 422


def test_visitors_and_readers_without_reply_rights_cannot_rsvp(db, client, make_user, make_category):
    category = make_category("Announcements", levels={"everyone": 1, "participant": 1, "worker": 3, "member": 3})
    make_user("ana", tier="member")
    make_user("pat")
    login(client, "ana")
    create(client, category)
    event = the_event(db)
    logout(client)
    r = client.post(f"/events/{event.id}/rsvp", data={"status": "going", "csrf_token": csrf_of(client)})
    assert r.status_code == 403
    login(client, "pat")
    assert post_form(client, f"/events/{event.id}/rsvp", {"status": "going"}).status_code == 403


def test_a_cancelled_event_takes_no_rsvps_and_says_so(db, client, make_user, make_category):
    make_user("ana")
    make_user("bob")
    login(client, "ana")
    url = create(client, make_category("Housing"))
    event = the_event(db)
    logout(client)
    login(client, "bob")
    assert post_form(client, f"/events/{event.id}/cancel", {}).status_code == 403
    logout(client)
    login(client, "ana")
    assert post_form(client, f"/events/{event.id}/cancel", {}).status_code == 303
    assert "Cancelled" in client.get(url).text
    r = post_form(client, f"/events/{event.id}/rsvp", {"status": "going"})
    assert r.status_code == 403 and "This event has been cancelled." in r.text


def test_an_event_in_a_hidden_category_answers_404_everywhere(db, client, make_user, make_category):
    make_user("ana", tier="member")
    make_user("pat")
    login(client, "ana")
    create(client, make_category("Board", "members_only"))
    event = the_event(db)
    logout(client)
    login(client, "pat")
    assert client.get(f"/events/{event.id}.ics").status_code == 404
    assert post_form(client, f"/events/{event.id}/rsvp", {"status": "going"}).status_code == 404
    assert client.get(f"/events/{event.id}/edit").status_code == 404
    assert "Online assembly of housing co-ops" not in client.get("/events").text


# --- lists ------------------------------------------------------------------------------------

def test_upcoming_events_list_soonest_first_and_per_category(db, client, make_user, make_category):
    make_user("ana")
    housing, energy = make_category("Housing"), make_category("Energy")
    login(client, "ana")
    create(client, housing, title="Later housing meeting", start_date="2027-01-20")
    create(client, energy, title="Sooner energy meeting", start_date="2026-12-10")
    page = client.get("/events").text
    assert page.index("Sooner energy meeting") < page.index("Later housing meeting")
    page = client.get(f"/c/{housing.slug}/{housing.id}/events").text
    assert "Later housing meeting" in page and "Sooner energy meeting" not in page
    assert f"/c/{housing.slug}/{housing.id}/events.ics" in page


# --- editing, and telling people --------------------------------------------------------------

def test_moving_an_event_tells_those_going_in_their_own_zone(db, client, make_user, make_category):
    make_user("ana")
    make_user("bob")
    set_zone(db, "bob", "Asia/Tokyo")
    login(client, "ana")
    create(client, make_category("Housing"))
    event = the_event(db)
    logout(client)
    login(client, "bob")
    post_form(client, f"/events/{event.id}/rsvp", {"status": "going"})
    assert client.get(f"/events/{event.id}/edit").status_code == 403
    logout(client)
    login(client, "ana")
    data = {**FORM, "start_date": "2026-12-15"}
    r = post_form(client, f"/events/{event.id}/edit", {**data, "timezone": "Nowhere/Special"})
    assert r.status_code == 422 and "Choose a time zone" in r.text
    assert post_form(client, f"/events/{event.id}/edit", data).status_code == 303
    with db.read() as s:
        moved = s.get(Event, event.id)
        [note] = s.scalars(select(Notification).where(Notification.kind == "event_changed"))
        reminders = set(s.scalars(select(OutboxItem.dedupe_key).where(OutboxItem.kind == "event.remind")))
    assert moved.sequence == 1 and moved.starts_at == datetime(2026, 12, 15, 15, 0, tzinfo=UTC)
    assert json.loads(note.data)["when"] == "Tue 15 Dec 2026, 15:00 London (GMT) · Wed 16 Dec, 00:00 your time (Tokyo, JST)"
    assert f"event-remind:{event.id}:2026-12-15T15:00:00+00:00" in reminders


def test_the_reminder_before_the_start_goes_to_those_going_or_interested(db, settings, client, make_user,
                                                                         make_category):
    make_user("ana")
    make_user("bob")
    make_user("cleo")
    login(client, "ana")
    create(client, make_category("Housing"))
    event = the_event(db)
    logout(client)
    for name, status in (("bob", "going"), ("cleo", "not_going")):
        login(client, name)
        post_form(client, f"/events/{event.id}/rsvp", {"status": status})
        logout(client)
    with db.write() as s:
        item = s.scalar(select(OutboxItem).where(OutboxItem.kind == "event.remind"))
        assert item.available_at == event.starts_at - timedelta(hours=24)
        item.available_at = utcnow()
    outbox.drain(db, settings)
    with db.read() as s:
        reminded = {s.get(User, n.user_id).username for n in s.scalars(
            select(Notification).where(Notification.kind == "event_reminder"))}
    assert reminded == {"bob"}


# --- calendars --------------------------------------------------------------------------------

def test_an_event_calendar_file_round_trips_with_its_zone(db, client, make_user, make_category, settings):
    make_user("ana")
    login(client, "ana")
    create(client, make_category("Housing"))
    event = the_event(db)
    cal = ics(client, f"/events/{event.id}.ics")
    [vevent] = vevents(cal)
    assert str(vevent["uid"]) == f"event-{event.id}@testserver"
    start = vevent.decoded("dtstart")
    assert vevent["dtstart"].params["TZID"] == "Europe/London"
    assert start == datetime(2026, 12, 14, 15, 0, tzinfo=UTC) and start.utcoffset() == timedelta(0)
    assert vevent.decoded("dtend") == datetime(2026, 12, 14, 17, 0, tzinfo=UTC)
    assert str(vevent["summary"]) == "Online assembly of housing co-ops"
    assert "https://meet.example.org/housing" in str(vevent["location"])
    assert int(vevent["sequence"]) == 0 and str(vevent["status"]) == "CONFIRMED"
    assert [str(tz["tzid"]) for tz in cal.walk("VTIMEZONE")] == ["Europe/London"]


def test_changes_raise_the_sequence_and_a_cancellation_is_marked_cancelled(db, client, make_user, make_category):
    make_user("ana")
    login(client, "ana")
    create(client, make_category("Housing"))
    event = the_event(db)
    uid = str(vevents(ics(client, f"/events/{event.id}.ics"))[0]["uid"])
    post_form(client, f"/events/{event.id}/edit", {**FORM, "start_time": "16:00"})
    [changed] = vevents(ics(client, f"/events/{event.id}.ics"))
    assert str(changed["uid"]) == uid and int(changed["sequence"]) == 1
    assert changed.decoded("dtstart") == datetime(2026, 12, 14, 16, 0, tzinfo=UTC)
    post_form(client, f"/events/{event.id}/cancel", {})
    [cancelled] = vevents(ics(client, f"/events/{event.id}.ics"))
    assert str(cancelled["uid"]) == uid and int(cancelled["sequence"]) == 2
    assert str(cancelled["status"]) == "CANCELLED"


def test_an_event_across_a_dst_change_keeps_both_offsets_in_its_calendar_file(db, client, make_user,
                                                                            make_category):
    make_user("ana")
    login(client, "ana")
    # An overnight vigil from Saturday 20:00 BST to Sunday 10:00 GMT: the clocks go back at 02:00.
    create(client, make_category("Vigils"), start_date="2027-10-30", start_time="20:00", end_date="2027-10-31",
           end_time="10:00")
    event = the_event(db)
    cal = ics(client, f"/events/{event.id}.ics")
    [vevent] = vevents(cal)
    start, end = vevent.decoded("dtstart"), vevent.decoded("dtend")
    assert start.utcoffset() == timedelta(hours=1) and end.utcoffset() == timedelta(0)
    assert start == datetime(2027, 10, 30, 19, 0, tzinfo=UTC) and end == datetime(2027, 10, 31, 10, 0, tzinfo=UTC)
    assert end.astimezone(UTC) - start.astimezone(UTC) == timedelta(hours=15)  # 14 on the wall clock
    [tz] = cal.walk("VTIMEZONE")
    kinds = {c.name for c in tz.subcomponents}
    assert kinds == {"STANDARD", "DAYLIGHT"}


def test_an_event_across_the_date_line_round_trips(db, client, make_user, make_category):
    make_user("ana")
    login(client, "ana")
    create(client, make_category("Pacific"), timezone="Pacific/Kiritimati", start_date="2026-12-14",
           start_time="08:00", end_time="")
    event = the_event(db)
    [vevent] = vevents(ics(client, f"/events/{event.id}.ics"))
    start = vevent.decoded("dtstart")
    assert vevent["dtstart"].params["TZID"] == "Pacific/Kiritimati"
    assert start.utcoffset() == timedelta(hours=14)
    # Monday morning at UTC+14 is still Sunday in UTC, and in Honolulu.
    assert start.astimezone(UTC) == datetime(2026, 12, 13, 18, 0, tzinfo=UTC)


def test_a_category_calendar_honours_viewing_levels_and_personal_tokens(db, client, make_user, make_category):
    ana = make_user("ana", tier="member")
    make_user("pat")
    public, board = make_category("Housing"), make_category("Board", "members_only")
    login(client, "ana")
    create(client, public, title="Open housing meeting")
    create(client, board, title="Board meeting")
    logout(client)
    cal = ics(client, f"/c/{public.slug}/{public.id}/events.ics")
    assert [str(e["summary"]) for e in vevents(cal)] == ["Open housing meeting"]
    # A members-only calendar looks missing to visitors, even with a member's session cookie.
    assert client.get(f"/c/{board.slug}/{board.id}/events.ics").status_code == 404
    login(client, "ana")
    assert client.get(f"/c/{board.slug}/{board.id}/events.ics").status_code == 404
    with db.write() as s:
        secret = feedtokens.create_feed_token(s, Viewer(s.get(User, ana.id))).secret
    cal = ics(client, f"/c/{board.slug}/{board.id}/events.ics?token={secret}")
    assert [str(e["summary"]) for e in vevents(cal)] == ["Board meeting"]
    assert client.get(f"/c/{board.slug}/{board.id}/events.ics?token=wrong").status_code == 404
    # When ana is no longer a member, her token opens nothing there.
    with db.write() as s:
        s.get(User, ana.id).tier = "participant"
    assert client.get(f"/c/{board.slug}/{board.id}/events.ics?token={secret}").status_code == 404


def test_events_i_am_going_to_feed(db, client, make_user, make_category):
    make_user("ana", tier="member")
    bob = make_user("bob")
    category = make_category("Housing")
    login(client, "ana")
    create(client, category, title="Going to this one")
    going = the_event(db)
    create(client, category, title="Only interested in this one")
    interested = the_event(db)
    logout(client)
    login(client, "bob")
    post_form(client, f"/events/{going.id}/rsvp", {"status": "going"})
    post_form(client, f"/events/{interested.id}/rsvp", {"status": "interested"})
    assert client.get("/my/events.ics").status_code == 404  # a calendar app has no session: a token it is
    r = post_form(client, "/my/calendar", {})
    assert r.status_code == 200
    secret = re.search(r"/my/events\.ics\?token=([\w-]+)", r.text).group(1)
    logout(client)
    cal = ics(client, f"/my/events.ics?token={secret}")
    assert [str(e["summary"]) for e in vevents(cal)] == ["Going to this one"]
    with db.read() as s:
        assert s.get(User, bob.id) is not None


# --- the reader's zone ------------------------------------------------------------------------

def test_one_click_sets_the_profile_zone_and_bad_zones_are_refused(db, client, make_user):
    make_user("ana")
    login(client, "ana")
    r = post_form(client, "/my/timezone", {"timezone": "Europe/Paris", "next": "/events"})
    assert r.status_code == 303 and r.headers["location"] == "/events"
    r = post_form(client, "/my/timezone", {"timezone": "Europe/Paris", "next": "https://evil.example/"})
    assert r.headers["location"] == "/"
    with db.read() as s:
        assert s.scalar(select(User.timezone).where(User.username == "ana")) == "Europe/Paris"
    r = post_form(client, "/my/timezone", {"timezone": "Paris"})
    assert r.status_code == 422 and "Choose a time zone from the list" in r.text
    page = client.get("/events").text
    assert 'data-profile-zone="Europe/Paris"' in page and "Your profile says Paris" in page


def test_rss_items_of_events_name_the_organisers_zone_and_utc(db, client, make_user, make_category):
    import feedparser

    make_user("ana")
    category = make_category("Pacific")
    login(client, "ana")
    create(client, category, timezone="Pacific/Auckland", start_time="09:00", end_time="11:00")
    logout(client)
    feed = feedparser.parse(client.get(f"/c/{category.slug}/{category.id}.rss").content)
    [item] = feed.entries
    assert ("Starts: Mon 14 Dec 2026, 09:00 Auckland (NZDT) · Sun 13 Dec, 20:00 UTC; "
            "ends: Mon 14 Dec 2026, 11:00 Auckland (NZDT) · Sun 13 Dec, 22:00 UTC") in item.description
