"""Where the file records come from: stdin (hg-index's output) or, with `--all`, the index."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from hg_index.indexfile import index_files, read_entries, read_header
from hg_index.records import FILE, file_record


def index_records(index_dir: Path) -> Iterator[dict[str, Any]]:
    """Every indexed file of every source as a `file` record, in the index's walk order."""
    for path in index_files(index_dir):
        header = read_header(path)
        if header is None:
            continue
        for entry in read_entries(path):
            entry = {**entry, "mtime": entry.get("mtime_ns", 0) / 1e9}
            yield file_record(FILE, header["source"], header["root"], entry)
