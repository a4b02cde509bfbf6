"""Pure: the records hg-extract prints — `entry` (the contract with hg-build) and `error`.

Every file offered gets an answer: an entry listing it, or an error record naming it. Error
records of hg-extract carry `extractor` (EXTRACTOR_VERSION: which code failed on it), and
`known: true` when the failure is replayed from its memo (see `failures`).

Schema (v1), see docs/architecture.md "hg-extract -> hg-build"::

    {"type": "entry", "v": 1, "id", "media_type", "files": [{…index fields…, "file_type",
     "primary", "meta"}], "previews", "video", "colors", "address", "errors"}

`files` keeps every field hg-index gave (unknown fields pass through) minus the record's own
`type`/`v`; `errors` lists problems that did not stop the entry (a sidecar exiftool could not
read, a RAW without any preview) with `"warning": true` for the harmless ones.
"""

from __future__ import annotations

from typing import Any

from hg_extract.extractor import EXTRACTOR_VERSION
from hg_extract.filetypes import META, file_type
from hg_extract.grouping import Group, name_of
from hg_index.records import SCHEMA_VERSION, error_record

ENTRY = "entry"
_DROP = ("type", "v", "previous_checksum", "reason", "from_source", "from_path")


def file_item(rec: dict[str, Any], primary: bool, meta: dict[str, Any]) -> dict[str, Any]:
    item = {k: v for k, v in rec.items() if k not in _DROP}
    item.update(file_type=file_type(rec["path"]), primary=primary, meta=meta)
    return item


def build_entry(
    group: Group,
    metas: dict[str, dict[str, Any]],
    previews: list[str],
    video: str | None,
    colors: list[str],
    address: dict[str, Any] | None,
    errors: list[dict[str, Any]],
) -> dict[str, Any]:
    """`metas` maps a file's checksum to its normalised meta."""
    files = [
        file_item(rec, i == 0, metas.get(rec["checksum"], {})) for i, rec in enumerate(group.files)
    ]
    return {
        "type": ENTRY,
        "v": SCHEMA_VERSION,
        "id": group.id,
        "media_type": group.media_type,
        "files": files,
        "previews": previews,
        "video": video,
        "colors": colors,
        "address": address,
        "errors": errors,
    }


def file_error(
    rec: dict[str, Any],
    error: str,
    details: list[dict[str, Any]] | None = None,
    known: bool = False,
) -> dict[str, Any]:
    """An error record naming the file (hg-build and scripts see which input failed and why)."""
    out = error_record(
        "extract",
        error,
        source=rec.get("source"),
        root=rec.get("root"),
        path=rec.get("path"),
        checksum=rec.get("checksum"),
        extractor=EXTRACTOR_VERSION,
    )
    if details:
        out["details"] = details
    if known:
        out["known"] = True
    return out


def not_imported(
    rec: dict[str, Any], primary: dict[str, Any], reason: str, known: bool = False
) -> dict[str, Any]:
    """The error record of a group mate (an XMP, a JPG) of a primary that failed, when the
    group ends in no entry: each offered file has an answer."""
    error = f"not imported: {name_of(primary['path'])} failed: {reason}"
    return file_error(rec, error, None, known)


def input_error(error: str, lineno: int, rec: dict[str, Any] | None = None) -> dict[str, Any]:
    """A line of the input that is no record hg-extract can use: reported, the run goes on
    (as hg-build does). Names the file when the line did."""
    fields = {k: v for k in ("source", "root", "path") if isinstance(v := (rec or {}).get(k), str)}
    return error_record("extract", error, line=lineno, extractor=EXTRACTOR_VERSION, **fields)


def coordinates(group: Group, metas: dict[str, dict[str, Any]]) -> tuple[float, float] | None:
    """The entry's position: the primary's GPS, else an XMP sidecar's, else any sidecar's."""
    order = [group.primary] + sorted(group.files[1:], key=lambda f: file_type(f["path"]) != META)
    for rec in order:
        meta = metas.get(rec["checksum"], {})
        if meta.get("latitude") is not None and meta.get("longitude") is not None:
            return meta["latitude"], meta["longitude"]
    return None


def is_failure(entry_error: dict[str, Any]) -> bool:
    return not entry_error.get("warning")
