"""Counts from cached numpy columns (`hg_build.facets`, issue 19) are the SQL counts: on
random queries (and/or/not nested over every supported term, with user filters) over a
gallery of a few thousand entries with odd values (no make, no ISO, makes in several
cases, tags with commas, quotes and non-ASCII letters, rows re-written and removed), and
a commit is noticed."""

from __future__ import annotations

import os
import random
import time

import pytest

from hg_build import api, db, facets
from hg_build.build import Builder
from hg_build.query.filtered import compile_filtered
from hg_build.query.search import count, page, search_fields

from .test_fresh_build import entry

MAKES = ["Canon", "CANON", "canon", "Nikon", "SONY", "Straße", "", None]
MODELS = ["EOS R5", "eos 5d", "D750", "α7 III", None]
TAGS = ["Dog", "dog", "cat", "Night", "a,b", 'say "hi"', "x'y", "Köln", "STRASSE",
        "straße", "日本", "100%_", "beach", "rare"]  # fmt: skip
CITIES = ["Köln", "KÖLN", "Berlin", None]
ISOS = [100, 200, 400, 800, 1600, 3200, None]


def _gallery(n: int, seed: int) -> list[dict]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        year = rng.randint(2004, 2024)
        date = f"{year}:{rng.randint(1, 12):02d}:{rng.randint(1, 28):02d} 12:00:00"
        r = entry(i, date, rng.sample(TAGS, rng.choice([0, 0, 1, 2, 3])))
        meta = r["files"][0]["meta"]
        meta["make"] = rng.choice(MAKES)
        if meta["make"] is None:
            del meta["make"]
        if (model := rng.choice(MODELS)) is not None:
            meta["model"] = model
        if (iso := rng.choice(ISOS)) is not None:
            meta["iso"] = iso
        meta["width"], meta["height"] = rng.choice([(4000, 3000), (3000, 4000), (640, 480)])
        if rng.random() < 0.4:
            meta["latitude"], meta["longitude"] = rng.choice([(50.9, 6.9), (52.5, 13.4)])
        city = rng.choice(CITIES)
        r["address"] = {"city": city} if city else None
        out.append(r)
    return out


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _leaf(rng: random.Random) -> str:
    tag = _quote(rng.choice([*TAGS, "DOG", "nothing", "koln"]))
    make = _quote(rng.choice(["canon", "CANON", "nikon", "straße", "STRASSE", "an", ""]))
    year, iso = rng.randint(2003, 2025), rng.choice([100, 400, 800, 801, 3200, 0])
    forms = [
        f"tag:{tag}", f"tag = {tag}", f"tag != {tag}", f"not tag:{tag}",
        f"tag in ({tag}, {_quote(rng.choice(TAGS))})",
        f"tags all in ({tag}, {_quote(rng.choice(TAGS))})",
        f"year >= {year}", f"year:{year}", f"year < {year}", f"year != {year}",
        f"y in [{year}:{year + rng.randint(0, 5)}]",
        f"iso > {iso}", f"iso = {iso}", f"iso != {iso}", f"iso <= {iso}",
        f"iso in [{iso}:1600]", f"make:{make}", f"make = {make}", f"make != {make}",
        f"make~{make}", f"model~{_quote(rng.choice(['eos', 'D7', 'α', 'iii']))}",
        f"model != {_quote('eos r5')}", "exists(geo)", "exists(make)", "exists(iso)",
        "exists(location)", "exists(tags)", f"count(tags) > {rng.randint(0, 3)}",
        f"location:{_quote(rng.choice(['köln', 'berlin', 'x']))}",
        f"city != {_quote('köln')}", f"width > {rng.choice([640, 3000])}", "month <= 6",
        f"lat > {rng.choice([50, 51])}", rng.choice(["dog", "köln", "ab", "canon", "zzz"]),
        f"date >= {year}-06", f"date:{year}", f"near:50.9,6.9,{rng.choice([1, 50, 500])}km",
        "file~img_1", f"tag~{rng.choice(['o', 'ß', 'xx'])}", "ratio:landscape",
        f"filesize > {rng.choice([100, 2000])}", "type:image", "memories:06-15",
    ]  # fmt: skip
    return rng.choice(forms)


def _query(rng: random.Random, depth: int = 0) -> str:
    if depth >= 3 or rng.random() < 0.35:
        return _leaf(rng)
    parts = [_query(rng, depth + 1) for _ in range(rng.randint(2, 3))]
    joined = rng.choice([" and ", " or ", " "]).join(f"({p})" for p in parts)
    return f"not ({joined})" if rng.random() < 0.2 else joined


def _sql_count(conn, c) -> int:
    return count(conn, c)  # not cached: the SQL the compiler wrote


@pytest.fixture
def quiet(monkeypatch):
    """A state just written is counted too (no wait for the writes to settle)."""
    monkeypatch.setattr(facets, "QUIET", 0.0)


def _built(path, n: int = 3000) -> object:
    conn = db.open_database(path)
    builder = Builder(conn, print)
    recs = _gallery(n, seed=19)
    for start in range(0, n, 500):
        builder.apply_chunk(recs[start : start + 500])
    builder.apply_chunk(_gallery(300, seed=20))  # the first 300 again, other values
    with db.transaction(conn):
        for i in range(300, 340):
            db.remove_file(conn, "s", f"d{i % 4}/IMG_{i}.jpg")
    return conn


def test_random_queries_count_the_same_from_the_cache_as_with_sql(tmp_path, quiet):
    path = tmp_path / "g.db"
    _built(path).close()
    reader = db.connect(path, readonly=True)
    rng = random.Random(7)
    fixed = [
        "tag:dog or tag:cat", "(tag:dog or tag:cat) and year >= 2018 and not tag:night",
        "make:canon and iso > 800", "not tag:dog", 'tag:"a,b" or tag:"say \\"hi\\""',
        "make:straße", "make:STRASSE", "not make:canon", "make != canon", "make~\"\"",
        "not (iso > 800)", "not exists(iso)", "iso != 800", "tag:dog and year:2015",
    ]  # fmt: skip
    queries = fixed + [_query(rng) for _ in range(400)]
    filters = [[], ["not tag:rare"], ["year >= 2010", "exists(make)"], ["tag:dog or iso > 400"]]
    counted = 0
    for i, q in enumerate(queries):
        c = compile_filtered(q, filters[i % len(filters)])
        expected = _sql_count(reader, c)
        found = facets.count(reader, c.terms) if c.terms is not None else None
        if "year:" not in q:  # a tag-driven `year:` is left to SQL (its `t.ts` bound)
            assert found is not None, q
        if found is not None:
            counted += 1
            assert found == expected, (q, filters[i % len(filters)])
        assert count(reader, c, cached=True) == expected, q
    assert counted > 350
    # the answers are not all alike: the comparison could have failed
    totals = {count(reader, compile_filtered(q)) for q in queries[:60]}
    assert len(totals) > 30 and max(totals) > 1000
    state = facets._cache[str(path)]
    assert state.nbytes() > 0 and state.key == facets.vectors.signature(str(path))


def test_pages_from_the_cache_are_the_sql_pages(tmp_path, quiet):
    """A page's rowids from the query's mask in the state's date order are SQL's page:
    the same entries in the same order (ties of `ts` by id), at any offset, with filters."""
    path = tmp_path / "g.db"
    _built(path).close()
    reader = db.connect(path, readonly=True)
    rng = random.Random(11)
    fixed = ["(tag:dog or tag:cat) and year >= 2018 and not tag:night", "beach and year <= 2006",
             "tag:dog and iso > 100", "make:canon and iso > 800", "not (iso > 800)"]  # fmt: skip
    queries = fixed + [_query(rng) for _ in range(120)]
    filters = [[], ["not tag:rare"], ["year >= 2010", "exists(make)"]]
    fields = ["date", "width", "tags"]
    paged = 0
    for i, q in enumerate(queries):
        c = compile_filtered(q, filters[i % len(filters)])
        total = count(reader, c, cached=True)
        for offset, limit in [(0, 50), (0, 5000), (total // 2, 7), (max(0, total - 3), 10)]:
            expected = list(search_fields(reader, c, fields, limit, offset))
            assert page(reader, c, total, fields, limit, offset, cached=True) == expected, q
            if c.terms and facets.page(reader, c.terms, offset, limit) is not None:
                paged += 1
    assert paged > 300
    # a field that is not a column (the whole records are read), and an order of its own
    c = compile_filtered("tag:dog or tag:cat")
    total = count(reader, c, cached=True)
    expected = list(search_fields(reader, c, ["date", "files"], 20, 3))
    assert page(reader, c, total, ["date", "files"], 20, 3, cached=True) == expected
    for q in ["tag:dog or tag:cat order by date asc", "iso > 100 order by width"]:
        c = compile_filtered(q)
        assert not c.newest_first
        assert page(reader, c, 9, ["date"], 9, cached=True) == list(
            search_fields(reader, c, ["date"], 9)
        )
    assert compile_filtered("tag:dog and iso > 100").newest_first  # tag-driven: t.ts


def test_a_deep_page_of_everything_is_sliced_from_the_order(tmp_path, quiet, monkeypatch):
    """The timeline's jump to a year: a page at a large offset of the empty query comes
    from the state's order (no OFFSET stepped over); a first page at a small offset stays
    SQL's until the order was read."""
    path = tmp_path / "g.db"
    _built(path, n=1200).close()
    reader = db.connect(path, readonly=True)
    monkeypatch.setattr(facets, "ORDER_FROM", 500)
    c = compile_filtered("")
    assert c.terms == ()
    total = count(reader, c)
    assert facets.page(reader, (), 0, 50) is None  # the order not read: SQL is cheaper
    for offset, limit in [(600, 50), (0, 50), (total - 5, 50), (total + 10, 5)]:
        expected = list(search_fields(reader, c, ["date", "width"], limit, offset))
        assert page(reader, c, total, ["date", "width"], limit, offset, cached=True) == expected
        assert facets.page(reader, (), offset, limit) is not None  # read at the first jump
    assert len(expected) == 0 and len(page(reader, c, total, ["date"], 9, 3, cached=True)) == 9


def test_terms_outside_the_subset_are_counted_with_sql(tmp_path, quiet):
    conn = _built(tmp_path / "g.db", n=200)
    seed = f"{5:064x}"[:8]
    for q in [f"similar:{seed}", f"face:{seed}.0", f"tag:dog or similar:{seed}",
              "tag:dog and year:2015", "tag:dog year:2015 iso > 100"]:  # fmt: skip
        c = compile_filtered(q, ["not tag:rare"])
        assert c.terms is None or facets.count(conn, c.terms) is None, q
        assert count(conn, c, cached=True) == count(conn, c), q
    assert facets.count(conn, compile_filtered("beach and iso > 100").terms or ()) is not None
    # one tag alone, or all but one tag: SQL reads the tag's index (less than a first read)
    held = facets._cache[str(tmp_path / "g.db")]
    for q in ["tag:dog", "not tag:cat"]:
        assert count(conn, compile_filtered(q), cached=True) == count(conn, q)
    assert not {"tag:dog", "tag:cat"} & set(held.loads)
    assert count(conn, compile_filtered("tag:dog or tag:cat"), cached=True) == count(
        conn, "tag:dog or tag:cat"
    )
    assert {"tag:dog", "tag:cat"} <= set(held.loads)
    assert facets.count(api.empty_database(), (compile_filtered("tag:dog").terms or ())) is None


def _canon(n: int) -> dict:
    """A new entry that `make:canon and iso > 800` finds."""
    r = entry(n, "2020:01:01 12:00:00", path=f"new/IMG_{n}.jpg")
    r["files"][0]["meta"] |= {"make": "CANON", "iso": 3200}
    return r


def test_a_commit_is_noticed(tmp_path, quiet):
    """A new entry changes the count (the cached state is of the file's signature) and
    while the file is being written (QUIET) a new state is not read: SQL counts."""
    path = tmp_path / "g.db"
    conn = _built(path, n=400)
    reader = db.connect(path, readonly=True)
    c = compile_filtered("make:canon and iso > 800")
    before = facets.count(reader, c.terms)
    assert before is not None and before == count(reader, c)
    old = facets._cache[str(path)]
    Builder(conn, print).apply_chunk([_canon(10**9)])
    after = facets.count(reader, c.terms)
    assert after == before + 1 == count(reader, c)
    assert facets._cache[str(path)] is not old
    # written a moment ago: not loaded while writes go on
    facets.QUIET = 60.0
    Builder(conn, print).apply_chunk([_canon(10**9 + 1)])
    assert facets.count(reader, c.terms) is None
    assert count(reader, c, cached=True) == before + 2
    later = time.time() - 120
    for name in (path, f"{path}-wal"):
        os.utime(name, (later, later))
    assert facets.count(reader, c.terms) == before + 2
