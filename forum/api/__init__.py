"""The Discourse-compatible JSON API; docs/api.md is its contract (what is implemented, where it differs).

Routes here are thin: they parse Discourse's parameters, call the same services and permission
checks as the pages (posting, reading, categories, accounts, permissions) and shape the answer.
Every route is declared with its `.json` path; `AcceptJson` also serves it at the bare path when
the client asks for JSON, as Discourse does (pydiscourse calls `POST /posts`, `PUT /posts/{id}`,
`DELETE /t/{id}`, … without the suffix).
"""

from __future__ import annotations

from fastapi import APIRouter
from starlette.routing import Match

from forum.api import (
    admin_users,
    bookmarks,
    categories,
    drafts,
    follows,
    messages,
    moderation,
    people,
    posts,
    review,
    site,
    tags,
    tiers,
    topics,
    uploads,
    useractions,
    users,
)

# In the order they are tried. admin_users before moderation: its named actions (activate.json, …)
# come before moderation's `/admin/users/{id}/{change}.json` for the staff roles.
ROUTERS = tuple(module.router for module in (
    messages, topics, posts, categories, drafts, users, useractions, site, admin_users, moderation, review, tiers,
    people, uploads, tags, bookmarks, follows))


class AcceptJson:
    """ASGI middleware: `/foo` + `Accept: application/json` is answered by the `/foo.json` route.

    Only paths that an API route matches (with this method) are rewritten, so pages, forms and
    the fetch() calls of our own scripts are never taken over.
    """

    def __init__(self, app, routers: tuple[APIRouter, ...] = ROUTERS):
        self.app = app
        self.routes = [route for router in routers for route in router.routes]

    def _accepts_json(self, scope) -> bool:
        """JSON is asked for, and before HTML when both are named (a page's fetch() may accept either)."""
        for name, value in scope.get("headers", []):
            if name == b"accept":
                json_at, html_at = value.find(b"application/json"), value.find(b"text/html")
                return json_at >= 0 and (html_at < 0 or json_at < html_at)
        return False

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http":
            path: str = scope["path"]
            last = path.rsplit("/", 1)[-1]
            if last and "." not in last and self._accepts_json(scope):
                candidate = {**scope, "path": path + ".json", "raw_path": (path + ".json").encode()}
                if any(route.matches(candidate)[0] == Match.FULL for route in self.routes):
                    scope = candidate
        await self.app(scope, receive, send)
