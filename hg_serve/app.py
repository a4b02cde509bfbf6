"""The ASGI application: routes, static assets, auth, live reload; no business logic.

Starlette + uvicorn: a small, well-kept ASGI stack with async streaming (SSE), HTTP Range
file responses and plain routing, without a framework's weight.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import xstatic.pkg.leaflet
import xstatic.pkg.leaflet_markercluster
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.middleware.gzip import GZipMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from hg_common.config import Config
from hg_serve import api, face_crops, fetch_export, files, live, login, mlapi, originals
from hg_serve.app_paths import STATIC
from hg_serve.auth import AuthMiddleware, Sessions
from hg_serve.cache import ResponseCache
from hg_serve.gallery import Gallery
from hg_serve.headers import SecurityHeaders
from hg_serve.import_status import ImportStatusApp
from hg_serve.settings import ServerSettings

APP_PAGES = (
    "/",
    "/years",
    "/tags",
    "/folders",
    "/map",
    "/videos",
    "/memories",
    "/duplicates",
    "/people",
    "/failures",
    "/view/{id}",
)


def map_tiles(settings: ServerSettings) -> str:
    """`[server] map_tiles` (its host goes into the content security policy)."""
    return settings.map_tiles


def page(request: Request) -> Response:
    """The app shell, with the base path it lives under."""
    settings = request.app.state.settings
    html = (STATIC / "index.html").read_text().replace("%BASE%", settings.base_path)
    return HTMLResponse(html, headers={"Cache-Control": "no-cache"})


def manifest(request: Request) -> Response:
    base = request.app.state.settings.base_path
    text = (STATIC / "manifest.webmanifest").read_text().replace("%BASE%", base)
    return Response(text, media_type="application/manifest+json")


def create_app(
    cfg: Config,
    settings: ServerSettings,
    poll_interval: float = 1.0,
    session_key: bytes | None = None,
) -> Starlette:
    gallery = Gallery(cfg.database, cfg.events)
    broker = live.Broker(lambda ids, filters: gallery.call(gallery.existing, ids, filters))
    watcher = live.Watcher(gallery, broker, poll_interval)
    sessions = Sessions(settings, session_key)
    ml = mlapi.MlApi() if settings.ml_api else None

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> Any:
        task = asyncio.create_task(watcher.run())
        loading = asyncio.create_task(ml.load()) if ml is not None else None
        try:
            yield
        finally:
            task.cancel()
            if loading is not None:
                loading.cancel()
            broker.close()
            gallery.close()
            sessions.close()

    face_crop = face_crops.handler(cfg.storage, private=settings.auth_required)
    routes = _routes(cfg, broker, storage_handler(cfg, settings, gallery), face_crop)
    if ml is not None:
        routes += ml.routes()
    app = Starlette(
        routes=_under_base(routes, settings.base_path),
        lifespan=lifespan,
        middleware=[
            Middleware(SecurityHeaders, map_tiles=map_tiles(settings)),
            Middleware(AuthMiddleware, sessions=sessions, base_path=settings.base_path),
            Middleware(GZipMiddleware, minimum_size=1000),
        ],
    )
    app.state.gallery = gallery
    app.state.cache = ResponseCache()
    app.state.broker = broker
    app.state.watcher = watcher
    app.state.settings = settings
    app.state.sessions = sessions
    return app


def storage_handler(cfg: Config, settings: ServerSettings, gallery: Gallery):
    """`GET /files/<path>`: a storage file, for a user with a filter only what it lets them
    see (see files.py)."""

    async def storage_file(request: Request) -> Response:
        filters = live.user_filters(request)
        if filters:
            key = files.storage_key(request.path_params["path"])
            if key is None:
                return PlainTextResponse("not found", 404)
            keys = gallery.visible_keys_cached(filters)
            if keys is None:
                keys = await gallery.call(gallery.visible_keys, filters)
            if not files.has_key(keys, key):
                return PlainTextResponse("not found", 404)
        # stat and realpath are blocking I/O (a NAS disk may be slow): off the event loop
        private = settings.auth_required  # not for shared caches: a user's own photos
        return await run_in_threadpool(files.serve_file, request, cfg.storage, private)

    return storage_file


def _routes(cfg: Config, broker: live.Broker, storage_file, face_crop) -> list[Route | Mount]:
    """The app's pages, its JSON API, the event stream and the files it serves."""
    fetch = fetch_export.routes(cfg.storage)
    return [
        *(Route(p, page) for p in APP_PAGES),
        Route("/manifest.webmanifest", manifest),
        Route("/login", login.form, methods=["GET"]),
        Route("/login", login.submit, methods=["POST"]),
        Route("/logout", login.logout, methods=["POST"]),
        Route("/api/info", api.info),
        Route("/api/import-status", ImportStatusApp(cfg.home)),
        Route("/api/entries", api.entries),
        Route("/api/entries/{id}", api.entry),
        Route("/api/entries/{id}/similar", api.similar),
        Route("/api/years", api.years),
        Route("/api/tags", api.tags),
        Route("/api/geo", api.geo),
        Route("/api/folders", api.folders),
        Route("/api/duplicates", api.duplicates),
        Route("/api/failures", api.failures),
        Route("/api/people", api.people),
        Route("/api/people/events", api.post_person_event, methods=["POST"]),
        Route("/api/people/{id}", api.person),
        Route("/api/events", api.post_events, methods=["POST"]),
        Route("/api/fetch/manifest", fetch["manifest"]),
        Route("/api/fetch/entries", fetch["entries"], methods=["POST"]),
        Route("/api/fetch/events", fetch["events"]),
        Route("/api/events/stream", lambda r: live.stream_response(r, broker)),
        Route("/files/{path:path}", storage_file, methods=["GET", "HEAD"]),
        Route("/originals/{id}/{n}", originals.original, methods=["GET", "HEAD"]),
        Route("/faces/{id}/{n}", face_crop, methods=["GET", "HEAD"]),
        Mount("/static", StaticFiles(directory=STATIC)),
        Mount("/vendor/leaflet", StaticFiles(directory=xstatic.pkg.leaflet.BASE_DIR)),
        Mount(
            "/vendor/markercluster",
            StaticFiles(directory=xstatic.pkg.leaflet_markercluster.BASE_DIR),
        ),
    ]


def _under_base(routes: list[Route | Mount], base: str) -> list[Route | Mount]:
    """The routes under `[server] base_path` (its root redirects there), or as they are."""
    if not base:
        return routes
    return [Route("/", lambda r: RedirectResponse(base + "/")), Mount(base, routes=routes)]
