"""Faces in the database: the entry's `faces` list and its descriptors, tagged with their model.

A `faces` value is the entry's `-faces.json` (`hg_common.layout`): hg's local dlib pass
(`{"model": "dlib-resnet-v1", …, "data": [{"box": [x, y, w, h] px, "score", "landmarks",
"descriptor": [128]}]}`) or a HomeGallery api-server's face-api answer, stored verbatim
(`{"model": "face-api", …, "data": [{"alignedRect": {"box": {x, y, width, height}, "score"},
"age", "gender", "genderProbability", "expressions": {…}, "descriptor": {"0": …}}]}`).
Both become the same fields:

- `faces` (JSON column, the media record's list) as HomeGallery's mapper makes it: the box
  relative to the image (`x`, `y` 3 decimals, `width`, `height` 2), `score` (2 decimals),
  and, where the model gives them, `age` (1 decimal), `gender` ('unknown' below 0.7) and the
  top two `expressions` above 0.3; for scores at or above the model's threshold.
- `face_descriptors` (BLOB column): the kept faces' descriptors in list order,
  `<model>/<version>\\0h` + float16 [n × 128] (256 bytes a face instead of ~1.1 KB of JSON
  numbers, which the web app would load with every record and never use). float16 moves a
  distance by about 1e-3, far below the 0.55 threshold's margin. A face without a
  descriptor is NaN there: it never matches.

`face:<id>.<n>` (HomeGallery's face search) is `distance(e.face_descriptors, seed, n) <
0.55`: the least Euclidean distance from the seed entry's n-th face (0-based, the media
record's order) to any of the entry's faces, None across models or for a face that is not.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from hg_build.ml import model_tag

if TYPE_CHECKING:
    import numpy as np

DIM = 128
FACE_MAX = 0.55
"""HomeGallery's face match: Euclidean distance below this."""
FACE_MIN = {"face-api": 0.7, "dlib-resnet-v1": 0.3}
"""Model -> the least score kept. face-api's is HomeGallery's (a probability). dlib's HOG
score is an SVM margin (0 is dlib's own decision): on the sample photos true faces scored
0.5-2.5 and the false ones (a mission patch, a game's scenery) 0.04-0.11; a 36 px face in a
shop scene scored 0.06 and is lost with them."""
DEFAULT_FACE_MIN = 0.7


def _num(v: Any) -> bool:
    return v.__class__ in (int, float) and math.isfinite(v)


def _descriptor(value: Any) -> list[float] | None:
    """128 numbers of a face's descriptor: a list (dlib, a script) or face-api's
    Float32Array serialised as {"0": …, "127": …}."""
    if isinstance(value, Mapping):
        try:
            value = [value[str(i)] for i in range(len(value))]
        except KeyError:
            return None
    if isinstance(value, list | tuple) and len(value) == DIM and all(_num(v) for v in value):
        return [float(v) for v in value]
    return None


def _box(face: Mapping[str, Any]) -> tuple[float, float, float, float] | None:
    """x, y, width, height in pixels: dlib's `box` list or face-api's `alignedRect.box`."""
    box = face.get("box")
    if box is None and isinstance(face.get("alignedRect"), Mapping):
        box = face["alignedRect"].get("box")
    if isinstance(box, Mapping):
        box = [box.get("x"), box.get("y"), box.get("width"), box.get("height")]
    if isinstance(box, list | tuple) and len(box) == 4 and all(_num(v) for v in box):
        return (float(box[0]), float(box[1]), float(box[2]), float(box[3]))
    return None


def _score(face: Mapping[str, Any]) -> float | None:
    score = face.get("score")
    if score is None and isinstance(face.get("alignedRect"), Mapping):
        score = face["alignedRect"].get("score")
    return float(score) if _num(score) else None


def _api_extras(face: Mapping[str, Any]) -> dict[str, Any]:
    """face-api's age, gender and expressions as HomeGallery's mapper keeps them."""
    out: dict[str, Any] = {}
    if _num(face.get("age")):
        out["age"] = round(float(face["age"]), 1)
    if isinstance(face.get("gender"), str):
        probability = face.get("genderProbability")
        out["gender"] = face["gender"] if _num(probability) and probability > 0.7 else "unknown"
    expressions = face.get("expressions")
    if isinstance(expressions, Mapping):
        ranked = sorted(
            ((float(s), k) for k, s in expressions.items() if _num(s) and s > 0.3), reverse=True
        )
        out["expressions"] = [k for _, k in ranked[:2]]
    return out


def faces_fields(value: Any) -> tuple[list[dict[str, Any]], bytes | None]:
    """(`faces` list, `face_descriptors` blob) of a `-faces.json` dict; a list (a script's
    record) is kept as it is, its descriptors taken out into the blob."""
    import numpy as np

    if isinstance(value, list | tuple):
        items, low, width, height, tag = list(value), None, None, None, b"/"
    elif isinstance(value, Mapping) and isinstance(value.get("data"), list):
        items = value["data"]
        low = FACE_MIN.get(str(value.get("model")), DEFAULT_FACE_MIN)
        width, height, tag = value.get("width"), value.get("height"), model_tag(value)
    else:
        return [], None
    faces: list[dict[str, Any]] = []
    vectors: list[list[float] | None] = []
    for item in items:
        if not isinstance(item, Mapping):
            continue
        score, box = _score(item), _box(item)
        if low is not None:  # from a -faces.json: HomeGallery's mapper
            if score is None or score < low or box is None or not _positive(width, height):
                continue
            x, y, w, h = box
            face: dict[str, Any] = {
                "x": round(x / width, 3), "y": round(y / height, 3),
                "width": round(w / width, 2), "height": round(h / height, 2),
                "score": round(score, 2), **_api_extras(item),
            }  # fmt: skip
        else:
            face = {k: v for k, v in item.items() if k != "descriptor"}
        faces.append(face)
        vectors.append(_descriptor(item.get("descriptor")))
    if not any(v is not None for v in vectors):
        return faces, None
    matrix = np.full((len(vectors), DIM), np.nan, dtype=np.float16)
    for i, vec in enumerate(vectors):
        if vec is not None:
            matrix[i] = vec
    return faces, tag + b"\0h" + matrix.tobytes()


def _positive(*values: Any) -> bool:
    return all(_num(v) and v > 0 for v in values)


def split_blob(blob: bytes) -> tuple[bytes, np.ndarray] | None:
    """(model tag, float32 [n, 128]) of a `face_descriptors` blob, None when it is not one."""
    import numpy as np

    cut = blob.find(b"\0")
    payload = blob[cut + 2 :]
    if cut < 0 or blob[cut + 1 : cut + 2] != b"h" or not payload or len(payload) % (2 * DIM):
        return None
    return blob[:cut], np.frombuffer(payload, np.float16).astype(np.float32).reshape(-1, DIM)


_seed: tuple[bytes, tuple[bytes, np.ndarray] | None] = (b"", None)


def distance(row: bytes | None, seed: bytes | None, n: int | None) -> float | None:
    """The SQL function `hg_face_distance(face_descriptors, seed, n)`: the least Euclidean
    distance from the seed's face n to the row's faces; None when either is missing, n is
    not a face of the seed, or they come from different models. The seed is the same for
    every row of a query, so its decoding is kept."""
    global _seed
    import numpy as np

    if not row or not seed or n is None:
        return None
    if _seed[0] != seed:
        _seed = (seed, split_blob(seed))
    decoded, mine = _seed[1], split_blob(row)
    if decoded is None or mine is None or decoded[0] != mine[0] or not 0 <= n < len(decoded[1]):
        return None
    distances = np.linalg.norm(mine[1] - decoded[1][n], axis=1)
    best = np.nanmin(distances) if not np.isnan(distances).all() else math.nan
    return None if math.isnan(best) else float(best)
