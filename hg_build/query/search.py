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
    word in 10 % of them: 5000 rows read instead of 100k hits sorted).

    The walk is taken when it reads at most LIST_COST times the hits: the lists' route
    reads every *candidate* of its lists, not only the hits (`(tag:dog or tag:cat) and
    year >= 2018 and not tag:night` at 100k: 18.8k entries of the tags for 5.7k hits),
    each through the entries' id index and sorted, ~3 µs each against ~1.5 µs for a
    walked row; as `total² ≥ (offset + limit) × entries` that page took the lists (76 ms
    at 100k, the walk 14 ms)."""
    c = _compiled(query)
    if c.walk is None or not c.dated:
        return c
    entries = conn.execute("SELECT max(rowid) FROM entries").fetchone()[0] or 0  # about
    return c.walk if LIST_COST * total * total >= (offset + limit) * entries else c


LIST_COST = 4
"""How many walked rows one hit of the lists' route costs (see `for_page`)."""

WALK_OPS = 25
"""SQLite VM instructions a walk may spend per hit of the query before `page` gives it
up for the lists' route (which takes 20-100 per hit, at ~2x less time each)."""
_OPS_STEP = 1000  # instructions between two calls of the progress handler


def page(
    conn: sqlite3.Connection,
    query: str | Compiled,
    total: int,
    fields: Sequence[str],
    limit: int,
    offset: int = 0,
    cached: bool = False,
) -> list[dict[str, Any]]:
    """One page of a query of `total` hits (`search_fields`).

    `cached` (a long-lived reader, as for `count`): a query in the default order whose
    count came from `hg_build.facets` takes its page's rowids from the same mask, in the
    state's date order: a few ms at 1M entries wherever the hits are; a deep page of
    everything (a jump to a year) is a slice of that order.

    Otherwise by the route `for_page` picks. `for_page` assumes the hits are spread evenly
    over the date order; when they are not (`beach and year <= 2006`, newest first: every
    hit at the far end; 1M: the walk 5.8 s, the lists 0.4 s) the walk reads most rows
    before its first hit. So a walk runs with a budget of WALK_OPS VM instructions per hit
    and, once that is spent, is given up for the lists' route: at worst the page costs the
    budget more than the lists."""
    c = _compiled(query)
    if cached and c.newest_first and c.terms is not None and not _one_index_read(c):
        rowids = facets.page(conn, c.terms, offset, limit)
        if rowids is not None:
            return _fields_by_rowids(conn, rowids, fields)
    form = for_page(conn, c, total, offset, limit)
    if form is not c:
        found = _walk(conn, form, fields, limit, offset, WALK_OPS * total)
        if found is not None:
            return found
    return list(search_fields(conn, c, fields, limit, offset))


def _walk(
    conn: sqlite3.Connection,
    walk: Compiled,
    fields: Sequence[str],
    limit: int,
    offset: int,
    budget: int,
) -> list[dict[str, Any]] | None:
    """The walk's page, or None when it would take more than `budget` VM instructions
    (the progress handler stops the statement: SQLite raises 'interrupted')."""
    steps = [budget // _OPS_STEP]

    def spend() -> int:
        steps[0] -= 1
        return 1 if steps[0] < 0 else 0

    conn.set_progress_handler(spend, _OPS_STEP)
    try:
        return list(search_fields(conn, walk, fields, limit, offset))
    except sqlite3.OperationalError as exc:
        if steps[0] >= 0 or "interrupt" not in str(exc):
            raise
        return None
    finally:
        conn.set_progress_handler(None, 0)


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
        yield _item(entry_id, fields, values)


def _item(entry_id: str, fields: Sequence[str], values: Sequence[Any]) -> dict[str, Any]:
    """A page's item from its columns' values (as stored: decoded as the records' fields)."""
    return record.decode({"id": entry_id, **dict(zip(fields, values, strict=True))}, entry_id)


def _fields_by_rowids(
    conn: sqlite3.Connection, rowids: Sequence[int], fields: Sequence[str]
) -> list[dict[str, Any]]:
    """`search_fields`' items of some entries, in the order of `rowids`."""
    if not rowids:
        return []
    columns = [record.COLUMNS.get(_field(f)) for f in fields]
    marks = ",".join("?" * len(rowids))
    if None in columns:  # a field that is not a column: the whole records
        rows = conn.execute(f"SELECT rowid, id FROM entries WHERE rowid IN ({marks})", rowids)
        ids = dict(rows.fetchall())
        found = db.records(conn, list(ids.values()))
        by_rowid = {r: {"id": i, **{f: found[i].get(f) for f in fields}} for r, i in ids.items()}
    else:
        picked = ", ".join(f"e.{c}" for c in columns)
        sql = f"SELECT e.rowid, e.id, {picked} FROM entries e WHERE e.rowid IN ({marks})"
        rows = conn.execute(sql, list(rowids))
        by_rowid = {rowid: _item(entry_id, fields, values) for rowid, entry_id, *values in rows}
    return [by_rowid[r] for r in rowids]


def _field(name: str) -> str:
    if not name.isidentifier():
        raise ValueError(f"not a field name: {name!r}")
    return name
