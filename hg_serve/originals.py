"""GET /originals/<id>/<n>: the n-th file of an entry (0 is the primary) as it lies in
its source, read-only, as a download.

Only for an entry the user may see: the entry is looked up with the user's filter (an
entry outside it is "not found", as in the API), and only paths the database holds for
that entry are served, so no request names a file on disk. The path must be relative and
without `.`/`..` segments (the index writes none); the file may have moved or its share may
be offline since the import: 404 with the reason. Nothing here writes: no method but
GET/HEAD reaches it.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import quote

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, PlainTextResponse, Response

from hg_serve.files import etag_of
from hg_serve.gallery import Gallery
from hg_serve.headers import not_modified
from hg_serve.live import user_filters


def source_path(file: dict) -> Path | None:
    """The file's place on disk (its source's root + its relative path), or None when the
    record's path is not a plain relative one."""
    rel, root = file.get("path") or "", file.get("root") or ""
    parts = rel.split("/")
    if not root or not rel or rel.startswith("/") or "\x00" in rel:
        return None
    if any(p in ("", ".", "..") for p in parts):
        return None
    return Path(root, *parts)


def _response(path: Path, name: str, request: Request) -> Response:
    try:
        stat = os.stat(path)
    except OSError as exc:
        return PlainTextResponse(f"the original is not available: {exc.strerror}", 404)
    if not os.path.isfile(path):
        return PlainTextResponse("the original is not a file", 404)
    etag = etag_of(stat)
    # private: a user's own photo; no-cache: the file may be edited in place (revalidated
    # by its ETag, a 304 then)
    headers = {
        "Cache-Control": "private, no-cache",
        "ETag": etag,
        "Content-Disposition": f"attachment; filename*=UTF-8''{quote(name)}",
    }
    if not_modified(request.headers, etag):
        return Response(status_code=304, headers=headers)
    return FileResponse(path, stat_result=stat, headers=headers)


async def original(request: Request) -> Response:
    gallery: Gallery = request.app.state.gallery
    entry_id, n = request.path_params["id"], request.path_params["n"]
    media = await gallery.call(gallery.detail, entry_id, user_filters(request))
    files = (media or {}).get("files") or []
    if not n.isdigit() or int(n) >= len(files):
        return PlainTextResponse("not found", 404)
    file = files[int(n)]
    path = source_path(file)
    if path is None:
        return PlainTextResponse("not found", 404)
    return await run_in_threadpool(_response, path, path.name, request)
