"""The sources' folder tree as the gallery sees it: a folder's child folders, each with how
many entries (a query selects) lie in it or below, and a cover.

A folder is a `files.dir` value (relative to its source's root, `/`-separated, without
leading or trailing `/`); the same folder name in two sources is one folder, as the
query language's `path:` and `folder:` terms see it. The subtree below a folder is a range
of `dir` (`subtree_bounds`) over the covering index `files_dir (dir, entry_id, mtime)`.

Speed at 100k entries: grouping in SQL (a DISTINCT of child and entry, or a join with
`entries` for the newest entry's date) took 0.5–1.8 s for the root; reading the range's
(dir, entry, mtime) triples from the covering index and folding them here takes ~0.2 s,
and a folder deeper down costs only its own rows. So the cover is the entry of the
folder's most recently modified file (its mtime, in the index), not the newest by date
taken (that needs every entry's row). A query or a user's filter joins `entries` for the
range's rows only.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from hg_build.query.compile import Compiled, entries_where, subtree_bounds


def normalize(folder: str) -> str:
    """`/a/b/` -> `a/b` (the form `files.dir` has)."""
    return folder.strip().strip("/")


def folders(
    conn: sqlite3.Connection, folder: str = "", query: str | Compiled = ""
) -> dict[str, Any]:
    """`{path, count, direct, folders: [{name, path, count, folders, cover}]}`: the entries
    in the folder or below (`count`), directly in it (`direct`), and its child folders by
    name, each with its count, whether it has folders of its own and `cover` (an entry id).
    Only entries the query selects count; a child folder without any is left out (a
    user's filter hides its name too). An entry with files in two places counts once in
    each folder, once in a folder above both."""
    c = entries_where(query)
    path = normalize(folder)
    if path:
        low, high = subtree_bounds(path)
        where, params = "(f.dir = ? OR (f.dir >= ? AND f.dir < ?))", [path, low, high]
        skip = len(low)
    else:
        where, params, skip = "1", [], 0
    if c.where == "1":
        sql = f"SELECT f.dir, f.entry_id, f.mtime FROM files f WHERE {where}"
    elif path:  # driven by the folder's rows (files_dir), each entry checked by its key
        sql = (
            "SELECT f.dir, f.entry_id, f.mtime FROM files f JOIN entries e ON e.id = f.entry_id "
            f"WHERE {where} AND {c.where}"
        )
        params += c.params
    else:  # the root: the selected entries first (half the time of a join of every file)
        sql = (
            "SELECT f.dir, f.entry_id, f.mtime FROM files f "
            f"WHERE f.entry_id IN (SELECT e.id FROM entries e WHERE {c.where})"
        )
        params += c.params
    everything: set[str] = set()
    direct: set[str] = set()
    # name -> [entries, has folders, cover, cover's mtime]
    children: dict[str, list[Any]] = {}
    for folder_dir, entry_id, mtime in conn.execute(sql, params):
        everything.add(entry_id)
        if folder_dir == path:
            direct.add(entry_id)
            continue
        rest = folder_dir[skip:]
        cut = rest.find("/")
        name = rest if cut < 0 else rest[:cut]
        child = children.get(name)
        if child is None:
            child = children[name] = [set(), False, entry_id, mtime]
        child[0].add(entry_id)
        child[1] = child[1] or cut >= 0
        if mtime is not None and (child[3] is None or mtime > child[3]):
            child[2], child[3] = entry_id, mtime
    return {
        "path": path,
        "count": len(everything),
        "direct": len(direct),
        "folders": [
            {
                "name": name,
                "path": f"{path}/{name}" if path else name,
                "count": len(ids),
                "folders": deeper,
                "cover": cover,
            }
            for name, (ids, deeper, cover, _mtime) in sorted(children.items())
        ],
    }
