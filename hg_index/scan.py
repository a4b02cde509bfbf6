"""Scan sources against their indexes and yield change records.

The walk and the old index are merged as two sorted streams, folder by folder; only this
run's adds and removes are held until the end, where a removed and an added file with the
same checksum become one `move`. Adds that cannot be a move (their checksum was not in any
old index) are printed at once, so a first scan streams.
"""

from __future__ import annotations

import logging
import os
from collections import defaultdict
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from itertools import groupby
from pathlib import Path
from typing import Any

from hg_common import records
from hg_common.config import Source
from hg_common.indexfile import IndexWriter, read_count, read_entries
from hg_common.limits import AddLimits
from hg_common.progress import Progress
from hg_index.checksum import checksum_file
from hg_index.excludes import Excludes
from hg_index.plan import (
    DirPlan,
    Entry,
    Policy,
    entry_name,
    make_entry,
    plan_dir,
    sidecar_changes,
)
from hg_index.walk import FileStat, Listing, join, walk

log = logging.getLogger("hg-index")

POOL_FROM = 1 << 20
"""Files from this size on are hashed in the thread pool, beside the walk."""


@dataclass(frozen=True)
class ScanOptions:
    dry_run: bool = False
    all: bool = False
    add_limits: AddLimits | None = None
    allow_empty: bool = False
    jobs: int = 4
    count_only: bool = False
    """Plan without hashing or writing: how much work is left (for progress and ETAs)."""
    defer_commit: bool = False
    """Write the new index as `<name>.ndjson.next`; `hg-index commit` promotes it."""
    size_filter_for_run: bool = False
    """The size limit came as a flag (`--max-filesize`, hg-import's batches): the files it
    leaves out are left for a later run, so a walk that left some out is not complete."""


@dataclass
class SourceScan:
    """One source, prepared: where its index lives and what filters it."""

    source: Source
    index_path: Path
    excludes: Excludes
    policy: Policy


@dataclass
class Summary:
    added: int = 0
    changed: int = 0
    removed: int = 0
    moved: int = 0
    unchanged: int = 0
    errors: int = 0
    over_limit: int = 0
    limit_hit: bool = False
    hashed_bytes: int = 0
    pending_files: int = 0
    pending_bytes: int = 0
    per_source: dict[str, int] = field(default_factory=dict)


def _dir_key(path: str) -> tuple[str, ...]:
    return tuple(path.split("/")) if path else ()


def _old_dirs(index_path: Path) -> Iterator[tuple[str, list[Entry]]]:
    for dirpath, entries in groupby(
        read_entries(index_path), lambda e: e["path"].rpartition("/")[0]
    ):
        yield dirpath, list(entries)


def _prefix(value: str) -> int:
    return int(value[:16], 16)


class Scanner:
    def __init__(self, opts: ScanOptions, progress: Progress) -> None:
        self.opts = opts
        self.progress = progress
        self.summary = Summary()
        self.pool = ThreadPoolExecutor(max_workers=max(1, opts.jobs))
        self._scans: list[SourceScan] = []
        self._old_checksums: set[int] | None = None
        self.pending_adds: list[dict[str, Any]] = []
        self.pending_removes: list[dict[str, Any]] = []
        self.scanned: list[dict[str, Any]] = []
        """`scanned` records of the sources walked completely, printed after the moves."""

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)

    # -- preparation ------------------------------------------------------------------
    def set_sources(self, scans: list[SourceScan]) -> None:
        """All sources of this run (a file may move from one to another)."""
        self._scans = list(scans)

    def may_be_move(self, checksum: str) -> bool:
        """An add whose checksum no old index holds cannot be a move. The old checksums
        (a 64-bit prefix each) are read on the first add, so a re-scan without adds never
        reads the indexes twice."""
        return _prefix(checksum) in self._load_old_checksums()

    def _load_old_checksums(self) -> set[int]:
        if self._old_checksums is None:
            self._old_checksums = {
                _prefix(e["checksum"]) for s in self._scans for e in read_entries(s.index_path)
            }
        return self._old_checksums

    # -- one source -------------------------------------------------------------------
    def scan(self, scan: SourceScan) -> Iterator[dict[str, Any]]:
        src = scan.source
        root = str(src.dir)
        old_count = read_count(scan.index_path)
        if not os.path.isdir(root):
            self.summary.errors += 1
            yield records.error_record(
                "index",
                "source folder does not exist or is not a folder; its index is kept",
                source=src.name,
                root=root,
                path="",
            )
            return
        limit = self.opts.add_limits.limit(old_count) if self.opts.add_limits else None
        read_only = self.opts.dry_run or self.opts.count_only
        writer = (
            None
            if read_only
            else IndexWriter(scan.index_path, src.name, root, defer=self.opts.defer_commit)
        )
        state = _SourceState(src.name, root, limit)
        try:
            yield from self._merge(scan, state, writer)
            empty_refused = False
            if state.seen_files == 0 and old_count > 0 and not self.opts.allow_empty:
                empty_refused = True
                self.summary.errors += 1
                yield records.error_record(
                    "index",
                    f"source is empty but its index has {old_count} files (not mounted?); "
                    "the index is kept. Pass --allow-empty to accept that all are gone",
                    source=src.name,
                    root=root,
                    path="",
                )
                state.pending_removes.clear()
                if writer:
                    writer.discard()
                    writer = None
            if writer and state.dirty(old_count):
                if state.pending_removes:
                    # a later source may add a removed file: read the old checksums
                    # while this source's old index is still in place
                    self._load_old_checksums()
                writer.commit()
                writer = None
        finally:
            if writer:
                writer.discard()
        if not empty_refused and complete_walk(state, self.opts.size_filter_for_run):
            self.scanned.append(records.scanned_record(src.name, root))
        self.summary.per_source[src.name] = state.count
        self.summary.removed += len(state.pending_removes)
        self.pending_removes.extend(state.pending_removes)
        if state.over_limit:
            self.summary.over_limit += state.over_limit
            self.summary.limit_hit = True

    def _merge(
        self, scan: SourceScan, state: _SourceState, writer: IndexWriter | None
    ) -> Iterator[dict[str, Any]]:
        old = _old_dirs(scan.index_path)
        pending = next(old, None)
        failed: list[tuple[str, ...]] = []

        def gone(dirpath: str, entries: list[Entry]) -> None:
            """A folder of the old index that the walk did not visit."""
            key = _dir_key(dirpath)
            unknown = any(key[: len(f)] == f for f in failed)
            for e in entries:
                if unknown:  # its parent could not be listed: keep what we knew
                    state.keep(e, writer)
                else:
                    state.remove(e)

        for listing in walk(str(scan.source.dir), scan.excludes):
            key = _dir_key(listing.path)
            while pending is not None and _dir_key(pending[0]) < key:
                gone(*pending)
                pending = next(old, None)
            old_entries: list[Entry] = []
            if pending is not None and pending[0] == listing.path:
                old_entries = pending[1]
                pending = next(old, None)
            yield from self._folder(scan, state, listing, old_entries, writer)
            if listing.failed is not None:
                failed.append(key)
                if not listing.path:
                    state.root_failed = True
        while pending is not None:
            gone(*pending)
            pending = next(old, None)

    def _folder(
        self,
        scan: SourceScan,
        state: _SourceState,
        listing: Listing,
        old_entries: list[Entry],
        writer: IndexWriter | None,
    ) -> Iterator[dict[str, Any]]:
        """One folder's records: its listing's problems, then what the plan finds (new,
        changed, removed, sidecar changes; with --all the unchanged files too); the index
        keeps every entry that is still true."""
        for relpath, reason in listing.problems:
            yield self._error(state, relpath, reason)
        if listing.failed is not None:
            yield self._unlisted(state, listing, old_entries, writer)
            return
        state.seen_files += len(listing.files)
        plan = plan_dir(old_entries, listing.files, scan.policy, state.allowance())
        state.over_limit += plan.over_limit
        state.too_large += plan.too_large
        for f in plan.empty:
            yield self._error(state, join(listing.path, f.name), "empty file (0 bytes)")
        if self.opts.count_only:
            self._count(state, listing, plan)
            return
        hashed = self._hash(state.root, listing.path, plan.new + [f for f, _ in plan.changed])
        entries: dict[str, Entry] = {entry_name(e): e for e in plan.keep}
        touched: set[str] = set()
        out: list[dict[str, Any]] = []
        self._new_files(state, listing, plan, hashed, entries, touched, out)
        self._changed_files(state, plan, hashed, entries, touched, out)
        for e in plan.removed:
            touched.add(entry_name(e))
            state.remove(e)
        if touched:
            self._sidecar_changes(state, plan, entries, touched, out)
        if self.opts.all:
            for e in plan.keep:
                if entry_name(e) not in touched:
                    out.append(self._record(records.FILE, state, e))
        self.summary.unchanged += len(plan.keep)
        for name in sorted(entries):
            state.keep(entries[name], writer)
        self.progress.update(files=len(listing.files), phase=state.source)
        yield from out

    def _record(self, kind: str, state: _SourceState, entry: Entry) -> dict[str, Any]:
        return records.file_record(kind, state.source, state.root, _public(entry))

    def _unlisted(
        self,
        state: _SourceState,
        listing: Listing,
        old_entries: list[Entry],
        writer: IndexWriter | None,
    ) -> dict[str, Any]:
        """A folder that cannot be listed keeps its old entries (and says so)."""
        reason = f"cannot list folder: {listing.failed}; its entries are kept"
        record = self._error(state, listing.path, reason)
        for e in old_entries:
            state.keep(e, writer)
        return record

    def _count(self, state: _SourceState, listing: Listing, plan: DirPlan) -> None:
        """--count: what would be hashed, without hashing it."""
        todo = plan.new + [f for f, _ in plan.changed]
        self.summary.pending_files += len(todo)
        self.summary.pending_bytes += sum(f.size for f in todo)
        self.summary.unchanged += len(plan.keep)
        for e in plan.removed:
            state.remove(e)
        self.progress.update(files=len(listing.files), phase=state.source)

    def _new_files(
        self,
        state: _SourceState,
        listing: Listing,
        plan: DirPlan,
        hashed: dict[str, str | Failure],
        entries: dict[str, Entry],
        touched: set[str],
        out: list[dict[str, Any]],
    ) -> None:
        """`add` records; one whose checksum an old index knows waits (it may be a move)."""
        for f in plan.new:
            path = join(listing.path, f.name)
            result = hashed[f.name]
            if isinstance(result, Failure):
                out.append(self._error(state, path, result.reason))
                continue
            entry = make_entry(path, f, result)
            entries[f.name] = entry
            state.updated += 1
            touched.add(f.name)
            state.added += 1
            record = self._record(records.ADD, state, entry)
            if self.may_be_move(result):
                self.pending_adds.append(record)
            else:
                self.summary.added += 1
                out.append(record)

    def _changed_files(
        self,
        state: _SourceState,
        plan: DirPlan,
        hashed: dict[str, str | Failure],
        entries: dict[str, Entry],
        touched: set[str],
        out: list[dict[str, Any]],
    ) -> None:
        """`change` records for files whose checksum changed; an unreadable one keeps its
        old entry (retried next run)."""
        for f, old_entry in plan.changed:
            path = old_entry["path"]
            result = hashed[f.name]
            if isinstance(result, Failure):
                entries[f.name] = old_entry  # keep what we knew; retried next run
                out.append(self._error(state, path, result.reason))
                continue
            entry = make_entry(path, f, result)
            entries[f.name] = entry
            state.updated += 1
            if result != old_entry["checksum"]:
                touched.add(f.name)
                self.summary.changed += 1
                record = self._record(records.CHANGE, state, entry)
                record["previous_checksum"] = old_entry["checksum"]
                out.append(record)
            elif self.opts.all:
                out.append(self._record(records.FILE, state, entry))

    def _sidecar_changes(
        self,
        state: _SourceState,
        plan: DirPlan,
        entries: dict[str, Entry],
        touched: set[str],
        out: list[dict[str, Any]],
    ) -> None:
        """Unchanged group mates of touched files: a `change` with `reason: sidecar`."""
        names = set(entries) | {entry_name(e) for e in plan.removed}
        for e in sidecar_changes(names, touched, plan.keep):
            self.summary.changed += 1
            record = self._record(records.CHANGE, state, e)
            record["previous_checksum"] = e["checksum"]
            record["reason"] = "sidecar"
            out.append(record)
            touched.add(entry_name(e))

    def _hash(self, root: str, dirpath: str, files: list[FileStat]) -> dict[str, str | Failure]:
        """Checksum per name, or an error sentence instead of the checksum."""

        def one(f: FileStat) -> tuple[str, int] | Failure:
            try:
                return checksum_file(os.path.join(root, dirpath, f.name), f.size)
            except FileNotFoundError:
                return Failure("vanished during the scan")
            except OSError as exc:
                return Failure(f"cannot read: {exc.strerror or exc}")

        # Large files go to the thread pool (reads and blake3 release the GIL); small ones
        # are hashed here, where threads would only trade the GIL back and forth.
        large = [f for f in files if f.size >= POOL_FROM]
        results = dict(zip((f.name for f in large), self.pool.map(one, large), strict=True))
        out: dict[str, str | Failure] = {}
        for f in files:
            result = results[f.name] if f.name in results else one(f)
            if isinstance(result, Failure):
                out[f.name] = result
                continue
            out[f.name] = result[0]
            self.summary.hashed_bytes += result[1]
            self.progress.update(nbytes=result[1])
        return out

    def _error(self, state: _SourceState, path: str, reason: str) -> dict[str, Any]:
        self.summary.errors += 1
        log.warning("%s: %s: %s", state.source, path, reason)
        return records.error_record(
            "index", reason, source=state.source, root=state.root, path=path
        )

    # -- after all sources ------------------------------------------------------------
    def finish(self) -> Iterator[dict[str, Any]]:
        """Pair removes with adds of the same checksum as moves; print the rest."""
        removes_by_sum: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for r in self.pending_removes:
            removes_by_sum[r["checksum"]].append(r)
        for add in self.pending_adds:
            gone = removes_by_sum.get(add["checksum"])
            if gone:
                prev = gone.pop(_best_match(add, gone))
                move = {
                    **add,
                    "type": records.MOVE,
                    "from_source": prev["source"],
                    "from_path": prev["path"],
                }
                self.summary.moved += 1
                self.summary.removed -= 1
                yield move
            else:
                self.summary.added += 1
                yield add
        for group in removes_by_sum.values():
            yield from group
        yield from self.scanned  # last: after every record of their sources


def complete_walk(state: _SourceState, size_filter_for_run: bool) -> bool:
    """Whether this run looked at every file of the source, so that every file it cannot
    read was reported (contract: the `scanned` record). Files beyond the add limit or a
    run's size limit were not hashed, so an unreadable one among them went unreported;
    the last chunk of an import (no limit reached) is complete. An unlistable subfolder is
    reported itself and keeps its entries, so it does not make the walk incomplete."""
    if state.root_failed or state.over_limit:
        return False
    return not (size_filter_for_run and state.too_large)


@dataclass(frozen=True)
class Failure:
    reason: str


def _best_match(add: dict[str, Any], candidates: list[dict[str, Any]]) -> int:
    """Among removed files with the same content, prefer the one with the same name."""
    name = add["path"].rpartition("/")[2]
    for i, c in enumerate(candidates):
        if c["path"].rpartition("/")[2] == name:
            return i
    return 0


def _public(entry: Entry) -> dict[str, Any]:
    return {
        "path": entry["path"],
        "size": entry["size"],
        "mtime": entry["mtime_ns"] / 1e9,
        "inode": entry["inode"],
        "checksum": entry["checksum"],
    }


class _SourceState:
    def __init__(self, source: str, root: str, limit: int | None) -> None:
        self.source = source
        self.root = root
        self.limit = limit
        self.added = 0
        self.over_limit = 0
        self.too_large = 0
        self.root_failed = False
        self.count = 0
        self.seen_files = 0
        self.updated = 0
        self.pending_removes: list[dict[str, Any]] = []

    def dirty(self, old_count: int) -> bool:
        """Whether the new index differs from the old one (else it is not rewritten)."""
        return bool(self.updated or self.pending_removes or self.count != old_count)

    def allowance(self) -> int | None:
        return None if self.limit is None else max(0, self.limit - self.added)

    def keep(self, entry: Entry, writer: IndexWriter | None) -> None:
        self.count += 1
        if writer:
            writer.write(entry)

    def remove(self, entry: Entry) -> None:
        rec = {
            "type": records.REMOVE,
            "v": records.SCHEMA_VERSION,
            "source": self.source,
            "root": self.root,
            "path": entry["path"],
            "size": entry["size"],
            "checksum": entry["checksum"],
        }
        self.pending_removes.append(rec)
