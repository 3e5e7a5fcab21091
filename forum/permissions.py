"""Who may see, reply, start topics, edit and moderate: the one place that decides.

Rules, in the order they are applied:

1. Staff (moderators and admins) may do everything; they also see deleted and unlisted content
   (`sees_as_staff()`): they open deleted topics by their address and list deleted and unlisted ones
   (`can_see_deleted_topics()`, `can_see_unlisted_topics()`), and ask a topic for the deleted posts of
   others too (`can_see_deleted_posts()`, Discourse's `show_deleted`). Pages drawn once for many
   readers are drawn per audience: staff, or everyone else by the categories they see.
2. A viewer's level in a category is the highest of the `everyone` level and, for a signed-in
   viewer, the level of their tier (`participant`, `worker`, `member`).
   Levels are ordered none < see < reply < create.
3. A subcategory is visible only where its parent is visible too.
4. A topic is visible when its category is and it is not deleted. Unlisted topics are reachable
   by direct link but never listed.
5. Replying needs `reply` in the category and an open, unarchived topic; starting a topic needs
   `create`. Anonymous visitors never write.
6. Authors edit and delete their own posts unless the topic is archived; nobody likes their own post.
7. Suspended accounts and sign-ups awaiting approval cannot log in; silenced accounts read but never
   write (no topics, replies or edits). This holds for staff too.
8. A deleted post, and a post hidden by moderators or by community flags, is read only by staff and
   its author, who see it marked as deleted or hidden (`post_display()`). Everyone else gets a
   "post deleted" or "post hidden" placeholder at its place in the topic page (post numbers never
   shift) and its text nowhere: not in the JSON, search, feeds, activity, emails or notifications,
   which all ask `post_display()`, `can_read_post()` or its query form `readable_posts_clause()`.
   Any signed-in user may flag a post they can read, once, except their own. Staff restore deleted
   posts (`can_recover_post()`).
9. Slow mode limits how often one person replies in a topic; new participants wait a minimum time
   between posts (per category and site-wide). Staff are exempt, and from the per-minute and
   per-hour posting limits too (`exempt_from_post_limits()`), and from the refusal of the same text
   twice within minutes (`exempt_from_duplicate_check()`).
10. Moderators act on users who are not staff; only admins act on moderators, and only admins
   grant or revoke staff roles (`can_change_role()`) and set the site policy (`can_administer()`).
   Staff pages, and the links to them, are for those who moderate (`can_moderate()`). What staff do
   to someone else's post, and every invitation they make or revoke, goes into the moderation log
   (`is_moderation_act()`). Staff create accounts through the API directly, approved, past
   invitation-only and approval modes (`creates_approved_accounts()`); sign-ups awaiting approval
   are announced to staff (`staff_clause()`).
11. Inviting is open to tiers with a quota and to staff (`may_invite()`); staff invite to any tier
   without a quota, others to their own tier or a lower one (`invitable_tiers()`). An invitation is
   managed (seen, revoked) by whoever made it and by staff (`can_manage_invitation()`).
12. Polls, proposals and events are parts of their post and topic and are seen with them. A poll's
   results show as its author chose: always, once one has voted, once it closes, or to staff only
   (`can_see_poll_results()`).

13. A private message (a topic with archetype "private_message" and no category) is seen only by
   the people allowed in it and the members of the groups allowed in it (`can_see_private_message()`;
   the `moderators` group's members are the staff). Nobody else sees it, staff included, except a
   staff member who opened it from the review queue because one of its posts is flagged: that reach
   is written to the moderation log first, and only then opens it (`staff_reached_message()`), to
   read, never to change anything in it (`only_reached_message()`). Lists, counts, search, feeds and
   activity never list messages (`visible_topics_clause()` leaves them out); the inbox and an
   `in:messages` search list one's own with `private_messages_clause()`; notifications and emails
   reach only the people in them (`audience_clause()`).

14. A tag is seen by staff always. Anyone else sees a tag that is on a topic they may see listed,
   and a tag on no topic yet where no category limits it or a category they see allows it; a tag
   whose topics are all hidden from them is itself hidden (404, left out of /tags). Its count is the
   number of its topics they see (`visible_tags()`). Tagging a new topic needs the right to start it
   there (`can_tag_topic()`); retagging is for staff and the topic's author who may still edit it
   (`can_retag_topic()`); defining tags, groups and where they may be used is for staff
   (`can_manage_tags()`), who alone may also bring a tag into being by naming it on a topic.

15. Bookmarks are their owner's alone: nobody else, staff included, sees someone's bookmarks or
   learns they exist (`can_see_bookmarks()`). A bookmark is made only on a post or topic its owner
   may read (`can_bookmark()`); once they may no longer read it, the bookmark keeps nothing of it in
   lists, the API, reminders or emails (`readable_bookmarks_clause()`).

16. Anyone signed in who may write may follow another person who may sign in (`follow_refusal()`);
   whom someone follows, and who follows them, is theirs and staff's to see (`can_see_follows()`).
   A person who takes messages only from people they follow (rule 13's `message_refusal_for_user()`)
   takes them from exactly those, and from staff.

17. A person's data is theirs: "Download my data" gives them what they wrote, chose and kept, and of
   anything else only what they may read now (`can_see_topic()`, `can_read_post()`): a like, vote or
   bookmark on something hidden from them since carries its identifiers, never its text; of private
   messages, those they are in now (`private_messages_clause()`), not those they have left. The link
   to the archive opens for them alone (`can_download_export()`). Anonymising an account or
   deleting it with its posts is for staff, on the accounts rule 10 lets them act on
   (`can_moderate_user()`), and goes into the moderation log.

Everything hidden answers NotFound (404), exactly as something missing does. Listings never loop
over rows to filter them: they add `visible_topics_clause()` (and `readable_posts_clause()`, or both
at once with `visible_posts_clause()`) to their query. Emails and notifications ask the reverse
question, which accounts may read a thing, with `audience_clause()`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import ColumnElement, and_, bindparam, false, func, or_, select, true
from sqlalchemy.orm import Session

from forum.errors import Forbidden, LoginRequired, NotFound, RateLimited
from forum.i18n import _
from forum.models import (
    CREATE,
    NONE,
    REPLY,
    SEE,
    TIERS,
    Category,
    Post,
    PostUpload,
    Topic,
    User,
    UserOption,
    utcnow,
)
from forum.models.api import ALL_FEEDS, ApiKey, FeedToken
from forum.models.follows import UserFollow
from forum.models.messages import (
    MESSAGEABLE_EVERYONE,
    MESSAGEABLE_MEMBERS,
    MODERATORS_GROUP,
    PRIVATE_MESSAGE,
    Group,
    GroupUser,
    TopicAllowedGroup,
    TopicAllowedUser,
)
from forum.models.moderation import Flag, ModerationLog


@dataclass
class Viewer:
    """The person making a request: a signed-in user or an anonymous visitor."""

    user: User | None = None
    _category_levels: dict[int, int] | None = field(default=None, repr=False)
    _categories: list[Category] = field(default_factory=list, repr=False)

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
        categories = viewer._categories = list(session.scalars(select(Category)))
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
        # Staff open deleted topics by their address; lists leave them out, as Discourse's do.
        # Private messages (no category) are never in this clause: rule 13.
        in_category = Topic.category_id.is_not(None)
        return in_category if not listed_only else and_(in_category, Topic.visible.is_(True),
                                                        Topic.deleted_at.is_(None))
    # Private messages have no category, so the category test leaves them out (rule 13).
    clauses = [Topic.category_id.in_(visible_category_ids(session, viewer)), Topic.deleted_at.is_(None)]
    if listed_only:
        clauses.append(Topic.visible.is_(True))
    return and_(*clauses)


def visible_topics_template(staff: bool, *, listed_only: bool = True) -> ColumnElement[bool]:
    """visible_topics_clause() for statements built once and run many times: the categories are a
    parameter, given by visible_topics_params() for each viewer."""
    if staff:
        in_category = Topic.category_id.is_not(None)
        return and_(in_category, Topic.visible.is_(True), Topic.deleted_at.is_(None)) if listed_only else in_category
    clauses = [Topic.category_id.in_(bindparam("visible_category_ids", expanding=True)), Topic.deleted_at.is_(None)]
    if listed_only:
        clauses.append(Topic.visible.is_(True))
    return and_(*clauses)


def visible_topics_params(session: Session, viewer: Viewer) -> dict[str, list[int]]:
    return {} if viewer.is_staff else {"visible_category_ids": visible_category_ids(session, viewer)}


def visible_posts_clause(session: Session, viewer: Viewer) -> ColumnElement[bool]:
    """For queries that join Post to Topic: posts the viewer may see, in topics they may see."""
    if viewer.is_staff:
        return Topic.category_id.is_not(None)  # every post, but none of private messages (rule 13)
    return and_(visible_topics_clause(session, viewer, listed_only=True), readable_posts_clause(viewer))


# --- categories -------------------------------------------------------------------------------

def _all_categories(session: Session, viewer: Viewer) -> list[Category]:
    category_levels(session, viewer)
    categories = viewer._categories
    if not categories or categories[0] not in session:  # loaded by another (perhaps closed) session
        categories = viewer._categories = list(session.scalars(select(Category)))
    return categories


def visible_categories(session: Session, viewer: Viewer) -> list[Category]:
    """The categories the viewer may see, parents applied, in the order pages list them."""
    levels = category_levels(session, viewer)
    return sorted((c for c in _all_categories(session, viewer) if levels.get(c.id, NONE) >= SEE),
                  key=lambda c: (c.position, c.id))


def can_see_category(session: Session, viewer: Viewer, category: Category) -> bool:
    return category_levels(session, viewer).get(category.id, NONE) >= SEE


def ensure_can_see_category(session: Session, viewer: Viewer, category: Category | None) -> Category:
    if category is None or not can_see_category(session, viewer, category):
        raise NotFound()
    return category


def can_create_topic(session: Session, viewer: Viewer, category: Category) -> bool:
    return (not viewer.is_anonymous and posting_refusal(viewer) is None
            and category_levels(session, viewer).get(category.id, NONE) >= CREATE)


def ensure_can_create_topic(session: Session, viewer: Viewer, category: Category | None) -> Category:
    if viewer.is_anonymous:
        raise LoginRequired()
    ensure_can_see_category(session, viewer, category)
    assert category is not None
    why = posting_refusal(viewer)
    if why is not None:
        raise Forbidden(why)
    if not can_create_topic(session, viewer, category):
        raise Forbidden(_("You may not start topics in this category."))
    return category


def creatable_categories(session: Session, viewer: Viewer) -> list[Category]:
    if viewer.is_anonymous or posting_refusal(viewer) is not None:
        return []
    levels = category_levels(session, viewer)
    return sorted((c for c in _all_categories(session, viewer) if levels.get(c.id, NONE) >= CREATE),
                  key=lambda c: (c.position, c.id))


# --- topics -----------------------------------------------------------------------------------

def can_see_topic(session: Session, viewer: Viewer, topic: Topic) -> bool:
    if topic.archetype == PRIVATE_MESSAGE or topic.category_id is None:
        return can_see_private_message(session, viewer, topic)
    if viewer.is_staff:
        return True
    if topic.deleted_at is not None:
        return False
    return category_levels(session, viewer).get(topic.category_id, NONE) >= SEE


def can_receive_live_change(session: Session, viewer: Viewer, topic: Topic, *, in_list: bool = False) -> bool:
    """Live updates (forum/live.py): a change in a topic reaches an open page only while its viewer
    may see the topic, decided when it is delivered; a list is told only of topics it would list."""
    if not can_see_topic(session, viewer, topic):
        return False
    # Lists never show private messages (rule 13), so they are never told of one.
    return not in_list or (topic.visible and topic.deleted_at is None and topic.category_id is not None)


def can_announce_presence(session: Session, viewer: Viewer, topic: Topic) -> bool:
    """Whether "… is replying" is told for this person in this topic: they may reply there and have
    not chosen to stay unseen (who is told is decided per reader, as for any live change)."""

    if viewer.user is None or not can_reply_topic(session, viewer, topic):
        return False
    options = session.get(UserOption, viewer.user.id)
    return options is None or not options.hide_presence


def sees_as_staff(viewer: Viewer) -> bool:
    """Whether the viewer sees the forum as staff do (rule 1): statements built once and shared
    renderings of pages are made per audience, this one or everyone else's."""
    return viewer.is_staff


def can_see_deleted_topics(viewer: Viewer) -> bool:
    """Whether the viewer may open deleted topics and list them (Discourse's `status=deleted`)."""
    return viewer.is_staff


def can_see_unlisted_topics(viewer: Viewer) -> bool:
    """Whether the viewer may list unlisted topics (Discourse's `status=unlisted`); anyone may open
    one by its address."""
    return viewer.is_staff


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
    silenced = posting_refusal(viewer)
    if silenced is not None:
        return silenced
    if topic.category_id is None and not is_in_private_message(session, viewer, topic):
        # Staff who reached a flagged message read it; only its people write in it (rule 13).
        return _("You are not in this conversation.")
    if viewer.is_staff:
        return None
    if topic.archived:
        return _("This topic is archived; it no longer takes replies.")
    if topic.closed:
        return _("This topic is closed; it no longer takes replies.")
    if topic.category_id is None:
        return None
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


def can_keep_draft(session: Session, viewer: Viewer, topic: Topic | None) -> bool:
    """Whether the viewer may keep, read back or list a draft: a new-topic draft (topic None) or a
    reply draft in a topic they may see now. A draft is its author's alone; nobody else reads it."""
    if viewer.is_anonymous:
        return False
    return topic is None or can_see_topic(session, viewer, topic)


def ensure_can_keep_draft(session: Session, viewer: Viewer, topic: Topic | None) -> None:
    if viewer.is_anonymous:
        raise LoginRequired()
    if not can_keep_draft(session, viewer, topic):
        raise NotFound()


# --- files ------------------------------------------------------------------------------------

def ensure_can_upload(viewer: Viewer) -> None:
    """Attaching files: anyone signed in who may post now (not silenced or suspended)."""
    if viewer.is_anonymous:
        raise LoginRequired()
    why = posting_refusal(viewer)
    if why is not None:
        raise Forbidden(why)


def upload_tier(viewer: Viewer) -> str | None:
    """Whose list of allowed kinds of file applies: the viewer's tier; staff attach as members do."""
    return "member" if viewer.is_staff else viewer.tier


def exempt_from_upload_quota(viewer: Viewer) -> bool:
    return viewer.is_staff


def can_fetch_upload(session: Session, viewer: Viewer, upload) -> bool:
    """A file is exactly as visible as the posts that hold it: whoever may read at least one post
    referring to it (in a topic they may see, deleted or hidden posts only for their author), its
    uploader, and staff. Follows every change of topic, category, post or tier at once."""
    if viewer.id is not None and upload.user_id == viewer.id:
        return True
    holders = select(PostUpload.post_id).join(Post, Post.id == PostUpload.post_id).join(
        Topic, Topic.id == Post.topic_id).where(PostUpload.upload_id == upload.id)
    if viewer.is_staff:
        # Everything, except a file that only private messages hold, unless they are in one (rule 13).
        in_messages_only = session.scalar(holders.where(Topic.category_id.is_(None)).limit(1)) is not None and \
            session.scalar(holders.where(Topic.category_id.is_not(None)).limit(1)) is None
        if not in_messages_only:
            return True
    return session.scalar(
        holders.where(or_(visible_topics_clause(session, viewer, listed_only=False), private_messages_clause(viewer)),
                      readable_posts_clause(viewer), Post.deleted_at.is_(None)).limit(1)) is not None


# --- posts ------------------------------------------------------------------------------------

class PostDisplay(StrEnum):
    """How a post of a topic the viewer may see is shown to them."""

    FULL = "full"
    DELETED_MARKED = "deleted_marked"  # its text, marked as deleted: its author and staff
    HIDDEN_MARKED = "hidden_marked"  # its text, marked as hidden: its author and staff
    PLACEHOLDER = "placeholder"  # "post deleted" / "post hidden" at its place, never its text


def post_display(viewer: Viewer, post) -> PostDisplay:
    """The deleted and hidden post rule (rule 8), for a post of a topic the viewer may see.

    `post` needs user_id, deleted_at and hidden (a Post, or a page's summary of one). A post both
    deleted and hidden shows as deleted: that is what happened to it last, and it is final."""
    gone = post.deleted_at is not None
    if not gone and not post.hidden:
        return PostDisplay.FULL
    if viewer.is_staff or (viewer.id is not None and post.user_id == viewer.id):
        return PostDisplay.DELETED_MARKED if gone else PostDisplay.HIDDEN_MARKED
    return PostDisplay.PLACEHOLDER


def readable_posts_clause(viewer: Viewer | bool) -> ColumnElement[bool]:
    """post_display() as a WHERE clause on Post, for a query that already restricts topics: the
    posts whose text the viewer may read. `True` stands for staff; `False` for any signed-in reader
    of a statement built once (forum/notifications.py), who is then the `reader` parameter."""
    if viewer is True or (isinstance(viewer, Viewer) and viewer.is_staff):
        return true()
    published = and_(Post.deleted_at.is_(None), Post.hidden.is_(False))
    if viewer is False:
        return or_(published, Post.user_id == bindparam("reader"))
    if viewer.id is None:
        return published
    return or_(published, Post.user_id == viewer.id)


def can_read_post(session: Session, viewer: Viewer, post: Post, topic: Topic) -> bool:
    """May the viewer read this post's text, on any page, in the API, a feed, an email?"""
    return can_see_topic(session, viewer, topic) and post_display(viewer, post) is not PostDisplay.PLACEHOLDER


def ensure_can_read_post(session: Session, viewer: Viewer, post: Post | None, topic: Topic | None) -> Post:
    if post is None or topic is None or not can_read_post(session, viewer, post, topic):
        raise NotFound()
    return post


def can_see_deleted_posts(viewer: Viewer) -> bool:
    """Whether the viewer may ask a topic for the deleted posts of others (Discourse's
    `show_deleted`); an author's own deleted posts are in it anyway."""
    return viewer.is_staff


def can_recover_post(viewer: Viewer, post) -> bool:
    """Staff restore a deleted post (and, restoring its first post, a deleted topic)."""
    return viewer.is_staff and post.deleted_at is not None


# A post is seen exactly when it is read: there is no post one may know of but not read, apart from
# its placeholder in a topic page.
can_see_post = can_read_post
ensure_can_see_post = ensure_can_read_post


def can_edit_post(session: Session, viewer: Viewer, post: Post, topic: Topic) -> bool:
    return post_actions(session, viewer, topic, [post])[post.id].edit


def ensure_can_edit_post(session: Session, viewer: Viewer, post: Post, topic: Topic) -> None:
    ensure_can_see_post(session, viewer, post, topic)
    if viewer.is_anonymous:
        raise LoginRequired()
    why = posting_refusal(viewer)
    if why is not None:
        raise Forbidden(why)
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


def can_flag_topic(session: Session, viewer: Viewer, topic: Topic) -> bool:
    """Flagging a topic is flagging what it says: signed in, able to write, in a topic one sees that
    is not deleted (the same conditions as flagging a post of it, rule 8)."""
    return (viewer.user is not None and topic.deleted_at is None and can_see_topic(session, viewer, topic)
            and posting_refusal(viewer) is None)


def can_like_post(session: Session, viewer: Viewer, post: Post, topic: Topic) -> bool:
    return post_actions(session, viewer, topic, [post])[post.id].like


@dataclass
class PostActions:
    like: bool
    edit: bool  # and delete
    flag: bool


def post_actions(session: Session, viewer: Viewer, topic: Topic, posts) -> dict[int, PostActions]:
    """What the viewer may do with each of these posts of one topic (the rules of can_like_post,
    can_edit_post and can_flag_post, which ask this), the topic's part decided once for a page.

    `posts` needs id, user_id, deleted_at and hidden (a Post, or a page's summary of one)."""
    sees_topic = can_see_topic(session, viewer, topic)
    signed_in = viewer.user is not None and not only_reached_message(session, viewer, topic)
    writes = signed_in and sees_topic and posting_refusal(viewer) is None
    staff = viewer.is_staff
    actions = {}
    for post in posts:
        own = signed_in and post.user_id == viewer.id
        gone = post.deleted_at is not None
        readable = post_display(viewer, post) is not PostDisplay.PLACEHOLDER
        actions[post.id] = PostActions(
            like=signed_in and sees_topic and not own and not gone and not post.hidden and not topic.archived,
            edit=writes and not gone and (staff or (own and not topic.archived)),
            flag=writes and not own and not gone and readable,
        )
    return actions


def ensure_can_like_post(session: Session, viewer: Viewer, post: Post, topic: Topic) -> None:
    ensure_can_see_post(session, viewer, post, topic)
    if viewer.is_anonymous:
        raise LoginRequired()
    if post.user_id == viewer.id:
        raise Forbidden(_("You cannot like your own post."))
    if not can_like_post(session, viewer, post, topic):
        raise Forbidden(_("You may not like this post."))


# --- translations of posts --------------------------------------------------------------------
# A translation belongs to its post: whoever may read the post reads its translations, on every
# surface; writing one is writing in the post's topic.

def can_translate_post(session: Session, viewer: Viewer, post: Post, topic: Topic) -> bool:
    """Signed in, able to reply in the topic, and the post is there for everyone to read."""
    return (viewer.user is not None and post.deleted_at is None and not post.hidden
            and can_read_post(session, viewer, post, topic) and can_reply_topic(session, viewer, topic))


def ensure_can_translate_post(session: Session, viewer: Viewer, post: Post | None, topic: Topic | None) -> Post:
    post = ensure_can_read_post(session, viewer, post, topic)
    assert topic is not None
    if viewer.is_anonymous:
        raise LoginRequired()
    if post.deleted_at is not None or post.hidden:
        raise NotFound()
    refusal = reply_refusal(session, viewer, topic)
    if refusal is not None:
        raise Forbidden(refusal)
    return post


def can_edit_translation(session: Session, viewer: Viewer, translation, post: Post, topic: Topic) -> bool:
    """Its translator (while the topic is not archived) and staff, as for editing a post."""
    own = viewer.user is not None and translation.user_id == viewer.id
    return (viewer.user is not None and post.deleted_at is None and can_read_post(session, viewer, post, topic)
            and posting_refusal(viewer) is None and not only_reached_message(session, viewer, topic)
            and (viewer.is_staff or (own and not topic.archived)))


def ensure_can_edit_translation(session: Session, viewer: Viewer, translation, post: Post, topic: Topic) -> None:
    ensure_can_read_post(session, viewer, post, topic)
    if viewer.is_anonymous:
        raise LoginRequired()
    if not can_edit_translation(session, viewer, translation, post, topic):
        raise Forbidden(_("You may not edit this translation."))


def can_like_translation(session: Session, viewer: Viewer, translation, post: Post, topic: Topic) -> bool:
    """As a like of a post: signed in, not one's own, the post readable by all and the topic not archived."""
    return (viewer.user is not None and translation.user_id != viewer.id and post.deleted_at is None
            and not post.hidden and not topic.archived and can_see_topic(session, viewer, topic)
            and not only_reached_message(session, viewer, topic))


def ensure_can_like_translation(session: Session, viewer: Viewer, translation, post: Post, topic: Topic) -> None:
    ensure_can_read_post(session, viewer, post, topic)
    if viewer.is_anonymous:
        raise LoginRequired()
    if translation.user_id == viewer.id:
        raise Forbidden(_("You cannot like your own translation."))
    if not can_like_translation(session, viewer, translation, post, topic):
        raise Forbidden(_("You may not like this translation."))


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


def is_moderation_act(viewer: Viewer, owner_id: int | None = None) -> bool:
    """Whether something the viewer does is a moderator's act, written in the moderation log: staff
    acting on another person's post (`owner_id`, its author); staff making or revoking an invitation
    (no owner: who gets in is always staff's business)."""
    return viewer.is_staff and (owner_id is None or owner_id != viewer.id)


def creates_approved_accounts(viewer: Viewer) -> bool:
    """Staff creating accounts through the API, as Discourse's admin API does: approved at once, not
    held by invitation-only or approval modes."""
    return viewer.is_staff


def can_change_role(viewer: Viewer, target: User, role: str, *, grant: bool) -> bool:
    """Whether the viewer may grant `role` ("admin" or "moderator") to someone who lacks it, or revoke
    it from someone who has it (Discourse's can_grant_admin? and its siblings): admins, for others
    than themselves. An admin is a moderator as long as they are an admin."""
    if not can_grant_staff(viewer) or target.id == viewer.id:
        return False
    has = target.is_admin if role == "admin" else target.is_moderator
    if grant:
        return not has
    return has and (role == "admin" or not target.is_admin)


def can_moderate_user(viewer: Viewer, target: User) -> bool:
    """Staff act on ordinary accounts; only admins act on moderators; nobody on admins or themselves."""
    if not viewer.is_staff or target.id == viewer.id or target.is_admin:
        return False
    return viewer.is_admin or not target.is_moderator


def ensure_can_moderate_user(viewer: Viewer, target: User | None) -> User:
    ensure_can_moderate(viewer)
    if target is None:
        raise NotFound()
    if not can_moderate_user(viewer, target):
        raise Forbidden(_("You may not act on this account."))
    return target


def can_see_user(viewer: Viewer, user: User) -> bool:
    """Sign-ups awaiting approval (and deactivated accounts) are staff business; everyone else's
    profile, directory entry and tier membership are public, as on Discourse."""
    return viewer.is_staff or user.approved or user.id == viewer.id


def visible_users_clause(viewer: Viewer) -> ColumnElement[bool]:
    """can_see_user() as a WHERE clause on User, for lists of people (directory, group members)."""
    if viewer.is_staff:
        return true()
    return User.approved.is_(True)


def can_see_email(viewer: Viewer, user: User) -> bool:
    """An address is its owner's and staff's to see, never other members'."""
    return viewer.is_staff or (viewer.id is not None and viewer.id == user.id)


def can_receive_email(user: User, *, address_confirmed: bool) -> bool:
    """Whether the forum may write to this account at all: a confirmed address of an approved account."""
    return bool(user.email) and address_confirmed and user.approved


def can_see_private_profile(viewer: Viewer, user: User) -> bool:
    """A person's settings (email options, watched categories, sessions, language) are theirs and
    staff's to read, as Discourse's UserSerializer keeps them."""
    return viewer.is_staff or (viewer.id is not None and viewer.id == user.id)


def can_edit_profile(viewer: Viewer, user: User) -> bool:
    """Display name and language: one's own, or anyone's for staff (Discourse's can_edit_user?)."""
    return viewer.is_staff or (viewer.id is not None and viewer.id == user.id)


def ensure_can_edit_profile(viewer: Viewer, user: User) -> None:
    if not can_edit_profile(viewer, user):
        raise Forbidden()


def can_see_private_activity(viewer: Viewer, user: User) -> bool:
    """The likes a person received (and Discourse's other private user actions) are theirs and
    admins' to list, as in Discourse; what they did themselves is public, within what one may see."""
    return viewer.user is not None and (viewer.id == user.id or viewer.is_admin)


def preview_viewer(tier: str | None) -> Viewer:
    """Someone of this tier (None: a visitor who is not signed in), for staff to preview what they see."""
    if tier is None:
        return Viewer()
    if tier not in TIERS:
        raise NotFound()
    return Viewer(user=User(id=None, username=tier, username_lower=tier, tier=tier, is_admin=False,
                            is_moderator=False, approved=True))


# --- suspended, silenced and unapproved accounts ----------------------------------------------

def _in_force(until: datetime | None) -> bool:
    return until is not None and until > utcnow()


def _utc(value: datetime) -> str:
    return f"{value:%Y-%m-%d %H:%M} UTC"


def is_suspended(user: User) -> bool:
    return _in_force(user.suspended_until)


def is_silenced(user: User) -> bool:
    return _in_force(user.silenced_until)


def login_refusal(user: User) -> str | None:
    """Why this account may not log in or keep a session, or None when it may."""
    if not user.approved:
        return _("Your account is waiting for a moderator's approval.")
    if is_suspended(user):
        assert user.suspended_until is not None
        return _("This account is suspended until %(date)s. Reason: %(reason)s",
                 date=_utc(user.suspended_until), reason=user.suspend_reason or "-")
    return None


def ensure_can_log_in(user: User) -> None:
    why = login_refusal(user)
    if why is not None:
        raise Forbidden(why)


def posting_refusal(viewer: Viewer) -> str | None:
    """Why this signed-in viewer may not write at all (topics, replies, edits, flags), or None."""
    user = viewer.user
    if user is None:
        return None
    if is_suspended(user):
        return _("Your account is suspended.")
    if is_silenced(user):
        assert user.silenced_until is not None
        return _("You have been silenced until %(date)s: you can read, but not post.",
                 date=_utc(user.silenced_until))
    return None


def exempt_from_post_limits(viewer: Viewer) -> bool:
    """Staff are exempt from every limit on posting (slow mode, new participants' wait, posts per
    minute and topics per hour), as in Discourse: they answer floods, they do not make them."""
    return viewer.is_staff


def exempt_from_duplicate_check(viewer: Viewer) -> bool:
    """Staff may post the same text twice within the unique-post window: a moderator may well post
    the same notice in several topics."""
    return viewer.is_staff


def ensure_can_post_now(session: Session, viewer: Viewer, category: Category | None,
                        topic: Topic | None = None) -> None:
    """Slow mode in a topic, and the least time between posts of a new participant. Staff are exempt."""
    from forum import policy

    user = viewer.user
    if user is None or exempt_from_post_limits(viewer):
        return
    now = utcnow()
    if topic is not None and topic.slow_mode_seconds > 0:
        last = session.scalar(select(func.max(Post.created_at)).where(
            Post.topic_id == topic.id, Post.user_id == user.id))
        if last is not None:
            wait = (last + timedelta(seconds=topic.slow_mode_seconds) - now).total_seconds()
            if wait > 0:
                raise RateLimited(math.ceil(wait), _(
                    "This topic is in slow mode: one reply every %(interval)s seconds per person. "
                    "You may reply again in %(n)s seconds.", interval=topic.slow_mode_seconds, n=math.ceil(wait)))
    rules = policy.load(session)
    if user.tier != "participant" or user.created_at <= now - timedelta(days=rules.new_participant_days):
        return
    interval = max(rules.new_participant_post_interval,
                   category.new_participant_post_interval if category is not None else 0)
    if interval <= 0:
        return
    # Locking the author's row orders two posts sent at once (PostgreSQL; SQLite writers queue anyway).
    # FOR NO KEY UPDATE, the lock order's first step (forum/db.py), usually already held.
    last = session.scalar(select(User.last_posted_at).where(User.id == user.id).with_for_update(key_share=True))
    if last is not None:
        wait = (last + timedelta(seconds=interval) - now).total_seconds()
        if wait > 0:
            raise RateLimited(math.ceil(wait), _(
                "New participants wait %(interval)s seconds between posts here. "
                "You may post again in %(n)s seconds.", interval=interval, n=math.ceil(wait)))


# --- flags and invitations --------------------------------------------------------------------

def can_flag_post(session: Session, viewer: Viewer, post: Post, topic: Topic) -> bool:
    return post_actions(session, viewer, topic, [post])[post.id].flag


def ensure_can_flag_post(session: Session, viewer: Viewer, post: Post | None, topic: Topic | None) -> Post:
    ensure_can_see_post(session, viewer, post, topic)
    assert post is not None and topic is not None
    if viewer.is_anonymous:
        raise LoginRequired()
    if post.user_id == viewer.id:
        raise Forbidden(_("You cannot flag your own post."))
    why = posting_refusal(viewer)
    if why is not None:
        raise Forbidden(why)
    if not can_flag_post(session, viewer, post, topic):
        raise Forbidden(_("You may not flag this post."))
    return post


INVITE_WINDOW = timedelta(days=30)


def invitations_left(session: Session, viewer: Viewer) -> int | None:
    """How many more people the viewer may invite in the current 30 days; None means no limit (staff).

    The quota counts places, not links: an invitation for 3 people uses 3. A revoked or expired one
    keeps only the places that were used.
    """
    from forum import policy
    from forum.models import Invitation

    if viewer.user is None or posting_refusal(viewer) is not None:
        return 0
    if viewer.is_staff:
        return None
    quota = policy.load(session).invite_quota(viewer.user.tier)
    if quota <= 0:
        return 0
    now = utcnow()
    rows = session.execute(select(Invitation.max_uses, Invitation.uses, Invitation.revoked_at, Invitation.expires_at)
                           .where(Invitation.created_by_id == viewer.user.id,
                                  Invitation.created_at >= now - INVITE_WINDOW))
    used = sum(uses if revoked is not None or expires <= now else max(places, uses)
               for places, uses, revoked, expires in rows)
    return max(quota - used, 0)


def may_invite(session: Session, viewer: Viewer) -> bool:
    """Whether inviting is open to this viewer at all (their quota may still be used up)."""
    from forum import policy

    if viewer.user is None:
        return False
    return viewer.is_staff or policy.load(session).invite_quota(viewer.user.tier) > 0


def invitable_tiers(viewer: Viewer) -> tuple[str, ...]:
    """Staff invite to any tier; others to their own tier or a lower one."""
    if viewer.user is None:
        return ()
    if viewer.is_staff:
        return TIERS
    return TIERS[: TIERS.index(viewer.user.tier) + 1] if viewer.user.tier in TIERS else ()


def can_manage_invitation(viewer: Viewer, invitation) -> bool:
    """An invitation is its maker's and staff's to see and revoke."""
    return viewer.user is not None and (viewer.is_staff or invitation.created_by_id == viewer.user.id)


def ensure_can_invite(session: Session, viewer: Viewer) -> None:
    if viewer.is_anonymous:
        raise LoginRequired()
    if not may_invite(session, viewer):
        raise NotFound()
    why = posting_refusal(viewer)
    if why is not None:
        raise Forbidden(why)
    if invitations_left(session, viewer) == 0:
        raise Forbidden(_("You have used all your invitations for the last 30 days."))


# --- audiences: who may see a topic or post, as a filter on accounts ---------------------------
# Notifications, emails, digests and "seen by N of M" ask the reverse question: not what one viewer
# sees, but which accounts see one thing. The answer follows the same rules as level_in() and
# category_levels(), as a WHERE clause on User so that it costs one query for any number of people.

AUDIENCE_TIERS = ("participant", "worker", "member")


def tiers_that_see_category(session: Session, category_id: int | None) -> list[str]:
    """The tiers whose (non-staff) accounts may see a category, its parent applied."""
    if category_id is None:  # a private message: its people, not tiers (rule 13)
        return []
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
    if topic.archetype == PRIVATE_MESSAGE or topic.category_id is None:
        if topic.deleted_at is not None:
            return false()
        people = message_people_clause(topic.id)
        if post is not None and post_display(ANONYMOUS, post) is PostDisplay.PLACEHOLDER:
            return people & (User.id == post.user_id)
        return people
    if topic.deleted_at is not None:
        return staff_clause()
    if post is not None and post_display(ANONYMOUS, post) is PostDisplay.PLACEHOLDER:
        # Rule 8: staff, and the author in a category they may still see.
        tiers = tiers_that_see_category(session, topic.category_id)
        return staff_clause() | ((User.id == post.user_id) & User.tier.in_(tiers))
    tiers = tiers_that_see_category(session, topic.category_id)
    return (staff_clause() | User.tier.in_(tiers)) if tiers else staff_clause()


def visible_posts_in_topic_clause(viewer: Viewer) -> ColumnElement[bool]:
    """For posts of one topic the viewer may see: readable_posts_clause()."""
    return readable_posts_clause(viewer)


# --- API keys and feed tokens -----------------------------------------------------------------

def can_manage_api_keys(viewer: Viewer) -> bool:
    return viewer.is_admin


def ensure_can_manage_api_keys(viewer: Viewer) -> None:
    if not can_manage_api_keys(viewer):
        raise NotFound()


def api_key_may_act_as(key: ApiKey, user: User) -> bool:
    """A revoked key acts as nobody; a single-user key only as its user; an all-users key as anyone
    who may log in (not a suspended account or one awaiting approval)."""
    if key.revoked_at is not None or login_refusal(user) is not None:
        return False
    return key.user_id is None or key.user_id == user.id


def feed_token_opens(token: FeedToken, feed_scope: str) -> bool:
    """A feed token opens all its owner's feeds or the one feed it was made for; never pages or the API.
    It stops working while its owner may not log in."""
    if login_refusal(token.user) is not None:
        return False
    return token.scope == ALL_FEEDS or token.scope == feed_scope


# --- polls, proposals and events ---------------------------------------------------------------

def can_see_poll(session: Session, viewer: Viewer, post: Post | None, topic: Topic | None) -> bool:
    """A poll is part of its post: seen by whoever may read the post (rule 8)."""
    return post is not None and topic is not None and can_read_post(session, viewer, post, topic)


def ensure_can_see_poll(session: Session, viewer: Viewer, post: Post | None, topic: Topic | None) -> None:
    if not can_see_poll(session, viewer, post, topic):
        raise NotFound()


def can_see_poll_results(viewer: Viewer, poll, *, voted: bool, closed: bool) -> bool:
    """A poll's results, as its author chose (`results`): always, once the viewer has voted or it has
    closed, once it has closed, or to staff only (`staff_only`)."""
    if poll.results == "always":
        return True
    if poll.results == "on_vote":
        return voted or closed
    if poll.results == "on_close":
        return closed
    return viewer.is_staff  # staff_only


def poll_vote_refusal(session: Session, viewer: Viewer, topic: Topic, post: Post, *, closed: bool) -> str | None:
    """Why this viewer may not vote in a poll of this post, or None: voting is replying's sibling."""
    if viewer.is_anonymous:
        return _("Log in to vote.")
    if closed:
        return _("This poll is closed.")
    if post.deleted_at is not None or post.hidden:
        return _("This post has been removed; its polls no longer take votes.")
    return reply_refusal(session, viewer, topic)


def ensure_can_vote_in_poll(session: Session, viewer: Viewer, topic: Topic, post: Post, *, closed: bool) -> None:
    why = poll_vote_refusal(session, viewer, topic, post, closed=closed)
    if why is not None:
        raise LoginRequired(why) if viewer.is_anonymous else Forbidden(why)


def can_close_poll(session: Session, viewer: Viewer, post: Post, topic: Topic) -> bool:
    if only_reached_message(session, viewer, topic):
        return False
    return viewer.is_staff or (viewer.id is not None and post.user_id == viewer.id
                               and posting_refusal(viewer) is None and not topic.archived)


def ensure_can_close_poll(session: Session, viewer: Viewer, post: Post, topic: Topic) -> None:
    if viewer.is_anonymous:
        raise LoginRequired()
    if not can_close_poll(session, viewer, post, topic):
        raise Forbidden(_("Only the author of the post or a moderator can close this poll."))


def position_refusal(session: Session, viewer: Viewer, topic: Topic, *, closed: bool) -> str | None:
    """Why this viewer may not take a position on a proposal, or None."""
    if viewer.is_anonymous:
        return _("Log in to take a position.")
    if closed:
        return _("This proposal has closed.")
    return reply_refusal(session, viewer, topic)


def ensure_can_take_position(session: Session, viewer: Viewer, topic: Topic, *, closed: bool) -> None:
    why = position_refusal(session, viewer, topic, closed=closed)
    if why is not None:
        raise LoginRequired(why) if viewer.is_anonymous else Forbidden(why)


def can_manage_proposal(viewer: Viewer) -> bool:
    """Closing a proposal early and extending it are moderators' decisions."""
    return viewer.is_staff


def ensure_can_manage_proposal(viewer: Viewer) -> None:
    if viewer.is_anonymous:
        raise LoginRequired()
    if not can_manage_proposal(viewer):
        raise Forbidden(_("Only moderators can close a proposal early or extend it."))


def can_write_outcome(session: Session, viewer: Viewer, topic: Topic) -> bool:
    if only_reached_message(session, viewer, topic):
        return False
    return viewer.is_staff or (viewer.id is not None and topic.user_id == viewer.id
                               and reply_refusal(session, viewer, topic) is None)


def eligible_repliers_clause(session: Session, category: Category) -> ColumnElement[bool]:
    """WHERE clause on User: the accounts that may reply in this category now (staff always may).

    It mirrors `category_levels()` for each tier, so "12 of 40 have responded" counts exactly the
    people a proposal asks.
    """
    parent = session.get(Category, category.parent_id) if category.parent_id is not None else None
    tiers = [t for t in TIERS
             if max(category.level_everyone, category.level_for(t)) >= REPLY
             and (parent is None or max(parent.level_everyone, parent.level_for(t)) >= SEE)]
    now = utcnow()
    active = and_(User.approved.is_(True),
                  (User.suspended_until.is_(None)) | (User.suspended_until <= now),
                  (User.silenced_until.is_(None)) | (User.silenced_until <= now))
    may = (User.is_admin.is_(True)) | (User.is_moderator.is_(True))
    if tiers:
        may = may | User.tier.in_(tiers)
    return and_(active, may)


def rsvp_refusal(session: Session, viewer: Viewer, topic: Topic, *, cancelled: bool, over: bool) -> str | None:
    if viewer.is_anonymous:
        return _("Log in to say whether you are going.")
    if cancelled:
        return _("This event has been cancelled.")
    if over:
        return _("This event is over.")
    return reply_refusal(session, viewer, topic)


def ensure_can_rsvp(session: Session, viewer: Viewer, topic: Topic, *, cancelled: bool, over: bool) -> None:
    why = rsvp_refusal(session, viewer, topic, cancelled=cancelled, over=over)
    if why is not None:
        raise LoginRequired(why) if viewer.is_anonymous else Forbidden(why)


def can_see_event_text(session: Session, viewer: Viewer, topic: Topic, first_post: Post | None) -> bool:
    """An event is its topic: its description (the first post) shows in a calendar file to whoever
    may read that post, by rule 8; the time and place to whoever may see the topic."""
    return first_post is not None and can_read_post(session, viewer, first_post, topic)


def can_see_rsvp_names(session: Session, viewer: Viewer, topic: Topic) -> bool:
    """Who is going is shown to signed-in people who can see the event; visitors see counts only."""
    return not viewer.is_anonymous and can_see_topic(session, viewer, topic)


def can_edit_event(session: Session, viewer: Viewer, topic: Topic) -> bool:
    if viewer.is_anonymous or topic.deleted_at is not None or not can_see_topic(session, viewer, topic):
        return False
    if only_reached_message(session, viewer, topic):
        return False
    if viewer.is_staff:
        return True
    return topic.user_id == viewer.id and not topic.archived and posting_refusal(viewer) is None


def ensure_can_edit_event(session: Session, viewer: Viewer, topic: Topic) -> None:
    ensure_can_see_topic(session, viewer, topic)
    if viewer.is_anonymous:
        raise LoginRequired()
    if not can_edit_event(session, viewer, topic):
        raise Forbidden(_("Only the organiser or a moderator can change this event."))


# --- private messages (rule 13) ------------------------------------------------------------------

STAFF_REACH_ACTION = "read_private_message"


def _moderators_group_ids():
    return select(Group.id).where(Group.name_lower == MODERATORS_GROUP)


def private_messages_clause(viewer: Viewer | int | None, *, staff: bool | None = None) -> ColumnElement[bool]:
    """WHERE clause on Topic: the private messages this person is in (allowed themselves, or a
    member of an allowed group). A Viewer, or a user id with `staff` for statements built once
    (`bindparam("reader")` then stands for the id). Deleted messages are left out."""
    if isinstance(viewer, Viewer):
        staff, uid = viewer.is_staff, viewer.id
        if uid is None:
            return false()
    else:
        uid = viewer
    reader = bindparam("reader") if uid is None else uid
    in_groups = select(TopicAllowedGroup.topic_id).join(GroupUser, GroupUser.group_id == TopicAllowedGroup.group_id) \
        .where(GroupUser.user_id == reader)
    allowed = or_(Topic.id.in_(select(TopicAllowedUser.topic_id).where(TopicAllowedUser.user_id == reader)),
                  Topic.id.in_(in_groups))
    if staff:
        allowed = or_(allowed, Topic.id.in_(select(TopicAllowedGroup.topic_id)
                                            .where(TopicAllowedGroup.group_id.in_(_moderators_group_ids()))))
    return and_(Topic.archetype == PRIVATE_MESSAGE, Topic.deleted_at.is_(None), allowed)


def message_people_clause(topic_id: int) -> ColumnElement[bool]:
    """WHERE clause on User: the people in one private message, groups' members included."""
    allowed_users = select(TopicAllowedUser.user_id).where(TopicAllowedUser.topic_id == topic_id)
    group_members = select(GroupUser.user_id).join(TopicAllowedGroup, TopicAllowedGroup.group_id == GroupUser.group_id) \
        .where(TopicAllowedGroup.topic_id == topic_id)
    moderators_in = select(TopicAllowedGroup.id).where(TopicAllowedGroup.topic_id == topic_id,
                                                       TopicAllowedGroup.group_id.in_(_moderators_group_ids())).exists()
    return or_(User.id.in_(allowed_users), User.id.in_(group_members), and_(moderators_in, staff_clause()))


def is_in_private_message(session: Session, viewer: Viewer, topic: Topic) -> bool:
    if viewer.user is None or topic.deleted_at is not None:
        return False
    return session.scalar(select(Topic.id).where(Topic.id == topic.id, private_messages_clause(viewer))) is not None


def has_flagged_post(session: Session, topic: Topic) -> bool:
    return session.scalar(select(Flag.id).join(Post, Post.id == Flag.post_id)
                          .where(Post.topic_id == topic.id).limit(1)) is not None


def may_reach_private_message(session: Session, viewer: Viewer, topic: Topic) -> bool:
    """A staff member outside a message may open it from the review queue while one of its posts
    is flagged (the opening is logged: staff_reached_message())."""
    return viewer.is_staff and topic.deleted_at is None and has_flagged_post(session, topic)


def staff_reached_message(session: Session, viewer: Viewer, topic: Topic) -> bool:
    """Whether this staff member has opened this flagged message from the review queue (logged)."""
    if not may_reach_private_message(session, viewer, topic):
        return False
    return session.scalar(select(ModerationLog.id).where(
        ModerationLog.action == STAFF_REACH_ACTION, ModerationLog.actor_id == viewer.id,
        ModerationLog.topic_id == topic.id).limit(1)) is not None


def only_reached_message(session: Session, viewer: Viewer, topic: Topic) -> bool:
    """Whether this is a private message the viewer is not in (at most reached from the review
    queue): they read it, and change nothing in it — no edit, delete, like, vote, RSVP, bookmark."""
    return topic.category_id is None and not is_in_private_message(session, viewer, topic)


def ensure_can_moderate_topic(session: Session, viewer: Viewer, topic: Topic) -> None:
    """Topic-level staff tools (close, pin, list, move, delete, slow mode). A private message is
    moderated only by staff in it; one reached from the review queue is read, never changed (rule 13)."""
    ensure_can_moderate(viewer)
    if topic.category_id is None:
        ensure_can_see_topic(session, viewer, topic)
        if only_reached_message(session, viewer, topic):
            raise Forbidden(_("You opened this message from the review queue: you may read it, not change it."))


def can_see_private_message(session: Session, viewer: Viewer, topic: Topic) -> bool:
    if viewer.user is None:
        return False
    return is_in_private_message(session, viewer, topic) or staff_reached_message(session, viewer, topic)


def can_send_private_messages(viewer: Viewer) -> bool:
    return viewer.user is not None and posting_refusal(viewer) is None


def message_refusal_for_user(session: Session, viewer: Viewer, user: User) -> str | None:
    """Why the viewer may not start a message with this person, or None. Staff always may."""
    if login_refusal(user) is not None and not viewer.is_staff:
        return _("%(name)s cannot receive messages.", name=user.username)
    if viewer.is_staff:
        return None
    options = session.get(UserOption, user.id)
    if options is None or user.is_staff or options.messages_from == "everyone":
        return None
    if options.messages_from == "following" and viewer.user is not None and session.scalar(
            select(UserFollow.id).where(UserFollow.follower_id == user.id,
                                        UserFollow.followed_id == viewer.user.id)) is not None:
        return None
    if options.messages_from == "following":
        return _("%(name)s accepts private messages only from people they follow.", name=user.username)
    return _("%(name)s does not accept private messages.", name=user.username)


def follow_refusal(viewer: Viewer, user: User) -> str | None:
    """Why the viewer may not follow this person, or None (rule 16). Unfollowing is always allowed."""
    if viewer.user is None:
        raise LoginRequired()
    if (refusal := posting_refusal(viewer)) is not None:
        return refusal
    if viewer.user.id == user.id:
        return _("You cannot follow yourself.")
    if login_refusal(user) is not None:
        return _("%(name)s cannot be followed.", name=user.username)
    return None


def can_see_follows(viewer: Viewer, user: User) -> bool:
    """Whom a person follows and who follows them: theirs and staff's to see (rule 16)."""
    return viewer.is_staff or (viewer.id is not None and viewer.id == user.id)


def can_download_export(viewer: Viewer, owner_id: int) -> bool:
    """A data archive opens for the person it was made for, signed in (rule 17); staff included, nobody else."""
    return viewer.user is not None and viewer.user.id == owner_id


def is_group_member(session: Session, viewer: Viewer, group: Group) -> bool:
    if viewer.user is None:
        return False
    if group.automatic:
        return group.name_lower == MODERATORS_GROUP and viewer.is_staff
    return session.scalar(select(GroupUser.id).where(GroupUser.group_id == group.id,
                                                     GroupUser.user_id == viewer.user.id)) is not None


def is_group_owner(session: Session, viewer: Viewer, group: Group) -> bool:
    if viewer.user is None or group.automatic:
        return False
    return session.scalar(select(GroupUser.id).where(GroupUser.group_id == group.id, GroupUser.owner.is_(True),
                                                     GroupUser.user_id == viewer.user.id)) is not None


def can_see_group(session: Session, viewer: Viewer, group: Group) -> bool:
    """Public groups are seen by anyone signed in; members-only ones by their members and staff."""
    if viewer.user is None:
        return False
    return group.visibility != "members" or viewer.is_staff or is_group_member(session, viewer, group)


def can_message_group(session: Session, viewer: Viewer, group: Group) -> bool:
    """Everyone signed in may write to `moderators`; other groups as their messageable level says."""
    if not can_send_private_messages(viewer) or not can_see_group(session, viewer, group):
        return False
    if viewer.is_staff or group.messageable_level == MESSAGEABLE_EVERYONE:
        return True
    if group.messageable_level == MESSAGEABLE_MEMBERS:
        return is_group_member(session, viewer, group)
    return is_group_owner(session, viewer, group)


def can_see_inbox(viewer: Viewer, user: User) -> bool:
    """A person's message lists are theirs alone (admins do not browse them)."""
    return viewer.user is not None and viewer.user.id == user.id


def can_manage_message_people(session: Session, viewer: Viewer, topic: Topic) -> bool:
    """Inviting someone into a message: anyone in it who may write."""
    return can_send_private_messages(viewer) and is_in_private_message(session, viewer, topic)


def can_remove_from_message(session: Session, viewer: Viewer, topic: Topic, user: User) -> bool:
    """Anyone leaves a message they are in; its starter (or staff in it) removes others."""
    if not is_in_private_message(session, viewer, topic):
        return False
    return user.id == viewer.id or topic.user_id == viewer.id or viewer.is_staff


# --- bookmarks (rule 15) ------------------------------------------------------------------------

def can_see_bookmarks(viewer: Viewer, user: User) -> bool:
    return viewer.user is not None and viewer.user.id == user.id


def ensure_can_see_bookmarks(viewer: Viewer, user: User | None) -> User:
    if user is None or not can_see_bookmarks(viewer, user):
        raise NotFound()  # someone else's bookmarks look missing, as a missing person's do
    return user


def can_bookmark(session: Session, viewer: Viewer, topic: Topic, post: Post | None = None) -> bool:
    """Bookmarking a post (or a topic, post None) needs an account and the right to read it (a
    staff member who only reached a flagged message does not bookmark it, rule 13)."""
    if viewer.user is None or only_reached_message(session, viewer, topic):
        return False
    if post is None:
        return can_see_topic(session, viewer, topic)
    return can_read_post(session, viewer, post, topic)


def ensure_can_bookmark(session: Session, viewer: Viewer, topic: Topic | None, post: Post | None = None) -> None:
    if viewer.user is None:
        raise LoginRequired()
    if topic is None or not can_bookmark(session, viewer, topic, post):
        raise NotFound()


def readable_bookmarks_clause(session: Session, viewer: Viewer) -> ColumnElement[bool]:
    """For a query on Bookmark outer-joined to its Post (for post bookmarks) and Topic: whether the
    viewer may still read what the bookmark points at. Used as a column, not a filter: a bookmark
    on something hidden stays listed for its owner, marked unavailable, with nothing of its content."""
    # A private message the owner is still in counts too (rule 13); not one a staff member only
    # reached from the review queue.
    topic_ok = or_(visible_topics_clause(session, viewer, listed_only=False), private_messages_clause(viewer))
    return and_(Topic.id.is_not(None), topic_ok,
                or_(Post.id.is_(None), readable_posts_clause(viewer)))


# --- tags (rule 14) ---------------------------------------------------------------------------

def can_manage_tags(viewer: Viewer) -> bool:
    return can_moderate(viewer)


def ensure_can_manage_tags(viewer: Viewer) -> None:
    if not can_manage_tags(viewer):
        raise NotFound()


def can_create_tag_when_tagging(viewer: Viewer, *, allowed_by_settings: bool) -> bool:
    """Whether naming an unknown tag on a topic creates it (staff, when the site allows it)."""
    return allowed_by_settings and can_manage_tags(viewer)


def can_tag_topic(session: Session, viewer: Viewer, category: Category) -> bool:
    return can_create_topic(session, viewer, category)


def can_retag_topic(session: Session, viewer: Viewer, topic: Topic) -> bool:
    if topic.category_id is None or topic.category is None or not can_see_topic(session, viewer, topic):
        return False  # private messages carry no tags
    if viewer.is_staff:
        return True
    return (viewer.user is not None and topic.user_id == viewer.user.id and topic.deleted_at is None
            and not topic.archived and can_create_topic(session, viewer, topic.category))


def ensure_can_retag_topic(session: Session, viewer: Viewer, topic: Topic | None) -> Topic:
    topic = ensure_can_see_topic(session, viewer, topic)
    if not can_retag_topic(session, viewer, topic):
        raise Forbidden(_("You may not change the tags of this topic."))
    return topic


def visible_tags(session: Session, viewer: Viewer, tag_ids: list[int] | None = None) -> dict[int, int]:
    """The tags this viewer may see (all, or those of `tag_ids`), each with the number of its topics
    they may see listed: counted through visible_topics_clause(), never stored."""
    from forum.models.tags import CategoryTag, CategoryTagGroup, Tag, TagGroupMembership, TopicTag

    def only(stmt, column):
        return stmt.where(column.in_(tag_ids)) if tag_ids is not None else stmt

    counts = dict(session.execute(only(
        select(TopicTag.tag_id, func.count(TopicTag.topic_id)).join(Topic, Topic.id == TopicTag.topic_id)
        .where(visible_topics_clause(session, viewer)), TopicTag.tag_id).group_by(TopicTag.tag_id)).all())
    if viewer.is_staff:
        return {tid: counts.get(tid, 0) for tid in session.scalars(only(select(Tag.id), Tag.id))}
    used = select(TopicTag.tag_id).where(TopicTag.tag_id == Tag.id).exists()
    unused = set(session.scalars(only(select(Tag.id).where(~used), Tag.id)))
    if unused:
        limits: dict[int, set[int]] = {}
        for tag_id, category_id in session.execute(
                select(CategoryTag.tag_id, CategoryTag.category_id).where(CategoryTag.tag_id.in_(unused))
                .union_all(select(TagGroupMembership.tag_id, CategoryTagGroup.category_id)
                           .join(CategoryTagGroup,
                                 CategoryTagGroup.tag_group_id == TagGroupMembership.tag_group_id)
                           .where(TagGroupMembership.tag_id.in_(unused)))):
            limits.setdefault(tag_id, set()).add(category_id)
        seen = set(visible_category_ids(session, viewer))
        counts.update({tid: 0 for tid in unused if tid not in limits or limits[tid] & seen})
    return counts


def can_see_tag(session: Session, viewer: Viewer, tag) -> bool:
    return tag is not None and tag.id in visible_tags(session, viewer, [tag.id])


def ensure_can_see_tag(session: Session, viewer: Viewer, tag):
    if not can_see_tag(session, viewer, tag):
        raise NotFound()
    return tag
