"""A first build (fresh file, one transaction, writes in a writer thread) stores exactly what
chunk-by-chunk upserts into a live database store; the date parser's fast path agrees with
the general one."""

from __future__ import annotations

import sqlite3
from datetime import timedelta, timezone
from pathlib import Path

import pytest

from hg_build import db, store
from hg_build.build import Builder
from hg_build.dates import parse_date
from hg_common.config import load_config


def entry(n: int, date: str, tags=(), sidecar: bool = False, path: str | None = None) -> dict:
    cid = f"{n:064x}"
    meta = {"width": 400, "height": 300, "orientation": 6 if n % 3 else 1,
            "dates": {"DateTimeOriginal": date}, "make": "Canon", "tags": list(tags)}  # fmt: skip
    name = path or f"d{n % 4}/IMG_{n}.jpg"
    files = [{"source": "s", "root": "/r", "path": name, "size": 100 + n, "mtime": 1.7e9,
              "checksum": cid, "file_type": "image", "primary": True, "meta": meta}]  # fmt: skip
    if sidecar:
        files.append({"source": "s", "root": "/r", "path": name[:-3] + "xmp", "size": 10,
                      "mtime": 1.7e9, "checksum": f"{n + 10**6:064x}", "file_type": "meta",
                      "primary": False, "meta": {"tags": ["edited"], "title": "T"}})  # fmt: skip
    return {"type": "entry", "v": 1, "id": cid, "media_type": "image", "files": files,
            "previews": [f"{cid[:2]}/x-{n}.jpg"], "video": None, "colors": [],
            "address": {"city": "Köln"} if n % 2 else None}  # fmt: skip


def chunks() -> list[list[dict]]:
    out = [
        [
            entry(
                n,
                f"20{10 + n % 10}:0{1 + n % 9}:1{n % 10} 12:00:00",
                ["Beach", "sea"][: n % 3],
                sidecar=n % 5 == 0,
            )
            for n in range(k * 40, k * 40 + 40)
        ]  # fmt: skip
        for k in range(5)
    ]
    out[1].insert(3, {"type": "error", "v": 1, "path": "bad.jpg", "error": "corrupt"})  # no file
    failed = {"type": "error", "v": 1, "stage": "extract", "source": "s", "root": "/r",
              "error": "cannot decode", "details": ["EOFError"]}  # fmt: skip
    out[0].insert(5, {**failed, "path": "d9/broken.heic"})  # stays a failure
    out[1].append({**failed, "path": "late.jpg"})  # an entry later: no failure any more
    out[2].append({"type": "remove", "v": 1, "source": "s", "path": "d1/IMG_41.jpg"})
    out[3].append({"type": "move", "v": 1, "source": "s", "from_path": "d2/IMG_42.jpg",
                   "path": "moved/IMG_42.jpg"})  # fmt: skip
    out[4].append(entry(7, "2001:01:01 00:00:00", ["again"]))  # the same photo again
    out[4].append(entry(10**5, "2002:02:02 02:02:02", path="d0/IMG_0.jpg"))  # takes a path
    out[4].append(entry(10**5 + 1, "2003:03:03 03:03:03", path="late.jpg"))
    return out


def dump(path: Path) -> dict[str, list[tuple]]:
    conn = sqlite3.connect(path)
    try:
        cols = [r[1] for r in conn.execute("PRAGMA table_info(entries)") if r[1] != "updated"]
        return {
            "entries": conn.execute(
                f"SELECT {', '.join(cols)} FROM entries ORDER BY id"
            ).fetchall(),
            "files": conn.execute("SELECT * FROM files ORDER BY source, path").fetchall(),
            "tags": conn.execute("SELECT * FROM tags ORDER BY entry_id, tag_f").fetchall(),
            "failures": conn.execute(
                "SELECT source, path, root, stage, error, checksum, extractor, details "
                "FROM failures ORDER BY source, path"
            ).fetchall(),
        }
    finally:
        conn.close()


def test_fresh_build_stores_what_chunk_upserts_store(tmp_path):
    live = tmp_path / "live" / "gallery.db"
    conn = db.open_database(live)
    errors_live: list[dict] = []
    builder = Builder(conn, errors_live.append)
    for chunk in chunks():
        builder.apply_chunk(chunk)
    conn.close()

    fresh = tmp_path / "fresh" / "gallery.db"
    cfg = load_config(home=tmp_path / "fresh", env={})
    errors: list[dict] = []
    written: list[int] = []
    summary = store.build(
        cfg, fresh, tmp_path / "events.ndjson", chunks(), errors.append,
        after_chunk=lambda: written.append(1),
    )  # fmt: skip
    assert dump(fresh) == dump(live)
    # 200, one removed, one new that takes entry 0's only file (entry 0 goes), one new
    assert len(dump(fresh)["entries"]) == 200
    assert [f[:5] for f in dump(fresh)["failures"]] == [
        ("s", "d9/broken.heic", "/r", "extract", "cannot decode")
    ]
    assert summary == builder.summary
    assert (summary.entries, summary.removed, summary.moved, summary.errors) == (203, 1, 1, 3)
    assert errors == errors_live and len(errors) == 3
    assert len(written) == 5


def test_fresh_build_error_leaves_no_database(tmp_path):
    fresh = tmp_path / "gallery.db"
    cfg = load_config(home=tmp_path, env={})

    def failing():
        yield chunks()[0]
        raise RuntimeError("input broke")

    with pytest.raises(RuntimeError, match="input broke"):
        store.build(cfg, fresh, tmp_path / "events.ndjson", failing(), lambda r: None)
    assert not fresh.exists()
    assert not list(tmp_path.glob(".gallery.db.rebuild-*"))


@pytest.mark.parametrize(
    "value",
    ["2021:07:04 12:34:56", "1999:12:31 23:59:59", "0000:00:00 00:00:00", "2021:13:01 00:00:00",
     "2021:02:30 10:00:00", "2021-07-04 12:34:56", "2021:07:04T12:34:56", "２０２１:07:04 12:34:56",
     "2021:07:04 12:34:5x"],
)  # fmt: skip
@pytest.mark.parametrize("offset", [None, timezone(timedelta(hours=2))])
def test_date_fast_path_agrees_with_the_general_parser(value, offset):
    # A trailing space keeps the value off the fast path (it takes exactly 19 characters).
    assert parse_date(value, offset) == parse_date(value + " ", offset)
    got = parse_date(value, offset)
    if value == "2021:07:04 12:34:56":
        assert (got.year, got.month, got.day, got.second, got.tzinfo) == (2021, 7, 4, 56, offset)
    if value.startswith(("0000", "2021:13", "2021:02:30")):
        assert got is None
