"""Creating categories and setting their viewing levels."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from forum import labels, modlog, permissions
from forum.errors import NotFound, ValidationFailed
from forum.i18n import _
from forum.models import AUDIENCES, LEVEL_NAMES, Category, Topic
from forum.permissions import Viewer
from forum.text import clean, slugify

PRESETS: dict[str, dict[str, int]] = {
    # audience -> level; the matrix stays the truth, presets only fill it in.
    "public": {"everyone": 3, "participant": 3, "worker": 3, "member": 3},
    "signed_in": {"everyone": 0, "participant": 3, "worker": 3, "member": 3},
    "members_and_workers": {"everyone": 0, "participant": 0, "worker": 3, "member": 3},
    "members_only": {"everyone": 0, "participant": 0, "worker": 0, "member": 3},
    "staff_only": {"everyone": 0, "participant": 0, "worker": 0, "member": 0},
}


def create_category(session: Session, viewer: Viewer, *, name: str, description: str = "",
                    color: str = "0088CC", parent_id: int | None = None,
                    levels: dict[str, int] | None = None) -> Category:
    permissions.ensure_can_moderate(viewer)
    name = clean(name, single_line=True)
    if not 1 <= len(name) <= 80:
        raise ValidationFailed(fields={"name": _("Category names are 1 to 80 characters long.")})
    if session.scalar(select(Category.id).where(func.lower(Category.name) == name.lower())) is not None:
        raise ValidationFailed(fields={"name": _("A category with that name already exists.")})
    color = clean(color, single_line=True).lstrip("#").upper() or "0088CC"
    if len(color) not in (3, 6) or any(ch not in "0123456789ABCDEF" for ch in color):
        raise ValidationFailed(fields={"color": _("Colours are hex codes such as 0088CC.")})
    if parent_id is not None:
        parent = session.get(Category, parent_id)
        if parent is None or parent.parent_id is not None:
            raise ValidationFailed(fields={"parent_id": _("Subcategories nest one level deep, under a top-level category.")})
    position = (session.scalar(select(func.max(Category.position))) or 0) + 1
    category = Category(name=name, slug=slugify(name, "category"), description=clean(description)[:2000],
                        color=color, parent_id=parent_id, position=position)
    for audience, level in (levels or PRESETS["public"]).items():
        category.set_level(audience, level)
    session.add(category)
    session.flush()
    modlog.record(session, viewer, "create_category", target_type="category", target_id=category.id,
                  summary=category.name, details={a: LEVEL_NAMES[category.level_for(a)] for a in AUDIENCES})
    return category


def set_levels(session: Session, viewer: Viewer, category_id: int, levels: dict[str, int]) -> Category:
    permissions.ensure_can_moderate(viewer)
    category = session.get(Category, category_id)
    if category is None:
        raise NotFound()
    for audience in AUDIENCES:
        if audience not in levels or levels[audience] not in LEVEL_NAMES:
            raise ValidationFailed(_("Choose a level for %(audience)s.",
                                     audience=labels.AUDIENCE_LABELS.get(audience, audience)))
    before = {a: LEVEL_NAMES[category.level_for(a)] for a in AUDIENCES}
    for audience in AUDIENCES:
        category.set_level(audience, levels[audience])
    after = {a: LEVEL_NAMES[category.level_for(a)] for a in AUDIENCES}
    if before != after:
        modlog.record(session, viewer, "set_category_levels", target_type="category", target_id=category.id,
                      summary=category.name, details={a: {"from": before[a], "to": after[a]}
                                                      for a in AUDIENCES if before[a] != after[a]})
    return category


def _hex_color(value: str, field: str) -> str:
    color = clean(value, single_line=True).lstrip("#").upper()
    if len(color) not in (3, 6) or any(ch not in "0123456789ABCDEF" for ch in color):
        raise ValidationFailed(fields={field: _("Colours are hex codes such as 0088CC.")})
    return color


def update_category(session: Session, viewer: Viewer, category_id: int, *, name: str | None = None,
                    color: str | None = None, text_color: str | None = None, description: str | None = None,
                    slug: str | None = None) -> Category:
    """Rename or recolour a category; only the given fields change."""
    permissions.ensure_can_moderate(viewer)
    category = session.get(Category, category_id)
    if category is None:
        raise NotFound()
    if name is not None:
        name = clean(name, single_line=True)
        if not 1 <= len(name) <= 80:
            raise ValidationFailed(fields={"name": _("Category names are 1 to 80 characters long.")})
        taken = session.scalar(select(Category.id).where(func.lower(Category.name) == name.lower(),
                                                         Category.id != category.id))
        if taken is not None:
            raise ValidationFailed(fields={"name": _("A category with that name already exists.")})
        category.name = name
    if color is not None:
        category.color = _hex_color(color, "color")
    if text_color is not None:
        category.text_color = _hex_color(text_color, "text_color")
    if description is not None:
        category.description = clean(description)[:2000]
    if slug is not None:
        category.slug = slugify(slug, "category")
    session.flush()
    return category


def delete_category(session: Session, viewer: Viewer, category_id: int) -> None:
    """Delete an empty category. One that holds topics or subcategories stays: nothing is lost by accident."""
    permissions.ensure_can_moderate(viewer)
    category = session.get(Category, category_id)
    if category is None:
        raise NotFound()
    if session.scalar(select(Topic.id).where(Topic.category_id == category.id).limit(1)) is not None:
        raise ValidationFailed(_("This category still holds topics; move or delete them first."))
    if session.scalar(select(Category.id).where(Category.parent_id == category.id).limit(1)) is not None:
        raise ValidationFailed(_("This category still has subcategories; move or delete them first."))
    session.delete(category)
    session.flush()


def all_categories(session: Session) -> list[Category]:
    """Every category in display order, whoever may see it: for staff pages only."""
    return list(session.scalars(select(Category).order_by(Category.position, Category.id)))


def topic_count(session: Session, category: Category) -> int:
    return session.scalar(select(func.count(Topic.id)).where(Topic.category_id == category.id)) or 0
