"""Search pages: full-text search, and the @mention autocomplete the composer asks."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from forum import reading, search, urls
from forum.deps import CsrfDep, SessionDep, ViewerDep
from forum.errors import LoginRequired
from forum.web.templating import render

router = APIRouter(dependencies=[CsrfDep])


@router.get("/search")
def search_page(request: Request, session: SessionDep, viewer: ViewerDep, q: str = "", page: str = "1"):
    if not q.strip():
        return render(request, "search.html", {"q": "", "result": None})
    result = search.search(session, viewer, q, reading.parse_page(page))
    return render(request, "search.html", {"q": result.term, "result": result},
                  status_code=400 if result.error else 200)


@router.get("/u/search/users")
@router.get("/u/search/users.json")
def mention_candidates(session: SessionDep, viewer: ViewerDep, term: str = ""):
    """@mention autocomplete: usernames and names only, never content."""
    if viewer.is_anonymous:
        raise LoginRequired()
    users = search.mention_candidates(session, term)
    return JSONResponse({"users": [{"username": u.username, "name": u.name,
                                    "avatar_template": urls.avatar_template(u)}
                                   for u in users]}, media_type="application/json; charset=utf-8")
