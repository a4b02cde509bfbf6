"""Where the file records come from: stdin (hg-index's output) or, with `--all`, the index
(`hg_common.groups.index_records`).

A line of stdin that is not a record hg-extract can use (not JSON, not an object, a file
record without a path or with a checksum that is not hex) becomes an error record naming
the line, and the run goes on, as in hg-build: a damaged line costs only itself.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

from hg_extract.entry import input_error
from hg_index.ndjson import NdjsonError, parse_line
from hg_index.records import FILE_TYPES

READ_SIZE = 1 << 16
_HEX = frozenset("0123456789abcdef")


def fd_lines(fd: int) -> Iterator[tuple[int, bytes]]:
    """The non-blank lines of a file descriptor with their numbers, as they arrive.

    os.read, not sys.stdin.buffer: this runs in the input thread while workers may be
    forked, and a buffered reader's lock held by it at that moment would stay held in the
    child (see `pool`)."""
    lineno = 0
    pending = b""
    while data := os.read(fd, READ_SIZE):
        lines = (pending + data).split(b"\n")
        pending = lines.pop()
        for line in lines:
            lineno += 1
            if line.strip():
                yield lineno, line
    if pending.strip():
        yield lineno + 1, pending


def stdin_records(fd: int) -> Iterator[dict[str, Any]]:
    """hg-index's records; a line that is no usable record becomes an error record."""
    for lineno, line in fd_lines(fd):
        try:
            record = parse_line(line, lineno)
        except NdjsonError as exc:
            yield input_error(f"stdin {exc}", lineno)
            continue
        problem = file_record_problem(record)
        if problem:
            yield input_error(f"stdin line {lineno}: {problem}", lineno, record)
        else:
            yield record


def file_record_problem(record: dict[str, Any]) -> str | None:
    """Pure: why a file record (add, change, move, file) cannot be extracted, or None.
    Other records pass through as they are."""
    if record.get("type") not in FILE_TYPES or not record.get("checksum"):
        return None
    checksum, path, root = record.get("checksum"), record.get("path"), record.get("root")
    if not isinstance(checksum, str) or len(checksum) < 8 or not _HEX.issuperset(checksum):
        return f"{record['type']} record with a checksum that is not lower-case hex"
    if not isinstance(path, str) or not path or path.startswith("/"):
        return f"{record['type']} record without a relative path"
    if not isinstance(root, str):
        return f"{record['type']} record without a root"
    if not isinstance(record.get("source", ""), str):
        return f"{record['type']} record with a source that is not a string"
    size = record.get("size")
    if size is not None and (isinstance(size, bool) or not isinstance(size, int | float)):
        return f"{record['type']} record with a size that is not a number"
    return None
