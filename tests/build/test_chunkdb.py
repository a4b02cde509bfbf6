"""A packed chunk (a worker's rows as a serialized database) writes what the rows write
through executemany: every value kind, NULLs, non-ASCII text, blobs, and a second chunk
that replaces rows of the first."""

from __future__ import annotations

import struct

from hg_build import chunkdb, db
from hg_build.entries import media_from_entry
from hg_build.upsert import insert_rows, new_rows

from .test_fresh_build import dump, entry


def rows(numbers, **extra):
    records = []
    for n in numbers:
        record = entry(n, "2021:07:04 12:34:56", ["Straße", "ÉTÉ"], sidecar=n % 2 == 0)
        records.append({**record, **extra})
    return new_rows([media_from_entry(r) for r in records], "2026-11-27T00:00:00.000Z")


def test_packed_rows_store_what_executemany_stores(tmp_path):
    vector = struct.pack("4f", 0.5, -1.0, 2.0, 0.0)
    first, second = rows(range(6), similarity=vector), rows(range(3, 9))
    direct = db.open_database(tmp_path / "direct.db")
    packed = db.open_database(tmp_path / "packed.db")
    with db.transaction(direct):
        insert_rows(direct, first)
        insert_rows(direct, second)
    with db.transaction(packed):
        chunkdb.insert_packed(packed, chunkdb.pack(first))
        chunkdb.insert_packed(packed, chunkdb.pack(second))
    direct.close()
    packed.close()
    stored = dump(tmp_path / "packed.db")
    assert stored == dump(tmp_path / "direct.db")
    assert len(stored["entries"]) == 9 and len(stored["files"]) == 9 + 5
    conn = db.connect(tmp_path / "packed.db", readonly=True)
    assert (
        conn.execute("SELECT count(*) FROM entries WHERE similarity = ?", (vector,)).fetchone()[0]
        == 3
    )
    assert conn.execute("SELECT count(*) FROM entries WHERE lens IS NULL").fetchone()[0] == 9
    assert {r[0] for r in conn.execute("SELECT tag FROM tags")} == {"Straße", "ÉTÉ", "edited"}
    assert {r[0] for r in conn.execute("SELECT tag_f FROM tags")} == {"strasse", "été", "edited"}


def test_chunks_of_any_size_follow_each_other(tmp_path):
    """The writer's connection reads each chunk with the schema it read first: the tables
    must sit at the same pages in every chunk, whatever the size of the one before."""
    sizes = (300, 1, 0, 120, 2)
    direct = db.open_database(tmp_path / "direct.db")
    packed = db.open_database(tmp_path / "packed.db")
    start = 0
    with db.transaction(direct), db.transaction(packed):
        for size in sizes:
            chunk = rows(range(start, start + size))
            start += size
            insert_rows(direct, chunk)
            chunkdb.insert_packed(packed, chunkdb.pack(chunk))
    direct.close()
    packed.close()
    stored = dump(tmp_path / "packed.db")
    assert stored == dump(tmp_path / "direct.db") and len(stored["entries"]) == sum(sizes)


def test_an_empty_chunk_writes_nothing(tmp_path):
    conn = db.open_database(tmp_path / "g.db")
    with db.transaction(conn):
        chunkdb.insert_packed(conn, chunkdb.pack(rows(())))
    assert conn.execute("SELECT count(*) FROM entries").fetchone()[0] == 0


def test_tags_fold_in_sql_as_python_casefolds(tmp_path):
    """Tag rows are made by SQLite (`db.folded`: lower() for printable ASCII, Python's
    casefold beyond it), for every way of writing an entry; queries fold with Python."""
    conn = db.connect(tmp_path / "g.db")
    samples = ["Beach", "SEA sun-2021!", "~[x]{y}", "Straße", "ÉTÉ", "İstanbul", "ǅ", "tab\there",
               "ΣΊΣΥΦΟΣ", "日本", "😀 Smile", "", " A "]  # fmt: skip
    for text in samples:
        got = conn.execute(f"SELECT {db.folded('v')} FROM (SELECT ? AS v)", (text,)).fetchone()
        assert got[0] == text.casefold(), text
