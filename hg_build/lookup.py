"""Entries by id: one media record, or which ids exist (optionally within a query).

hg-serve's detail view and edit validation: an id outside a user's filter is "not found".
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from typing import Any

from hg_build import db, record
from hg_build.query.compile import Compiled, entries_where

BATCH = 500  # ids per statement, well below SQLite's parameter limit


def media_by_id(
    conn: sqlite3.Connection, entry_id: str, query: str | Compiled = ""
) -> dict[str, Any] | None:
    """The media record of the entry with exactly this id, if the query selects it."""
    c = entries_where(query)
    row = conn.execute(
        f"SELECT e.id FROM entries e WHERE e.id = ? AND ({c.where})", [entry_id, *c.params]
    ).fetchone()
    media = db.records(conn, [entry_id]).get(entry_id) if row else None
    return with_people(conn, media) if media else None


def with_people(conn: sqlite3.Connection, media: dict[str, Any]) -> dict[str, Any]:
    """The record with each grouped face's person (`{"id", "name"}`, name None while
    unnamed): the detail view labels its face boxes. Only this entry's faces are read, so
    what a user learns is what the entry's own faces say."""
    faces = media.get("faces")
    if not faces:
        return media
    rows = conn.execute(
        "SELECT pf.n, p.id, p.name FROM person_faces pf JOIN people p ON p.id = pf.person_id"
        " WHERE pf.entry_id = ?",
        [media["id"]],
    )
    faces = list(faces)
    for n, person_id, name in rows:
        if 0 <= n < len(faces) and isinstance(faces[n], dict):
            faces[n] = {**faces[n], "person": {"id": person_id, "name": name}}
    return {**media, "faces": faces}


def existing_ids(
    conn: sqlite3.Connection, ids: Iterable[str], query: str | Compiled = ""
) -> set[str]:
    """Which of `ids` are entries that the query selects."""
    c = entries_where(query)
    wanted = list(dict.fromkeys(ids))
    found: set[str] = set()
    for i in range(0, len(wanted), BATCH):
        part = wanted[i : i + BATCH]
        marks = ",".join("?" * len(part))
        rows = conn.execute(
            f"SELECT e.id FROM entries e WHERE e.id IN ({marks}) AND ({c.where})",
            [*part, *c.params],
        )
        found.update(r[0] for r in rows)
    return found


def fields_by_ids(
    conn: sqlite3.Connection,
    ids: Iterable[str],
    fields: Sequence[str],
    query: str | Compiled | None = None,
) -> dict[str, dict[str, Any]]:
    """Some fields (columns of `entries`, as `search.search_fields` reads them) of the
    entries with these ids: `{id: {"id", field: value…}}` (e.g. the folder view's covers);
    with `query`, of those it selects only (a user's filter: the others are not found)."""
    columns = [record.COLUMNS[f] for f in fields]
    picked = ", ".join(f"e.{c}" for c in columns)
    where, params = "1", []
    if query is not None:
        c = entries_where(query)
        where, params = c.where, list(c.params)
    wanted = list(dict.fromkeys(ids))
    found: dict[str, dict[str, Any]] = {}
    for i in range(0, len(wanted), BATCH):
        part = wanted[i : i + BATCH]
        marks = ",".join("?" * len(part))
        for entry_id, *values in conn.execute(
            f"SELECT e.id, {picked} FROM entries e WHERE e.id IN ({marks}) AND ({where})",
            [*part, *params],
        ):
            fields_of = dict(zip(fields, values, strict=True))
            found[entry_id] = record.decode({"id": entry_id, **fields_of}, entry_id)
    return found


def checksum_key(checksum: str) -> int:
    """A checksum's first 64 bits: enough to tell files apart (blake3), 8 bytes to keep."""
    return int(checksum[:16], 16)


def visible_keys(conn: sqlite3.Connection, query: str | Compiled = "") -> Any:
    """`checksum_key`s of the entries a query selects and of their files' checksums, as a
    sorted, unique numpy uint64 array (1.6 MB for 100k entries with a sidecar each, where
    a set of strings takes ~40 MB), for `np.searchsorted`. hg-serve keeps one per user
    filter and database version to decide which storage files a user may fetch: previews
    are keyed by the entry id, metadata (`-meta.json`, `-exif.json`) by file checksum."""
    import numpy as np  # here: hg-build's other commands start without it

    c = entries_where(query)
    # One string of 16-hex-digit prefixes from SQLite, decoded by bytes.fromhex in C: no
    # Python object per row (100k entries: 190 ms, where a row each took 640 ms).
    (text,) = conn.execute(
        f"WITH v AS (SELECT e.id FROM entries e WHERE {c.where}) "
        "SELECT group_concat(k, ' ') FROM (SELECT substr(id, 1, 16) AS k FROM v UNION ALL "
        "SELECT substr(f.checksum, 1, 16) FROM files f JOIN v ON f.entry_id = v.id)",
        c.params,
    ).fetchone()
    try:
        raw = bytes.fromhex(text or "")  # skips the spaces
    except ValueError:
        raw = b"?"
    if len(raw) % 8:  # not all 16 hex digits (a hand-made database): each on its own
        raw = b"".join(bytes.fromhex(k) for k in text.split() if _is_hex(k))
    return np.unique(np.frombuffer(raw, dtype=">u8").astype(np.uint64))  # sorted


def _is_hex(text: str) -> bool:
    try:
        bytes.fromhex(text)
    except ValueError:
        return False
    return len(text) == 16


FULL_ID = 64  # hex digits of a blake3 checksum
MIN_PREFIX = 5  # as the query language's `id:` (HomeGallery's shortest id prefix)


def resolve_ids(conn: sqlite3.Connection | None, ids: Iterable[str]) -> tuple[list[str], list[str]]:
    """Full ids for ids and unique id prefixes (what a user types: `1e2feb89`).

    A full-length id is kept as given (an edit may precede its entry's import); a prefix
    must name exactly one entry. Returns (full ids, problems), a problem per id that is
    unknown, ambiguous or too short.
    """
    found: list[str] = []
    problems: list[str] = []
    for raw in dict.fromkeys(ids):
        text = raw.strip().lower()
        if len(text) >= FULL_ID:
            found.append(raw.strip())
            continue
        if len(text) < MIN_PREFIX or any(c not in "0123456789abcdef" for c in text):
            problems.append(f"{raw!r} is not an id or an id prefix of {MIN_PREFIX}+ hex digits")
            continue
        rows = []
        if conn is not None:
            sql = "SELECT id FROM entries WHERE id >= ? AND id < ? ORDER BY id LIMIT 2"
            rows = conn.execute(sql, (text, text + "g")).fetchall()
        if len(rows) == 1:
            found.append(rows[0][0])
        else:
            problems.append(
                f"id prefix {raw!r} matches {'no entry' if not rows else 'several entries'}"
            )
    return list(dict.fromkeys(found)), problems
