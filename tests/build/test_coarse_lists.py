"""hg_build.coarse_lists through hg_build.vectors and the query route: above the size the
hits of `similar:` come from the rows of a few lists, and they are the float32 route's on
clustered vectors (bench/similar.py's kind); below it, during the lists' build and for
`not similar:` every row is scanned; a new database state gets lists of its own."""

from __future__ import annotations

import threading
from collections import OrderedDict

import numpy as np
import pytest

from hg_build import coarse_lists, db, ml, schema, vectors
from hg_build.query.compile import SIMILAR_MIN
from hg_build.query.search import search_ids
from tests.build.test_vectors import clustered, insert

COUNT = 20_000
SIZE = 5_000  # coarse_lists.MIN_ROWS in these tests: COUNT rows get lists
PROBES = 4  # coarse_lists.PROBES here: 5 of 141 lists read, twice each row: ~7% of rows
SEEDS = range(0, COUNT, COUNT // 25)


def entry_id(n: int) -> str:
    return f"{n:06x}" + "cd" * 29


@pytest.fixture(scope="module")
def stored(tmp_path_factory):
    """(ids, float32 unit rows as stored, the database file's bytes) of COUNT clustered
    vectors; each test writes the file anew (one test adds entries to it)."""
    path = tmp_path_factory.mktemp("lists") / "gallery.db"
    conn = db.connect(path)
    schema.create(conn)
    ids = [entry_id(n) for n in range(COUNT)]
    insert(conn, ids, clustered(COUNT, COUNT // 60, seed=11))
    exact = np.array(
        [ml.split_blob(b)[1] for (b,) in conn.execute("SELECT similarity FROM entries")],
        np.float32,
    )
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    exact /= np.linalg.norm(exact, axis=1)[:, None]
    return ids, exact, path.read_bytes()


@pytest.fixture
def gallery(stored, tmp_path, monkeypatch):
    """A fresh copy of the database, an empty vectors cache, lists from SIZE rows."""
    ids, exact, data = stored
    path = tmp_path / "gallery.db"
    path.write_bytes(data)
    monkeypatch.setattr(vectors, "_cache", OrderedDict())
    monkeypatch.setattr(coarse_lists, "MIN_ROWS", SIZE)
    monkeypatch.setattr(coarse_lists, "PROBES", PROBES)
    return path, ids, exact


def float32_route(ids: list[str], exact: np.ndarray, seed: int) -> list[str]:
    cos = exact @ exact[seed]
    hits = [int(i) for i in np.flatnonzero(cos >= SIMILAR_MIN)]
    return [ids[i] for i in sorted(hits, key=lambda i: (-cos[i], -(i % 97), ids[i]))]


def test_the_lists_hits_are_the_float32_routes(gallery):
    path, ids, exact = gallery
    conn = db.connect(path, readonly=True)  # first: opening it may make the WAL file
    found = vectors.for_source(str(path))
    assert found.lists == []  # built once a seed is scored (`duplicates` scores none)
    found.start_lists()
    assert found.wait_lists(60)
    [lists] = found.lists
    assert lists is not None and len(lists.centroids) == coarse_lists.count_for(COUNT)
    # every row in SPILL lists, its own (the nearest) among them
    assert np.array_equal(np.sort(lists.order), np.repeat(np.arange(COUNT), coarse_lists.SPILL))
    own = lists.order[lists.starts[lists.list_of[7]] : lists.starts[lists.list_of[7] + 1]]
    assert 7 in own
    try:
        hits = 0
        for seed in SEEDS:
            want = float32_route(ids, exact, seed)
            assert list(search_ids(conn, f"similar:{ids[seed][:12]}")) == want, seed
            assert vectors.for_source(str(path)) is found
            held = found.scores(ids[seed][:12])
            assert held is not None and not held.whole
            read = int((~np.isnan(held.cosines)).sum())
            assert read < COUNT // 8, read  # a few lists, not every row
            hits += len(want)
        assert hits > 20 * len(SEEDS)  # clustered: tens of hits a seed
    finally:
        conn.close()


def test_not_similar_and_scores_of_rows_left_out_read_every_row(gallery):
    """`not similar:` excludes the float32 route's hits (a whole scan), and a score of a
    row no list read is its cosine, not NaN."""
    path, ids, exact = gallery
    conn = db.connect(path, readonly=True)
    found = vectors.for_source(str(path))
    found.start_lists()
    assert found.wait_lists(60) and found.lists[0] is not None
    seed = SEEDS[3]
    cos = exact @ exact[seed]
    partial = found.scores(ids[seed])
    assert partial is not None and not partial.whole
    far = int(np.flatnonzero(np.isnan(partial.cosines))[0])
    assert found.score(ids[seed], ids[far]) == pytest.approx(cos[far], abs=0.004)
    assert found.scores(ids[seed]).whole
    try:
        other = SEEDS[4]
        got = list(search_ids(conn, f"not similar:{ids[other]}"))
        hits = set(float32_route(ids, exact, other))
        assert len(got) == COUNT - len(hits) and not hits & set(got)
        assert found.scores(ids[other]).whole
    finally:
        conn.close()


def test_below_the_size_every_row_is_scanned(gallery, monkeypatch):
    path, ids, exact = gallery
    monkeypatch.setattr(coarse_lists, "MIN_ROWS", COUNT + 1)
    conn = db.connect(path, readonly=True)
    found = vectors.for_source(str(path))
    found.start_lists()
    assert found.wait_lists(0) and found.lists == [None]
    try:
        for seed in SEEDS[:5]:
            assert list(search_ids(conn, f"similar:{ids[seed]}")) == float32_route(ids, exact, seed)
            assert found.scores(ids[seed]).whole
    finally:
        conn.close()


def held(monkeypatch, name: str) -> tuple[threading.Event, threading.Event]:
    """coarse_lists.<name> made to wait, once called, until the test releases it:
    (started, release)."""
    started, release = threading.Event(), threading.Event()
    real = getattr(coarse_lists, name)

    def waiting(*args, **kwargs):
        started.set()
        assert release.wait(60)
        return real(*args, **kwargs)

    monkeypatch.setattr(coarse_lists, name, waiting)
    return started, release


def test_a_query_during_the_build_scans_every_row(gallery, monkeypatch):
    path, ids, exact = gallery
    started, release = held(monkeypatch, "build")
    conn = db.connect(path, readonly=True)
    found = vectors.for_source(str(path))
    try:
        seed = SEEDS[1]
        # the first seed starts the build, and is scored over every row meanwhile
        assert list(search_ids(conn, f"similar:{ids[seed]}")) == float32_route(ids, exact, seed)
        assert started.wait(10) and found.lists == [None]
        assert found.scores(ids[seed]).whole
        release.set()
        assert found.wait_lists(60) and found.lists[0] is not None
        seed = SEEDS[2]
        assert list(search_ids(conn, f"similar:{ids[seed]}")) == float32_route(ids, exact, seed)
        assert not found.scores(ids[seed]).whole
    finally:
        release.set()
        conn.close()


def test_a_new_state_gets_new_lists(gallery):
    """After a commit the cache reads the vectors again and builds their lists: an entry
    added with a seed's vector (and its cluster's) is found through the new lists; the
    old build is told to stop."""
    path, ids, exact = gallery
    first = vectors.for_source(str(path))
    first.start_lists()
    assert first.wait_lists(60)
    seed = SEEDS[5]
    want = float32_route(ids, exact, seed)
    conn = db.connect(path)
    # near copies of the seed: in its list's neighbourhood, hits of it
    rng = np.random.default_rng(5)
    added = exact[seed] + rng.normal(scale=0.01, size=(300, exact.shape[1]))
    new_ids = [entry_id(COUNT + n) for n in range(300)]
    insert(conn, new_ids, added)
    conn.close()
    second = vectors.for_source(str(path))
    assert second is not first and first._stop.is_set()
    second.start_lists()
    assert second.wait_lists(60)
    [lists] = second.lists
    assert lists is not None and len(lists.order) == (COUNT + 300) * coarse_lists.SPILL
    # 300 more rows: the first state's centroids, the rows put in lists again
    assert lists.centroids is first.lists[0].centroids and lists.list_of[-1] >= 0
    conn = db.connect(path, readonly=True)
    try:
        got = list(search_ids(conn, f"similar:{ids[seed]}"))
    finally:
        conn.close()
    assert set(got) == set(want) | set(new_ids)
    assert not second.scores(ids[seed]).whole


def test_a_build_stopped_keeps_no_lists(gallery, monkeypatch):
    """The cache dropped the vectors while their lists were built: the build ends at its
    next block and sets nothing."""
    path, _ids, _exact = gallery
    started, release = held(monkeypatch, "_round")
    found = vectors.for_source(str(path))
    found.start_lists()
    assert started.wait(10)
    found.stop()
    release.set()
    assert found.wait_lists(60) and found.lists == [None]


def test_centroids_of_an_earlier_state_are_reused_only_for_about_as_many_rows():
    rng = np.random.default_rng(3)
    rows = rng.integers(-127, 128, size=(4000, 16), dtype=np.int8)
    factors = (1 / np.linalg.norm(rows.astype(np.float32), axis=1)).astype(np.float32)
    first = coarse_lists.build(rows[:3600], factors[:3600])
    assert len(first.centroids) == 60
    again = coarse_lists.build(rows, factors, trained=first.centroids)  # 63 lists: within
    assert again.centroids is first.centroids and len(again.list_of) == 4000
    own = again.list_of[3900]
    members = again.order[again.starts[own] : again.starts[own + 1]]
    assert 3900 in members
    units = rows.astype(np.float32) * factors[:, None]
    assert own == np.argmax(first.centroids @ units[3900])
    bigger = coarse_lists.build(np.tile(rows, (2, 1)), np.tile(factors, 2), trained=first.centroids)
    assert len(bigger.centroids) == coarse_lists.count_for(8000)  # 89: trained anew
