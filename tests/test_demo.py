"""The demo federation: what a newcomer sees after `forum demo`, tier by tier."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime, timedelta

import pytest
from argon2 import PasswordHasher
from sqlalchemy import func, select

from forum import auth
from forum.demo import USERS, load_demo
from forum.models import Category, Post, PostAction, Topic, User
from tests.conftest import PASSWORD, login

THREAD = "International reports, links and representation"
QUOTE_RE = re.compile(r'\[quote="([^,"]+), post:(\d+), topic:(\d+)"\]\n(.*?)\n\[/quote\]', re.DOTALL)
MENTION_RE = re.compile(r"(?<![\w.@/-])@([A-Za-z0-9_][A-Za-z0-9_.-]*[A-Za-z0-9_])")


@pytest.fixture(autouse=True)
def _quick_hashing(monkeypatch):
    # The demo hashes seventeen passwords; cheap parameters keep these tests fast.
    monkeypatch.setattr(auth, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))


def _page(client, path: str) -> tuple[int, str]:
    r = client.get(path)
    return r.status_code, html.unescape(r.text)


def _counts(db) -> dict[str, int]:
    with db.read() as session:
        return {model.__name__: session.scalar(select(func.count()).select_from(model))
                for model in (User, Category, Topic, Post, PostAction)}


def _topic(db, title_part: str) -> Topic:
    with db.read() as session:
        return session.scalars(select(Topic).where(Topic.title.contains(title_part))).one()


def test_each_tier_sees_its_own_categories(db, settings, client, make_client):
    load_demo(db, settings, PASSWORD)
    lounge_topic = _topic(db, "pay ratios")

    status, page = _page(client, "/categories")
    assert status == 200
    assert "News and events" in page and "Introductions" in page and "Newsletter" in page
    assert "Members' lounge" not in page and "Board reports" not in page and "Proposals" not in page
    assert client.get(f"/t/{lounge_topic.slug}/{lounge_topic.id}").status_code == 404

    expected = {
        "tiago.p": ({"Proposals", "Introductions"}, {"Board reports", "Members' lounge"}),
        "abena.m": ({"Proposals", "Board reports"}, {"Members' lounge"}),
        "marta.ferreira": ({"Proposals", "Board reports", "Members' lounge"}, set()),
    }
    for username, (visible, hidden) in expected.items():
        browser = make_client()
        login(browser, username, PASSWORD)
        _, page = _page(browser, "/categories")
        assert all(name in page for name in visible), username
        assert not any(name in page for name in hidden), username
        status = browser.get(f"/t/{lounge_topic.slug}/{lounge_topic.id}").status_code
        assert status == (200 if "Members' lounge" in visible else 404), username

    browser = make_client()
    login(browser, "marta.ferreira", PASSWORD)
    status, page = _page(browser, f"/t/{lounge_topic.slug}/{lounge_topic.id}")
    assert status == 200 and "How do you handle pay ratios" in page and "1 to 3" in page


def test_demo_content_threads_likes_and_timestamps(db, settings, client):
    before = datetime.now(UTC)
    load_demo(db, settings, PASSWORD)
    after = datetime.now(UTC)
    thread = _topic(db, THREAD)

    with db.read() as session:
        posts = session.scalars(select(Post).where(Post.topic_id == thread.id).order_by(Post.post_number)).all()
        assert len(posts) >= 41 and thread.posts_count == len(posts)
        assert len({p.user_id for p in posts}) >= 12
        assert sum(1 for p in posts if p.reply_to_post_number) >= 8
        assert thread.like_count >= 100 and thread.like_count == sum(p.like_count for p in posts)
        assert sum(1 for p in posts if p.like_count) >= 35
        cooked = "".join(p.cooked for p in posts)
        assert "<table>" in cooked and "<ol>" in cooked and "<ul>" in cooked and 'href="https://' in cooked
        assert cooked.count('<aside class="quote"') >= 4
        assert thread.category.name == "News and events"

        self_likes = session.scalar(select(func.count()).select_from(PostAction).join(Post, Post.id == PostAction.post_id)
                                    .where(PostAction.user_id == Post.user_id))
        assert self_likes == 0
        assert session.scalar(select(func.count()).select_from(PostAction)) == \
            session.scalar(select(func.sum(Post.like_count)))

        everything = session.scalars(select(Post)).all()
        by_key = {(p.topic_id, p.post_number): p for p in everything}
        quotes = 0
        for post in everything:
            for username, number, topic_id, passage in QUOTE_RE.findall(post.raw):
                quoted = by_key[(int(topic_id), int(number))]
                assert quoted.user.username == username and passage in quoted.raw
                assert int(topic_id) == post.topic_id and int(number) < post.post_number
                quotes += 1
            for name in MENTION_RE.findall(post.raw):
                assert f'href="/u/{name}"' in post.cooked, (post.topic_id, post.post_number, name)
        assert quotes >= 8

        themes = session.scalars(select(Topic).where(Topic.title.contains("proposals for event themes"))).one()
        assert themes.category.name == "Proposals" and themes.posts_count >= 10

        for category in session.scalars(select(Category)):
            assert category.topic_count >= 1, category.name
        assert session.scalar(select(func.count()).select_from(Topic)) >= 12

        # Timestamps: in the past few weeks, increasing within each topic, topics bumped by their last post.
        oldest = before - timedelta(days=60)
        for topic in session.scalars(select(Topic)):
            times = list(session.scalars(select(Post.created_at).where(Post.topic_id == topic.id)
                                         .order_by(Post.post_number)))
            assert all(t.tzinfo is not None and t.utcoffset() == timedelta(0) for t in times)
            assert all(a < b for a, b in zip(times, times[1:], strict=False)), topic.title
            assert oldest < times[0] and times[-1] < after
            assert topic.created_at == times[0]
            assert topic.bumped_at == topic.last_posted_at == times[-1]
        assert max(p.created_at for p in everything) - min(p.created_at for p in everything) > timedelta(days=21)
        assert all(p.updated_at == p.created_at for p in everything)
        for action in session.scalars(select(PostAction)):
            post = session.get(Post, action.post_id)
            assert post.created_at <= action.created_at < after
        for user in session.scalars(select(User)):
            first = session.scalar(select(func.min(Post.created_at)).where(Post.user_id == user.id))
            assert user.created_at < first < after

        news = session.scalars(select(Category).where(Category.name == "News and events")).one()
        pinned = session.scalars(select(Topic).where(Topic.pinned.is_(True))).all()
        assert len(pinned) == 1 and pinned[0].category_id == news.id
        assert len(session.scalars(select(Topic).where(Topic.pinned_globally.is_(True))).all()) == 1

    status, page = _page(client, f"/t/{thread.slug}/{thread.id}")
    assert status == 200 and THREAD in page and 'class="quote"' in page and 'class="mention"' in page
    status, page = _page(client, f"/t/{thread.slug}/{thread.id}?page=3")
    assert status == 200 and "Wrap-up of this round of reports" in page

    status, page = _page(client, "/latest")
    assert status == 200
    assert THREAD in page and "Welcome to the federation's forum" in page and "Webinar: worker buyouts" in page
    assert "Board meeting of" not in page and "pay ratios" not in page
    assert page.index("Welcome to the federation's forum") < page.index(THREAD)


def test_demo_alongside_an_existing_admin_and_only_once(db, settings, make_user, make_client):
    make_user("nadia", tier="member", admin=True)
    summary = load_demo(db, settings, PASSWORD)
    assert PASSWORD in summary
    for user in USERS:
        assert user.username in summary
    for heading in ("Administrator", "Moderator", "Members", "Workers", "Participants"):
        assert heading in summary
    tiers = {user.tier for user in USERS if not user.moderator}
    assert tiers == {"member", "worker", "participant"}
    assert sum(user.admin for user in USERS) == 1 and sum(user.moderator and not user.admin for user in USERS) == 1

    counts = _counts(db)
    assert counts["User"] == len(USERS) + 1
    with pytest.raises(SystemExit) as refused:
        load_demo(db, settings, PASSWORD)
    assert "already" in str(refused.value.code) and "nothing was changed" in str(refused.value.code)
    assert _counts(db) == counts

    browser = make_client()
    login(browser, "niko.h", PASSWORD)
    _, page = _page(browser, "/categories")
    assert "Members' lounge" in page and "Board reports" in page


def test_demo_refuses_without_writing_anything(db, settings, make_user):
    with pytest.raises(SystemExit) as refused:
        load_demo(db, settings, "short")
    assert "characters" in str(refused.value.code)
    assert _counts(db)["User"] == 0

    make_user("marta.ferreira", tier="member")
    with pytest.raises(SystemExit) as refused:
        load_demo(db, settings, PASSWORD)
    assert "marta.ferreira" in str(refused.value.code)
    assert _counts(db) == {"User": 1, "Category": 0, "Topic": 0, "Post": 0, "PostAction": 0}


def test_demo_decides_and_meets_across_time_zones(db, settings, client, make_client):
    from forum.models import Event, EventRsvp, Poll, PollVote, Proposal, ProposalPosition

    load_demo(db, settings, PASSWORD)
    with db.read() as session:
        proposal, topic = session.execute(select(Proposal, Topic).join(Topic, Topic.id == Proposal.topic_id)).one()
        assert "General Assembly" in topic.title and topic.category.name == "Proposals"
        assert proposal.kind == "consent" and proposal.timezone == "Europe/Brussels"
        assert proposal.closes_at > datetime.now(UTC) and proposal.closed_at is None
        positions = session.scalars(select(ProposalPosition).where(ProposalPosition.proposal_id == proposal.id)).all()
        assert len(positions) >= 5 and {p.position for p in positions} == {"agree", "abstain", "disagree", "block"}
        assert all(p.reason for p in positions if p.position == "block")

        event, meetup = session.execute(select(Event, Topic).join(Topic, Topic.id == Event.topic_id)).one()
        assert event.timezone == "Europe/Brussels" and event.online_url.startswith("https://")
        assert event.starts_at > datetime.now(UTC) and meetup.category.name == "News and events"
        answers = dict(session.execute(select(EventRsvp.status, func.count()).where(EventRsvp.event_id == event.id)
                                       .group_by(EventRsvp.status)).all())
        assert answers["going"] >= 3 and answers["interested"] >= 1 and answers["not_going"] >= 1

        poll, number = session.execute(select(Poll, Post.post_number).join(Post, Post.id == Poll.post_id)).one()
        assert number > 1 and poll.public and poll.type == "multiple"
        assert session.scalar(select(func.count(func.distinct(PollVote.user_id))).where(PollVote.poll_id == poll.id)) >= 5
        hana_zone = session.scalar(select(User.timezone).where(User.username == "hana.sato"))
    assert hana_zone == "Asia/Tokyo"

    # A visitor sees the meet-up in Brussels time, marked in the list; the proposal is for signed-in people.
    status, page = _page(client, f"/t/{meetup.slug}/{meetup.id}")
    assert status == 200 and re.search(r"15:00 Brussels \(CES?T\)", page) and "Languages for the breakout rooms" in page
    assert re.search(r"tell us by <span class=\"local-date\"><span class=\"zoned\"[^>]*><time [^>]*>\w{3} \d+ \w{3} \d{4}, "
                     r"12:00 Brussels \(CES?T\)", page)  # the inline [date=…]
    _, page = _page(client, "/latest")
    assert 'class="list-marker event-marker"' in page and "proposal-marker" not in page

    browser = make_client()
    login(browser, "hana.sato", PASSWORD)
    _, page = _page(browser, f"/t/{meetup.slug}/{meetup.id}")
    assert re.search(r"15:00 Brussels \(CES?T\)</time> <span class=\"zoned-reader\">· (\w{3} \d+ \w{3}, )?\d\d:00 your "
                     r"time \(Tokyo, JST\)", page)
    status, page = _page(browser, f"/t/{topic.slug}/{topic.id}")
    assert status == 200 and "have responded" in page and "Latin American recyclers" in page
    _, page = _page(browser, "/latest")
    assert "Proposal</span> closes" in page
