"""What people read for the forum's codes: tiers, audiences and viewing levels, in their language.

The codes (`member`, `see`, …) stay what the database, the API and URLs use; pages show these.
"""

from __future__ import annotations

from forum.i18n import _, translate
from forum.models import LEVEL_NAMES

TIER_LABELS = {"participant": _("Participant"), "worker": _("Worker"), "member": _("Member"),
               # Counted apart where people are counted by tier (the "seen by" breakdown).
               "staff": _("Staff")}
AUDIENCE_LABELS = {"everyone": _("Everyone"), **TIER_LABELS}
LEVEL_LABELS = {"none": _("No access"), "see": _("See"), "reply": _("Reply"), "create": _("Start topics")}
# "View the forum as …": whole phrases, since the article agrees with the noun in other languages.
VIEW_AS_LABELS = {"anonymous": _("a visitor"), "participant": _("a participant"), "worker": _("a worker"),
                  "member": _("a member")}


def _label(labels: dict, code, gettext) -> str:
    if isinstance(code, int):
        code = LEVEL_NAMES.get(code, code)
    found = labels.get(code)
    return translate(found, gettext) if found is not None else str(code)


def filters(gettext) -> dict:
    """Jinja filters: `{{ user.tier|tier_label }}`, `{{ a|audience_label }}`, `{{ level|level_label }}`."""
    return {
        "tier_label": lambda code: _label(TIER_LABELS, code, gettext),
        "audience_label": lambda code: _label(AUDIENCE_LABELS, code, gettext),
        "level_label": lambda code: _label(LEVEL_LABELS, code, gettext),
        "view_as_label": lambda code: _label(VIEW_AS_LABELS, code, gettext),
    }
