"""Writing the demo federation (forum/demo/content.py reads what it says).

Everything is written through the services (accounts, categories, posting), in one transaction, and
then moved back in time: the services stamp "now", so the posts, topics, likes and accounts get
plausible past timestamps afterwards.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from forum import accounts, categories, permissions, posting
from forum import tags as forum_tags
from forum.config import Settings
from forum.db import Database
from forum.demo import content, deciding
from forum.demo.content import ADMIN, CATEGORIES, TOPIC_URL, USERS, DemoUser, T, Written
from forum.errors import ForumError
from forum.models import Category, Post, PostAction, Topic, User
from forum.permissions import Viewer


def _refusal(session: Session) -> str | None:
    topics = session.scalar(select(func.count()).select_from(Topic))
    if topics:
        return (f"The database already has {topics} topic(s). The demo fills only an empty forum, so "
                "nothing was changed. Use a fresh database to load it.")
    taken = session.scalars(select(User.username).where(
        User.username_lower.in_([u.username.lower() for u in USERS])
        | User.email.in_([u.email for u in USERS]))).all()
    if taken:
        return f"Demo accounts already exist ({', '.join(sorted(taken))}); nothing was changed."
    names = session.scalars(select(Category.name).where(
        func.lower(Category.name).in_([c.name.lower() for c in CATEGORIES]))).all()
    if names:
        return f"Categories with the demo's names already exist ({', '.join(sorted(names))}); nothing was changed."
    return None


def _working_hours(moment: datetime, rng: random.Random) -> datetime:
    return moment.replace(hour=rng.randint(6, 18), minute=rng.randint(0, 59), second=rng.randint(0, 59))


def _schedule(spec: T, now: datetime, rng: random.Random) -> list[datetime]:
    """Increasing times for a topic's posts, from `start` to `end` days ago; replies cluster early."""
    first = _working_hours(now - timedelta(days=spec.start), rng)
    last = now - timedelta(days=spec.end, minutes=rng.randint(0, 30))
    if spec.end >= 1:
        last = max(_working_hours(last, rng), first + timedelta(hours=1))
    count = len(spec.posts)
    if count == 1:
        return [first]
    span = (last - first).total_seconds()
    middle = sorted(rng.random() ** 1.3 for _ in range(count - 2))
    times = [first] + [first + timedelta(seconds=span * x) for x in middle] + [last]
    for i in range(1, count):
        times[i] = max(times[i], times[i - 1] + timedelta(minutes=rng.randint(4, 25)))
    latest = now - timedelta(minutes=2)
    for i in range(count - 1, -1, -1):
        bound = latest if i == count - 1 else times[i + 1] - timedelta(minutes=1)
        times[i] = min(times[i], bound)
    return times


def _write_topic(session: Session, settings: Settings, viewers: dict[str, Viewer],
                 category_ids: dict[str, int], spec: T) -> Written:
    first = spec.posts[0]
    post = posting.create_topic(session, settings, viewers[first.author], title=spec.title,
                                raw=first.raw, category_id=category_ids[spec.category], tags=spec.tags)
    topic = session.get(Topic, post.topic_id)
    assert topic is not None
    written = Written(spec, topic.id, [post.id])
    for number, reply in enumerate(spec.posts[1:], start=2):
        raw = reply.raw.replace(TOPIC_URL, f"/t/{topic.slug}/{topic.id}")
        if reply.quote is not None:
            quoted_number, passage = reply.quote
            quoted = spec.posts[quoted_number - 1]
            if quoted_number >= number or passage not in quoted.raw:
                raise ValueError(f"demo post {number} of {spec.title!r} misquotes post {quoted_number}")
            raw = (f'[quote="{quoted.author}, post:{quoted_number}, topic:{topic.id}"]\n{passage}\n[/quote]\n\n'
                   f"{raw}")
        post = posting.create_reply(session, settings, viewers[reply.author], topic_id=topic.id, raw=raw,
                                    reply_to_post_number=reply.reply_to)
        written.post_ids.append(post.id)
    return written


def _likers(session: Session, viewers: dict[str, Viewer], topic: Topic, author: str) -> list[Viewer]:
    return [viewer for name, viewer in viewers.items()
            if name != author and permissions.can_see_topic(session, viewer, topic)]


def _like_all(session: Session, viewers: dict[str, Viewer], written: list[Written],
              rng: random.Random) -> list[tuple[int, str]]:
    likes: list[tuple[int, str]] = []
    for item in written:
        topic = session.get(Topic, item.topic_id)
        assert topic is not None
        for spec, post_id in zip(item.spec.posts, item.post_ids, strict=True):
            wanted = spec.likes if spec.likes is not None else rng.choice((0, 0, 1, 1, 2, 3))
            candidates = _likers(session, viewers, topic, spec.author)
            for viewer in rng.sample(candidates, min(wanted, len(candidates))):
                posting.like_post(session, viewer, post_id=post_id)
                assert viewer.user is not None
                likes.append((post_id, viewer.user.username))
    return likes


def _backdate(session: Session, users: dict[str, User], written: list[Written],
              likes: list[tuple[int, str]], now: datetime, rng: random.Random) -> None:
    post_times: dict[int, datetime] = {}
    first_activity: dict[str, datetime] = {}
    for item in written:
        item.times = _schedule(item.spec, now, rng)
        for spec, post_id, moment in zip(item.spec.posts, item.post_ids, item.times, strict=True):
            post_times[post_id] = moment
            first_activity[spec.author] = min(first_activity.get(spec.author, moment), moment)
            session.execute(update(Post).where(Post.id == post_id).values(created_at=moment, updated_at=moment),
                            execution_options={"synchronize_session": False})
        session.execute(
            update(Topic).where(Topic.id == item.topic_id).values(
                created_at=item.times[0], bumped_at=item.times[-1], last_posted_at=item.times[-1],
                views=len(item.times) * rng.randint(6, 14) + rng.randint(10, 60),
                pinned=item.spec.pinned, pinned_globally=item.spec.pinned_globally),
            execution_options={"synchronize_session": False})

    opened = now - timedelta(days=47)
    joined: dict[str, datetime] = {}
    for name in users:
        start = first_activity.get(name, now - timedelta(days=20))
        joined[name] = max(opened, start - timedelta(hours=rng.uniform(2, 72)))

    last_seen = dict(first_activity)
    for post_id, name in likes:
        since = max(post_times[post_id], joined[name])
        room = max((now - since).total_seconds() - 60, 1)
        delay = rng.uniform(600, 3 * 86400)
        moment = since + timedelta(seconds=delay if delay < room else rng.uniform(0, room))
        last_seen[name] = max(last_seen.get(name, moment), moment)
        session.execute(update(PostAction).where(PostAction.post_id == post_id,
                                                 PostAction.user_id == users[name].id)
                        .values(created_at=moment), execution_options={"synchronize_session": False})

    for name, user in users.items():
        posted = session.scalar(select(func.max(Post.created_at)).where(Post.user_id == user.id))
        seen = max(t for t in (last_seen.get(name), posted, joined[name]) if t is not None)
        session.execute(update(User).where(User.id == user.id).values(
            created_at=joined[name], last_posted_at=posted,
            last_seen_at=seen + (now - seen) * rng.random() * 0.5),
            execution_options={"synchronize_session": False})
    session.execute(update(Category).where(Category.name.in_([c.name for c in CATEGORIES]))
                    .values(created_at=opened), execution_options={"synchronize_session": False})


def _summary(settings: Settings, password: str, written: list[Written], likes: int) -> str:
    by_role: dict[str, list[DemoUser]] = {"admin": [], "moderator": [], "member": [], "worker": [],
                                          "participant": []}
    for user in USERS:
        role = "admin" if user.admin else "moderator" if user.moderator else user.tier
        by_role[role].append(user)
    labels = {"admin": "Administrator", "moderator": "Moderator", "member": "Members",
              "worker": "Workers (staff)", "participant": "Participants"}
    posts = sum(len(item.post_ids) for item in written)
    lines = [
        f"Demo federation loaded: {len(USERS)} accounts, {len(CATEGORIES)} categories, "
        f"{len(written)} topics, {posts} posts and {likes} likes.",
        "",
        f"Every demo account has the password: {password}",
        "",
    ]
    for role, people in by_role.items():
        lines.append(f"{labels[role]}:")
        lines.extend(f"  {u.username:<16} {u.name}, {u.role}" + (f" (tier: {u.tier})" if u.moderator else "")
                     for u in people)
        lines.append("")
    lines.append(f"Open {settings.base_url.rstrip('/')}/login and sign in with any username above "
                 "to see the forum as that tier sees it.")
    return "\n".join(lines)


def load_demo(db: Database, settings: Settings, password: str) -> str:
    """Fill an empty forum with the demo federation and return a summary of the accounts.

    Refuses (SystemExit with a message, nothing written) when the forum already has topics or
    when demo accounts or categories exist.
    """
    problem = accounts.password_problem(password)
    if problem:
        raise SystemExit(f"Cannot load the demo: {problem}")
    now = datetime.now(UTC)
    rng = random.Random(20240611)
    try:
        with db.write() as session:
            refusal = _refusal(session)
            if refusal:
                raise SystemExit(refusal)
            users = {u.username: accounts.create_user(session, username=u.username, email=u.email,
                                                      password=password, name=u.name, tier=u.tier,
                                                      moderator=u.moderator, admin=u.admin) for u in USERS}
            admin = Viewer(users[ADMIN])
            category_ids: dict[str, int] = {}
            for c in CATEGORIES:
                parent_id = category_ids[c.parent] if c.parent else None
                category_ids[c.key] = categories.create_category(
                    session, admin, name=c.name, description=c.description, color=c.color,
                    parent_id=parent_id, levels=c.levels).id
            viewers = {name: Viewer(user) for name, user in users.items()}
            specs = content.topics(now)
            for name in sorted({name for spec in specs for name in spec.tags}):
                forum_tags.create_tag(session, admin, name)
            written = [_write_topic(session, settings, viewers, category_ids, spec) for spec in specs]
            written += deciding.write_topics(session, settings, users, viewers, category_ids, now)
            likes = _like_all(session, viewers, written, rng)
            _backdate(session, users, written, likes, now, rng)
    except ForumError as e:
        raise SystemExit("Cannot load the demo: " + " ".join(e.messages)) from e
    return _summary(settings, password, written, len(likes))
