"""Chunks prepared by worker processes store exactly what the serial way stores: a chunk the
workers' rows would get wrong (an id, path or edit the database has, the same photo twice,
remove/move records) is written the serial way."""

from __future__ import annotations

import sqlite3

import orjson
import pytest

from hg_build import chunkdb, store
from hg_build import parallel as parallel_mod
from hg_build.events import append_events, tag_event
from hg_build.parallel import numbered_lines, prepare
from hg_common.config import load_config

from .test_fresh_build import chunks, dump, entry


def as_lines(chunk: list[dict]) -> list[tuple[int, bytes]]:
    return list(numbered_lines(orjson.dumps(r) + b"\n" for r in chunk))


def build(tmp_path, name: str, items, workers: int, events=()):
    home = tmp_path / name
    cfg = load_config(home=home, env={})
    if events:
        append_events(home / "events.ndjson", events)
    errors: list[dict] = []
    summary = store.build(
        cfg, home / "gallery.db", home / "events.ndjson", items, errors.append, workers=workers
    )
    return dump(home / "gallery.db"), summary, errors


@pytest.mark.parametrize("lines", [False, True], ids=["records", "lines"])
def test_workers_store_what_the_serial_build_stores(tmp_path, monkeypatch, lines):
    serial = build(tmp_path, "serial", chunks(), 1)
    items = [as_lines(c) for c in chunks()] if lines else chunks()
    fast = []
    insert = chunkdb.insert_packed
    monkeypatch.setattr(chunkdb, "insert_packed", lambda c, p: fast.append(insert(c, p)))
    parallel = build(tmp_path, "parallel", items, 2)
    assert len(fast) == 2  # chunks 0 and 1 as the workers made them, the rest the serial way
    assert parallel == serial  # tables, summary and error records
    assert parallel[1].entries == 203 and len(parallel[2]) == 3
    # see test_fresh_build: removes, moves, repeats
    assert len(parallel[0]["entries"]) == 200 and len(parallel[0]["failures"]) == 1


def test_a_large_fresh_build_goes_on_with_sql_checks(tmp_path, monkeypatch):
    """The in-memory record of a fresh file's ids and paths is bounded (WRITTEN_MAX); past
    it the writer asks SQL, and stores the same."""
    serial = build(tmp_path, "serial", chunks(), 1)
    checked = []
    meets = parallel_mod.Written.meets
    monkeypatch.setattr(parallel_mod, "WRITTEN_MAX", 50)
    monkeypatch.setattr(
        parallel_mod.Written, "meets", lambda self, *a: checked.append(1) or meets(self, *a)
    )
    assert build(tmp_path, "parallel", chunks(), 2) == serial
    assert len(checked) == 1  # the first chunk (40 ids, 40 paths) filled it: SQL after


def test_a_worker_prepares_new_entries_and_leaves_the_rest_to_the_serial_way():
    good = [entry(n, "2020:01:02 03:04:05", ["a"]) for n in range(3)]
    lines = as_lines(good) + [(9, b"{not json\n")]
    prepared = prepare(lines)
    assert prepared.packed is not None and prepared.ids == [e["id"] for e in good]
    assert packed_counts(prepared.packed) == {"entries": 3, "files": 3}
    assert prepared.summary.entries == 3  # errors: counted when the parent applies them
    assert "line 9: invalid JSON" in prepared.records[0]["error"]
    assert prepare([*good, good[0]]).packed is None  # the same photo twice
    assert (
        prepare([*good, entry(7, "2020:01:01 00:00:00", path=good[0]["files"][0]["path"])]).packed
        is None
    )
    remove = {"type": "remove", "v": 1, "source": "s", "path": "x.jpg"}
    assert prepare([*good, remove]).packed is None
    failed = {"type": "error", "v": 1, "stage": "extract", "error": "bad", "source": "s",
              "path": good[1]["files"][0]["path"]}  # fmt: skip
    assert prepare([*good, failed]).packed is None  # a failure and an entry: in order
    scanned = {"type": "scanned", "v": 1, "source": "s", "root": "/r"}
    assert prepare([*good, {**failed, "path": "other.jpg"}, scanned]).packed is not None


def packed_counts(packed: bytes) -> dict[str, int]:
    conn = sqlite3.connect(":memory:")
    conn.deserialize(packed)
    tables = ("entries", "files")
    return {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in tables}


def test_edits_in_the_log_reach_entries_prepared_by_workers(tmp_path):
    edited = entry(3, "2020:01:02 03:04:05", ["a"])
    events = [tag_event([edited["id"]], add=["kept"], remove=["a"])]
    items = [as_lines([entry(n, "2020:01:02 03:04:05", ["a"]) for n in range(3)]),
             as_lines([edited, entry(4, "2020:01:02 03:04:05", ["a"])])]  # fmt: skip
    serial = build(tmp_path, "serial", items, 1, events)
    parallel = build(tmp_path, "parallel", items, 2, events)
    assert parallel == serial
    tags = {(t[0], t[1]) for t in parallel[0]["tags"]}
    assert (edited["id"], "kept") in tags and (edited["id"], "a") not in tags
