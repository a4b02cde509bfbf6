"""The media dict as stored in `docs.doc`, compact: pure functions.

The doc was ~40 % of the database and of a first build's bytes: every preview path repeats
the entry's 64-digit id, most fields are null, and the primary file's checksum is the id.
Stored, a doc leaves out null fields and empty lists, writes a storage path of the entry's
own (`ab/cd/<rest of id>-<what>`) as `-<what>`, and drops the primary's checksum when it
is the id. `unpack` gives the whole media dict back, every key in its place, so readers
never see the difference; a doc stored in full (schema v3) unpacks to itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

KEYS = (
    "id", "media_type", "date", "width", "height", "orientation", "duration", "make", "model",
    "lens", "iso", "aperture", "exposure", "focal_length", "latitude", "longitude", "altitude",
    "description", "title", "rating", "country", "state", "city", "road", "previews", "video",
    "colors", "objects", "faces", "files", "filesize",
)  # fmt: skip
"""The media record's fields as `entries.media_from_entry` orders them (less the ones the
doc does not hold: ts, similarity, extracted_tags)."""

LISTS = frozenset(("previews", "colors", "objects", "faces", "files"))
"""Fields that are lists: left out when empty, back as []."""

_SKIP = ("ts", "similarity", "extracted_tags")
_MEDIA_LISTS = ("previews", "colors", "objects", "faces")


def own_prefix(entry_id: str) -> str:
    """The start of the storage paths of a checksum (`hg_extract.storage.relpath`: the
    layout `ab/cd/<rest>-<what>`), less the '-'."""
    return f"{entry_id[0:2]}/{entry_id[2:4]}/{entry_id[4:]}"


def pack(media: Mapping[str, Any], files: list[Mapping[str, Any]]) -> str:
    """The JSON stored for `media` whose files (with stored copies elsewhere) are `files`."""
    eid = media["id"]
    prefix = own_prefix(eid)
    cut = len(prefix)
    doc = {k: v for k, v in media.items() if v is not None}  # then a few pops: the fastest
    for key in _SKIP:
        doc.pop(key, None)
    for key in _MEDIA_LISTS:
        if not doc.get(key, True):
            del doc[key]
    if "previews" in doc:
        doc["previews"] = [p[cut:] if p.startswith(prefix) else p for p in doc["previews"]]
    video = doc.get("video")
    if video.__class__ is str and video.startswith(prefix):
        doc["video"] = video[cut:]
    stored = []
    for f in files:
        if f.get("primary") and f.get("checksum") == eid:
            f = dict(f)
            del f["checksum"]
        stored.append(f)
    if stored:
        doc["files"] = stored
    else:
        doc.pop("files", None)
    return orjson.dumps(doc).decode()


def unpack(doc: str | bytes) -> dict[str, Any]:
    """The whole media dict of a stored doc (compact or in full)."""
    stored = orjson.loads(doc)
    eid = stored["id"]
    prefix = own_prefix(eid)
    media = {key: stored.get(key, [] if key in LISTS else None) for key in KEYS}
    media["previews"] = [_expand(p, prefix) for p in media["previews"]]
    media["video"] = _expand(media["video"], prefix)
    media["files"] = [f if "checksum" in f else _with_checksum(f, eid) for f in media["files"]]
    return media


def _with_checksum(f: dict[str, Any], checksum: str) -> dict[str, Any]:
    """A file item with its checksum back in its place (before `primary`)."""
    out = {k: v for k, v in f.items() if k != "primary"}
    out["checksum"] = checksum
    out["primary"] = f.get("primary", False)
    return out


def unpack_field(entry_id: str, key: str, value: Any) -> Any:
    """One field as `json_extract` read it from a stored doc, as `unpack` gives it."""
    if value is None:
        return [] if key in LISTS else None
    if key == "previews":
        prefix = own_prefix(entry_id)
        return [_expand(p, prefix) for p in value]
    if key == "video":
        return _expand(value, own_prefix(entry_id))
    if key == "files":
        return unpack(orjson.dumps({"id": entry_id, "files": value}))["files"]
    return value


def _expand(path: Any, prefix: str) -> Any:
    return prefix + path if path.__class__ is str and path.startswith("-") else path
