"""Pure: the failure memo, so a file that cannot be extracted is not tried on every run.

An import offers a file again until its chunk is committed, and `hg-extract --all` offers
every file; a broken HEIC would be decoded (and reported as new) each time. A primary file
that failed for a reason of its own (its decoder raised, a worker died on it, ffprobe found
no video) gets `<C>-failed.json` (`layout.FAILED`) in the storage, C its checksum::

    {"v": 1, "extractor": EXTRACTOR_VERSION, "error": "…", "details": […], "date": "…Z"}

While the memo's `extractor` is the current one, hg-extract answers that file with its error
record again (`known: true`) and runs no exiftool and no decoder for it; a new extractor
version (a fix that may read it now), `--retry-failed` or `--force` try it again. A failure
that may pass (the file vanished or was unreadable, the storage was full) gets no memo, and a
file that becomes an entry's primary loses its memo.
"""

from __future__ import annotations

from typing import Any

from hg_common import layout
from hg_common.groups import Group, entry_group, is_media, primary_rank
from hg_extract.entry import file_error, not_imported
from hg_extract.extractor import EXTRACTOR_VERSION


def memo(error: str, details: list[dict[str, Any]], date: str) -> dict[str, Any]:
    return {
        "v": layout.MEMO_VERSION,
        "extractor": EXTRACTOR_VERSION,
        "error": error,
        "details": details,
        "date": date,
    }


def is_current(value: Any) -> bool:
    """A memo this extractor wrote (an older one's failure may be fixed now)."""
    return (
        isinstance(value, dict)
        and value.get("v") == layout.MEMO_VERSION
        and value.get("extractor") == EXTRACTOR_VERSION
        and isinstance(value.get("error"), str)
    )


def media_checksums(group: Group) -> list[str]:
    """The files of a group that may have a memo (only a primary gets one)."""
    return [f["checksum"] for f in group.files if is_media(f)]


def split_known(
    group: Group, memos: dict[str, dict[str, Any]]
) -> tuple[Group | None, list[dict[str, Any]]]:
    """The group without its media files of known failure (`memos`: current memos by
    checksum), and their replayed error records. When no media file is left, the other
    files (an XMP) are answered too, as not imported, and the group is None."""
    if not memos:
        return group, []
    failed = [f for f in group.files if is_media(f) and f["checksum"] in memos]
    records = [
        file_error(f, memos[f["checksum"]]["error"], _details(memos[f["checksum"]]), True)
        for f in failed
    ]
    rest, _ = entry_group(group.files, failed=memos)
    if rest is None:
        first = max(failed, key=primary_rank)
        reason = memos[first["checksum"]]["error"]
        records += [
            not_imported(f, first, reason, known=True) for f in group.files if f not in failed
        ]
    return rest, records


def _details(value: dict[str, Any]) -> list[dict[str, Any]] | None:
    details = value.get("details")
    return details if isinstance(details, list) and details else None
