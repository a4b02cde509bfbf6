"""`hg-build export meta`: write the gallery's tags (edits applied) and the names of the
people its faces show into XMP sidecars.

For each entry (all, or a query's): its tags from the database, its XMP sidecars from the
files table, the sources' folders from the config. A source is written only with
`write_xmp = true` in its `[[sources]]` (a read-only NAS share stays untouched); its
entries are reported as `skip` records otherwise. What each sidecar should say comes from
`hg_build.xmp_tags.plan` (pure); this module reads and writes with one long-lived exiftool
(pyexiftool, `-stay_open`).

Writes: an existing sidecar with `-overwrite_original` (exiftool writes a temporary file
beside it and renames it over), a new one to a hidden temporary name and then renamed to
its place unless something appeared there meanwhile: a sidecar is never half written,
never clobbered. Only `.xmp` files are ever given to exiftool to write, so an original
cannot be touched. A sidecar that already carries exactly the tags is not rewritten, so a
second run changes nothing and the next `hg-index` scan sees only real changes.

Records on stdout (type `xmp`, v1): `action` create|update, `source`, `path` (relative to
the source), `file` (absolute), `tags` (what the sidecar carries afterwards), `added`,
`removed`, `people` (the names it carries afterwards, `XMP-iptcExt:PersonInImage`),
`people_added`, `people_removed`, `dry_run`. Skipped entries: `skip` records; failed files:
`error` records.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import exiftool
import orjson

from hg_build import xmp_tags
from hg_common.config import Source
from hg_common.filetypes import META, file_type
from hg_common.records import SCHEMA_VERSION, error_record, skip_record

log = logging.getLogger("hg-build")

STAGE = "export-meta"
RECORD = "xmp"
CHUNK = 500  # entries per database read and per exiftool read


@dataclass
class Stats:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: int = 0
    failed: int = 0
    skipped_sources: dict[str, int] = field(default_factory=dict)


@dataclass
class Entry:
    id: str
    tags: list[str]
    source: str
    primary: str  # path relative to the source
    sidecars: list[str]  # the entry's XMP files in the primary's folder, relative paths
    people: list[str] = field(default_factory=list)  # names of its named people


def _chunks(ids: Iterable[str], size: int) -> Iterator[list[str]]:
    chunk: list[str] = []
    for i in ids:
        chunk.append(i)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def read_entries(conn: sqlite3.Connection, ids: list[str]) -> list[Entry]:
    marks = ",".join("?" * len(ids))
    tags = dict(conn.execute(f"SELECT id, tags FROM entries WHERE id IN ({marks})", ids))
    files: dict[str, list[tuple[str, str, int]]] = {}
    for entry_id, source, path, primary in conn.execute(
        f"SELECT entry_id, source, path, is_primary FROM files WHERE entry_id IN ({marks}) "
        "ORDER BY entry_id, ord",
        ids,
    ):
        files.setdefault(entry_id, []).append((source, path, primary))
    people = _people(conn, marks, ids)
    out = []
    for entry_id in ids:
        own = files.get(entry_id)
        if entry_id not in tags or not own:
            continue
        source, primary = next(((s, p) for s, p, is_p in own if is_p), own[0][:2])
        folder = PurePosixPath(primary).parent
        sidecars = [
            p
            for s, p, _ in own
            if s == source and file_type(p) == META and PurePosixPath(p).parent == folder
        ]
        out.append(Entry(entry_id, orjson.loads(tags[entry_id]), source, primary, sidecars,
                         people.get(entry_id, [])))  # fmt: skip
    return out


def _people(conn: sqlite3.Connection, marks: str, ids: list[str]) -> dict[str, list[str]]:
    """Entry id -> the names of the named people its faces show."""
    out: dict[str, list[str]] = {}
    for entry_id, name in conn.execute(
        "SELECT DISTINCT f.entry_id, p.name FROM person_faces f JOIN people p "
        f"ON p.id = f.person_id WHERE f.entry_id IN ({marks}) AND p.name IS NOT NULL "
        "ORDER BY f.entry_id, p.name",
        ids,
    ):
        out.setdefault(entry_id, []).append(name)
    return out


def hg_names(conn: sqlite3.Connection) -> set[str]:
    """Every name the gallery gives or gave a person: what a sidecar may lose."""
    names = {n for (n,) in conn.execute("SELECT name FROM people WHERE name IS NOT NULL")}
    names.update(
        n.strip()
        for (n,) in conn.execute(
            "SELECT json_extract(event, '$.name') FROM person_events "
            "WHERE json_extract(event, '$.action') = 'name'"
        )
        if isinstance(n, str) and n.strip()
    )
    return names


class Exif:
    """One exiftool for the whole run: reads tag fields, writes sidecars."""

    def __init__(self) -> None:
        self.et = exiftool.ExifTool(common_args=["-charset", "filename=utf8"], encoding="utf-8")
        self.et.run()

    def close(self) -> None:
        self.et.terminate()

    def read(self, paths: list[Path]) -> dict[str, dict[str, list[str]] | str]:
        """Each sidecar's tag fields, or the reason it could not be read."""
        if not paths:
            return {}
        tags = [f"-{t}" for t in xmp_tags.WRITTEN.values()]
        out = self.et.execute("-j", *tags, *map(str, paths))
        found = {r["SourceFile"]: r for r in orjson.loads(out or "[]")}
        result: dict[str, dict[str, list[str]] | str] = {}
        for path in paths:
            raw = found.get(str(path))
            if raw is None or "Error" in raw:
                why = raw.get("Error") if raw else self.et.last_stderr.strip()
                result[str(path)] = f"exiftool cannot read {path}: {why or 'no output'}"
            else:
                result[str(path)] = xmp_tags.read_fields(raw)
        return result

    def write(self, path: Path, fields: Mapping[str, list[str]], create: bool) -> str | None:
        """Write the fields; None when done, else what went wrong."""
        if path.suffix.lower() != ".xmp":  # the one guard that keeps originals untouched
            raise ValueError(f"refusing to write {path}: not an XMP sidecar")
        folder = path.parent
        if not os.access(folder, os.W_OK):
            return f"folder {folder} is read-only for this user: {path.name} was not written"
        args = xmp_tags.exiftool_args(fields)
        if not create:
            self.et.execute("-overwrite_original", *args, str(path))
            return self._failed(path)
        temp = folder / f".{path.name}.hg-{uuid.uuid4().hex[:8]}.xmp"
        try:
            self.et.execute("-o", str(temp), *args)
            problem = self._failed(path)
            if problem is None and not temp.exists():
                problem = f"exiftool did not create {path}"
            if problem is not None:
                return problem
            if path.exists():  # appeared since we looked: it is someone's, leave it
                return f"{path} appeared meanwhile; run again to merge into it"
            os.rename(temp, path)
            return None
        except OSError as exc:
            return f"cannot create {path}: {exc.strerror}"
        finally:
            temp.unlink(missing_ok=True)

    def _failed(self, path: Path) -> str | None:
        if self.et.last_status == 0:
            return None
        errors = [
            line.strip()
            for line in self.et.last_stderr.splitlines()
            if line.strip() and not line.startswith("Warning")
        ]
        return f"exiftool could not write {path}: {'; '.join(errors) or 'failed'}"


def export(
    conn: sqlite3.Connection,
    ids: Iterable[str],
    sources: Iterable[Source],
    emit: Callable[[dict[str, Any]], None],
    dry_run: bool = False,
) -> Stats:
    """Plan and (unless dry_run) write every entry's sidecars; records go to `emit`."""
    by_name = {s.name: s for s in sources}
    names = hg_names(conn)
    stats = Stats()
    exif = Exif()
    try:
        for chunk in _chunks(ids, CHUNK):
            entries = read_entries(conn, chunk)
            todo: list[tuple[Entry, Path]] = []
            for entry in entries:
                source = by_name.get(entry.source)
                reason = None
                if source is None:
                    reason = f"source {entry.source!r} is not in the config"
                elif not source.write_xmp:
                    reason = (
                        f"source {entry.source!r} is not written: "
                        "set write_xmp = true in its [[sources]] to allow it"
                    )
                if reason:
                    stats.skipped += 1
                    stats.skipped_sources[entry.source] = (
                        stats.skipped_sources.get(entry.source, 0) + 1
                    )
                    emit(skip_record(STAGE, reason, id=entry.id, source=entry.source,
                                     path=entry.primary))  # fmt: skip
                else:
                    todo.append((entry, source.dir))
            _export_chunk(exif, todo, emit, stats, dry_run, names)
    finally:
        exif.close()
    return stats


def _export_chunk(
    exif: Exif,
    todo: list[tuple[Entry, Path]],
    emit: Callable[[dict[str, Any]], None],
    stats: Stats,
    dry_run: bool,
    names: set[str],
) -> None:
    targets: dict[str, str] = {}  # entry id -> relative path of the sidecar for new tags
    on_disk: list[Path] = []
    for entry, root in todo:
        folder = PurePosixPath(entry.primary).parent
        own = [PurePosixPath(p).name for p in entry.sidecars]
        target = str(folder / xmp_tags.sidecar_name(PurePosixPath(entry.primary).name, own))
        targets[entry.id] = target.removeprefix("./")
        # A sidecar made since the last scan is merged into, never replaced.
        paths = {*entry.sidecars, targets[entry.id]}
        on_disk += [root / p for p in sorted(paths) if (root / p).is_file()]
    state = exif.read(on_disk)
    for entry, root in todo:
        target = targets[entry.id]
        existing: dict[str, Mapping[str, list[str]]] = {}
        problem = None
        for rel in sorted({*entry.sidecars, target}):
            fields = state.get(str(root / rel))
            if isinstance(fields, str):
                problem = (rel, fields)
            elif fields is not None:
                existing[rel] = fields
        if problem:
            stats.failed += 1
            emit(error_record(STAGE, problem[1], id=entry.id, source=entry.source,
                              path=problem[0]))  # fmt: skip
            continue
        changes = xmp_tags.plan(entry.tags, existing, target, entry.people, names)
        if not changes:
            stats.unchanged += 1
        for change in changes:
            path = root / change.path
            failed = None
            if dry_run:
                if not os.access(path.parent, os.W_OK):
                    failed = f"folder {path.parent} is read-only for this user"
            else:
                failed = exif.write(path, change.fields, change.create)
            if failed:
                stats.failed += 1
                emit(error_record(STAGE, failed, id=entry.id, source=entry.source,
                                  path=change.path))  # fmt: skip
                continue
            if change.create:
                stats.created += 1
            else:
                stats.updated += 1
            emit(
                {
                    "type": RECORD,
                    "v": SCHEMA_VERSION,
                    "action": "create" if change.create else "update",
                    "id": entry.id,
                    "source": entry.source,
                    "path": change.path,
                    "file": str(path),
                    "tags": change.tags,
                    "added": change.added,
                    "removed": change.removed,
                    "people": change.people,
                    "people_added": change.people_added,
                    "people_removed": change.people_removed,
                    "dry_run": dry_run,
                }
            )
