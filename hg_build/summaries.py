"""Summaries of the entries a query selects: per year and month, per tag, and positions.

What the gallery's overview pages show (and a script could print): each is one SQL
statement over the schema, so a 100k gallery answers without loading media docs.
`query` is query text or an already compiled query (`query.filtered.compile_filtered`).
"""

from __future__ import annotations

import sqlite3
from typing import Any

import numpy as np

from hg_build.query.compile import Compiled, entries_where


def years(conn: sqlite3.Connection, query: str | Compiled = "") -> list[dict[str, Any]]:
    """[{year, count, months: [{month, count}]}], newest year and month first."""
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
            out.append({"year": year, "count": 0, "months": []})
        out[-1]["count"] += n
        out[-1]["months"].append({"month": month, "count": n})
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


def geo_points(
    conn: sqlite3.Connection, query: str | Compiled = "", digits: int = 5
) -> dict[str, list]:
    """Entries with a position as parallel arrays `{ids, lat, lon}` (compact at 100k).

    Coordinates are rounded to `digits` decimals (5: about a metre), in no particular order.
    """
    c = entries_where(query)
    rows = conn.execute(  # entries_geo covers id: one index scan, no row lookups
        "SELECT e.id, e.latitude, e.longitude FROM entries e "
        f"WHERE e.latitude IS NOT NULL AND e.longitude IS NOT NULL AND ({c.where})",
        c.params,
    ).fetchall()
    if not rows:
        return {"ids": [], "lat": [], "lon": []}
    ids, lat, lon = zip(*rows, strict=True)
    return {"ids": list(ids), "lat": _rounded(lat, digits), "lon": _rounded(lon, digits)}


def _rounded(values: tuple[float, ...], digits: int) -> list[float]:
    """round(x, digits) for many values at once, halves away from zero as SQLite's round()
    (which took longer than the index scan itself for 40k points)."""
    scale = 10.0 ** int(digits)
    a = np.asarray(values, dtype=np.float64)
    return (np.copysign(np.floor(np.abs(a) * scale + 0.5), a) / scale).tolist()
