"""Files whose extraction failed, offered to hg-extract again at the end of each import.

hg-build keeps the failures (`hg-build failures --json`, contract 3); hg-extract keeps a
memo per failed group and answers from it at once while its extractor version is the one
that failed (contract 2). So offering every failed file again costs a memo read each, and
after an upgrade that can fix them (a new extractor version), or with --retry-failed, they
are really retried: no file stays failed because of an old hg.

A failed file is offered with the rest of its sidecar group (as the index knows them), so
a retry that succeeds makes the same entry as a first run would.
"""

from __future__ import annotations

import logging
import os
import subprocess
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import orjson

from hg_common.indexfile import index_files, read_entries, read_header
from hg_common.ndjson import dumps
from hg_common.records import FILE, file_record
from hg_common.sidecars import group_keys

log = logging.getLogger("hg-import")

Key = tuple[str, str]


def parse_failures(stdout: bytes) -> list[dict[str, Any]]:
    """Pure: `hg-build failures --json` output (NDJSON, or one JSON array) as dicts."""
    text = stdout.strip()
    if not text:
        return []
    if text.startswith(b"["):
        rows = orjson.loads(text)
    else:
        rows = [orjson.loads(line) for line in text.splitlines() if line.strip()]
    return [r for r in rows if isinstance(r, dict)]


def to_retry(failures: Iterable[Mapping[str, Any]], answered: set[Key]) -> dict[str, set[str]]:
    """Pure: source -> paths of the extract failures not already answered in this import
    (hg-index's failures are reported by every walk; nothing to offer for them)."""
    out: dict[str, set[str]] = {}
    for row in failures:
        source, path = row.get("source"), row.get("path")
        if row.get("stage") != "extract" or not isinstance(source, str) or not path:
            continue
        if (source, path) not in answered:
            out.setdefault(source, set()).add(str(path))
    return out


def with_group_mates(folder: list[dict[str, Any]], failed: set[str]) -> list[dict[str, Any]]:
    """Pure: the entries of one folder (index order) that share a sidecar group with a
    failed path, the failed ones included."""
    names = {e["path"].rpartition("/")[2]: e for e in folder}
    keys = group_keys(names)
    wanted = {keys[n] for n, e in names.items() if e["path"] in failed}
    return [e for n, e in names.items() if keys[n] in wanted]


def _folders(entries: Iterable[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    folder: list[dict[str, Any]] = []
    current = None
    for e in entries:
        d = e["path"].rpartition("/")[0]
        if folder and d != current:
            yield folder
            folder = []
        current = d
        folder.append(e)
    if folder:
        yield folder


def _unchanged(root: str, entry: dict[str, Any]) -> bool:
    """Whether the file is still what the index says (else the next walk reports it and
    offering it with the old checksum would store new content under the old one)."""
    try:
        st = os.stat(os.path.join(root, entry["path"]))
    except OSError:
        return False
    return (st.st_size, st.st_mtime_ns, st.st_ino) == (
        entry["size"],
        entry["mtime_ns"],
        entry["inode"],
    )


def retry_records(index_dir: Path, wanted: Mapping[str, set[str]]) -> list[bytes]:
    """`file` record lines for the wanted files and their group mates, from the committed
    indexes, in index order (hg-extract groups a folder's consecutive records)."""
    lines: list[bytes] = []
    if not wanted:
        return lines
    for path in index_files(index_dir):
        header = read_header(path)
        if header is None or header.get("source") not in wanted:
            continue
        source, root = header["source"], header["root"]
        failed = wanted[source]
        folders = {p.rpartition("/")[0] for p in failed}
        for folder in _folders(read_entries(path)):
            if folder[0]["path"].rpartition("/")[0] not in folders:
                continue
            for entry in with_group_mates(folder, failed):
                if _unchanged(root, entry):
                    public = {**entry, "mtime": entry["mtime_ns"] / 1e9}
                    lines.append(dumps(file_record(FILE, source, root, public)))
    return lines


def list_failures(command: list[str]) -> list[dict[str, Any]] | None:
    """hg-build's failures, or None when it cannot list them (an hg-build without the
    `failures` subcommand: the retry step is skipped, the import goes on)."""
    proc = subprocess.run(command, capture_output=True)
    if proc.returncode != 0:
        said = proc.stderr.decode(errors="replace").strip()
        if "failures" in said and ("unrecognized" in said or "invalid choice" in said):
            log.debug("hg-build cannot list failures (no `failures` subcommand)")
        elif "no database" in said:
            log.debug("no database yet: no failures to offer again")
        else:
            log.warning("cannot list the failed files (%s); not offering them again", said)
        return None
    try:
        return parse_failures(proc.stdout)
    except orjson.JSONDecodeError as exc:
        log.warning("cannot read `hg-build failures --json` (%s); not offering them again", exc)
        return None
