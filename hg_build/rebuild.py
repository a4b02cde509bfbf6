"""`hg-build --rebuild`: the whole database from the index files and storage, no exiftool.

Per source, the index is streamed folder by folder (the index keeps a folder's files
together); each folder's files are grouped with hg_index.sidecars, the primary is the
largest media file that has a `<checksum>-meta.json` (hg-extract falls back past a member
it cannot read), and each file's meta.json plus the entry's previews, video, colours and
address from storage make the same `entry` record hg-extract prints. A group none of whose
media files has a meta.json (not extracted yet, or failed) is skipped.

Failures (the `failures` table) come from two places: hg-extract's failure memos
(`<C>-failed.json`, read only for a file without meta.json: cheap) give the extract
failures of indexed files even when the old database is gone, and the old database's rows
are carried over for what storage cannot tell (files hg-index could not read, build
errors, failures of files passed over without a memo). A failure of a file that is in an
entry now is dropped.

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
from itertools import groupby, islice
from pathlib import Path
from typing import Any

import orjson

from hg_build import db, failures, record, schema
from hg_build.build import Builder
from hg_build.filetypes import file_type, is_media
from hg_build.parallel import apply_chunks, default_workers
from hg_index.indexfile import index_files, read_entries, read_header
from hg_index.sidecars import group_keys

log = logging.getLogger(__name__)

CHUNK = 2000
FRESH_CACHE_KIB = 256 * 1024  # page cache of a fresh build (the default is 64 MiB)


def storage_prefix(storage: Path, checksum: str) -> Path:
    return storage / record.own_prefix(checksum)


def read_json(path: Path) -> Any:
    try:
        return orjson.loads(path.read_bytes())
    except FileNotFoundError:
        return None
    except (OSError, orjson.JSONDecodeError) as exc:
        log.warning("%s: unreadable (%s), ignored", path, exc)
        return None


def _stored(storage: Path, checksum: str) -> dict[str, Any]:
    """Previews, video, colours and address stored for one checksum."""
    folder = storage / checksum[0:2] / checksum[2:4]
    rest = checksum[4:] + "-"
    rel = f"{checksum[0:2]}/{checksum[2:4]}/"
    previews: list[tuple[int, str]] = []
    video = None
    try:
        names = [e.name for e in os.scandir(folder) if e.name.startswith(rest)]
    except FileNotFoundError:
        names = []
    for name in names:
        what = name[len(rest) :]
        if what.startswith("image-preview-") and what.endswith(".jpg"):
            size = what[len("image-preview-") : -len(".jpg")]
            previews.append((int(size) if size.isdigit() else 0, rel + name))
        elif what.startswith("video-") and what.endswith(".mp4"):
            video = rel + name
    colors = read_json(folder / f"{rest}colors.json") if f"{rest}colors.json" in names else None
    address = (
        read_json(folder / f"{rest}geo-address.json")
        if f"{rest}geo-address.json" in names
        else None
    )
    return {
        "previews": [p for _, p in sorted(previews, reverse=True)],
        "video": video,
        "colors": colors if isinstance(colors, list) else [],
        "address": address if isinstance(address, dict) else None,
    }


def _by_size(m: dict[str, Any]) -> tuple[int, list[int]]:
    """Primary order: the largest file first (ties: the first path), as hg-extract."""
    return m["size"], [-ord(c) for c in m["path"]]


def memo_failures(
    source: str, root: str, members: list[dict[str, Any]], passed: list[dict[str, Any]],
    memos: dict[str, Any], whole: bool,
) -> list[dict[str, Any]]:  # fmt: skip
    """Error records (as hg-extract printed them) from the failure memos (`memos`: checksum
    -> memo) of the media files `passed` over; `whole`: no file could be used, so the group
    is in no entry and each of its other files is named too (contract 1's sidecar text)."""
    out = []
    for m in passed:
        memo = memos.get(m["checksum"])
        if not isinstance(memo, dict) or not isinstance(memo.get("error"), str):
            continue  # no memo (not extracted yet, an older hg-extract): nothing to tell
        common = {"type": "error", "v": 1, "stage": "extract", "source": source, "root": root,
                  "extractor": memo.get("extractor"), "details": memo.get("details"),
                  "date": memo.get("date")}  # fmt: skip
        out.append({**common, "path": m["path"], "checksum": m["checksum"], "error": memo["error"]})
        if whole:
            name = m["path"].rsplit("/", 1)[-1]
            out += [
                {**common, "path": o["path"], "checksum": o["checksum"],
                 "error": f"not imported: {name} failed: {memo['error']}"}
                for o in members if o is not m
            ]  # fmt: skip
    return out


def group_records(
    source: str, root: str, folder: list[dict[str, Any]], storage: Path,
    failed: list[dict[str, Any]] | None = None,
) -> Iterator[dict[str, Any]]:  # fmt: skip
    """The entry records of one folder's index entries; error records made from failure
    memos go to `failed` (see `memo_failures`)."""
    names = {e["path"].rsplit("/", 1)[-1]: e for e in folder}
    keys = group_keys(names)
    by_key: dict[str, list[dict[str, Any]]] = {}
    for name, key in keys.items():
        by_key.setdefault(key, []).append(names[name])
    for members in by_key.values():
        media = sorted(
            (m for m in members if is_media(file_type(m["path"]))), key=_by_size, reverse=True
        )
        if not media:
            continue
        metas = {
            m["checksum"]: read_json(Path(f"{storage_prefix(storage, m['checksum'])}-meta.json"))
            for m in members
        }
        usable = [m for m in media if isinstance(metas.get(m["checksum"]), dict)]
        primary = usable[0] if usable else None
        passed = media[: media.index(primary)] if primary else media[:1]
        if passed and failed is not None:  # rare: the only case that reads a memo
            memos = {
                m["checksum"]: read_json(
                    Path(f"{storage_prefix(storage, m['checksum'])}-failed.json")
                )
                for m in passed
            }
            failed += memo_failures(source, root, members, passed, memos, primary is None)
        if primary is None:
            continue
        files = []
        for m in members:
            if any(m is p for p in passed):  # passed over: not in the entry (as hg-extract)
                continue
            meta = metas.get(m["checksum"])
            files.append(
                {
                    "source": source,
                    "root": root,
                    "path": m["path"],
                    "size": m["size"],
                    "mtime": m.get("mtime_ns", 0) / 1e9,
                    "checksum": m["checksum"],
                    "file_type": file_type(m["path"]),
                    "primary": m is primary,
                    "meta": meta if isinstance(meta, dict) else {},
                }
            )
        stored = _stored(storage, primary["checksum"])
        if not stored["previews"]:  # e.g. RAW + JPG: the JPG sidecar has the previews
            for m in sorted(media, key=lambda m: -m["size"]):
                found = _stored(storage, m["checksum"])["previews"]
                if found:
                    stored["previews"] = found
                    break
        yield {
            "type": "entry",
            "v": 1,
            "id": primary["checksum"],
            "media_type": file_type(primary["path"]),
            "files": files,
            **stored,
        }


def index_records(
    index_dir: Path, storage: Path, failed: list[dict[str, Any]] | None = None
) -> Iterator[dict[str, Any]]:
    """Entry records of every indexed source, folder by folder (memo errors to `failed`)."""
    for path in index_files(index_dir):
        header = read_header(path)
        if header is None:
            continue
        source, root = str(header["source"]), str(header["root"])
        entries = read_entries(path)
        for _, folder in groupby(entries, key=lambda e: e["path"].rpartition("/")[0]):
            yield from group_records(source, root, list(folder), storage, failed)


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
    database: Path, index_dir: Path, storage: Path, events_path: Path, on_error,
    workers: int | None = None,
) -> Any:  # fmt: skip
    """Build a fresh database from index + storage + events and put it in place. The
    failures are the memos' and the old database's (see the module's docstring); they are
    not this run's errors, so neither printed nor counted."""
    kept = failures.read_rows(database)
    memo_errors: list[dict[str, Any]] = []
    with fresh_database(database, events_path) as conn, db.transaction(conn):
        builder = Builder(conn, on_error)
        records = index_records(index_dir, storage, memo_errors)
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
