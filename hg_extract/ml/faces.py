"""Faces, offline: dlib's HOG detector, its 5-point landmarks and its ResNet 128-d descriptor.

The models come from the `face_recognition_models` package (installed with hg, nothing is
downloaded at run time) and are run by the `dlib-bin` wheel:

- `get_frontal_face_detector()` (HOG + linear SVM, built into dlib), upsampled once on the
  800 px preview: it finds faces down to about 40 px there;
- `shape_predictor_5_face_landmarks.dat` (CC0): eyes' corners and the nose, enough to align
  the face for the descriptor. The package's 68-point model is trained on a non-commercial
  data set (iBUG 300-W) and is never loaded;
- `dlib_face_recognition_resnet_model_v1.dat` (CC0): the 128-d descriptor, faces of one
  person within Euclidean 0.6 of each other (HomeGallery's face search uses < 0.55).

`-faces.json` keeps HomeGallery's api-server envelope, with dlib's fields per face::

    {"model", "version", "created", "width", "height",
     "data": [{"box": [x, y, w, h] (preview pixels), "score", "landmarks": [[x, y] × 5],
               "descriptor": [128 floats]}]}

`score` is the HOG detector's SVM margin (0 is dlib's own threshold; clear faces 0.5-2.5),
not a probability like face-api's: hg-build's threshold is per model (`hg_build.faces`).
One model load per worker process (`model()`); dlib-bin is built without BLAS, so a pass
runs in the worker's own thread and `--jobs` workers share the cores without a bound here.
`face_api_json` is the same analysis in the shape of HomeGallery's api-server `/faces`
(hg-serve `--ml-api`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from hg_extract.ml import MLError, ModelError
from hg_extract.ml.local import file_sha256, now_utc

MODEL_NAME = "dlib-resnet-v1"
MODEL_VERSION = "hog1-5pt-face_recognition_models-0.3.0"
"""Changes whenever a face would come out differently (detector, upsampling, landmarks,
models): a stored `-faces.json` of another version is made again."""
MODELS_ENV = "HG_FACE_MODELS"
"""A folder with copies of the two model files (a test's damaged ones): checked against
MODEL_SHA256 like the installed ones."""
LANDMARKS_FILE = "shape_predictor_5_face_landmarks.dat"
DESCRIPTOR_FILE = "dlib_face_recognition_resnet_model_v1.dat"
MODEL_SHA256 = {
    LANDMARKS_FILE: "c4b1e9804792707d3a405c2c16a80a20269e6675021f64a41d30fffafbc41888",
    DESCRIPTOR_FILE: "55533b28a95800a551ba546ba62fe69625c7e95a7061c338adffead08719da30",
}
UPSAMPLE = 1
MIN_SCORE = 0.0
"""dlib's own decision threshold: what scores lower is not stored."""
MIN_FACE = 20
"""Pixels of the preview: a box whose side, clipped to the image, is smaller is dropped (a
face mostly outside the photo). HomeGallery has no size filter of its own (face-api's SSD
finds faces down to about 20 px); the HOG window finds none smaller than about 37 px."""
MAX_FACES = 10
"""As HomeGallery's api-server (face-api `maxResults`): the best-scored ten."""
DECIMALS = 4
"""Of the descriptor, as HomeGallery's mapper keeps face-api's."""


@dataclass(frozen=True)
class Face:
    box: tuple[int, int, int, int]
    """x, y, width, height in pixels of the image the detector saw."""
    score: float
    landmarks: tuple[tuple[int, int], ...]
    descriptor: np.ndarray
    """float32 [128]."""


@dataclass(frozen=True)
class FaceAnalysis:
    faces: list[Face]
    width: int
    height: int


# -- pure -----------------------------------------------------------------------------------


def clip_box(left: int, top: int, right: int, bottom: int, width: int, height: int):
    """(x, y, w, h) of a detector rectangle clipped to the image, None when too small."""
    x1, y1 = max(0, left), max(0, top)
    x2, y2 = min(width, right), min(height, bottom)
    if x2 - x1 < MIN_FACE or y2 - y1 < MIN_FACE:
        return None
    return (x1, y1, x2 - x1, y2 - y1)


def _answer(analysis: FaceAnalysis, created: str | None, data: list) -> dict[str, Any]:
    """Faces under this model's name and version, with the preview's size they refer to."""
    return {
        "model": MODEL_NAME,
        "version": MODEL_VERSION,
        "created": created or now_utc(),
        "width": analysis.width,
        "height": analysis.height,
        "data": data,
    }


def faces_json(analysis: FaceAnalysis, created: str | None = None) -> dict[str, Any]:
    """`-faces.json` of an analysis (see the module doc)."""
    data = [
        {
            "box": list(f.box),
            "score": round(f.score, 3),
            "landmarks": [list(p) for p in f.landmarks],
            "descriptor": [round(float(v), DECIMALS) for v in f.descriptor],
        }
        for f in analysis.faces
    ]
    return _answer(analysis, created, data)


def face_api_data(analysis: FaceAnalysis, score=None) -> list[dict[str, Any]]:
    """The faces in the shape of face-api's results, as HomeGallery's api-server answers
    `/faces` (homegallery-internals.md §6): `alignedRect` {box {x, y, width, height}, score},
    `landmarks` {positions [{x, y}]} (dlib's five points, not face-api's 68) and the
    descriptor as face-api's Float32Array serialises, `{"0": …, "127": …}` (4 decimals, as
    `faces_json`). face-api's age, gender and expressions are not there: dlib has none.
    `score`: the number a face's margin becomes (default: the margin, 3 decimals, as
    `faces_json`; a test double of face-api makes a probability of it)."""
    return [
        {
            "alignedRect": {
                "box": dict(zip(("x", "y", "width", "height"), map(float, f.box), strict=True)),
                "score": score(f.score) if score else round(f.score, 3),
            },
            "landmarks": {"positions": [{"x": float(x), "y": float(y)} for x, y in f.landmarks]},
            "descriptor": {str(i): round(float(v), DECIMALS) for i, v in enumerate(f.descriptor)},
        }
        for f in analysis.faces
    ]


def face_api_json(analysis: FaceAnalysis, created: str | None = None) -> dict[str, Any]:
    """hg-serve `--ml-api`'s `/faces` answer (without `srcSha1sum`): face-api's shape
    (`face_api_data`) under this model's name and version, so hg-build applies dlib's score
    threshold and compares its descriptors with those of `--ml local` (`hg_build.faces`)."""
    return _answer(analysis, created, face_api_data(analysis))


def is_current(value: Any) -> bool:
    """Whether a stored `-faces.json` was made by this model and version."""
    return (
        isinstance(value, dict)
        and value.get("model") == MODEL_NAME
        and value.get("version") == MODEL_VERSION
    )


def rgb_array(img: Image.Image) -> np.ndarray:
    """What dlib takes: a C-contiguous uint8 [h, w, 3] RGB array."""
    rgb = img.convert("RGB") if img.mode != "RGB" else img
    return np.ascontiguousarray(np.asarray(rgb, dtype=np.uint8))


# -- the models -------------------------------------------------------------------------------


def models_dir() -> Path:
    """$HG_FACE_MODELS, else the folder of the installed `face_recognition_models`."""
    if os.environ.get(MODELS_ENV):
        return Path(os.environ[MODELS_ENV])
    try:
        import face_recognition_models
    except ImportError as exc:
        raise ModelError("face models: the face_recognition_models package is missing") from exc
    return Path(face_recognition_models.__file__).resolve().parent / "models"


class FaceModel:
    """The detector, the landmark predictor and the descriptor network of one process.
    Loading checks both files' sha256, so a damaged file is a clear error and not odd
    descriptors (dlib itself may load a truncated network and compute garbage)."""

    def __init__(self, folder: Path | None = None, check: bool = True) -> None:
        import dlib  # imported here: a run without faces never loads it

        folder = Path(folder) if folder is not None else models_dir()
        for name, digest in MODEL_SHA256.items():
            path = folder / name
            try:
                actual = file_sha256(path)
            except OSError as exc:
                raise ModelError(f"face model {path}: {exc.strerror or exc}") from exc
            if check and actual != digest:
                raise ModelError(
                    f"face model {path} is damaged: sha256 {actual[:12]}…, "
                    f"expected {digest[:12]}… (reinstall face_recognition_models)"
                )
        try:
            self.detector = dlib.get_frontal_face_detector()
            self.landmarks = dlib.shape_predictor(str(folder / LANDMARKS_FILE))
            self.encoder = dlib.face_recognition_model_v1(str(folder / DESCRIPTOR_FILE))
        except RuntimeError as exc:
            raise ModelError(f"face models in {folder} cannot be loaded: {exc}") from exc

    def run(self, rgb: np.ndarray) -> FaceAnalysis:
        """The faces of an RGB uint8 image [h, w, 3], best score first."""
        height, width = rgb.shape[:2]
        try:
            rects, scores, _ = self.detector.run(rgb, UPSAMPLE, MIN_SCORE)
        except RuntimeError as exc:
            raise MLError(f"face detector: {exc}") from exc
        found = sorted(zip(rects, scores, strict=True), key=lambda rs: -rs[1])
        faces: list[Face] = []
        for rect, score in found:
            if len(faces) == MAX_FACES:
                break
            box = clip_box(rect.left(), rect.top(), rect.right(), rect.bottom(), width, height)
            if box is None or not score >= MIN_SCORE:
                continue
            try:
                shape = self.landmarks(rgb, rect)
                descriptor = np.asarray(self.encoder.compute_face_descriptor(rgb, shape))
            except RuntimeError as exc:
                raise MLError(f"face descriptor: {exc}") from exc
            points = tuple((p.x, p.y) for p in shape.parts())
            faces.append(Face(box, float(score), points, descriptor.astype(np.float32)))
        return FaceAnalysis(faces, width, height)


_model: FaceModel | None = None
_model_error: ModelError | None = None


def model() -> FaceModel:
    """This process's face models, loaded on first use; a failed load is remembered: every
    entry then gets the same clear error without loading again."""
    global _model, _model_error
    if _model is None:
        if _model_error is not None:
            raise _model_error
        try:
            _model = FaceModel()
        except ModelError as exc:
            _model_error = exc
            raise
    return _model
