"""The media record from what the database stores: `entries` columns and `files` rows.

Since schema v4 there is no stored copy of the record (the `docs` table was ~40 % of the
file and of a first build's work): every field is an `entries` column, the files are the
`files` rows of the entry in their `ord`er. Previews and video of the entry's own checksum
(`ab/cd/<rest of id>-<what>`, `hg_common.layout`) are stored as `-<what>`.
Pure functions here; `db.records` reads the rows.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import orjson

from hg_common import layout

KEYS = (
    "id", "media_type", "date", "width", "height", "orientation", "duration", "make", "model",
    "lens", "iso", "aperture", "exposure", "focal_length", "latitude", "longitude", "altitude",
    "description", "title", "rating", "country", "state", "city", "road", "previews", "video",
    "colors", "objects", "faces", "files", "filesize",
)  # fmt: skip
"""The media record's fields, in `entries.media_from_entry`'s order."""

COLUMNS = {key: key for key in KEYS if key != "files"} | {"media_type": "type"}
"""Field -> `entries` column."""

_JSON_LISTS = ("previews", "colors", "objects", "faces")
_INTEGRAL = ("iso", "rating")  # REAL columns whose values are whole numbers in practice

FILE_COLUMNS = ("source", "root", "path", "size", "mtime", "type", "checksum", "is_primary")
"""The `files` columns of a record's file, in the file item's order (`is_primary` as
`primary`)."""


def short_paths(entry_id: str, paths: Iterable[Any]) -> list[Any]:
    """Storage paths as stored: the entry's own as `-<what>`, others as they are."""
    prefix = layout.prefix(entry_id)
    cut = len(prefix)
    return [p[cut:] if p.__class__ is str and p.startswith(prefix) else p for p in paths]


def stored_extras(media: Mapping[str, Any]) -> tuple[str | None, str | None, str | None]:
    """The `previews`, `video` and `colors` columns of a media dict (null when empty)."""
    eid = media["id"]
    previews, video, colors = media.get("previews"), media.get("video"), media.get("colors")
    if video is not None:
        video = short_paths(eid, (video,))[0]
    return (
        orjson.dumps(short_paths(eid, previews)).decode() if previews else None,
        video,
        orjson.dumps(colors).decode() if colors else None,
    )


def decode(fields: dict[str, Any], entry_id: str) -> dict[str, Any]:
    """Column values (of the fields present) turned into the record's, in place: JSON
    lists parsed, the entry's own storage paths expanded, whole `iso`/`rating` as ints."""
    for key in _JSON_LISTS:
        if key in fields:
            value = fields[key]
            fields[key] = orjson.loads(value) if value else []
    if fields.get("previews"):
        prefix = layout.prefix(entry_id)
        fields["previews"] = [_expand(p, prefix) for p in fields["previews"]]
    if fields.get("video") is not None:
        fields["video"] = _expand(fields["video"], layout.prefix(entry_id))
    for key in _INTEGRAL:
        value = fields.get(key)
        if value.__class__ is float and value.is_integer():
            fields[key] = int(value)
    return fields


def media_record(row: Sequence[Any], files: list[dict[str, Any]]) -> dict[str, Any]:
    """The media record (what `hg-build query` prints) of an `entries` row selected as
    `COLUMNS` values, then `tags` and `updated`; `files` from `file_item`."""
    rec: dict[str, Any] = {"type": "media", "v": 1}
    rec.update(zip(_BEFORE_FILES, row, strict=False))
    rec["files"] = files
    rec["filesize"] = row[_FILESIZE]
    decode(rec, row[0])
    rec["tags"] = orjson.loads(row[_FILESIZE + 1])
    rec["updated"] = row[_FILESIZE + 2]
    return rec


_BEFORE_FILES = KEYS[: KEYS.index("files")]
_FILESIZE = len(_BEFORE_FILES)
assert KEYS[-2:] == ("files", "filesize") and tuple(COLUMNS) == (*_BEFORE_FILES, "filesize")


def file_item(row: Sequence[Any]) -> dict[str, Any]:
    """A record's file from a `files` row selected as FILE_COLUMNS."""
    source, root, path, size, mtime, kind, checksum, primary = row
    return {"source": source, "root": root, "path": path, "size": size, "mtime": mtime,
            "type": kind, "checksum": checksum, "primary": bool(primary)}  # fmt: skip


def _expand(path: Any, prefix: str) -> Any:
    return prefix + path if path.__class__ is str and path.startswith("-") else path
