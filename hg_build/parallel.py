"""Chunks prepared in worker processes, written by one: a build on every core.

Most of a first build is Python work per entry (parse the line, make the media dict, make
the rows: ~80 µs), and threads cannot share it (the GIL). Worker processes each take a
chunk of input lines and return its rows as a small serialized database (`chunkdb`), which
the parent copies in with one statement per table.

A worker makes the rows as if every entry of its chunk were new, since it cannot see the
database. The parent checks that before writing (`Prepared.collides`: an id, a path or an
edit the database already has, or one twice in the chunk) and otherwise writes the chunk
the serial way (`Builder`), so the result is the same either way; a first build of an
archive never meets that case, an incremental one rarely.
"""

from __future__ import annotations

import ctypes
import gc
import logging
import multiprocessing
import os
import queue
import signal
import sqlite3
import threading
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from hg_build import chunkdb, db, failures, people_db
from hg_build.build import Builder, Summary, entry_media
from hg_build.events import now_iso
from hg_build.upsert import new_rows, select_in
from hg_common.ndjson import NdjsonError, parse_line
from hg_common.records import error_record

log = logging.getLogger(__name__)

Line = tuple[int, bytes]
"""An input line and its number (for error messages), parsed in a worker."""

WRITTEN_MAX = 300_000

Item = Line | dict[str, Any]
"""What a chunk holds: input lines, or records already parsed (a rebuild, tests)."""


def parse_items(items: Iterable[Item]) -> Iterator[dict[str, Any]]:
    """Records of a chunk; a line that is not a JSON object becomes an error record."""
    for item in items:
        if isinstance(item, dict):
            yield item
            continue
        lineno, line = item
        try:
            yield parse_line(line, lineno)
        except NdjsonError as exc:
            yield error_record("build", f"stdin {exc}")


def numbered_lines(stream: Iterable[bytes]) -> Iterator[Line]:
    """The non-blank lines of a byte stream with their numbers, unparsed."""
    for lineno, line in enumerate(stream, 1):
        if line.strip():
            yield lineno, line


def line_blocks(stream: BinaryIO, size: int = 1 << 16) -> Iterator[list[Line]]:
    """`numbered_lines` in blocks: the whole lines of each read (`read1`: what the pipe
    has, up to `size` bytes, waiting only when it has nothing), so a line is passed on as
    soon as it arrives and a fast producer's lines go in blocks."""
    lineno = 0
    pending: list[bytes] = []  # the start of a line that has not ended yet
    while data := stream.read1(size):
        end = data.rfind(b"\n")
        if end < 0:
            pending.append(data)
            continue
        head = b"".join([*pending, data[:end]]) if pending else data[:end]
        pending = [data[end + 1 :]] if end + 1 < len(data) else []
        block = []
        for line in head.split(b"\n"):
            lineno += 1
            if line.strip():
                block.append((lineno, line))
        if block:
            yield block
    last = b"".join(pending)
    if last.strip():
        yield [(lineno + 1, last)]


@dataclass
class Prepared:
    """A chunk made ready by a worker: its rows `chunkdb.pack`ed, or None when only the
    serial way can write it (a remove or move record, a record kind hg-build does not
    write). `records`: its error and `scanned` records in input order, which the parent
    applies after the rows (they need the database's `failures`)."""

    packed: bytes | None = None
    ids: list[str] = field(default_factory=list)
    paths: dict[str, list[str]] = field(default_factory=dict)
    records: list[dict[str, Any]] = field(default_factory=list)
    summary: Summary = field(default_factory=Summary)

    def collides(self, conn: sqlite3.Connection, written: Written | None, edits: bool) -> bool:
        """True if an entry of the chunk may not be new to the database (its rows would
        differ): a stored id or path, an imported edit for it. `written`: what this build
        put into a fresh file so far (that file held nothing else), checked in memory."""
        if self.packed is None:
            return True
        if edits and select_in(
            conn, "SELECT 1 FROM events WHERE target_id IN ({}) LIMIT 1", self.ids
        ):
            return True
        if written is not None:
            return written.meets(self.ids, self.paths)
        if self.ids and select_in(conn, "SELECT 1 FROM entries WHERE id IN ({}) LIMIT 1", self.ids):
            return True
        sql = "SELECT 1 FROM files WHERE source = ? AND path IN ({}) LIMIT 1"
        return any(select_in(conn, sql, paths, source) for source, paths in self.paths.items())


class Written:
    """Hashes of the ids and paths a build wrote into a fresh file: a superset of what the
    file holds, so "not in here" means new. `full` past WRITTEN_MAX hashes (~20 MB), after
    which the writer asks SQL instead: memory stays flat however large a rebuild is."""

    def __init__(self) -> None:
        self.ids: set[int] = set()
        self.paths: set[int] = set()

    @property
    def full(self) -> bool:
        return len(self.ids) + len(self.paths) > WRITTEN_MAX

    def meets(self, ids: list[str], paths: dict[str, list[str]]) -> bool:
        if not self.ids.isdisjoint(map(hash, ids)):
            return True
        return any(
            not self.paths.isdisjoint(hash((source, p)) for p in ps) for source, ps in paths.items()
        )

    def add(self, ids: Iterable[str], paths: Iterable[tuple[str, str]]) -> None:
        self.ids.update(map(hash, ids))
        self.paths.update(map(hash, paths))

    def add_records(self, records: list[dict[str, Any]]) -> None:
        """What a chunk written the serial way may have put in: entries' ids and paths,
        moves' new paths."""
        for r in records:
            if r.get("type") == "entry":
                self.ids.add(hash(r.get("id")))
                files = [f for f in r.get("files") or () if isinstance(f, dict)]
                self.paths.update(hash((f.get("source"), f.get("path"))) for f in files)
            elif r.get("type") == "move":
                self.paths.add(hash((r.get("source"), r.get("path"))))


def prepare(items: list[Item]) -> Prepared:
    """Runs in a worker: a chunk's records to rows, errors and counts (see `Prepared`)."""
    out = Prepared()
    medias = []
    for record in parse_items(items):
        kind = record.get("type")
        if kind == "entry":
            media = entry_media(record, out.records)
            if media is not None:
                medias.append(media)
        elif kind in ("error", "scanned"):
            out.records.append(record)
        elif kind == "skip":
            out.summary.skipped += 1  # as Builder.apply counts it
        else:
            return Prepared()  # remove, move, unknown kinds: the serial way, in order
    paths: dict[str, list[str]] = defaultdict(list)
    for m in medias:
        for f in m["files"]:
            paths[f["source"]].append(f["path"])
    out.ids = [m["id"] for m in medias]
    if len(set(out.ids)) < len(out.ids) or any(len(set(p)) < len(p) for p in paths.values()):
        return Prepared()  # the same photo or path twice in the chunk
    failed = {failures.failure_key(r) for r in out.records if r.get("type") == "error"}
    if any((source, p) in failed for source, ps in paths.items() for p in ps):
        return Prepared()  # a file that fails and is an entry in one chunk: order matters
    out.paths = dict(paths)
    out.packed = chunkdb.pack(new_rows(medias, now_iso()))
    out.summary.entries = len(medias)
    return out


def _worker_start(parent: int) -> None:
    _die_with(parent)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    # The parent's objects are inherited (fork) and never freed here: keep the collector
    # from walking them. And no automatic collections: a chunk makes ~100k containers
    # that all live until it is done, so the collector would walk them again and again
    # for nothing (a quarter of the time); `_prepare` collects once per chunk instead.
    gc.freeze()
    gc.disable()


def _prepare(items: list[Item]) -> Prepared:
    gc.collect(1)  # the last chunk's cycles, if any (freed by refcount, it leaves few)
    return prepare(items)


def _die_with(parent: int) -> None:
    """End this worker when the parent ends, even by SIGKILL: a worker left behind would
    hold the parent's writer lock (an inherited descriptor) and block every later build."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):  # not Linux: the pool's own checks remain
        pass
    if os.getppid() != parent:  # the parent ended before prctl
        os._exit(1)


_PR_SET_PDEATHSIG = 1


def default_workers() -> int:
    """One process per core (at most 8: the single writer is the limit beyond that)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, min(8, cores or 1))


class ChunkWriter:
    """Writes chunks in input order, each prepared by a worker (or, with one worker or
    for a chunk the workers cannot prepare, the serial way)."""

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self._pool: ProcessPoolExecutor | None = None
        if workers > 1:
            # fork: workers start at once with hg_build already imported; started before
            # any reader thread of the caller's, so no thread's lock is copied held.
            self._pool = ProcessPoolExecutor(
                workers,
                mp_context=multiprocessing.get_context("fork"),
                initializer=_worker_start,
                initargs=(os.getpid(),),
            )
            # With fork the pool starts every worker at its first task: do that now, from
            # this thread, before the caller's reader threads exist.
            self._pool.submit(os.getpid).result()

    def __enter__(self) -> ChunkWriter:
        # As in the workers: no automatic collections while chunks' rows come and go (the
        # collector would walk them for nothing); `write` collects once per chunk.
        self._gc = gc.isenabled()
        gc.disable()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._gc:
            gc.enable()
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)

    def prepared(self, chunks: Iterable[list[Item]]) -> Iterator[tuple[list[Item], Any]]:
        """(chunk, Future of its `Prepared` or None) in input order. A thread pulls the
        chunks and hands them to the workers, at most two per worker ahead of the
        writer, so memory stays bounded and no chunk waits for the next one's input."""
        if self._pool is None:
            for items in chunks:
                yield items, None
            return
        ahead: queue.Queue[Any] = queue.Queue(maxsize=2 * self.workers)
        done = object()
        stop = threading.Event()

        def pull() -> None:
            try:
                for items in chunks:
                    if stop.is_set():
                        return
                    ahead.put((items, self._pool.submit(_prepare, items)))  # type: ignore[union-attr]
            except BaseException as exc:  # re-raised by the writer
                ahead.put(exc)
            ahead.put(done)

        threading.Thread(target=pull, daemon=True, name="hg-build-chunks").start()
        try:
            while (got := ahead.get()) is not done:
                if isinstance(got, BaseException):
                    raise got
                yield got
        finally:
            stop.set()
            while True:  # let a puller blocked on a full queue see `stop`
                try:
                    ahead.get_nowait()
                except queue.Empty:
                    break

    def use(self, builder: Builder, fresh: bool, own_transaction: bool) -> None:
        """Write the next chunks with `builder` into its database: `fresh` (a new file only
        this build writes, see `Written`), `own_transaction` (one per chunk, else the
        caller's)."""
        self.builder = builder
        self.conn = conn = builder.conn
        self.edits = has_events(conn)
        self.written = Written() if fresh else None
        self.own_transaction = own_transaction

    def write(self, items: list[Item], future: Future | None) -> None:
        """One chunk: the worker's rows when they hold, else the serial way."""
        prepared: Prepared | None = future.result() if future is not None else None
        builder, conn, written = self.builder, self.conn, self.written
        with db.transaction(conn) if self.own_transaction else nullcontext(conn):
            if prepared is None or prepared.collides(conn, written, self.edits):
                records = list(parse_items(items))
                builder.apply_chunk(records, own_transaction=False)
                if written is not None:
                    written.add_records(records)
                prepared = None
            else:
                chunkdb.insert_packed(conn, prepared.packed)  # type: ignore[arg-type]
                paths = prepared.paths.items()
                if failures.has_failures(conn):  # these files are entries now
                    failures.forget(conn, ((s, p) for s, ps in paths for p in ps))
                if written is not None:
                    written.add(prepared.ids, ((s, p) for s, ps in paths for p in ps))
                for record in prepared.records:  # error and scanned records, counted here
                    builder.apply(record)
                s, p = builder.summary, prepared.summary
                s.entries += p.entries
                s.skipped += p.skipped
                people_db.update(conn, builder.known_faces)  # the chunk's faces into people
        gc.collect(1)  # see __enter__
        if written is not None and written.full:
            self.written = None  # SQL from here on (see Written)


def has_events(conn: sqlite3.Connection) -> bool:
    return conn.execute("SELECT 1 FROM events LIMIT 1").fetchone() is not None


def apply_chunks(
    builder: Builder,
    chunks: Iterable[list[Item]],
    workers: int,
    after_chunk: Callable[[], None] = lambda: None,
) -> None:
    """All chunks into a fresh file (the builder's connection), in the caller's
    transaction."""
    with ChunkWriter(workers) as writer:
        writer.use(builder, fresh=True, own_transaction=False)
        for items, future in writer.prepared(chunks):
            writer.write(items, future)
            after_chunk()
