"""The allowed directions between the parts of the forum, as written in pyproject.toml's import-linter
contracts: pages (forum.web) and the JSON API (forum.api) never import each other, services import
neither of them nor the app, and no two modules of a package import each other in a cycle."""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
CONTRACTS = [c["id"] for c in PYPROJECT["tool"]["importlinter"]["contracts"]]


def lint_imports(root: Path, *contracts: str) -> subprocess.CompletedProcess:
    # `lint-imports` reads the contracts from pyproject.toml in the directory it runs in, and finds
    # the package on the path: point both at `root`.
    script = Path(sys.executable).with_name("lint-imports")
    args = [str(script), "--no-cache", "--no-logo", *(arg for c in contracts for arg in ("--contract", c))]
    return subprocess.run(args, cwd=root, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(root)})


@pytest.mark.parametrize("contract", CONTRACTS)
def test_import_contract_is_kept(contract):
    result = lint_imports(ROOT, contract)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.fixture(scope="module")
def copy_of_forum(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("layers")
    shutil.copytree(ROOT / "forum", root / "forum", ignore=shutil.ignore_patterns("__pycache__", "locale", "data"))
    shutil.copy(ROOT / "pyproject.toml", root / "pyproject.toml")
    return root


def _with_import(root: Path, module: str, line: str) -> Path:
    path = root / module
    original = path.read_text()
    path.write_text(f"{line}\n{original}")
    return path


@pytest.mark.parametrize("module, line, contract, culprit", [
    ("forum/api/topics.py", "from forum.web import notifications", "doors", "forum.api.topics -> forum.web"),
    ("forum/web/topics.py", "from forum.api import serializers", "doors", "forum.web.topics -> forum.api"),
    ("forum/tracking.py", "from forum.web import lists", "services", "forum.tracking -> forum.web.lists"),
    ("forum/posting.py", "from forum.api import serializers", "services", "forum.posting -> forum.api"),
    ("forum/deps.py", "from forum.web import templating", "services", "forum.deps -> forum.web.templating"),
    ("forum/policy.py", "from forum import permissions", "acyclic", ".policy -> .permissions"),
    ("forum/web/templating.py", "from forum.web import notifications", "acyclic", ".templating -> .notifications"),
])
def test_import_contract_fails_when_broken(copy_of_forum, module, line, contract, culprit):
    path = _with_import(copy_of_forum, module, line)
    original = path.read_text().split("\n", 1)[1]
    try:
        result = lint_imports(copy_of_forum, contract)
    finally:
        path.write_text(original)
    assert result.returncode == 1, result.stdout + result.stderr
    assert culprit in result.stdout, result.stdout


def test_demo_data_files_are_packaged():
    # `pip install .` ships only the data files package-data names; the demo reads them at run time.
    patterns = PYPROJECT["tool"]["setuptools"]["package-data"]["forum"]
    data = [p for p in (ROOT / "forum" / "demo" / "data").rglob("*") if p.is_file()]
    assert data
    for path in data:
        relative = path.relative_to(ROOT / "forum")
        assert any(relative.match(pattern) for pattern in patterns), f"{relative} is not in package-data"


# Route modules allowed to build queries: none. A route that needs one asks a service or reader, and
# an entry here is a debt to pay back, never a place to grow.
ROUTES_WITH_SQL: frozenset[str] = frozenset()


def _builds_queries(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module == "sqlalchemy":
            found.append(f"line {node.lineno}: from sqlalchemy import ...")
        elif isinstance(node, ast.Import) and any(a.name == "sqlalchemy" for a in node.names):
            found.append(f"line {node.lineno}: import sqlalchemy")
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
              and node.func.attr in ("execute", "query")):
            found.append(f"line {node.lineno}: .{node.func.attr}(...)")
    return found


@pytest.mark.parametrize("path", sorted(str(p.relative_to(ROOT)) for door in ("web", "api")
                                        for p in (ROOT / "forum" / door).glob("*.py")))
def test_routes_hold_no_sql(path):
    # Pages and the API ask services and readers (forum/reading.py, forum/accounts.py, ...), so a query
    # and the permission filter it needs are written once, beside each other.
    found = _builds_queries(ROOT / path)
    if path in ROUTES_WITH_SQL:
        assert found, f"{path} holds no SQL any more: take it off ROUTES_WITH_SQL"
    else:
        assert not found, f"{path} builds queries: " + "; ".join(found)


def test_every_route_is_built_once_where_it_is_declared(app):
    """The routers' routes are the app's own (forum.app.add_routes): none is built a second time, per
    process, on the first request through an included router."""
    from fastapi.routing import APIRoute
    from starlette.routing import Mount, Route

    kinds = {type(route) for route in app.router.routes}
    assert kinds <= {APIRoute, Route, Mount}, kinds  # Route: FastAPI's own /api/openapi.json and /api/docs
    paths = {route.path for route in app.router.routes if isinstance(route, APIRoute)}
    assert {"/latest", "/t/{slug}/{topic_id:id}", "/posts.json", "/admin/api-keys"} <= paths, sorted(paths)[:20]


def test_the_server_does_not_load_what_only_commands_need():
    """Progress bars and summary tables (rich) are drawn by backups, restores and imports; the
    server's workers do without them (4 MB and 0.1 s of each start)."""
    code = "import sys, forum.app; print(sorted(m for m in ('rich',) if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120,
                         env={**os.environ, "FORUM_DATABASE_URL": "sqlite://"})
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
