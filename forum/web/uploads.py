"""The guard that refuses a request body larger than an upload may be before it is read (the
files themselves are served by forum/api/uploads.py, under Discourse's paths)."""

from __future__ import annotations

import json

from starlette.requests import Request as StarletteRequest

from forum import uploads
from forum.i18n import _, translate


class BodyLimit:
    """Answers 413 at once to a request whose declared body is larger than any upload may be (plus
    room for the form around it), before a byte of it is read. Bodies sent without a length are cut
    off while they are stored (forum/uploads.py)."""

    def __init__(self, app, *, settings, renderer):
        self.app, self.settings, self.renderer = app, settings, renderer

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and scope["method"] in ("POST", "PUT"):
            for header, value in scope.get("headers", []):
                if header == b"content-length":
                    if value.isdigit() and int(value) > self.settings.max_upload_bytes + 1024 * 1024:
                        return await self._refuse(scope, send)
                    break
        await self.app(scope, receive, send)

    async def _refuse(self, scope, send):
        request = StarletteRequest(scope)
        message = translate(_("This file is larger than %(size)s, the most the forum accepts.",
                              size=uploads.human_size(self.settings.max_upload_bytes)),
                            self.renderer.gettext(request))
        wants_json = scope["path"].endswith(".json") or b"application/json" in dict(scope["headers"]).get(b"accept", b"")
        if wants_json:
            body, kind = json.dumps({"errors": [message], "error_type": "too_large"}).encode(), b"application/json"
        else:
            body, kind = message.encode(), b"text/plain; charset=utf-8"
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", kind), (b"content-length", str(len(body)).encode()),
                                (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": body})
