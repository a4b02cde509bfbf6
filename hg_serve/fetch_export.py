"""The routes another gallery fetches this one with (`hg-import --fetch URL`), each under the
user's filter, as every other route: what a login may see is what it can copy.

- `GET /api/fetch/manifest` → `{"type": "hg/fetch-manifest", "v": 1, "entries": [[id,
  updated], …], "events": {"log", "size"}}` with a strong ETag of the body (`If-None-Match`
  → 304): a fetch with nothing new costs one small answer.
- `POST /api/fetch/entries` (JSON `{"ids": […]}`, at most `MAX_IDS`) → NDJSON: the `entry`
  record (hg-extract's contract) of each of those ids the user may see (`hg_build.api.
  fetch_entries`); the previews and video they name come from `/files/` as ever.
- `GET /api/fetch/events?from=OFFSET&log=STAMP` → NDJSON: a header `{"type":
  "hg/fetch-events", "v": 1, "log", "from", "next"}` and the log's events after byte OFFSET
  (from 0 when STAMP is not this log's: a replaced log). A `userAction` is narrowed to the
  target ids the user sees (left out when none); `personAction`s go to users without a
  filter only (they name faces of the whole gallery), as on the live event stream.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from hg_build import api as build_api
from hg_common import ndjson
from hg_common.records import versioned_header
from hg_serve import diagnose
from hg_serve.api import NO_STORE, _json_body, error
from hg_serve.gallery import Gallery
from hg_serve.headers import not_modified
from hg_serve.live import user_filters

MAX_IDS = 1000
NDJSON = "application/x-ndjson"
MANIFEST = "hg/fetch-manifest"
EVENTS = "hg/fetch-events"
VERSION = 1


def log_stamp(events: Path) -> tuple[str | None, int]:
    """The log's identity (its header's `created`) and size; (None, 0) without a log."""
    try:
        with open(events, "rb") as fh:
            header = versioned_header(fh.readline(), "hg/events")
            size = events.stat().st_size
    except FileNotFoundError:
        return None, 0
    return (str(header.get("created")) if header else None), size


def visible_events(
    gallery: Gallery, offset: int, stamp: str | None, filters: Sequence[str]
) -> bytes:
    """The events answer (see the module's doc) as NDJSON bytes."""
    log, size = log_stamp(gallery.events)
    if stamp != log or offset > size or offset < 0:
        offset = 0
    found, end = [], offset
    for event, after in build_api.read_events(gallery.events, offset):
        found.append(event)
        end = after
    out = []
    if filters:
        targets = {t for e in found if e["type"] == "userAction" for t in e["targetIds"]}
        seen = gallery.existing(targets, filters) if targets else set()
        for e in found:
            if e["type"] != "userAction":
                continue
            ids = [t for t in e["targetIds"] if t in seen]
            if ids:
                out.append({**e, "targetIds": ids})
    else:
        out = found
    head = {"type": EVENTS, "v": VERSION, "log": log, "from": offset, "next": end}
    return b"".join(ndjson.dumps(r) for r in [head, *out])


def manifest_body(gallery: Gallery, filters: Sequence[str]) -> bytes:
    c = build_api.compile_filtered("", filters, drive_by_tag=False)
    with gallery._read() as conn:
        entries = build_api.fetch_manifest(conn, c)
    log, size = log_stamp(gallery.events)
    return orjson.dumps(
        {"type": MANIFEST, "v": VERSION, "entries": entries, "events": {"log": log, "size": size}}
    )


def entries_body(gallery: Gallery, storage: Path, ids: list[str], filters: Sequence[str]) -> bytes:
    c = build_api.compile_filtered("", filters, drive_by_tag=False)
    with gallery._read() as conn:
        records = list(build_api.fetch_entries(conn, str(storage), ids, c))
    return b"".join(ndjson.dumps(r) for r in records)


def routes(storage: Path) -> dict[str, Any]:
    """The three handlers (`app._routes` mounts them); `storage`: where the metas are."""

    async def manifest(request: Request) -> Response:
        gallery: Gallery = request.app.state.gallery
        try:
            body = await gallery.call(manifest_body, gallery, user_filters(request))
        except sqlite3.OperationalError as exc:
            reason = diagnose.explain(gallery.database.parent, exc)
            return error(503, f"the gallery database cannot be read: {reason}")
        etag = '"' + hashlib.blake2b(body, digest_size=16).hexdigest() + '"'
        headers = {**NO_STORE, "ETag": etag}
        if not_modified(request.headers, etag):
            return Response(status_code=304, headers=headers)
        return Response(body, media_type="application/json", headers=headers)

    async def entries(request: Request) -> Response:
        body = await _json_body(request)
        if isinstance(body, Response):
            return body
        ids = body.get("ids") if isinstance(body, dict) else None
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
            return error(400, 'send {"ids": [entry ids]}')
        if len(ids) > MAX_IDS:
            return error(400, f"at most {MAX_IDS} ids per request")
        gallery: Gallery = request.app.state.gallery
        data = await gallery.call(entries_body, gallery, storage, ids, user_filters(request))
        return Response(data, media_type=NDJSON, headers=NO_STORE)

    async def events(request: Request) -> Response:
        raw = request.query_params.get("from", "0")
        if not raw.isdigit():
            return error(400, "from must be a byte offset the last answer gave")
        stamp = request.query_params.get("log")
        gallery: Gallery = request.app.state.gallery
        data = await gallery.call(visible_events, gallery, int(raw), stamp, user_filters(request))
        return Response(data, media_type=NDJSON, headers=NO_STORE)

    return {"manifest": manifest, "entries": entries, "events": events}
