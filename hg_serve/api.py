"""The JSON API: thin handlers that parse the request, ask the Gallery and answer.

Every read applies the user's filter (AND) to the query and runs in one of the Gallery's
reader threads. Query errors are 400 with `{"error": message}`; the message names the
position of the problem.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from datetime import date
from typing import Any

import orjson
from isal import igzip
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from hg_build.api import PeopleError
from hg_serve import diagnose, eventlog
from hg_serve.cache import ResponseCache
from hg_serve.gallery import MAX_LIMIT, Gallery, QueryError
from hg_serve.live import Broker, Watcher, user_filters
from hg_serve.settings import MAX_EVENT_BODY

APPLY_WAIT = 2.0  # seconds an edit waits for hg-build's writer lock before it is left pending


NO_STORE = {"Cache-Control": "no-store"}


class ORJSONResponse(JSONResponse):
    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def error(status: int, message: str) -> Response:
    return ORJSONResponse({"error": message}, status_code=status)


def _int(request: Request, name: str, default: int, high: int) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    if not raw.isdigit() or int(raw) > high:
        raise QueryError(f"{name} must be a whole number from 0 to {high}")
    return int(raw)


def _threshold(request: Request) -> float | None:
    raw = request.query_params.get("threshold")
    if raw is None:
        return None
    try:
        value = float(raw)
    except ValueError:
        value = float("nan")
    if not -1 <= value <= 1:
        raise QueryError("threshold must be a cosine from -1 to 1")
    return value


def query_endpoint(
    run: Callable[[Gallery, Request, str, tuple[str, ...]], Any], slow: bool = False
):
    """A GET handler: q and the user's filter in, JSON out, QueryError -> 400.

    `run` is called in a reader thread, and the JSON is made (and gzip'd by ISA-L, level 1: a
    100k map's points are a megabyte) there too, so the event loop stays free for other
    clients. Answers are cached while the database version holds. A `slow` question runs
    on the gallery's one slow thread, and a request that waited there for the same
    question takes the answer the one before it cached.
    """

    def work(gallery: Gallery, request: Request, q: str, filters, key, gz: bool):
        version = gallery.version()  # before the query: a commit meanwhile is a miss later
        if slow and (body := request.app.state.cache.get(key, version)) is not None:
            return body
        result = run(gallery, request, q, filters)
        if result is None:
            return None
        body = orjson.dumps(result)
        if gz:  # ISA-L level 1: 4x faster than zlib's level 1 and smaller
            body = igzip.compress(body, compresslevel=1, mtime=0)
        request.app.state.cache.put(key, version, body)
        return body

    async def endpoint(request: Request) -> Response:
        gallery: Gallery = request.app.state.gallery
        cache: ResponseCache = request.app.state.cache
        q = request.query_params.get("q", "")
        filters = user_filters(request)
        gz = "gzip" in request.headers.get("accept-encoding", "")
        # the day too: an answer may depend on it (`memories:today`), not only on the data
        key = (request.url.path, str(request.query_params), filters, gz, date.today())
        body = cache.get(key, gallery.version())
        if body is None:
            try:
                call = gallery.call_slow if slow else gallery.call
                body = await call(work, gallery, request, q, filters, key, gz)
            except QueryError as exc:
                return error(400, str(exc))
            except sqlite3.OperationalError as exc:  # e.g. a new connection in a full home
                reason = diagnose.explain(gallery.database.parent, exc)
                return error(503, f"the gallery database cannot be read: {reason}")
        if body is None:
            return error(404, "no such entry")
        headers = {**NO_STORE, "Vary": "Accept-Encoding"}
        if gz:
            headers["Content-Encoding"] = "gzip"
        return Response(body, media_type="application/json", headers=headers)

    return endpoint


entries = query_endpoint(
    lambda g, r, q, f: g.page(q, f, _int(r, "offset", 0, 10**9), _int(r, "limit", 1000, MAX_LIMIT))
)
entry = query_endpoint(lambda g, r, q, f: g.detail(r.path_params["id"], f))
years = query_endpoint(lambda g, r, q, f: g.years(q, f))
tags = query_endpoint(lambda g, r, q, f: g.tags(q, f))
folders = query_endpoint(lambda g, r, q, f: g.folders(r.query_params.get("path", ""), q, f))
geo = query_endpoint(lambda g, r, q, f: g.geo(q, f))
similar = query_endpoint(lambda g, r, q, f: {"entries": g.similar(r.path_params["id"], f)})
duplicates = query_endpoint(lambda g, r, q, f: g.duplicates(q, f, _threshold(r)), slow=True)
people = query_endpoint(lambda g, r, q, f: g.people(q, f))
person = query_endpoint(lambda g, r, q, f: g.person(r.path_params["id"], f))
failures = query_endpoint(
    lambda g, r, q, f: g.failures(f, _int(r, "offset", 0, 10**9), _int(r, "limit", 500, MAX_LIMIT))
)


async def info(request: Request) -> Response:
    user = request.scope.get("state", {}).get("user")
    settings = request.app.state.settings
    gallery: Gallery = request.app.state.gallery
    try:
        failed = await gallery.call(gallery.failure_count, user_filters(request))
    except sqlite3.OperationalError:  # the entries API says why; the header shows none
        failed = None
    return ORJSONResponse(
        {
            "user": user.name if user else None,
            "auth": settings.auth_required,
            "filter": user.filter if user else None,
            "map_tiles": settings.map_tiles,
            "failures": failed,
        },
        headers=NO_STORE,
    )


async def _read_body(request: Request, limit: int) -> bytes | None:
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > limit):
        return None
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            return None
    return bytes(body)


async def _json_body(request: Request) -> Any:
    """The POSTed JSON, or an error Response."""
    if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
        return error(415, "send the edit as application/json")
    body = await _read_body(request, MAX_EVENT_BODY)
    if body is None:
        return error(413, f"an edit is at most {MAX_EVENT_BODY} bytes")
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        return error(400, f"invalid JSON: {exc}")


async def _save_and_apply(request: Request, event: dict[str, Any]) -> Response:
    """Append an event durably, apply it, tell open pages; 201 with the event."""
    gallery: Gallery = request.app.state.gallery
    watcher: Watcher = request.app.state.watcher
    watcher.seen.add(event["id"])
    try:
        await asyncio.to_thread(gallery.append_event, event)  # durable before we answer
    except OSError as exc:  # a read-only or full home: say so, and keep serving reads
        watcher.seen.discard(event["id"])
        reason = diagnose.explain(gallery.events.parent, exc)
        return error(503, f"the edit was not saved: {reason}")
    await asyncio.to_thread(watcher.apply_edits, APPLY_WAIT)
    broker: Broker = request.app.state.broker
    await broker.publish(event)
    return ORJSONResponse(event, status_code=201)


async def post_person_event(request: Request) -> Response:
    """A correction of the people: `{"action": "name", "person", "name"}`, `{"action":
    "merge", "person", "from"}`, `{"action": "move", "face", "person" (null: alone)}` or
    `{"action": "reject", "face"}`; people and faces the user cannot see are unknown (400).
    Saved as a personAction event in the log, applied like a tag edit."""
    data = await _json_body(request)
    if isinstance(data, Response):
        return data
    gallery: Gallery = request.app.state.gallery
    try:
        event = await gallery.call(gallery.person_event, data, user_filters(request))
    except (PeopleError, QueryError) as exc:
        return error(400, str(exc))
    return await _save_and_apply(request, event)


async def post_events(request: Request) -> Response:
    """Validate `{targetIds, actions}`, append it durably, apply it, tell open pages.

    Applying goes through hg_build (`Gallery.apply_events`); when an import holds the
    writer lock longer than APPLY_WAIT the edit is still acknowledged (it is in the log)
    and the watcher applies it as soon as the lock is free.
    """
    data = await _json_body(request)
    if isinstance(data, Response):
        return data
    gallery: Gallery = request.app.state.gallery
    filters = user_filters(request)
    try:
        event = await gallery.call(
            eventlog.make_event, data, lambda ids: gallery.existing(ids, filters)
        )
    except (eventlog.EventError, QueryError) as exc:
        return error(400, str(exc))
    return await _save_and_apply(request, event)
