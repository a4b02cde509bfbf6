"""Write a batch of media dicts (one chunk) with a handful of statements, not per entry.

Per batch: one lookup of the entries' imported edits, one of their current files, one per
source of the paths they bring (to find files that change entry), then executemany for
entries and files, and one statement that makes the tags rows from the entries
(`db.tag_rows`). This is what keeps a 100k build in seconds.
"""

from __future__ import annotations

import sqlite3
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from hg_build import record
from hg_build.db import drop_orphans, json_text, name_ext, split_path, tag_rows
from hg_build.entries import ADDRESS_FIELDS, search_text
from hg_build.events import apply_actions
from hg_common.sidecars import group_keys, strip_ext

_FOLDED = ("make", "model", "lens", "description", "title", *ADDRESS_FIELDS)
_PLAIN = (
    "width", "height", "orientation", "duration", "make", "model", "lens", "iso", "aperture",
    "exposure", "focal_length", "latitude", "longitude", "altitude", *ADDRESS_FIELDS,
    "description", "title", "rating", "filesize",
)  # fmt: skip
ENTRY_COLS = (
    "id", "type", "date", "ts", "year", "month", "day", "hour", "minute", "updated", *_PLAIN,
    *(f"{k}_f" for k in _FOLDED), "files_count", "tags_count", "faces_count", "objects_count",
    "text", "tags", "extracted_tags", "objects", "faces", "previews", "video", "colors",
    "similarity", "face_descriptors",
)  # fmt: skip
FILE_COLS = (
    "entry_id", "source", "root", "path", "dir", "name", "ext", "path_f", "dir_f", "name_f",
    "grp", "size", "mtime", "type", "checksum", "is_primary", "ord",
)  # fmt: skip
_STORED_FILE = "entry_id, source, root, path, dir, grp, size, mtime, type, checksum, is_primary"
_MAX_VARS = 900


def _chunks(items: list[Any], n: int = _MAX_VARS) -> Iterable[list[Any]]:
    for i in range(0, len(items), n):
        yield items[i : i + n]


def select_in(conn: sqlite3.Connection, sql: str, values: list[Any], *before: Any) -> list[tuple]:
    """Run `sql` with `IN ({})` filled for `values`, in slices below SQLite's limit."""
    rows: list[tuple] = []
    for part in _chunks(values):
        marks = ",".join("?" * len(part))
        rows += conn.execute(sql.format(marks), [*before, *part]).fetchall()
    return rows


def _unique_runs(medias: list[Mapping[str, Any]]) -> Iterable[list[Mapping[str, Any]]]:
    """Split so that an id occurs once per run (the same photo twice in one chunk)."""
    run: list[Mapping[str, Any]] = []
    seen: set[str] = set()
    for m in medias:
        if m["id"] in seen:
            yield run
            run, seen = [], set()
        run.append(m)
        seen.add(m["id"])
    if run:
        yield run


def write_batch(conn: sqlite3.Connection, medias: list[Mapping[str, Any]], updated: str) -> None:
    for run in _unique_runs(medias):
        _write_run(conn, run, updated)


def _write_run(conn: sqlite3.Connection, medias: list[Mapping[str, Any]], updated: str) -> None:
    ids = [m["id"] for m in medias]
    actions: dict[str, list] = defaultdict(list)
    if conn.execute("SELECT 1 FROM events LIMIT 1").fetchone():
        for target, raw in select_in(
            conn,
            "SELECT target_id, actions FROM events WHERE target_id IN ({}) ORDER BY date, event_id",
            ids,
        ):
            actions[target] += orjson.loads(raw)
    current: dict[str, list[tuple]] = defaultdict(list)
    for row in select_in(conn, f"SELECT {_STORED_FILE} FROM files WHERE entry_id IN ({{}})", ids):
        current[row[0]].append(row)
    by_source: dict[str, list[str]] = defaultdict(list)
    for m in medias:
        for f in m["files"]:
            by_source[f["source"]].append(f["path"])
    owner: dict[tuple[str, str], str] = {}
    for source, paths in by_source.items():
        for eid, s, p in select_in(
            conn, "SELECT entry_id, source, path FROM files WHERE source = ? AND path IN ({})",
            paths, source,
        ):  # fmt: skip
            owner[(s, p)] = eid

    existing = {r[0] for r in select_in(conn, "SELECT id FROM entries WHERE id IN ({})", ids)}
    rows, stale, owners, reorder = Rows(), [], set(), []
    for m in medias:
        eid = m["id"]
        mine = {(f["source"], f["path"]) for f in m["files"]}
        frows = _file_rows(eid, m["files"])
        groups = {(r[1], r[4], r[10]) for r in frows}  # (source, dir, group key)
        others = []
        for _e, s, r, p, d, g, z, mt, t, c, pr in current.get(eid, []):
            if (s, p) in mine:
                continue
            if (s, d, g) in groups:  # a file that left this group (a removed sidecar)
                stale.append((s, p))
            else:  # the same content elsewhere: one entry lists every copy, after these
                others.append({"source": s, "root": r, "path": p, "size": z, "mtime": mt,
                               "type": t, "checksum": c, "primary": bool(pr)})  # fmt: skip
                reorder.append((len(frows) + len(others) - 1, s, p))
        owners |= {owner[k] for k in mine if k in owner and owner[k] != eid}
        tags = apply_actions(m["extracted_tags"], actions.get(eid, []))
        add_media(rows, m, others, tags, updated, frows)

    conn.executemany("DELETE FROM files WHERE source = ? AND path = ?", stale)
    conn.executemany("DELETE FROM tags WHERE entry_id = ?", [(i,) for i in ids if i in existing])
    insert_rows(conn, rows)
    conn.executemany("UPDATE files SET ord = ? WHERE source = ? AND path = ?", reorder)
    drop_orphans(conn, owners - set(ids))


@dataclass
class Rows:
    """A batch's rows for entries and files, as executemany takes them (`tags` rows are
    made by SQLite from the entries, see `insert_rows`)."""

    entries: list[tuple] = field(default_factory=list)
    files: list[tuple] = field(default_factory=list)


def add_media(
    rows: Rows,
    media: Mapping[str, Any],
    others: list[dict],
    tags: list[str],
    updated: str,
    file_rows: list[tuple] | None = None,
) -> None:
    """Add one media dict's rows; `others` are stored copies of its content elsewhere."""
    eid = media["id"]
    rows.files += _file_rows(eid, media["files"]) if file_rows is None else file_rows
    rows.entries.append(_entry_row(media, [*media["files"], *others], tags, updated))


def new_rows(medias: Iterable[Mapping[str, Any]], updated: str) -> Rows:
    """The rows of entries the database does not know yet (no stored files, no edits): no
    lookups, so worker processes can make them (see `parallel`)."""
    rows = Rows()
    for m in medias:
        add_media(rows, m, [], apply_actions(m["extracted_tags"], ()), updated)
    return rows


def insert_rows(conn: sqlite3.Connection, rows: Rows) -> None:
    """Write a batch's rows (the serial way; worker-made rows go by `chunkdb`)."""
    conn.executemany(_insert("INSERT OR REPLACE", "files", FILE_COLS), rows.files)
    conn.executemany(_insert("INSERT OR REPLACE", "entries", ENTRY_COLS), rows.entries)
    ids = [row[0] for row in rows.entries]
    for part in _chunks(ids):
        marks = ",".join("?" * len(part))
        conn.execute(tag_rows("main.entries e") + f" WHERE e.id IN ({marks})", part)


def _insert(verb: str, table: str, cols: tuple[str, ...]) -> str:
    return f"{verb} INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})"


def _file_rows(eid: str, files: list[Mapping[str, Any]]) -> list[tuple]:
    if len(files) == 1:  # most entries: the group key is the name minus its extension
        f = files[0]
        d, name = split_path(f["path"])
        grp = strip_ext(name)
        row = (eid, f["source"], f.get("root"), f["path"], d, name, name_ext(name),
               f["path"].casefold(), d.casefold(), name.casefold(), grp, f["size"],
               f.get("mtime"), f["type"], f.get("checksum"), int(bool(f["primary"])),
               0)  # fmt: skip
        return [row]
    by_dir: dict[tuple[str, str], list[str]] = defaultdict(list)
    for f in files:
        d, name = split_path(f["path"])
        by_dir[(f["source"], d)].append(name)
    keys = {k: group_keys(names) for k, names in by_dir.items()}
    rows = []
    for order, f in enumerate(files):
        d, name = split_path(f["path"])
        grp = keys[(f["source"], d)][name]
        rows.append(
            (eid, f["source"], f.get("root"), f["path"], d, name, name_ext(name),
             f["path"].casefold(), d.casefold(), name.casefold(), grp, f["size"],
             f.get("mtime"), f["type"], f.get("checksum"), int(bool(f["primary"])), order)
        )  # fmt: skip
    return rows


def _entry_row(
    media: Mapping[str, Any], files: list[Mapping[str, Any]], tags: list[str], updated: str
) -> tuple[Any, ...]:
    """The `entries` row (in ENTRY_COLS order); `files`: the entry's own and its copies."""
    date = media["date"]
    get = media.get
    faces, objects, extracted = get("faces") or (), get("objects") or (), media["extracted_tags"]
    tags_json = json_text(tags)
    row = (
        media["id"], media["media_type"], date, media["ts"],
        int(date[0:4]), int(date[5:7]), int(date[8:10]), int(date[11:13]), int(date[14:16]),
        updated,
        *map(get, _PLAIN),
        *[v if v is None else str(v).casefold() for v in map(get, _FOLDED)],
        len(files), len(tags), len(faces), len(objects),
        search_text(media, tags, files), tags_json,
        tags_json if extracted == tags else json_text(extracted),  # no edits: most entries
        json_text(objects) if objects else "[]", json_text(faces) if faces else "[]",
        *record.stored_extras(media), get("similarity"), get("face_descriptors"),
    )  # fmt: skip
    return row
