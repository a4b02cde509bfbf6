"""Tag-driven queries (`tag:x …` walks the tag's index in date order): a year term narrows
the walk to that year's span and finds what the entries-driven query finds."""

from __future__ import annotations

from hg_build import db
from hg_build.build import Builder
from hg_build.query.compile import compile_query
from hg_build.query.search import search_ids

from .test_fresh_build import entry


def test_a_year_in_a_tag_query_walks_that_years_span_of_the_tag_and_finds_every_entry(
    tmp_path,
):
    """`tag:x year:Y` reads the tag's index over Y's `ts` span, widened by the zones: an
    entry whose local date is in Y is found even when its instant is in another year."""
    conn = db.open_database(tmp_path / "g.db")
    dates = [("2019:01:01 00:30:00", "+14:00"), ("2019:12:31 23:30:00", "-12:00"),
             ("2019:06:01 12:00:00", None), ("2018:12:31 23:59:59", None),
             ("2020:01:01 00:00:00", None), ("2018:12:31 23:00:00", "-12:00")]  # fmt: skip
    recs = []
    for n, (date, offset) in enumerate(dates):
        r = entry(n, date, ["x"])
        if offset:
            r["files"][0]["meta"]["dates"]["offset"] = offset
        recs.append(r)
    Builder(conn, print).apply_chunk(recs)
    for query in ("tag:x year:2019", "tag:x and y = 2019 order by date asc", "tag:x year:2018"):
        compiled = compile_query(query)
        assert "t.ts BETWEEN" in compiled.where
        found = list(search_ids(conn, compiled))
        assert found == list(search_ids(conn, compile_query(query, drive_by_tag=False)))
    assert len(list(search_ids(conn, "tag:x year:2019"))) == 3
    assert len(list(search_ids(conn, "tag:x year:2018"))) == 2


def test_not_a_tag_finds_what_not_exists_per_entry_finds(tmp_path, monkeypatch):
    """`not tag:x` compiles to one `NOT IN` the tag's entries (bench/million.py: 1.4 s at
    100k as a NOT EXISTS per entry); the entries found are the same."""
    from hg_build.query import compile as qc

    conn = db.open_database(tmp_path / "g.db")
    tags = [["x"], ["X", "y"], [], ["y"], ["z", "x"], ["Ünï"], ["ünï", "x"]]
    recs = [entry(n, f"2019:01:0{n + 1} 10:00:00", t) for n, t in enumerate(tags)]
    Builder(conn, print).apply_chunk(recs)
    queries = ["not tag:x", "not tag = y", "y and not tag:x", "not tag:ÜNÏ or tag:z",
               "not (tag:x)", "not tag:x order by date asc", "tag:y not tag:x",
               "not tag:none"]  # fmt: skip
    new = {q: list(search_ids(conn, q)) for q in queries}
    assert "NOT IN" in compile_query("not tag:x").where
    assert len(new["not tag:x"]) == 3 and len(new["not tag:none"]) == len(tags)
    monkeypatch.setattr(qc._Compiler, "is_tag_term", staticmethod(lambda n: False))
    assert "NOT IN" not in compile_query("not tag:x").where
    assert new == {q: list(search_ids(conn, q)) for q in queries}
