"""Data access for hg-serve: every read and edit of the gallery goes through a `Gallery`.

All of it is hg_build's code, through its one facade `hg_build.api`: read-only SQLite
connections, the query language (a user's filter ANDed with `compile_filtered`), search,
lookups and summaries. hg-serve adds only the shaping for the web app (`grid`).

Connections: a few reader threads (`READERS`), each with its own read-only connection and
a bounded page cache, run every query, so memory stays flat however many clients wait and
SQLite's WAL lets hg-build write meanwhile. Each request reads in one transaction (a count
and its page agree). `reload()` makes every thread reconnect on its next query (the
database appeared, or was replaced); without a database the gallery is an empty in-memory
one of the same schema.

Edits are the one write: the event is appended to the log (`api.append_events`, fsync),
then applied to the database (`api.apply_events`) under hg-build's writer lock, so a
`tag:` search sees it at once and never races an import; when an import holds the lock,
the edit is applied by the next `apply_events()` (the watcher retries every poll).
"""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import AbstractContextManager, contextmanager, nullcontext, suppress
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from hg_build import api
from hg_build.api import QueryError, compile_filtered
from hg_common.errors import ConfigError
from hg_common.home import database_lock
from hg_common.lock import LockedError, RunLock
from hg_serve import diagnose, grid

__all__ = ["MAX_LIMIT", "Gallery", "QueryError"]

MAX_LIMIT = 5000
READERS = 3  # query threads: 2 cores, and SQLite runs without the GIL
READER_CACHE_KIB = 16 * 1024  # page cache per reader connection
SIMILAR_LIMIT = 200
GEO_WARM = 900.0  # seconds after a map request that database changes re-take its snapshot
WRITE_RETRY = 30.0  # seconds between tries to apply edits to a database that cannot be written
log = logging.getLogger(__name__)
T = TypeVar("T")


def file_signature(*paths: Path) -> tuple:
    """(mtime_ns, size, inode) of each path, None if missing: changes with every write."""
    out: list[Any] = []
    for path in paths:
        try:
            st = os.stat(path)
            out.append((st.st_mtime_ns, st.st_size, st.st_ino))
        except FileNotFoundError:
            out.append(None)
    return tuple(out)


class Gallery:
    """The gallery database as the server sees it (thread-safe; queries run in `call`)."""

    def __init__(self, database: Path, events_path: Path, readers: int = READERS) -> None:
        self.database = database
        self.events = events_path
        if database.exists():  # an unusable database (newer schema…) stops the start
            try:
                api.check_readable(database)
            except sqlite3.OperationalError as exc:  # even reading WAL writes -shm there
                raise ConfigError(
                    f"cannot open the gallery database {database}: "
                    f"{diagnose.explain(database.parent, exc)}"
                ) from None
            except sqlite3.DatabaseError as exc:
                raise ConfigError(f"{database} is not a readable database: {exc}") from None
        self._local = threading.local()
        self._generation = 0  # bumped by reload(): reader threads reconnect
        self._edits = 0  # bumped by applied edits: cached answers are stale
        self.executor = ThreadPoolExecutor(readers, thread_name_prefix="hg-serve-db")
        # questions that take minutes at 100k (near-duplicates compare every pair) run one
        # at a time on a thread of their own: the readers stay free for the grid and map
        self.slow_executor = ThreadPoolExecutor(1, thread_name_prefix="hg-serve-slow")
        self._geo: tuple[tuple, api.GeoSnapshot] | None = None  # (version, snapshot)
        self._geo_used = -float("inf")  # when the map's points were last asked for
        self._write_failed = -float("inf")  # when applying edits last failed (see apply)
        # filters -> (version, sorted keys of what they let a user fetch from storage)
        self._visible: dict[tuple[str, ...], tuple[tuple, Any]] = {}
        self._visible_lock = threading.Lock()

    # -- connections -----------------------------------------------------------------------
    def _open(self) -> sqlite3.Connection:
        if self.database.exists():
            conn = api.connect_readonly(self.database)
        else:
            conn = api.empty_database()
        conn.execute(f"PRAGMA cache_size = -{READER_CACHE_KIB}")
        return conn

    @contextmanager
    def _read(self):
        """This thread's connection, in one read transaction (a consistent snapshot)."""
        local = self._local
        if getattr(local, "generation", None) != self._generation:
            if getattr(local, "conn", None) is not None:
                local.conn.close()
            local.conn, local.generation = self._open(), self._generation
        conn = local.conn
        conn.execute("BEGIN")
        try:
            yield conn
        finally:
            conn.execute("COMMIT")

    def reload(self) -> None:
        """The database file appeared, changed or was replaced: reconnect on next use."""
        self._generation += 1

    def version(self) -> tuple:
        """Changes whenever the database may have changed (a commit touches the WAL)."""
        paths = (self.database, Path(f"{self.database}-wal"))
        return (self._generation, self._edits, *file_signature(*paths))

    async def call_slow(self, fn: Callable[..., T], *args: Any) -> T:
        """`call` on the one thread for slow questions (`duplicates`)."""
        return await asyncio.get_running_loop().run_in_executor(
            self.slow_executor, partial(fn, *args)
        )

    async def call(self, fn: Callable[..., T], *args: Any) -> T:
        """Run a method in a reader thread (the event loop never waits on SQLite)."""
        return await asyncio.get_running_loop().run_in_executor(self.executor, partial(fn, *args))

    def close(self) -> None:
        self.executor.shutdown(wait=False, cancel_futures=True)
        self.slow_executor.shutdown(wait=False, cancel_futures=True)

    # -- queries ---------------------------------------------------------------------------
    def page(
        self, q: str = "", filters: Sequence[str] = (), offset: int = 0, limit: int = 1000
    ) -> dict[str, Any]:
        """One page of grid items for a query (newest first by default), the total and
        whether they are in date order (`dated`: the web app's month headers)."""
        c = compile_filtered(q, filters)
        limit = max(0, min(limit, MAX_LIMIT))
        with self._read() as conn:
            total = api.count(conn, c, cached=True)
            found = api.page(conn, c, total, grid.GRID_FIELDS, limit, offset, cached=True)
            items = [grid.grid_item(m) for m in found]
        return {"total": total, "offset": offset, "dated": c.dated, "entries": items}

    def detail(self, entry_id: str, filters: Sequence[str] = ()) -> dict[str, Any] | None:
        c = compile_filtered("", filters, drive_by_tag=False)
        with self._read() as conn:
            media = api.media_by_id(conn, entry_id, c)
            if media is None:
                return None
            row = conn.execute(
                "SELECT similarity IS NOT NULL FROM entries WHERE id = ?", (entry_id,)
            ).fetchone()
        return grid.detail(media, has_similar=bool(row and row[0]))

    def entry_fields(
        self, entry_id: str, fields: Sequence[str], filters: Sequence[str] = ()
    ) -> dict[str, Any] | None:
        """Some fields of one entry (`api.fields_by_ids`), None when the user's filter
        excludes it: for a route that needs a few columns, not the whole `detail`."""
        c = compile_filtered("", filters, drive_by_tag=False)
        with self._read() as conn:
            return api.fields_by_ids(conn, [entry_id], fields, c).get(entry_id)

    def years(self, q: str = "", filters: Sequence[str] = ()) -> list[dict[str, Any]]:
        c = compile_filtered(q, filters, drive_by_tag=False)
        with self._read() as conn:
            return api.years(conn, c)

    def tags(self, q: str = "", filters: Sequence[str] = ()) -> list[dict[str, Any]]:
        c = compile_filtered(q, filters, drive_by_tag=False)
        with self._read() as conn:
            return api.tags(conn, c)

    def folders(self, folder: str = "", q: str = "", filters: Sequence[str] = ()) -> dict[str, Any]:
        """A folder's child folders with counts and a cover (a grid item) each, of the
        entries the query and the user's filter select (`api.folders`)."""
        c = compile_filtered(q, filters, drive_by_tag=False)
        with self._read() as conn:
            tree = api.folders(conn, folder, c)
            covers = api.fields_by_ids(
                conn, [f["cover"] for f in tree["folders"]], grid.GRID_FIELDS
            )
        for child in tree["folders"]:
            child["cover"] = grid.grid_item(covers[child["cover"]])
        return tree

    def geo(self, q: str = "", filters: Sequence[str] = ()) -> dict[str, Any]:
        """Compact parallel arrays (idLength, ids, lat, lon) of entries with a position.

        Selected from the version's snapshot of all positions (`api.GeoSnapshot`) by
        the rowids the query matches, in the same read transaction: a query then costs an
        index scan of integers instead of 40k rows of strings and floats."""
        c = compile_filtered(q, filters, drive_by_tag=False)
        version = self.version()
        with self._read() as conn:
            snapshot = self._geo_snapshot(conn, version)
            return api.geo_select(snapshot, api.geo_rowids(conn, c))

    def _geo_snapshot(self, conn: sqlite3.Connection, version: tuple) -> api.GeoSnapshot:
        self._geo_used = time.monotonic()
        held = self._geo
        if held is not None and held[0] == version:
            return held[1]
        snapshot = api.geo_snapshot(conn)
        self._geo = (version, snapshot)
        return snapshot

    def prewarm(self) -> Future | None:
        """The database changed: take the map's new snapshot now, in a reader thread, if
        the map was used in the last GEO_WARM seconds (the next map request is then cheap)."""
        if time.monotonic() - self._geo_used < GEO_WARM:
            with suppress(RuntimeError):  # shut down meanwhile
                return self.executor.submit(self._warm_geo)
        return None

    def _warm_geo(self) -> None:
        try:
            version = self.version()
            with self._read() as conn:
                self._geo_snapshot(conn, version)
        except (sqlite3.Error, OSError) as exc:  # the next request reports it
            log.debug("map snapshot not taken: %s", exc)

    def similar(self, entry_id: str, filters: Sequence[str] = ()) -> list[dict[str, Any]]:
        """Entries similar to one, most similar first; empty until vectors are extracted."""
        c = compile_filtered(f"similar:{entry_id}", filters)
        with self._read() as conn:
            found = api.search_fields(conn, c, grid.GRID_FIELDS, SIMILAR_LIMIT + 1)
            return [grid.grid_item(m) for m in found if m["id"] != entry_id][:SIMILAR_LIMIT]

    def duplicates(
        self, q: str = "", filters: Sequence[str] = (), threshold: float | None = None
    ) -> dict[str, Any]:
        """Groups of near-duplicates among the entries the query and the user's filter
        select (the filter applies before grouping: a group never holds, or is joined
        through, an entry the user cannot see), each with its grid items."""
        c = compile_filtered(q, filters, drive_by_tag=False)
        threshold = api.DUPLICATE_THRESHOLD if threshold is None else threshold
        with self._read() as conn:
            groups = list(api.find_duplicates(conn, c, threshold))
            found = api.fields_by_ids(conn, [i for g in groups for i in g["ids"]], grid.GRID_FIELDS)
        for group in groups:
            group["entries"] = [grid.grid_item(found[i]) for i in group.pop("ids")]
            del group["type"], group["v"]
        return {"threshold": threshold, "groups": groups}

    def people(self, q: str = "", filters: Sequence[str] = ()) -> dict[str, Any]:
        """The people of the entries the query and the user's filter select, with counts
        and a best face computed over those entries only (`api.people`)."""
        c = compile_filtered(q, filters, drive_by_tag=False)
        with self._read() as conn:
            return {"people": api.people(conn, c)}

    def person(self, person_id: str, filters: Sequence[str] = ()) -> dict[str, Any] | None:
        """One person (None: unknown, or no face this user may see)."""
        c = compile_filtered("", filters, drive_by_tag=False)
        with self._read() as conn:
            return api.person(conn, person_id, c)

    def person_event(self, body: Any, filters: Sequence[str] = ()) -> dict[str, Any]:
        """The personAction event for a POSTed correction (`api.person_event`), checked
        against what this user may see; raises api.PeopleError."""
        c = compile_filtered("", filters, drive_by_tag=False)
        with self._read() as conn:
            return api.person_event(conn, body, c)

    def visible_keys_cached(self, filters: tuple[str, ...]) -> Any | None:
        """The storage keys these filters let a user see, if known for this version (no
        I/O but two stats: answered on the event loop, so a grid's hundreds of previews
        do not queue for the reader threads)."""
        held = self._visible.get(filters)
        return held[1] if held is not None and held[0] == self.version() else None

    def visible_keys(self, filters: tuple[str, ...]) -> Any:
        """`api.visible_keys` of the filters, kept per database version (one query
        after each change, however many previews are asked for meanwhile)."""
        with self._visible_lock:  # one reader computes, the others wait for its answer
            version = self.version()  # before the query: a commit meanwhile is a miss later
            held = self._visible.get(filters)
            if held is not None and held[0] == version:
                return held[1]
            c = compile_filtered("", filters, drive_by_tag=False)
            with self._read() as conn:
                keys = api.visible_keys(conn, c)
            self._visible[filters] = (version, keys)
            return keys

    def failures(
        self, filters: Sequence[str] = (), offset: int = 0, limit: int = 500
    ) -> dict[str, Any]:
        """The files that failed, newest first, and how many. Only for users without a
        filter: a failure has no entry a filter could be applied to (contract 5)."""
        if filters:
            return {"total": 0, "failures": []}
        with self._read() as conn:
            total = api.count_failures(conn)
            rows = api.list_failures(conn, max(0, min(limit, MAX_LIMIT)), offset)
        return {"total": total, "failures": rows}

    def failure_count(self, filters: Sequence[str] = ()) -> int:
        if filters:
            return 0
        with self._read() as conn:
            return api.count_failures(conn)

    def existing(self, ids: Iterable[str], filters: Sequence[str] = ()) -> set[str]:
        """Which of ids are entries this user may see (validates edits)."""
        c = compile_filtered("", filters, drive_by_tag=False)
        with self._read() as conn:
            return api.existing_ids(conn, ids, c)

    # -- edits -----------------------------------------------------------------------------
    def append_event(self, event: dict[str, Any]) -> None:
        """Append one userAction to the event log durably (flock, fsync)."""
        api.append_events(self.events, [event])

    def apply_events(
        self, wait: float = 0.0, around: Callable[[], AbstractContextManager] | None = None
    ) -> bool:
        """Import the log's new events into the database under hg-build's writer lock.

        Waits up to `wait` seconds for the lock; False when an hg-build still holds it (the
        events stay in the log and are applied by a later call or by that hg-build's next
        run). The import runs inside `around()` while the lock is held (the watcher notes
        the database's state before and after, so it does not announce our own write).
        """
        if not self.database.exists():
            return True  # nothing to apply to; hg-build imports the log when it creates it
        if time.monotonic() - self._write_failed < WRITE_RETRY:
            return False  # a read-only or full home: not every poll (see below)
        try:
            return self._apply_events(wait, around)
        except (OSError, sqlite3.OperationalError) as exc:
            # The edits are safe in the log; hg-build (or we, once the home can be written
            # again) applies them. Retried every WRITE_RETRY s, not every poll: each try
            # opens the lock file and a writable connection.
            self._write_failed = time.monotonic()
            log.warning(
                "edits are saved in %s but not applied to the database yet: %s",
                self.events, diagnose.explain(self.database.parent, exc),
            )  # fmt: skip
            return False

    def _apply_events(
        self, wait: float, around: Callable[[], AbstractContextManager] | None
    ) -> bool:
        deadline = time.monotonic() + wait
        while True:
            try:
                with RunLock(database_lock(self.database)), (around or nullcontext)():
                    api.apply_events(self.database, self.events)
                    self._edits += 1  # cached answers are stale now
                    return True
            except LockedError:
                if time.monotonic() >= deadline:
                    return False
                time.sleep(0.05)
