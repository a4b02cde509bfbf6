"""The database file as a whole: one writer at a time, open-or-rebuild, read-only opens."""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from hg_build import db, people_db, schema
from hg_build.build import Builder, RunState, Summary, flush_of
from hg_build.parallel import ChunkWriter, Item, default_workers
from hg_build.rebuild import fresh_database, rebuild
from hg_common.config import Config
from hg_common.errors import ConfigError
from hg_common.home import database_lock
from hg_common.lock import LockedError, RunLock

log = logging.getLogger(__name__)

FRESH_SECONDS = 30.0
"""A first build writes a fresh file for at most this long, then goes on in the live one."""

READ_CHUNK = 2000
"""Records per chunk read by the CLI: a fresh file takes them whole (fewer, larger units
for the workers: a 100k first build ~7 % faster than in 500s), the live database in
`chunk_size` transactions."""


@contextmanager
def writer_lock(database: Path) -> Iterator[None]:
    """One writer (incremental build, rebuild, events add) at a time; others wait."""
    try:
        with RunLock(database_lock(database)):
            yield
            return
    except LockedError:
        pass
    log.info("waiting for another hg-build to finish with %s", database)
    with RunLock(database_lock(database), wait=True):
        yield


def open_for_build(cfg: Config, database: Path, events: Path, on_error) -> sqlite3.Connection:
    """Open the database for writing; an older schema without migration is rebuilt."""
    try:
        return db.open_database(database)
    except schema.SchemaError as exc:
        if str(exc) != "rebuild":
            raise ConfigError(str(exc)) from None
    conn = sqlite3.connect(database)
    found = schema.version(conn)
    conn.close()
    log.warning(
        "%s has schema v%s, this hg-build writes v%s: rebuilding it from the index and "
        "storage (your edits in %s are kept)",
        database,
        found,
        schema.SCHEMA_VERSION,
        events,
    )
    rebuild(database, cfg.index_dir, cfg.storage, events, on_error)
    return db.open_database(database)


def open_readonly(database: Path) -> sqlite3.Connection:
    if not database.exists():
        raise ConfigError(
            f"no database at {database} yet: run `hg-index DIR | hg-extract | hg-build`"
        )
    conn = db.connect(database, readonly=True)
    try:
        state = schema.check(conn)
    except schema.SchemaError as exc:
        raise ConfigError(str(exc)) from None
    if state == "migrate":
        raise ConfigError(
            f"{database} has schema v{schema.version(conn)}, not v{schema.SCHEMA_VERSION}: "
            "run `hg-build < /dev/null` to migrate it in place"
        )
    if state != "ok":
        raise ConfigError(
            f"{database} has schema v{schema.version(conn)}, not v{schema.SCHEMA_VERSION}: "
            "run `hg-build --rebuild`"
        )
    return conn


def is_fresh(database: Path) -> bool:
    """No database yet, or one without entries, edits and failures: a first build."""
    if not database.exists() or database.stat().st_size == 0:
        return True
    try:
        conn = db.connect(database, readonly=True)
    except sqlite3.Error:
        return False
    try:
        if schema.check(conn) != "ok":
            return False
        return not conn.execute(
            "SELECT EXISTS (SELECT 1 FROM entries) OR EXISTS (SELECT 1 FROM events) "
            "OR EXISTS (SELECT 1 FROM failures)"
        ).fetchone()[0]
    except (sqlite3.Error, schema.SchemaError):
        return False
    finally:
        conn.close()


def build(
    cfg: Config,
    database: Path,
    events: Path,
    chunks: Iterable[list[Item]],
    on_error: Callable[[dict], None],
    after_chunk: Callable[[], None] = lambda: None,
    fresh_seconds: float = FRESH_SECONDS,
    workers: int | None = None,
    chunk_size: int | None = None,
    on_flush: Callable[[dict], None] = lambda record: None,
) -> Summary:
    """Apply chunks of records (or input lines), one transaction each.

    A chunk that is a `flush` record (`build.flush_of`) is answered with `on_flush(record)`
    once everything before it is committed (a fresh file is put in place first): one
    hg-build can serve all of hg-import's chunks.

    A first build (see `is_fresh`) goes into a fresh file (`rebuild.fresh_database`), which
    is put in place when the input ends or after `fresh_seconds`, whichever is first; the
    rest goes into the live database, where hg-serve sees each chunk as it is committed.
    Chunks are prepared by `workers` processes (see `parallel`; default one per core);
    the live phase cuts them to `chunk_size` records per transaction (None: as they come).
    """
    run = RunState()
    phased = _Phased(chunks, chunk_size)
    carried: list[Item] = []
    with ChunkWriter(workers or default_workers()) as writer:
        stream = writer.prepared(phased)
        if is_fresh(database):
            with fresh_database(database, events) as conn, db.transaction(conn):
                # One transaction for the whole fresh phase: nobody reads this file before
                # it is put in place, and an error deletes it anyway.
                writer.use(Builder(conn, on_error, run), fresh=True, own_transaction=False)
                deadline = time.monotonic() + fresh_seconds
                for items, future in stream:
                    if flush_of(items) is not None:  # committed means in place: end here
                        carried = items
                        break
                    cut = first_ml(items)
                    if cut is not None:  # the photos are in: show them, the ML step follows
                        if cut:
                            writer.write(items[:cut], None)
                        carried = items[cut:]
                        break
                    writer.write(items, future)
                    after_chunk()
                    if time.monotonic() > deadline:
                        break
        phased.live = True
        conn = open_for_build(cfg, database, events, on_error)
        try:
            db.import_events(conn, events)
            if conn.execute("SELECT 1 FROM faces_pending LIMIT 1").fetchone():
                with db.transaction(conn):  # a migrated database's faces: into people now
                    people_db.update(conn)
            writer.use(Builder(conn, on_error, run), fresh=False, own_transaction=True)
            if carried and (flush := flush_of(carried)) is not None:
                on_flush(flush)
            elif carried:
                writer.write(carried, None)
                after_chunk()
            for items, future in stream:
                if (flush := flush_of(items)) is not None:
                    on_flush(flush)  # the chunks before it were written, each committed
                    continue
                cut = first_ml(items)
                if cut:  # the entries before the chunk's first ML results: committed first
                    writer.write(items[:cut], None)
                    items, future = items[cut:], None
                writer.write(items, future)
                after_chunk()
        finally:
            conn.close()
    return run.summary


def first_ml(items: list[Item]) -> int | None:
    """The index of a chunk's first `ml` record (hg-extract's ML step, which follows the
    entries), or None. A chunk is cut there so its entries are committed, and seen, before
    the slower ML results: a first build's fresh file is put in place at that point."""
    for i, item in enumerate(items):
        if isinstance(item, dict):
            if item.get("type") == "ml":
                return i
        elif b'"type":"ml"' in item[1][:40] or b'"type": "ml"' in item[1][:40]:
            return i  # (a false match only costs a transaction)
    return None


class _Phased:
    """The chunks, whole while a fresh file takes them, then cut to `size` (the live
    database's transactions). Read ahead by the workers' feeder: a few chunks pulled before
    the switch go whole into the live database, which only makes their transaction larger."""

    def __init__(self, chunks: Iterable[list[Item]], size: int | None) -> None:
        self.chunks, self.size, self.live = chunks, size, False

    def __iter__(self) -> Iterator[list[Item]]:
        for chunk in self.chunks:
            if not self.live or not self.size or len(chunk) <= self.size:
                yield chunk
                continue
            for start in range(0, len(chunk), self.size):
                yield chunk[start : start + self.size]
