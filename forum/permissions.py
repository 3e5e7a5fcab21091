"""Who may see, reply, start topics, edit and moderate: the one place that decides.

Rules, in the order they are applied:

1. Staff (moderators and admins) may do everything; they also see deleted and unlisted content.
2. A viewer's level in a category is the highest of the `everyone` level and, for a signed-in
   viewer, the level of their tier (`participant`, `worker`, `member`).
   Levels are ordered none < see < reply < create.
3. A subcategory is visible only where its parent is visible too.
4. A topic is visible when its category is and it is not deleted. Unlisted topics are reachable
   by direct link but never listed.
5. Replying needs `reply` in the category and an open, unarchived topic; starting a topic needs
   `create`. Anonymous visitors never write.
6. Authors edit and delete their own posts unless the topic is archived; nobody likes their own post.

Everything hidden answers NotFound (404), exactly as something missing does. Listings never loop
over rows to filter them: they add `visible_topics_clause()` to their query.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import ColumnElement, and_, select, true
from sqlalchemy.orm import Session

from forum.errors import Forbidden, LoginRequired, NotFound
from forum.i18n import _
from forum.models import CREATE, NONE, REPLY, SEE, Category, Post, Topic, User
from forum.models.api import ALL_FEEDS, ApiKey, FeedToken


@dataclass
class Viewer:
    """The person making a request: a signed-in user or an anonymous visitor."""

    user: User | None = None
    _category_levels: dict[int, int] | None = field(default=None, repr=False)

    @property
    def is_anonymous(self) -> bool:
        return self.user is None

    @property
    def id(self) -> int | None:
        return self.user.id if self.user else None

    @property
    def tier(self) -> str | None:
        return self.user.tier if self.user else None

    @property
    def is_staff(self) -> bool:
        return bool(self.user and self.user.is_staff)

    @property
    def is_admin(self) -> bool:
        return bool(self.user and self.user.is_admin)


ANONYMOUS = Viewer()


def level_in(viewer: Viewer, category: Category) -> int:
    """The viewer's own level in one category, ignoring its parent."""
    if viewer.is_staff:
        return CREATE
    level = category.level_everyone
    if viewer.user is not None:
        level = max(level, category.level_for(viewer.user.tier))
    return level


def category_levels(session: Session, viewer: Viewer) -> dict[int, int]:
    """Level per category id for this viewer, with parents applied; cached on the viewer.

    Categories are few (tens), so one small query per request is cheaper and safer than joins.
    """
    if viewer._category_levels is None:
        categories = session.scalars(select(Category)).all()
        own = {c.id: level_in(viewer, c) for c in categories}
        levels: dict[int, int] = {}
        for c in categories:
            level = own[c.id]
            if c.parent_id is not None and own.get(c.parent_id, NONE) < SEE:
                level = NONE
            levels[c.id] = level
        viewer._category_levels = levels
    return viewer._category_levels


def visible_category_ids(session: Session, viewer: Viewer) -> list[int]:
    return sorted(cid for cid, level in category_levels(session, viewer).items() if level >= SEE)


def visible_topics_clause(session: Session, viewer: Viewer, *, listed_only: bool = True) -> ColumnElement[bool]:
    """WHERE clause restricting Topic rows to those the viewer may see (and, by default, that are listed)."""
    if viewer.is_staff:
        return true() if not listed_only else Topic.visible.is_(True)
    clauses = [Topic.category_id.in_(visible_category_ids(session, viewer)), Topic.deleted_at.is_(None)]
    if listed_only:
        clauses.append(Topic.visible.is_(True))
    return and_(*clauses)


def visible_posts_clause(session: Session, viewer: Viewer) -> ColumnElement[bool]:
    """For queries that join Post to Topic: posts the viewer may see, in topics they may see."""
    if viewer.is_staff:
        return true()
    return and_(
        visible_topics_clause(session, viewer, listed_only=True),
        Post.deleted_at.is_(None),
        Post.hidden.is_(False),
    )


# --- categories -------------------------------------------------------------------------------

def can_see_category(session: Session, viewer: Viewer, category: Category) -> bool:
    return category_levels(session, viewer).get(category.id, NONE) >= SEE


def ensure_can_see_category(session: Session, viewer: Viewer, category: Category | None) -> Category:
    if category is None or not can_see_category(session, viewer, category):
        raise NotFound()
    return category


def can_create_topic(session: Session, viewer: Viewer, category: Category) -> bool:
    return not viewer.is_anonymous and category_levels(session, viewer).get(category.id, NONE) >= CREATE


def ensure_can_create_topic(session: Session, viewer: Viewer, category: Category | None) -> Category:
    if viewer.is_anonymous:
        raise LoginRequired()
    ensure_can_see_category(session, viewer, category)
    assert category is not None
    if not can_create_topic(session, viewer, category):
        raise Forbidden(_("You may not start topics in this category."))
    return category


def creatable_categories(session: Session, viewer: Viewer) -> list[Category]:
    if viewer.is_anonymous:
        return []
    levels = category_levels(session, viewer)
    ids = [cid for cid, level in levels.items() if level >= CREATE]
    if not ids:
        return []
    return list(session.scalars(select(Category).where(Category.id.in_(ids)).order_by(Category.position, Category.id)))


# --- topics -----------------------------------------------------------------------------------

def can_see_topic(session: Session, viewer: Viewer, topic: Topic) -> bool:
    if viewer.is_staff:
        return True
    if topic.deleted_at is not None:
        return False
    return category_levels(session, viewer).get(topic.category_id, NONE) >= SEE


def ensure_can_see_topic(session: Session, viewer: Viewer, topic: Topic | None) -> Topic:
    if topic is None or not can_see_topic(session, viewer, topic):
        raise NotFound()
    return topic


def reply_refusal(session: Session, viewer: Viewer, topic: Topic) -> str | None:
    """Why this viewer may not reply to a topic they can see, or None when they may."""
    if viewer.is_anonymous:
        return _("You need to be logged in to reply.")
    if topic.deleted_at is not None:
        return _("This topic has been deleted.")
    if viewer.is_staff:
        return None
    if topic.archived:
        return _("This topic is archived; it no longer takes replies.")
    if topic.closed:
        return _("This topic is closed; it no longer takes replies.")
    if category_levels(session, viewer).get(topic.category_id, NONE) < REPLY:
        return _("You may read this category but not reply in it.")
    return None


def can_reply_topic(session: Session, viewer: Viewer, topic: Topic) -> bool:
    return can_see_topic(session, viewer, topic) and reply_refusal(session, viewer, topic) is None


def ensure_can_reply_topic(session: Session, viewer: Viewer, topic: Topic | None) -> Topic:
    ensure_can_see_topic(session, viewer, topic)
    assert topic is not None
    why = reply_refusal(session, viewer, topic)
    if why is not None:
        raise LoginRequired(why) if viewer.is_anonymous else Forbidden(why)
    return topic


# --- posts ------------------------------------------------------------------------------------

def can_see_post(session: Session, viewer: Viewer, post: Post, topic: Topic) -> bool:
    if not can_see_topic(session, viewer, topic):
        return False
    return viewer.is_staff or post.deleted_at is None or post.user_id == viewer.id


def ensure_can_see_post(session: Session, viewer: Viewer, post: Post | None, topic: Topic | None) -> Post:
    if post is None or topic is None or not can_see_post(session, viewer, post, topic):
        raise NotFound()
    return post


def can_edit_post(session: Session, viewer: Viewer, post: Post, topic: Topic) -> bool:
    if viewer.is_anonymous or post.deleted_at is not None or not can_see_topic(session, viewer, topic):
        return False
    if viewer.is_staff:
        return True
    return post.user_id == viewer.id and not topic.archived


def ensure_can_edit_post(session: Session, viewer: Viewer, post: Post, topic: Topic) -> None:
    ensure_can_see_post(session, viewer, post, topic)
    if viewer.is_anonymous:
        raise LoginRequired()
    if not can_edit_post(session, viewer, post, topic):
        raise Forbidden(_("You may not edit this post."))


def can_delete_post(session: Session, viewer: Viewer, post: Post, topic: Topic) -> bool:
    return can_edit_post(session, viewer, post, topic)


def ensure_can_delete_post(session: Session, viewer: Viewer, post: Post, topic: Topic) -> None:
    ensure_can_see_post(session, viewer, post, topic)
    if viewer.is_anonymous:
        raise LoginRequired()
    if not can_delete_post(session, viewer, post, topic):
        raise Forbidden(_("You may not delete this post."))


def can_like_post(session: Session, viewer: Viewer, post: Post, topic: Topic) -> bool:
    return (
        not viewer.is_anonymous
        and post.user_id != viewer.id
        and post.deleted_at is None
        and not topic.archived
        and can_see_topic(session, viewer, topic)
    )


def ensure_can_like_post(session: Session, viewer: Viewer, post: Post, topic: Topic) -> None:
    ensure_can_see_post(session, viewer, post, topic)
    if viewer.is_anonymous:
        raise LoginRequired()
    if post.user_id == viewer.id:
        raise Forbidden(_("You cannot like your own post."))
    if not can_like_post(session, viewer, post, topic):
        raise Forbidden(_("You may not like this post."))


# --- users and staff --------------------------------------------------------------------------

def can_moderate(viewer: Viewer) -> bool:
    return viewer.is_staff


def ensure_can_moderate(viewer: Viewer) -> None:
    # Staff pages look missing to everyone else.
    if not viewer.is_staff:
        raise NotFound()


def can_administer(viewer: Viewer) -> bool:
    return viewer.is_admin


def ensure_can_administer(viewer: Viewer) -> None:
    if not viewer.is_admin:
        raise NotFound()


def can_grant_staff(viewer: Viewer) -> bool:
    return viewer.is_admin


# --- audiences: who may see a topic or post, as a filter on accounts ---------------------------
# Notifications, emails, digests and "seen by N of M" ask the reverse question: not what one viewer
# sees, but which accounts see one thing. The answer follows the same rules as level_in() and
# category_levels(), as a WHERE clause on User so that it costs one query for any number of people.

AUDIENCE_TIERS = ("participant", "worker", "member")


def tiers_that_see_category(session: Session, category_id: int) -> list[str]:
    """The tiers whose (non-staff) accounts may see a category, its parent applied."""
    category = session.get(Category, category_id)
    if category is None:
        return []
    chain = [category]
    if category.parent_id is not None:
        parent = session.get(Category, category.parent_id)
        if parent is None:
            return []
        chain.append(parent)
    return [tier for tier in AUDIENCE_TIERS
            if all(max(c.level_everyone, c.level_for(tier)) >= SEE for c in chain)]


def staff_clause() -> ColumnElement[bool]:
    return User.is_admin.is_(True) | User.is_moderator.is_(True)


def audience_clause(session: Session, topic: Topic, post: Post | None = None) -> ColumnElement[bool]:
    """WHERE clause on User: the accounts that may read this topic (and this post of it) now."""
    if topic.deleted_at is not None or (post is not None and (post.deleted_at is not None or post.hidden)):
        return staff_clause()
    tiers = tiers_that_see_category(session, topic.category_id)
    return (staff_clause() | User.tier.in_(tiers)) if tiers else staff_clause()


def readable_posts_clause(viewer: Viewer) -> ColumnElement[bool]:
    """For a query that already restricts topics: posts whose text the viewer may read."""
    if viewer.is_staff:
        return true()
    return and_(Post.deleted_at.is_(None), Post.hidden.is_(False))


# --- posts within a topic, for the API and feeds ----------------------------------------------

def visible_posts_in_topic_clause(viewer: Viewer) -> ColumnElement[bool]:
    """For posts of one topic the viewer may see: staff see every post, others not deleted or hidden ones."""
    if viewer.is_staff:
        return true()
    return and_(Post.deleted_at.is_(None), Post.hidden.is_(False))


def can_read_post(session: Session, viewer: Viewer, post: Post, topic: Topic) -> bool:
    """May the viewer read this post's text (through the API or a feed)? Deleted and hidden posts: staff only."""
    if not can_see_topic(session, viewer, topic):
        return False
    return viewer.is_staff or (post.deleted_at is None and not post.hidden)


def ensure_can_read_post(session: Session, viewer: Viewer, post: Post | None, topic: Topic | None) -> Post:
    if post is None or topic is None or not can_read_post(session, viewer, post, topic):
        raise NotFound()
    return post


# --- API keys and feed tokens -----------------------------------------------------------------

def can_manage_api_keys(viewer: Viewer) -> bool:
    return viewer.is_admin


def ensure_can_manage_api_keys(viewer: Viewer) -> None:
    if not can_manage_api_keys(viewer):
        raise NotFound()


def api_key_may_act_as(key: ApiKey, user: User) -> bool:
    """A revoked key acts as nobody; a single-user key only as its user; an all-users key as anyone."""
    if key.revoked_at is not None:
        return False
    return key.user_id is None or key.user_id == user.id


def feed_token_opens(token: FeedToken, feed_scope: str) -> bool:
    """A feed token opens all its owner's feeds or the one feed it was made for; never pages or the API."""
    return token.scope == ALL_FEEDS or token.scope == feed_scope
