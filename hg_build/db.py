"""The SQLite side: connect (WAL), write media rows, drop and move files, apply edits.

Every function takes an open connection and runs inside the caller's transaction, so a
chunk of records becomes visible to readers (hg-serve) all at once or not at all.
"""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson

from hg_build import events, people_db, record, schema
from hg_build.entries import search_text
from hg_common.sidecars import group_keys


def _null(_value: None) -> None:
    return None


# Python's sqlite3 binds None through its adapter registry, and a miss there costs two failed
# attribute lookups per value (a 100k build binds ~2M Nones): registered, None binds as fast
# as a float. Still NULL; the registry is the sqlite3 module's, so this holds process-wide.
sqlite3.register_adapter(type(None), _null)

PAGE_SIZE = 8192
WAL_CHECKPOINT_BYTES = 32 << 20
CHUNK_SCHEMA = "hg_chunk"
"""An empty in-memory database attached to every writing connection: `chunkdb` swaps a
worker's packed chunk in there (ATTACH is not allowed inside a transaction, so it is done
here, once)."""


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """BEGIN IMMEDIATE ... COMMIT (ROLLBACK on any error): readers see all or nothing."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def casefold(value: Any) -> str | None:
    return None if value is None else str(value).casefold()


def cosine(a: bytes | None, b: bytes | None) -> float | None:
    """Cosine similarity of two stored vectors (None when one is missing or they come from
    different models): see `hg_build.ml`, imported here only when a query needs it."""
    from hg_build import ml  # numpy: only similarity queries need it

    return ml.cosine(a, b)


SIMILAR_RECHECK = 0.1
"""Seconds `hg_similar_score` goes on with the vectors last checked on its connection."""


def similar_functions(conn: sqlite3.Connection) -> None:
    """`hg_similar_ids(prefix, minimum[, whole])` (a JSON list of the ids whose cosine with
    the seed is at least `minimum`; with `whole` true from every row even where coarse
    lists would read a few, as `not similar:` needs) and `hg_similar_score(prefix, id)`
    (that cosine, NULL when not comparable), what `similar:<id>` compiles to: one int8
    matrix product per seed over the vectors `hg_build.vectors` keeps per database file
    (an in-memory database's are read through this connection), over a few of the rows
    in a big group (`hg_build.coarse_lists`).

    `hg_similar_ids` checks the file (two stats) on every call, once per statement;
    `hg_similar_score` runs once per scored row (100k for `not similar:x`), where two stats
    would cost more than the score: it goes on with the vectors last checked on this
    connection, for SIMILAR_RECHECK seconds, so a statement's order and its ids come from
    one state."""
    import time
    import weakref

    source: str | sqlite3.Connection = conn.execute("PRAGMA database_list").fetchone()[2] or conn
    held: list[Any] = [None, -math.inf]  # the Vectors last checked here, and when

    def checked():
        from hg_build import vectors  # numpy: only similarity queries need it

        found = vectors.for_source(source)
        # a file's vectors belong to the cache: held weakly, so the matrices of a state the
        # cache replaced are freed at once, not when this connection next asks
        held[0] = found if source is conn else weakref.ref(found)
        held[1] = time.monotonic()
        return found

    def similar_ids(prefix: str, minimum: float, whole: Any = 0) -> str:
        return json_text(checked().similar_ids(str(prefix), float(minimum), bool(whole)))

    def similar_score(prefix: str, entry_id: str) -> float | None:
        found = None
        if time.monotonic() - held[1] < SIMILAR_RECHECK:
            found = held[0] if source is conn else held[0]()
        return (checked() if found is None else found).score(str(prefix), entry_id)

    conn.create_function("hg_similar_ids", 2, similar_ids)
    conn.create_function("hg_similar_ids", 3, similar_ids)
    conn.create_function("hg_similar_score", 2, similar_score)


def face_distance(row: bytes | None, seed: bytes | None, n: int | None) -> float | None:
    """The least distance of an entry's faces to a seed's face n (`hg_build.faces`)."""
    from hg_build import faces  # numpy: only face queries need it

    return faces.distance(row, seed, n)


def distance_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float | None:
    """Great-circle distance (haversine) in km."""
    if None in (lat1, lon1, lat2, lon2):
        return None
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6371.0088 * math.asin(min(1.0, math.sqrt(h)))


def connect(path: Path | str, readonly: bool = False) -> sqlite3.Connection:
    """A connection with WAL, a busy timeout and hg's SQL functions (casefold, ...)."""
    if readonly:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
    else:
        conn = sqlite3.connect(path, timeout=30, isolation_level=None)
        # 8 KiB pages for a new file (an existing one keeps its own): a 100k first build is
        # 7-13 % faster and the file 7 % smaller than with 4 KiB; random re-upserts are ~20 %
        # slower (twice the bytes per touched page in the WAL). See docs/benchmarks.md.
        conn.execute(f"PRAGMA page_size = {PAGE_SIZE}")
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
        # Checkpoint (and fsync) every ~32 MiB of WAL, not every 4 MiB: a chunk of 500
        # random-id entries dirties thousands of pages, and one fsync per chunk was most of
        # a 100k build on a busy disk. Durability is unchanged (NORMAL: commits never fsync).
        page = conn.execute("PRAGMA page_size").fetchone()[0]
        conn.execute(f"PRAGMA wal_autocheckpoint = {WAL_CHECKPOINT_BYTES // page}")
        conn.execute(f"ATTACH DATABASE ':memory:' AS {CHUNK_SCHEMA}")
    # a bounded page cache (64 MiB): random-id B-tree inserts stay in memory at 100k+
    conn.execute("PRAGMA cache_size = -65536")
    conn.execute("PRAGMA temp_store = MEMORY")
    conn.execute("PRAGMA foreign_keys = OFF")
    conn.create_function("casefold", 1, casefold, deterministic=True)
    conn.create_function("hg_cosine", 2, cosine, deterministic=True)
    conn.create_function("hg_face_distance", 3, face_distance, deterministic=True)
    conn.create_function("hg_distance_km", 4, distance_km, deterministic=True)
    similar_functions(conn)
    return conn


def json_text(value: Any) -> str:
    return orjson.dumps(value).decode()


def split_path(path: str) -> tuple[str, str]:
    head, _, name = path.rpartition("/")
    return head, name


def name_ext(name: str) -> str:
    return name.rsplit(".", 1)[1].casefold() if "." in name[1:] else ""


def entry_tags(conn: sqlite3.Connection, entry_id: str, extracted: Iterable[str]) -> list[str]:
    """Extracted tags with this entry's imported edits applied in date order."""
    rows = conn.execute(
        "SELECT actions FROM events WHERE target_id = ? ORDER BY date, event_id", (entry_id,)
    ).fetchall()
    actions = [a for (raw,) in rows for a in orjson.loads(raw)]
    return events.apply_actions(extracted, actions)


def folded(expr: str) -> str:
    """SQL for `casefold(expr)` that calls Python only for text beyond printable ASCII,
    where SQLite's lower() (ASCII only) and str.casefold() part ways."""
    return f"CASE WHEN {expr} GLOB '*[^ -~]*' THEN casefold({expr}) ELSE lower({expr}) END"


def tag_rows(entries: str) -> str:
    """INSERT of the `tags` rows of `entries` (a FROM item named e: id, ts, tags as a JSON
    list): each spelling once per entry (the first of those that fold alike). Written by
    SQLite from the entries' `tags`, so every way of writing an entry makes the same rows."""
    return (
        "INSERT OR IGNORE INTO main.tags (entry_id, tag, tag_f, ts) "
        f"SELECT e.id, j.value, {folded('j.value')}, e.ts FROM {entries}, json_each(e.tags) j"
    )


_ONE_ENTRY_TAGS = tag_rows("(SELECT ? AS id, ? AS ts, ? AS tags) e")


def _write_tags(conn: sqlite3.Connection, entry_id: str, tags: list[str], ts: float) -> None:
    conn.execute("DELETE FROM tags WHERE entry_id = ?", (entry_id,))
    conn.execute(_ONE_ENTRY_TAGS, (entry_id, ts, json_text(tags)))


def drop_orphans(conn: sqlite3.Connection, entry_ids: Iterable[str]) -> int:
    """Delete entries that have lost their primary file; returns how many."""
    dropped = 0
    for entry_id in set(entry_ids):
        has_primary = conn.execute(
            "SELECT 1 FROM files WHERE entry_id = ? AND is_primary LIMIT 1", (entry_id,)
        ).fetchone()
        if has_primary:
            _refresh_files(conn, entry_id)
            continue
        conn.execute("DELETE FROM files WHERE entry_id = ?", (entry_id,))
        conn.execute("DELETE FROM tags WHERE entry_id = ?", (entry_id,))
        dropped += conn.execute("DELETE FROM entries WHERE id = ?", (entry_id,)).rowcount
    return dropped


def _refresh_files(conn: sqlite3.Connection, entry_id: str) -> None:
    """The entry's file count after a file moved or went away (its files are its rows)."""
    conn.execute(
        "UPDATE entries SET files_count = (SELECT count(*) FROM files WHERE entry_id = ?) "
        "WHERE id = ?",
        (entry_id, entry_id),
    )


def remove_file(conn: sqlite3.Connection, source: str, path: str) -> int:
    """A file is gone: forget it; its entry goes when it was the entry's primary file."""
    rows = conn.execute(
        "SELECT entry_id FROM files WHERE source = ? AND path = ?", (source, path)
    ).fetchall()
    conn.execute("DELETE FROM files WHERE source = ? AND path = ?", (source, path))
    return drop_orphans(conn, [r[0] for r in rows])


def move_file(
    conn: sqlite3.Connection, from_source: str, from_path: str, source: str, path: str
) -> bool:
    """A file moved (same checksum): its entry stays, only the path changes."""
    row = conn.execute(
        "SELECT entry_id, name FROM files WHERE source = ? AND path = ?", (from_source, from_path)
    ).fetchone()
    if row is None:
        return False
    entry_id = row[0]
    conn.execute("DELETE FROM files WHERE source = ? AND path = ?", (source, path))
    d, name = split_path(path)
    conn.execute(
        "UPDATE files SET source = ?, path = ?, dir = ?, name = ?, ext = ?, path_f = ?, "
        "dir_f = ?, name_f = ?, grp = ? WHERE source = ? AND path = ?",
        (source, path, d, name, name_ext(name), path.casefold(), d.casefold(), name.casefold(),
         group_keys([name])[name], from_source, from_path),
    )  # fmt: skip
    _retext(conn, entry_id)
    return True


def update_ml(
    conn: sqlite3.Connection, entry_id: str, fields: dict[str, Any], updated: str
) -> bool:
    """Set an entry's `objects`, `similarity` and/or `faces` (`hg_build.ml.ml_fields`) and
    its search text (object classes are free text); False when there is no such entry."""
    sets, params = [], []
    if "faces" in fields:
        sets += ["faces = ?", "faces_count = ?", "face_descriptors = ?"]
        params += [json_text(fields["faces"]), len(fields["faces"]), fields.get("face_descriptors")]
    if "objects" in fields:
        sets += ["objects = ?", "objects_count = ?"]
        params += [json_text(fields["objects"]), len(fields["objects"])]
    if "similarity" in fields:
        sets.append("similarity = ?")
        params.append(fields["similarity"])
    cur = conn.execute(f"UPDATE entries SET {', '.join(sets)} WHERE id = ?", [*params, entry_id])
    if not cur.rowcount:
        return False
    if "objects" in fields or "faces" in fields:
        _retext(conn, entry_id, updated)
    else:
        conn.execute("UPDATE entries SET updated = ? WHERE id = ?", (updated, entry_id))
    return True


def _retext(conn: sqlite3.Connection, entry_id: str, updated: str | None = None) -> None:
    rec = records(conn, [entry_id]).get(entry_id)
    if rec is None:
        return
    extracted, ts = conn.execute(
        "SELECT extracted_tags, ts FROM entries WHERE id = ?", (entry_id,)
    ).fetchone()
    tags = entry_tags(conn, entry_id, orjson.loads(extracted))
    _write_tags(conn, entry_id, tags, ts)
    sets = "tags = ?, tags_count = ?, text = ?" + (", updated = ?" if updated else "")
    params: list[Any] = [json_text(tags), len(tags), search_text(rec, tags)]
    conn.execute(
        f"UPDATE entries SET {sets} WHERE id = ?",
        [*params, *([updated] if updated else []), entry_id],
    )


_RECORD_SQL = (
    f"SELECT {', '.join(record.COLUMNS.values())}, tags, updated FROM entries WHERE id IN ({{}})"
)
_FILES_SQL = (
    f"SELECT entry_id, {', '.join(record.FILE_COLUMNS)} FROM files WHERE entry_id IN ({{}}) "
    "ORDER BY entry_id, ord, path"
)
_RECORDS_BATCH = 500  # ids per statement, well below SQLite's parameter limit


def records(conn: sqlite3.Connection, ids: list[str]) -> dict[str, dict[str, Any]]:
    """The media records (what `hg-build query` prints) of those of `ids` that exist."""
    rows: list[tuple] = []
    files: dict[str, list[dict[str, Any]]] = {}
    for start in range(0, len(ids), _RECORDS_BATCH):
        part = ids[start : start + _RECORDS_BATCH]
        marks = ",".join("?" * len(part))
        rows += conn.execute(_RECORD_SQL.format(marks), part).fetchall()
        for row in conn.execute(_FILES_SQL.format(marks), part):
            files.setdefault(row[0], []).append(record.file_item(row[1:]))
    return {row[0]: record.media_record(row, files.get(row[0], [])) for row in rows}


def get_info(conn: sqlite3.Connection, key: str) -> str | None:
    row = conn.execute("SELECT value FROM info WHERE key = ?", (key,)).fetchone()
    return row[0] if row else None


def set_info(conn: sqlite3.Connection, key: str, value: str) -> None:
    conn.execute("INSERT OR REPLACE INTO info (key, value) VALUES (?, ?)", (key, value))


def import_events(conn: sqlite3.Connection, path: Path) -> int:
    """Read events appended since the last import and apply them; returns entries touched.

    Resumes at the byte offset stored in `info`; a replaced log (other header, shorter
    file) is read again from the start, which is harmless as events are keyed by id.
    """
    try:
        with open(path, "rb") as fh:
            header = fh.readline()
            size = path.stat().st_size
    except FileNotFoundError:
        return 0
    if not header:
        return 0
    events.check_header(path, header)
    stamp = header.strip().decode(errors="replace")
    offset = int(get_info(conn, "events_offset") or 0)
    if get_info(conn, "events_header") != stamp or offset > size:
        offset = 0
    touched: dict[str, str] = {}
    with transaction(conn):
        for event, end in events.read_events(path, offset):
            if event["type"] == people_db.EVENT_TYPE:
                if people_db.store_event(conn, event):
                    people_db.apply_event(conn, event)
                offset = end
                continue
            actions = json_text(event["actions"])
            for target in event["targetIds"]:
                cur = conn.execute(
                    "INSERT OR IGNORE INTO events (event_id, target_id, date, actions) "
                    "VALUES (?, ?, ?, ?)",
                    (event["id"], target, event["date"], actions),
                )
                if cur.rowcount:
                    touched[target] = max(touched.get(target, ""), event["date"])
            offset = end
        for target, date in touched.items():
            _retext(conn, target, updated=date)
        set_info(conn, "events_header", stamp)
        set_info(conn, "events_offset", str(offset))
    return len(touched)


def open_database(path: Path) -> sqlite3.Connection:
    """Open (creating when new) a database of the current schema; SchemaError otherwise."""
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = connect(path)
    state = schema.check(conn)
    if state == "create":
        schema.create(conn)
    elif state == "migrate":
        schema.migrate(conn)
    elif state == "rebuild":
        conn.close()
        raise schema.SchemaError("rebuild")
    return conn
