"""Similar images, objects and faces: model passes per photo on its 800 px preview.

Two backends give the same results: `local` (the CenterNet-MobileNetV3 COCO-80 detector
shipped as ONNX, run with onnxruntime: `local.py`; faces with dlib: `faces.py`) and `api`
(a HomeGallery api-server, `api.py`). Both are stored per entry in HomeGallery's api-server
JSON shape, with the model that made them, so hg-build can tell which vectors may be
compared:

- `<id>-similarity.json`: `{"model", "version", "dim", "created", "data": [floats]}`
- `<id>-objects.json`: `{"model", "version", "created", "width", "height",
  "data": [{"bbox": [x, y, w, h] (pixels of the preview), "class", "score"}]}`
- `<id>-faces.json`: `{"model", "version", "created", "width", "height", "data": [{"box":
  [x, y, w, h] (preview pixels), "score", "landmarks", "descriptor"}]}` (`faces.py`); from
  the api backend the api-server's face-api answer, verbatim.
"""

from __future__ import annotations

from hg_common.layout import FACES, OBJECTS, SIMILARITY

__all__ = ["FACES", "OBJECTS", "SIMILARITY", "MLError", "ModelError"]


class MLError(Exception):
    """One entry's model pass failed; the message is the sentence of its error."""


class ModelError(MLError):
    """The model cannot be used at all (missing or corrupt file): every entry would fail
    the same way."""
