"""Old addresses of a merged topic: `/t/{slug}/{id}`, `/t/{slug}/{id}/{n}` and their `.json` forms.

Merging empties a topic for good (it is deleted and its numbers are never reused), so every one of
its post numbers can keep pointing at the post that carried it. `record()` writes that down when the
merge happens; `find()` answers a request for the emptied topic with where the post is now, for a
viewer who may see the topic it is in, and nothing (so: 404) for anyone else.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from forum import permissions, reading, urls
from forum.errors import NotFound
from forum.models import MovedPost, Post, Topic
from forum.permissions import Viewer
from forum.text import parse_id


def record(session: Session, old_topic_id: int, post_ids_by_number: dict[int, int]) -> None:
    """Remember that post `n` of the topic is now the post with id `post_ids_by_number[n]`."""
    session.execute(delete(MovedPost).where(MovedPost.old_topic_id == old_topic_id),
                    execution_options={"synchronize_session": False})
    session.add_all(MovedPost(old_topic_id=old_topic_id, old_post_number=number, post_id=post_id)
                    for number, post_id in sorted(post_ids_by_number.items()))
    session.flush()


@dataclass
class Location:
    topic: Topic
    post_number: int | None  # None: the topic as a whole (the post itself is hidden from this viewer)

    def page_url(self) -> str:
        return urls.post_url(self.topic, self.post_number) if self.post_number else urls.topic_url(self.topic)

    def json_url(self) -> str:
        return self.page_url() + ".json"


def find(session: Session, viewer: Viewer, topic_id: int | str, post_number: int | str | None = None
         ) -> Location | None:
    """Where the merged topic's post `post_number` (or its first post) is now, if this viewer may follow.

    A live topic is never redirected: its own posts are at its own address.
    """
    tid = parse_id(topic_id)
    if tid is None:
        return None
    topic = session.get(Topic, tid)
    if topic is not None and topic.deleted_at is None:
        return None
    wanted = parse_id(post_number) if post_number not in (None, "") else None
    stmt = (select(Post).join(MovedPost, MovedPost.post_id == Post.id).where(MovedPost.old_topic_id == tid)
            .order_by(MovedPost.old_post_number).limit(1))
    post = None
    if wanted is not None:
        post = session.scalar(stmt.where(MovedPost.old_post_number == wanted))
    if post is None:
        post = session.scalar(stmt)
    if post is None or post.topic_id == tid:
        return None
    target = session.get(Topic, post.topic_id)
    if target is None or not permissions.can_see_topic(session, viewer, target):
        return None
    number = post.post_number if permissions.can_see_post(session, viewer, post, target) else None
    return Location(target, number)


class Moved(Exception):
    """Answered with a 301 to where the merged topic's post is now (forum/app.py)."""

    def __init__(self, location: Location):
        super().__init__(location.page_url())
        self.location = location


def get_topic(session: Session, viewer: Viewer, topic_id: int | str, post_number: int | str | None = None) -> Topic:
    """reading.get_topic for the addresses people and clients follow: a merged topic raises Moved.

    Only a topic that is missing to this viewer, or deleted, can have been merged, so a live topic
    costs nothing more than reading.get_topic.
    """
    try:
        topic: Topic | None = reading.get_topic(session, viewer, topic_id)
    except NotFound:
        topic = None
    if topic is None or topic.deleted_at is not None:
        moved = find(session, viewer, topic_id, post_number)
        if moved is not None:
            raise Moved(moved)
        if topic is None:
            raise NotFound()
    return topic
