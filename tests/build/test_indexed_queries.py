"""Queries that read an index instead of every row (issue 19, a million entries) find the
same entries, in the same order, as the row-by-row forms they replace: on a small synthetic
gallery written, re-written, moved and pruned, and on the gallery of real media."""

from __future__ import annotations

import math
import random

import pytest

from hg_build import db, schema
from hg_build.build import Builder
from hg_build.query import compile as qc
from hg_build.query import search
from hg_build.query.filtered import compile_filtered
from hg_build.query.search import count, for_page, search_fields, search_ids

from .test_fresh_build import entry

WORDS = ["Beach", "beachhouse", "New York", "Köln", "STRAßE", 'say "hi"', "dog", "cat",
         "night", "a_b%c", "日本語の旅", "ab", "x"]  # fmt: skip
TEXT_QUERIES = ["beach", "BEACH", "each", '"New York"', "new york", "york beach", "ew y",
                "köln", "KÖLN", "strasse", "straße", '"say ""hi"""', "hi", "a_b%c", "b%c",
                "日本語", "本語の", "日本", "ab", "x", "img_1", "canon", "zzz", "beach not dog",
                "beach or cat", "not beach", "dog and year:2015", '"" beach',
                "canon beach order by date asc", "moved_", "img_55"]  # fmt: skip


def _synthetic(n: int, seed: int) -> list[dict]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        r = entry(i, f"20{10 + i % 10}:0{1 + i % 9}:1{i % 10} 1{i % 10}:00:00",
                  rng.sample(WORDS, rng.randint(0, 3)))  # fmt: skip
        meta = r["files"][0]["meta"]
        if rng.random() < 0.3:
            meta["description"] = " ".join(rng.sample(WORDS, 2))
        out.append(r)
    return out


TAG_QUERIES = ["tag:dog or tag:cat", "tag:beach or tag:köln or tag in (night, x)",
               "not tag:dog", "not tag:STRASSE", "not tag:straße", "tag:dog or beach",
               "(tag:dog or tag:cat) and year >= 2015 and not tag:night", "tag:dog or tag:dog",
               "tag:nothing or tag:cat", "not tag:nothing", "tag:dog or tag:cat order by date asc",
               "tag:Dog or tag:CAT or year:2012", "tag in (dog, cat) or tag:night",
               "not (tag:dog or tag:cat)", "tag:dog or tag:cat order by random"]  # fmt: skip


def _results(conn, queries: list[str]) -> dict[str, tuple[int, list[str]]]:
    """Each query's count and hits in order; the hits are the same through its index
    lists and through its row-by-row walk (`Compiled.walk`, for pages of many hits)."""
    out = {}
    for q in queries:
        c = qc.compile_query(q)
        ids = list(search_ids(conn, c))
        if c.walk is not None and "random" not in q:
            assert list(search_ids(conn, c.walk)) == ids, q
            assert list(search_ids(conn, c.walk, 7, 3)) == ids[3:10], q
        out[q] = (count(conn, c), sorted(ids) if "random" in q else ids)
    return out


def _index_matches_the_table(conn) -> None:
    """FTS5's check of the index against its content table (`entries`): every row's text
    indexed once, nothing left of replaced or deleted rows (else "malformed")."""
    conn.execute("INSERT INTO entries_text (entries_text, rank) VALUES ('integrity-check', 1)")


def _row_by_row(monkeypatch) -> None:
    """The compiler without its index forms: what the results must equal."""
    monkeypatch.setattr(qc._Compiler, "text_index", False)
    monkeypatch.setattr(qc._Compiler, "tag_sets", False)
    monkeypatch.setattr(qc._Compiler, "inner_box", False)


def test_or_of_tags_and_not_a_tag_through_the_tags_index_find_the_same(tmp_path, monkeypatch):
    """`tag:a or tag:b` is one list from `tags_f`; a query that is only that, or only
    `not tag:x`, is counted from `tags` alone (`Compiled.count_sql`); the same entries,
    counts and order as one EXISTS per entry and term."""
    conn = db.open_database(tmp_path / "g.db")
    recs = _synthetic(150, seed=6)
    for r in recs[::7]:
        r["files"][0]["meta"]["tags"] += ["Dog", "DOG"]  # spellings of one tag
    Builder(conn, print).apply_chunk(recs)
    fast = _results(conn, TAG_QUERIES)
    assert "tag_f IN" in qc.compile_query("tag:dog or tag:cat").where
    assert qc.compile_query("tag:dog or tag:cat").count_sql is not None
    assert qc.compile_query("not tag:dog").count_sql is not None
    assert qc.compile_query("not tag:dog and year:2012").count_sql is None
    assert count(conn, "") == 150 == count(conn, qc.compile_query("year > 0"))  # a b-tree count
    filtered = compile_filtered("", ["tag:dog"])  # a user's filter: counted with its WHERE
    assert filtered.count_sql is None and count(conn, filtered) == count(conn, "tag:dog")
    assert 20 < fast["tag:dog or tag:cat"][0] < 150 and fast["not tag:nothing"][0] == 150
    assert fast["not tag:STRASSE"] == fast["not tag:straße"] and fast["not tag:straße"][0] < 150
    # a page of many hits walks the date index, one of few sorts the list's hits
    c = qc.compile_query("tag:dog or tag:cat")
    assert for_page(conn, c, 100, 0, 20) is c.walk and for_page(conn, c, 10, 0, 20) is c
    assert for_page(conn, c.walk, 100, 0, 20) is c.walk  # no walk of its own: as it is
    # the lists' route reads every candidate (more than the hits), so the walk is taken
    # from a quarter of the square rule's hits on: 30² < 20 × 150 ≤ 4 × 30²
    nested = qc.compile_query("(tag:dog or tag:cat) and year >= 2015 and not tag:night")
    assert for_page(conn, nested, 30, 0, 20) is nested.walk
    assert for_page(conn, nested, 27, 0, 20) is nested  # 4 × 27² < 3000
    for q in TAG_QUERIES:  # whichever route a page takes, the same ids as the lists give
        c = qc.compile_query(q)
        if "random" in q:
            continue
        for offset, limit in ((0, 20), (5, 3), (0, 150), (140, 20)):
            form = for_page(conn, c, count(conn, c), offset, limit)
            assert list(search_ids(conn, form, limit, offset)) == list(
                search_ids(conn, c, limit, offset)
            ), (q, offset, limit)
    _row_by_row(monkeypatch)
    assert "tag_f IN" not in qc.compile_query("tag:dog or tag:cat").where
    assert _results(conn, TAG_QUERIES) == fast


def test_free_text_through_the_trigram_index_finds_what_instr_finds(tmp_path, monkeypatch):
    """Terms of 3+ characters are a phrase query on `entries_text` (FTS5 trigrams), shorter
    ones instr(); the index is kept in step through upserts (INSERT OR REPLACE), moves
    (the text is rewritten), removals and edits from the event log."""
    conn = db.open_database(tmp_path / "g.db")
    builder = Builder(conn, print)
    recs = _synthetic(120, seed=1)
    builder.apply_chunk(recs[:80])
    builder.apply_chunk(recs[80:])
    again = _synthetic(40, seed=2)  # the first 40 ids once more, with other words
    builder.apply_chunk(again)
    with db.transaction(conn):
        for i in range(40, 50):  # moved: the text holds the file name
            db.move_file(conn, "s", f"d{i % 4}/IMG_{i}.jpg", "s", f"beach/moved_{i}.jpg")
        for i in range(50, 60):
            db.remove_file(conn, "s", f"d{i % 4}/IMG_{i}.jpg")
    assert "entries_text MATCH" in qc.compile_query("beach").where
    assert "entries_text" not in qc.compile_query("ab").where  # 2 characters: instr()
    fast = _results(conn, TEXT_QUERIES)
    assert fast["beach"][0] > 10 and fast["日本語"][0] > 5 and fast["straße"][0] > 5
    assert fast["moved_"][0] == 10 and fast["img_55"][0] == 0  # moved, removed (50-59)
    _index_matches_the_table(conn)
    _row_by_row(monkeypatch)
    assert "entries_text" not in qc.compile_query("beach").where
    assert _results(conn, TEXT_QUERIES) == fast


def test_the_text_index_is_made_by_a_fresh_build_and_by_the_migration(tmp_path, monkeypatch):
    """A fresh build (`schema.create(indexes=False)`, then `create_indexes`) and the v8 -> v9
    migration fill the index from the rows there; it then answers like instr()."""
    conn = db.connect(tmp_path / "fresh.db")
    schema.create(conn, indexes=False)
    assert not schema.has_text_index(conn)
    Builder(conn, print).apply_chunk(_synthetic(60, seed=3))
    schema.create_indexes(conn)
    assert schema.has_text_index(conn)
    _index_matches_the_table(conn)
    fresh = _results(conn, TEXT_QUERIES)
    conn.executescript(  # back to v8: no index, no triggers
        "DROP TRIGGER entries_text_replaced; DROP TRIGGER entries_text_inserted;"
        "DROP TRIGGER entries_text_deleted; DROP TRIGGER entries_text_updated;"
        "DROP TABLE entries_text; DROP INDEX entries_ts;"
        "CREATE INDEX entries_ts ON entries (ts); PRAGMA user_version = 8;"
    )
    assert schema.check(conn) == "migrate"
    schema.migrate(conn)
    assert schema.version(conn) == schema.SCHEMA_VERSION and schema.has_text_index(conn)
    # a page deep in the default order skips entries of an index, sorts nothing
    sql, params = qc.compile_query("").select("e.id, e.date", 5, 40)
    plan = " ".join(r[-1] for r in conn.execute(f"EXPLAIN QUERY PLAN {sql}", params))
    assert "INDEX entries_ts" in plan and "TEMP B-TREE" not in plan
    Builder(conn, print).apply_chunk(_synthetic(10, seed=4))  # the triggers are back
    _index_matches_the_table(conn)
    migrated = _results(conn, TEXT_QUERIES)
    _row_by_row(monkeypatch)
    assert _results(conn, TEXT_QUERIES) == migrated
    assert migrated != fresh  # the 10 re-written entries changed some answers


@pytest.mark.parametrize("q", ["", "not x"])
def test_free_text_on_the_gallery_of_real_media(gallery, monkeypatch, q):
    """The real media's haystacks (file names, cameras, places, tags from XMP): every
    3-character piece of them, and longer ones, found alike both ways."""
    conn = db.connect(gallery / "gallery.db", readonly=True)
    texts = [r[0] for r in conn.execute("SELECT text FROM entries")]
    rng = random.Random(5)
    terms = set()
    for text in texts:
        for size in (3, 4, 7):
            for _ in range(4):
                if len(text) > size:
                    start = rng.randrange(len(text) - size)
                    piece = text[start : start + size].strip()
                    if len(piece) >= 3 and '"' not in piece and "\n" not in piece:
                        terms.add(f'"{piece}"')
    queries = sorted(f"{t} {q}".strip() for t in terms)
    assert len(queries) > 50
    fast = _results(conn, queries)
    assert all(total > 0 for total, _ids in fast.values()) or q
    _row_by_row(monkeypatch)
    assert _results(conn, queries) == fast
    conn.close()


NEAR = [(49.41, 8.70, "5km"), (49.41, 8.70, "300m"), (0.0, 179.99, "50km"), (-33.9, 151.2, "20km"),
        (89.9, 0.0, "100km"), (-89.5, 45.0, "80km"), (60.0, 10.0, "2000km"), (10.0, 10.0, "9999km"),
        (49.41, 8.70, "12000km"), (0.0, 0.0, "0.5km")]  # fmt: skip


def test_near_with_its_inner_box_finds_what_the_distance_alone_finds(tmp_path, monkeypatch):
    """`near:` counts a point inside a box within the circle without the distance: the
    same entries as the distance for every one, on points scattered around each centre
    (many close to the circle's edge), near the poles and the date line, and in its walk
    form (`+e.latitude`: not by the index)."""
    rng = random.Random(8)
    recs = []
    for lat, lon, radius in NEAR:
        km = float(radius[:-2]) if radius.endswith("km") else float(radius[:-1]) / 1000
        # at up to 1.3 radii, many at 0.6-1.0 (where the boxes part), and at the edge
        # on the diagonals (where a box too large would reach out of the circle first)
        around = [(km * rng.choice([rng.uniform(0, 1.3), rng.uniform(0.6, 1.0)]),
                   rng.uniform(0, 6.283)) for _ in range(30)]  # fmt: skip
        around += [(km * f, math.radians(b)) for f in (0.98, 0.995, 1.005, 1.02)
                   for b in (45, 135, 225, 315)]  # fmt: skip
        for r, bearing in around:
            plat = max(-90.0, min(90.0, lat + r / 111.2 * math.cos(bearing)))
            plon = lon + r / (111.2 * max(0.01, math.cos(math.radians(plat)))) * math.sin(bearing)
            recs.append((plat, (plon + 180) % 360 - 180))
    conn = db.open_database(tmp_path / "g.db")
    records = []
    for i, (plat, plon) in enumerate(recs):
        r = entry(i, f"20{10 + i % 10}:01:01 10:00:00")
        r["files"][0]["meta"]["latitude"], r["files"][0]["meta"]["longitude"] = plat, plon
        records.append(r)
    Builder(conn, print).apply_chunk(records)
    queries = [f"near:{lat},{lon},{radius}" for lat, lon, radius in NEAR]
    fast = _results(conn, queries)
    assert "hg_distance_km" in qc.compile_query(queries[0]).where
    assert "+e.latitude" in qc.compile_query(queries[0]).walk.where
    assert sum(1 for total, _ids in fast.values() if total > 20) >= 8
    _row_by_row(monkeypatch)
    assert _results(conn, queries) == fast


def test_a_page_gives_up_a_walk_that_costs_more_than_the_lists(tmp_path, monkeypatch):
    """`search.page` walks the date index when `for_page` says so, within a budget of VM
    instructions per hit; hits all at the far end of the order (newest first, the oldest
    year) would have it read every row, so it is given up for the lists' route. Either
    way the page is the lists' page."""
    conn = db.open_database(tmp_path / "g.db")
    Builder(conn, print).apply_chunk(_synthetic(400, seed=8))
    far = qc.compile_query("(tag:dog or tag:cat or beach) and year <= 2010")
    total = count(conn, far)
    assert 0 < total < 100 and far.walk is not None
    listed = list(search_fields(conn, far, ["date"], 20, 0))
    assert {m["date"][:4] for m in listed} == {"2010"}
    assert search._walk(conn, far.walk, ["date"], 20, 0, 0) is None  # given up
    assert search._walk(conn, far.walk, ["date"], 20, 0, 10**9) == listed
    conn.execute("SELECT count(*) FROM entries").fetchone()  # the handler is gone
    queries = [*TAG_QUERIES, far, "beach and year >= 2019", "beach or tag:dog"]
    for ops in (search.WALK_OPS, 0, 10**6):  # as set; every walk given up; none
        monkeypatch.setattr(search, "WALK_OPS", ops)
        for q in queries:
            c = qc.compile_query(q) if isinstance(q, str) else q
            if "random" in c.order:
                continue
            n = count(conn, c)
            for offset, limit in ((0, 20), (0, 400), (30, 10)):
                expected = list(search_fields(conn, c, ["date"], limit, offset))
                assert search.page(conn, c, n, ["date"], limit, offset) == expected, (q, ops)
