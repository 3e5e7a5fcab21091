"""Private messages: starting one, who is in it (inviting, leaving), inboxes and archiving.

A message is a topic with archetype "private_message" and no category; its posts are written by
forum/posting.py like any topic's. Who may see it is decided in forum/permissions.py (rule 13);
this module only writes down who is in it and lists a person's messages through that rule.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from forum import modlog, notifications, pagecache, permissions, posting, ratelimit
from forum.config import Settings
from forum.errors import Forbidden, LoginRequired, NotFound, ValidationFailed
from forum.i18n import _
from forum.models import Post, Topic, TopicUser, User, UserOption, utcnow
from forum.models.messages import (
    MODERATORS_GROUP,
    PRIVATE_MESSAGE,
    Group,
    GroupUser,
    TopicAllowedGroup,
    TopicAllowedUser,
)
from forum.permissions import Viewer
from forum.ratelimit import RateLimiter
from forum.text import slugify

BOXES = ("inbox", "sent", "archive", "unread", "group")


def split_names(value: str | list[str] | None) -> list[str]:
    """Comma-separated usernames and group names (Discourse's target_recipients), each once."""
    parts = value if isinstance(value, list) else [value or ""]
    names: list[str] = []
    for part in parts:
        for name in str(part).split(","):
            name = name.strip().lstrip("@")
            if name and name.lower() not in {n.lower() for n in names}:
                names.append(name)
    return names


@dataclass
class Recipients:
    users: list[User]
    groups: list[Group]


def resolve_recipients(session: Session, settings: Settings, viewer: Viewer, names: list[str]) -> Recipients:
    """People and groups for a new message, or ValidationFailed with every reason at once."""
    assert viewer.user is not None
    errors: list[str] = []
    if not names:
        raise ValidationFailed(fields={"target_recipients": _("Choose at least one person or group to write to.")})
    if len(names) > settings.max_message_recipients:
        raise ValidationFailed(fields={"target_recipients": _(
            "A message may have at most %(n)s recipients.", n=settings.max_message_recipients)})
    lowered = [n.lower() for n in names]
    if MODERATORS_GROUP in lowered:
        moderators_group(session)
    users = {u.username_lower: u for u in session.scalars(select(User).where(User.username_lower.in_(lowered)))}
    groups = {g.name_lower: g for g in session.scalars(select(Group).where(Group.name_lower.in_(lowered)))}
    found_users: list[User] = []
    found_groups: list[Group] = []
    for name in names:
        key = name.lower()
        user = users.get(key)
        group = groups.get(key)
        if user is not None:
            if user.id == viewer.user.id:
                continue
            why = permissions.message_refusal_for_user(session, viewer, user)
            if why is not None:
                errors.append(why)
            else:
                found_users.append(user)
        elif group is not None and permissions.can_see_group(session, viewer, group):
            if permissions.can_message_group(session, viewer, group):
                found_groups.append(group)
            else:
                errors.append(_("You may not send messages to the group %(name)s.", name=group.name))
        else:
            errors.append(_("There is no person or group named %(name)s.", name=name))
    if errors:
        raise ValidationFailed(fields={"target_recipients": " ".join(errors)})
    if not found_users and not found_groups:
        raise ValidationFailed(fields={"target_recipients": _("You cannot send a message only to yourself.")})
    return Recipients(found_users, found_groups)


def create_private_message(
    session: Session, settings: Settings, viewer: Viewer, *, title: str, raw: str,
    recipients: str | list[str] | None, limiter: RateLimiter | None = None, language: str | None = None,
) -> Post:
    """A new conversation: the topic, its first post, the people and groups in it, and their
    notifications, in the caller's transaction."""
    if viewer.user is None:
        raise LoginRequired()
    why = permissions.posting_refusal(viewer)
    if why is not None:
        raise Forbidden(why)
    ratelimit.hit_posting(limiter, session, settings, viewer, new_topic=False)
    ratelimit.hit_new_message(limiter, session, settings, viewer)
    fields: dict[str, str] = {}
    try:
        title = posting.validate_title(settings, title)
    except ValidationFailed as e:
        fields.update(e.fields)
    try:
        language, raw = posting._checked_language_and_raw(session, settings, viewer, language, raw)
    except ValidationFailed as e:
        fields.update(e.fields)
    try:
        people = resolve_recipients(session, settings, viewer, split_names(recipients))
    except ValidationFailed as e:
        fields.update(e.fields)
    if fields:
        raise ValidationFailed(fields=fields)
    cooked = posting._cook_checked(session, raw)
    posting.lock_author(session, viewer.user.id)
    permissions.ensure_can_post_now(session, viewer, None)
    posting.ensure_not_duplicate(session, settings, viewer, raw)
    now = utcnow()
    topic = Topic(title=title, slug=slugify(title), category_id=None, archetype=PRIVATE_MESSAGE,
                  user_id=viewer.user.id, last_post_user_id=viewer.user.id, created_at=now, bumped_at=now,
                  last_posted_at=now, highest_post_number=0, posts_count=0, participant_count=1)
    session.add(topic)
    session.flush()
    session.add(TopicAllowedUser(topic_id=topic.id, user_id=viewer.user.id, created_at=now))
    for user in people.users:
        session.add(TopicAllowedUser(topic_id=topic.id, user_id=user.id, created_at=now))
    for group in people.groups:
        session.add(TopicAllowedGroup(topic_id=topic.id, group_id=group.id, created_at=now))
    session.flush()
    return posting._append_post(session, topic.id, None, viewer.user.id, raw, cooked, None, now, first=True,
                                language=language)


def people_ids(session: Session, topic: Topic) -> set[int]:
    """Every account in the message now (groups' members, staff for `moderators`)."""
    return set(session.scalars(select(User.id).where(permissions.message_people_clause(topic.id))))


def allowed(session: Session, topic: Topic) -> tuple[list[User], list[Group]]:
    """The people and groups named in a message, for those who may see it."""
    users = list(session.scalars(select(User).join(TopicAllowedUser, TopicAllowedUser.user_id == User.id)
                                 .where(TopicAllowedUser.topic_id == topic.id).order_by(TopicAllowedUser.id)))
    groups = list(session.scalars(select(Group).join(TopicAllowedGroup, TopicAllowedGroup.group_id == Group.id)
                                  .where(TopicAllowedGroup.topic_id == topic.id).order_by(TopicAllowedGroup.id)))
    return users, groups


@dataclass
class PageInfo:
    """What a message's page shows of its people, and what the viewer may do there."""

    users: list[User]
    groups: list[Group]
    member: bool
    can_invite: bool
    starter: bool
    archived: bool


def page_info(session: Session, viewer: Viewer, topic: Topic) -> PageInfo:
    users, groups = allowed(session, topic)
    mine = next((r for r in session.scalars(select(TopicAllowedUser).where(
        TopicAllowedUser.topic_id == topic.id, TopicAllowedUser.user_id == viewer.id))), None) if viewer.id else None
    return PageInfo(users, groups, mine is not None, permissions.can_manage_message_people(session, viewer, topic),
                    topic.user_id == viewer.id, bool(mine and mine.archived))


def _message(session: Session, viewer: Viewer, topic_id: int) -> Topic:
    topic = session.get(Topic, topic_id)
    if topic is None or topic.archetype != PRIVATE_MESSAGE:
        raise NotFound()
    return permissions.ensure_can_see_topic(session, viewer, topic)


def invite(session: Session, settings: Settings, viewer: Viewer, topic_id: int, *, username: str | None = None,
           group_name: str | None = None) -> Topic:
    """Add a person or a group to a message; they see its whole history from now on."""
    topic = _message(session, viewer, topic_id)
    if viewer.user is None:
        raise LoginRequired()
    if not permissions.can_manage_message_people(session, viewer, topic):
        raise Forbidden(_("You may not invite people into this conversation."))
    names = split_names(username or group_name)
    if len(names) != 1:
        raise ValidationFailed(fields={"user": _("Name one person or group to invite.")})
    current_users, current_groups = allowed(session, topic)
    if len(current_users) + len(current_groups) >= settings.max_message_recipients + 1:
        raise ValidationFailed(fields={"user": _(
            "A message may have at most %(n)s recipients.", n=settings.max_message_recipients)})
    people = resolve_recipients(session, settings, viewer, names)
    now = utcnow()
    for user in people.users:
        if any(u.id == user.id for u in current_users):
            continue
        session.add(TopicAllowedUser(topic_id=topic.id, user_id=user.id, created_at=now))
        session.flush()
        notifications.deliver(session, [user.id], "invited_to_private_message", topic=topic,
                              actor_id=viewer.user.id)
    for group in people.groups:
        if any(g.id == group.id for g in current_groups):
            continue
        session.add(TopicAllowedGroup(topic_id=topic.id, group_id=group.id, created_at=now))
        session.flush()
        members = people_ids(session, topic) - {u.id for u in current_users}
        notifications.deliver(session, members, "invited_to_private_message", topic=topic, actor_id=viewer.user.id)
    return topic


def remove_allowed_user(session: Session, viewer: Viewer, topic_id: int, username: str | None) -> Topic:
    """Leave a message (one's own name) or, for its starter, take someone out of it."""
    topic = _message(session, viewer, topic_id)
    assert viewer.user is not None
    target = viewer.user if not username else session.scalar(
        select(User).where(User.username_lower == username.strip().lower()))
    if target is None:
        raise ValidationFailed(fields={"username": _("There is no person named %(name)s.", name=username)})
    row = session.scalar(select(TopicAllowedUser).where(TopicAllowedUser.topic_id == topic.id,
                                                        TopicAllowedUser.user_id == target.id))
    if row is None:
        raise ValidationFailed(fields={"username": _("%(name)s is not in this conversation.", name=target.username)})
    if not permissions.can_remove_from_message(session, viewer, topic, target):
        raise Forbidden(_("Only the person who started this conversation may remove others from it."))
    session.delete(row)
    session.flush()
    return topic


def set_archived(session: Session, viewer: Viewer, topic_id: int, archived: bool) -> Topic:
    """Move a message out of one's inbox into one's archive, or back."""
    topic = _message(session, viewer, topic_id)
    assert viewer.user is not None
    row = session.scalar(select(TopicAllowedUser).where(TopicAllowedUser.topic_id == topic.id,
                                                        TopicAllowedUser.user_id == viewer.user.id))
    if row is None:
        raise Forbidden(_("Only the people named in a conversation archive it."))
    row.archived = archived
    pagecache.quiet(session, reader=viewer.user.id)
    return topic


def on_replied(session: Session, topic: Topic) -> None:
    """A new post brings an archived message back to its people's inboxes, as in Discourse."""
    session.execute(update(TopicAllowedUser).where(TopicAllowedUser.topic_id == topic.id,
                                                   TopicAllowedUser.archived.is_(True)).values(archived=False),
                    execution_options={"synchronize_session": False})


def record_staff_reach(session: Session, viewer: Viewer, topic_id: int) -> Topic:
    """A staff member opens a message they are not in, from the review queue, because one of its
    posts is flagged: the reach is written to the moderation log, which is what opens it."""
    topic = session.get(Topic, topic_id)
    if topic is None or topic.archetype != PRIVATE_MESSAGE:
        raise NotFound()
    if permissions.is_in_private_message(session, viewer, topic):
        return topic
    if not permissions.may_reach_private_message(session, viewer, topic):
        raise NotFound()
    if not permissions.staff_reached_message(session, viewer, topic):
        modlog.record(session, viewer.user, permissions.STAFF_REACH_ACTION, target_type="topic",
                      target_id=topic.id, target_user_id=topic.user_id, topic_id=topic.id,
                      summary=topic.title, reason=_("A post of this private message is flagged."))
    return topic


MESSAGES_FROM_CHOICES = ("everyone", "following", "nobody")


def messages_from(session: Session, user: User) -> str:
    """The person's choice of who may start messages with them: everyone (the default), the people
    they follow, or nobody."""
    options = session.get(UserOption, user.id)
    return "everyone" if options is None else options.messages_from


def set_messages_from(session: Session, user: User, choice: str) -> None:
    if choice not in MESSAGES_FROM_CHOICES:
        raise ValidationFailed(fields={"messages_from": _("Choose one of the options offered.")})
    options = session.get(UserOption, user.id)
    if options is None:
        options = UserOption(user_id=user.id)  # the other options take their column defaults
        session.add(options)
    options.messages_from = choice


# --- lists --------------------------------------------------------------------------------------

def _box_clause(session: Session, user: User, box: str, group: Group | None):
    mine = select(TopicAllowedUser.topic_id).where(TopicAllowedUser.user_id == user.id)
    if box == "inbox":
        return Topic.id.in_(mine.where(TopicAllowedUser.archived.is_(False)))
    if box == "archive":
        return Topic.id.in_(mine.where(TopicAllowedUser.archived.is_(True)))
    if box == "sent":
        return Topic.user_id == user.id
    if box == "unread":
        unread = select(TopicUser.topic_id).where(TopicUser.user_id == user.id,
                                                 TopicUser.last_read_post_number > 0)
        read_all = select(TopicUser.topic_id).join(Topic, Topic.id == TopicUser.topic_id).where(
            TopicUser.user_id == user.id, TopicUser.last_read_post_number >= Topic.highest_post_number)
        return Topic.id.in_(mine.where(TopicAllowedUser.archived.is_(False))) & (
            Topic.id.not_in(read_all) | Topic.id.not_in(unread))
    assert group is not None
    return Topic.id.in_(select(TopicAllowedGroup.topic_id).where(TopicAllowedGroup.group_id == group.id))


def messages(session: Session, viewer: Viewer, user: User, box: str = "inbox", *, group: Group | None = None,
             page: int = 1, per_page: int = 30) -> tuple[list[Topic], bool]:
    """One of a person's message lists, newest activity first; only that person may ask."""
    if not permissions.can_see_inbox(viewer, user):
        raise NotFound()
    if box not in BOXES:
        raise NotFound()
    if box == "group" and (group is None or not permissions.is_group_member(session, viewer, group)):
        raise NotFound()
    rows = list(session.scalars(
        select(Topic).where(permissions.private_messages_clause(viewer), _box_clause(session, user, box, group))
        .order_by(Topic.bumped_at.desc(), Topic.id.desc()).offset((page - 1) * per_page).limit(per_page + 1)))
    return rows[:per_page], len(rows) > per_page


def unread_count(session: Session, viewer: Viewer) -> int:
    """Messages in the viewer's inbox with posts they have not read (the header's count)."""
    if viewer.user is None:
        return 0
    return session.scalar(select(func.count()).select_from(Topic).where(
        permissions.private_messages_clause(viewer), _box_clause(session, viewer.user, "unread", None))) or 0


def groups_of(session: Session, viewer: Viewer) -> list[Group]:
    """The groups whose messages the viewer reads (their own groups; `moderators` for staff)."""
    if viewer.user is None:
        return []
    rows = list(session.scalars(select(Group).join(GroupUser, GroupUser.group_id == Group.id)
                                .where(GroupUser.user_id == viewer.user.id).order_by(Group.name_lower)))
    moderators = session.scalar(select(Group).where(Group.name_lower == MODERATORS_GROUP))
    if moderators is not None and permissions.is_group_member(session, viewer, moderators):
        rows.insert(0, moderators)
    return rows


def moderators_group(session: Session) -> Group:
    """The built-in staff group (made by migration 0020; made again here if it went missing)."""
    group = session.scalar(select(Group).where(Group.name_lower == MODERATORS_GROUP))
    if group is None:
        group = Group(name=MODERATORS_GROUP, name_lower=MODERATORS_GROUP, full_name="Moderators",
                      visibility="public", messageable_level="everyone", automatic=True, created_at=utcnow())
        session.add(group)
        session.flush()
    return group


def group_by_name(session: Session, name: str) -> Group | None:
    return session.scalar(select(Group).where(Group.name_lower == name.lower()))


def messageable_groups(session: Session, viewer: Viewer) -> list[Group]:
    """Groups the viewer may write to, for the composer's list."""
    return [g for g in session.scalars(select(Group).order_by(Group.name_lower))
            if permissions.can_message_group(session, viewer, g)]


def create_group(session: Session, viewer: Viewer, *, name: str, full_name: str = "", visibility: str = "public",
                 messageable_level: str = "everyone") -> Group:
    """Admins create groups (a working group, a delegation)."""
    from forum.models.messages import GROUP_VISIBILITIES, MESSAGEABLE_LEVELS

    if not permissions.can_administer(viewer):
        raise NotFound()
    name = name.strip()
    if not name or len(name) > 40 or slugify(name) != name.lower():
        raise ValidationFailed(fields={"name": _("A group name is letters, digits and dashes, up to 40.")})
    taken = session.scalar(select(Group.id).where(Group.name_lower == name.lower())) or session.scalar(
        select(User.id).where(User.username_lower == name.lower()))
    if taken is not None:
        raise ValidationFailed(fields={"name": _("That name is already taken.")})
    if visibility not in GROUP_VISIBILITIES or messageable_level not in MESSAGEABLE_LEVELS:
        raise ValidationFailed(_("Choose one of the options offered."))
    group = Group(name=name, name_lower=name.lower(), full_name=full_name.strip()[:100], visibility=visibility,
                  messageable_level=messageable_level, automatic=False, created_at=utcnow())
    session.add(group)
    session.flush()
    return group


def groups_with_members(session: Session) -> list[tuple[Group, list[tuple[User, bool]]]]:
    """Every group and its members (with their owner flag), for the admins' page."""
    groups = list(session.scalars(select(Group).order_by(Group.name_lower)))
    members: dict[int, list[tuple[User, bool]]] = {g.id: [] for g in groups}
    for row, user in session.execute(select(GroupUser, User).join(User, User.id == GroupUser.user_id)
                                     .order_by(User.username_lower)):
        members[row.group_id].append((user, row.owner))
    return [(g, members[g.id]) for g in groups]


def add_member(session: Session, viewer: Viewer, group: Group, user: User, *, owner: bool = False) -> None:
    if not permissions.can_administer(viewer) or group.automatic:
        raise NotFound()
    row = session.scalar(select(GroupUser).where(GroupUser.group_id == group.id, GroupUser.user_id == user.id))
    if row is None:
        session.add(GroupUser(group_id=group.id, user_id=user.id, owner=owner, created_at=utcnow()))
    else:
        row.owner = owner
    session.flush()


def remove_member(session: Session, viewer: Viewer, group: Group, user: User) -> None:
    if not permissions.can_administer(viewer) or group.automatic:
        raise NotFound()
    session.execute(delete(GroupUser).where(GroupUser.group_id == group.id, GroupUser.user_id == user.id))
