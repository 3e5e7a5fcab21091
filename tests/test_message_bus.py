"""Discourse's message bus (`/message-bus/{client_id}/poll`): long polls woken by live changes, resumed
from an id on any host, and silent about what the reader may not see."""

from __future__ import annotations

import threading
import time
import uuid

import httpx
import pytest

from forum import apikeys, live
from forum.permissions import Viewer
from tests.conftest import csrf_of, login
from tests.server import running_server


def _signed_in(base: str, username: str) -> httpx.Client:
    client = httpx.Client(base_url=base, timeout=60, follow_redirects=True)
    login(client, username)
    return client


def _reply(client: httpx.Client, topic_id: int, raw: str) -> dict:
    r = client.post("/posts.json", data={"topic_id": topic_id, "raw": raw},
                    headers={"X-CSRF-Token": csrf_of(client, f"/t/{topic_id}")})
    assert r.status_code == 200, r.text
    return r.json()


def _poll(client: httpx.Client, channels: dict, *, dlp: bool = False, headers: dict | None = None) -> list[dict]:
    """One poll as Discourse's client sends it (form-encoded, not chunked)."""
    r = client.post(f"/message-bus/{uuid.uuid4().hex}/poll" + ("?dlp=t" if dlp else ""),
                    data={**{k: str(v) for k, v in channels.items()}, "__seq": "1"},
                    headers={"Dont-Chunk": "true", "X-SILENCE-LOGGER": "true", **(headers or {})}, timeout=60)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/json; charset=utf-8"
    return r.json()


class Waiting:
    """A long poll held on a thread, as an open Discourse tab holds one."""

    def __init__(self, client: httpx.Client, channels: dict, **kw):
        self.answer: list[dict] | None = None
        self.answered_at = 0.0
        self.thread = threading.Thread(target=self._run, args=(client, channels), kwargs=kw, daemon=True)
        self.thread.start()
        time.sleep(0.5)  # it is waiting

    def _run(self, client, channels, **kw):
        self.answer = _poll(client, channels, **kw)
        self.answered_at = time.monotonic()

    def result(self, timeout: float = 30) -> list[dict]:
        self.thread.join(timeout)
        assert self.answer is not None, "the poll was not answered"
        return self.answer


def _status(messages: list[dict]) -> dict:
    [status] = [m for m in messages if m["channel"] == "/__status"]
    assert status["global_id"] == status["message_id"] == -1
    return status["data"]


@pytest.fixture
def forum(database_url, make_user, make_category, make_topic):
    ana = make_user("ana", tier="member")
    make_user("bob", tier="member")
    make_user("pia", tier="participant")
    news, lounge = make_category("News"), make_category("Members' lounge", "members_only")
    public = make_topic(ana, news, title="Assembly agenda for the spring meeting")
    private = make_topic(ana, lounge, title="Members' budget discussion for next year")
    return {"public": public, "private": private, "news": news, "lounge": lounge, "ana": ana}


@pytest.mark.server
def test_a_first_poll_is_told_where_channels_stand_and_a_quiet_poll_answers_nothing(database_url, db, forum):
    topic = f"/topic/{forum['public'].id}"
    with running_server(database_url, env={"FORUM_MESSAGE_BUS_LONG_POLL_SECONDS": "1.5"}) as base:
        visitor = httpx.Client(base_url=base)
        _reply(_signed_in(base, "ana"), forum["public"].id, "A reply, so that the bus has something.")
        started = time.monotonic()
        answer = _poll(visitor, {"/latest": -1, topic: -1})  # answered at once, long polling or not
        assert time.monotonic() - started < 1
        where = _status(answer)
        assert answer == [{"global_id": -1, "message_id": -1, "channel": "/__status", "data": where}]
        assert set(where) == {"/latest", topic} and len(set(where.values())) == 1
        assert isinstance(where["/latest"], int) and where["/latest"] > 0

        # Up to date, without long polling: nothing, at once.
        started = time.monotonic()
        assert _poll(visitor, where, dlp=True) == []
        assert time.monotonic() - started < 1
        # Up to date, long polling: held, then nothing.
        started = time.monotonic()
        assert _poll(visitor, where) == []
        assert 1.4 < time.monotonic() - started < 5
        # The same fields in the query of a GET; an id ahead of the bus is told where it stands.
        r = visitor.get(f"/message-bus/{uuid.uuid4().hex}/poll", params={"dlp": "t", "/new": "-1"})
        assert r.status_code == 200 and _status(r.json()) == {"/new": where["/latest"]}
        assert _status(_poll(visitor, {"/new": where["/latest"] + 10**9})) == {"/new": where["/latest"]}
        assert visitor.options(f"/message-bus/{uuid.uuid4().hex}/poll").text == "OK"
        # A JSON body, as some clients send, and a client that did not ask for a plain answer gets one.
        r = visitor.post(f"/message-bus/{uuid.uuid4().hex}/poll", json={"/latest": -1})
        assert r.headers["content-type"] == "application/json; charset=utf-8"
        assert _status(r.json()) == {"/latest": where["/latest"]}


@pytest.mark.server
def test_a_reply_wakes_a_waiting_poll_and_a_client_resumes_from_its_last_id(database_url, db, forum):
    topic_id = forum["public"].id
    topic = f"/topic/{topic_id}"
    with running_server(database_url) as base:
        ana, visitor = _signed_in(base, "ana"), httpx.Client(base_url=base)
        where = _status(_poll(visitor, {topic: -1, "/latest": -1, "/new": -1}, dlp=True))

        waiting = Waiting(visitor, where)
        reply = _reply(ana, topic_id, "The agenda has a new item on worker buyouts.")
        replied_at = time.monotonic()
        told = waiting.result()
        assert waiting.answered_at - replied_at < 1.0
        created = [m for m in told if m["channel"] == topic and m["data"]["type"] == "created"]
        assert [m["data"] for m in created] == [{"id": reply["id"], "post_number": 2, "user_id": forum["ana"].id,
                                                "type": "created", "version": 1,
                                                "updated_at": created[0]["data"]["updated_at"]}]
        last = created[0]["message_id"]
        assert created[0]["global_id"] == last and last > where[topic]

        # Two replies and a new topic while the client is away: replayed at once when it comes back.
        _reply(ana, topic_id, "Second reply, while the reader was offline.")
        _reply(ana, topic_id, "Third reply.")
        r = ana.post("/posts.json", data={"title": "Harvest rota for the orchard in October",
                                          "raw": "Who can pick apples on Saturday?", "category": forum["news"].id},
                     headers={"X-CSRF-Token": csrf_of(ana, "/latest")})
        assert r.status_code == 200, r.text
        new_topic = r.json()["topic_id"]
        started = time.monotonic()
        told = _poll(visitor, {topic: last, "/latest": last, "/new": last})
        assert time.monotonic() - started < 1
        ids = [m["message_id"] for m in told if m["channel"] != "/__status"]
        assert ids == sorted(ids) and all(i > last for i in ids)
        assert [m["data"]["post_number"] for m in told
                if m["channel"] == topic and m["data"]["type"] == "created"] == [3, 4]
        assert {m["data"]["topic_id"] for m in told if m["channel"] == "/latest"} == {topic_id, new_topic}
        assert all(m["data"]["message_type"] == "latest" and m["data"]["payload"]["bumped_at"].endswith("Z")
                   for m in told if m["channel"] == "/latest")
        [new] = [m["data"] for m in told if m["channel"] == "/new"]
        assert new["topic_id"] == new_topic and new["message_type"] == "new_topic"
        assert new["payload"]["category_id"] == forum["news"].id
        assert "Harvest" not in str(told) and "apples" not in str(told)  # identifiers and counts only


@pytest.mark.server
def test_what_a_reader_may_not_see_is_never_told(database_url, db, forum, staff):
    private = forum["private"].id
    ana = forum["ana"]
    with db.write() as session:
        key = apikeys.create_api_key(session, Viewer(staff), description="app", username="ana").secret
    as_ana = {"Api-Key": key, "Api-Username": "ana"}
    channels = {f"/topic/{private}": -1, "/latest": -1, "/new": -1, f"/notification/{ana.id}": -1}
    with running_server(database_url, env={"FORUM_MESSAGE_BUS_LONG_POLL_SECONDS": "4"}) as base:
        readers = {"visitor": httpx.Client(base_url=base), "participant": _signed_in(base, "pia"),
                   "member": _signed_in(base, "ana")}
        # A channel one may not see is told where it stands like any other: nothing says it exists.
        where = {who: _status(_poll(c, channels, dlp=True)) for who, c in readers.items()}
        assert all(len(set(w.values())) == 1 for w in where.values())
        bob = _signed_in(base, "bob")
        token = csrf_of(bob, "/latest")
        waiting = {who: Waiting(c, where[who]) for who, c in readers.items() if who != "member"}
        _reply(bob, private, "@ana the travel budget line is too small.")
        r = bob.post("/posts.json", data={"title": "Pay scales for the coming year", "raw": "Draft scales attached.",
                                          "category": forum["lounge"].id}, headers={"X-CSRF-Token": token})
        assert r.status_code == 200, r.text
        written = time.monotonic()
        lounge_topic = r.json()["topic_id"]
        # Waiting polls of those who may not see it are not woken; coming back, they are told nothing.
        assert waiting["visitor"].result() == waiting["participant"].result() == []
        assert min(w.answered_at for w in waiting.values()) > written
        for who in ("visitor", "participant"):
            told = _poll(readers[who], where[who], dlp=True)
            assert [m["channel"] for m in told] == ["/__status"], who

        # The member hears of all of it, her own notifications included; the same through her API key.
        told = _poll(readers["member"], where["member"], dlp=True)
        heard = {(m["channel"], m["data"].get("topic_id") or m["data"].get("type")) for m in told}
        assert {(f"/topic/{private}", "created"), ("/latest", private), ("/latest", lounge_topic),
                ("/new", lounge_topic)} <= heard
        [mine] = [m["data"] for m in told if m["channel"] == f"/notification/{ana.id}"]
        assert mine["unread_notifications"] == 1 and mine["recent"][0][1] is False
        with_key = _poll(readers["visitor"], where["member"], dlp=True, headers=as_ana)
        assert [m["channel"] for m in with_key] == [m["channel"] for m in told]

        # Someone else's notifications stay silent, whoever asks.
        pia = readers["participant"]
        where = _status(_poll(pia, {f"/notification/{ana.id}": -1}, dlp=True))
        _reply(_signed_in(base, "bob"), forum["public"].id, "@ana the agenda is public now.")
        assert [m["channel"] for m in _poll(pia, where, dlp=True)] == ["/__status"]
        # A wrong key is refused, as by the API; user API keys are not offered.
        r = pia.post(f"/message-bus/{uuid.uuid4().hex}/poll?dlp=t", data={"/latest": -1},
                     headers={"Api-Key": "0" * 64, "Api-Username": "ana"})
        assert r.status_code == 403 and r.json()["error_type"] == "invalid_access"
        r = pia.post(f"/message-bus/{uuid.uuid4().hex}/poll?dlp=t", data={"/latest": -1},
                     headers={"User-Api-Key": "abc"})
        assert r.status_code == 403 and r.json()["error_type"] == "invalid_access"


@pytest.mark.server
def test_a_client_polling_one_host_hears_of_a_reply_made_on_another_through_redis(database_url, db, forum,
                                                                                  redis_url):
    topic_id = forum["public"].id
    topic = f"/topic/{topic_id}"
    env = {"FORUM_REDIS_URL": redis_url, "FORUM_REDIS_PREFIX": f"forum-test-{uuid.uuid4().hex[:8]}"}
    with running_server(database_url, env=env) as first, running_server(database_url, env=env) as second:
        on_first, on_second = httpx.Client(base_url=first), httpx.Client(base_url=second)
        ana = _signed_in(first, "ana")
        _reply(ana, topic_id, "So that the stream exists.")
        where = _status(_poll(on_second, {topic: -1}, dlp=True))
        assert _status(_poll(on_first, {topic: -1}, dlp=True)) == where  # one numbering for every host

        waiting = Waiting(on_second, where)
        _reply(ana, topic_id, "Posted on the first host.")
        replied_at = time.monotonic()
        [created] = [m for m in waiting.result() if m["channel"] == topic and m["data"]["type"] == "created"]
        assert created["data"]["post_number"] == 3 and waiting.answered_at - replied_at < 1.5

        # Resuming on the other host from the id this one gave.
        _reply(ana, topic_id, "And another.")
        told = _poll(on_first, {topic: created["message_id"]}, dlp=True)
        assert [m["data"]["post_number"] for m in told if m["channel"] == topic
                and m["data"]["type"] == "created"] == [4]


def test_stream_ids_become_integers_that_grow_and_come_back(redis_url):
    bus = live.RedisBus(redis_url, f"forum-test-{uuid.uuid4().hex[:8]}")
    ids = ["1767225600000-0", "1767225600000-1", "1767225600000-4095", "1767225600001-0", "3786912000000-7"]  # 2090
    numbers = [bus.number(i) for i in ids]
    assert numbers == sorted(set(numbers)) and numbers[-1] < 2**53
    assert [bus.event_id(n) for n in numbers] == ids
    bus.close()
    local = live.LocalBus()
    assert local.newest() == 0
    local.publish([live.Change(live.TOPIC, topic_id=1), live.Change(live.TOPIC, topic_id=2)])
    assert local.newest() == 2 and local.event_id(local.number("2")) == "2"
