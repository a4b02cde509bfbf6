"""`hg-index stats`: what an index holds, read as a stream (no walk, no hashing)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from hg_common.indexfile import read_entries, read_header


def source_stats(path: Path) -> dict[str, Any]:
    header = read_header(path) or {}
    files = 0
    size = 0
    exts: Counter[str] = Counter()
    checksums: set[str] = set()
    for e in read_entries(path):
        files += 1
        size += e["size"]
        name = e["path"].rpartition("/")[2]
        exts[name.rpartition(".")[2].lower() if "." in name else ""] += 1
        checksums.add(e["checksum"][:16])
    return {
        "type": "index-stats",
        "v": 1,
        "source": header.get("source", path.stem),
        "root": header.get("root"),
        "created": header.get("created"),
        "files": files,
        "bytes": size,
        "unique": len(checksums),
        "extensions": dict(exts.most_common()),
    }
