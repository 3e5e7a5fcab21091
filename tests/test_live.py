"""Live updates: open pages are told what changed, in every process, and only what their reader may see."""

from __future__ import annotations

import json
import threading
import time
import uuid

import httpx
import pytest

from forum import live
from forum.models import User
from forum.permissions import Viewer
from tests.conftest import SEES, VIEWERS, csrf_of, login
from tests.server import running_server
from tests.sse import Stream


def _signed_in(base: str, username: str) -> httpx.Client:
    client = httpx.Client(base_url=base, timeout=30, follow_redirects=True)
    login(client, username)
    return client


def _reply(client: httpx.Client, topic_id: int, raw: str) -> dict:
    token = csrf_of(client, f"/t/{topic_id}")
    r = client.post("/posts.json", data={"topic_id": topic_id, "raw": raw}, headers={"X-CSRF-Token": token})
    assert r.status_code == 200, r.text
    return r.json()


@pytest.fixture
def forum(database_url, make_user, make_category, make_topic):
    ana = make_user("ana", tier="member")
    make_user("pia", tier="participant")
    news, lounge = make_category("News"), make_category("Members' lounge", "members_only")
    public = make_topic(ana, news, title="Assembly agenda for the spring meeting")
    private = make_topic(ana, lounge, title="Members' budget discussion for next year")
    return {"public": public, "private": private, "news": news, "lounge": lounge}


@pytest.mark.server
def test_a_reply_reaches_open_pages_that_may_see_it_and_no_others(database_url, db, forum):
    with running_server(database_url, env={"FORUM_LIVE_HEARTBEAT_SECONDS": "1"}) as base:
        ana = _signed_in(base, "ana")
        visitor = Stream(base, f"/live?topic_id={forum['public'].id}&after=1")
        assert visitor.status == 200
        assert visitor.headers["content-type"].startswith("text/event-stream")
        assert visitor.headers["x-accel-buffering"] == "no"
        pia_list = Stream(base, "/live?list=all", client=_signed_in(base, "pia"))
        visitors_list = Stream(base, "/live?list=all")
        member_list = Stream(base, "/live?list=all", client=_signed_in(base, "ana"))
        # A topic the visitor may not see: its stream is missing, as its page is.
        assert Stream(base, f"/live?topic_id={forum['private'].id}").status == 404
        assert Stream(base, f"/live?list={forum['lounge'].id}").status == 404
        assert visitor.next("comment", timeout=3) is not None  # the heartbeat keeps proxies from closing it

        _reply(ana, forum["public"].id, "The agenda has a new item on worker buyouts.")
        event = visitor.next("post")
        assert event == {"id": event["id"], "topic_id": forum["public"].id, "post_number": 2,
                         "highest_post_number": 2}  # identifiers and counts, never the text
        assert visitors_list.next("topic")["topic_id"] == forum["public"].id

        _reply(ana, forum["private"].id, "The budget line for travel is too small.")
        assert member_list.next("topic", timeout=5) is not None
        member_list.close()
        # Neither the visitor's nor the participant's list hears of the members-only topic.
        seen = [e for e in (visitors_list.next("topic", 2), pia_list.next("topic", 1)) if e]
        assert all(e["topic_id"] != forum["private"].id for e in seen)
        ana.close()


@pytest.mark.server
def test_losing_access_ends_the_stream_and_nothing_more_is_told(database_url, db, forum, staff, make_user):
    from forum import apikeys

    bea = make_user("bea", tier="member")
    with db.write() as session:
        key = apikeys.create_api_key(session, Viewer(staff), description="moderating", username=staff.username).secret
    as_staff = {"Api-Key": key, "Api-Username": staff.username}
    with running_server(database_url) as base:
        bea_client = _signed_in(base, "bea")
        stream = Stream(base, f"/live?topic_id={forum['private'].id}", client=bea_client)
        list_stream = Stream(base, "/live?list=all", client=bea_client)
        assert stream.status == list_stream.status == 200
        # A moderator makes her a participant: the members-only topic's stream ends at once.
        r = httpx.post(f"{base}/admin/users/{bea.id}/groups.json", data={"group_id": "participants"},
                       headers=as_staff, timeout=30)
        assert r.status_code == 200, r.text
        assert stream.next("close", timeout=5) == {"id": None, "reason": "access"}
        assert stream.next("ended", timeout=5) is not None
        # A topic moved out of her reach is not told about from then on.
        r = httpx.put(f"{base}/t/{forum['public'].id}.json", data={"category_id": forum["lounge"].id},
                      headers=as_staff, timeout=30)
        assert r.status_code == 200, r.text
        ana = _signed_in(base, "ana")
        _reply(ana, forum["public"].id, "Moved here for members only.")
        assert list_stream.next("topic", timeout=2) is None
        # Logging out ends her streams too.
        bea_client.post("/logout", data={"csrf_token": csrf_of(bea_client, "/latest")})
        _reply(ana, forum["private"].id, "Anyone still here?")
        assert list_stream.next("close", timeout=5) == {"id": None, "reason": "session"}


@pytest.mark.server
def test_a_page_that_lost_its_connection_resumes_where_it_stopped(database_url, db, forum):
    with running_server(database_url) as base:
        ana = _signed_in(base, "ana")
        first = Stream(base, f"/live?topic_id={forum['public'].id}")
        _reply(ana, forum["public"].id, "First reply.")
        last_id = first.next("post")["id"]
        first.close()
        _reply(ana, forum["public"].id, "Second reply, while the reader was offline.")
        _reply(ana, forum["public"].id, "Third reply.")
        again = Stream(base, f"/live?topic_id={forum['public'].id}", last_event_id=last_id)
        assert [again.next("post")["post_number"], again.next("post")["post_number"]] == [3, 4]
        # A page opened after replies it does not show is told at once.
        late = Stream(base, f"/live?topic_id={forum['public'].id}&after=2")
        assert late.next("post")["post_number"] == 4


@pytest.mark.server
def test_notifications_and_replying_reach_the_right_people(database_url, db, make_user, forum):
    make_user("bob", tier="member")
    with running_server(database_url) as base:
        ana, bob = _signed_in(base, "ana"), _signed_in(base, "bob")
        bobs_page = Stream(base, f"/live?topic_id={forum['public'].id}", client=bob)
        visitor = Stream(base, f"/live?topic_id={forum['public'].id}")
        _reply(ana, forum["public"].id, "@bob could you check the agenda?")
        assert bobs_page.next("notifications") is not None

        token = csrf_of(ana, f"/t/{forum['public'].id}")
        r = ana.post("/live/presence", data={"topic_id": forum["public"].id, "state": "replying"},
                     headers={"X-CSRF-Token": token})
        assert r.status_code == 204
        told = bobs_page.next("presence")
        assert {k: told[k] for k in ("topic_id", "username", "state")} == {
            "topic_id": forum["public"].id, "username": "ana", "state": "replying"}
        assert visitor.next("presence")["username"] == "ana"
        # Without a token, nothing; in a topic she may not see, 404.
        assert ana.post("/live/presence", data={"topic_id": forum["public"].id}).status_code == 403
        pia = _signed_in(base, "pia")
        assert pia.post("/live/presence", data={"topic_id": forum["private"].id},
                        headers={"X-CSRF-Token": csrf_of(pia, "/latest")}).status_code == 404

        # Ana chooses to stay unseen: nobody is told any more.
        page = ana.get("/my/preferences").text
        assert 'name="show_presence" value="1" checked' in page
        r = ana.post("/my/preferences", data={"name": "", "presence_shown": "1", "csrf_token": csrf_of(ana, "/my/preferences")})
        assert r.status_code == 200 and 'name="show_presence" value="1" checked' not in r.text
        ana.post("/live/presence", data={"topic_id": forum["public"].id, "state": "stopped"},
                 headers={"X-CSRF-Token": token})
        time.sleep(0.1)
        ana.post("/live/presence", data={"topic_id": forum["public"].id, "state": "replying"},
                 headers={"X-CSRF-Token": token})
        assert bobs_page.next("presence", timeout=2) is None


@pytest.mark.server
def test_two_servers_share_live_updates_through_redis(database_url, db, forum, redis_url):
    prefix = f"forum-test-{uuid.uuid4().hex[:8]}"
    env = {"FORUM_REDIS_URL": redis_url, "FORUM_REDIS_PREFIX": prefix}
    with running_server(database_url, env=env) as first, running_server(database_url, env=env) as second:
        on_second = Stream(second, f"/live?topic_id={forum['public'].id}")
        ana = _signed_in(first, "ana")
        started = time.monotonic()
        _reply(ana, forum["public"].id, "Posted on the first host.")
        event = on_second.next("post", timeout=3)
        assert event is not None and event["post_number"] == 2
        assert time.monotonic() - started < 1.5
        # Resuming on the other host from an id the first one handed out.
        on_first = Stream(first, f"/live?topic_id={forum['public'].id}")
        _reply(ana, forum["public"].id, "Another.")
        first_id = on_first.next("post")["id"]
        _reply(ana, forum["public"].id, "And one more.")
        resumed = Stream(second, f"/live?topic_id={forum['public'].id}", last_event_id=first_id)
        assert resumed.next("post")["post_number"] == 4


@pytest.mark.server
def test_with_redis_unreachable_pages_posting_and_live_updates_in_one_process_still_work(database_url, db, forum):
    from tests.server import free_port

    env = {"FORUM_REDIS_URL": f"redis://127.0.0.1:{free_port()}/0"}
    with running_server(database_url, env=env) as base:
        stream = Stream(base, f"/live?topic_id={forum['public'].id}")
        assert stream.next("degraded", timeout=10) is not None  # the page falls back to a slow poll
        ana = _signed_in(base, "ana")
        _reply(ana, forum["public"].id, "Still posting while Redis is down.")
        assert stream.next("post", timeout=5)["post_number"] == 2


def test_changes_are_noticed_after_commit_and_never_after_rollback(db, settings, make_user, make_category, make_topic):
    ana = make_user("ana", tier="member")
    topic = make_topic(ana, make_category("News"), title="A topic to change and to reply in")
    told: list[list[live.Change]] = []
    db.live_sink = told.append
    try:
        with pytest.raises(RuntimeError), db.write() as session:
            from forum import posting

            posting.create_reply(session, settings, Viewer(session.get(User, ana.id)), topic_id=topic.id, raw="Never posted at all.")
            raise RuntimeError("rolled back")
        assert told == []
        with db.write() as session:
            post = posting.create_reply(session, settings, Viewer(session.get(User, ana.id)), topic_id=topic.id,
                                        raw="Posted for real this time.")
        [changes] = told
        assert live.Change(live.POST, topic_id=topic.id, post_id=post.id, post_number=2) in changes
        assert all(c.topic_id in (None, topic.id) for c in changes)
    finally:
        db.live_sink = None


@pytest.mark.parametrize("preset", list(SEES))
def test_every_kind_of_viewer_is_told_only_of_topics_they_may_see(preset, db, settings, people, make_client,
                                                                   make_category, make_topic, staff):
    from sqlalchemy import select

    from forum import accounts
    from forum.models import Post

    category = make_category("Secret garden", preset)
    topic = make_topic(staff, category, title="Seeds for the spring exchange", raw="We swap seeds in March.")
    tokens: dict[str, str | None] = {"anonymous": None}
    with db.write() as session:
        for who, person in people.items():
            tokens[who] = accounts.start_session(session, session.get(User, person.id))
        first = session.scalar(select(Post).where(Post.topic_id == topic.id))
    subs = {who: [live.Subscriber(token=tokens[who], user_id=None, topic_id=topic.id),
                  live.Subscriber(token=tokens[who], user_id=None, list_scope="all"),
                  live.Subscriber(token=tokens[who], user_id=None, list_scope=str(category.id))]
            for who in VIEWERS}
    everyone = [s for group in subs.values() for s in group]
    changes = [live.Change(live.POST, topic_id=topic.id, post_id=first.id, post_number=1),
               live.Change(live.POST_CHANGED, post_id=first.id),
               live.Change(live.TOPIC, topic_id=topic.id, category_id=category.id),
               live.Change(live.PRESENCE, topic_id=topic.id, username=staff.username, state="replying")]
    with db.read() as session:
        told = live.decide(session, settings, [(str(i), c, everyone) for i, c in enumerate(changes, 1)])
    for who in VIEWERS:
        mine = [item for sub, item in told if sub in subs[who]]
        allowed = who in SEES[preset]
        # The topic page hears all four; each list hears of the topic (the new post and the change).
        assert len(mine) == (4 + 2 + 2 if allowed else 0), (who, mine)
        if not allowed:
            browser = make_client()
            if who != "anonymous":
                login(browser, people[who].username)
            assert browser.get(f"/live?topic_id={topic.id}").status_code == 404
            assert browser.get(f"/live?list={category.id}").status_code == 404


@pytest.mark.server
def test_sigterm_closes_open_streams_with_a_reconnect_hint_and_the_server_stops_at_once(database_url, db, forum):
    import os
    import signal

    with running_server(database_url) as base:
        streams = [Stream(base, f"/live?topic_id={forum['public'].id}") for _ in range(3)]
        assert all(s.status == 200 for s in streams)
        started = time.monotonic()
        os.killpg(base.process.pid, signal.SIGTERM)
        for s in streams:
            assert s.next("close", timeout=5) == {"id": None, "reason": "shutdown"}
        base.process.wait(timeout=10)
        assert time.monotonic() - started < 5  # it did not wait for the streams to time out


@pytest.mark.server
def test_redis_stopping_mid_run_degrades_and_everything_recovers_by_itself(database_url, db, forum, tmp_path):
    import subprocess

    from tests.server import free_port

    port = free_port()

    def start_redis():
        proc = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                                 "--appendonly", "no", "--dir", str(tmp_path)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        import redis

        while time.monotonic() < deadline:
            try:
                redis.Redis(port=port).ping()
                return proc
            except redis.ConnectionError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    redis_proc = start_redis()
    try:
        with running_server(database_url, env={"FORUM_REDIS_URL": f"redis://127.0.0.1:{port}/0"}) as base:
            ana = _signed_in(base, "ana")
            stream = Stream(base, f"/live?topic_id={forum['public'].id}")
            _reply(ana, forum["public"].id, "Through Redis.")
            assert stream.next("post")["id"].count("-") == 1  # a Redis stream id

            redis_proc.terminate()
            redis_proc.wait(timeout=10)
            # Pages, log-in and posting go on; this process's readers still hear of its changes.
            assert httpx.get(f"{base}/t/{forum['public'].id}", follow_redirects=True, timeout=30).status_code == 200
            _reply(ana, forum["public"].id, "While Redis is down.")
            assert stream.next("degraded", timeout=10) is not None
            assert stream.next("post", timeout=10)["post_number"] == 3
            assert httpx.get(f"{base}/health/ready", timeout=30).status_code == 503

            redis_proc = start_redis()
            assert stream.next("restored", timeout=15) is not None
            _reply(ana, forum["public"].id, "Redis is back.")
            assert stream.next("post", timeout=10)["post_number"] == 4
            deadline = time.monotonic() + 15
            while httpx.get(f"{base}/health/ready", timeout=30).status_code != 200:
                assert time.monotonic() < deadline, "readiness did not recover"
                time.sleep(0.5)
    finally:
        redis_proc.terminate()
        redis_proc.wait(timeout=10)


def test_an_rsvp_refreshes_the_event_panel_of_open_pages(db, settings, make_user, make_category):
    from forum import events

    ana, bob = make_user("ana", tier="member"), make_user("bob", tier="member")
    news = make_category("News")
    with db.write() as session:
        post = events.create_event(session, settings, Viewer(session.get(User, ana.id)),
                                   title="General assembly in Lisbon", raw="Come to the assembly.",
                                   category_id=news.id, start_date="2027-05-10", start_time="10:00",
                                   timezone="Europe/Lisbon", location="Lisbon")
        topic_id = post.topic_id
        from sqlalchemy import select

        from forum.models import Event

        event_id = session.scalar(select(Event.id).where(Event.topic_id == topic_id))
    told: list[list[live.Change]] = []
    db.live_sink = told.append
    try:
        with db.write() as session:
            events.rsvp(session, Viewer(session.get(User, bob.id)), event_id=event_id, status="going")
    finally:
        db.live_sink = None
    assert told and live.Change(live.PANELS, topic_id=topic_id) in told[0]
    reader = live.Subscriber(token=None, user_id=None, topic_id=topic_id)
    with db.read() as session:
        [(_sub, item)] = live.decide(session, settings, [("9", live.Change(live.PANELS, topic_id=topic_id), [reader])])
    assert item == ("9", live.PANELS, f'{{"topic_id":{topic_id}}}')


def test_a_quiet_spell_longer_than_a_redis_read_is_not_taken_for_a_lost_redis(redis_url):
    import asyncio

    bus = live.RedisBus(redis_url, f"forum-test-{uuid.uuid4().hex[:8]}")
    got: list[float] = []

    class Hub:
        async def deliver(self, batch):
            got.append(time.monotonic())

        def tell_degraded(self, degraded):
            raise AssertionError("told degraded")

    bus.hub = Hub()

    async def run():
        reader = asyncio.create_task(bus.run())
        await asyncio.sleep(bus.BLOCK_MS / 1000 + 1.5)  # longer than one read waits for news
        sent = time.monotonic()
        await asyncio.get_running_loop().run_in_executor(None, bus.publish, [live.Change(live.POST, topic_id=1)])
        while not got and time.monotonic() - sent < 3:
            await asyncio.sleep(0.01)
        bus.close()
        reader.cancel()
        return sent

    # In a thread of its own: the browser tests' driver may hold this thread's event loop.
    result: list[float] = []
    runner = threading.Thread(target=lambda: result.append(asyncio.run(run())))
    runner.start()
    runner.join(30)
    [sent] = result
    assert not bus.degraded
    assert got and got[0] - sent < 0.2


def test_a_first_visit_tells_open_pages_that_seen_by_changed(db, make_user, make_category, make_topic):
    from forum import tracking
    from forum.models import TopicUser

    ana, bob = make_user("ana", tier="member"), make_user("bob", tier="member")
    topic = make_topic(ana, make_category("News"), title="Who has read the board report?")
    with db.write() as session:  # bob watches it before reading it: his row exists, unvisited
        session.add(TopicUser(user_id=bob.id, topic_id=topic.id, last_read_post_number=0))
    told: list[list[live.Change]] = []
    db.live_sink = told.append
    try:
        with db.write() as session:
            row = tracking.topic_user(session, bob.id, topic.id)
            tracking._first_visit(session, row, topic.id)
        with db.write() as session:  # a later visit is not news
            row = tracking.topic_user(session, bob.id, topic.id)
            tracking._first_visit(session, row, topic.id)
            row.last_read_post_number = 1
    finally:
        db.live_sink = None
    assert [c for batch in told for c in batch if c.kind == live.SEEN] == [live.Change(live.SEEN, topic_id=topic.id)]


def test_events_waiting_together_reach_a_page_once_each_newest_last():
    from forum.web.live import latest_only

    def item(event_id: int, kind: str, **data) -> tuple[str, str, str]:
        return (str(event_id), kind, json.dumps(data, separators=(",", ":")))

    waiting = [item(1, "post", topic_id=7, post_number=2, highest_post_number=2),
               item(2, "post_changed", topic_id=7, post_id=31, post_number=1, like_count=1),
               item(3, "notifications"),
               item(4, "post", topic_id=7, post_number=3, highest_post_number=4),
               item(5, "presence", topic_id=7, username="ana", state="replying"),
               item(6, "presence", topic_id=7, username="bea", state="replying"),
               item(7, "post_changed", topic_id=7, post_id=31, post_number=1, like_count=2),
               item(8, "post", topic_id=7, post_number=4, highest_post_number=4),
               ("", "degraded", "{}"),
               item(9, "notifications"),
               item(10, "presence", topic_id=7, username="ana", state="stopped")]
    kept = latest_only(waiting)
    assert [i[0] for i in kept] == ["6", "7", "8", "", "9", "10"]  # in order, the newest id last
    assert json.loads(kept[1][2])["like_count"] == 2 and json.loads(kept[2][2])["post_number"] == 4
    assert json.loads(kept[5][2])["state"] == "stopped"


@pytest.mark.server
def test_replies_posted_in_a_burst_leave_an_open_page_at_the_newest(database_url, db, forum):
    with running_server(database_url) as base:
        ana = _signed_in(base, "ana")
        stream = Stream(base, f"/live?topic_id={forum['public'].id}")
        for n in range(6):
            _reply(ana, forum["public"].id, f"Reply number {n + 1} of the burst.")
        numbers = []
        while (event := stream.next("post", timeout=3)) is not None:
            numbers.append(event["post_number"])
        assert numbers and numbers[-1] == 7 and numbers == sorted(numbers)
