"""What browsers ask of a site: the web app manifest (so the forum can be added to a home screen)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

router = APIRouter()


@router.get("/manifest.webmanifest", include_in_schema=False)
def manifest(request: Request):
    renderer = request.app.state.renderer
    title = renderer.settings.site_title
    return JSONResponse({
        "name": title,
        "short_name": title if len(title) <= 12 else title.split()[0][:12],
        "description": renderer.settings.site_description,
        "lang": renderer.locale(request),
        "start_url": "/",
        "scope": "/",
        "display": "standalone",
        "background_color": "#ffffff",
        "theme_color": "#0b5cad",
        "icons": [
            {"src": "/static/icon-192.png", "sizes": "192x192", "type": "image/png"},
            {"src": "/static/icon-512.png", "sizes": "512x512", "type": "image/png"},
            {"src": "/static/icon.svg", "sizes": "any", "type": "image/svg+xml"},
        ],
    }, media_type="application/manifest+json",
        headers={"Cache-Control": "public, max-age=3600", "Vary": "Accept-Language, Cookie"})
