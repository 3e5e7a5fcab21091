"""The duplicate-post check: the same text from the same person within the window is refused, on the
pages (inline, keeping the text) and in the API (Discourse's 422), in one place: forum/posting.py."""

import threading
import time
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from forum import posting
from forum.models import Post, utcnow
from forum.permissions import Viewer
from tests.api.conftest import JSON, as_user, make_key  # noqa: F401  (fixtures)
from tests.conftest import login, post_form

TOO_SIMILAR = "Body is too similar to what you recently posted."


@pytest.fixture
def settings(settings):
    # The shared fixture switches the check off for the factories; here it runs with its default window.
    return settings.model_copy(update={"unique_post_window": 120})


@pytest.fixture
def forum(make_user, make_category, make_topic, staff):
    ana = make_user("ana", tier="member")
    news = make_category("News and events")
    assembly = make_topic(staff, news, title="General assembly in Lisbon", raw="Where shall we meet this year?")
    other = make_topic(staff, news, title="Budget for the spring fair", raw="Numbers for the spring fair.")
    return {"ana": ana, "news": news, "assembly": assembly, "other": other}


def _posts_by(db, user) -> list[str]:
    with db.read() as s:
        return list(s.scalars(select(Post.raw).where(Post.user_id == user.id).order_by(Post.id)))


def _backdate(db, user, seconds: int) -> None:
    with db.write() as s:
        s.execute(update(Post).where(Post.user_id == user.id)
                  .values(created_at=utcnow() - timedelta(seconds=seconds)))


# --- pages ------------------------------------------------------------------------------------

def test_a_reply_sent_twice_is_refused_inline_and_keeps_the_text(client, db, forum):
    t = forum["assembly"]
    login(client, "ana")
    text = "Count me in for the assembly, I will bring the minutes."
    first = post_form(client, f"/t/{t.id}/reply", {"raw": text}, csrf_from=f"/t/{t.slug}/{t.id}")
    assert first.status_code == 303
    again = post_form(client, f"/t/{t.id}/reply", {"raw": text}, csrf_from=f"/t/{t.slug}/{t.id}")
    assert again.status_code == 422
    assert TOO_SIMILAR in again.text
    assert 'aria-invalid="true" aria-describedby="raw-error"' in again.text
    assert f">{text}</textarea>" in again.text  # nothing typed is lost
    assert _posts_by(db, forum["ana"]) == [text]


def test_a_new_topic_with_a_body_just_posted_is_refused(client, db, forum):
    login(client, "ana")
    body = "Proposal: we meet in Porto in May, at the co-op hall."
    news = forum["news"]
    r = post_form(client, "/new-topic", {"title": "Meeting in Porto", "raw": body, "category": news.id},
                  csrf_from="/new-topic")
    assert r.status_code == 303
    r = post_form(client, "/new-topic", {"title": "Meeting in Porto again", "raw": body, "category": news.id},
                  csrf_from="/new-topic")
    assert r.status_code == 422 and TOO_SIMILAR in r.text
    assert 'value="Meeting in Porto again"' in r.text and body in r.text
    # Sent as a reply elsewhere, the same text is refused too: the check is per person, not per topic.
    t = forum["other"]
    r = post_form(client, f"/t/{t.id}/reply", {"raw": body}, csrf_from=f"/t/{t.slug}/{t.id}")
    assert r.status_code == 422 and TOO_SIMILAR in r.text
    assert _posts_by(db, forum["ana"]) == [body]


# --- the service ------------------------------------------------------------------------------

def test_spacing_and_case_do_not_make_a_post_new(db, settings, forum):
    ana, t = Viewer(forum["ana"]), forum["assembly"]
    with db.write() as s:
        posting.create_reply(s, settings, ana, topic_id=t.id, raw="See you at the hall.")
    with pytest.raises(posting.DuplicatePost) as refused, db.write() as s:
        posting.create_reply(s, settings, ana, topic_id=t.id, raw="  see you   at the\nHALL.  ")
    assert refused.value.status_code == 422 and refused.value.fields == {"raw": TOO_SIMILAR}
    with db.write() as s:
        posting.create_reply(s, settings, ana, topic_id=t.id, raw="See you at the hall, then.")
    assert len(_posts_by(db, forum["ana"])) == 2


def test_the_same_text_is_welcome_again_after_the_window(db, settings, forum):
    ana, t = Viewer(forum["ana"]), forum["assembly"]
    with db.write() as s:
        posting.create_reply(s, settings, ana, topic_id=t.id, raw="Agreed.")
    _backdate(db, forum["ana"], 119)
    with pytest.raises(posting.DuplicatePost), db.write() as s:
        posting.create_reply(s, settings, ana, topic_id=t.id, raw="Agreed.")
    _backdate(db, forum["ana"], 121)
    with db.write() as s:
        posting.create_reply(s, settings, ana, topic_id=t.id, raw="Agreed.")
    assert _posts_by(db, forum["ana"]) == ["Agreed.", "Agreed."]


def test_the_window_is_configurable_and_0_switches_the_check_off(db, settings, forum):
    ana, t = Viewer(forum["ana"]), forum["assembly"]
    short = settings.model_copy(update={"unique_post_window": 10})
    off = settings.model_copy(update={"unique_post_window": 0})
    with db.write() as s:
        posting.create_reply(s, short, ana, topic_id=t.id, raw="Agreed.")
    _backdate(db, forum["ana"], 30)
    with db.write() as s:
        posting.create_reply(s, short, ana, topic_id=t.id, raw="Agreed.")  # past a 10-second window
    with db.write() as s:
        posting.create_reply(s, off, ana, topic_id=t.id, raw="Agreed.")
    assert len(_posts_by(db, forum["ana"])) == 3


def test_others_staff_and_deleted_posts_do_not_count(db, settings, forum, make_user, staff):
    t = forum["assembly"]
    ana, bea = Viewer(forum["ana"]), Viewer(make_user("bea", tier="member"))
    with db.write() as s:
        first = posting.create_reply(s, settings, ana, topic_id=t.id, raw="Agreed.").id
    with db.write() as s:
        posting.create_reply(s, settings, bea, topic_id=t.id, raw="Agreed.")  # someone else may say it
    # Staff are exempt, as in Discourse: the same notice may go to several topics.
    for topic in (t, forum["other"]):
        with db.write() as s:
            posting.create_reply(s, settings, Viewer(staff), topic_id=topic.id, raw="Please keep to the topic.")
    # A post its author deleted does not block saying it again.
    with db.write() as s:
        posting.delete_post(s, ana, post_id=first)
    with db.write() as s:
        posting.create_reply(s, settings, ana, topic_id=t.id, raw="Agreed.")
    with db.read() as s:
        assert s.scalar(select(func.count(Post.id)).where(Post.raw == "Agreed.")) == 3


def test_two_identical_posts_sent_at_once_make_one(db, settings, forum):
    """A double click: the second transaction waits for the first and then sees its post."""
    ana, t = Viewer(forum["ana"]), forum["assembly"]
    first_wrote, outcome = threading.Event(), {}

    def first():
        with db.write() as s:
            posting.create_reply(s, settings, ana, topic_id=t.id, raw="Double-clicked reply.")
            first_wrote.set()
            time.sleep(0.5)  # still uncommitted while the second one runs

    def second():
        first_wrote.wait(10)
        try:
            with db.write() as s:
                posting.create_reply(s, settings, ana, topic_id=t.id, raw="Double-clicked reply.")
            outcome["second"] = "posted"
        except posting.DuplicatePost:
            outcome["second"] = "refused"

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert outcome == {"second": "refused"}
    assert _posts_by(db, forum["ana"]) == ["Double-clicked reply."]


# --- the API ----------------------------------------------------------------------------------

def test_api_refuses_the_same_text_elsewhere_with_discourses_422(client, db, forum, as_user):
    headers = as_user(forum["ana"])
    body = "Minutes of the board meeting are attached."
    r = client.post("/posts.json", headers=headers, data={"topic_id": forum["assembly"].id, "raw": body})
    assert r.status_code == 200
    r = client.post("/posts.json", headers=headers, data={"topic_id": forum["other"].id, "raw": body})
    assert r.status_code == 422 and r.headers["content-type"] == JSON
    assert r.json() == {"action": "create_post", "errors": [TOO_SIMILAR]}
    r = client.post("/posts.json", headers=headers,
                    data={"title": "Board minutes, March", "raw": body, "category": forum["news"].id})
    assert r.status_code == 422 and r.json()["errors"] == [TOO_SIMILAR]
    assert _posts_by(db, forum["ana"]) == [body]


def test_an_api_client_repeating_the_same_request_gets_the_post_it_made(client, db, forum, as_user):
    """Discourse memoizes API posts: a retry after a lost answer returns the first post, not a copy."""
    headers = as_user(forum["ana"])
    reply = {"topic_id": forum["assembly"].id, "raw": "Retry-safe reply from a bot.", "reply_to_post_number": 1}
    first = client.post("/posts.json", headers=headers, data=reply)
    again = client.post("/posts.json", headers=headers, data=reply)
    assert first.status_code == again.status_code == 200
    assert again.json()["id"] == first.json()["id"] and again.json()["post_number"] == first.json()["post_number"]
    topic = {"title": "Bot report for March", "raw": "Everything ran fine this month.", "category": forum["news"].id}
    first = client.post("/posts.json", headers=headers, data=topic)
    again = client.post("/posts.json", headers=headers, data=topic)
    assert again.status_code == 200 and again.json()["topic_id"] == first.json()["topic_id"]
    assert len(_posts_by(db, forum["ana"])) == 2
    # A change of parameters is a different request: the same text is then refused.
    r = client.post("/posts.json", headers=headers, data={**reply, "reply_to_post_number": None})
    assert r.status_code == 422 and r.json()["errors"] == [TOO_SIMILAR]


def test_a_browser_session_posting_json_twice_gets_422(client, db, forum):
    login(client, "ana")
    token = client.get("/session/csrf.json").json()["csrf"]
    headers = {"X-CSRF-Token": token, "Accept": JSON}
    data = {"topic_id": forum["assembly"].id, "raw": "Posted from the browser, twice."}
    assert client.post("/posts.json", headers=headers, data=data).status_code == 200
    r = client.post("/posts.json", headers=headers, data=data)
    assert r.status_code == 422 and r.json() == {"action": "create_post", "errors": [TOO_SIMILAR]}
    assert len(_posts_by(db, forum["ana"])) == 1


@pytest.mark.server
def test_pydiscourse_against_a_server_with_the_default_window(database_url, forum, make_key):
    from pydiscourse import DiscourseClient
    from pydiscourse.exceptions import DiscourseClientError

    from tests.server import running_server

    with running_server(database_url) as base:
        ana = DiscourseClient(base, api_username="ana", api_key=make_key(forum["ana"]), timeout=30)
        body = "Posted by a bot that retries when it hears nothing back."
        first = ana.create_post(body, topic_id=forum["assembly"].id)
        # The very same call again (a retry) answers the post already made, as Discourse's memoization.
        assert ana.create_post(body, topic_id=forum["assembly"].id)["id"] == first["id"]
        with pytest.raises(DiscourseClientError) as refused:
            ana.create_post(body, topic_id=forum["other"].id)
        assert refused.value.response.status_code == 422
        assert str(refused.value) == TOO_SIMILAR
