"""Merge one `entry` record (hg-extract's output) into the media row hg-build stores: pure.

The record carries per-file `meta`; an entry is a whole sidecar group, so the fields come
from several files. Which file wins, per field:

- date: XMP sidecars, then the primary, then other sidecars (see `dates`), else the
  primary's mtime;
- size and orientation: the primary (a sidecar when the primary has none); width/height
  are swapped for EXIF orientations 5-8 and video rotations of 90/270;
- camera fields (make, model, lens, iso, aperture, exposure, focal length): the primary
  first, then media sidecars, then XMP;
- place, description, title, rating: XMP first (a user's edit), then primary, then others;
- tags: the union over all files (TagsList, HierarchicalSubject, Keywords, Subject).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from hg_build.dates import date_from_meta, from_mtime, iso, pick_date, sort_key
from hg_build.ml import ml_fields
from hg_common.filetypes import HEIF_MIMES, file_type, is_media
from hg_common.groups import primary_rank

CAMERA_FIELDS = ("make", "model", "lens", "iso", "aperture", "exposure", "focal_length")
PLACE_FIELDS = ("latitude", "longitude", "altitude")
TEXT_FIELDS = ("description", "title", "rating")
ADDRESS_FIELDS = ("country", "state", "city", "road")


class EntryError(ValueError):
    """An entry record hg-build cannot use (no id, no files ...)."""


def _name(path: str) -> str:
    return path.rsplit("/", 1)[-1]


def _kind(f: Mapping[str, Any]) -> str:
    return str(f.get("file_type") or f.get("type") or file_type(str(f.get("path", ""))))


def order_files(files: list[dict[str, Any]]) -> tuple[list[dict], list[dict], list[dict]]:
    """(XMP sidecars, [primary], other sidecars): XMP by shorter name first, others by size."""
    if len(files) == 1:  # most entries: the one file is the primary, whatever its kind
        return [], files[:], []
    primary = [f for f in files if f.get("primary")]
    if not primary:
        media = [f for f in files if is_media(_kind(f))] or files
        primary = [max(media, key=_rank)]
    xmps = sorted(
        (f for f in files if f is not primary[0] and _kind(f) == "meta"),
        key=lambda f: (len(_name(f["path"])), f["path"]),
    )
    others = sorted(
        (f for f in files if f is not primary[0] and _kind(f) != "meta"),
        key=lambda f: (-int(f.get("size") or 0), f["path"]),
    )
    return xmps, primary[:1], others


def _rank(f: Mapping[str, Any]) -> tuple[int, str]:
    """`groups.primary_rank` of a file of a record from anywhere (a size may be text)."""
    return primary_rank({"size": int(f.get("size") or 0), "path": f["path"]})


def _firsts(metas: list[Mapping[str, Any]], keys: Iterable[str]) -> dict[str, Any]:
    """`_first` of each key; one pass per key over a single file's meta, the usual case."""
    if len(metas) == 1:
        get = metas[0].get
        return {k: None if (v := get(k)) in (None, "", []) else v for k in keys}
    return {k: _first(metas, k) for k in keys}


def _first(metas: Iterable[Mapping[str, Any]], key: str) -> Any:
    for meta in metas:
        value = meta.get(key)
        if value not in (None, "", []):
            return value
    return None


def _tags(metas: Iterable[Mapping[str, Any]]) -> list[str]:
    tags: set[str] = set()
    for meta in metas:
        raw = meta.get("tags") or []
        for tag in [raw] if isinstance(raw, str | int | float) else raw:
            text = str(tag).strip()
            if text:
                tags.add(text)
    return sorted(tags)


def display_size(meta: Mapping[str, Any]) -> tuple[int | None, int | None]:
    """Width and height as shown: swapped for orientation 5-8 or a 90/270 degree rotation.
    A HEIF's EXIF orientation is never applied (MIAF; its previews turn by `rotation` only):
    a meta.json written before hg-extract left it out still gets the right size."""
    width, height = meta.get("width"), meta.get("height")
    orientation = None if meta.get("mime") in HEIF_MIMES else meta.get("orientation") or 1
    rotation = meta.get("rotation") or 0
    swap = (isinstance(orientation, int) and 5 <= orientation <= 8) or (
        isinstance(rotation, int | float) and int(rotation) % 180 == 90
    )
    return (height, width) if swap else (width, height)


def media_from_entry(record: Mapping[str, Any]) -> dict[str, Any]:
    """The media dict of one entry record (without `tags` edits and `updated`)."""
    entry_id = record.get("id")
    files = [f for f in record.get("files") or [] if isinstance(f, Mapping) and "path" in f]
    if not isinstance(entry_id, str) or not entry_id or not files:
        raise EntryError("entry record without id or files")
    if len(files) == 1:
        media = _single(record, entry_id, files[0])
    else:
        media = _merged(record, entry_id, [dict(f) for f in files])
    _make_storable(media)
    return media


_NUMBER_FIELDS = (
    "width", "height", "orientation", "duration", "iso", "aperture", "exposure", "focal_length",
    "latitude", "longitude", "altitude", "rating", "filesize",
)  # fmt: skip
_TEXT_FIELDS = ("media_type", "make", "model", "lens", "description", "title", *ADDRESS_FIELDS)
_FILE_TEXTS = ("source", "root", "checksum")
_SCALARS = (str, int, float)


def _make_storable(media: dict[str, Any]) -> None:
    """Fields stored as columns must be scalars. A record from anywhere but hg-extract may
    hold a list or an object (`"make": ["Canon", "x"]`): a list becomes text in a text
    field, anything else that is no number or text becomes null, so one odd record costs
    its odd fields, not the build. `similarity` is already a blob (`ml.vector_blob`)."""
    for key in _TEXT_FIELDS:
        value = media[key]
        if value is not None and value.__class__ not in _SCALARS:
            media[key] = _joined(value)
    for key in _NUMBER_FIELDS:
        value = media[key]
        if value is not None and value.__class__ not in _SCALARS:
            media[key] = None
    for f in media["files"]:
        for key in _FILE_TEXTS:
            value = f[key]
            if value is not None and value.__class__ is not str:
                f[key] = _joined(value)
        if f["mtime"] is not None and f["mtime"].__class__ not in (int, float):
            f["mtime"] = None
    if media["video"] is not None and media["video"].__class__ is not str:
        media["video"] = None  # a storage path or nothing


def _joined(value: Any) -> str | None:
    if isinstance(value, list | tuple):
        parts = [str(v) for v in value if v.__class__ in _SCALARS]
        return ", ".join(parts) or None
    return str(value) if value.__class__ in _SCALARS else None


def _merged(record: Mapping[str, Any], entry_id: str, files: list[dict[str, Any]]) -> dict:
    """`media_from_entry` of a group: each field from the file that wins it."""
    xmps, primary, others = order_files(files)
    metas = {id(f): f.get("meta") or {} for f in files}
    date_order = [metas[id(f)] for f in xmps + primary + others]
    camera_order = [metas[id(f)] for f in primary + others + xmps]
    size_meta = next(
        (metas[id(f)] for f in primary + others if metas[id(f)].get("width")),
        metas[id(primary[0])],
    )
    dt = pick_date(date_order)
    if dt is None:
        dt = from_mtime(float(primary[0].get("mtime") or 0))
    width, height = display_size(size_meta)
    media: dict[str, Any] = {
        "id": entry_id,
        "media_type": record.get("media_type") or _kind(primary[0]),
        "date": iso(dt),
        "ts": sort_key(dt),
        "width": width,
        "height": height,
        "orientation": size_meta.get("orientation") or 1,
    }
    media.update(_firsts(camera_order, ("duration", *CAMERA_FIELDS)))
    lat_meta = next(
        (m for m in date_order if m.get("latitude") is not None and m.get("longitude") is not None),
        {},
    )
    for key in PLACE_FIELDS:
        media[key] = lat_meta.get(key)
    media.update(_firsts(date_order, TEXT_FIELDS))
    _add_extracted(media, record)
    media["files"] = [
        {
            "source": f.get("source"),
            "root": f.get("root"),
            "path": f["path"],
            "size": int(f.get("size") or 0),
            "mtime": f.get("mtime"),
            "type": _kind(f),
            "checksum": f.get("checksum"),
            "primary": f is primary[0],
        }
        for f in primary + others + xmps
    ]
    media["filesize"] = media["files"][0]["size"]
    media["extracted_tags"] = _tags(metas[id(f)] for f in files)
    return media


def _single(record: Mapping[str, Any], entry_id: str, f: Mapping[str, Any]) -> dict[str, Any]:
    """`media_from_entry` of a group of one file (most entries), without the ordering and
    merging of several: the same result, in a third less time (a 100k build makes 100k)."""
    meta = f.get("meta") or {}
    get = meta.get
    dt = date_from_meta(get("dates"))
    if dt is None:
        dt = from_mtime(float(f.get("mtime") or 0))
    width, height = display_size(meta)
    kind = _kind(f)
    media: dict[str, Any] = {
        "id": entry_id,
        "media_type": record.get("media_type") or kind,
        "date": iso(dt),
        "ts": sort_key(dt),
        "width": width,
        "height": height,
        "orientation": get("orientation") or 1,
    }
    for key in _SINGLE_FIRSTS:
        value = get(key)
        media[key] = None if value in (None, "", []) else value
    if get("latitude") is not None and get("longitude") is not None:
        media["latitude"], media["longitude"] = meta["latitude"], meta["longitude"]
        media["altitude"] = get("altitude")
    else:
        media["latitude"] = media["longitude"] = media["altitude"] = None
    for key in TEXT_FIELDS:
        value = get(key)
        media[key] = None if value in (None, "", []) else value
    _add_extracted(media, record)
    size = int(f.get("size") or 0)
    media["files"] = [
        {
            "source": f.get("source"),
            "root": f.get("root"),
            "path": f["path"],
            "size": size,
            "mtime": f.get("mtime"),
            "type": kind,
            "checksum": f.get("checksum"),
            "primary": True,
        }
    ]
    media["filesize"] = size
    media["extracted_tags"] = _tags((meta,))
    return media


def _add_extracted(media: dict[str, Any], record: Mapping[str, Any]) -> None:
    """The entry's own extracted fields (address, previews, video, colours, ML data)."""
    address = record.get("address") or {}
    for key in ADDRESS_FIELDS:
        media[key] = address.get(key) or None
    media["previews"] = list(record.get("previews") or [])
    media["video"] = record.get("video")
    media["colors"] = list(record.get("colors") or [])
    media.update(objects=[], similarity=None, faces=[], face_descriptors=None)
    # from -objects.json / -similarity.json / -faces.json (hg_build.ml, hg_build.faces)
    media.update(ml_fields(record))


_SINGLE_FIRSTS = ("duration", *CAMERA_FIELDS)


def search_text(
    media: Mapping[str, Any], tags: Iterable[str], files: Iterable[Mapping[str, Any]] | None = None
) -> str:
    """The casefolded text free-text terms search: HomeGallery's "stringified entry".
    `files`: all of the entry's files (its own and stored copies), else media's."""
    get = media.get
    parts: list[str] = [media["id"][:10], get("media_type") or "", get("date", "")[:10]]
    for key in _TEXT_KEYS:
        value = get(key)
        if value is not None:
            parts.append(value if value.__class__ is str else str(value))
    if files is None:
        files = get("files") or ()
    parts += [f["path"].rpartition("/")[2] for f in files]
    parts += tags
    if objects := get("objects"):
        classes = [o.get("class") for o in objects if isinstance(o, Mapping)]
        parts += [str(c) for c in classes if c is not None]
    if faces := get("faces"):  # as HomeGallery: face expressions and age decade ("30s")
        for face in faces:
            if isinstance(face, Mapping):
                parts += [str(e) for e in face.get("expressions") or () if e]
                age = face.get("age")
                if age.__class__ in (int, float) and 0 <= age < 200:
                    parts.append(f"{int(age // 10) * 10}s")
    return "\n".join([p for p in parts if p]).casefold()  # empty parts left out


_TEXT_KEYS = ("make", "model", "lens", "description", "title", *ADDRESS_FIELDS)
