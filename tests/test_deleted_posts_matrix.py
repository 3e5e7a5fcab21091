"""The deleted and hidden post rule, asked of every surface (forum/permissions.py, rule 8).

Its author and staff read a deleted or hidden post, marked as such; everyone else gets a
placeholder at its place in the topic page and its text nowhere else. One table: surface × viewer
× state. Search is the one surface where a deleted post is found by nobody: it leaves the index.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from forum import apikeys, moderation, posting
from forum.permissions import Viewer
from tests.conftest import login

SECRET = "zanzibarquokka"
VIEWERS = ("anonymous", "other", "author", "moderator")
READERS = {"author", "moderator"}  # who reads the post in either state


@dataclass
class World:
    topic: object
    post: object
    users: dict
    keys: dict
    clients: dict
    state: str


@pytest.fixture(params=["deleted", "hidden"])
def world(request, db, make_user, make_category, make_topic, make_reply, make_client, staff) -> World:
    state = request.param
    author = make_user("ada", tier="member")
    other = make_user("bob", tier="member")
    mod = make_user("modo", tier="member", moderator=True)
    news = make_category("News and events")
    topic = make_topic(mod, news, title="Budget meeting in the spring",
                       raw="Where should the budget meeting be held this year?")
    post = make_reply(author, topic, raw=f"The {SECRET} venue, as @bob and @modo suggested last year.", reply_to=1)
    with db.write() as s:
        posting.like_post(s, Viewer(mod), post_id=post.id)  # the author has a notification about it
        if state == "deleted":
            posting.delete_post(s, Viewer(author), post_id=post.id)
        else:
            moderation.hide_post(s, Viewer(mod), post.id, reason="Off topic")
    users = {"other": other, "author": author, "moderator": mod}
    with db.write() as s:
        keys = {name: apikeys.create_api_key(s, Viewer(staff), username=u.username).secret
                for name, u in users.items()}
    clients = {"anonymous": make_client()}
    for name, user in users.items():
        clients[name] = make_client()
        login(clients[name], user.username)
    return World(topic, post, users, keys, clients, state)


def _rss_headers(w: World, viewer: str) -> dict:
    return {} if viewer == "anonymous" else {"Api-Key": w.keys[viewer], "Api-Username": w.users[viewer].username}


# Each surface answers (reads the text, shows it marked as deleted or hidden).

def topic_page(w: World, viewer: str) -> tuple[bool, bool]:
    html = w.clients[viewer].get(f"/t/{w.topic.slug}/{w.topic.id}").text
    if w.state == "deleted":
        marked = "only its author and staff can see it" in html
        placeholder = "(post deleted)" in html
    else:
        marked = "hidden from others until a moderator reviews it" in html
        placeholder = "(post hidden until a moderator reviews it)" in html
    # The post keeps its place (and number) whoever reads the page.
    assert f'id="post_{w.post.post_number}"' in html
    assert placeholder != (SECRET in html)
    return SECRET in html, marked


def _marked(w: World, data: dict) -> bool:
    return data["deleted_at"] is not None if w.state == "deleted" else data["hidden"] is True


def topic_json(w: World, viewer: str) -> tuple[bool, bool]:
    data = w.clients[viewer].get(f"/t/{w.topic.id}.json", params={"show_deleted": "true"}).json()
    posts = [p for p in data["post_stream"]["posts"] if p["id"] == w.post.id]
    assert (w.post.id in data["post_stream"]["stream"]) == bool(posts)
    return bool(posts) and SECRET in posts[0]["cooked"], bool(posts) and _marked(w, posts[0])


def post_json(w: World, viewer: str) -> tuple[bool, bool]:
    r = w.clients[viewer].get(f"/posts/{w.post.id}.json")
    if r.status_code == 404:
        return False, False
    assert r.status_code == 200
    return SECRET in r.json()["cooked"], _marked(w, r.json())


def search_json(w: World, viewer: str) -> tuple[bool, bool]:
    data = w.clients[viewer].get("/search.json", params={"q": SECRET}).json()
    found = w.post.id in data["grouped_search_result"]["post_ids"]
    return found, found


def _rss(w: World, viewer: str, path: str) -> tuple[bool, bool]:
    r = w.clients["anonymous"].get(path, headers=_rss_headers(w, viewer))
    assert r.status_code == 200
    marker = "(deleted post)" if w.state == "deleted" else "(hidden post)"
    return SECRET in r.text, marker in r.text


def topic_rss(w: World, viewer: str) -> tuple[bool, bool]:
    return _rss(w, viewer, f"/t/{w.topic.id}.rss")


def posts_rss(w: World, viewer: str) -> tuple[bool, bool]:
    return _rss(w, viewer, "/posts.rss")


def activity_page(w: World, viewer: str) -> tuple[bool, bool]:
    html = w.clients[viewer].get("/u/ada/activity").text
    return SECRET in html, f'class="tag danger {w.state}-note"' in html


def user_actions_json(w: World, viewer: str) -> tuple[bool, bool]:
    data = w.clients[viewer].get("/user_actions.json", params={"username": "ada", "filter": "5"}).json()
    actions = [a for a in data["user_actions"] if a["post_id"] == w.post.id]
    return bool(actions) and SECRET in actions[0]["excerpt"], bool(actions) and actions[0][w.state] is True


def notifications(w: World, viewer: str) -> tuple[bool, bool]:
    """bob and modo were mentioned in the post; ada was told modo liked it."""
    r = w.clients[viewer].get("/notifications.json")
    if viewer == "anonymous":
        assert r.status_code in (401, 403, 404)
        return False, False
    about = [n for n in r.json()["notifications"] if n["data"].get("original_post_id") == w.post.id]
    return bool(about), bool(about)


SURFACES = [topic_page, topic_json, post_json, search_json, topic_rss, posts_rss, activity_page,
            user_actions_json, notifications]


@pytest.mark.parametrize("viewer", VIEWERS)
def test_deleted_and_hidden_posts_are_read_by_their_author_and_staff_only_marked(world, viewer):
    expected = {}
    got = {}
    for surface in SURFACES:
        reads = viewer in READERS
        if surface is search_json and world.state == "deleted":
            reads = False  # a deleted post leaves the search index, for everyone
        expected[surface.__name__] = (reads, reads)
        got[surface.__name__] = surface(world, viewer)
    assert got == expected


def test_a_readers_own_deleted_post_is_drawn_for_them_alone(world, make_client):
    """The topic page's posts are rendered once for everyone who is not staff (forum/fragments.py);
    the author's marked copy must never be what the next reader gets, nor the reverse."""
    path = f"/t/{world.topic.slug}/{world.topic.id}"
    for viewer in ("anonymous", "other", "author", "other", "anonymous", "author"):
        html = world.clients[viewer].get(path).text
        assert (SECRET in html) == (viewer == "author"), viewer


def test_placeholder_keeps_post_numbers_in_place(world):
    html = world.clients["other"].get(f"/t/{world.topic.slug}/{world.topic.id}").text
    assert html.index('id="post_1"') < html.index('id="post_2"')
    assert "#2" in html
