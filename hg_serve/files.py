"""GET /files/<storage path>: previews and videos from storage, never anything else.

Storage is content-addressed (a file's name holds its content's checksum), so responses
are cached for a year as immutable: by the browser only (`private`) when users log in, as
a shared cache must not hand one user's photos to another. Confinement, in order: the
decoded path must be relative, without `.`/`..` segments, backslashes or NUL (-> 404); the
resolved real path must stay inside the real storage folder, so a symlink cannot lead out
(-> 403).
Range requests (video seeking) and ETag/If-None-Match come with the response.

A user with a filter gets only the files of entries the filter lets them see (else 404, as
for an entry outside it): the path's checksum (`C[0:2]/C[2:4]/C[4:]-<what>`, `storage_key`)
must be the id of such an entry (previews, video) or a checksum of one of its files
(`-meta.json`, `-exif.json`, a sidecar's previews); see `Gallery.visible_keys`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import FileResponse, PlainTextResponse, Response

from hg_common import layout
from hg_serve.headers import not_modified

CACHE = "public, max-age=31536000, immutable"
PRIVATE_CACHE = "private, max-age=31536000, immutable"


def storage_key(rel: str) -> int | None:
    """The `lookup.checksum_key` of the checksum a storage path belongs to, or None when
    the path is not `C[0:2]/C[2:4]/C[4:]-<what>` (then no filtered user may have it)."""
    artefact = layout.parse(rel)
    return None if artefact is None else int(artefact[0][:16], 16)


def has_key(keys: Any, key: int) -> bool:
    """Whether a sorted uint64 array (`lookup.visible_keys`) holds key."""
    import numpy as np

    at = int(np.searchsorted(keys, np.uint64(key)))
    return at < len(keys) and int(keys[at]) == key


def confine(storage: Path, rel: str) -> Path | int:
    """The real file for a storage-relative path, or the HTTP status to refuse it with."""
    if not rel or "\\" in rel or "\x00" in rel or rel.startswith("/"):
        return 404
    parts = rel.split("/")
    if any(p in ("", ".", "..") for p in parts):
        return 404
    root = os.path.realpath(storage)
    real = os.path.realpath(os.path.join(root, *parts))
    if os.path.commonpath([root, real]) != root:
        return 403
    if not os.path.isfile(real):
        return 404
    return Path(real)


def etag_of(stat: os.stat_result) -> str:
    return f'"{stat.st_size:x}-{stat.st_mtime_ns:x}"'


def serve_file(request: Request, storage: Path, private: bool = False) -> Response:
    # path_params hold the percent-decoded path, so %2e%2e arrives here as '..'.
    found = confine(storage, request.path_params["path"])
    if isinstance(found, int):
        return PlainTextResponse("not found" if found == 404 else "forbidden", found)
    stat = found.stat()
    etag = etag_of(stat)
    headers = {"Cache-Control": PRIVATE_CACHE if private else CACHE, "ETag": etag}
    if not_modified(request.headers, etag):
        return Response(status_code=304, headers=headers)
    return FileResponse(found, stat_result=stat, headers=headers)
