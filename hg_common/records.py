"""The record vocabulary on hg's pipes.

Every record is a JSON object with a `type` and a schema version `v`. Unknown fields are
passed through untouched by every stage, so a later stage can add fields without breaking
an earlier one.

Records printed by hg-index (v1):

- `add`     a new file: source, root, path, size, mtime (float seconds), inode, checksum
- `change`  a known path whose content changed; also `previous_checksum`
- `remove`  a path that is gone: source, root, path, size, checksum
- `move`    a file that disappeared and reappeared with the same checksum: the `add` fields
            plus `from_source`, `from_path` (nothing downstream needs recomputing)
- `file`    an unchanged known file (only with `--all`)
- `error`   an input that could not be handled: stage, source, path, error (a sentence)
- `skip`    an input that is deliberately not handled (e.g. hg-extract meeting a file that is
            not a photo or video): stage, source, path, reason. Not a failure.
- `scanned` the last record of a source whose walk was complete: source, root. Every file
            of it that hg-index cannot read was reported in this run, so hg-build may forget
            the index failures of that source that were not reported again.

A record every stage passes on in its place, in order (v1):

- `flush`   a barrier (hg-import writes one after each chunk's records): hg-extract prints
            it once every record before it is answered (entries, errors, skips, ML results,
            transcoded videos), hg-build once everything before it is committed. So one
            hg-extract | hg-build can serve many chunks, and the writer knows when a chunk is
            done without closing the pipe. Fields besides `type`/`v` (e.g. `chunk`) are
            passed through untouched.

`path` is relative to the source's `root`, always with `/` separators.
"""

from __future__ import annotations

from typing import Any

import orjson

SCHEMA_VERSION = 1

ADD = "add"
CHANGE = "change"
REMOVE = "remove"
MOVE = "move"
FILE = "file"
ERROR = "error"
SKIP = "skip"
SCANNED = "scanned"
FLUSH = "flush"

FILE_TYPES = (ADD, CHANGE, MOVE, FILE)
"""Record types that describe a file present on disk, with its checksum."""


def file_record(kind: str, source: str, root: str, entry: dict[str, Any]) -> dict[str, Any]:
    """A change record for one index entry (`entry` has path, size, mtime, inode, checksum)."""
    return {
        "type": kind,
        "v": SCHEMA_VERSION,
        "source": source,
        "root": root,
        "path": entry["path"],
        "size": entry["size"],
        "mtime": entry["mtime"],
        "inode": entry["inode"],
        "checksum": entry["checksum"],
    }


def error_record(stage: str, error: str, **fields: Any) -> dict[str, Any]:
    """An error as data: the run goes on, the record says which input failed and why."""
    return {"type": ERROR, "v": SCHEMA_VERSION, "stage": stage, "error": error, **fields}


def skip_record(stage: str, reason: str, **fields: Any) -> dict[str, Any]:
    """An input left alone on purpose: reported so nothing is silently ignored, but the run's
    exit status stays 0 (a `.txt` beside the photos is not a failure)."""
    return {"type": SKIP, "v": SCHEMA_VERSION, "stage": stage, "reason": reason, **fields}


def scanned_record(source: str, root: str) -> dict[str, Any]:
    return {"type": SCANNED, "v": SCHEMA_VERSION, "source": source, "root": root}


def flush_record(chunk: int) -> dict[str, Any]:
    return {"type": FLUSH, "v": SCHEMA_VERSION, "chunk": chunk}


def is_flush(item: Any) -> bool:
    """Whether a parsed record (or anything else on the way) is a `flush`."""
    return isinstance(item, dict) and item.get("type") == FLUSH


def versioned_header(line: bytes | str, kind: str) -> dict[str, Any] | None:
    """The first line of an hg file (index, event log) when it is a header of `kind`, else
    None; the caller checks `version` and words its own error."""
    try:
        header = orjson.loads(line)
    except orjson.JSONDecodeError:
        return None
    return header if isinstance(header, dict) and header.get("type") == kind else None
