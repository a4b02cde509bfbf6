"""Entries by id: one media record, or which ids exist (optionally within a query).

hg-serve's detail view and edit validation: an id outside a user's filter is "not found".
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from typing import Any

from hg_build.query.compile import Compiled, entries_where
from hg_build.query.search import media_record

BATCH = 500  # ids per statement, well below SQLite's parameter limit


def media_by_id(
    conn: sqlite3.Connection, entry_id: str, query: str | Compiled = ""
) -> dict[str, Any] | None:
    """The media record of the entry with exactly this id, if the query selects it."""
    c = entries_where(query)
    row = conn.execute(
        "SELECT d.doc, e.tags, e.updated FROM entries e JOIN docs d ON d.id = e.id "
        f"WHERE e.id = ? AND ({c.where})",
        [entry_id, *c.params],
    ).fetchone()
    return media_record(*row) if row else None


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
