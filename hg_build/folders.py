"""The sources' folder tree as the gallery sees it: a folder's child folders, each with how
many entries (a query selects) lie in it or below, and the newest of them as its cover.

A folder is a `files.dir` value (relative to its source's root, `/`-separated, without
leading or trailing `/`); the same folder name in two sources is one folder, as the
query language's `path:` and `folder:` terms see it. The subtree below a folder is a range
of `dir` (`subtree_bounds`) over the covering index `files_dir (dir, entry_id)`, so a
folder deep in a 100k archive reads its own rows only; only the entries' own query terms
(a search, a user's filter) join `entries`.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from hg_build.query.compile import Compiled, entries_where, subtree_bounds

_CHILD = "CASE WHEN instr(rest, '/') > 0 THEN substr(rest, 1, instr(rest, '/') - 1) ELSE rest END"


def normalize(folder: str) -> str:
    """`/a/b/` -> `a/b` (the form `files.dir` has)."""
    return folder.strip().strip("/")


def folders(
    conn: sqlite3.Connection, folder: str = "", query: str | Compiled = ""
) -> dict[str, Any]:
    """`{path, count, direct, folders: [{name, path, count, folders, cover}]}`: the entries
    in the folder or below (`count`), directly in it (`direct`), and its child folders by
    name, each with its count, whether it has folders of its own and `cover`, the id of its
    newest entry. Only entries the query
    selects count; a child folder without any is left out (a user's filter hides its name
    too)."""
    c = entries_where(query)
    path = normalize(folder)
    if path:
        low, high = subtree_bounds(path)
        below, below_params = "f.dir >= ? AND f.dir < ?", [low, high]
        skip = len(low)
    else:
        below, below_params = "f.dir > ''", []
        skip = 0
    # Per child folder: count and newest entry (SQLite takes the bare e.id from the row
    # of max(e.ts)); the DISTINCT pairs first, so an entry with a sidecar counts once.
    rows = conn.execute(
        f"SELECT child, count(*), max(deeper), e.id, max(e.ts) FROM ("
        f"  SELECT DISTINCT {_CHILD} AS child, instr(rest, '/') > 0 AS deeper, entry_id FROM ("
        f"    SELECT substr(f.dir, {skip + 1}) AS rest, f.entry_id FROM files f WHERE {below}))"
        f" JOIN entries e ON e.id = entry_id WHERE {c.where} GROUP BY child ORDER BY child",
        [*below_params, *c.params],
    ).fetchall()
    children = [
        {
            "name": name,
            "path": f"{path}/{name}" if path else name,
            "count": n,
            "folders": bool(deeper),
            "cover": cover,
        }
        for name, n, deeper, cover, _ts in rows
    ]
    (direct,) = conn.execute(
        "SELECT count(*) FROM entries e WHERE e.id IN "
        f"(SELECT f.entry_id FROM files f WHERE f.dir = ?) AND {c.where}",
        [path, *c.params],
    ).fetchone()
    if path:
        (total,) = conn.execute(
            "SELECT count(*) FROM entries e WHERE e.id IN "
            f"(SELECT f.entry_id FROM files f WHERE f.dir = ? OR ({below})) AND {c.where}",
            [path, *below_params, *c.params],
        ).fetchone()
    else:
        (total,) = conn.execute(
            f"SELECT count(*) FROM entries e WHERE {c.where}", c.params
        ).fetchone()
    return {"path": path, "count": total, "direct": direct, "folders": children}
