"""Letter avatars: the SVG each `avatar_template` names, and the faces beside posts, rows,
notifications and profiles."""

from __future__ import annotations

import random
import re
import string

import pytest
from sqlalchemy import update

from forum import avatars
from forum.models import User
from tests.conftest import login

TEMPLATE = re.compile(r"^/letter_avatar/(?P<name>[a-z0-9_.-]+)/\{size\}/(?P<version>\d+_[0-9a-f]+)\.svg$")
FILLS = re.compile(r'fill="#([0-9a-f]{6})"')


def avatar_path(username: str, size: int | str = 45, version: str = avatars.VERSION) -> str:
    return f"/letter_avatar/{username}/{size}/{version}.svg"


def fills(svg: str) -> tuple[str, str]:
    background, text = FILLS.findall(svg)
    return background, text


def img(username: str, size: int) -> str:
    return f'<img class="avatar" src="{avatars.url(username, size)}" width="{size}" height="{size}" alt=""'


# --- the image -----------------------------------------------------------------------------------

def test_letter_avatar_is_an_svg_of_the_initials(client):
    r = client.get(avatar_path("ana"))
    assert r.status_code == 200
    assert r.headers["content-type"] == "image/svg+xml"
    assert r.text.startswith("<svg") and ">A</text>" in r.text
    assert 'width="45" height="45"' in r.text
    assert ">MJ</text>" in client.get(avatar_path("mary_jones")).text
    assert "set-cookie" not in r.headers


def test_colour_is_stable_and_follows_the_name_not_its_case(client):
    first = fills(client.get(avatar_path("ana")).text)[0]
    assert fills(client.get(avatar_path("ana", 90)).text)[0] == first
    assert fills(client.get(avatar_path("Ana")).text)[0] == first == avatars.colour("ANA")
    # sha256 of the name, fixed: the same colour in every process and after every restart
    assert avatars.colour("ana") == "6a761c"
    names = ["ana", "bob", "cleo", "dora", "eve", "femi", "gus", "hana"]
    assert len({avatars.colour(n) for n in names}) == len(names)


def test_every_colour_lets_its_letter_be_read():
    rng = random.Random(14)
    alphabet = string.ascii_letters + string.digits + "_.-"
    names = ["ana", "bob", "y", "yy", "_"] + ["".join(rng.choices(alphabet, k=rng.randint(1, 20))) for _ in range(3000)]
    for name in names:
        background, text = fills(avatars.letter_avatar(name, 45))
        assert avatars.contrast(background, text) >= 4.5, name


@pytest.mark.parametrize("color", ["ffff00", "00ff00", "00ffff", "ffffff", "777777", "000000", "0000ff"])
def test_the_proxy_shape_picks_a_readable_letter_on_any_colour(client, color):
    r = client.get(f"/letter_avatar_proxy/v4/letter/q/{color}/90.png")
    assert r.status_code == 200 and r.headers["content-type"] == "image/svg+xml" and ">Q</text>" in r.text
    background, text = fills(r.text)
    assert background == color and avatars.contrast(background, text) >= 4.5


def test_contrast_is_wcag_contrast():
    assert avatars.contrast("ffffff", "000000") == pytest.approx(21.0)
    assert avatars.contrast("777777", "ffffff") == pytest.approx(4.48, abs=0.01)


def test_versioned_avatars_are_kept_for_a_year_older_versions_for_a_day(client):
    current = client.get(avatar_path("ana")).headers["cache-control"]
    assert current == "public, max-age=31536000, immutable"
    older = client.get(avatar_path("ana", version="5_fcf819f9b3791cb8")).headers
    assert older["cache-control"] == "public, max-age=86400"
    proxy = client.get("/letter_avatar_proxy/v4/letter/a/0b5cad/45.png").headers["cache-control"]
    assert "immutable" in proxy and "public" in proxy


@pytest.mark.parametrize(("asked", "served"), [("45", 45), ("46", 45), ("20", 20), ("0", 20), ("7", 20),
                                                ("135", 135), ("240", 240), ("360", 240), ("9999", 240)])
def test_sizes_are_snapped_to_the_allowed_set(client, asked, served):
    r = client.get(avatar_path("ana", asked))
    assert r.status_code == 200 and f'width="{served}" height="{served}"' in r.text
    assert served in avatars.SIZES


@pytest.mark.parametrize("path", [
    avatar_path("ana", "abc"), avatar_path("ana", "-1"), avatar_path("ana", "12345"), avatar_path("ana", "4.5"),
    avatar_path("ana", "%EF%BC%94%EF%BC%95"),  # fullwidth digits
    avatar_path("ana", 45, "x" * 41), avatar_path("ana", 45, "1%2F2"), avatar_path("ana", 45, "%00"),
    avatar_path("a" * 61), avatar_path("%3Cscript%3E"), avatar_path("ana%20bob"), avatar_path("%C3%A9l%C3%A8ne"),
    "/letter_avatar/ana/45/x.png", "/letter_avatar/ana/45", "/letter_avatar//45/1.svg",
    "/letter_avatar_proxy/v4/letter/ab/0b5cad/45.png", "/letter_avatar_proxy/v4/letter/a/zzzzzz/45.png",
    "/letter_avatar_proxy/v4/letter/%C3%A9/0b5cad/45.png", "/letter_avatar_proxy/v4/letter/a/0B5CAD/45.png",
    "/letter_avatar_proxy/v4/letter/a/0b5cad/big.png",
])
def test_bad_addresses_are_missing_never_errors(client, path):
    assert client.get(path).status_code == 404


def test_an_avatar_never_tells_whether_an_account_exists(client, db, make_user):
    make_user("ana", tier="member")
    make_user("pending", tier="participant")
    with db.write() as session:  # a sign-up awaiting approval: staff business (permissions.can_see_user)
        session.execute(update(User).where(User.username == "pending").values(approved=False))
    # The same answer for an account, one only staff may see, and a name nobody holds: drawn from the
    # name alone, with the same headers.
    answers = {name: client.get(avatar_path(name)) for name in ("ana", "pending", "nobody")}
    for name, r in answers.items():
        assert r.status_code == 200
        assert r.text == avatars.letter_avatar(name, 45)
        # (Every answer has its own request id, whoever it is about.)
        assert {k: v for k, v in r.headers.items() if k not in ("content-length", "date", "x-request-id")} == \
            {k: v for k, v in answers["ana"].headers.items() if k not in ("content-length", "date", "x-request-id")}


# --- the API ----------------------------------------------------------------------------------------

def test_avatar_template_has_discourses_shape_and_resolves(client, make_user, make_category, make_topic, make_reply):
    ana, bob = make_user("Ana", tier="member"), make_user("bob", tier="member")
    topic = make_topic(ana, make_category("News"), title="Avatars for everyone in the federation")
    make_reply(bob, topic)
    user = client.get("/u/ana.json").json()["user"]
    assert user["avatar_template"] == f"/letter_avatar/ana/{{size}}/{avatars.VERSION}.svg"
    assert TEMPLATE.match(user["avatar_template"])
    posts = client.get(f"/t/{topic.id}.json").json()["post_stream"]["posts"]
    assert [TEMPLATE.match(p["avatar_template"])["name"] for p in posts] == ["ana", "bob"]
    latest = client.get("/latest.json").json()
    users = {u["id"]: u for u in latest["users"]}
    posters = latest["topic_list"]["topics"][0]["posters"]
    assert [users[p["user_id"]]["avatar_template"] for p in posters] == [avatars.template("ana"), avatars.template("bob")]
    r = client.get(posts[1]["avatar_template"].replace("{size}", "90"))
    assert r.status_code == 200 and ">B</text>" in r.text and 'width="90"' in r.text


def test_notifications_name_the_acting_persons_avatar(client, make_user, make_category, make_topic, make_reply):
    ana, bob = make_user("ana", tier="member"), make_user("bob", tier="member", name="Bob Builder")
    topic = make_topic(ana, make_category("News"))
    make_reply(bob, topic, raw="A reply for ana with enough text.", reply_to=1)
    login(client, "ana")
    (note,) = client.get("/notifications.json").json()["notifications"]
    assert note["acting_user_avatar_template"] == avatars.template("bob")
    assert note["acting_user_name"] == "Bob Builder"


def test_mention_autocomplete_uses_the_same_template(client, make_user):
    make_user("ana", tier="member")
    make_user("bobbie", tier="member")
    login(client, "ana")
    (found,) = client.get("/u/search/users.json?term=bob").json()["users"]
    assert found["avatar_template"] == avatars.template("bobbie")


# --- the pages ----------------------------------------------------------------------------------

def test_posts_show_their_authors_avatar_lazily_below_the_fold(client, make_user, make_category, make_topic,
                                                               make_reply):
    ana, bob = make_user("ana", tier="member"), make_user("bob", tier="member")
    topic = make_topic(ana, make_category("News"))
    for _ in range(4):
        make_reply(bob, topic)
    for page in (client.get(f"/t/{topic.slug}/{topic.id}").text, _signed_in_page(client, "bob", topic)):
        shown = re.findall(r'<img class="avatar"[^>]*>', page)
        assert len(shown) == 5
        assert shown[0].startswith(img("ana", 45)) and 'loading="lazy"' not in shown[0]
        assert all(s.startswith(img("bob", 45)) for s in shown[1:])
        assert ['loading="lazy"' in s for s in shown] == [False, False, False, True, True]


def _signed_in_page(client, username, topic) -> str:
    login(client, username)
    return client.get(f"/t/{topic.slug}/{topic.id}").text


def test_topic_lists_show_the_original_and_the_last_poster(client, make_user, make_category, make_topic, make_reply):
    ana, bob = make_user("ana", tier="member"), make_user("bob", tier="member")
    news = make_category("News")
    answered = make_topic(ana, news, title="A topic bob has answered")
    make_reply(bob, answered)
    make_topic(bob, news, title="A topic nobody has answered")
    for path in ("/latest", f"/c/{news.slug}/{news.id}"):
        page = client.get(path).text
        assert page.count(img("ana", 24)) == 1 and page.count(img("bob", 24)) == 2
        assert "last reply by bob" in page


def test_notifications_show_who_acted(client, make_user, make_category, make_topic, make_reply):
    ana, bob = make_user("ana", tier="member"), make_user("bob", tier="member")
    topic = make_topic(ana, make_category("News"))
    make_reply(bob, topic, raw="A reply for ana with enough text.", reply_to=1)
    login(client, "ana")
    page = client.get("/u/ana/notifications").text
    assert img("bob", 25) + ' loading="lazy">' in page


def test_profiles_show_the_persons_avatar(client, make_user):
    make_user("Ana", tier="member")
    page = client.get("/u/Ana").text
    assert img("ana", 96) + ">" in page
