"""hg_build.vectors' int8 rows against the float32 route they replaced, on clustered vectors
made as bench/similar.py makes them (random centres plus noise, stored as float16 unit
vectors: the api server's model's form), through the real schema and query route."""

from __future__ import annotations

import numpy as np
import pytest

from hg_build import db, ml, schema, vectors
from hg_build.query.compile import SIMILAR_MIN
from hg_build.query.search import search_ids

DIM = 720
COUNT = 12_000
ERROR = 0.004  # the int8 cosines' largest rounding, with room (measured up to 0.0028)


def clustered(count: int, clusters: int, seed: int = 7) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(clusters, DIM))
    data = centres[rng.integers(0, clusters, count)] + rng.normal(scale=0.75, size=(count, DIM))
    return data


def insert(conn, ids: list[str], data: np.ndarray) -> list[bytes]:
    """Entries with these ids and vectors (model "m"), in one transaction; their blobs."""
    blobs = [ml.vector_blob({"model": "m", "version": "1", "data": v.tolist()}) for v in data]
    conn.execute("BEGIN")
    conn.executemany(
        "INSERT INTO entries (id, type, date, ts, updated, files_count, tags_count, text, "
        "tags, extracted_tags, similarity) VALUES (?, 'image', '2020-01-01', ?, '', 0, 0, "
        "'', '[]', '[]', ?)",
        [(i, float(n % 97), b) for n, (i, b) in enumerate(zip(ids, blobs, strict=True))],
    )
    conn.execute("COMMIT")
    return blobs


@pytest.fixture(scope="module")
def gallery(tmp_path_factory):
    """A database file with COUNT entries, each with a float16 vector as `ml` stores it;
    (path, ids in row order, the stored vectors as float32 unit rows)."""
    path = tmp_path_factory.mktemp("vectors") / "gallery.db"
    conn = db.connect(path)
    schema.create(conn)
    ids = [f"{n:06x}" + "ab" * 29 for n in range(COUNT)]  # 64 characters, as blake3 hex
    blobs = insert(conn, ids, clustered(COUNT, COUNT // 60))
    conn.close()
    exact = np.array([ml.split_blob(b)[1] for b in blobs], np.float32)
    exact /= np.linalg.norm(exact, axis=1)[:, None]
    return path, ids, exact


SEEDS = range(0, COUNT, COUNT // 25)


def test_int8_cosines_are_the_float32_ones_within_the_rounding(gallery):
    """The int8 product alone (no exact re-score): the same hits at HomeGallery's 0.5 but
    those within the rounding of it, the same order but for near-ties."""
    path, ids, exact = gallery
    found = vectors.for_source(str(path))
    [group] = found.groups
    assert group.rows.dtype == np.int8 and group.ids.tolist() == ids
    hits, moved = 0, 0
    for seed in SEEDS:
        want, got = exact @ exact[seed], group.cosines(seed)
        assert np.abs(want - got).max() < ERROR, seed
        assert abs(got[seed] - 1) < 1e-6
        a, b = set(np.flatnonzero(want >= SIMILAR_MIN)), set(np.flatnonzero(got >= SIMILAR_MIN))
        assert all(abs(want[i] - SIMILAR_MIN) < ERROR for i in a ^ b), seed
        moved += len(a ^ b)
        both = np.array(sorted(a & b))
        hits += len(both)
        w, g = want[both], got[both]
        swapped = (w[:, None] - w[None, :] > 2 * ERROR) & (g[:, None] < g[None, :])
        assert not swapped.any(), seed
    assert hits > 20 * len(SEEDS) and moved < hits / 20  # clustered: tens of hits a seed


def test_similar_gives_the_float32_routes_ids_and_order(gallery):
    """Through `search_ids` (the SQL functions, the cache, the exact re-score of the rows
    near and above the threshold): exactly what the float32 matrix gave."""
    path, ids, exact = gallery
    conn = db.connect(path, readonly=True)
    try:
        for seed in SEEDS:
            cos = exact @ exact[seed]
            hits = [int(i) for i in np.flatnonzero(cos >= SIMILAR_MIN)]
            # ties: newest first, then by id (ts is n % 97)
            want = [ids[i] for i in sorted(hits, key=lambda i: (-cos[i], -(i % 97), ids[i]))]
            assert list(search_ids(conn, f"similar:{ids[seed][:10]}")) == want, seed
            held = vectors.for_source(str(path)).scores(ids[seed][:10])
            assert np.allclose(held.cosines[hits], cos[hits], atol=1e-6)
    finally:
        conn.close()


def test_the_ids_are_arrays_and_prefixes_find_the_first_in_row_order(gallery):
    path, ids, _exact = gallery
    found = vectors.for_source(str(path))
    assert found.sorted_ids.dtype == np.dtype("S64") and found.rank.dtype == np.int32
    assert found.seed(ids[5]) == ids[5] and found.seed(ids[5][:6]) == ids[5]
    # "0000" starts ids 0..15 (hex counter): the first in row order is the seed
    assert found.seed("0000") == ids[0] and found.seed("zz") is None
    assert found.score(ids[3], ids[3]) == pytest.approx(1, abs=1e-6)
    assert found.score(ids[3], "no such id") is None
    # the hash table finds every id at its place, and nothing else
    places = [found._place(i) for i in ids]
    assert [found.sorted_ids[p].decode() for p in places] == ids
    assert found._place(ids[3][:-1] + "x") == -1 and found._place("") == -1
    assert (found.slots >= 0).sum() == len(ids) and len(found.slots) >= 2 * len(ids)


def graph():
    """The ONNX model of `vectors.GRAPH`, made with onnx.helper. Write the file again with
    .venv/bin/python -c "from tests.build.test_vectors import write; write()"."""
    from onnx import TensorProto, helper

    spec = helper.make_tensor_value_info
    g = helper.make_graph(
        [helper.make_node("MatMulInteger", ["rows", "seed"], ["sums"])],
        "similar",
        [spec("rows", TensorProto.INT8, ["n", "d"]), spec("seed", TensorProto.INT8, ["d", 1])],
        [spec("sums", TensorProto.INT32, ["n", 1])],
    )
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8  # what onnxruntime 1.17 (the oldest allowed) reads
    return model


def write() -> None:
    vectors.GRAPH.write_bytes(graph().SerializeToString())


def test_the_shipped_graph_is_onnx_helpers():
    import onnx

    shipped = onnx.load_from_string(vectors.GRAPH.read_bytes())
    onnx.checker.check_model(shipped)
    made = graph()
    assert shipped.graph == made.graph and shipped.opset_import == made.opset_import


def test_the_int8_kernel_sums_exactly_even_at_the_extremes():
    """onnxruntime's MatMulInteger against numpy's int64 product on ±127 everywhere (where
    int16 pair sums would saturate), and the float32 fallback against both."""
    rng = np.random.default_rng(3)
    rows = rng.choice(np.array([-127, 127, 0, 1], np.int8), size=(5000, DIM))
    seed = rng.choice(np.array([-127, 127], np.int8), size=DIM)
    kernel = vectors._Int8Product()
    assert kernel.session is not None  # onnxruntime runs it (a dependency)
    want = rows.astype(np.int64) @ seed.astype(np.int64)
    assert np.array_equal(kernel(rows, seed), want)
    kernel.session = None
    assert np.array_equal(kernel(rows, seed), want)


def test_duplicates_give_the_float32_pairs(gallery):
    """`hg-build duplicates`' pairs over the int8 rows, the ones near the threshold scored
    again from the stored vectors: exactly the float32 matrix's pairs and scores."""
    from hg_build.duplicates import find_duplicates

    path, ids, exact = gallery
    threshold = 0.6  # clustered noise: a few thousand pairs, many near the threshold
    want = {}
    for start in range(0, COUNT, 3000):
        block = exact[start : start + 3000] @ exact.T
        for a, b in zip(*np.nonzero(block >= threshold), strict=True):
            if a + start < b:
                want[(ids[a + start], ids[b])] = float(block[a, b])
    near = sum(abs(s - threshold) < ERROR for s in want.values())
    got = {}
    conn = db.connect(path, readonly=True)
    try:
        for _ in find_duplicates(conn, "", threshold, on_pair=lambda r: got.update(
            {tuple(sorted((r["a"], r["b"]))): r["score"]})):  # fmt: skip
            pass
    finally:
        conn.close()
    assert len(want) > 1000 and near > 20  # the int8 cosines alone would move some of these
    assert set(got) == set(want)
    assert all(abs(got[p] - round(want[p], 4)) < 2e-4 for p in want)
