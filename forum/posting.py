"""Writing: topics, replies, edits, deletions and likes.

Each function validates, checks permissions, writes and updates every counter in the caller's
transaction, so a failure leaves nothing half-written. The post number is allocated by one atomic
UPDATE … RETURNING on the topic row, which also takes the row lock that orders concurrent repliers.
Rows are locked in the order written down in forum/db.py (the author, other people, topics, posts,
categories); the helpers here take them. Markdown is cooked before the topic is locked, so that
repliers to one busy topic wait for each other only as long as the writing itself takes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import and_, func, select, update
from sqlalchemy.orm import Session, lazyload

import forum.notifications as notifications
import forum.polls as polls
import forum.search as search
import forum.tags as forum_tags
import forum.tracking as tracking
from forum import bookmarks, drafts, languages, modlog, pagecache, permissions, ratelimit, uploads
from forum.config import Settings
from forum.errors import Conflict, NotFound, ValidationFailed
from forum.i18n import _
from forum.markdown import Cooked, cook
from forum.models import LIKE, Category, Post, PostAction, PostRevision, Topic, TopicAllowedUser, User, utcnow
from forum.permissions import Viewer
from forum.ratelimit import RateLimiter
from forum.text import clean, parse_id, slugify

_NO_SYNC = {"synchronize_session": False}


@dataclass
class Draft:
    raw: str
    title: str = ""


def resolve_usernames(session: Session):
    def resolve(candidates):
        rows = session.execute(
            select(User.username_lower, User.username).where(User.username_lower.in_(list(candidates)))
        )
        return {lower: name for lower, name in rows}

    return resolve


def cook_post(session: Session, raw: str) -> Cooked:
    return cook(raw, resolve_usernames(session), uploads.resolver(session))


def count_preview(session: Session, settings: Settings, viewer: Viewer, *, limiter: RateLimiter | None) -> None:
    """One more preview for this person (429 past `previews_per_minute`); `session` is a short write
    transaction of its own, taken before cooking, which no page shows."""
    assert viewer.user is not None
    pagecache.quiet(session)
    ratelimit.hit_preview(limiter, session, settings, viewer.user.id)


def preview(session: Session, settings: Settings, raw: str) -> str:
    """What `raw` would look like posted: the same cooking as a post (mentions, quotes, polls,
    dates). A quote shows only the text written into it, never anything fetched from the post it
    names, so a preview reveals nothing its author may not see. Count it first (count_preview)."""
    return cook_post(session, raw[: settings.max_post_length + 1000]).html


def validate_title(settings: Settings, title: str) -> str:
    title = clean(title, single_line=True)
    if len(title) < settings.min_title_length:
        raise ValidationFailed(fields={"title": _("Title must be at least %(n)s characters.", n=settings.min_title_length)})
    if len(title) > settings.max_title_length:
        raise ValidationFailed(fields={"title": _("Title may be at most %(n)s characters.", n=settings.max_title_length)})
    return title


def validate_raw(settings: Settings, raw: str) -> str:
    raw = clean(raw).strip("\n")
    if len(raw.strip()) < settings.min_post_length:
        raise ValidationFailed(fields={"raw": _("Post must be at least %(n)s characters.", n=settings.min_post_length)})
    if len(raw) > settings.max_post_length:
        raise ValidationFailed(fields={"raw": _("Post may be at most %(n)s characters.", n=settings.max_post_length)})
    return raw


class DuplicatePost(ValidationFailed):
    """The author posted the same text moments ago: most often one form sent twice."""

    def __init__(self, existing: Post):
        self.existing_post_id = existing.id
        super().__init__(fields={"raw": _("Body is too similar to what you recently posted.")})


def _fingerprint(raw: str) -> str:
    return "".join(raw.split()).casefold()


def recent_duplicate(session: Session, settings: Settings, user_id: int, raw: str) -> Post | None:
    """The author's own live post with the same text (spacing and case ignored) written within
    `settings.unique_post_window` seconds, or None."""
    wanted = _fingerprint(raw)
    if settings.unique_post_window <= 0 or not wanted:
        return None
    since = utcnow() - timedelta(seconds=settings.unique_post_window)
    recent = session.scalars(select(Post).where(Post.user_id == user_id, Post.created_at >= since,
                                                Post.deleted_at.is_(None))
                             .order_by(Post.created_at.desc(), Post.id.desc()).limit(50))
    return next((p for p in recent if _fingerprint(p.raw) == wanted), None)


def lock_users(session: Session, user_ids) -> None:
    """Lock users' rows, in id order, for counters about to change (PostgreSQL; SQLite writers queue
    anyway). FOR NO KEY UPDATE: rows that refer to these people (notifications) can still be added."""
    held = _locked_users(session)
    ids = sorted(set(user_ids) - held)
    if ids:
        session.execute(select(User.id).where(User.id.in_(ids)).order_by(User.id)
                        .with_for_update(key_share=True))
        held.update(ids)


def _locked_users(session: Session) -> set[int]:
    # A request's transaction locks its actor first (forum/web/deps.py); the services asking again
    # need not cost another round trip.
    transaction = session.get_transaction()
    known = session.info.get("forum_locked_users")
    if known is None or known[0] is not transaction:
        known = session.info["forum_locked_users"] = (transaction, set())
    return known[1]


def lock_author(session: Session, user_id: int) -> None:
    """Order the author's concurrent posts, so that the second of two identical ones sees the first."""
    lock_users(session, [user_id])


def lock_topics(session: Session, *topic_ids: int) -> list[Topic]:
    """Lock topics' rows, in id order, and read them afresh: what was read before the lock (closed,
    category, counters) may have changed meanwhile. A topic's posts are changed only under it."""
    ids = sorted(set(topic_ids))
    # No joins: PostgreSQL re-checks a locked row that changed meanwhile against the joined rows it
    # read first, so a topic moved to another category would drop out of a join to its category.
    return list(session.scalars(select(Topic).where(Topic.id.in_(ids)).order_by(Topic.id)
                                .options(lazyload("*")).with_for_update(key_share=True)
                                .execution_options(populate_existing=True)))


def lock_topic(session: Session, topic_id: int) -> Topic:
    locked = lock_topics(session, topic_id)
    if not locked:
        raise NotFound()
    return locked[0]


def lock_categories(session: Session, *category_ids: int) -> None:
    ids = sorted(set(category_ids))
    session.execute(select(Category.id).where(Category.id.in_(ids)).order_by(Category.id)
                    .with_for_update(key_share=True))


def ensure_not_duplicate(session: Session, settings: Settings, viewer: Viewer, raw: str) -> None:
    """Discourse's unique-post check: refuse the same text twice within the window."""
    if viewer.user is None or permissions.exempt_from_duplicate_check(viewer) or settings.unique_post_window <= 0:
        return
    lock_author(session, viewer.user.id)
    existing = recent_duplicate(session, settings, viewer.user.id, raw)
    if existing is not None:
        raise DuplicatePost(existing)


def _load_category(session: Session, category_id: int | str | None) -> Category | None:
    cid = parse_id(category_id)
    return session.get(Category, cid) if cid is not None else None


def post_language(session: Session, settings: Settings, viewer: Viewer, language: str | None) -> str:
    """The language a post is recorded in: the one chosen, which the site must offer; else the author's."""
    site = languages.load(session, settings)
    if language is None or not language.strip():
        return site.choose(profile=viewer.user.locale if viewer.user else None)
    language = language.strip()
    if language not in site.offered:
        raise ValidationFailed(fields={"language": _("Choose one of the languages offered: %(codes)s.",
                                                     codes=", ".join(site.offered))})
    return language


def _checked_language_and_raw(session: Session, settings: Settings, viewer: Viewer, language: str | None,
                              raw: str, *, keep: bool = False) -> tuple[str | None, str]:
    """Both checked at once, so a form shows every mistake in one go; `keep` skips the language."""
    fields: dict[str, str] = {}
    try:
        language = None if keep else post_language(session, settings, viewer, language)
    except ValidationFailed as e:
        fields.update(e.fields)
    try:
        raw = validate_raw(settings, raw)
    except ValidationFailed as e:
        fields.update(e.fields)
    if fields:
        raise ValidationFailed(fields=fields)
    return language, raw


def create_topic(
    session: Session, settings: Settings, viewer: Viewer, *, title: str, raw: str, category_id: int | str | None,
    limiter: RateLimiter | None = None, language: str | None = None, clears_draft: bool = True,
    tags: list[str] | None = None,
) -> Post:
    """A new topic and its first post. `clears_draft`: it comes from the new-topic composer, whose
    draft it ends (proposals and events have composers of their own). `tags`: names, checked by
    forum/tags.py before anything is written."""
    ratelimit.hit_posting(limiter, session, settings, viewer, new_topic=True)
    fields: dict[str, str] = {}
    try:
        language, raw = _checked_language_and_raw(session, settings, viewer, language, raw)
    except ValidationFailed as e:
        fields.update(e.fields)
    category = _load_category(session, category_id)
    if category is None or not permissions.can_see_category(session, viewer, category):
        fields["category"] = _("Please choose a category.")
    try:
        title = validate_title(settings, title)
    except ValidationFailed as e:
        fields.update(e.fields)
    if fields:
        raise ValidationFailed(fields=fields)
    assert category is not None
    permissions.ensure_can_create_topic(session, viewer, category)
    assert viewer.user is not None
    topic_tags = forum_tags.tags_for_topic(session, settings, viewer, category, tags or [])
    cooked = _cook_checked(session, raw)
    lock_author(session, viewer.user.id)
    permissions.ensure_can_post_now(session, viewer, category)
    ensure_not_duplicate(session, settings, viewer, raw)
    now = utcnow()
    topic = Topic(
        title=title, slug=slugify(title), category_id=category.id, user_id=viewer.user.id,
        last_post_user_id=viewer.user.id, created_at=now, bumped_at=now, last_posted_at=now,
        highest_post_number=0, posts_count=0, participant_count=1,
    )
    session.add(topic)
    session.flush()  # a new row: nobody else can lock it yet, so it counts as locked first
    session.execute(update(Category).where(Category.id == category.id)
                    .values(topic_count=Category.topic_count + 1), execution_options=_NO_SYNC)
    session.execute(update(User).where(User.id == viewer.user.id)
                    .values(topic_count=User.topic_count + 1), execution_options=_NO_SYNC)
    if clears_draft:
        drafts.posted(session, viewer.user.id, drafts.NEW_TOPIC)
    if topic_tags:  # before the first post, whose notifications reach the tags' watchers
        forum_tags.set_topic_tags(session, topic.id, topic_tags)
    return _append_post(session, topic.id, category.id, viewer.user.id, raw, cooked, None, now, first=True,
                        language=language)


def create_reply(
    session: Session,
    settings: Settings,
    viewer: Viewer,
    *,
    topic_id: int,
    raw: str,
    reply_to_post_number: int | None = None,
    limiter: RateLimiter | None = None,
    language: str | None = None,
) -> Post:
    ratelimit.hit_posting(limiter, session, settings, viewer, new_topic=False)
    topic = session.get(Topic, topic_id)
    permissions.ensure_can_reply_topic(session, viewer, topic)
    assert topic is not None and viewer.user is not None
    language, raw = _checked_language_and_raw(session, settings, viewer, language, raw)
    cooked = _cook_checked(session, raw)
    lock_author(session, viewer.user.id)
    permissions.ensure_can_post_now(session, viewer, topic.category, topic)
    ensure_not_duplicate(session, settings, viewer, raw)
    # Closed, deleted or moved to a category this person may not reply in since it was read above:
    # asked again of the locked row, so that no reply lands in a topic a moderator just closed.
    topic = lock_topic(session, topic.id)
    permissions.ensure_can_reply_topic(session, viewer, topic)
    if reply_to_post_number is not None:
        target = session.scalar(select(Post.id).where(
            Post.topic_id == topic.id, Post.post_number == reply_to_post_number, Post.deleted_at.is_(None)))
        if target is None:
            raise ValidationFailed(fields={"reply_to_post_number": _("The post you are replying to does not exist.")})
    drafts.posted(session, viewer.user.id, drafts.topic_key(topic.id))
    bookmarks.owner_replied(session, viewer.user.id, topic.id)
    return _append_post(session, topic.id, topic.category_id, viewer.user.id, raw, cooked, reply_to_post_number,
                        utcnow(), first=False, language=language)


def _cook_checked(session: Session, raw: str) -> Cooked:
    cooked = cook_post(session, raw)
    polls.specs_from(cooked.polls)  # a bad [poll] block refuses the post before anything is written
    return cooked


def _append_post(
    session: Session, topic_id: int, category_id: int | None, user_id: int, raw: str, cooked: Cooked,
    reply_to: int | None, now, *, first: bool, language: str | None = None, notify: bool = True
) -> Post:
    """`notify=False`: a post brought in by an import (forum/imports/), which tells nobody."""
    has_posted = not first and session.scalar(
        select(Post.id).where(Post.topic_id == topic_id, Post.user_id == user_id).limit(1)) is not None
    number = session.execute(
        update(Topic).where(Topic.id == topic_id).values(
            highest_post_number=Topic.highest_post_number + 1,
            posts_count=Topic.posts_count + 1,
            last_posted_at=now,
            bumped_at=now,
            last_post_user_id=user_id,
            participant_count=Topic.participant_count + (0 if first or has_posted else 1),
        ).returning(Topic.highest_post_number),
        execution_options=_NO_SYNC,
    ).scalar_one()
    post = Post(topic_id=topic_id, post_number=number, user_id=user_id, raw=raw, cooked=cooked.html,
                reply_to_post_number=reply_to, created_at=now, updated_at=now, language=language)
    session.add(post)
    if reply_to is not None:
        session.execute(update(Post).where(Post.topic_id == topic_id, Post.post_number == reply_to)
                        .values(reply_count=Post.reply_count + 1), execution_options=_NO_SYNC)
    if category_id is not None:
        # A private message (no category) counts nowhere public: not in a category, not in the
        # author's post count or last-posted time (permissions rule 13).
        session.execute(update(Category).where(Category.id == category_id)
                        .values(post_count=Category.post_count + 1), execution_options=_NO_SYNC)
        session.execute(update(User).where(User.id == user_id)
                        .values(post_count=User.post_count + 1, last_posted_at=now), execution_options=_NO_SYNC)
    if category_id is None and not first:
        # A reply brings an archived private message back to its people's inboxes.
        session.execute(update(TopicAllowedUser).where(TopicAllowedUser.topic_id == topic_id,
                                                       TopicAllowedUser.archived.is_(True))
                        .values(archived=False), execution_options=_NO_SYNC)
    session.flush()
    polls.sync_post(session, post, cooked.polls, cooked.html, now=now)
    if cooked.uploads:
        uploads.link_post(session, post.id, cooked.uploads)
    # The topic may be in the identity map with stale counters; reload it when next used.
    topic = session.get(Topic, topic_id)
    if topic is not None:
        session.expire(topic)
        search.index_post(session, post, topic)
        tracking.on_posted(session, user_id, topic, number)
        if notify:
            notifications.on_post_created(session, post, topic, cooked, first=first)
    return post


def get_post(session: Session, post_id: int | str) -> tuple[Post, Topic]:
    pid = parse_id(post_id)
    post = session.get(Post, pid) if pid is not None else None
    if post is None:
        raise NotFound()
    topic = session.get(Topic, post.topic_id)
    assert topic is not None
    return post, topic


def edit_post(
    session: Session, settings: Settings, viewer: Viewer, *, post_id: int, raw: str,
    title: str | None = None, reason: str = "", language: str | None = None
) -> Post:
    post, topic = get_post(session, post_id)
    permissions.ensure_can_edit_post(session, viewer, post, topic)
    assert viewer.user is not None
    # No language sent (an older client): the post keeps the one it has.
    new_language, raw = _checked_language_and_raw(session, settings, viewer, language, raw,
                                                  keep=not (language or "").strip())
    topic = lock_topic(session, topic.id)
    session.refresh(post)  # as it is now, under the lock: two edits at once make two revisions
    new_title = None
    if title is not None and post.post_number == 1:
        new_title = validate_title(settings, title)
        if new_title == topic.title:
            new_title = None
    language_changed = new_language is not None and new_language != post.language
    if language_changed:
        post.language = new_language
    if raw == post.raw and new_title is None:
        if language_changed:
            session.flush()
            search.index_post(session, post, topic)  # stemmed in its new language
        return post
    session.add(PostRevision(post_id=post.id, number=post.version, user_id=viewer.user.id, raw=post.raw,
                             title=topic.title if post.post_number == 1 else None,
                             reason=clean(reason, single_line=True)[:255]))
    now = utcnow()
    old_mentions = notifications.mentions_in(post.cooked)
    post.raw = raw
    cooked = cook_post(session, raw)
    # Refuses an edit that would change the options of a poll people have voted in, after the grace period.
    polls.sync_post(session, post, cooked.polls, cooked.html, now=now,
                    grace=timedelta(minutes=settings.poll_edit_grace_minutes))
    post.cooked = cooked.html
    post.version += 1
    post.edited_at = now
    post.updated_at = now
    if new_title is not None:
        topic.title = new_title
        topic.slug = slugify(new_title)
    if permissions.is_moderation_act(viewer, post.user_id):
        modlog.record(session, viewer, "edit_post", target_type="post", target_id=post.id,
                      target_user_id=post.user_id, topic_id=topic.id,
                      summary=f"#{post.post_number} {topic.title}", reason=clean(reason, single_line=True),
                      details={"version": post.version})
    session.flush()
    uploads.link_post(session, post.id, cooked.uploads)
    search.index_post(session, post, topic)
    notifications.on_post_edited(session, post, topic, old_mentions, cooked, viewer.user.id)
    return post


def delete_post(session: Session, viewer: Viewer, *, post_id: int, reason: str = "") -> Post:
    """Soft-delete a post; deleting the first post deletes the topic. Counters are recomputed."""
    post, topic = get_post(session, post_id)
    permissions.ensure_can_delete_post(session, viewer, post, topic)
    assert viewer.user is not None
    lock_users(session, [post.user_id])  # their post count changes
    topic = lock_topic(session, topic.id)
    session.refresh(post)
    if post.deleted_at is not None:  # by someone else meanwhile: it counts once
        raise Conflict(_("This post is already deleted."))
    if permissions.is_moderation_act(viewer, post.user_id):
        first = post.post_number == 1
        modlog.record(session, viewer, "delete_topic" if first else "delete_post",
                      target_type="topic" if first else "post", target_id=topic.id if first else post.id,
                      target_user_id=post.user_id, topic_id=topic.id,
                      summary=topic.title if first else f"#{post.post_number} {topic.title}",
                      reason=clean(reason, single_line=True))
    now = utcnow()
    post.deleted_at = now
    post.deleted_by_id = viewer.user.id
    search.remove_post(session, post.id)
    session.execute(update(User).where(User.id == post.user_id, User.post_count > 0)
                    .values(post_count=User.post_count - 1), execution_options=_NO_SYNC)
    if post.reply_to_post_number is not None:
        session.execute(update(Post).where(Post.topic_id == topic.id,
                                           Post.post_number == post.reply_to_post_number,
                                           Post.reply_count > 0)
                        .values(reply_count=Post.reply_count - 1), execution_options=_NO_SYNC)
    if post.post_number == 1 and topic.deleted_at is None:
        topic.deleted_at = now
        session.execute(update(Category).where(Category.id == topic.category_id, Category.topic_count > 0)
                        .values(topic_count=Category.topic_count - 1), execution_options=_NO_SYNC)
    session.flush()
    recount_topic(session, topic)
    return post


def recount_topic(session: Session, topic: Topic) -> None:
    live = and_(Post.topic_id == topic.id, Post.deleted_at.is_(None))
    posts_count, likes, last_at = session.execute(
        select(func.count(Post.id), func.coalesce(func.sum(Post.like_count), 0), func.max(Post.created_at))
        .where(live)).one()
    old_posts = topic.posts_count
    topic.posts_count = posts_count
    topic.like_count = likes
    last = session.execute(select(Post.user_id, Post.created_at).where(live)
                           .order_by(Post.post_number.desc()).limit(1)).first()
    if last is not None:
        topic.last_post_user_id = last.user_id
        topic.last_posted_at = last.created_at
    topic.participant_count = session.scalar(select(func.count(func.distinct(Post.user_id))).where(live)) or 0
    delta = posts_count - old_posts
    if delta:
        session.execute(update(Category).where(Category.id == topic.category_id)
                        .values(post_count=Category.post_count + delta), execution_options=_NO_SYNC)


def like_post(session: Session, viewer: Viewer, *, post_id: int, limiter: RateLimiter | None = None) -> Post:
    post, topic = get_post(session, post_id)
    permissions.ensure_can_like_post(session, viewer, post, topic)
    assert viewer.user is not None
    ratelimit.hit_like(limiter, session, viewer.user.id)
    # The topic before the like's row, which refers to the post (see lock order in forum/db.py).
    topic = lock_topic(session, topic.id)
    exists = session.scalar(select(PostAction.id).where(
        PostAction.post_id == post.id, PostAction.user_id == viewer.user.id, PostAction.action_type == LIKE))
    if exists is not None:
        raise Conflict(_("You have already liked this post."))
    session.add(PostAction(post_id=post.id, user_id=viewer.user.id, action_type=LIKE))
    _shift_likes(session, post, topic, +1)
    notifications.on_liked(session, post, topic, viewer.user)
    return post


def unlike_post(session: Session, viewer: Viewer, *, post_id: int) -> Post:
    post, topic = get_post(session, post_id)
    permissions.ensure_can_see_post(session, viewer, post, topic)
    if viewer.user is None:
        raise NotFound()
    topic = lock_topic(session, topic.id)
    action = session.scalar(select(PostAction).where(
        PostAction.post_id == post.id, PostAction.user_id == viewer.user.id, PostAction.action_type == LIKE))
    if action is None:
        raise NotFound(_("You have not liked this post."))
    session.delete(action)
    _shift_likes(session, post, topic, -1)
    return post


def _shift_likes(session: Session, post: Post, topic: Topic, delta: int) -> None:
    session.flush()
    session.execute(update(Topic).where(Topic.id == topic.id).values(like_count=Topic.like_count + delta),
                    execution_options=_NO_SYNC)
    session.execute(update(Post).where(Post.id == post.id).values(like_count=Post.like_count + delta),
                    execution_options=_NO_SYNC)
    session.expire(post)
    session.expire(topic)


def liked_post_ids(session: Session, viewer: Viewer, post_ids: list[int]) -> set[int]:
    if viewer.user is None or not post_ids:
        return set()
    return set(session.scalars(select(PostAction.post_id).where(
        PostAction.user_id == viewer.user.id, PostAction.action_type == LIKE, PostAction.post_id.in_(post_ids))))
