"""Moderators' actions on topics and posts.

Each function checks that the viewer is staff, acts, keeps every counter right and writes its
moderation log row, all in the caller's transaction. Moving posts keeps post numbers contiguous
from 1 in both topics (the topic page reads a page as a range of numbers), remapping replies.
Each locks what it changes in the order written down in forum/db.py (people whose counters change,
then topics, then categories), and decides on what it read under those locks.
"""

from __future__ import annotations

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from forum import merges, modlog, permissions, posting, postmoves, reading, search
from forum.config import Settings
from forum.errors import Conflict, NotFound, ValidationFailed
from forum.i18n import _
from forum.models import Category, Post, Topic, User, utcnow
from forum.permissions import Viewer
from forum.text import clean, parse_id, slugify

_NO_SYNC = {"synchronize_session": False}

# status -> (log action when switched on, when switched off); the names are Discourse's.
TOPIC_STATUSES = {
    "closed": ("close_topic", "open_topic"),
    "archived": ("archive_topic", "unarchive_topic"),
    "visible": ("list_topic", "unlist_topic"),
    "pinned": ("pin_topic", "unpin_topic"),
    "pinned_globally": ("pin_topic_globally", "unpin_topic"),
}
MAX_SLOW_MODE = 7 * 86400


def _reason(reason: str) -> str:
    return clean(reason, single_line=True)[:1000]


def get_topic(session: Session, viewer: Viewer, topic_id: int | str | None) -> Topic:
    permissions.ensure_can_moderate(viewer)
    tid = parse_id(topic_id)
    topic = session.get(Topic, tid) if tid is not None else None
    if topic is None:
        raise NotFound()
    permissions.ensure_can_moderate_topic(session, viewer, topic)
    return topic


def get_post(session: Session, viewer: Viewer, post_id: int | str | None) -> tuple[Post, Topic]:
    permissions.ensure_can_moderate(viewer)
    post, topic = posting.get_post(session, post_id if post_id is not None else "")
    if topic.category_id is None:
        permissions.ensure_can_see_topic(session, viewer, topic)
    return post, topic


def _log_topic(session: Session, viewer: Viewer, action: str, topic: Topic, reason: str = "", **details) -> None:
    modlog.record(session, viewer, action, target_type="topic", target_id=topic.id, target_user_id=topic.user_id,
                  topic_id=topic.id, summary=topic.title, reason=_reason(reason), details=details or None)


def _log_post(session: Session, viewer: Viewer | None, action: str, post: Post, topic: Topic, reason: str = "",
              **details) -> None:
    modlog.record(session, viewer, action, target_type="post", target_id=post.id, target_user_id=post.user_id,
                  topic_id=topic.id, summary=f"#{post.post_number} {topic.title}", reason=_reason(reason),
                  details=details or None)


# --- topic status -----------------------------------------------------------------------------

def set_topic_status(session: Session, viewer: Viewer, topic_id: int | str, status: str, enabled: bool, *,
                     reason: str = "") -> Topic:
    """Close, archive, list/unlist, pin (in its category or globally); unchanged status logs nothing."""
    topic = posting.lock_topic(session, get_topic(session, viewer, topic_id).id)
    if status not in TOPIC_STATUSES:
        raise ValidationFailed(fields={"status": _("Status must be one of %(names)s.",
                                                   names=", ".join(TOPIC_STATUSES))})
    if getattr(topic, status) == enabled:
        return topic
    setattr(topic, status, enabled)
    if status == "pinned_globally" and enabled:
        topic.pinned = True
    if status == "pinned" and not enabled:
        topic.pinned_globally = False
    on, off = TOPIC_STATUSES[status]
    _log_topic(session, viewer, on if enabled else off, topic, reason)
    session.flush()
    return topic


def move_topic(session: Session, viewer: Viewer, topic_id: int | str, category_id: int | str, *,
               reason: str = "") -> Topic:
    topic = get_topic(session, viewer, topic_id)
    cid = parse_id(category_id)
    target = session.get(Category, cid) if cid is not None else None
    if target is None:
        raise ValidationFailed(fields={"category_id": _("Please choose a category.")})
    # Its category and post count as they are once repliers are held off, not as first read.
    topic = posting.lock_topic(session, topic.id)
    if target.id == topic.category_id:
        return topic
    source = session.get(Category, topic.category_id)
    assert source is not None
    posting.lock_categories(session, source.id, target.id)
    live_topic = 1 if topic.deleted_at is None else 0
    session.execute(update(Category).where(Category.id == source.id).values(
        topic_count=Category.topic_count - live_topic, post_count=Category.post_count - topic.posts_count),
        execution_options=_NO_SYNC)
    session.execute(update(Category).where(Category.id == target.id).values(
        topic_count=Category.topic_count + live_topic, post_count=Category.post_count + topic.posts_count),
        execution_options=_NO_SYNC)
    topic.category_id = target.id
    _log_topic(session, viewer, "move_topic", topic, reason, **{"from": source.name, "to": target.name})
    session.flush()
    search.reindex_topic(session, topic.id)  # index terms carry the category
    session.expire(topic)
    session.expire(source)
    session.expire(target)
    return topic


def set_slow_mode(session: Session, viewer: Viewer, topic_id: int | str, seconds: int | str, *,
                  reason: str = "") -> Topic:
    topic = posting.lock_topic(session, get_topic(session, viewer, topic_id).id)
    try:
        value = int(seconds)
    except (TypeError, ValueError):
        value = -1
    if not 0 <= value <= MAX_SLOW_MODE:
        raise ValidationFailed(fields={"seconds": _("Slow mode is 0 (off) to %(n)s seconds.", n=MAX_SLOW_MODE)})
    if topic.slow_mode_seconds == value:
        return topic
    before = topic.slow_mode_seconds
    topic.slow_mode_seconds = value
    _log_topic(session, viewer, "slow_mode", topic, reason, **{"from": before, "to": value})
    session.flush()
    return topic


def delete_topic(session: Session, viewer: Viewer, topic_id: int | str, *, reason: str = "") -> Topic:
    topic = get_topic(session, viewer, topic_id)
    first = reading.first_post(session, topic)
    if first is None:
        raise NotFound()
    posting.lock_users(session, [first.user_id])
    topic = posting.lock_topic(session, topic.id)
    if topic.deleted_at is not None:
        raise Conflict(_("This topic is already deleted."))
    session.refresh(first)
    if first.deleted_at is None:
        if first.user_id == viewer.id:
            # posting.delete_post logs only what staff delete of other people's.
            _log_topic(session, viewer, "delete_topic", topic, reason)
        posting.delete_post(session, viewer, post_id=first.id, reason=reason)
    else:
        topic.deleted_at = utcnow()
        session.execute(update(Category).where(Category.id == topic.category_id, Category.topic_count > 0)
                        .values(topic_count=Category.topic_count - 1), execution_options=_NO_SYNC)
        _log_topic(session, viewer, "delete_topic", topic, reason)
        session.flush()
    return topic


# --- posts ------------------------------------------------------------------------------------

def _locked_post(session: Session, viewer: Viewer, post_id: int | str | None, *,
                 author_counts: bool = False) -> tuple[Post, Topic]:
    """The post and its topic as they are under the topic's lock (and its author's, when the
    author's counters change)."""
    post, topic = get_post(session, viewer, post_id)
    if author_counts:
        posting.lock_users(session, [post.user_id])
    topic = posting.lock_topic(session, topic.id)
    session.refresh(post)
    return post, topic


def hide_post(session: Session, viewer: Viewer, post_id: int | str, *, reason: str = "") -> Post:
    post, topic = _locked_post(session, viewer, post_id)
    if post.hidden:
        return post
    _hide(post, "moderator")
    _log_post(session, viewer, "hide_post", post, topic, reason)
    session.flush()
    return post


def _hide(post: Post, why: str) -> None:
    post.hidden = True
    post.hidden_at = utcnow()
    post.hidden_reason = why


def unhide_post(session: Session, viewer: Viewer, post_id: int | str, *, reason: str = "") -> Post:
    post, topic = _locked_post(session, viewer, post_id)
    if not post.hidden:
        return post
    post.hidden, post.hidden_at, post.hidden_reason = False, None, ""
    _log_post(session, viewer, "unhide_post", post, topic, reason)
    session.flush()
    return post


def delete_post(session: Session, viewer: Viewer, post_id: int | str, *, reason: str = "") -> Post:
    post, topic = get_post(session, viewer, post_id)
    if post.deleted_at is not None:
        raise Conflict(_("This post is already deleted."))
    if post.post_number == 1:
        delete_topic(session, viewer, topic.id, reason=reason)
        return post
    if post.user_id == viewer.id:
        _log_post(session, viewer, "delete_post", post, topic, reason)
    return posting.delete_post(session, viewer, post_id=post.id, reason=reason)


def restore_post(session: Session, viewer: Viewer, post_id: int | str, *, reason: str = "") -> Post:
    """Undo a soft deletion; restoring the first post restores its topic."""
    post, topic = _locked_post(session, viewer, post_id, author_counts=True)
    restoring_topic = post.post_number == 1 and topic.deleted_at is not None
    if post.deleted_at is None and not restoring_topic:
        raise Conflict(_("This post is not deleted."))
    if post.deleted_at is not None:
        post.deleted_at = None
        post.deleted_by_id = None
        session.execute(update(User).where(User.id == post.user_id)
                        .values(post_count=User.post_count + 1), execution_options=_NO_SYNC)
        if post.reply_to_post_number is not None:
            session.execute(update(Post).where(Post.topic_id == topic.id,
                                               Post.post_number == post.reply_to_post_number)
                            .values(reply_count=Post.reply_count + 1), execution_options=_NO_SYNC)
    if restoring_topic:
        topic.deleted_at = None
        session.execute(update(Category).where(Category.id == topic.category_id)
                        .values(topic_count=Category.topic_count + 1), execution_options=_NO_SYNC)
        _log_topic(session, viewer, "restore_topic", topic, reason)
    else:
        _log_post(session, viewer, "restore_post", post, topic, reason)
    session.flush()
    posting.recount_topic(session, topic)
    session.flush()
    if restoring_topic:
        search.reindex_topic(session, topic.id)
    else:
        search.index_post(session, post, topic)
    return post


# --- moving posts and merging topics ----------------------------------------------------------

def _renumber(session: Session, posts: list[Post], numbers: dict[int, int]) -> None:
    """Give posts new numbers without ever breaking the (topic, number) unique index midway."""
    changing = [p for p in posts if numbers[p.id] != p.post_number]
    for p in changing:
        p.post_number = -numbers[p.id]
    session.flush()
    for p in changing:
        p.post_number = numbers[p.id]
    session.flush()


def _recount_replies(session: Session, topic_id: int) -> None:
    counts = dict(session.execute(
        select(Post.reply_to_post_number, func.count(Post.id))
        .where(Post.topic_id == topic_id, Post.deleted_at.is_(None), Post.reply_to_post_number.is_not(None))
        .group_by(Post.reply_to_post_number)).all())
    for post in session.scalars(select(Post).where(Post.topic_id == topic_id)):
        post.reply_count = counts.get(post.post_number, 0)


def _transfer(session: Session, source: Topic, destination: Topic, moving: list[Post], *,
              copy_first: bool = False) -> dict[int, int]:
    """Append `moving` (in their order) to `destination` and close the gaps they leave in `source`.

    With `copy_first`, the source's first post (if selected) is copied rather than moved: it stays.
    Readers' positions and notifications follow (forum/postmoves.py). Returns the new number of
    each moved post, by its old number.
    """
    moving = sorted(moving, key=lambda p: p.post_number)
    base = destination.highest_post_number
    new_numbers = {p.post_number: base + i for i, p in enumerate(moving, 1)}
    copied = moving[0] if copy_first and moving and moving[0].post_number == 1 else None
    if copied is not None:
        moving = moving[1:]
    moved_old = {p.post_number for p in moving}
    positions = postmoves.read_positions(session, source.id)
    for p in moving:
        p.reply_to_post_number = new_numbers.get(p.reply_to_post_number) if p.reply_to_post_number else None
        # Negative first: the destination's numbers and the source's may overlap until both settle.
        p.topic_id = destination.id
        p.post_number = -new_numbers[p.post_number]
    session.flush()
    for p in moving:
        p.post_number = -p.post_number
    session.flush()
    if copied is not None:
        postmoves.copy_first_post(session, copied, destination.id, new_numbers[1])

    staying = list(session.scalars(select(Post).where(Post.topic_id == source.id).order_by(Post.post_number)))
    postmoves.carry_read_positions(session, source_id=source.id, destination_id=destination.id,
                                   destination_base=base, moved_old=list(new_numbers),
                                   staying_old=[p.post_number for p in staying], positions=positions)
    renumbered = {p.post_number: i for i, p in enumerate(staying, 1)}
    for p in staying:
        target = p.reply_to_post_number
        if target is not None:
            p.reply_to_post_number = None if target in moved_old else renumbered.get(target)
    _renumber(session, staying, {p.id: renumbered[p.post_number] for p in staying})
    postmoves.follow_notifications(session, source.id)

    source.highest_post_number = len(staying)
    destination.highest_post_number = base + len(new_numbers)
    session.flush()
    for topic in (source, destination):
        _recount_replies(session, topic.id)
        posting.recount_topic(session, topic)
    if destination.last_posted_at and destination.last_posted_at > destination.bumped_at:
        destination.bumped_at = destination.last_posted_at
    session.flush()
    for topic in (source, destination):
        search.reindex_topic(session, topic.id)
    return new_numbers


def move_posts(session: Session, settings: Settings, viewer: Viewer, *, topic_id: int | str,
               post_ids: list[int | str], destination_topic_id: int | str | None = None,
               title: str | None = None, category_id: int | str | None = None, reason: str = "") -> Topic:
    """Move posts into a new topic (title and category) or onto the end of an existing one.

    As in Discourse, a selected first post is copied, not moved: the source keeps it (and so never
    becomes empty), and a source whose every post was selected is closed.
    """
    source = get_topic(session, viewer, topic_id)
    ids = {i for i in (parse_id(v) for v in post_ids) if i is not None}
    if not ids:
        raise ValidationFailed(fields={"post_ids": _("Select the posts to move.")})
    destination_id = parse_id(destination_topic_id) if destination_topic_id not in (None, "") else None
    # A new topic counts for the author of the first post moved; then both topics, in id order.
    posting.lock_users(session, session.scalars(select(Post.user_id).where(Post.id.in_(ids))
                                                .order_by(Post.post_number).limit(1)))
    posting.lock_topics(session, source.id, *([destination_id] if destination_id else []))
    moving = list(session.scalars(select(Post).where(Post.id.in_(ids), Post.topic_id == source.id)
                                  .execution_options(populate_existing=True)))
    if len(moving) != len(ids):
        raise ValidationFailed(fields={"post_ids": _("Some of the selected posts are not in this topic.")})
    if any(p.post_number == 1 and p.deleted_at is not None for p in moving):
        raise ValidationFailed(fields={"post_ids": _(
            "The first post is deleted; restore the topic before copying its first post.")})
    moving_all = len(moving) == session.scalar(select(func.count(Post.id)).where(Post.topic_id == source.id))
    if destination_topic_id not in (None, ""):
        destination = session.get(Topic, destination_id or 0)
        if destination is None or destination.deleted_at is not None:
            raise ValidationFailed(fields={"destination_topic_id": _("There is no such topic.")})
        if destination.id == source.id:
            raise ValidationFailed(fields={"destination_topic_id": _("Choose a different topic.")})
    else:
        fields: dict[str, str] = {}
        try:
            title = posting.validate_title(settings, title or "")
        except ValidationFailed as e:
            fields.update(e.fields)
        category = session.get(Category, parse_id(category_id) or 0)
        if category is None:
            fields["category_id"] = _("Please choose a category.")
        if fields:
            raise ValidationFailed(fields=fields)
        assert category is not None and title is not None
        first = min(moving, key=lambda p: p.post_number)
        destination = Topic(title=title, slug=slugify(title), category_id=category.id, user_id=first.user_id,
                            last_post_user_id=first.user_id, created_at=first.created_at,
                            bumped_at=first.created_at, last_posted_at=first.created_at,
                            highest_post_number=0, posts_count=0, participant_count=0)
        session.add(destination)
        session.flush()
        session.execute(update(Category).where(Category.id == category.id)
                        .values(topic_count=Category.topic_count + 1), execution_options=_NO_SYNC)
        session.execute(update(User).where(User.id == first.user_id)
                        .values(topic_count=User.topic_count + 1), execution_options=_NO_SYNC)
    numbers = _transfer(session, source, destination, moving, copy_first=True)
    _log_topic(session, viewer, "move_posts", source, reason, to_topic=destination.id,
               to_title=destination.title, posts={str(k): v for k, v in sorted(numbers.items())},
               **({"copied_first_post": True} if 1 in numbers else {}))
    if moving_all and not source.closed:
        source.closed = True
        _log_topic(session, viewer, "close_topic", source, _("All its posts were moved to “%(title)s”.",
                                                              title=destination.title))
        session.flush()
    return destination


def merge_topics(session: Session, viewer: Viewer, *, topic_id: int | str, destination_topic_id: int | str,
                 reason: str = "") -> Topic:
    """Append every post of one topic to another; the emptied topic is deleted (restorable by staff)."""
    source = get_topic(session, viewer, topic_id)
    destination_id = parse_id(destination_topic_id) or 0
    posting.lock_users(session, [source.user_id])  # their topic count goes down
    posting.lock_topics(session, source.id, destination_id)
    destination = session.get(Topic, destination_id)
    if destination is None or destination.deleted_at is not None:
        raise ValidationFailed(fields={"destination_topic_id": _("There is no such topic.")})
    if destination.id == source.id:
        raise ValidationFailed(fields={"destination_topic_id": _("Choose a different topic.")})
    moving = list(session.scalars(select(Post).where(Post.topic_id == source.id)
                                  .execution_options(populate_existing=True)))
    old_addresses = {p.post_number: p.id for p in moving}
    numbers = _transfer(session, source, destination, moving)
    merges.record(session, source.id, old_addresses)  # the emptied topic's links lead to the posts
    if source.deleted_at is None:
        source.deleted_at = utcnow()
        session.execute(update(Category).where(Category.id == source.category_id, Category.topic_count > 0)
                        .values(topic_count=Category.topic_count - 1), execution_options=_NO_SYNC)
        session.execute(update(User).where(User.id == source.user_id, User.topic_count > 0)
                        .values(topic_count=User.topic_count - 1), execution_options=_NO_SYNC)
    _log_topic(session, viewer, "merge_topic", source, reason, to_topic=destination.id,
               to_title=destination.title, posts={str(k): v for k, v in sorted(numbers.items())})
    session.flush()
    return destination
