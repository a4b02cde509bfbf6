"""A prepared chunk's rows as a small in-memory SQLite database, serialized for the writer.

A worker's rows reach the writer as bytes: an in-memory database with plain `entries` and
`files` tables (the `tags` rows are made from the entries), made by `pack` in the worker.
The writer swaps it in as the attached schema `hg_chunk` (`db.CHUNK_SCHEMA`) with
`sqlite3.Connection.deserialize` and copies each table with one `INSERT … SELECT`, which
SQLite runs in C. Pickled rows cost the writer the making of every value as a Python
object and then binding it again (~5 M values per 100k entries); this way it handles none,
and a first build's writer does half the work (docs/benchmarks.md).
"""

from __future__ import annotations

import sqlite3

from hg_build.db import CHUNK_SCHEMA as SCHEMA
from hg_build.db import tag_rows
from hg_build.upsert import ENTRY_COLS, FILE_COLS, Rows

_TABLES = {"files": FILE_COLS, "entries": ENTRY_COLS}
_COPY = [
    *(
        f"INSERT OR REPLACE INTO main.{name} ({', '.join(cols)}) "
        f"SELECT {', '.join(cols)} FROM {SCHEMA}.{name}"
        for name, cols in _TABLES.items()
    ),
    tag_rows(f"{SCHEMA}.entries e"),  # from the entries' tags, as `upsert.insert_rows`
]


def pack(rows: Rows) -> bytes:
    """The rows as a serialized database (runs in a worker)."""
    conn = sqlite3.connect(":memory:", isolation_level=None)
    try:
        conn.execute("BEGIN")
        # All tables before any row, so every chunk has the same schema *and* root pages:
        # the writer's connection keeps the schema it read from the first chunk (each has
        # the same schema cookie), and would read a later chunk at the old root pages.
        for name, cols in _TABLES.items():
            conn.execute(f"CREATE TABLE {name} ({', '.join(cols)})")
        for name, cols in _TABLES.items():
            marks = ",".join("?" * len(cols))
            conn.executemany(f"INSERT INTO {name} VALUES ({marks})", getattr(rows, name))
        conn.execute("COMMIT")
        return conn.serialize()
    finally:
        conn.close()


def insert_packed(conn: sqlite3.Connection, packed: bytes) -> None:
    """Write a packed chunk's rows as `upsert.insert_rows` writes `Rows`; `conn` is a
    writing connection of `db.connect` (which attaches the schema this reads from)."""
    conn.deserialize(packed, name=SCHEMA)
    for sql in _COPY:
        conn.execute(sql)
