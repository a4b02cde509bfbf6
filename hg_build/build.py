"""Incremental build: hg-extract's records from a stream, upserted chunk by chunk.

Each chunk is one transaction, so a gallery being served sees whole chunks appear. A chunk
closes at `chunk_size` records or `max_delay` seconds after its first record, whichever is
first, so a slow extractor still shows progress. Memory holds one chunk, never the archive.
"""

from __future__ import annotations

import logging
import queue
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any

import orjson

from hg_build import db, failures, people_db
from hg_build.entries import EntryError, media_from_entry
from hg_build.events import now_iso
from hg_build.ml import ml_fields
from hg_build.upsert import write_batch
from hg_common.records import SCHEMA_VERSION, error_record
from hg_common.records import is_flush as is_flush_record

log = logging.getLogger(__name__)

_END = object()


@dataclass
class Summary:
    entries: int = 0
    removed: int = 0
    moved: int = 0
    dropped: int = 0
    errors: int = 0
    known: int = 0  # of `errors`: failures the table knew (same error and checksum), unprinted
    skipped: int = 0
    ml: int = 0  # `ml` records applied (similarity and objects of entries)


def timed_chunks(
    blocks: Iterable[list[Any]],
    size: int,
    max_delay: float,
    barrier: Callable[[Any], bool] | None = None,
) -> Iterator[list[Any]]:
    """Chunks of at most `size` records, cut early `max_delay` s after a chunk's first
    record. The input comes in blocks (lists of records, e.g. `parallel.line_blocks`): a
    reader thread hands over a block at a time, not a record (a queue operation per line
    was ~10 % of a 100k build's writer). A record `barrier` says is one (a `flush`) cuts
    the chunk at once and is a chunk of its own: whoever wrote it waits for its answer."""
    q: queue.Queue[Any] = queue.Queue(maxsize=8)

    def reader() -> None:
        try:
            for block in blocks:
                q.put(block)
        except BaseException as exc:  # re-raised in the consumer
            q.put(_Failed(exc))
        q.put(_END)

    threading.Thread(target=reader, daemon=True, name="hg-build-reader").start()
    chunk: list[Any] = []
    deadline = 0.0
    while True:
        timeout = None if not chunk else max(0.0, deadline - time.monotonic())
        try:
            block = q.get(timeout=timeout)
        except queue.Empty:
            yield chunk
            chunk = []
            continue
        if block is _END:
            break
        if isinstance(block, _Failed):
            if chunk:
                yield chunk
            raise block.exc
        if barrier is not None and any(map(barrier, block)):
            for item in block:
                if barrier(item):
                    if chunk:
                        yield chunk
                    yield [item]
                    chunk = []
                    continue
                if not chunk:
                    deadline = time.monotonic() + max_delay
                chunk.append(item)
                if len(chunk) >= size:
                    yield chunk
                    chunk = []
            continue
        if not chunk and block:
            deadline = time.monotonic() + max_delay
        chunk += block
        while len(chunk) >= size:
            yield chunk[:size]
            chunk = chunk[size:]
            deadline = time.monotonic() + max_delay
    if chunk:
        yield chunk


def is_flush(item: Any) -> bool:
    """A `flush` record (a barrier, see `hg_common.records`), parsed or as its input line
    (lineno, bytes)."""
    if isinstance(item, dict):
        return is_flush_record(item)
    line = item[1]
    if b'"flush"' not in line[:40]:  # the cheap test first: every input line passes here
        return False
    try:
        record = orjson.loads(line)
    except orjson.JSONDecodeError:
        return False
    return is_flush_record(record)


def flush_of(items: list[Any]) -> dict[str, Any] | None:
    """The `flush` record when a chunk is one (`timed_chunks` gives each its own chunk)."""
    if len(items) == 1 and is_flush(items[0]):
        item = items[0]
        return item if isinstance(item, dict) else orjson.loads(item[1])
    return None


@dataclass
class _Failed:
    exc: BaseException


@dataclass
class RunState:
    """What one run has counted and seen, across the databases it writes (a first build
    writes a fresh file, then the live database: a `scanned` record in the second must
    know the index errors reported in the first)."""

    summary: Summary = field(default_factory=Summary)
    index_errors: dict[str, set[str]] = field(default_factory=dict)
    """source -> paths of `stage: index` error records this run."""
    warned: set[str] = field(default_factory=set)
    """Record kinds hg-build ignores and has said so."""


def entry_media(record: dict[str, Any], errors: list[dict]) -> dict[str, Any] | None:
    """The media dict of an entry record, or None and an error record in `errors` (to be
    applied where the database is: see `Builder.fail`). Pure: workers run it too."""
    if record.get("v", SCHEMA_VERSION) != SCHEMA_VERSION:
        errors.append(_bad_entry(record, f"entry record version {record.get('v')!r} is not 1"))
        return None
    try:
        media = media_from_entry(record)
    except (EntryError, KeyError, TypeError, ValueError) as exc:
        errors.append(_bad_entry(record, f"cannot use entry record: {exc}"))
        return None
    for err in record.get("errors") or []:
        log.debug("%s: extract error: %s", err.get("path"), err.get("error"))
    return media


class Builder:
    """Applies records to an open database. Error records are kept in the `failures` table
    and passed to `on_error` (printed) when they are news (`failures.is_news`). `run`: the
    run's state, shared by the builders of its databases."""

    def __init__(
        self,
        conn: sqlite3.Connection,
        on_error: Callable[[dict], None],
        run: RunState | None = None,
    ) -> None:
        self.conn = conn
        self.on_error = on_error
        self.run = run or RunState()
        self.summary = self.run.summary
        self.known_faces = people_db.KnownFaces()  # between this run's chunks (people_db)

    def apply_chunk(self, records: list[dict[str, Any]], own_transaction: bool = True) -> None:
        """One transaction (unless the caller holds one: a fresh file is written in a single
        transaction, as a commit per chunk is wasted work there); consecutive entries are
        written as one batch."""
        plan = self.prepare(records)
        with db.transaction(self.conn) if own_transaction else nullcontext(self.conn):
            self.write(plan, now_iso())

    def prepare(self, records: list[dict[str, Any]]) -> list[Any]:
        """The part of a chunk that needs no database: the media dicts of its entries (a run
        of consecutive entries as one list) and the other records in order; skipped records
        are counted here."""
        plan: list[Any] = []
        batch: list[dict[str, Any]] = []
        for original in records:
            record, kind = original, original.get("type")
            if kind == "entry":
                bad: list[dict] = []
                media = self.media(record, bad)
                if media is not None:
                    batch.append(media)
                    continue
                record, kind = bad[0], "error"  # an entry hg-build cannot use, in order
            if batch:
                plan.append(batch)
                batch = []
            if kind in ("remove", "move", "error", "scanned", "ml"):
                plan.append(record)  # they read or write the database: in order
            else:
                self.apply(record)
        if batch:
            plan.append(batch)
        return plan

    def write(self, plan: list[Any], updated: str) -> None:
        """The database part of a chunk (see `prepare`), in the caller's transaction."""
        for step in plan:
            if isinstance(step, list):
                write_batch(self.conn, step, updated)
                failures.forget_media(self.conn, step)
            else:
                self.apply(step)
        people_db.update(self.conn, self.known_faces)

    def media(self, record: dict[str, Any], errors: list[dict]) -> dict[str, Any] | None:
        """`entry_media`, counted."""
        media = entry_media(record, errors)
        if media is not None:
            self.summary.entries += 1
        return media

    def apply(self, record: dict[str, Any]) -> None:
        """A record other than `entry`: remove, move, error, scanned (others are skipped)."""
        kind = record.get("type")
        s = self.summary
        if kind == "remove":
            s.removed += 1
            key = (str(record["source"]), str(record["path"]))
            s.dropped += db.remove_file(self.conn, *key)
            if failures.has_failures(self.conn):
                failures.forget(self.conn, [key])
        elif kind == "move":
            s.moved += 1
            old = (str(record.get("from_source") or record["source"]), str(record["from_path"]))
            new = (str(record["source"]), str(record["path"]))
            db.move_file(self.conn, *old, *new)
            failures.move(self.conn, old, new)
        elif kind == "error":
            self.fail(record)
        elif kind == "scanned":
            self.scanned(record)
        elif kind == "ml":
            self.ml(record)
        elif kind == "skip":
            s.skipped += 1  # a file that is not media: nothing to build, not a failure
        else:
            s.skipped += 1
            if kind not in self.run.warned:
                self.run.warned.add(str(kind))
                hint = " (pipe hg-index through hg-extract)" if kind in ("add", "change") else ""
                log.warning("ignoring %r records: hg-build reads hg-extract's output%s", kind, hint)

    def fail(self, record: dict[str, Any]) -> None:
        """An error record: kept as the file's failure, printed when it is news."""
        s = self.summary
        s.errors += 1
        if record.get("stage") == "index" and (key := failures.failure_key(record)):
            self.run.index_errors.setdefault(key[0], set()).add(key[1])
        if failures.record_failure(self.conn, record, now_iso()):
            self.on_error(record)
        else:
            s.known += 1

    def ml(self, record: dict[str, Any]) -> None:
        """hg-extract's similarity vector and objects of an entry, made after its `entry`
        record (so its previews were in the gallery first): the entry's ML columns and
        search text are updated; an entry that is not (or no longer) there is left."""
        fields = ml_fields(record)
        if not isinstance(record.get("id"), str) or not fields:
            self.summary.skipped += 1
            return
        if db.update_ml(self.conn, record["id"], fields, now_iso()):
            self.summary.ml += 1
            key = failures.failure_key(record)
            if key is not None and failures.has_failures(self.conn):
                failures.forget(self.conn, [key])  # an earlier ML failure of this photo

    def scanned(self, record: dict[str, Any]) -> None:
        """hg-index walked a source completely: its index failures this run did not report
        again are gone (the file was deleted, or can be read now)."""
        source = record.get("source")
        if isinstance(source, str):
            seen = self.run.index_errors.get(source, set())
            failures.forget_unseen_index(self.conn, source, seen)


def _bad_entry(record: dict[str, Any], message: str) -> dict[str, Any]:
    """The error record of an entry record hg-build cannot use (named by its first file)."""
    files = record.get("files") or [{}]
    first = files[0] if isinstance(files[0], dict) else {}
    return error_record(
        "build",
        message,
        id=record.get("id"),
        source=first.get("source"),
        root=first.get("root"),
        path=first.get("path"),
        checksum=first.get("checksum"),
    )
