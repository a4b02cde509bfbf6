"""The local backend: CenterNet-MobileNetV3 (COCO-80) with onnxruntime, one pass per photo.

The model (`hg_extract/models/centernet-mbv3-coco.onnx`, made once by
`bin/convert-centernet`, see its NOTICE) takes one 512x512 RGB image (0-255, plain bilinear
resize: no letterbox, no normalisation) and gives both

- `detections` [1, 100, 6]: `x1, y1, x2, y2` in input pixels, score, COCO class index (top-K
  is inside the graph: no NMS here), and
- `embedding` [1, 1, 1, 720]: the global average of the backbone's last block, the photo's
  similarity vector (L2-normalised here, so a dot product is the cosine).

One session per worker process (`model()`), its intra-op threads bounded by `threads_for`
so `--jobs` workers share the cores instead of each spinning up one thread per core.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
from PIL import Image

from hg_extract.ml import MLError, ModelError
from hg_extract.ml.labels import COCO80

MODEL_FILE = Path(__file__).resolve().parent.parent / "models" / "centernet-mbv3-coco.onnx"
MODEL_ENV = "HG_ML_MODEL"
"""A copy of the model elsewhere (a developer's, a test's damaged one): checked against
MODEL_SHA256 like the shipped file."""
MODEL_SHA256 = "63b9f0f0df77e810024b78fe7a7e2a8cb683d6e13aa28e1966b0c68aa9080dc6"
MODEL_NAME = "centernet-mbv3-coco"
MODEL_VERSION = "human-models-3.0.4"
INPUT_SIZE = 512
DIM = 720
MIN_SCORE = 0.2
"""Detections kept in `-objects.json`. CenterNet's scores are low (a clear dog: 0.37, a
truck: 0.46), so hg-build's threshold for this model is 0.3, not coco-ssd's 0.6; what lies
between is kept so a later threshold can use it without a new pass."""
MAX_OBJECTS = 20  # as HomeGallery's api-server (maxNumBoxes)


@dataclass(frozen=True)
class Detection:
    label: str
    score: float
    box: tuple[float, float, float, float]
    """x, y, width, height as fractions (0-1) of the image."""


@dataclass(frozen=True)
class Analysis:
    detections: list[Detection]
    embedding: np.ndarray
    """float32, L2 norm 1."""
    width: int
    height: int
    """Of the image the model was given (the preview)."""


# -- pure pre- and post-processing ----------------------------------------------------------


def preprocess(img: Image.Image) -> np.ndarray:
    """The model's input for an image: [1, 512, 512, 3] float32 RGB 0-255."""
    rgb = img.convert("RGB") if img.mode != "RGB" else img
    resized = rgb.resize((INPUT_SIZE, INPUT_SIZE), Image.Resampling.BILINEAR)
    return np.asarray(resized, dtype=np.float32)[np.newaxis]


def detections(raw: np.ndarray, min_score: float = MIN_SCORE) -> list[Detection]:
    """The model's [1, N, 6] rows as detections: score >= min_score, a known class, a box
    of some size inside the image (clipped), best first, at most MAX_OBJECTS."""
    rows = np.asarray(raw, dtype=np.float64).reshape(-1, 6)
    found: list[Detection] = []
    for x1, y1, x2, y2, score, cls in rows:
        if not (np.isfinite([x1, y1, x2, y2, score, cls]).all() and score >= min_score):
            continue
        index = int(round(cls))
        if not 0 <= index < len(COCO80):
            continue
        x1, x2 = sorted(np.clip([x1, x2], 0, INPUT_SIZE) / INPUT_SIZE)
        y1, y2 = sorted(np.clip([y1, y2], 0, INPUT_SIZE) / INPUT_SIZE)
        if x2 - x1 <= 0 or y2 - y1 <= 0:
            continue
        box = (float(x1), float(y1), float(x2 - x1), float(y2 - y1))
        found.append(Detection(COCO80[index], float(score), box))
    found.sort(key=lambda d: -d.score)
    return found[:MAX_OBJECTS]


def embedding(raw: np.ndarray) -> np.ndarray:
    """The model's embedding output as a float32 vector of length DIM with L2 norm 1."""
    vec = np.asarray(raw, dtype=np.float32).reshape(-1)
    norm = float(np.linalg.norm(vec)) if vec.size == DIM else 0.0
    if not np.isfinite(norm) or norm <= 0:
        raise MLError(f"the model gave no usable embedding ({vec.size} values, norm {norm})")
    return vec / norm


def threads_for(jobs: int, cpus: int | None = None) -> int:
    """Intra-op threads of one worker's session: the cores shared among `jobs` workers."""
    cpus = cpus or len(os.sched_getaffinity(0)) or 1
    return max(1, cpus // max(1, jobs))


def now_utc() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def similarity_json(analysis: Analysis, created: str | None = None) -> dict[str, Any]:
    """`-similarity.json` of an analysis (the api-server's shape, with `dim`)."""
    return {
        "model": MODEL_NAME,
        "version": MODEL_VERSION,
        "dim": DIM,
        "created": created or now_utc(),
        "data": [round(float(v), 6) for v in analysis.embedding],
    }


def objects_json(analysis: Analysis, created: str | None = None) -> dict[str, Any]:
    """`-objects.json` of an analysis: the api-server's shape, so boxes in pixels of the
    image the model saw, `[x, y, width, height]`."""
    w, h = analysis.width, analysis.height
    return {
        "model": MODEL_NAME,
        "version": MODEL_VERSION,
        "created": created or now_utc(),
        "width": w,
        "height": h,
        "data": [
            {
                "bbox": [
                    round(d.box[0] * w, 1),
                    round(d.box[1] * h, 1),
                    round(d.box[2] * w, 1),
                    round(d.box[3] * h, 1),
                ],
                "class": d.label,
                "score": round(d.score, 3),
            }
            for d in analysis.detections
        ],
    }


# -- the model --------------------------------------------------------------------------------


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class LocalModel:
    """One onnxruntime session of the detector. Loading checks the file's sha256, so a
    damaged model (a bad disk, a partial copy) is a clear error and not odd results."""

    def __init__(
        self, path: Path = MODEL_FILE, threads: int = 1, sha256: str | None = MODEL_SHA256
    ) -> None:
        import onnxruntime as ort  # imported here: a run with `--ml off` never loads it

        self.path = Path(path)
        try:
            actual = file_sha256(self.path)
        except OSError as exc:
            raise ModelError(f"model file {self.path}: {exc.strerror or exc}") from exc
        if sha256 is not None and actual != sha256:
            raise ModelError(
                f"model file {self.path} is damaged: sha256 {actual[:12]}…, "
                f"expected {sha256[:12]}… (reinstall hg)"
            )
        options = ort.SessionOptions()
        options.intra_op_num_threads = max(1, threads)
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.log_severity_level = 3  # errors only: no notices on the run's stderr
        # A waiting thread sleeps instead of spinning: other workers need the cores.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        # No arena: it keeps the peak of every inference for the life of the worker
        # (~100+ MB a worker beside the previews' images); freeing costs little here
        options.enable_cpu_mem_arena = False
        try:
            self.session = ort.InferenceSession(
                str(self.path), options, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # onnxruntime raises its own types
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ModelError(f"model file {self.path} cannot be loaded: {first}") from exc
        self.input = self.session.get_inputs()[0].name
        self.threads = options.intra_op_num_threads

    def run(self, img: Image.Image) -> Analysis:
        try:
            det, emb = self.session.run(["detections", "embedding"], {self.input: preprocess(img)})
        except Exception as exc:
            raise MLError(f"model: {type(exc).__name__}: {exc}") from exc
        return Analysis(detections(det), embedding(emb), img.width, img.height)

    def analyse(self, preview: Path | str) -> Analysis:
        """The analysis of a preview file; MLError when it cannot be read."""
        try:
            rgb = read_image(preview)
        except IMAGE_ERRORS as exc:
            raise MLError(f"the preview cannot be read: {type(exc).__name__}: {exc}") from exc
        return self.run(rgb)


IMAGE_ERRORS = (OSError, ValueError, Image.DecompressionBombError, SyntaxError)
"""What Pillow raises for a file that is not a readable image."""


def read_image(
    source: Path | str | BinaryIO, formats: tuple[str, ...] | None = None
) -> Image.Image:
    """An image as the model wants it: RGB, decoded at the smallest JPEG scale that still
    covers the model's input (draft), which is all the model sees. `formats`: the ones
    accepted (others raise IMAGE_ERRORS' UnidentifiedImageError, an OSError)."""
    with Image.open(source, formats=formats) as img:
        img.draft("RGB", (INPUT_SIZE, INPUT_SIZE))
        img.load()
        return img.convert("RGB")


_model: LocalModel | None = None
_model_error: ModelError | None = None


def model(threads: int = 1) -> LocalModel:
    """This process's model (MODEL_FILE, or $HG_ML_MODEL), loaded on first use; a failed
    load is remembered: every entry then gets the same clear error without loading again."""
    global _model, _model_error
    if _model is None:
        if _model_error is not None:
            raise _model_error
        try:
            _model = LocalModel(Path(os.environ.get(MODEL_ENV) or MODEL_FILE), threads)
        except ModelError as exc:
            _model_error = exc
            raise
    return _model
