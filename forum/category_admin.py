"""Managing categories: rename, describe, recolour, nest, reorder, delete; and the levels in plain words."""

from __future__ import annotations

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from forum import categories, modlog, permissions, search
from forum.errors import NotFound, ValidationFailed
from forum.i18n import Text, _
from forum.models import AUDIENCES, CREATE, NONE, REPLY, SEE, Category, Invitation, Topic
from forum.permissions import Viewer
from forum.text import clean, parse_id, slugify

_NO_SYNC = {"synchronize_session": False}
MAX_INTERVAL = 86400

# Whole sentences, one per tier and level: other languages inflect the subject and verb together.
TIER_SENTENCES = {
    ("participant", CREATE): _("Participants can start topics."),
    ("participant", REPLY): _("Participants can read and reply but not start topics."),
    ("participant", SEE): _("Participants can read but not reply."),
    ("participant", NONE): _("Participants cannot see it."),
    ("worker", CREATE): _("Workers can start topics."),
    ("worker", REPLY): _("Workers can read and reply but not start topics."),
    ("worker", SEE): _("Workers can read but not reply."),
    ("worker", NONE): _("Workers cannot see it."),
    ("member", CREATE): _("Members can start topics."),
    ("member", REPLY): _("Members can read and reply but not start topics."),
    ("member", SEE): _("Members can read but not reply."),
    ("member", NONE): _("Members cannot see it."),
}
VISITOR_PHRASES = {
    NONE: _("Visitors who are not signed in cannot see it."),
    SEE: _("Visitors who are not signed in can read it."),
}
PRESET_LABELS = {
    "public": _("Public"),
    "signed_in": _("Signed-in"),
    "members_and_workers": _("Members and workers"),
    "members_only": _("Members only"),
    "staff_only": _("Staff only"),
}


def get_category(session: Session, viewer: Viewer, category_id: int | str | None) -> Category:
    permissions.ensure_can_moderate(viewer)
    cid = parse_id(category_id)
    category = session.get(Category, cid) if cid is not None else None
    if category is None:
        raise NotFound()
    return category


def summary(category: Category, parent: Category | None = None, gettext=lambda s: s) -> list[str]:
    """The level matrix in plain words, e.g. "Participants can read but not reply. Workers can start
    topics. …" Each tier gets the higher of its own level and everyone's."""
    def tr(message: Text, **params) -> str:
        return gettext(message.msgid) % params if params else gettext(message.msgid)

    everyone = category.level_everyone
    lines = [" ".join(tr(TIER_SENTENCES[(audience, max(everyone, category.level_for(audience)))])
                      for audience in AUDIENCES[1:])]
    lines.append(tr(VISITOR_PHRASES[NONE if everyone == NONE else SEE]) + " "
                 + tr(_("Moderators and admins can do everything.")))
    if parent is not None:
        lines.append(tr(_("It is a subcategory of %(parent)s: whoever cannot see %(parent)s cannot see it either."),
                        parent=parent.name))
    return lines


def matching_preset(category: Category) -> str | None:
    for name, levels in categories.PRESETS.items():
        if all(category.level_for(a) == levels[a] for a in AUDIENCES):
            return name
    return None


def update_category(session: Session, viewer: Viewer, category_id: int | str, *, name: str, description: str,
                    color: str, parent_id: int | str | None, new_participant_post_interval: int | str = 0,
                    localized: dict[str, dict[str, str]] | None = None) -> Category:
    """Rename (the slug follows), describe, recolour, nest under a top-level category or un-nest; and
    name and describe it in other languages (`localized`: {"es": {"name": …, "description": …}},
    an empty name leaving that language to the main name)."""
    category = get_category(session, viewer, category_id)
    fields: dict[str, str] = {}
    names_by_language = dict(category.localized or {})
    for code, values in (localized or {}).items():
        local_name = clean(values.get("name", ""), single_line=True)
        local_description = clean(values.get("description", ""))[:2000]
        if len(local_name) > 80:
            fields[f"name_{code}"] = _("Category names are 1 to 80 characters long.")
        elif local_name or local_description:
            names_by_language[code] = {"name": local_name, "description": local_description}
        else:
            names_by_language.pop(code, None)
    name = clean(name, single_line=True)
    if not 1 <= len(name) <= 80:
        fields["name"] = _("Category names are 1 to 80 characters long.")
    elif session.scalar(select(Category.id).where(func.lower(Category.name) == name.lower(),
                                                  Category.id != category.id)) is not None:
        fields["name"] = _("A category with that name already exists.")
    color = clean(color, single_line=True).lstrip("#").upper() or "0088CC"
    if len(color) not in (3, 6) or any(ch not in "0123456789ABCDEF" for ch in color):
        fields["color"] = _("Colours are hex codes such as 0088CC.")
    elif len(color) == 3:
        color = "".join(ch * 2 for ch in color)
    parent = None
    if parent_id not in (None, ""):
        parent = session.get(Category, parse_id(parent_id) or 0)
        has_children = session.scalar(select(Category.id).where(Category.parent_id == category.id).limit(1))
        if parent is None or parent.id == category.id or parent.parent_id is not None:
            fields["parent_id"] = _("Subcategories nest one level deep, under a top-level category.")
        elif has_children is not None:
            fields["parent_id"] = _("This category has subcategories, so it cannot become one.")
    try:
        interval = int(str(new_participant_post_interval or 0).strip())
    except ValueError:
        interval = -1
    if not 0 <= interval <= MAX_INTERVAL:
        fields["new_participant_post_interval"] = _("Enter 0 (no limit) to %(n)s seconds.", n=MAX_INTERVAL)
    if fields:
        raise ValidationFailed(fields=fields)
    description = clean(description)[:2000]
    before = {"name": category.name, "description": category.description, "color": category.color,
              "parent_id": category.parent_id, "interval": category.new_participant_post_interval,
              "localized": category.localized or {}}
    category.name = name
    category.slug = slugify(name, "category")
    category.description = description
    category.color = color
    category.parent_id = parent.id if parent else None
    category.new_participant_post_interval = interval
    category.localized = names_by_language or None
    after = {"name": category.name, "description": category.description, "color": category.color,
             "parent_id": category.parent_id, "interval": category.new_participant_post_interval,
             "localized": category.localized or {}}
    changed = {k: {"from": before[k], "to": after[k]} for k in before if before[k] != after[k]}
    if changed:
        modlog.record(session, viewer, "update_category", target_type="category", target_id=category.id,
                      summary=category.name, details=changed)
    session.flush()
    return category


def move_category(session: Session, viewer: Viewer, category_id: int | str, direction: str) -> Category:
    """Swap places with the neighbouring category of the same parent."""
    category = get_category(session, viewer, category_id)
    if direction not in ("up", "down"):
        raise ValidationFailed(_("Move a category up or down."))
    siblings = list(session.scalars(select(Category).where(
        Category.parent_id.is_(None) if category.parent_id is None else Category.parent_id == category.parent_id)
        .order_by(Category.position, Category.id)))
    index = siblings.index(category)
    other = index - 1 if direction == "up" else index + 1
    if not 0 <= other < len(siblings):
        return category
    # Renumber the siblings so that equal positions cannot make a swap a no-op.
    siblings[index], siblings[other] = siblings[other], siblings[index]
    for position, sibling in enumerate(siblings, 1):
        sibling.position = position
    modlog.record(session, viewer, "move_category", target_type="category", target_id=category.id,
                  summary=category.name, details={"direction": direction})
    session.flush()
    return category


def delete_category(session: Session, viewer: Viewer, category_id: int | str, *,
                    move_to: int | str | None = None, reason: str = "") -> None:
    """Delete a category that is empty, or first move all its topics (deleted ones too) to another."""
    category = get_category(session, viewer, category_id)
    if session.scalar(select(Category.id).where(Category.parent_id == category.id).limit(1)) is not None:
        raise ValidationFailed(_("Move or delete its subcategories first."))
    topics = session.scalar(select(func.count(Topic.id)).where(Topic.category_id == category.id)) or 0
    target = None
    if move_to not in (None, ""):
        target = session.get(Category, parse_id(move_to) or 0)
        if target is None or target.id == category.id:
            raise ValidationFailed(fields={"move_to": _("Choose another category for its topics.")})
    if topics and target is None:
        raise ValidationFailed(fields={"move_to": _(
            "This category still has %(n)s topics; choose a category to move them to.", n=topics)})
    if target is not None and topics:
        moved = list(session.scalars(select(Topic.id).where(Topic.category_id == category.id)))
        session.execute(update(Topic).where(Topic.category_id == category.id).values(category_id=target.id),
                        execution_options=_NO_SYNC)
        session.expire_all()
        for topic_id in moved:
            search.reindex_topic(session, topic_id)  # the index files words under the category
        session.execute(update(Category).where(Category.id == target.id).values(
            topic_count=Category.topic_count + category.topic_count,
            post_count=Category.post_count + category.post_count), execution_options=_NO_SYNC)
    session.execute(update(Invitation).where(Invitation.category_id == category.id).values(category_id=None),
                    execution_options=_NO_SYNC)
    modlog.record(session, viewer, "delete_category", target_type="category", target_id=category.id,
                  summary=category.name, reason=clean(reason, single_line=True),
                  details={"topics_moved": topics, "moved_to": target.name if target else None})
    session.delete(category)
    session.flush()
    session.expire_all()
