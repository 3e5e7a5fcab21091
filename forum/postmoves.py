"""What moves with posts when a moderator moves or merges them: readers' places and notifications.

Post numbers are contiguous in every topic, so moving posts out renumbers the ones that stay. Each
reader's stored position (`TopicUser.last_read_post_number`, a high-water mark) is carried across:
in the source it becomes the new number of the last staying post they had read; in the destination
they keep having read what they had read, as far as a high-water mark can say so. Notifications
point at the post's current topic and number. Moving the first post copies it (as Discourse does):
a topic never loses its first post.
"""

from __future__ import annotations

from bisect import bisect_right

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from forum import polls, posting
from forum.models import LIKE, Notification, Post, PostAction, TopicUser, User, utcnow

_NO_SYNC = {"synchronize_session": False}


def read_positions(session: Session, topic_id: int) -> dict[int, int]:
    """user id -> last read post number, for everyone who has read some of the topic."""
    return dict(session.execute(select(TopicUser.user_id, TopicUser.last_read_post_number)
                                .where(TopicUser.topic_id == topic_id, TopicUser.last_read_post_number > 0)).all())


def carry_read_positions(session: Session, *, source_id: int, destination_id: int, destination_base: int,
                         moved_old: list[int], staying_old: list[int], positions: dict[int, int]) -> None:
    """Renumber readers' positions after posts `moved_old` (old numbers) left the source.

    `positions` are the source's positions before the move; the moved posts were appended to the
    destination after its post `destination_base` (0 for a new topic), in order.
    """
    moved_old, staying_old = sorted(moved_old), sorted(staying_old)
    if not positions:
        return
    for row in session.scalars(select(TopicUser).where(TopicUser.topic_id == source_id,
                                                       TopicUser.user_id.in_(list(positions)))):
        row.last_read_post_number = bisect_right(staying_old, positions[row.user_id])
    gained = {u: n for u, last in positions.items() if (n := bisect_right(moved_old, last))}
    if not gained:
        return
    rows = {r.user_id: r for r in session.scalars(select(TopicUser).where(
        TopicUser.topic_id == destination_id, TopicUser.user_id.in_(list(gained))))}
    for user_id, count in gained.items():
        row = rows.get(user_id)
        if row is None:
            if destination_base == 0:
                # A new topic made of posts they had read: it is not "new" to them.
                session.add(TopicUser(user_id=user_id, topic_id=destination_id, last_read_post_number=count))
        elif row.last_read_post_number >= destination_base:
            # They were up to date in the destination, and had read these posts where they were.
            row.last_read_post_number = destination_base + count
    session.flush()


def follow_notifications(session: Session, source_id: int) -> None:
    """Notifications about the source's posts name each post's topic and number as they are now."""
    current = select(Post.topic_id).where(Post.id == Notification.post_id).scalar_subquery()
    number = select(Post.post_number).where(Post.id == Notification.post_id).scalar_subquery()
    session.execute(update(Notification).where(Notification.topic_id == source_id,
                                               Notification.post_id.is_not(None))
                    .values(topic_id=current, post_number=number), execution_options=_NO_SYNC)


def copy_first_post(session: Session, post: Post, destination_id: int, number: int) -> Post:
    """A copy of a topic's first post as post `number` of another topic, with its likes (not its votes)."""
    cooked = posting.cook_post(session, post.raw)
    copy = Post(topic_id=destination_id, post_number=number, user_id=post.user_id, raw=post.raw,
                cooked=cooked.html, created_at=post.created_at, updated_at=utcnow(), edited_at=post.edited_at,
                hidden=post.hidden, hidden_at=post.hidden_at, hidden_reason=post.hidden_reason)
    session.add(copy)
    session.flush()
    polls.sync_post(session, copy, cooked.polls, cooked.html)
    likers = list(session.scalars(select(PostAction.user_id).where(PostAction.post_id == post.id,
                                                                   PostAction.action_type == LIKE)))
    session.add_all(PostAction(post_id=copy.id, user_id=u, action_type=LIKE) for u in likers)
    copy.like_count = len(likers)
    session.execute(update(User).where(User.id == post.user_id).values(post_count=User.post_count + 1),
                    execution_options=_NO_SYNC)
    session.flush()
    return copy
