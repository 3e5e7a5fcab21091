"""Tags: defining them (staff), putting them on topics, the lists and watching levels behind /tag/….

Who sees a tag and how many of its topics is decided in forum/permissions.py (rule 14); this module
validates names, keeps the rows and answers the questions pages and the API ask.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from forum import modlog, permissions
from forum.config import Settings
from forum.errors import Conflict, NotFound, ValidationFailed
from forum.i18n import _
from forum.models import (
    MUTED,
    TAG_NAME_MAX,
    WATCHING,
    Category,
    CategoryTag,
    CategoryTagGroup,
    Tag,
    TagGroup,
    TagGroupMembership,
    TagUser,
    Topic,
    TopicTag,
    TopicUser,
)
from forum.permissions import Viewer
from forum.text import clean, parse_id

# Letters (of any script), digits, "-" and "_": what Discourse keeps of a tag name.
_NAME = re.compile(r"[^\W_][\w-]*|_[\w-]*")


def normalize(raw: str) -> str:
    """A typed name as stored: lowercase, spaces as "-"."""
    return "-".join(clean(raw or "", single_line=True).strip().lower().split())


def check_name(raw: str) -> str:
    name = normalize(raw)
    if not name:
        raise ValidationFailed(fields={"name": _("A tag needs a name.")})
    if len(name) > TAG_NAME_MAX:
        raise ValidationFailed(fields={"name": _("A tag name may be at most %(n)s characters.", n=TAG_NAME_MAX)})
    if not _NAME.fullmatch(name):
        raise ValidationFailed(fields={"name": _("A tag name may hold only letters, digits, “-” and “_”.")})
    return name


def parse_names(value: str | list[str] | None) -> list[str]:
    """Names from a form field ("italy, ilo") or an API list (`tags[]`), lowercased, in order, once each."""
    if value is None:
        return []
    pieces = value if isinstance(value, list) else [value]
    names: list[str] = []
    for piece in pieces:
        for part in (piece.split(",") if isinstance(piece, str) else []):
            name = normalize(part)
            if name and name not in names:
                names.append(name)
    return names


def by_name(session: Session, name: str) -> Tag | None:
    return session.scalar(select(Tag).where(Tag.name == normalize(name)))


# --- what viewers see ---------------------------------------------------------------------------

@dataclass
class TagCount:
    tag: Tag
    count: int


def visible_tag(session: Session, viewer: Viewer, name: str) -> TagCount:
    """The tag and the viewer's count of its topics; NotFound when it is hidden from them or missing."""
    tag = by_name(session, name)
    if tag is None:
        raise NotFound()
    counts = permissions.visible_tags(session, viewer, [tag.id])
    if tag.id not in counts:
        raise NotFound()
    return TagCount(tag, counts[tag.id])


def tag_list(session: Session, viewer: Viewer) -> list[TagCount]:
    """Every tag the viewer may see, most used first (their counts), then by name."""
    counts = permissions.visible_tags(session, viewer)
    if not counts:
        return []
    tags = session.scalars(select(Tag).where(Tag.id.in_(list(counts))))
    return sorted((TagCount(t, counts[t.id]) for t in tags), key=lambda tc: (-tc.count, tc.tag.name))


def names_by_topic(session: Session, topic_ids: list[int]) -> dict[int, list[str]]:
    """The tag names of each topic (callers already may see the topics)."""
    found: dict[int, list[str]] = {tid: [] for tid in topic_ids}
    if topic_ids:
        for topic_id, name in session.execute(
                select(TopicTag.topic_id, Tag.name).join(Tag, Tag.id == TopicTag.tag_id)
                .where(TopicTag.topic_id.in_(topic_ids)).order_by(TopicTag.topic_id, Tag.name)):
            found[topic_id].append(name)
    return found


def of_topic(session: Session, topic_id: int) -> list[tuple[int, str]]:
    """(id, name) of each of the topic's tags, by name."""
    return [(tid, name) for tid, name in session.execute(
        select(Tag.id, Tag.name).join(TopicTag, TopicTag.tag_id == Tag.id)
        .where(TopicTag.topic_id == topic_id).order_by(Tag.name))]


def groups_with_tags(session: Session) -> list[tuple[TagGroup, list[Tag]]]:
    groups = list(session.scalars(select(TagGroup).order_by(TagGroup.name)))
    members: dict[int, list[Tag]] = {g.id: [] for g in groups}
    for group_id, tag in session.execute(select(TagGroupMembership.tag_group_id, Tag)
                                         .join(Tag, Tag.id == TagGroupMembership.tag_id).order_by(Tag.name)):
        members[group_id].append(tag)
    return [(g, members[g.id]) for g in groups]


def allowed_tag_ids(session: Session, category_id: int) -> set[int] | None:
    """The tags a category allows, itself or through its groups; None when it sets no limit."""
    direct = set(session.scalars(select(CategoryTag.tag_id).where(CategoryTag.category_id == category_id)))
    groups = set(session.scalars(select(CategoryTagGroup.tag_group_id)
                                 .where(CategoryTagGroup.category_id == category_id)))
    if not direct and not groups:
        return None
    if groups:
        direct |= set(session.scalars(select(TagGroupMembership.tag_id)
                                      .where(TagGroupMembership.tag_group_id.in_(groups))))
    return direct


def category_limits(session: Session, category_id: int) -> tuple[list[str], list[int]]:
    """The tag names and group ids a category allows by name (for the admin form)."""
    names = list(session.scalars(select(Tag.name).join(CategoryTag, CategoryTag.tag_id == Tag.id)
                                 .where(CategoryTag.category_id == category_id).order_by(Tag.name)))
    groups = list(session.scalars(select(CategoryTagGroup.tag_group_id)
                                  .where(CategoryTagGroup.category_id == category_id)))
    return names, groups


def suggestions(session: Session, viewer: Viewer, categories: list[Category]) -> list[str]:
    """Names for the composer's list: tags the viewer sees that one of these categories allows."""
    counts = permissions.visible_tags(session, viewer)
    allowed: set[int] = set()
    for category in categories:
        ids = allowed_tag_ids(session, category.id)
        if ids is None:
            allowed = set(counts)
            break
        allowed |= ids
    ids = [tid for tid in counts if tid in allowed]
    return sorted(session.scalars(select(Tag.name).where(Tag.id.in_(ids)))) if ids else []


# --- tagging topics -----------------------------------------------------------------------------

def tags_for_topic(session: Session, settings: Settings, viewer: Viewer, category: Category,
                   names: list[str]) -> list[Tag]:
    """The tags named for a topic in `category`, checked: how many, which exist, which the category
    allows. Unknown names are created only for staff when the site allows it."""
    if not names:
        return []
    if len(names) > settings.max_tags_per_topic:
        raise ValidationFailed(fields={"tags": _("A topic may have at most %(n)s tags.", n=settings.max_tags_per_topic)})
    for name in names:
        try:
            check_name(name)
        except ValidationFailed:
            raise ValidationFailed(fields={"tags": _("“%(name)s” is not a valid tag name: use letters, digits, “-” "
                                                     "and “_”.", name=name[:TAG_NAME_MAX])}) from None
    found = {t.name: t for t in session.scalars(select(Tag).where(Tag.name.in_(names)))}
    seen = permissions.visible_tags(session, viewer, [t.id for t in found.values()]) if found else {}
    creating = permissions.can_create_tag_when_tagging(viewer, allowed_by_settings=settings.staff_create_tags_when_tagging)
    tags: list[Tag] = []
    for name in names:
        tag = found.get(name)
        if tag is None or tag.id not in seen:  # a hidden tag is as unknown as a missing one
            if tag is None and creating:
                tag = _insert_tag(session, name)
            else:
                raise ValidationFailed(fields={"tags": _("There is no tag “%(name)s”.", name=name)})
        tags.append(tag)
    allowed = allowed_tag_ids(session, category.id)
    if allowed is not None:
        refused = [t.name for t in tags if t.id not in allowed]
        if refused:
            raise ValidationFailed(fields={"tags": _("The category does not allow the tag “%(name)s”.",
                                                     name=refused[0])})
    return tags


def set_topic_tags(session: Session, topic_id: int, tags: list[Tag]) -> None:
    wanted = {t.id for t in tags}
    have = set(session.scalars(select(TopicTag.tag_id).where(TopicTag.topic_id == topic_id)))
    if have - wanted:
        session.execute(delete(TopicTag).where(TopicTag.topic_id == topic_id, TopicTag.tag_id.in_(have - wanted)))
    for tag_id in sorted(wanted - have):
        session.add(TopicTag(topic_id=topic_id, tag_id=tag_id))
    session.flush()


def retag(session: Session, settings: Settings, viewer: Viewer, topic_id: int | str,
          names: list[str]) -> list[str]:
    """Replace a topic's tags (staff, or its author while they may still edit it)."""
    tid = parse_id(topic_id)
    topic = session.get(Topic, tid) if tid is not None else None
    topic = permissions.ensure_can_retag_topic(session, viewer, topic)
    assert topic.category is not None
    before = names_by_topic(session, [topic.id])[topic.id]
    tags = tags_for_topic(session, settings, viewer, topic.category, names)
    set_topic_tags(session, topic.id, tags)
    after = sorted(t.name for t in tags)
    if after != before and permissions.is_moderation_act(viewer, topic.user_id):
        modlog.record(session, viewer, "retag_topic", target_type="topic", target_id=topic.id, topic_id=topic.id,
                      target_user_id=topic.user_id, summary=topic.title,
                      details={"before": before, "after": after})
    return after


def watchers(session: Session, topic: Topic) -> set[int]:
    """People watching one of the topic's tags who have not set a level on the topic itself (the
    notification is delivered only to those who may see the topic: forum/notifications.py)."""
    set_on_topic = select(TopicUser.user_id).where(TopicUser.topic_id == topic.id,
                                                   TopicUser.notification_level.is_not(None))
    return set(session.scalars(
        select(TagUser.user_id).join(TopicTag, TopicTag.tag_id == TagUser.tag_id)
        .where(TopicTag.topic_id == topic.id, TagUser.notification_level == WATCHING,
               TagUser.user_id.not_in(set_on_topic))))


def muters(session: Session, topic: Topic, user_ids: set[int]) -> set[int]:
    """Those of `user_ids` who muted one of the topic's tags."""
    return set(session.scalars(
        select(TagUser.user_id).join(TopicTag, TopicTag.tag_id == TagUser.tag_id)
        .where(TopicTag.topic_id == topic.id, TagUser.notification_level == MUTED,
               TagUser.user_id.in_(user_ids)))) if user_ids else set()


def tag_level(session: Session, user_id: int | None, tag_id: int) -> int | None:
    if user_id is None:
        return None
    row = session.get(TagUser, (user_id, tag_id))
    return row.notification_level if row is not None else 1


def set_tag_level(session: Session, viewer: Viewer, name: str, level: int) -> Tag:
    tag = visible_tag(session, viewer, name).tag
    assert viewer.user is not None
    row = session.get(TagUser, (viewer.user.id, tag.id))
    if row is None:
        session.add(TagUser(user_id=viewer.user.id, tag_id=tag.id, notification_level=level))
    else:
        row.notification_level = level
    session.flush()
    return tag


# --- staff: defining tags and groups ------------------------------------------------------------

def _insert_tag(session: Session, name: str) -> Tag:
    try:
        with session.begin_nested():
            tag = Tag(name=name)
            session.add(tag)
        return tag
    except IntegrityError:
        existing = by_name(session, name)
        if existing is None:
            raise
        return existing


def create_tag(session: Session, viewer: Viewer, name: str) -> Tag:
    permissions.ensure_can_manage_tags(viewer)
    name = check_name(name)
    if by_name(session, name) is not None:
        raise Conflict(_("The tag “%(name)s” already exists.", name=name))
    tag = _insert_tag(session, name)
    modlog.record(session, viewer, "create_tag", target_type="tag", target_id=tag.id, summary=name)
    return tag


def _staff_tag(session: Session, viewer: Viewer, name: str) -> Tag:
    permissions.ensure_can_manage_tags(viewer)
    tag = by_name(session, name)
    if tag is None:
        raise NotFound()
    return tag


def rename_tag(session: Session, viewer: Viewer, name: str, new_name: str) -> Tag:
    tag = _staff_tag(session, viewer, name)
    new = check_name(new_name)
    if new != tag.name:
        if by_name(session, new) is not None:
            raise Conflict(_("The tag “%(name)s” already exists.", name=new))
        modlog.record(session, viewer, "rename_tag", target_type="tag", target_id=tag.id, summary=new,
                      details={"before": tag.name, "after": new})
        tag.name = new
        session.flush()
    return tag


def delete_tag(session: Session, viewer: Viewer, name: str) -> None:
    tag = _staff_tag(session, viewer, name)
    modlog.record(session, viewer, "delete_tag", target_type="tag", target_id=tag.id, summary=tag.name)
    for model in (TopicTag, TagUser, CategoryTag, TagGroupMembership):
        session.execute(delete(model).where(model.tag_id == tag.id))
    session.delete(tag)
    session.flush()


def _group_name(name: str) -> str:
    name = clean(name or "", single_line=True).strip()
    if not name:
        raise ValidationFailed(fields={"name": _("A tag group needs a name.")})
    if len(name) > 100:
        raise ValidationFailed(fields={"name": _("A tag group name may be at most %(n)s characters.", n=100)})
    return name


def _tags_named(session: Session, names: list[str]) -> list[Tag]:
    tags = []
    for name in names:
        name = check_name(name)
        tags.append(by_name(session, name) or _insert_tag(session, name))
    return tags


def save_tag_group(session: Session, viewer: Viewer, *, name: str, tag_names: list[str] | None,
                   group_id: int | str | None = None) -> TagGroup:
    """Create a group (group_id None) or change one; its tags are created when new (None: a changed
    group keeps the tags it has)."""
    permissions.ensure_can_manage_tags(viewer)
    name = _group_name(name)
    if group_id is None:
        group = TagGroup(name=name)
        if session.scalar(select(TagGroup.id).where(TagGroup.name == name)) is not None:
            raise Conflict(_("The tag group “%(name)s” already exists.", name=name))
        session.add(group)
    else:
        gid = parse_id(group_id)
        found = session.get(TagGroup, gid) if gid is not None else None
        if found is None:
            raise NotFound()
        group = found
        other = session.scalar(select(TagGroup.id).where(TagGroup.name == name, TagGroup.id != group.id))
        if other is not None:
            raise Conflict(_("The tag group “%(name)s” already exists.", name=name))
        group.name = name
    session.flush()
    modlog.record(session, viewer, "save_tag_group", target_type="tag_group", target_id=group.id, summary=name,
                  details={"tags": tag_names} if tag_names is not None else None)
    if tag_names is None:
        return group
    tags = _tags_named(session, tag_names)
    session.execute(delete(TagGroupMembership).where(TagGroupMembership.tag_group_id == group.id))
    for tag_id in sorted({t.id for t in tags}):
        session.add(TagGroupMembership(tag_group_id=group.id, tag_id=tag_id))
    session.flush()
    return group


def delete_tag_group(session: Session, viewer: Viewer, group_id: int | str) -> None:
    permissions.ensure_can_manage_tags(viewer)
    gid = parse_id(group_id)
    group = session.get(TagGroup, gid) if gid is not None else None
    if group is None:
        raise NotFound()
    modlog.record(session, viewer, "delete_tag_group", target_type="tag_group", target_id=group.id,
                  summary=group.name)
    session.execute(delete(TagGroupMembership).where(TagGroupMembership.tag_group_id == group.id))
    session.execute(delete(CategoryTagGroup).where(CategoryTagGroup.tag_group_id == group.id))
    session.delete(group)
    session.flush()


def set_category_tags(session: Session, viewer: Viewer, category_id: int | str, *, tag_names: list[str],
                      group_ids: list[int]) -> None:
    """Which tags a category allows (none named: every tag)."""
    permissions.ensure_can_manage_tags(viewer)
    cid = parse_id(category_id)
    category = session.get(Category, cid) if cid is not None else None
    if category is None:
        raise NotFound()
    tags = _tags_named(session, tag_names)
    known_groups = set(session.scalars(select(TagGroup.id).where(TagGroup.id.in_(group_ids)))) if group_ids else set()
    session.execute(delete(CategoryTag).where(CategoryTag.category_id == category.id))
    session.execute(delete(CategoryTagGroup).where(CategoryTagGroup.category_id == category.id))
    for tag_id in sorted({t.id for t in tags}):
        session.add(CategoryTag(category_id=category.id, tag_id=tag_id))
    for group_id in sorted(known_groups):
        session.add(CategoryTagGroup(category_id=category.id, tag_group_id=group_id))
    modlog.record(session, viewer, "set_category_tags", target_type="category", target_id=category.id,
                  summary=category.name, details={"tags": sorted(t.name for t in tags), "groups": sorted(known_groups)})
    session.flush()
