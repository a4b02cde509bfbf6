"""Incremental builds, removes and moves from real hg-index runs, edits, rebuilds, crashes."""

from __future__ import annotations

import copy
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest

from hg_build import db, faces, schema, store
from hg_common.config import load_config
from tests.build.conftest import hg_build, index_and_extract, names, query
from tests.conftest import media_file


@pytest.fixture
def home_and_source(tmp_path):
    src = tmp_path / "photos"
    shutil.copytree(media_file("tricky/sidecar"), src / "sidecar")
    (src / "gps").mkdir()
    for name in ("DSCN0010.jpg", "DSCN0012.jpg", "DSCN0021.jpg"):
        shutil.copy(media_file(f"exif-samples/jpg/gps/{name}"), src / "gps" / name)
    for path in src.rglob("*"):
        path.chmod(0o755 if path.is_dir() else 0o644)
    home = tmp_path / "home"
    assert hg_build(home, stdin=index_and_extract(home, src)).returncode == 0
    return home, src


def comparable(home: Path) -> list[dict]:
    return sorted(
        ({k: v for k, v in r.items() if k != "updated"} for r in query(home, "")),
        key=lambda r: r["id"],
    )


def back_to_v8(home: Path) -> None:
    """The database as schema v8 had it: no free-text index `entries_text`, no triggers."""
    conn = sqlite3.connect(home / "gallery.db")
    conn.executescript(
        "DROP TRIGGER entries_text_replaced; DROP TRIGGER entries_text_inserted;"
        "DROP TRIGGER entries_text_deleted; DROP TRIGGER entries_text_updated;"
        "DROP TABLE entries_text; DROP INDEX entries_ts;"
        "CREATE INDEX entries_ts ON entries (ts); PRAGMA user_version = 8;"
    )
    conn.close()


def back_to_v7(home: Path) -> None:
    """The database as schema v7 had it: no people tables and triggers."""
    back_to_v8(home)
    conn = sqlite3.connect(home / "gallery.db")
    conn.executescript(
        "DROP TRIGGER faces_inserted; DROP TRIGGER faces_updated; DROP TRIGGER faces_deleted;"
        "DROP TABLE people; DROP TABLE person_faces; DROP TABLE person_events;"
        "DROP TABLE faces_pending; PRAGMA user_version = 7;"
    )
    conn.close()


def back_to_v6(home: Path) -> None:
    """The database as schema v6 had it: no `entries.face_descriptors`."""
    back_to_v7(home)
    conn = sqlite3.connect(home / "gallery.db")
    conn.executescript("ALTER TABLE entries DROP COLUMN face_descriptors; PRAGMA user_version = 6;")
    conn.close()


def back_to_v4(home: Path) -> None:
    """The database as schema v4 had it: no `failures` table."""
    back_to_v6(home)
    conn = sqlite3.connect(home / "gallery.db")
    conn.executescript("DROP TABLE failures; PRAGMA user_version = 4;")
    conn.close()


def back_to_v3(home: Path) -> None:
    """The database as schema v3 had it: a `docs` table with every record in full, no
    `entries.previews/video/colors`, no `files.ord`, `entries_geo` over every entry."""
    back_to_v4(home)
    conn = db.connect(home / "gallery.db")
    ids = [r[0] for r in conn.execute("SELECT id FROM entries")]
    docs = []
    for rec in db.records(conn, ids).values():
        doc = {k: v for k, v in rec.items() if k not in ("type", "v", "tags", "updated")}
        docs.append((rec["id"], orjson.dumps(doc).decode()))
    conn.executescript(
        "CREATE TABLE docs (id TEXT PRIMARY KEY, doc TEXT NOT NULL);"
        "ALTER TABLE entries DROP COLUMN previews; ALTER TABLE entries DROP COLUMN video;"
        "ALTER TABLE entries DROP COLUMN colors; ALTER TABLE files DROP COLUMN ord;"
        "DROP INDEX entries_geo;"
        "CREATE INDEX entries_geo ON entries (latitude, longitude, id);"
        "PRAGMA user_version = 3;"
    )
    conn.executemany("INSERT INTO docs (id, doc) VALUES (?, ?)", docs)
    conn.close()


def migrated(home: Path, before: list[dict], version: int) -> sqlite3.Connection:
    """hg-build on a database set back to schema `version`: migrated in place (no rebuild),
    the same records, the current version. A connection to look further."""
    proc = hg_build(home, stdin=b"")
    step = f"migrating the database from schema v{version} to v{version + 1}"
    assert proc.returncode == 0 and step.encode() in proc.stderr
    assert b"rebuilding" not in proc.stderr
    assert comparable(home) == before
    conn = sqlite3.connect(home / "gallery.db")
    assert conn.execute("PRAGMA user_version").fetchone()[0] == schema.SCHEMA_VERSION
    return conn


def test_remove_drops_and_move_keeps_the_entry(home_and_source):
    home, src = home_and_source
    (moved,) = query(home, "filename:DSCN0012.jpg")
    (src / "gps" / "DSCN0010.jpg").unlink()
    (src / "later").mkdir()
    os.rename(src / "gps" / "DSCN0012.jpg", src / "later" / "renamed.jpg")
    stdin = index_and_extract(home, src)
    kinds = [json.loads(line)["type"] for line in stdin.splitlines()]
    assert sorted(kinds) == ["entry", "move", "remove", "scanned"]  # a move's entry again
    proc = hg_build(home, stdin=stdin)
    assert b"1 removed (1 entries dropped), 1 moved" in proc.stderr
    assert query(home, "filename:DSCN0010.jpg") == []
    (after,) = query(home, "filename:renamed.jpg")
    assert after["id"] == moved["id"] and after["date"] == moved["date"]
    assert query(home, "path:gps and filename:DSCN0012.jpg") == []
    assert comparable(home) == (hg_build(home, "--rebuild") and comparable(home))


def test_removing_a_sidecar_keeps_the_entry_without_its_tags(home_and_source):
    home, src = home_and_source
    assert names(query(home, "tag:forest")) == {"IMG_0002.jpg"}
    (src / "sidecar" / "IMG_0002.xmp").unlink()
    proc = hg_build(home, stdin=index_and_extract(home, src))
    assert proc.returncode == 0, proc.stderr
    assert query(home, "tag:forest") == []
    (entry,) = query(home, "filename:IMG_0002.jpg")
    assert [f["path"] for f in entry["files"]] == ["sidecar/IMG_0002.jpg"]


def test_edits_apply_at_once_are_idempotent_and_survive_a_rebuild(home_and_source):
    home, _src = home_and_source
    ids = hg_build(home, "query", "path:gps", "--ids").stdout
    proc = hg_build(home, "events", "add", "--tag", "Plöck", "-", stdin=ids)
    assert proc.returncode == 0, proc.stderr
    event = json.loads(proc.stdout)
    assert event["type"] == "userAction" and len(event["targetIds"]) == 3
    assert len(query(home, "tag:plöck")) == 3  # casefolded match, non-ASCII
    first = ids.split()[0].decode()
    # a unique prefix names its entry; an unknown one appends nothing (exit 2)
    bad = hg_build(home, "events", "add", "--tag", "x", first[:8], "0000000000", check=False)
    assert bad.returncode == 2 and b"matches no entry" in bad.stderr
    hg_build(home, "events", "add", "--remove-tag", "Plöck", "--tag", "best", first[:8])
    assert len(query(home, "tag:PLÖCK")) == 2
    assert names(query(home, "tag:best")) != set()
    log = (home / "events.ndjson").read_text().splitlines()
    assert json.loads(log[0])["type"] == "hg/events" and len(log) == 3
    # the same event appended twice is applied once
    with open(home / "events.ndjson", "a") as fh:
        fh.write(log[1] + "\n")
    hg_build(home, stdin=b"")
    assert len(query(home, "tag:plöck")) == 2
    before = comparable(home)
    assert hg_build(home, "--rebuild").returncode == 0
    assert comparable(home) == before
    src_db = sqlite3.connect(home / "gallery.db")
    assert src_db.execute("SELECT count(*) FROM events").fetchone()[0] == 4
    src_db.close()


def test_kill_during_rebuild_leaves_the_old_database(home_and_source, tmp_path):
    home, src = home_and_source
    # make the rebuild slow enough to kill: many index entries pointing at stored meta
    before = comparable(home)
    index = next((home / "index").glob("*.ndjson"))
    lines = index.read_text().splitlines()
    entries = [json.loads(x) for x in lines[1:-1]]
    big = [lines[0]]
    for i in range(20000):
        for e in entries:
            big.append(json.dumps({**e, "path": f"copy{i}/{e['path']}"}))
    big.append(json.dumps({"type": "hg/file-index-end", "count": len(big) - 1}))
    index.write_text("\n".join(big) + "\n")
    proc = subprocess.Popen(
        [str(Path(sys.executable).parent / "hg-build"), "--rebuild", "--home", str(home)],
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 60
    while not list(home.glob(".gallery.db.rebuild-*")) and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(1.0)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert list(home.glob(".gallery.db.rebuild-*"))  # killed mid-way
    assert comparable(home) == before  # the old database is intact and usable
    # the next run cleans up and completes
    index.write_text("\n".join(lines) + "\n")
    assert hg_build(home, "--rebuild").returncode == 0
    assert not list(home.glob(".gallery.db.rebuild-*"))
    assert comparable(home) == before


def test_older_schema_is_rebuilt_with_a_message(home_and_source):
    home, _src = home_and_source
    before = comparable(home)
    conn = sqlite3.connect(home / "gallery.db")
    conn.execute("PRAGMA user_version = 0")
    conn.commit()
    conn.close()
    proc = hg_build(home, "query", "", check=False)
    assert proc.returncode == 2 and b"run `hg-build --rebuild`" in proc.stderr
    proc = hg_build(home, stdin=b"")
    assert b"has schema v0, this hg-build writes v" in proc.stderr
    assert b"rebuilding it from the index and storage" in proc.stderr
    assert comparable(home) == before
    conn = sqlite3.connect(home / "gallery.db")
    assert conn.execute("PRAGMA user_version").fetchone()[0] == schema.SCHEMA_VERSION
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()


def test_schema_v1_is_migrated_in_place(home_and_source):
    home, _src = home_and_source
    before = comparable(home)
    back_to_v3(home)
    conn = sqlite3.connect(home / "gallery.db")
    conn.executescript(  # back to v1's tags: a rowid table without ts
        "CREATE TABLE tags_v1 (entry_id TEXT NOT NULL, tag TEXT NOT NULL, tag_f TEXT NOT NULL,"
        " PRIMARY KEY (entry_id, tag));"
        "INSERT INTO tags_v1 SELECT entry_id, tag, tag_f FROM tags;"
        "DROP TABLE tags; ALTER TABLE tags_v1 RENAME TO tags;"
        "CREATE INDEX tags_f ON tags (tag_f); PRAGMA user_version = 1;"
    )
    tags_v1 = conn.execute("SELECT count(*) FROM tags").fetchone()[0]
    conn.close()
    assert tags_v1 > 0
    proc = hg_build(home, "query", "", check=False)
    assert proc.returncode == 2 and b"to migrate it in place" in proc.stderr
    conn = migrated(home, before, 1)
    rows = conn.execute(
        "SELECT count(*), sum(t.ts = e.ts) FROM tags t JOIN entries e ON e.id = t.entry_id"
    ).fetchone()
    assert rows == (tags_v1, tags_v1)
    conn.close()


def test_schema_v2_is_migrated_in_place(home_and_source):
    home, _src = home_and_source
    before = comparable(home)
    back_to_v3(home)
    conn = sqlite3.connect(home / "gallery.db")
    conn.executescript(  # back to v2's entries_geo, which did not hold the id
        "DROP INDEX entries_geo; CREATE INDEX entries_geo ON entries (latitude, longitude);"
        "DROP INDEX entries_year_ts;"
        "PRAGMA user_version = 2;"
    )
    conn.close()
    conn = migrated(home, before, 2)
    plan = conn.execute(
        "EXPLAIN QUERY PLAN SELECT id, latitude, longitude FROM entries "
        "WHERE latitude IS NOT NULL AND longitude IS NOT NULL"
    ).fetchall()
    assert "COVERING INDEX entries_geo" in " ".join(row[-1] for row in plan)
    plan = conn.execute(
        "EXPLAIN QUERY PLAN SELECT id FROM entries WHERE year = 2020 ORDER BY ts DESC LIMIT 5"
    ).fetchall()
    assert "COVERING INDEX entries_year_ts" in " ".join(row[-1] for row in plan)
    conn.close()


def test_schema_v3_is_migrated_in_place(home_and_source):
    home, _src = home_and_source
    conn = sqlite3.connect(home / "gallery.db")  # previews and colors (the stand-in has none)
    conn.execute(
        'UPDATE entries SET previews = \'["-image-preview-320.jpg", "x/y.jpg"]\', '
        "colors = '[\"#a1b2c3\"]', video = '-video.mp4' WHERE rowid % 2 = 0"
    )
    conn.commit()
    conn.close()
    before = comparable(home)
    own = [r for r in before if r["previews"] and r["previews"][0].endswith("-preview-320.jpg")]
    assert own and own[0]["previews"][0].startswith(own[0]["id"][:2] + "/")
    back_to_v3(home)
    size_v3 = (home / "gallery.db").stat().st_size
    conn = migrated(home, before, 3)  # the same records: previews, colors and files' order too
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert "docs" not in tables
    stored = conn.execute("SELECT previews FROM entries WHERE previews IS NOT NULL").fetchone()
    assert stored[0] == '["-image-preview-320.jpg","x/y.jpg"]'
    orders = conn.execute("SELECT count(*), sum(ord > 0) FROM files").fetchone()
    assert orders[1] > 0  # sidecars come after their primary
    conn.execute("VACUUM")
    page = conn.execute("PRAGMA page_size").fetchone()[0]
    conn.close()
    # smaller, though v5 adds its empty `failures` table and two indexes (a page each)
    assert (home / "gallery.db").stat().st_size - 3 * page < size_v3


def test_schema_v4_is_migrated_in_place(home_and_source):
    home, _src = home_and_source
    before = comparable(home)
    back_to_v4(home)
    proc = hg_build(home, "failures", check=False)
    assert proc.returncode == 2 and b"to migrate it in place" in proc.stderr
    conn = migrated(home, before, 4)
    assert conn.execute("SELECT count(*) FROM failures").fetchone()[0] == 0
    conn.close()
    error = {"type": "error", "v": 1, "stage": "extract", "error": "bad", "source": "s",
             "root": "/r", "path": "x.jpg", "checksum": "ab" * 32}  # fmt: skip
    assert hg_build(home, stdin=json.dumps(error).encode()).returncode == 1
    assert hg_build(home, "failures").stdout == b"/r/x.jpg: bad\n"


def test_schema_v6_is_migrated_in_place(home_and_source):
    home, _src = home_and_source
    before = comparable(home)
    back_to_v6(home)
    conn = migrated(home, before, 6)
    columns = {r[1] for r in conn.execute("PRAGMA table_info(entries)")}
    assert "face_descriptors" in columns
    conn.close()
    assert hg_build(home, "query", "count(faces) = 0").returncode == 0


def test_schema_v8_is_migrated_in_place_with_its_text_index(home_and_source):
    """v8 -> v9: the free-text index is made from the entries' text; a search of 3+
    characters then reads it and finds what it found before."""
    home, _src = home_and_source
    before = comparable(home)
    found = {q: query(home, q) for q in ("dscn", "img_0002", "forest", "jp")}
    assert found["dscn"] and found["forest"]
    back_to_v8(home)
    conn = migrated(home, before, 8)
    conn.execute("INSERT INTO entries_text (entries_text, rank) VALUES ('integrity-check', 1)")
    plan = conn.execute(
        "EXPLAIN QUERY PLAN SELECT id FROM entries e ORDER BY e.ts DESC, e.id LIMIT 5 OFFSET 9"
    ).fetchall()
    assert [row[-1] for row in plan] == ["SCAN e USING COVERING INDEX entries_ts"]
    conn.close()
    assert {q: query(home, q) for q in found} == found


def test_schema_v7_is_migrated_in_place_and_its_faces_grouped(home_and_source):
    """v7 -> v8: the people tables; the faces a v7 database holds are grouped at once."""
    home, _src = home_and_source
    conn = sqlite3.connect(home / "gallery.db")
    ids = [r[0] for r in conn.execute("SELECT id FROM entries ORDER BY id LIMIT 2")]
    vector = [0.05] * 128
    value = {
        "model": "m",
        "version": "1",
        "width": 100,
        "height": 100,
        "data": [
            {"box": [10, 10, 20, 20], "score": 1.0, "descriptor": vector},
            {"box": [50, 10, 20, 20], "score": 1.0, "descriptor": [-0.05] * 128},
        ],
    }
    faces_list, blob = faces.faces_fields(value)
    conn.executemany(
        "UPDATE entries SET faces = ?, faces_count = 2, face_descriptors = ? WHERE id = ?",
        [(json.dumps(faces_list), blob, i) for i in ids],
    )  # fmt: skip
    conn.commit()
    conn.close()
    before = comparable(home)
    back_to_v7(home)
    conn = migrated(home, before, 7)
    rows = conn.execute("SELECT entry_id, n, person_id FROM person_faces ORDER BY n, entry_id")
    rows = rows.fetchall()
    assert [(e, n) for e, n, _p in rows] == [(ids[0], 0), (ids[1], 0), (ids[0], 1), (ids[1], 1)]
    assert rows[0][2] == rows[1][2] != rows[2][2] == rows[3][2]  # two people, two faces each
    conn.close()
    assert len(query(home, f"person:{rows[0][2]}")) == 2


def test_first_build_goes_live_after_its_fresh_phase(tmp_path):
    """A first build writes a fresh file, then (after `fresh_seconds`) the live database."""
    home = tmp_path / "home"
    database, events_path = home / "gallery.db", home / "events.ndjson"
    cfg = load_config(home=home, env={})
    files = [{"source": "s", "root": "/r", "size": 5, "mtime": 1.0, "file_type": "image",
              "primary": True, "meta": {"tags": ["t"]}}]  # fmt: skip
    chunks = [
        [{"type": "entry", "v": 1, "id": f"{i:064x}", "media_type": "image",
          "files": [{**files[0], "path": f"{i}.jpg", "checksum": f"{i:064x}"}]}]
        for i in range(1, 4)
    ]  # fmt: skip
    seen = []

    def after_chunk():  # what a reader sees after each commit
        seen.append(database.exists() and not store.is_fresh(database))

    summary = store.build(cfg, database, events_path, chunks, print, after_chunk, 0.0)
    assert summary.entries == 3
    assert seen == [False, True, True]  # the fresh file goes in place after the first chunk
    assert not list(home.glob(".gallery.db.rebuild-*"))
    conn = sqlite3.connect(database)
    assert conn.execute("SELECT count(*) FROM tags WHERE tag_f = 't'").fetchone()[0] == 3
    names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    assert {"entries_ts", "tags_f", "files_size"} <= names
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()


def test_the_fresh_file_takes_chunks_whole_and_the_live_one_in_chunk_size(tmp_path):
    home = tmp_path / "home"
    database, events_path = home / "gallery.db", home / "events.ndjson"
    cfg = load_config(home=home, env={})

    def record(i: int) -> dict:
        return {"type": "entry", "v": 1, "id": f"{i:064x}", "media_type": "image",
                "files": [{"source": "s", "root": "/r", "path": f"{i}.jpg", "size": 5,
                           "mtime": 1.0, "checksum": f"{i:064x}", "file_type": "image",
                           "primary": True, "meta": {}}]}  # fmt: skip

    counts = []

    def after_chunk():  # entries a reader of the live file sees after each commit
        if database.exists() and not store.is_fresh(database):
            conn = sqlite3.connect(database)
            counts.append(conn.execute("SELECT count(*) FROM entries").fetchone()[0])
            conn.close()

    chunks = [[record(i) for i in range(5)], [record(i) for i in range(5, 10)]]
    # one worker: no chunk is pulled ahead of the writer (workers pull a few ahead, which
    # then go whole into the live file)
    store.build(cfg, database, events_path, chunks, print, after_chunk, 0.0, 1, chunk_size=2)
    assert counts == [7, 9, 10]  # the first chunk whole (fresh, unseen), then 2 + 2 + 1


def test_bad_input_lines_are_error_records_and_the_run_goes_on(tmp_path):
    home = tmp_path / "home"
    good = {"type": "entry", "v": 1, "id": "ab" * 32, "media_type": "image",
            "files": [{"source": "s", "root": "/r", "path": "a.jpg", "size": 5, "mtime": 1.0,
                       "checksum": "ab" * 32, "file_type": "image", "primary": True,
                       "meta": {"dates": {"DateTimeOriginal": "0000:00:00 00:00:00",
                                          "CreateDate": "2020:01:02 03:04:05"}}}]}  # fmt: skip
    stdin = b"not json\n" + json.dumps({"type": "entry", "v": 1}).encode() + b"\n"
    stdin += json.dumps(good).encode() + b"\n" + json.dumps({**good, "v": 9}).encode() + b"\n"
    odd = copy.deepcopy(good)  # lists and objects where numbers and text belong
    odd.update(id="cd" * 32, similarity=["x"])
    odd["files"][0].update(path="b.jpg", checksum="cd" * 32, mtime={"s": 1})
    odd["files"][0]["meta"].update(make=["Canon", "EOS"], iso={"v": 100})
    stdin += json.dumps(odd).encode() + b"\n"
    proc = hg_build(home, stdin=stdin)
    assert proc.returncode == 1
    errors = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [e["type"] for e in errors] == ["error"] * 3
    entry, other = sorted(query(home, ""), key=lambda r: r["id"])  # ab…, cd…
    assert entry["date"] == "2020-01-02T03:04:05"  # 0000:00:00 is invalid, CreateDate next
    assert other["make"] == "Canon, EOS" and other["iso"] is None
