"""What browsers and operators ask of a site: the web app manifest (so the forum can be added to a
home screen) and the health checks a load balancer or orchestrator polls."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from forum import health, observability
from forum.errors import NotFound

router = APIRouter()


@router.get("/health/live", include_in_schema=False)
async def live(request: Request):
    """The process answers (no database asked). `seen_as` is the address this request reached, as
    the forum understood it after any proxy: `forum check` compares it with FORUM_BASE_URL."""
    return JSONResponse({"status": "ok", "seen_as": f"{request.url.scheme}://{request.url.netloc}"},
                        headers={"Cache-Control": "no-store"})


@router.get("/health/ready", include_in_schema=False)
def ready(request: Request):
    """Database reachable, schema at the code's head, Redis answering (when set), outbox drained."""
    checks = health.readiness(request.app.state.db, request.app.state.limiter)
    ok = all(v == "ok" for v in checks.values())
    return JSONResponse({"status": "ok" if ok else "unavailable", "checks": checks}, status_code=200 if ok else 503,
                        headers={"Cache-Control": "no-store"})


@router.get("/metrics", include_in_schema=False)
def metrics(request: Request):
    """Prometheus metrics, for allowed addresses or the token only; anyone else finds nothing here."""
    settings = request.app.state.settings
    client = request.client.host if request.client else None
    if not observability.metrics_allowed(settings, client, request.headers.get("authorization")):
        raise NotFound()
    body, kind = observability.exposition(request.app.state.db)
    return Response(body, media_type=kind, headers={"Cache-Control": "no-store"})


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
