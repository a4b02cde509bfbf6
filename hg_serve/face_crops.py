"""GET /faces/<entry id>/<n>[?size=PX]: the entry's n-th face cut from its stored preview,
a square JPEG (the People view's tiles, the detail view's face editor).

The entry is looked up with the user's filter first, in one query for the few columns a
tile needs (`FIELDS`; not the whole `Gallery.detail`, whose record decode, people and
similarity reads a tile does not use): a face of an entry the filter excludes is "not
found", like the entry itself, and nothing is read from storage for it. The box is the
record's (relative to the oriented preview the face model saw, `faces[n]`), widened by
`MARGIN` so the tile shows the head, not only the eyes-to-chin box. The preview is the
smallest stored size that still gives the face `size` pixels, so a crop never upscales a
thumbnail when a larger preview exists.

Crops are kept in memory by (preview, box, size): previews are content-addressed and a
face's box only changes with its record, so a key never goes stale, and the People view's
tiles cost one JPEG encode each per server start. Browsers keep them a day (`private`
when users log in: a user's own faces).
"""

from __future__ import annotations

import hashlib
import io
from pathlib import Path
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from hg_common.layout import preview as preview_name
from hg_serve import files, grid
from hg_serve.cache import ResponseCache
from hg_serve.gallery import Gallery
from hg_serve.headers import not_modified
from hg_serve.live import user_filters

MARGIN = 0.35
"""Added on each side of the face box, as a share of its longer side."""
DEFAULT_SIZE = 192
MIN_SIZE, MAX_SIZE = 32, 512
CACHE_BYTES = 16 << 20
QUALITY = 85
FIELDS = ("faces", "previews", "width", "height")
"""What a tile reads of its entry: the face boxes, the stored previews, the photo's size."""


def face_box(face: Any) -> tuple[float, float, float, float] | None:
    """(x, y, width, height), relative, of a record's face; None without a usable box."""
    if not isinstance(face, dict):
        return None
    try:
        box = tuple(float(face[k]) for k in ("x", "y", "width", "height"))
    except (KeyError, TypeError, ValueError):
        return None
    x, y, w, h = box
    if not (w > 0 and h > 0 and -1 < x < 1 and -1 < y < 1 and w <= 2 and h <= 2):
        return None
    return box  # type: ignore[return-value]


def crop_rect(
    box: tuple[float, float, float, float], width: int, height: int, margin: float = MARGIN
) -> tuple[int, int, int, int]:
    """(left, top, right, bottom) in pixels of a square around the face box with `margin`,
    moved (not cut) to stay inside a width x height image; at most the image's short side."""
    x, y, w, h = box[0] * width, box[1] * height, box[2] * width, box[3] * height
    side = min(max(w, h) * (1 + 2 * margin), width, height)
    cx, cy = x + w / 2, y + h / 2
    left = min(max(0.0, cx - side / 2), width - side)
    top = min(max(0.0, cy - side / 2), height - side)
    side_px = max(1, round(side))
    left_px, top_px = round(left), round(top)
    return left_px, top_px, left_px + side_px, top_px + side_px


def pick_size(
    sizes: list[int], box: tuple[float, float, float, float], wanted: int, width: int, height: int
) -> int:
    """The smallest preview size whose crop is at least `wanted` pixels across, else the
    largest. A preview of size s has the photo's aspect (`width` x `height`, 0 unknown:
    square) and a long side of s, or the photo's own when smaller (never enlarged)."""
    long = max(width, height, 1)
    for size in sorted(sizes):
        scale = min(size, long) / long if width and height else size
        w, h = (width * scale, height * scale) if width and height else (size, size)
        if max(box[2] * w, box[3] * h) * (1 + 2 * MARGIN) >= wanted:
            return size
    return max(sizes)


def crop_jpeg(path: Path, box: tuple[float, float, float, float], size: int) -> bytes:
    """The face of the preview at `path` as a size x size JPEG (smaller when the preview
    has fewer pixels there: never enlarged)."""
    from PIL import Image

    with Image.open(path) as img:
        img = img.convert("RGB")
        rect = crop_rect(box, img.width, img.height)
        face = img.crop(rect)
    if face.width > size:
        face = face.resize((size, size), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    face.save(out, "JPEG", quality=QUALITY)
    return out.getvalue()


def _size(request: Request) -> int | None:
    raw = request.query_params.get("size")
    if raw is None:
        return DEFAULT_SIZE
    if not raw.isdigit() or not MIN_SIZE <= int(raw) <= MAX_SIZE:
        return None
    return int(raw)


def handler(storage: Path, private: bool):
    """The route's endpoint over this storage folder (see the module doc)."""
    cache = ResponseCache(CACHE_BYTES)
    cache_control = f"{'private' if private else 'public'}, max-age=86400"

    async def face(request: Request) -> Response:
        size = _size(request)
        if size is None:
            return PlainTextResponse(f"size must be {MIN_SIZE} to {MAX_SIZE}", 400)
        gallery: Gallery = request.app.state.gallery
        entry_id, n = request.path_params["id"], request.path_params["n"]
        media = await gallery.call(gallery.entry_fields, entry_id, FIELDS, user_filters(request))
        listed = (media or {}).get("faces") or []
        if not n.isdigit() or int(n) >= len(listed):
            return PlainTextResponse("not found", 404)
        box = face_box(listed[int(n)])
        stem, sizes = grid.preview_sizes(media.get("previews") or [])
        if box is None or stem is None:
            return PlainTextResponse("not found", 404)
        dims = (int(media.get("width") or 0), int(media.get("height") or 0))
        rel = f"{stem}-{preview_name(pick_size(sizes, box, size, *dims))}"
        key = (rel, box, size)
        etag = '"' + hashlib.blake2b(repr(key).encode(), digest_size=8).hexdigest() + '"'
        headers = {"Cache-Control": cache_control, "ETag": etag}
        if not_modified(request.headers, etag):
            return Response(status_code=304, headers=headers)
        body = cache.get(key, 0)
        if body is None:
            found = files.confine(storage, rel)
            if isinstance(found, int):
                return PlainTextResponse("not found", 404)
            try:
                body = await run_in_threadpool(crop_jpeg, found, box, size)
            except OSError:  # a damaged preview: no face to show, the page shows a blank
                return PlainTextResponse("the preview cannot be read", 404)
            cache.put(key, 0, body)
        return Response(body, media_type="image/jpeg", headers=headers)

    return face
