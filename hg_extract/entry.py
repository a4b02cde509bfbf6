"""Pure: the `error` records hg-extract prints, and what the parent needs of a group's metas.

Every file offered gets an answer: an entry listing it (`hg_common.entry.entry_record`), or
an error record naming it. Error records of hg-extract carry `extractor`
(EXTRACTOR_VERSION: which code failed on it), and `known: true` when the failure is
replayed from its memo (see `failures`).
"""

from __future__ import annotations

from typing import Any

from hg_common.filetypes import META, file_type
from hg_common.groups import Group, name_of
from hg_extract.extractor import EXTRACTOR_VERSION
from hg_index.records import error_record


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
