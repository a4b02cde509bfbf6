"""What hg-extract offers the tools after it (hg-serve's `--ml-api`): the one module they
import of it.

The local models (`hg_extract.ml.local`, `hg_extract.ml.faces`) on a JPEG's bytes,
answered in the shape of HomeGallery's api-server (`POST /embeddings`, `/objects`,
`/faces`; homegallery-internals.md §6), so a Raspberry Pi's `hg-extract --ml api URL` (or
HomeGallery itself) can use a stronger machine's models. `/embeddings` and `/objects` are
what `--ml local` stores (`similarity_json`, `objects_json`); `/faces` is face-api's shape
of the faces `--ml local` finds (`faces.face_api_json`); all under hg's model names and
versions, so hg-build compares their vectors with those of `--ml local`, plus the
api-server's `srcSha1sum`. Everything else in hg_extract is its own business.

`Analyser` is one process's models: one onnxruntime session (the process's, `local.model`)
and one dlib face model (`faces.model`), each loaded on first use with its sha256 check and
used by one request at a time (its own lock): onnxruntime with every core (a second
session would only split the same cores and double the memory), dlib (built without BLAS)
in the request's thread, so a face pass can run beside an objects pass.
"""

from __future__ import annotations

import hashlib
import io
import threading
from typing import Any

from PIL import Image, UnidentifiedImageError

from hg_extract.ml import MLError, ModelError, faces, local

__all__ = [
    "ENDPOINTS",
    "MAX_BYTES",
    "MAX_PIXELS",
    "Analyser",
    "InputError",
    "MLError",
    "ModelError",
]

ENDPOINTS = ("embeddings", "objects", "faces")
"""The api-server's endpoints the local models answer."""
MAX_BYTES = 2 << 20
"""Bodies above 2 MiB are refused, as HomeGallery's api-server (MAX_BYES); a preview of
800 px is ~100-300 KiB."""
MAX_PIXELS = 40_000_000
"""A JPEG that declares more pixels is refused before decoding: a small body must not make
the server allocate gigabytes (Pillow's own bomb check only starts at 89 MP)."""


class InputError(MLError):
    """The request's image is not one the model can be given (the client's fault: 4xx)."""


def read_jpeg(body: bytes, draft: bool = True) -> Image.Image:
    """The JPEG of a request as the model's RGB image; InputError for anything else.
    `draft`: decoded at the smallest scale the objects model needs; else whole, as the
    face detector sees the preview with `--ml local` (its faces down to ~40 px)."""
    if not body:
        raise InputError("the body is empty: send the JPEG itself")
    if len(body) > MAX_BYTES:
        raise InputError(f"the body is larger than {MAX_BYTES >> 20} MiB")
    try:
        with Image.open(io.BytesIO(body), formats=("JPEG",)) as probe:
            pixels = probe.width * probe.height
        if pixels > MAX_PIXELS:
            raise InputError(
                f"the JPEG is {probe.width}x{probe.height}: more than "
                f"{MAX_PIXELS // 1_000_000} megapixels (send the 800 px preview)"
            )
        if draft:
            return local.read_image(io.BytesIO(body), formats=("JPEG",))
        with Image.open(io.BytesIO(body), formats=("JPEG",)) as img:
            img.load()
            return img.convert("RGB")
    except UnidentifiedImageError as exc:  # its message names a BytesIO object: not helpful
        raise InputError("the body is not a JPEG image") from exc
    except local.IMAGE_ERRORS as exc:
        raise InputError(f"the body is not a readable JPEG ({type(exc).__name__}: {exc})") from exc


class Analyser:
    """The local model behind a server: thread-safe, one inference at a time (`analyse`
    blocks; call it off the event loop)."""

    def __init__(self, threads: int | None = None) -> None:
        self.threads = threads or local.threads_for(1)
        self._lock = threading.Lock()
        self._face_lock = threading.Lock()
        """dlib's objects are not to be used by two threads at once."""

    def load(self) -> None:
        """Load the objects model now (ModelError when it cannot be); else on the first
        request."""
        with self._lock:
            local.model(self.threads)

    def load_faces(self) -> None:
        """Load the face model now (ModelError when it cannot be); else on the first
        request."""
        with self._face_lock:
            faces.model()

    def faces(self, body: bytes) -> faces.FaceAnalysis:
        """The faces of a JPEG, as `--ml local` finds them on the same preview (errors as
        `analyse`)."""
        rgb = faces.rgb_array(read_jpeg(body, draft=False))
        with self._face_lock:
            return faces.model().run(rgb)

    def analyse(self, body: bytes) -> local.Analysis:
        """The model's view of a JPEG: InputError for a bad body, ModelError when the model
        cannot be loaded (the same error every time, without loading again), MLError when
        the pass itself failed."""
        img = read_jpeg(body)  # decoding needs no model: outside the lock, in parallel
        with self._lock:
            return local.model(self.threads).run(img)

    def answer(self, endpoint: str, body: bytes) -> dict[str, Any]:
        """The api-server's answer of `endpoint` for a JPEG (see `analyse` for errors)."""
        if endpoint not in ENDPOINTS:
            raise ValueError(f"unknown endpoint {endpoint!r}")
        created = local.now_utc()
        if endpoint == "faces":
            answer = faces.face_api_json(self.faces(body), created)
        else:
            shape = local.similarity_json if endpoint == "embeddings" else local.objects_json
            answer = shape(self.analyse(body), created)
        return {"srcSha1sum": hashlib.sha1(body).hexdigest(), **answer}
