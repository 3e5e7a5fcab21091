"""Thirty people replying to one topic at the same moment, against real server processes."""

import re
import threading

import httpx
import pytest
from sqlalchemy import func, select

from forum import accounts
from forum.models import Category, Post, Topic, User
from tests.server import running_server

pytestmark = pytest.mark.server

CLIENTS = 30


def _sessions(db, users) -> list[str]:
    with db.write() as session:
        return [accounts.start_session(session, session.get(User, u.id)) for u in users]


@pytest.mark.parametrize("workers", [1, 2])
def test_thirty_simultaneous_replies_all_land(database_url, db, make_user, make_category, make_topic, staff,
                                              workers):
    users = [make_user(f"replier{i}", tier="member") for i in range(CLIENTS)]
    category = make_category("News and events")
    topic = make_topic(staff, category)
    tokens = _sessions(db, users)
    with running_server(database_url, workers=workers) as base:
        clients = [httpx.Client(base_url=base, cookies={"_t": t}, timeout=60) for t in tokens]
        csrf = []
        for c in clients:
            page = c.get(f"/t/{topic.slug}/{topic.id}")
            csrf.append(re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1))
        barrier = threading.Barrier(CLIENTS, timeout=60)
        results: list[int] = [0] * CLIENTS

        def reply(i):
            barrier.wait()
            r = clients[i].post(f"/t/{topic.id}/reply", data={"raw": f"Simultaneous reply {i}", "csrf_token": csrf[i]})
            results[i] = r.status_code

        threads = [threading.Thread(target=reply, args=(i,)) for i in range(CLIENTS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for c in clients:
            c.close()
    assert results == [303] * CLIENTS
    with db.read() as session:
        numbers = session.scalars(select(Post.post_number).where(Post.topic_id == topic.id)
                                  .order_by(Post.post_number)).all()
        assert numbers == list(range(1, CLIENTS + 2))
        t = session.get(Topic, topic.id)
        assert (t.posts_count, t.highest_post_number, t.participant_count) == (CLIENTS + 1, CLIENTS + 1, CLIENTS + 1)
        assert session.get(Category, category.id).post_count == CLIENTS + 1
        assert session.scalar(select(func.sum(User.post_count))) == CLIENTS + 1
