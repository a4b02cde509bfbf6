"""Date terms (`date:`, `date >= …`, `date in [a:b]`) also bound `ts`, so a date range reads
the `entries_ts` index instead of every row (bench/million.py: 0.5 s at 100k before). The
bound is a superset (the local date is within 14 hours of its instant): the results are
those of the substr() comparison alone, also at the zone edges."""

from __future__ import annotations

import pytest

from hg_build import db
from hg_build.build import Builder
from hg_build.query import compile as qc
from hg_build.query.search import search_ids

from .test_fresh_build import entry

DATES = [("2019:01:01 00:30:00", "+14:00"), ("2019:12:31 23:30:00", "-12:00"),
         ("2019:06:01 12:00:00", None), ("2018:12:31 23:59:59", None),
         ("2020:01:01 00:00:00", None), ("2018:12:31 23:00:00", "-12:00"),
         ("2020:02:29 23:59:00", "+05:30"), ("2020:03:01 00:10:00", "+14:00"),
         ("2020:02:28 22:00:00", "-11:00"), ("2020:12:31 20:00:00", "-10:00"),
         ("2021:01:01 01:00:00", "+13:00"), ("2020:05:31 23:59:59", "-12:00")]  # fmt: skip
QUERIES = [
    "date:2019", "date:2019-12", "date:2019-12-31", "date = 2020-02-29", "date:2020-02",
    "date >= 2020-03-01", "date > 2020-02", "date <= 2019-01-01", "date < 2020",
    "date < 2020-03-01", "date > 2019-12-31", "date in [2020-03-01:2020-05-31]",
    "date in [2019:2020-02]", "date != 2020", "not date:2019", "date:2020-13",
    "date in [2019-06-01:2020-02-29] order by date asc", "tag:x and date:2020-02",
]  # fmt: skip


@pytest.fixture(scope="module")
def conn(tmp_path_factory):
    conn = db.open_database(tmp_path_factory.mktemp("dates") / "g.db")
    recs = []
    for n, (date, offset) in enumerate(DATES):
        r = entry(n, date, ["x"])
        if offset:
            r["files"][0]["meta"]["dates"]["offset"] = offset
        recs.append(r)
    Builder(conn, print).apply_chunk(recs)
    yield conn
    conn.close()


@pytest.mark.parametrize("query", QUERIES)
def test_a_date_term_finds_what_the_date_comparison_alone_finds(conn, query, monkeypatch):
    with_bound = list(search_ids(conn, query))
    if "2020-13" not in query and "!=" not in query:
        assert "e.ts" in qc.compile_query(query).where
    monkeypatch.setattr(qc._Compiler, "ts_bound", lambda self, text, op: "")
    assert "e.ts" not in qc.compile_query(query).where
    assert with_bound == list(search_ids(conn, query))


def test_the_zone_edges_are_in_the_fixture(conn):
    """The fixture holds dates whose instant is in another day, month and year than their
    local date, so the comparisons above can fail."""
    assert len(list(search_ids(conn, "date:2019"))) == 3
    assert len(list(search_ids(conn, "date:2020-02"))) == 2
    assert len(list(search_ids(conn, "date in [2020-03-01:2020-05-31]"))) == 2


def test_a_date_range_reads_the_ts_index(conn):
    c = qc.compile_query("date in [2020-03-01:2020-05-31]")
    plan = conn.execute(f"EXPLAIN QUERY PLAN SELECT count(*) FROM entries e WHERE {c.where}",
                        c.params).fetchall()  # fmt: skip
    assert any("entries_ts" in row[-1] for row in plan), plan
