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

from hg_build import db, facets, record
from hg_build.query import ast
from hg_build.query.compile import ENTRIES, Compiled, compile_query

BATCH = 200
_ENTRY_COLUMN = re.compile(r"\be\.")  # a term that reads entries e


def _compiled(query: str | Compiled) -> Compiled:
    return compile_query(query) if isinstance(query, str) else query


def search(
    conn: sqlite3.Connection, query: str | Compiled, limit: int | None = None, offset: int = 0
) -> Iterator[dict[str, Any]]:
    """Matching media, in the query's order (newest first by default).

    The ids are found first; the records (columns and files) are read only for the hits,
    in batches. `query` is text or already compiled (e.g. `filtered.compile_filtered`).
    """
    sql, params = _compiled(query).select("e.id", limit, offset)
    cursor = conn.execute(sql, params)
    while rows := cursor.fetchmany(BATCH):
        ids = [r[0] for r in rows]
        found = db.records(conn, ids)
        for entry_id in ids:
            yield found[entry_id]


def search_ids(
    conn: sqlite3.Connection, query: str | Compiled, limit: int | None = None, offset: int = 0
) -> Iterator[str]:
    sql, params = _compiled(query).select("e.id", limit, offset)
    for (entry_id,) in conn.execute(sql, params):
        yield entry_id


def count(conn: sqlite3.Connection, query: str | Compiled, cached: bool = False) -> int:
    """How many entries match. A tag-driven query whose terms read only `tags` counts along
    the `tags_f` index alone (every tags row has its entry: they are written and deleted
    together), not 20k joins for a common tag.

    `cached`: a long-lived reader (hg-serve) counts from `hg_build.facets`' sets of
    entries per term, cached per database state (1M entries: ms where SQL takes seconds
    for an `or` of tags or a scan of every row); a one-off count is cheaper in SQL than
    reading those sets first."""
    c = _compiled(query)
    if cached and c.terms and not _one_index_read(c):  # (): everything, the b-tree's count
        found = facets.count(conn, c.terms)
        if found is not None:
            return found
    if c.count_sql is not None:
        return conn.execute(*c.count_sql).fetchone()[0]
    source = c.source
    if source != ENTRIES and not _ENTRY_COLUMN.search(c.where):
        source = "tags t"
    sql = f"SELECT count(*) FROM {source} WHERE {c.where}"
    return conn.execute(sql, c.params).fetchone()[0]


def _one_index_read(c: Compiled) -> bool:
    """Whether SQL counts the query from one tag's index entries (`tag:x` alone, from
    `tags t`; `not tag:x`: all minus the tag's): ~30 ms at 1M, less than the cache's
    first read of the tag (its rowids, ~250 ms)."""
    if c.source != ENTRIES and not _ENTRY_COLUMN.search(c.where):
        return True
    return c.count_sql is not None and bool(c.terms) and isinstance(c.terms[0], ast.Not)


def for_page(
    conn: sqlite3.Connection, query: str | Compiled, total: int, offset: int, limit: int
) -> Compiled:
    """The form of a query to read one page of its `total` hits with: its index lists
    (every hit found, then sorted: cheap when hits are few), or its row-by-row `walk`
    along the date index, which stops at the page's end after reading about
    (offset + limit) * entries / total rows: cheaper when hits are many (1M entries, a
    word in 10 % of them: 5000 rows read instead of 100k hits sorted)."""
    c = _compiled(query)
    if c.walk is None or not c.dated:
        return c
    entries = conn.execute("SELECT max(rowid) FROM entries").fetchone()[0] or 0  # about
    return c.walk if total * total >= (offset + limit) * entries else c


def search_fields(
    conn: sqlite3.Connection,
    query: str | Compiled,
    fields: Sequence[str],
    limit: int | None = None,
    offset: int = 0,
) -> Iterator[dict[str, Any]]:
    """Only some fields of the matching media (`{"id", field: value…}`, as the records
    have them; an unknown field is None), in the query's order.

    What a grid page needs is a few columns of each entry, read with the query itself;
    a field that is not a column (`files`) costs the whole records.
    """
    columns = [record.COLUMNS.get(_field(f)) for f in fields]
    if None in columns:
        sql, params = _compiled(query).select("e.id", limit, offset)
        cursor = conn.execute(sql, params)
        while rows := cursor.fetchmany(BATCH):
            found = db.records(conn, [r[0] for r in rows])
            for (entry_id,) in rows:
                yield {"id": entry_id, **{f: found[entry_id].get(f) for f in fields}}
        return
    picked = ", ".join(f"e.{c}" for c in columns)
    sql, params = _compiled(query).select(f"e.id, {picked}", limit, offset)
    for entry_id, *values in conn.execute(sql, params):
        yield record.decode({"id": entry_id, **dict(zip(fields, values, strict=True))}, entry_id)


def _field(name: str) -> str:
    if not name.isidentifier():
        raise ValueError(f"not a field name: {name!r}")
    return name
