"""docs/api.md is the API's contract: every route the API serves is written down there."""

from __future__ import annotations

import importlib
import pkgutil
import re
from pathlib import Path

from starlette.routing import Route

import forum.api

DOC = Path(__file__).resolve().parent.parent / "docs" / "api.md"


def _shape(path: str) -> str:
    # `/t/{topic_id:int}.json` in the code is `/t/{id}.json` in the document.
    return re.sub(r"\{[^}]*\}", "{}", path)


def test_every_api_route_is_documented():
    documented = {_shape(p) for p in re.findall(r"`(/[^`\s]*)`", DOC.read_text())}
    modules = [importlib.import_module(f"forum.api.{m.name}") for m in pkgutil.iter_modules(forum.api.__path__)]
    served = {_shape(r.path) for m in modules if hasattr(m, "router")
              for r in m.router.routes if isinstance(r, Route)}
    assert served, "no API routes found"
    missing = sorted(served - documented)
    assert not missing, f"API routes missing from docs/api.md: {missing}"


def test_api_package_points_to_the_document():
    assert "docs/api.md" in (forum.api.__doc__ or "")
    assert DOC.exists()
