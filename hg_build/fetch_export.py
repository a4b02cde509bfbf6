"""What another gallery fetches from this one (`hg-import --fetch`, through hg-serve's
`/api/fetch/…` routes): the entries a query (a user's filter) selects, as the `entry`
records hg-extract printed for them, so the fetching side's hg-build makes the same rows.

The record is made from the database row (the entry's files) and the storage (each file's
`-meta.json`, the entry's previews, video, colours, address and ML results), as
`hg-build --rebuild` makes it (`rebuild.stored_outputs`, `hg_common.entry`): the
extracted tags travel in the metas, the edits travel in the event log, so tags made on
either side merge by event id instead of one side's merged tags overwriting the other's.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator
from typing import Any

from hg_build import db
from hg_build.query.compile import Compiled, entries_where
from hg_build.rebuild import read_json, stored_outputs
from hg_common import layout
from hg_common.entry import entry_record
from hg_common.groups import Group

BATCH = 500
_FILE_FIELDS = ("source", "root", "path", "size", "mtime", "checksum")


def manifest(conn: sqlite3.Connection, query: str | Compiled = "") -> list[list[str]]:
    """`[[id, updated], …]` of every entry the query selects, by id: what changed since a
    fetch is the ids whose stamp (the time of the last upsert or applied edit) differs."""
    c = entries_where(query)
    rows = conn.execute(f"SELECT e.id, e.updated FROM entries e WHERE {c.where} ORDER BY e.id",
                        c.params)  # fmt: skip
    return [[i, u] for i, u in rows]


def entry_records(
    conn: sqlite3.Connection, storage: str, ids: Iterable[str], query: str | Compiled = ""
) -> Iterator[dict[str, Any]]:
    """The `entry` records of those of `ids` the query selects (others are left out)."""
    c = entries_where(query)
    wanted = list(dict.fromkeys(ids))
    for start in range(0, len(wanted), BATCH):
        part = wanted[start : start + BATCH]
        marks = ",".join("?" * len(part))
        visible = [
            r[0]
            for r in conn.execute(
                f"SELECT e.id FROM entries e WHERE e.id IN ({marks}) AND ({c.where})",
                [*part, *c.params],
            )
        ]
        for media in db.records(conn, visible).values():
            yield entry_from_media(media, storage)


def entry_from_media(media: dict[str, Any], storage: str) -> dict[str, Any]:
    """The entry record of one media record: its files (primary first, in the entry's
    order, copies of the content elsewhere included) with their stored metas."""
    files = sorted(media["files"], key=lambda f: not f.get("primary"))
    recs = [{k: f[k] for k in _FILE_FIELDS if k in f} for f in files]
    metas = {}
    for rec in recs:
        meta = read_json(f"{storage}/{layout.prefix(rec['checksum'])}-{layout.META}")
        if isinstance(meta, dict):
            metas[rec["checksum"]] = meta
    group = Group(tuple(recs), media["media_type"])
    return entry_record(group, metas, [], **stored_outputs(storage, media["id"]))
