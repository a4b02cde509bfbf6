"""hg_build.faces: -faces.json of either model -> the media record's faces and the descriptor
blob; the face distance SQL function; `face:` and `count(faces)` query terms."""

from __future__ import annotations

import math

import numpy as np
import pytest

from hg_build import faces
from hg_build.query.compile import compile_query
from hg_build.query.errors import QueryError

RNG = np.random.default_rng(7)


def unit(n: int = 1) -> np.ndarray:
    v = RNG.normal(size=(n, 128))
    return v / np.linalg.norm(v, axis=1, keepdims=True) * 0.9


def dlib_json(vectors, scores, model="dlib-resnet-v1", version="v"):
    return {
        "model": model, "version": version, "created": "2026-01-01T00:00:00Z",
        "width": 800, "height": 600,
        "data": [
            {"box": [80 * i, 60, 80, 80], "score": s, "landmarks": [[1, 2]] * 5,
             "descriptor": [round(float(x), 4) for x in v]}
            for i, (v, s) in enumerate(zip(vectors, scores, strict=True))
        ],
    }  # fmt: skip


def test_dlib_faces_relative_boxes_threshold_and_blob():
    vecs = unit(3)
    value = dlib_json(vecs, [1.2, 0.1, 0.45])
    listed, blob = faces.faces_fields(value)
    assert listed == [
        {"x": 0.0, "y": 0.1, "width": 0.1, "height": 0.13, "score": 1.2},
        {"x": 0.2, "y": 0.1, "width": 0.1, "height": 0.13, "score": 0.45},
    ]  # the 0.1 one is below dlib's 0.3
    tag, matrix = faces.split_blob(blob)
    assert tag == b"dlib-resnet-v1/v" and matrix.shape == (2, 128)
    assert np.abs(matrix - vecs[[0, 2]]).max() < 1e-3  # float16 is close enough
    assert len(blob) == len(tag) + 2 + 2 * 128 * 2


def test_face_api_answer_as_homegallerys_mapper():
    vec = unit(1)[0]
    value = {
        "srcSha1sum": "x", "model": "face-api", "created": "c", "width": 400, "height": 200,
        "data": [
            {"alignedRect": {"box": {"x": 100, "y": 50, "width": 40, "height": 44},
                             "score": 0.93},
             "age": 41.26, "gender": "male", "genderProbability": 0.91,
             "expressions": {"neutral": 0.2, "happy": 0.7, "sad": 0.35},
             "descriptor": {str(i): float(v) for i, v in enumerate(vec)}},
            {"alignedRect": {"box": {"x": 1, "y": 1, "width": 9, "height": 9}, "score": 0.69},
             "descriptor": {}},
        ],
    }  # fmt: skip
    listed, blob = faces.faces_fields(value)
    assert listed == [
        {"x": 0.25, "y": 0.25, "width": 0.1, "height": 0.22, "score": 0.93, "age": 41.3,
         "gender": "male", "expressions": ["happy", "sad"]}
    ]  # fmt: skip
    assert faces.split_blob(blob)[0] == b"face-api/"


def test_bad_values_give_no_faces():
    assert faces.faces_fields(None) == ([], None)
    assert faces.faces_fields({"data": "x"}) == ([], None)
    broken = dlib_json(unit(1), [1.0])
    broken["data"][0]["descriptor"] = [1, 2, 3]  # not 128 values: a face without descriptor
    broken["data"].append("not a face")
    listed, blob = faces.faces_fields(broken)
    assert len(listed) == 1 and blob is None
    no_size = {**dlib_json(unit(1), [1.0]), "width": 0}
    assert faces.faces_fields(no_size) == ([], None)


def test_distance_least_over_faces_none_across_models_or_faces():
    a, b, c = unit(3)
    seed = faces.faces_fields(dlib_json([a, b], [1, 1]))[1]
    row = faces.faces_fields(dlib_json([c, a + 0.01], [1, 1]))[1]
    assert faces.distance(row, seed, 0) == pytest.approx(0.01 * math.sqrt(128), abs=2e-3)
    assert faces.distance(row, seed, 1) == pytest.approx(
        min(np.linalg.norm(c - b), np.linalg.norm(a + 0.01 - b)), abs=2e-3
    )
    assert faces.distance(row, seed, 2) is None  # no third face
    other = faces.faces_fields(dlib_json([a], [1], model="face-api"))[1]
    assert faces.distance(other, seed, 0) is None and faces.distance(None, seed, 0) is None


def test_face_query_terms():
    c = compile_query("face:ab12cd.1")
    assert "hg_face_distance(e.face_descriptors" in c.where and "ab12cd" in c.params
    assert 1 in c.params and faces.FACE_MAX in c.params
    assert c.order.startswith("hg_face_distance(") and c.order.endswith("ASC, e.ts DESC, e.id")
    assert compile_query("face:ab12cd.1 order by date").order.startswith("e.ts DESC")
    assert "e.faces_count >" in compile_query("count(faces) > 2").where
    for bad in ("face:ab12.0", "face:ab12cd", "face:ab12cd.x", "face > ab12cd.0"):
        with pytest.raises(QueryError, match="face takes an entry id"):
            compile_query(bad)
