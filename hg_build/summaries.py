"""Summaries of the entries a query selects: per year and month, per tag, and positions.

What the gallery's overview pages show (and a script could print): each is one SQL
statement over the schema, so a 100k gallery answers without loading media docs.
`query` is query text or an already compiled query (`query.filtered.compile_filtered`).
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Any

import numpy as np

from hg_build.query.compile import Compiled, entries_where


def years(conn: sqlite3.Connection, query: str | Compiled = "") -> list[dict[str, Any]]:
    """[{year, count, offset, months: [{month, count}]}], newest year and month first.

    `offset`: where the year's first entry is in the query's results (`search`'s order),
    so a client can load the results from there instead of paging through every newer
    year (1M entries: the web app's year jump). It is the count of the entries of the
    years before it in that order, exact when local years follow the instants (`ts`): an
    entry taken just after a new year in a zone east of UTC may sort among the old year.
    None when the query is not in date order."""
    c = entries_where(query)
    rows = conn.execute(
        f"SELECT e.year, e.month, count(*) FROM entries e WHERE {c.where} "
        "GROUP BY e.year, e.month ORDER BY e.year DESC, e.month DESC",
        c.params,
    )
    out: list[dict[str, Any]] = []
    for year, month, n in rows:
        if year is None:
            continue
        if not out or out[-1]["year"] != year:
            out.append({"year": year, "count": 0, "offset": None, "months": []})
        out[-1]["count"] += n
        out[-1]["months"].append({"month": month, "count": n})
    if c.dated:
        before = 0
        for y in out if not c.order.startswith("e.ts ASC") else reversed(out):
            y["offset"] = before
            before += y["count"]
    return out


def tags(conn: sqlite3.Connection, query: str | Compiled = "") -> list[dict[str, Any]]:
    """[{tag, count}] of the selected entries, most used first, then by name.

    Tags are counted case-insensitively (as `tag:` matches), shown in one of their spellings.
    """
    c = entries_where(query)
    if c.where == "1":  # everything: one walk over the tags_f index, no sort, no join
        sql, params = "SELECT t.tag_f, min(t.entry_id), count(*) FROM tags t GROUP BY t.tag_f", []
    else:
        sql = (
            "SELECT t.tag_f, min(t.entry_id), count(*) FROM tags t "
            f"JOIN entries e ON e.id = t.entry_id WHERE {c.where} GROUP BY t.tag_f"
        )
        params = c.params
    counts = conn.execute(sql, params).fetchall()
    spelling = "SELECT tag FROM tags WHERE entry_id = ? AND tag_f = ?"  # a primary-key lookup
    names = {f: conn.execute(spelling, (eid, f)).fetchone()[0] for f, eid, _ in counts}
    out = [{"tag": names[f], "count": n} for f, _, n in counts]
    return sorted(out, key=lambda t: (-t["count"], t["tag"]))


GEO_ID_LENGTH = 10  # hex digits of an id on the map: 40 bits, a sixth of the full id's bytes


@dataclass(frozen=True)
class GeoSnapshot:
    """Every entry with a position, as columns in rowid order.

    The map's answer is megabytes at 100k (40k points); building it row by row for every
    query took ~70 ms, so hg-serve keeps one snapshot per database version and answers a
    query by selecting from it (`geo_select`) with the rowids the query matches
    (`geo_rowids`, integers only). Ids are shortened to `id_length` hex digits, the shortest
    length from GEO_ID_LENGTH up at which they are unique among positioned entries, so
    `id:<prefix> exists(geo)` finds exactly one entry.
    """

    rowids: np.ndarray  # int64, ascending
    ids: np.ndarray  # object array of id prefixes
    lat: np.ndarray
    lon: np.ndarray
    id_length: int

    def __len__(self) -> int:
        return len(self.rowids)


def geo_snapshot(
    conn: sqlite3.Connection, digits: int = 5, id_length: int = GEO_ID_LENGTH
) -> GeoSnapshot:
    """All positioned entries (coordinates rounded to `digits` decimals: 5 is a metre)."""
    while True:
        rows = conn.execute(  # entries_geo covers it: one index scan
            "SELECT e.rowid, substr(e.id, 1, ?), e.latitude, e.longitude FROM entries e "
            "WHERE e.latitude IS NOT NULL AND e.longitude IS NOT NULL",
            (id_length,),
        ).fetchall()
        if not rows:
            empty = np.zeros(0)
            return GeoSnapshot(empty.astype(np.int64), empty.astype(object), empty, empty, 0)
        rowids, ids, lat, lon = zip(*rows, strict=True)
        if len(set(ids)) == len(ids) or id_length >= 64:
            break
        id_length = min(64, id_length + 6)
    keys = np.fromiter(rowids, np.int64, len(rowids))
    order = np.argsort(keys, kind="stable")
    return GeoSnapshot(
        rowids=keys[order],
        ids=np.array(ids, dtype=object)[order],
        lat=np.asarray(_rounded(lat, digits))[order],
        lon=np.asarray(_rounded(lon, digits))[order],
        id_length=id_length,
    )


def geo_rowids(conn: sqlite3.Connection, query: str | Compiled = "") -> np.ndarray | None:
    """Rowids of the positioned entries a query selects; None when it selects all."""
    c = entries_where(query)
    if c.where == "1":
        return None
    cur = conn.execute(
        "SELECT e.rowid FROM entries e "
        f"WHERE e.latitude IS NOT NULL AND e.longitude IS NOT NULL AND ({c.where})",
        c.params,
    )
    return np.fromiter((r for (r,) in cur), np.int64)


def geo_select(snapshot: GeoSnapshot, rowids: np.ndarray | None) -> dict[str, Any]:
    """The map's answer: parallel arrays `{idLength, ids, lat, lon}` of the chosen rows
    (rowids missing from the snapshot, written after it was taken, are left out)."""
    if rowids is None:
        at = slice(None)
    else:
        pos = np.searchsorted(snapshot.rowids, rowids)
        found = pos < len(snapshot)
        found[found] = snapshot.rowids[pos[found]] == rowids[found]
        at = np.sort(pos[found])
    return {
        "idLength": snapshot.id_length,
        "ids": snapshot.ids[at].tolist(),
        "lat": snapshot.lat[at].tolist(),
        "lon": snapshot.lon[at].tolist(),
    }


def geo_points(
    conn: sqlite3.Connection, query: str | Compiled = "", digits: int = 5
) -> dict[str, Any]:
    """Entries with a position as parallel arrays `{idLength, ids, lat, lon}` (ids are
    unique prefixes, see GeoSnapshot), in rowid order; one call, no snapshot kept."""
    return geo_select(geo_snapshot(conn, digits), geo_rowids(conn, query))


def _rounded(values: tuple[float, ...], digits: int) -> list[float]:
    """round(x, digits) for many values at once, halves away from zero as SQLite's round()
    (which took longer than the index scan itself for 40k points)."""
    scale = 10.0 ** int(digits)
    a = np.asarray(values, dtype=np.float64)
    return (np.copysign(np.floor(np.abs(a) * scale + 0.5), a) / scale).tolist()
