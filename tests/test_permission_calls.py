"""Every decision about what someone may see or do is a call into forum/permissions.py.

This reads the code rather than running it: a module that tests a viewer's role itself (`viewer.is_staff`),
or branches on anybody's role, fails here and should ask (or add) a named rule in permissions.py instead.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ROLE_FLAGS = {"is_staff", "is_admin", "is_moderator"}

# Where roles are defined, seeded and printed: the rules themselves, the models, the demo data and
# the command line's list of accounts.
OWNERS = ("forum/permissions.py", "forum/models/", "forum/demo/", "forum/cli.py")
# Where roles are set and their holders counted or listed (`User.is_admin.is_(True)`): only a
# viewer's role is refused there.
ROLE_KEEPERS = ("forum/accounts.py", "forum/user_admin.py")

# Uses of a role that are facts about a person shown to others, not decisions about a viewer:
# (module, the expression) -> why.
ALLOWED = {
    ("forum/web/mod.py", "user.is_staff"):
        "a staff member's account page lists the moderation actions they took: the page's subject",
    ("forum/api/site.py", "u.is_admin"):
        "/about.json sorts the staff it lists into admins and moderators",
    ("forum/api/serializers.py", "user.is_admin"):
        "Discourse's trust level 4 stands for an admin in what clients are told about a user",
}

_DECISIONS = (ast.If, ast.IfExp, ast.While, ast.Assert)


def _is_decision(node: ast.AST, parents: dict[ast.AST, ast.AST]) -> bool:
    """Whether the role is tested: an operand of and/or/not, or the test of a branch or filter."""
    child, parent = node, parents.get(node)
    if isinstance(parent, ast.BoolOp) or (isinstance(parent, ast.UnaryOp) and isinstance(parent.op, ast.Not)):
        return True
    while parent is not None:
        if isinstance(parent, _DECISIONS) and parent.test is child:
            return True
        if isinstance(parent, ast.comprehension) and child in parent.ifs:
            return True
        if not isinstance(parent, (ast.BoolOp, ast.UnaryOp)):
            return False
        child, parent = parent, parents.get(parent)
    return False


def role_uses(rel: str, source: str) -> list[tuple[int, str, str]]:
    """(line, expression, why it is a decision) for each role tested in one module."""
    if rel.startswith(OWNERS):
        return []
    tree = ast.parse(source)
    parents = {child: parent for parent in ast.walk(tree) for child in ast.iter_child_nodes(parent)}
    found = []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Attribute) and node.attr in ROLE_FLAGS and isinstance(node.ctx, ast.Load)):
            continue
        owner = ast.get_source_segment(source, node.value) or ""
        expression = f"{owner}.{node.attr}"
        if re.search(r"viewer", owner, re.IGNORECASE):
            found.append((node.lineno, expression, "a viewer's role"))
        elif rel.startswith(ROLE_KEEPERS):
            continue
        elif owner == "User":
            found.append((node.lineno, expression, "accounts chosen by role in SQL"))
        elif _is_decision(node, parents):
            found.append((node.lineno, expression, "a branch on a role"))
    return found


def _forum_modules() -> list[tuple[str, str]]:
    return [(path.relative_to(ROOT).as_posix(), path.read_text()) for path in sorted((ROOT / "forum").rglob("*.py"))]


def test_no_module_outside_permissions_decides_by_role():
    offending = []
    for rel, source in _forum_modules():
        for line, expression, why in role_uses(rel, source):
            if (rel, expression) not in ALLOWED:
                offending.append(f"{rel}:{line}: {expression} ({why})")
    assert not offending, ("ask forum/permissions.py (add a named rule there) instead of testing roles:\n"
                           + "\n".join(offending))


def test_every_allowed_use_is_still_there():
    # An entry nothing matches any more would let a future decision through unnoticed.
    seen = {(rel, expression) for rel, source in _forum_modules() for _line, expression, _why in role_uses(rel, source)}
    assert set(ALLOWED) <= seen, sorted(set(ALLOWED) - seen)


def test_templates_ask_permissions():
    pattern = re.compile(r"\bviewer(\.user)?\.is_(staff|admin|moderator)\b")
    offending = [f"{path.relative_to(ROOT)}:{n}: {line.strip()}"
                 for path in sorted((ROOT / "templates").rglob("*"))
                 if path.is_file() and path.suffix in {".html", ".txt", ".xml"}
                 for n, line in enumerate(path.read_text().splitlines(), 1) if pattern.search(line)]
    assert not offending, "templates ask permissions.* (a global) instead:\n" + "\n".join(offending)


def test_the_check_sees_what_it_should():
    # The check itself must be able to fail: a viewer's role, a branch on anyone's role and a choice
    # of accounts by role are caught; a role handed to a client as data is not.
    probe = (
        "def f(viewer, user, User, select):\n"
        "    a = viewer.is_staff\n"
        "    b = 1 if user.is_admin else 2\n"
        "    c = [u for u in user.friends if not u.is_moderator]\n"
        "    d = select(User).where(User.is_admin.is_(True))\n"
        "    return {'admin': user.is_admin, 'staff': viewer.user.is_admin}\n"
    )
    found = sorted((line, expression) for line, expression, _why in role_uses("forum/probe.py", probe))
    assert found == [(2, "viewer.is_staff"), (3, "user.is_admin"), (4, "u.is_moderator"),
                     (5, "User.is_admin"), (6, "viewer.user.is_admin")]
    assert role_uses("forum/user_admin.py", probe) == [(2, "viewer.is_staff", "a viewer's role"),
                                                       (6, "viewer.user.is_admin", "a viewer's role")]
