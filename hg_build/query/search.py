"""Run a query against an open database and yield media records (what `hg-build query`
prints and hg-serve sends):

    {"type": "media", "v": 1, "id", "media_type", "date", "updated", "files": [{"source",
     "root", "path", "size", "mtime", "type", "checksum", "primary"}], "previews", "video",
     "colors", "width", "height", "orientation", "duration", "make", "model", "lens", "iso",
     "aperture", "exposure", "focal_length", "latitude", "longitude", "altitude", "country",
     "state", "city", "road", "description", "title", "rating", "filesize", "tags",
     "objects", "faces"}
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator, Sequence
from typing import Any

import orjson

from hg_build import media_doc
from hg_build.media_doc import unpack_field
from hg_build.query.compile import ENTRIES, Compiled, compile_query

BATCH = 200
_ENTRY_COLUMN = re.compile(r"\be\.")  # a term that reads entries e


def media_record(doc: str, tags: str, updated: str) -> dict[str, Any]:
    media = media_doc.unpack(doc)
    return {"type": "media", "v": 1, **media, "tags": orjson.loads(tags), "updated": updated}


def _compiled(query: str | Compiled) -> Compiled:
    return compile_query(query) if isinstance(query, str) else query


def search(
    conn: sqlite3.Connection, query: str | Compiled, limit: int | None = None, offset: int = 0
) -> Iterator[dict[str, Any]]:
    """Matching media, in the query's order (newest first by default).

    The ids are found first; the (large) docs are read only for the hits, in batches.
    `query` is text or already compiled (e.g. `filtered.compile_filtered`).
    """
    sql, params = _compiled(query).select("e.id, e.tags, e.updated", limit, offset)
    cursor = conn.execute(sql, params)
    while rows := cursor.fetchmany(BATCH):
        marks = ",".join("?" * len(rows))
        docs = dict(
            conn.execute(f"SELECT id, doc FROM docs WHERE id IN ({marks})", [r[0] for r in rows])
        )
        for entry_id, tags, updated in rows:
            yield media_record(docs[entry_id], tags, updated)


def search_ids(
    conn: sqlite3.Connection, query: str | Compiled, limit: int | None = None, offset: int = 0
) -> Iterator[str]:
    sql, params = _compiled(query).select("e.id", limit, offset)
    for (entry_id,) in conn.execute(sql, params):
        yield entry_id


def count(conn: sqlite3.Connection, query: str | Compiled) -> int:
    """How many entries match. A tag-driven query whose terms read only `tags` counts along
    the `tags_f` index alone (every tags row has its entry: they are written and deleted
    together), not 20k joins for a common tag."""
    c = _compiled(query)
    source = c.source
    if source != ENTRIES and not _ENTRY_COLUMN.search(c.where):
        source = "tags t"
    sql = f"SELECT count(*) FROM {source} WHERE {c.where}"
    return conn.execute(sql, c.params).fetchone()[0]


def search_fields(
    conn: sqlite3.Connection,
    query: str | Compiled,
    fields: Sequence[str],
    limit: int | None = None,
    offset: int = 0,
) -> Iterator[dict[str, Any]]:
    """Only some top-level fields of the matching media (`{"id", field: value…}`, as
    `media_record` has them), in the query's order.

    What a grid page needs is a few small fields of each doc: SQLite's `json_extract` picks
    them out in C, so the page does not decode 500 whole docs in Python.
    """
    paths = ", ".join(f"'$.{_field(f)}'" for f in fields)
    extract = (
        f"json_extract(doc, {paths})"
        if len(fields) > 1
        else f"json_array(json_extract(doc, {paths}))"
    )
    sql, params = _compiled(query).select("e.id", limit, offset)
    cursor = conn.execute(sql, params)
    while rows := cursor.fetchmany(BATCH):
        ids = [r[0] for r in rows]
        marks = ",".join("?" * len(ids))
        picked = dict(conn.execute(f"SELECT id, {extract} FROM docs WHERE id IN ({marks})", ids))
        for entry_id in ids:
            values = zip(fields, orjson.loads(picked[entry_id]), strict=True)
            yield {"id": entry_id, **{k: unpack_field(entry_id, k, v) for k, v in values}}


def _field(name: str) -> str:
    if not name.isidentifier():
        raise ValueError(f"not a field name: {name!r}")
    return name
