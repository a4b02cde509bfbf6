"""`hg-build --rebuild`: the whole database from the index files and storage, no exiftool.

The index is read as `file` records and grouped by the rule a live import groups with
(`hg_common.groups`); each group's primary is the first media file by that rule that has
its `-meta.json` and no failure memo (hg-extract falls back past a file it cannot read and
never makes a failed one primary), and the files' metas plus the entry's previews, video,
colours and address from storage make the `entry` record hg-extract printed
(`hg_common.entry`), so a rebuild gives every entry the id, type and files a live import
gave it. A group none of whose media files can be primary (not extracted yet, or failed)
is no entry.

Failures (the `failures` table) come from two places: hg-extract's failure memos
(`<C>-failed.json`) give the extract failures of indexed files even when the old database
is gone, and the old database's rows are carried over for what storage cannot tell (files
hg-index could not read, build errors, failures of files passed over without a memo). A
failure of a file that is in an entry now is dropped.

The new database is written to a temp file beside the old one and then copied over it with
SQLite's backup API in one transaction: readers (hg-serve) keep working and see the new
data at once; a killed rebuild leaves the old database as it was.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from itertools import islice
from pathlib import Path
from typing import Any

import orjson

from hg_build import db, failures, people_db, schema
from hg_build.build import Builder
from hg_build.parallel import apply_chunks, default_workers
from hg_common import layout
from hg_common.entry import entry_record, ml_outputs
from hg_common.groups import Group, entry_group, group_records, index_records, is_media, name_of
from hg_common.records import error_record

log = logging.getLogger(__name__)

CHUNK = 2000
FRESH_CACHE_KIB = 256 * 1024  # page cache of a fresh build (the default is 64 MiB)


def read_json(path: str | Path) -> Any:
    try:
        with open(path, "rb") as fh:
            return orjson.loads(fh.read())
    except FileNotFoundError:
        return None
    except (OSError, orjson.JSONDecodeError) as exc:
        log.warning("%s: unreadable (%s), ignored", path, exc)
        return None


def stored_outputs(storage: str, entry_id: str) -> dict[str, Any]:
    """An entry's previews (largest first), video, colours, address, similarity vector,
    objects and faces, as hg-extract's entry record has them: what is stored for its id."""
    names = layout.stored(storage, entry_id)
    sizes = sorted((s for n in names if (s := layout.preview_size(n)) is not None), reverse=True)
    own = layout.prefix(entry_id) + "-"

    def stored_json(what: str) -> Any:
        return read_json(f"{storage}/{own}{what}") if what in names else None

    colors, address = stored_json(layout.COLORS), stored_json(layout.ADDRESS)
    return {
        "previews": [own + layout.preview(s) for s in sizes],
        "video": own + layout.WEB_VIDEO if layout.WEB_VIDEO in names else None,
        "colors": colors if isinstance(colors, list) else [],
        "address": address if isinstance(address, dict) else None,
        **ml_outputs(
            stored_json(layout.SIMILARITY), stored_json(layout.OBJECTS), stored_json(layout.FACES)
        ),
    }


def memo_failures(
    members: tuple[dict[str, Any], ...],
    left_out: list[dict[str, Any]],
    memos: dict[str, Any],
    whole: bool,
) -> list[dict[str, Any]]:
    """The error records hg-extract printed for the media files `left_out` of an entry,
    from their failure memos (`memos`: checksum -> memo); `whole`: the group is in no
    entry, so each of its other files is named too (contract 1's sidecar text)."""
    failed = [m for m in left_out if isinstance((memos.get(m["checksum"]) or {}).get("error"), str)]
    out = [_memo_error(m, memos[m["checksum"]]["error"], memos[m["checksum"]]) for m in failed]
    if whole and failed:
        first = memos[failed[0]["checksum"]]
        error = f"not imported: {name_of(failed[0]['path'])} failed: {first['error']}"
        out += [_memo_error(o, error, first) for o in members if all(o is not f for f in failed)]
    return out


def _memo_error(rec: dict[str, Any], error: str, memo: dict[str, Any]) -> dict[str, Any]:
    return error_record(
        "extract",
        error,
        source=rec["source"],
        root=rec["root"],
        path=rec["path"],
        checksum=rec["checksum"],
        extractor=memo.get("extractor"),
        details=memo.get("details"),
        date=memo.get("date"),
    )


def rebuilt_entry(
    group: Group, storage: str, failed: list[dict[str, Any]] | None = None
) -> dict[str, Any] | None:
    """The entry record a live import made of this group, from storage (None: no entry);
    error records made from failure memos go to `failed` (see `memo_failures`)."""
    metas, memos = {}, {}
    for m in group.files:
        c = m["checksum"]
        base = f"{storage}/{layout.prefix(c)}-"
        meta = read_json(base + layout.META)
        if isinstance(meta, dict):
            metas[c] = meta
        if is_media(m) and os.path.exists(base + layout.FAILED):  # rare: a stat first
            memos[c] = read_json(base + layout.FAILED)
    if not memos and group.id in metas:
        entry, left_out = group, []  # grouped with this rule already: its primary stands
    else:
        entry, left_out = entry_group(group.files, memos, lambda f: f["checksum"] in metas)
    if left_out and failed is not None:
        failed += memo_failures(group.files, left_out, memos, entry is None)
    if entry is None:
        return None
    return entry_record(entry, metas, [], **stored_outputs(storage, entry.id))


def rebuilt_entries(
    index_dir: Path, storage: Path, failed: list[dict[str, Any]] | None = None
) -> Iterator[dict[str, Any]]:
    """The entry records of every indexed source, folder by folder (memo errors to
    `failed`)."""
    for group in group_records(index_records(index_dir)):
        if isinstance(group, Group) and (entry := rebuilt_entry(group, str(storage), failed)):
            yield entry


def _clean_stale(database: Path) -> None:
    for stale in database.parent.glob(f".{database.name}.rebuild-*"):
        stale.unlink(missing_ok=True)


@contextmanager
def fresh_database(database: Path, events_path: Path) -> Iterator[sqlite3.Connection]:
    """A new database in a temp file beside `database`, put in its place if the block ends
    without an error (the temp file is deleted otherwise).

    Written for speed: no journal, no fsync, a large page cache, and the query indexes
    created at the end (one sort each) rather than updated row by row.
    """
    database.parent.mkdir(parents=True, exist_ok=True)
    _clean_stale(database)
    fd, tmp_name = tempfile.mkstemp(
        prefix=f".{database.name}.rebuild-", suffix=".tmp", dir=database.parent
    )
    os.close(fd)
    tmp = Path(tmp_name)
    conn = None
    try:
        conn = db.connect(tmp)
        conn.execute("PRAGMA journal_mode = OFF")
        conn.execute("PRAGMA synchronous = OFF")
        conn.execute(f"PRAGMA cache_size = -{FRESH_CACHE_KIB}")
        schema.create(conn, indexes=False)
        db.import_events(conn, events_path)
        yield conn
        with db.transaction(conn):  # every correction once more, now that all faces are in
            people_db.replay(conn)
        # The rows are in the file (journal off: written at the commit); flush them to disk
        # while the indexes are made, so the fsync before the swap has only those to write.
        flushing = threading.Thread(target=_flush_early, args=(tmp,), name="hg-build-fsync")
        flushing.start()
        # The workers are done by now: let SQLite sort each index on every core.
        conn.execute(f"PRAGMA threads = {default_workers()}")
        schema.create_indexes(conn)
        flushing.join()
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA analysis_limit = 1000")  # approximate statistics, in a blink
        conn.execute("ANALYZE")
        _swap(conn, tmp, database)
    finally:
        if conn is not None:
            conn.close()
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(f"{tmp}{suffix}").unlink(missing_ok=True)


def _fsync(path: Path) -> None:
    with open(path, "rb") as fh:
        os.fsync(fh.fileno())


def _flush_early(path: Path) -> None:
    try:
        _fsync(path)
    except OSError as exc:  # the fsync before the swap tries again, and reports
        log.debug("early fsync of %s: %s", path, exc)


def rebuild(
    database: Path,
    index_dir: Path,
    storage: Path,
    events_path: Path,
    on_error,
    workers: int | None = None,
) -> Any:
    """Build a fresh database from index + storage + events and put it in place. The
    failures are the memos' and the old database's (see the module's docstring); they are
    not this run's errors, so neither printed nor counted."""
    kept = failures.read_rows(database)
    memo_errors: list[dict[str, Any]] = []
    with fresh_database(database, events_path) as conn, db.transaction(conn):
        builder = Builder(conn, on_error)
        records = rebuilt_entries(index_dir, storage, memo_errors)
        chunks = iter(lambda: list(islice(records, CHUNK)), [])
        apply_chunks(builder, chunks, workers or default_workers())
        failures.restore(conn, kept, memo_errors)
    return builder.summary


def _swap(src: sqlite3.Connection, tmp: Path, database: Path) -> None:
    """Copy the new database over the old in one transaction; a new file is renamed."""
    if not database.exists() or database.stat().st_size == 0:
        src.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        _fsync(tmp)
        os.replace(tmp, database)
        return
    dest = db.connect(database)
    try:
        src.backup(dest, pages=0)
    except sqlite3.DatabaseError as exc:  # the old file is not a database: replace it
        log.warning("%s was not a readable database (%s): replacing it", database, exc)
        dest.close()
        for suffix in ("-wal", "-shm"):
            Path(f"{database}{suffix}").unlink(missing_ok=True)
        _fsync(tmp)
        os.replace(tmp, database)
        return
    dest.close()
