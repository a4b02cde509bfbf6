"""Files that did not make it into the gallery, and why: the `failures` table (schema v5).

An `error` record naming a file (`source`, `path`) upserts its row; an entry listing that
file, a `remove` of it or a `move` away from it deletes it (a moved failure follows its
file); a `scanned` record of a source deletes the `stage: "index"` rows of that source the
run did not report again (the file was deleted or became readable). An error record that
names no file (a bad input line) has no row: it is printed every time.

Reads for hg-serve and `hg-build failures`: `count_failures`, `list_failures` (newest
`last_seen` first, `details` decoded). Every function runs in the caller's transaction.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import orjson

from hg_build.events import now_iso

COLUMNS = (
    "source", "path", "root", "stage", "error", "checksum", "extractor", "details",
    "first_seen", "last_seen",
)  # fmt: skip
"""The table's columns, in the order `failure_row` makes them."""

Key = tuple[str, str]

log = logging.getLogger(__name__)


def failure_key(record: dict[str, Any]) -> Key | None:
    """(source, path) of an error record, or None when it names no file (a bad input line:
    nothing to keep, nothing that could later delete it)."""
    source, path = record.get("source"), record.get("path")
    if isinstance(source, str) and isinstance(path, str):
        return source, path
    return None


def failure_row(record: dict[str, Any], now: str) -> tuple[Any, ...] | None:
    """The table row of an error record (first_seen = last_seen = now), or None."""
    key = failure_key(record)
    if key is None:
        return None
    extractor = record.get("extractor")
    details = record.get("details")
    return (
        *key,
        _text(record.get("root")),
        _text(record.get("stage")),
        _text(record.get("error")) or "",
        _text(record.get("checksum")),
        extractor if isinstance(extractor, int) and not isinstance(extractor, bool) else None,
        None if details is None else orjson.dumps(details).decode(),
        now,
        now,
    )


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def is_news(old: tuple[str, str | None] | None, row: tuple[Any, ...]) -> bool:
    """Whether an error record tells something the table did not know: a new file, or
    another error or checksum (`old`: the stored error and checksum)."""
    return old is None or old != (row[4], row[5])


_INSERT = f"INSERT INTO failures ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})"
_UPSERT = (
    f"{_INSERT} ON CONFLICT (source, path) DO UPDATE SET root = excluded.root, "
    "stage = excluded.stage, error = excluded.error, checksum = excluded.checksum, "
    "extractor = excluded.extractor, details = excluded.details, last_seen = excluded.last_seen"
)


def record_failure(conn: sqlite3.Connection, record: dict[str, Any], now: str) -> bool:
    """Upsert the row of an error record; True when it should be printed (see `is_news`).
    An error record that names no file is always news."""
    row = failure_row(record, now)
    if row is None:
        return True
    old = conn.execute(
        "SELECT error, checksum FROM failures WHERE source = ? AND path = ?", row[:2]
    ).fetchone()
    conn.execute(_UPSERT, row)
    return is_news(old, row)


def has_failures(conn: sqlite3.Connection) -> bool:
    """A cheap check before deleting by key: most builds have no failure at all."""
    return conn.execute("SELECT 1 FROM failures LIMIT 1").fetchone() is not None


def forget(conn: sqlite3.Connection, keys: Iterable[Key]) -> None:
    """These files are in an entry now, or gone: no failure any more."""
    conn.executemany("DELETE FROM failures WHERE source = ? AND path = ?", keys)


def forget_media(conn: sqlite3.Connection, medias: Iterable[dict[str, Any]]) -> None:
    """The files of these entries (media dicts) are no failures."""
    if has_failures(conn):
        forget(conn, ((f["source"], f["path"]) for m in medias for f in m["files"]))


def move(conn: sqlite3.Connection, from_key: Key, to_key: Key) -> None:
    """A file moved: its failure (if any) moves with it, since nothing downstream looks at
    a moved file again; a failure of the old occupant of the target is gone."""
    if from_key == to_key or not has_failures(conn):
        return
    forget(conn, [to_key])
    conn.execute(
        "UPDATE failures SET source = ?, path = ? WHERE source = ? AND path = ?",
        (*to_key, *from_key),
    )


def forget_unseen_index(conn: sqlite3.Connection, source: str, seen: set[str]) -> int:
    """After a complete walk of `source`: its index failures not reported in this run are
    gone (deleted or readable now). Returns how many rows went."""
    rows = conn.execute(
        "SELECT path FROM failures WHERE source = ? AND stage = 'index'", (source,)
    ).fetchall()
    stale = [(source, path) for (path,) in rows if path not in seen]
    forget(conn, stale)
    return len(stale)


def read_rows(database: Path) -> list[tuple[Any, ...]]:
    """Every row of a database's table, for a rebuild to carry over; none when there is no
    readable database or table (a rebuild must work without the old file)."""
    if not database.exists():
        return []
    try:
        conn = sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=30)
    except sqlite3.Error:
        return []
    try:
        return conn.execute(f"SELECT {', '.join(COLUMNS)} FROM failures").fetchall()
    except sqlite3.Error as exc:  # no table (older schema), not a database
        log.debug("%s: no failures carried over (%s)", database, exc)
        return []
    finally:
        conn.close()


def restore(
    conn: sqlite3.Connection, rows: Iterable[tuple[Any, ...]], records: Iterable[dict[str, Any]]
) -> None:
    """A rebuild's failures: the old database's rows, then the memos' error records for
    files it did not list, without those that are in an entry now."""
    insert = _INSERT.replace("INSERT", "INSERT OR IGNORE", 1)
    conn.executemany(insert, rows)
    now = now_iso()
    memo_rows = (failure_row(r, str(r.get("date") or now)) for r in records)
    conn.executemany(insert, (row for row in memo_rows if row is not None))
    conn.execute(
        "DELETE FROM failures WHERE EXISTS "
        "(SELECT 1 FROM files f WHERE f.source = failures.source AND f.path = failures.path)"
    )


def count_failures(conn: sqlite3.Connection) -> int:
    """How many files failed (0 for a database without the table: hg-serve may read a
    database made by an older hg-build until it is migrated)."""
    try:
        return int(conn.execute("SELECT count(*) FROM failures").fetchone()[0])
    except sqlite3.OperationalError as exc:
        if "no such table" in str(exc):
            return 0
        raise


def list_failures(
    conn: sqlite3.Connection, limit: int | None = None, offset: int = 0
) -> list[dict[str, Any]]:
    """Failures as dicts (the table's fields, `details` decoded), newest `last_seen` first
    (ties by source and path, so pages are stable)."""
    sql = (
        f"SELECT {', '.join(COLUMNS)} FROM failures "
        "ORDER BY last_seen DESC, source, path LIMIT ? OFFSET ?"
    )
    try:
        rows = conn.execute(sql, (-1 if limit is None else limit, max(0, offset))).fetchall()
    except sqlite3.OperationalError as exc:
        if "no such table" in str(exc):
            return []
        raise
    out = []
    for row in rows:
        item = dict(zip(COLUMNS, row, strict=True))
        item["details"] = None if item["details"] is None else orjson.loads(item["details"])
        out.append(item)
    return out


def failure_line(failure: dict[str, Any]) -> str:
    """One line for a person: the file's full path (root and path) and the reason."""
    root, path = failure.get("root"), failure["path"]
    where = f"{root.rstrip('/')}/{path}" if root and path else (root or path or failure["source"])
    reason = " ".join(str(failure["error"]).split())  # one line, whatever the error says
    return f"{where}: {reason}"
