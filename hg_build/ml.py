"""Similarity vectors and objects in the database: compact, tagged with their model.

A `similarity` value (the entry's `-similarity.json`, see `hg_common.layout`) is stored as a
blob `<model>/<version>\\0<code><payload>`:

- HomeGallery's api-server MobileNet (`model: mobilenet`): HomeGallery's own packing
  (`database/src/media/similarity.js`): every third of the 1024 values, each
  `round(3 * sqrt(clamp(v / 2.875, 0, 1)))` in 2 bits, 4 per byte, MSB first (86 bytes,
  code `q`); decoded as `q * q / 9`, so the cosine is the one HomeGallery's web app computes.
- any other model (hg's local CenterNet, 720-d): float16 of the unit vector (code `h`).
- a plain list of numbers (a script's record): float32, model "" (code `f`).

Two vectors are compared only when their `<model>/<version>` and length are equal, so a
gallery with vectors of two models (an api server, then the local model) never compares
across them: `cosine` says None, which no threshold passes.

Objects become the entry's `objects` list as HomeGallery's mapper makes them: class, score
(2 decimals) and the box relative to the image (3 decimals), for scores above the model's
threshold (coco-ssd: > 0.6 as HomeGallery; CenterNet's scores are lower: >= 0.3).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
# numpy is imported where a vector is made or compared: hg-build starts per import chunk,
# and a chunk without ML results should not pay for it

HG_MODEL = "mobilenet"
HG_SCALE = 2.875
OBJECT_MIN = {"cocossd": (0.6, False), "centernet-mbv3-coco": (0.3, True)}
"""Model -> (threshold, inclusive); other models: HomeGallery's > 0.6."""
DEFAULT_OBJECT_MIN = (0.6, False)


def model_tag(value: Mapping[str, Any]) -> bytes:
    """`<model>/<version>` of a stored ML result, as the prefix of its blob (no NUL: the
    NUL ends the prefix); similarity vectors and face descriptors are tagged alike."""
    tag = f"{value.get('model') or ''}/{value.get('version') or ''}"
    return tag.encode("utf-8", "replace").replace(b"\0", b"")


def _numbers(data: Any) -> np.ndarray | None:
    import numpy as np

    if not isinstance(data, list | tuple) or not data:
        return None
    if not all(v.__class__ in (int, float) for v in data):
        return None
    vec = np.asarray(data, dtype=np.float64)
    return vec if np.isfinite(vec).all() else None


def hg_pack(data: np.ndarray) -> bytes:
    """HomeGallery's 2-bit packing of every third value (see module doc)."""
    import numpy as np

    thirds = data[::3]
    q = np.floor(3 * np.sqrt(np.clip(thirds / HG_SCALE, 0, 1)) + 0.5).astype(np.uint8)
    q = np.concatenate([q, np.zeros(-len(q) % 4, np.uint8)]).reshape(-1, 4)
    return (q[:, 0] << 6 | q[:, 1] << 4 | q[:, 2] << 2 | q[:, 3]).astype(np.uint8).tobytes()


def hg_unpack(payload: bytes) -> np.ndarray:
    import numpy as np

    b = np.frombuffer(payload, np.uint8)
    q = np.stack([b >> 6, (b >> 4) & 3, (b >> 2) & 3, b & 3], axis=1).reshape(-1)
    return q.astype(np.float32) ** 2 / 9


def vector_blob(value: Any) -> bytes | None:
    """The stored blob of a `similarity` value (a `-similarity.json` dict, or a list of
    numbers), None when it holds no usable vector."""
    import numpy as np

    if isinstance(value, Mapping):
        data = _numbers(value.get("data"))
        if data is None:
            return None
        tag = model_tag(value)
        if value.get("model") == HG_MODEL:
            return tag + b"\0q" + hg_pack(data)
        norm = float(np.linalg.norm(data))
        if not norm:
            return None
        return tag + b"\0h" + (data / norm).astype(np.float16).tobytes()
    data = _numbers(value)
    return None if data is None else b"/\0f" + data.astype(np.float32).tobytes()


def split_blob(blob: bytes) -> tuple[bytes, np.ndarray] | None:
    """(model tag, float32 vector) of a stored blob, None when it is not one."""
    import numpy as np

    cut = blob.find(b"\0")
    if cut < 0 or cut + 1 >= len(blob):
        return None
    code, payload = blob[cut + 1 : cut + 2], blob[cut + 2 :]
    if code == b"h" and len(payload) % 2 == 0:
        vec = np.frombuffer(payload, np.float16).astype(np.float32)
    elif code == b"f" and len(payload) % 4 == 0:
        vec = np.frombuffer(payload, np.float32)
    elif code == b"q":
        vec = hg_unpack(payload)
    else:
        return None
    return blob[:cut], vec


_seed: tuple[bytes, tuple[bytes, np.ndarray, float] | None] = (b"", None)


def _decoded(blob: bytes) -> tuple[bytes, np.ndarray, float] | None:
    import numpy as np

    split = split_blob(blob)
    if split is None:
        return None
    tag, vec = split
    return tag, vec, float(np.linalg.norm(vec))


def cosine(a: bytes | None, b: bytes | None) -> float | None:
    """The SQL function `hg_cosine(vector, seed)`: their cosine, None when either is
    missing or they come from different models. The second argument is the same seed for
    every row of a query, so its decoding is kept."""
    global _seed
    if not a or not b:
        return None
    if _seed[0] != b:
        _seed = (b, _decoded(b))
    seed = _seed[1]
    row = _decoded(a)
    if seed is None or row is None or row[0] != seed[0] or len(row[1]) != len(seed[1]):
        return None
    den = row[2] * seed[2]
    return float(row[1] @ seed[1]) / den if den else None


def objects_list(value: Any) -> list[dict[str, Any]]:
    """The entry's `objects`: from an `-objects.json` dict as HomeGallery's mapper (see
    module doc); a list (a script's record) as it is."""
    if isinstance(value, list | tuple):
        return list(value)
    if not isinstance(value, Mapping) or not isinstance(value.get("data"), list):
        return []
    low, inclusive = OBJECT_MIN.get(str(value.get("model")), DEFAULT_OBJECT_MIN)
    width, height = value.get("width"), value.get("height")
    out = []
    for item in value["data"]:
        if not isinstance(item, Mapping):
            continue
        score, cls, box = item.get("score"), item.get("class"), item.get("bbox")
        if score.__class__ not in (int, float) or not isinstance(cls, str):
            continue
        if not (score >= low if inclusive else score > low):
            continue
        obj: dict[str, Any] = {"class": cls, "score": round(float(score), 2)}
        if _is_box(box) and _positive(width) and _positive(height):
            x, y, w, h = box
            obj.update(
                x=round(x / width, 3), y=round(y / height, 3),
                width=round(w / width, 3), height=round(h / height, 3),
            )  # fmt: skip
        out.append(obj)
    out.sort(key=lambda o: -o["score"])
    return out


def _is_box(box: Any) -> bool:
    return (
        isinstance(box, list)
        and len(box) == 4
        and all(v.__class__ in (int, float) and math.isfinite(v) for v in box)
    )


def _positive(value: Any) -> bool:
    return value.__class__ in (int, float) and value > 0


def ml_fields(record: Mapping[str, Any]) -> dict[str, Any]:
    """The media fields of a record's `objects`, `similarity` and `faces` (an entry
    record's or an `ml` record's), only those the record has (`faces` also gives
    `face_descriptors`, see `hg_build.faces`)."""
    out: dict[str, Any] = {}
    if "faces" in record:
        from hg_build.faces import faces_fields

        out["faces"], out["face_descriptors"] = faces_fields(record["faces"])
    if "objects" in record:
        out["objects"] = objects_list(record["objects"])
    if "similarity" in record:
        value = record["similarity"]
        out["similarity"] = (
            value if value is None or value.__class__ is bytes else vector_blob(value)
        )
    return out
