"""The local ML backend: pure pre/post-processing, the shipped model, and its quality on real
photos (near-duplicates rank first; a car and people are found)."""

from __future__ import annotations

import io
import re
import shutil

import numpy as np
import pytest
from PIL import Image

from hg_extract.ml import MLError, ModelError
from hg_extract.ml import local as ml
from hg_extract.ml.labels import COCO80
from hg_extract.previews import open_oriented
from tests.conftest import REPO, media_file

GPS = "exif-samples/jpg/gps/"
PHOTOS = [f"{GPS}DSCN00{n}.jpg" for n in ("10", "12", "21", "25", "27", "29", "38", "40", "42")]
OTHERS = [
    "exif-samples/jpg/Reconyx_HC500_Hyperfire.jpg",
    "exif-samples/jpg/orientation/landscape_1.jpg",
    "tricky/Straße_ümlaut.jpg",
    "tricky/sidecar/IMG_0001.jpg",
    "tricky/sidecar/IMG_0002.jpg",
]


# -- pure functions ---------------------------------------------------------------------------


def test_preprocess_is_a_plain_rgb_resize_to_512_in_0_255():
    img = Image.new("L", (800, 600), 200)
    x = ml.preprocess(img)
    assert x.shape == (1, 512, 512, 3) and x.dtype == np.float32
    assert float(x.min()) == float(x.max()) == 200.0  # no normalisation, grey -> RGB
    red = ml.preprocess(Image.new("RGB", (30, 70), (255, 0, 0)))
    assert red[0, 100, 100].tolist() == [255.0, 0.0, 0.0]


def test_detections_are_thresholded_normalised_clipped_and_sorted():
    raw = np.array(
        [
            [
                [0, 0, 256, 512, 0.5, 16],  # dog, left half
                [-20, 100, 600, 612, 0.9, 0],  # person, clipped to the image
                [10, 10, 20, 20, 0.1, 2],  # below the threshold
                [10, 10, 10, 50, 0.8, 2],  # no width
                [10, 10, 50, 50, 0.7, 80],  # no such class
                [10, 10, 50, 50, np.nan, 2],  # not a number
            ]
        ],
        dtype=np.float32,
    )
    found = ml.detections(raw, min_score=0.2)
    assert [d.label for d in found] == ["person", "dog"]
    person, dog = found
    assert person.box == pytest.approx((0.0, 100 / 512, 1.0, 412 / 512))
    assert dog.box == pytest.approx((0.0, 0.0, 0.5, 1.0))
    assert dog.score == pytest.approx(0.5)


def test_at_most_twenty_detections_best_first():
    rows = [[0, 0, 100, 100, 0.3 + i / 1000, 0] for i in range(100)]
    found = ml.detections(np.array([rows], np.float32))
    assert len(found) == ml.MAX_OBJECTS == 20
    assert found[0].score == pytest.approx(0.399)


def test_embedding_is_l2_normalised_and_an_empty_one_is_an_error():
    vec = ml.embedding(np.arange(720, dtype=np.float32).reshape(1, 1, 1, 720))
    assert vec.shape == (720,) and vec.dtype == np.float32
    assert float(np.linalg.norm(vec)) == pytest.approx(1.0, abs=1e-6)
    with pytest.raises(MLError, match="no usable embedding"):
        ml.embedding(np.zeros((1, 1, 1, 720), np.float32))
    with pytest.raises(MLError, match="no usable embedding"):
        ml.embedding(np.ones(100, np.float32))


def test_threads_share_the_cores_among_workers():
    assert ml.threads_for(1, 2) == 2
    assert ml.threads_for(2, 2) == 1
    assert ml.threads_for(4, 2) == 1
    assert ml.threads_for(2, 8) == 4


def test_stored_json_has_the_model_and_pixel_boxes_of_the_preview():
    analysis = ml.Analysis(
        [ml.Detection("dog", 0.37123, (0.25, 0.5, 0.5, 0.25))],
        np.full(720, 1 / np.sqrt(720), np.float32),
        800,
        600,
    )
    sim = ml.similarity_json(analysis, "2024-01-01T00:00:00Z")
    assert (sim["model"], sim["version"], sim["dim"]) == (ml.MODEL_NAME, ml.MODEL_VERSION, 720)
    assert len(sim["data"]) == 720
    obj = ml.objects_json(analysis, "2024-01-01T00:00:00Z")
    assert (obj["width"], obj["height"]) == (800, 600)
    assert obj["data"] == [{"bbox": [200.0, 300.0, 400.0, 150.0], "class": "dog", "score": 0.371}]


def test_the_labels_are_cocos_80():
    assert len(COCO80) == 80 and COCO80[0] == "person" and COCO80[16] == "dog"
    assert COCO80[2] == "car" and COCO80[7] == "truck" and COCO80[79] == "toothbrush"


# -- the shipped model ------------------------------------------------------------------------


def test_the_shipped_model_is_the_one_in_notice():
    assert ml.file_sha256(ml.MODEL_FILE) == ml.MODEL_SHA256
    notice = (REPO / "hg_extract" / "models" / "NOTICE").read_text()
    assert re.search(rf"{ml.MODEL_SHA256}\s+centernet-mbv3-coco.onnx", notice)
    assert "MIT" in notice and "no licence file" in notice


@pytest.fixture(scope="module")
def model():
    return ml.LocalModel(threads=2)


def test_a_damaged_model_file_is_a_clear_error(tmp_path):
    bad = tmp_path / "model.onnx"
    data = bytearray(ml.MODEL_FILE.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one flipped byte inside the weights
    bad.write_bytes(bytes(data))
    with pytest.raises(ModelError, match="is damaged: sha256"):
        ml.LocalModel(bad)
    bad.write_bytes(b"not a model")
    with pytest.raises(ModelError, match="cannot be loaded"):
        ml.LocalModel(bad, sha256=None)
    with pytest.raises(ModelError, match="No such file"):
        ml.LocalModel(tmp_path / "missing.onnx")


def test_a_preview_the_model_cannot_read_is_a_clear_error(model, tmp_path):
    for name, data in {
        "empty.jpg": b"",
        "text.jpg": b"not an image",
        "cut.jpg": media_file(f"{GPS}DSCN0010.jpg").read_bytes()[:3000],
    }.items():
        (tmp_path / name).write_bytes(data)
        with pytest.raises(MLError, match="the preview cannot be read"):
            model.analyse(tmp_path / name)


def preview(rel: str, size: int = 800) -> Image.Image:
    """The image as hg-extract's 800 px preview sees it (upright, RGB, long side <= 800)."""
    img, _ = open_oriented(media_file(rel), size)
    img.thumbnail((size, size))
    return img


def recompressed(img: Image.Image, size: int, quality: int, crop: float = 0.0) -> Image.Image:
    w, h = img.size
    dx, dy = int(w * crop), int(h * crop)
    copy = img.crop((dx, dy, w - dx, h - dy))
    copy.thumbnail((size, size))
    buf = io.BytesIO()
    copy.save(buf, "JPEG", quality=quality)
    return Image.open(io.BytesIO(buf.getvalue())).convert("RGB")


def test_a_real_preview_file_gives_a_unit_vector(model, tmp_path):
    path = tmp_path / "p.jpg"
    shutil.copyfile(media_file(f"{GPS}DSCN0029.jpg"), path)
    analysis = model.analyse(path)
    assert (analysis.width, analysis.height) == (640, 480)
    assert float(np.linalg.norm(analysis.embedding)) == pytest.approx(1.0, abs=1e-5)


def test_near_duplicates_rank_first(model):
    """Every photo's resized, recompressed, slightly cropped copy (and the committed byte copy
    of DSCN0010) finds its original as the nearest of all the photos."""
    names = PHOTOS + OTHERS
    originals = np.stack([model.run(preview(n)).embedding for n in names])
    copy = media_file("tricky/duplicates/DSCN0010 copy.jpg")
    queries = {f"{GPS}DSCN0010.jpg": model.analyse(copy).embedding}
    for n in PHOTOS:
        queries[n + " (copy)"] = model.run(recompressed(preview(n), 480, 55, 0.03)).embedding
    scores = []
    for name, vec in queries.items():
        cos = originals @ vec
        best = names[int(np.argmax(cos))]
        assert best == name.removesuffix(" (copy)"), (name, best, sorted(cos)[-2:])
        scores.append(float(np.sort(cos)[-1] - np.sort(cos)[-2]))
    assert min(scores) > 0.02  # the original is clearly ahead of the next photo


@pytest.mark.parametrize(
    "rel,label",
    [
        (f"{GPS}DSCN0029.jpg", "car"),  # a street with parked cars
        (f"{GPS}DSCN0040.jpg", "person"),  # people in front of a church
        (f"{GPS}DSCN0025.jpg", "person"),  # two people walking up a street
    ],
)
def test_labels_on_real_photos(model, rel, label):
    found = {d.label for d in model.run(preview(rel)).detections if d.score >= 0.3}
    assert label in found, found


EXIF_ORG = "exif-samples/jpg/exif-org/"


@pytest.mark.parametrize(
    "rel,label",
    [
        (f"{EXIF_ORG}fujifilm-finepix40i.jpg", "dog"),
        (f"{EXIF_ORG}kodak-dc240.jpg", "dog"),  # a dog on a rug
        (f"{EXIF_ORG}nikon-e950.jpg", "truck"),  # a pickup truck
        (f"{EXIF_ORG}olympus-c960.jpg", "car"),  # a rally car
        (f"{EXIF_ORG}sony-d700.jpg", "person"),  # a shop scene
    ],
)
def test_labels_on_the_shared_photos(model, rel, label):
    """../shared/media's labelled photos (checked by eye): skipped where it is absent."""
    found = {d.label for d in model.run(preview(rel)).detections if d.score >= 0.3}
    assert label in found, found


@pytest.mark.parametrize("pair", ["canon_hdr", "iphone_hdr"])
def test_hdr_pairs_of_the_shared_photos_rank_first(model, pair):
    """Two exposures of one scene (HDR off/on) are each other's nearest photo."""
    a, b = (f"exif-samples/jpg/hdr/{pair}_{s}.jpg" for s in ("NO", "YES"))
    names = [b, *PHOTOS, *OTHERS]
    vectors = np.stack([model.run(preview(n)).embedding for n in names])
    cos = vectors @ model.run(preview(a)).embedding
    assert names[int(np.argmax(cos))] == b, sorted(zip(cos, names, strict=True))[-3:]


def test_the_model_runs_in_a_bounded_time(model):
    import time

    img = preview(f"{GPS}DSCN0010.jpg")
    model.run(img)
    start = time.perf_counter()
    for _ in range(3):
        model.run(img)
    per_image = (time.perf_counter() - start) / 3
    assert per_image < 2.0, per_image  # ~0.07-0.15 s on 2 shared cores
