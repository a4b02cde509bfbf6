"""hg_build.summaries, hg_build.lookup and query.filtered on a real (temp) database."""

from __future__ import annotations

import numpy as np
import pytest

from hg_build import db, events, lookup, summaries
from hg_build.build import Builder
from hg_build.query import QueryError
from hg_build.query.filtered import compile_filtered
from hg_build.query.search import count, search, search_fields, search_ids


def entry(n: int, date: str, tags=(), geo=None, make="Canon") -> dict:
    cid = f"{n:064x}"
    meta = {"width": 400, "height": 300, "dates": {"DateTimeOriginal": date}, "make": make,
            "tags": list(tags)}  # fmt: skip
    if geo:
        meta["latitude"], meta["longitude"] = geo
    f = {"source": "s", "root": "/r", "path": f"p/{n}.jpg", "size": 100 + n, "mtime": 1.7e9,
         "checksum": cid, "file_type": "image", "primary": True, "meta": meta}  # fmt: skip
    return {"type": "entry", "v": 1, "id": cid, "media_type": "image", "files": [f],
            "previews": [], "video": None, "colors": [], "address": None}  # fmt: skip


@pytest.fixture
def conn(tmp_path):
    c = db.open_database(tmp_path / "gallery.db")
    Builder(c, lambda r: None).apply_chunk(
        [
            entry(1, "2020:01:05 10:00:00", ["beach", "sea"], (43.123456789, 11.5)),
            entry(2, "2020:01:20 10:00:00", ["beach"]),
            entry(3, "2020:03:01 10:00:00", ["Forest"], (48.85, 2.29), make="Nikon"),
            entry(4, "2019:12:31 23:00:00", [], make="Nikon"),
        ]
    )
    yield c
    c.close()


def test_years_newest_first_with_months(conn):
    assert summaries.years(conn) == [
        {"year": 2020, "count": 3, "offset": 0,
         "months": [{"month": 3, "count": 1}, {"month": 1, "count": 2}]},
        {"year": 2019, "count": 1, "offset": 3, "months": [{"month": 12, "count": 1}]},
    ]  # fmt: skip
    assert summaries.years(conn, "make:nikon") == [
        {"year": 2020, "count": 1, "offset": 0, "months": [{"month": 3, "count": 1}]},
        {"year": 2019, "count": 1, "offset": 1, "months": [{"month": 12, "count": 1}]},
    ]
    assert summaries.years(conn, "year:1999") == []


@pytest.mark.parametrize("q", ["", "order by date asc", "make:nikon order by date asc",
                               "not tag:sea", "order by random"])  # fmt: skip
def test_a_years_offset_is_where_its_first_entry_is_in_the_results(conn, q):
    """The web app loads a query's results from a year's offset to jump there."""
    ids = list(search_ids(conn, q))
    years = {r[0]: r[1] for r in conn.execute("SELECT id, year FROM entries")}
    for y in summaries.years(conn, q):
        if "random" in q:
            assert y["offset"] is None
            continue
        assert years[ids[y["offset"]]] == y["year"]
        assert all(years[i] != y["year"] for i in ids[: y["offset"]])


def test_tags_most_used_first(conn):
    assert summaries.tags(conn) == [
        {"tag": "beach", "count": 2},
        {"tag": "Forest", "count": 1},
        {"tag": "sea", "count": 1},
    ]
    assert summaries.tags(conn, "year:2020 month:1") == [
        {"tag": "beach", "count": 2},
        {"tag": "sea", "count": 1},
    ]


def test_geo_points_are_parallel_rounded_arrays(conn):
    geo = summaries.geo_points(conn)
    # these ids share 63 leading zeros, so only the full length is unique
    assert geo["idLength"] == 64
    assert sorted(zip(geo["ids"], geo["lat"], geo["lon"], strict=True)) == [
        (f"{1:064x}", 43.12346, 11.5),
        (f"{3:064x}", 48.85, 2.29),
    ]
    assert summaries.geo_points(conn, "make:nikon")["ids"] == [f"{3:064x}"]
    assert summaries.geo_points(conn, "tag:nothing")["ids"] == []


def test_geo_ids_are_the_shortest_unique_prefixes(tmp_path):
    c = db.open_database(tmp_path / "gallery.db")
    ids = ["ab" * 32, "abcdef0123" + "1" * 54, "abcdef0124" + "2" * 54, "c0ffee" + "3" * 58]
    records = [entry(i, "2020:01:01 10:00:00", geo=(i, i)) for i in range(4)]
    for rec, cid in zip(records, ids, strict=True):
        rec["id"] = rec["files"][0]["checksum"] = cid
    Builder(c, lambda r: None).apply_chunk(records)
    geo = summaries.geo_points(c)
    assert geo["idLength"] == 10
    assert sorted(geo["ids"]) == sorted(i[:10] for i in ids)
    more = entry(5, "2020:01:01 10:00:00", geo=(5, 5))
    more["id"] = more["files"][0]["checksum"] = "abcdef0123" + "9" * 54
    Builder(c, lambda r: None).apply_chunk([more])  # now two share 10 digits
    geo = summaries.geo_points(c)
    assert geo["idLength"] == 16
    assert len(set(geo["ids"])) == 5
    c.close()


def test_geo_select_from_a_snapshot_by_rowid(conn):
    snap = summaries.geo_snapshot(conn)
    assert len(snap) == 2
    nikon = summaries.geo_rowids(conn, "make:nikon")
    assert summaries.geo_select(snap, nikon)["ids"] == [f"{3:064x}"]
    assert summaries.geo_rowids(conn, "") is None  # everything: no query to run
    assert summaries.geo_select(snap, None)["lat"] == [43.12346, 48.85]  # rowid order
    # rows written after the snapshot (unknown rowids) are left out, not an error
    unknown = np.array([10**6, *nikon, -1], dtype=np.int64)
    assert summaries.geo_select(snap, unknown)["ids"] == [f"{3:064x}"]
    assert summaries.geo_select(snap, np.zeros(0, np.int64)) == {
        "idLength": 64, "ids": [], "lat": [], "lon": []}  # fmt: skip


def test_filter_is_anded_and_keeps_the_query_order(conn):
    c = compile_filtered("year:2020 order by date asc", ["tag:beach"])
    assert list(search_ids(conn, c)) == [f"{1:064x}", f"{2:064x}"]
    assert count(conn, compile_filtered("", ["tag:beach", "make:canon"])) == 2
    assert count(conn, compile_filtered("make:nikon", ["tag:beach"])) == 0
    with pytest.raises(QueryError) as exc:  # the position is in the user's query text
        compile_filtered("beach year>>2020", ["tag:beach"])
    assert exc.value.pos == 11
    with pytest.raises(QueryError, match="in the filter 'tag:'"):
        compile_filtered("beach", ["tag:"])


def test_lookup_by_id_within_a_filter(conn):
    one, four = f"{1:064x}", f"{4:064x}"
    media = lookup.media_by_id(conn, one)
    assert media["id"] == one and media["tags"] == ["beach", "sea"] and media["type"] == "media"
    assert lookup.media_by_id(conn, one, "tag:beach")["id"] == one
    assert lookup.media_by_id(conn, four, "tag:beach") is None
    assert lookup.media_by_id(conn, one[:10]) is None  # exact ids only
    wanted = [one, four, "0" * 64, one]
    assert lookup.existing_ids(conn, wanted) == {one, four}
    assert lookup.existing_ids(conn, wanted, compile_filtered("", ["tag:beach"])) == {one}


def test_imported_edit_shows_in_summaries(conn, tmp_path):
    log = tmp_path / "events.ndjson"
    events.append_events(log, [events.tag_event([f"{4:064x}"], add=["snow"])])
    db.import_events(conn, log)
    assert {"tag": "snow", "count": 1} in summaries.tags(conn)
    assert count(conn, "tag:snow") == 1


def test_search_fields_picks_fields_of_the_same_hits_as_search(conn):
    fields = ("date", "media_type", "width", "colors", "previews", "duration")
    for q in ("", "tag:beach", "year:2020 order by date asc", "make:nikon"):
        full = list(search(conn, q, 3, 0))
        picked = list(search_fields(conn, q, fields, 3, 0))
        assert picked == [{"id": m["id"], **{f: m.get(f) for f in fields}} for m in full]
        assert [p["id"] for p in search_fields(conn, q, ["width"], 2, 1)] == [
            m["id"] for m in full[1:3]
        ]
    assert list(search_fields(conn, "", ["width"], 1)) == [{"id": f"{3:064x}", "width": 400}]
    with pytest.raises(ValueError):
        list(search_fields(conn, "", ["width') --"]))


def test_count_of_tag_queries_matches_the_hits(conn):
    for q in ("tag:beach", "tag:BEACH", "tag:forest", "tag:beach and make:nikon", "tag:none",
              "tag:beach and not tag:sea"):  # fmt: skip
        assert count(conn, q) == len(list(search_ids(conn, q)))
    assert count(conn, "tag:beach") == 2
    assert count(conn, compile_filtered("tag:beach", ["year:2020"])) == 2
    assert count(conn, compile_filtered("tag:forest", ["make:canon"])) == 0


def test_resolve_ids_takes_unique_prefixes(tmp_path):
    c = db.open_database(tmp_path / "gallery.db")
    ids = ["abcde1" + "0" * 58, "abcde2" + "0" * 58, "f" * 64]
    records = [entry(i, "2020:01:01 10:00:00") for i in range(3)]
    for rec, cid in zip(records, ids, strict=True):
        rec["id"] = rec["files"][0]["checksum"] = cid
    Builder(c, lambda r: None).apply_chunk(records)
    full = "0123" * 16  # a full id is kept even before its entry exists
    assert lookup.resolve_ids(c, ["ABCDE1", "fffff", full, "abcde1"]) == (
        [ids[0], ids[2], full], [])  # fmt: skip
    found, problems = lookup.resolve_ids(c, ["abcde", "12345", "abc", "xyzxyz"])
    assert found == [] and len(problems) == 4
    assert "several entries" in problems[0] and "no entry" in problems[1]
    assert "not an id" in problems[2] and "not an id" in problems[3]
    assert lookup.resolve_ids(None, ["abcde1"])[1] == ["id prefix 'abcde1' matches no entry"]
    c.close()
