"""static/decide.js and the server agree on what to answer: the script's fetch gets the updated
fragment as HTML (and a refusal as Discourse-style JSON, which it shows in the widget), while the
plain form without JavaScript gets a redirect or a whole page, never JSON.

The headers are read from static/decide.js itself, so changing the script without the server (or
the other way round) fails here."""

import re

import pytest
from sqlalchemy import select

from forum import STATIC_DIR, polls
from forum.models import Poll, PollOption, Post
from forum.permissions import Viewer
from tests.conftest import csrf_of, login, post_form
from tests.test_proposals import start, the_proposal

POLL = "Where do we meet in spring?\n\n[poll]\n* Lisbon\n* Ghent\n[/poll]"
# What Chromium sends when a person submits a form with JavaScript off.
BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8"


def decide_js_headers() -> dict[str, str]:
    """The headers decide.js puts on its form-submitting fetch() (the CSRF token is added per request)."""
    script = (STATIC_DIR / "decide.js").read_text()
    call = script[script.index("fetch(form.action"):]
    block = call[call.index("headers: {") + len("headers: {"):call.index("}", call.index("headers: {"))]
    headers = dict(re.findall(r'"([A-Za-z-]+)":\s*"([^"]*)"', block))
    assert headers["X-Requested-With"] == "fetch" and "Accept" in headers, headers
    return {k: v for k, v in headers.items() if k != "Content-Type"}


def as_script(client, path: str, data: dict):
    return client.post(path, data=data, headers={**decide_js_headers(), "X-CSRF-Token": csrf_of(client)},
                       follow_redirects=False)


def as_plain_form(client, path: str, data: dict):
    return post_form(client, path, data, headers={"Accept": BROWSER_ACCEPT})


@pytest.fixture
def poll(db, make_user, make_category, make_topic):
    ana = make_user("ana")
    make_user("bob")
    topic = make_topic(ana, make_category("Assemblies"), raw=POLL)
    with db.read() as s:
        p = s.scalar(select(Poll).join(Post, Post.id == Poll.post_id).where(Post.topic_id == topic.id))
        options = list(s.scalars(select(PollOption).where(PollOption.poll_id == p.id).order_by(PollOption.position)))
    return {"ana": ana, "poll": p, "options": options, "topic": topic}


def test_the_script_asks_for_html_before_json():
    accept = decide_js_headers()["Accept"]
    assert accept.index("text/html") < accept.index("application/json")


def test_a_vote_from_the_script_gets_the_poll_fragment_as_html(client, poll):
    login(client, "bob")
    p, lisbon = poll["poll"], poll["options"][0]
    r = as_script(client, f"/polls/{p.id}/vote", {"option": lisbon.id})
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")  # decide.js replaces the widget with it
    assert "<html" not in r.text and f'id="poll-{p.id}"' in r.text and "1 vote" in r.text


def test_a_vote_without_javascript_is_redirected_back_to_the_post(client, poll):
    login(client, "bob")
    p, lisbon = poll["poll"], poll["options"][0]
    r = as_plain_form(client, f"/polls/{p.id}/vote", {"option": lisbon.id})
    assert r.status_code == 303 and r.headers["location"].endswith(f"#poll-{p.id}")


def test_a_refused_vote_is_json_for_the_script_and_a_page_without_it(client, db, poll):
    p, lisbon = poll["poll"], poll["options"][0]
    with db.write() as s:
        polls.close(s, Viewer(poll["ana"]), poll_id=p.id)
    login(client, "bob")
    r = as_script(client, f"/polls/{p.id}/vote", {"option": lisbon.id})
    assert r.status_code == 403
    assert r.headers["content-type"].startswith("application/json")
    assert r.json()["errors"] == ["This poll is closed."]  # decide.js shows body.errors in the widget
    r = as_plain_form(client, f"/polls/{p.id}/vote", {"option": lisbon.id})
    assert r.status_code == 403
    assert r.headers["content-type"].startswith("text/html") and "<html" in r.text
    assert "This poll is closed." in r.text


def test_a_mistake_in_the_vote_comes_back_inside_the_fragment(client, poll):
    login(client, "bob")
    p = poll["poll"]
    r = as_script(client, f"/polls/{p.id}/vote", {"option": "999999"})
    assert r.status_code == 422 and r.headers["content-type"].startswith("text/html")
    assert "<html" not in r.text and f'id="poll-{p.id}"' in r.text and "That option is not part of this poll." in r.text


def test_an_expired_form_is_json_for_the_script(client, poll):
    login(client, "bob")
    p, lisbon = poll["poll"], poll["options"][0]
    r = client.post(f"/polls/{p.id}/vote", data={"option": lisbon.id},
                    headers={**decide_js_headers(), "X-CSRF-Token": "stale"})
    assert r.status_code == 403 and r.headers["content-type"].startswith("application/json")
    assert "reload the page" in r.json()["errors"][0]


def test_proposal_positions_from_the_script_and_from_the_plain_form(db, client, make_user, make_category):
    # Participants may read this category but not reply in it.
    category = make_category("Assembly", levels={"everyone": 1, "participant": 1, "worker": 3, "member": 3})
    make_user("ana", tier="member")
    make_user("pat", tier="participant")
    login(client, "ana")
    start(client, category)
    proposal, topic = the_proposal(db)
    path = f"/proposals/{proposal.id}/position"
    r = as_script(client, path, {"position": "agree", "reason": ""})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert r.text.lstrip().startswith('<section class="decide-panel proposal-panel" id="proposal"')
    r = as_script(client, path, {"position": "block", "reason": ""})
    assert r.status_code == 422 and "A block needs a reason" in r.text and "<html" not in r.text
    r = as_plain_form(client, path, {"position": "disagree", "reason": "Too soon."})
    assert r.status_code == 303 and r.headers["location"].endswith("#proposal")
    # Someone who may not reply is refused: JSON for the script, a page for the plain form.
    client.post("/logout", data={"csrf_token": csrf_of(client)})
    login(client, "pat")
    r = as_script(client, path, {"position": "agree", "reason": ""})
    assert r.status_code == 403 and r.headers["content-type"].startswith("application/json")
    assert r.json()["errors"] and r.json()["error_type"] == "invalid_access"
    r = as_plain_form(client, path, {"position": "agree", "reason": ""})
    assert r.status_code == 403 and r.headers["content-type"].startswith("text/html")
