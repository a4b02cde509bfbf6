"""Similar images and objects in the gallery, through the real hg-index | hg-extract |
hg-build: `similar:<id>` by cosine with HomeGallery's threshold, objects as search terms,
the same after a rebuild, vectors of two models never compared; and the pure encodings
(HomeGallery's 2-bit packing and its web app's cosine, objects by model threshold)."""

from __future__ import annotations

import base64
import math
import shutil
import sqlite3

import numpy as np
import orjson
import pytest
from PIL import Image

from hg_build import ml
from hg_common import layout
from hg_extract.ml.labels import COCO80
from tests.build.conftest import hg_build, query, run
from tests.conftest import media_file
from tests.extract.api_server import FakeApiServer

GPS = "exif-samples/jpg/gps/"
PHOTOS = ["DSCN0010", "DSCN0012", "DSCN0021", "DSCN0025", "DSCN0027", "DSCN0029", "DSCN0040"]


def pipeline(home, src, *extract_args: str) -> None:
    index = run("hg-index", str(src), home=home)
    extract = run("hg-extract", "--no-progress", "--no-geo", *extract_args, home=home,
                  stdin=index.stdout)  # fmt: skip
    assert extract.returncode == 0, extract.stderr.decode()
    build = run("hg-build", home=home, stdin=extract.stdout)
    assert build.returncode == 0, build.stderr.decode()


def recompressed(path, dest, size: int, quality: int, crop: float = 0.0) -> None:
    img = Image.open(path).convert("RGB")
    w, h = img.size
    img = img.crop((int(w * crop), int(h * crop), w - int(w * crop), h - int(h * crop)))
    img.thumbnail((size, size))
    img.save(dest, "JPEG", quality=quality)


def ids_by_name(home) -> dict[str, str]:
    return {r["files"][0]["path"].rsplit("/", 1)[-1]: r["id"] for r in query(home, "")}


def names(results) -> list[str]:
    return [r["files"][0]["path"].rsplit("/", 1)[-1] for r in results]


@pytest.fixture(scope="module")
def gallery(tmp_path_factory):
    base = tmp_path_factory.mktemp("ml-gallery")
    src, home = base / "src", base / "home"
    src.mkdir()
    for name in PHOTOS:
        shutil.copyfile(media_file(f"{GPS}{name}.jpg"), src / f"{name}.jpg")
    recompressed(src / "DSCN0029.jpg", src / "car-copy.jpg", 400, 50)
    recompressed(src / "DSCN0040.jpg", src / "church-crop.jpg", 600, 70, crop=0.04)
    pipeline(home, src, "--jobs", "2")
    return home


def stored_vectors(home, ids: dict[str, str]) -> dict[str, np.ndarray]:
    out = {}
    for name, entry_id in ids.items():
        data = orjson.loads(layout.path(home / "storage", entry_id, layout.SIMILARITY).read_bytes())
        out[name] = np.asarray(data["data"], np.float64)
    return out


def test_similar_is_ordered_by_cosine_above_homegallerys_threshold(gallery):
    ids = ids_by_name(gallery)
    vectors = stored_vectors(gallery, ids)
    for seed, copy in (("DSCN0029.jpg", "car-copy.jpg"), ("DSCN0040.jpg", "church-crop.jpg")):
        results = names(query(gallery, f"similar:{ids[seed][:8]}"))
        assert results[:2] == [seed, copy]  # itself, then its re-saved copy
        cos = {n: float(v @ vectors[seed]) for n, v in vectors.items()}
        expected = sorted((n for n in cos if cos[n] >= 0.5), key=lambda n: -cos[n])
        assert results == expected


def direct_similar(home, query_ids: list[str]) -> list[str]:
    """`similar:A [or similar:B…]` computed row by row with `ml.cosine` (the SQL route's
    function) over the stored blobs: ids at or above 0.5 by the best cosine, then newest."""
    with sqlite3.connect(home / "gallery.db") as conn:
        rows = conn.execute("SELECT id, ts, similarity FROM entries ORDER BY rowid").fetchall()
    blobs = {entry_id: blob for entry_id, _ts, blob in rows}
    seeds = [next(b for i, _t, b in rows if b is not None and i.startswith(q)) for q in query_ids]
    scores = {i: [ml.cosine(blobs[i], s) for s in seeds] for i in blobs}
    hits = [(i, ts) for i, ts, _b in rows if any(c is not None and c >= 0.5 for c in scores[i])]
    return [i for i, ts in sorted(hits, key=lambda h: (-max(scores[h[0]]), -h[1], h[0]))]


def test_the_numpy_route_gives_the_ids_and_order_of_a_cosine_per_row(gallery):
    ids = ids_by_name(gallery)
    assert len(ids) == len(PHOTOS) + 2
    for name, entry_id in ids.items():
        for prefix in (entry_id, entry_id[:6]):
            found = [r["id"] for r in query(gallery, f"similar:{prefix}")]
            assert found == direct_similar(gallery, [prefix]), (name, prefix)
            assert found[0] == entry_id
    a, b = ids["DSCN0029.jpg"], ids["DSCN0010.jpg"]
    both = [r["id"] for r in query(gallery, f"similar:{a} or similar:{b[:7]}")]
    assert both == direct_similar(gallery, [a, b[:7]])
    assert set(both) > {a, ids["car-copy.jpg"], b}
    rest = {r["id"] for r in query(gallery, f"not similar:{a}")}
    assert rest == set(ids.values()) - set(direct_similar(gallery, [a]))
    assert query(gallery, "similar:0000000") == []  # no such entry: nothing is similar


def test_a_long_lived_connection_sees_new_vectors(gallery, tmp_path):
    """hg-serve keeps its connections: the cached matrix is read again after a build."""
    from hg_build import db
    from hg_build.query.search import search_ids

    home = tmp_path / "home"
    shutil.copytree(gallery, home)
    seed = ids_by_name(home)["DSCN0029.jpg"]
    conn = db.connect(home / "gallery.db", readonly=True)
    try:
        before = list(search_ids(conn, f"similar:{seed}"))
        src = tmp_path / "more"
        src.mkdir()
        recompressed(media_file(f"{GPS}DSCN0029.jpg"), src / "car-again.jpg", 500, 60)
        pipeline(home, src)
        after = list(search_ids(conn, f"similar:{seed}"))
    finally:
        conn.close()
    again = ids_by_name(home)["car-again.jpg"]
    assert again not in before and again in after[:3]
    assert after == direct_similar(home, [seed])


def duplicates(home, *args: str) -> list[dict]:
    proc = hg_build(home, "duplicates", "--json", *args, check=False)
    assert proc.returncode == 0, proc.stderr.decode()
    return [orjson.loads(line) for line in proc.stdout.splitlines()]


def test_duplicates_are_the_resaved_and_cropped_copies(gallery):
    ids = ids_by_name(gallery)
    name = {v: k for k, v in ids.items()}
    groups = duplicates(gallery)
    assert all(g["type"] == "duplicate-group" and g["v"] == 1 for g in groups)
    assert sorted(sorted(name[i] for i in g["ids"]) for g in groups) == [
        ["DSCN0029.jpg", "car-copy.jpg"],
        ["DSCN0040.jpg", "church-crop.jpg"],
    ]
    with sqlite3.connect(gallery / "gallery.db") as conn:
        blobs = dict(conn.execute("SELECT id, similarity FROM entries"))
    records = duplicates(gallery, "--pairs")
    pairs = [r for r in records if r["type"] == "duplicate-pair"]
    assert [r for r in records if r["type"] == "duplicate-group"] == groups
    assert len(pairs) == 2
    for pair in pairs:
        assert pair["score"] == pytest.approx(
            ml.cosine(blobs[pair["a"]], blobs[pair["b"]]), abs=1e-3
        )
        group = next(g for g in groups if pair["a"] in g["ids"])
        assert pair["b"] in group["ids"] and group["min_score"] == pair["score"]
    # a query limits what is compared: a user's filter never joins what they cannot see
    left = duplicates(gallery, "not filename:car-copy.jpg")
    assert [sorted(name[i] for i in g["ids"]) for g in left] == [
        ["DSCN0040.jpg", "church-crop.jpg"]
    ]
    everything = duplicates(gallery, "--threshold", "-1")
    assert [len(g["ids"]) for g in everything] == [len(ids)]
    text = hg_build(gallery, "duplicates").stdout.decode()
    assert text.count("\n\n") == 2 and "car-copy.jpg" in text and "DSCN0010" not in text
    assert hg_build(gallery, "duplicates", "--threshold", "2", check=False).returncode == 2


def test_objects_are_search_terms(gallery):
    cars = set(names(query(gallery, "object:car")))
    assert {"DSCN0029.jpg", "car-copy.jpg"} <= cars
    assert set(names(query(gallery, "objects:(dog or car)"))) == cars
    assert set(names(query(gallery, "object in (dog, car)"))) == cars
    assert {"DSCN0029.jpg", "car-copy.jpg"} <= set(names(query(gallery, "car")))  # free text
    assert "DSCN0040.jpg" in names(query(gallery, "object:person"))
    found = {o["class"] for r in query(gallery, "") for o in r["objects"]}
    absent = next(label for label in COCO80 if label not in found)
    assert query(gallery, f"object:'{absent}'") == []
    [media] = [r for r in query(gallery, "object:car") if r["files"][0]["path"] == "DSCN0029.jpg"]
    car = next(o for o in media["objects"] if o["class"] == "car")
    assert car["score"] >= 0.3 and 0 <= car["x"] < 1 and 0 < car["width"] <= 1


def test_vectors_are_stored_compactly_with_their_model(gallery):
    with sqlite3.connect(gallery / "gallery.db") as conn:
        blobs = [row[0] for row in conn.execute("SELECT similarity FROM entries")]
    tag = b"centernet-mbv3-coco/human-models-3.0.4\0h"
    assert all(b.startswith(tag) and len(b) == len(tag) + 720 * 2 for b in blobs)


def test_a_rebuild_gives_the_same_similar_and_objects(gallery, tmp_path):
    home = tmp_path / "home"
    shutil.copytree(gallery, home)
    ids = ids_by_name(gallery)
    before = [names(query(home, q)) for q in ("object:car", f"similar:{ids['DSCN0029.jpg']}")]
    proc = hg_build(home, "--rebuild")
    assert proc.returncode == 0, proc.stderr.decode()
    after = [names(query(home, q)) for q in ("object:car", f"similar:{ids['DSCN0029.jpg']}")]
    assert after == before


def test_vectors_of_two_models_are_never_compared(tmp_path):
    """Half the gallery from a HomeGallery api server, half from the local model."""
    home = tmp_path / "home"
    api_src, local_src = tmp_path / "a", tmp_path / "b"
    for folder, picks in ((api_src, PHOTOS[:3]), (local_src, PHOTOS[3:6])):
        folder.mkdir()
        for name in picks:
            shutil.copyfile(media_file(f"{GPS}{name}.jpg"), folder / f"{name}.jpg")
    with FakeApiServer() as server:
        server.objects = [{"bbox": [0, 0, 10, 10], "class": "dog", "score": 0.61},
                          {"bbox": [0, 0, 10, 10], "class": "cat", "score": 0.6}]  # fmt: skip
        pipeline(home, api_src, "--ml", "api", server.url)
    pipeline(home, local_src)
    ids = ids_by_name(home)
    api_names = {f"{n}.jpg" for n in PHOTOS[:3]}
    local_names = {f"{n}.jpg" for n in PHOTOS[3:6]}
    for name in api_names:
        assert set(names(query(home, f"similar:{ids[name]}"))) <= api_names
    for name in local_names:
        assert set(names(query(home, f"similar:{ids[name]}"))) <= local_names
    # HomeGallery's score threshold for its coco-ssd objects: > 0.6
    assert set(names(query(home, "object:dog"))) == api_names
    assert query(home, "object:cat") == []
    with sqlite3.connect(home / "gallery.db") as conn:
        lengths = {len(b) for (b,) in conn.execute("SELECT similarity FROM entries")}
    assert len(b"mobilenet/v1_1.0\0q") + 86 in lengths  # HomeGallery's packing


def test_an_ml_record_for_an_entry_that_is_gone_is_skipped(tmp_path):
    home = tmp_path / "home"
    record = {"type": "ml", "v": 1, "id": "ab" * 32, "source": "s", "path": "x.jpg",
              "objects": {"model": "cocossd", "width": 1, "height": 1, "data": []}}  # fmt: skip
    proc = run("hg-build", home=home, stdin=orjson.dumps(record) + b"\n")
    assert proc.returncode == 0, proc.stderr.decode()


# -- pure: the encodings --------------------------------------------------------------------


def homegallery_hash(data: list[float]) -> str:
    """HomeGallery's browserEncoder (database/src/media/similarity.js), ported as written."""
    values = [v for i, v in enumerate(data) if i % 3 == 0]
    out = bytearray()
    for i in range(0, len(values), 4):
        byte = 0
        for k in range(4):
            v = values[i + k] if i + k < len(values) else 0
            q = math.floor(3 * math.sqrt(min(1, max(0, v / 2.875))) + 0.5)
            byte |= q << (6 - 2 * k)
        out.append(byte)
    return base64.b64encode(bytes(out)).decode()


def homegallery_cosine(a: str, b: str) -> float:
    """HomeGallery's web app cosineSimilarity over base64 characters, ported as written."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    num = den_a = den_b = 0.0
    for ca, cb in zip(a, b, strict=True):
        va, vb = alphabet.find(ca), alphabet.find(cb)
        va, vb = max(va, 0), max(vb, 0)
        for _ in range(3):
            x, y = (va & 3) ** 2 / 9, (vb & 3) ** 2 / 9
            num, den_a, den_b = num + x * y, den_a + x * x, den_b + y * y
            va, vb = va >> 2, vb >> 2
    return num / (math.sqrt(den_a) * math.sqrt(den_b))


def test_homegallerys_packing_and_cosine():
    rng = np.random.default_rng(1)
    for _ in range(20):
        a, b = (np.abs(rng.normal(0.8, 0.9, 1024)).tolist() for _ in range(2))
        blob_a, blob_b = (ml.vector_blob({"model": "mobilenet", "version": "v1_1.0", "data": v})
                          for v in (a, b))  # fmt: skip
        tag = b"mobilenet/v1_1.0\0q"
        assert base64.b64encode(blob_a[len(tag) :]).decode() == homegallery_hash(a)
        expected = homegallery_cosine(homegallery_hash(a), homegallery_hash(b))
        assert ml.cosine(blob_a, blob_b) == pytest.approx(expected, abs=1e-6)


def test_float16_vectors_keep_the_cosine():
    rng = np.random.default_rng(2)
    a, b = rng.normal(size=720), rng.normal(size=720)
    blob = {n: ml.vector_blob({"model": "m", "version": "1", "data": v.tolist()})
            for n, v in (("a", a), ("b", b))}  # fmt: skip
    exact = float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))
    assert ml.cosine(blob["a"], blob["b"]) == pytest.approx(exact, abs=2e-3)
    other = ml.vector_blob({"model": "m", "version": "2", "data": b.tolist()})
    assert ml.cosine(blob["a"], other) is None  # another model version: not comparable
    assert ml.cosine(blob["a"], None) is None and ml.vector_blob({"data": []}) is None


def test_objects_by_the_models_threshold_with_relative_boxes():
    def objects(model, scores):
        value = {"model": model, "width": 800, "height": 400,
                 "data": [{"bbox": [80, 40, 400, 200], "class": f"c{s}", "score": s}
                          for s in scores]}  # fmt: skip
        return ml.objects_list(value)

    assert [o["class"] for o in objects("cocossd", [0.6, 0.61, 0.9])] == ["c0.9", "c0.61"]
    assert [o["class"] for o in objects("centernet-mbv3-coco", [0.29, 0.3, 0.5])] == [
        "c0.5",
        "c0.3",
    ]
    [box] = objects("other", [0.7])
    assert box == {"class": "c0.7", "score": 0.7, "x": 0.1, "y": 0.1, "width": 0.5, "height": 0.5}
    assert ml.objects_list({"data": "x"}) == [] and ml.objects_list([{"class": "a"}]) == [
        {"class": "a"}
    ]


def test_an_in_memory_database_and_vectors_that_are_not_comparable():
    """Through the real schema in memory (hg-serve's gallery before any build): vectors of
    two models, two lengths, a zero vector and a script's list; `similar:` compares only
    like with like, in the order of a cosine per row."""
    from hg_build import db, schema
    from hg_build.query.search import search_ids

    conn = db.connect(":memory:")
    schema.create(conn)
    rng = np.random.default_rng(5)
    base = rng.normal(size=720)
    values = {
        "a00001": {"model": "m", "version": "1", "data": base.tolist()},
        "a00002": {"model": "m", "version": "1", "data": (base + rng.normal(size=720)).tolist()},
        "a00003": {"model": "m", "version": "1", "data": (-base).tolist()},
        "b00001": {"model": "m", "version": "2", "data": base.tolist()},  # another version
        "c00001": {"model": "m", "version": "1", "data": base[:360].tolist()},  # another length
        "d00001": [0.0] * 720,  # a script's zero vector: no direction
        "e00001": base.tolist(),  # a script's list: model ""
    }
    blobs = {k: ml.vector_blob(v) for k, v in values.items()}
    blobs["d00001"] = b"/\0f" + np.zeros(720, np.float32).tobytes()
    for n, (entry_id, blob) in enumerate(blobs.items()):
        conn.execute(
            "INSERT INTO entries (id, type, date, ts, updated, files_count, tags_count, text, "
            "tags, extracted_tags, similarity) VALUES (?, 'image', '2020-01-01', ?, '', 0, 0, "
            "'', '[]', '[]', ?)",
            (entry_id, float(n), blob),
        )
    for seed in blobs:
        cos = {i: ml.cosine(b, blobs[seed]) for i, b in blobs.items()}
        hits = sorted((i for i, c in cos.items() if c is not None and c >= 0.5),
                      key=lambda i: (-cos[i], -list(blobs).index(i)))  # fmt: skip
        assert list(search_ids(conn, f"similar:{seed}")) == hits, seed
    assert list(search_ids(conn, "similar:a00001")) == ["a00001", "a00002"]
    assert list(search_ids(conn, "similar:d00001")) == []
    # a prefix: the first entry in row order that has it is the seed
    assert list(search_ids(conn, "similar:a0000")) == ["a00001", "a00002"]
    # several seeds order by the best cosine, but a row one of them cannot compare has
    # none (SQLite's max() of a NULL, as the per-row route had it): those go newest first
    both = list(search_ids(conn, "similar:a00003 or similar:b00001"))
    assert both == ["b00001", "a00003"]


def test_a_changed_database_frees_the_old_matrices(gallery, tmp_path):
    """Connections that asked before a commit do not keep the matrices of the state the
    cache replaced (hg-serve's readers would hold one copy each)."""
    import gc
    import weakref

    from hg_build import db, vectors
    from hg_build.query.search import search_ids

    home = tmp_path / "home"
    shutil.copytree(gallery, home)
    ids = ids_by_name(home)
    seed, other = ids["DSCN0010.jpg"], ids["DSCN0029.jpg"]
    readers = [db.connect(home / "gallery.db", readonly=True) for _ in range(2)]
    writer = db.connect(home / "gallery.db")
    try:
        for conn in readers:
            assert other not in list(search_ids(conn, f"similar:{seed}"))[:1]
        old = weakref.ref(vectors.for_source(str(home / "gallery.db")))
        # the seed's vector becomes the car photo's: the car is now the most similar
        (blob,) = writer.execute("SELECT similarity FROM entries WHERE id = ?", (other,)).fetchone()
        writer.execute("UPDATE entries SET similarity = ? WHERE id = ?", (blob, seed))
        found = list(search_ids(readers[0], f"similar:{seed}"))
        assert set(found[:2]) == {seed, other} and found == direct_similar(home, [seed])
        gc.collect()
        assert old() is None  # readers[1] asked before the commit and holds nothing
    finally:
        for conn in (*readers, writer):
            conn.close()
