"""The ML step of hg-extract: which entries need it, the pass itself, and its records.

An image entry is analysed on its 800 px preview (the largest preview <= 800 px, never the
original) after its `entry` record was printed: the previews reach the gallery first, the
similarity vector, objects and faces follow in an `ml` record (`{"type": "ml", "v": 1, "id",
"source", "root", "path", "checksum", "similarity"?, "objects"?, "faces"?}`; the file fields
are the primary's) that hg-build applies to the entry. What is stored is read back into the
entry record itself (`hg_common.entry.ml_outputs`), so a re-run, a move or a rebuild keeps it.

The local backend has two passes (`PARTS`), each skipped when its files exist, made by the
shipped model's name and version (a new model version recomputes): `objects` (CenterNet:
`-objects.json` and `-similarity.json`, `local.py`) and `faces` (dlib: `-faces.json`,
`faces.py`; off with `--no-faces`). The preview is decoded once for both. The api backend
needs the three answers (whatever model the server has); with the two of hg's current
model but no faces (stored by an hg-serve `--ml-api` from before it answered `/faces`, or by
`--ml local --no-faces`) it asks `/faces` alone. A failure is an `error` record for the entry's
primary (stage extract, `"ml": true`) and nothing of that pass stored: the next run, or
hg-import's retry of failed files, tries again.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import orjson

from hg_common import layout
from hg_common.entry import ml_outputs
from hg_common.records import SCHEMA_VERSION
from hg_extract.ml import MLError

BACKENDS = ("local", "api", "off")
ML_SIZE = 800
"""The preview the model sees: as HomeGallery, the largest one of at most 800 px."""
ML = "ml"
PREFIX = "similar images and objects: "
OBJECTS, FACES = "objects", "faces"
PARTS = (OBJECTS, FACES)
"""The local backend's passes: CenterNet (objects and the similarity vector), dlib (faces)."""


@dataclass(frozen=True)
class MLTask:
    id: str
    preview: str
    """Storage-relative path of the preview to analyse."""
    file: dict[str, Any]
    """The primary's source, root, path and checksum (for the records)."""
    parts: tuple[str, ...] = PARTS
    """The local backend's passes this entry needs (`needed`)."""


@dataclass
class MLResult:
    task: MLTask
    outputs: dict[str, Any] = field(default_factory=dict)
    """`similarity`, `objects` and/or `faces` as stored now."""
    errors: list[str] = field(default_factory=list)


def ml_preview(previews: list[str]) -> str | None:
    """The preview the model sees, of a list of storage paths (largest first)."""
    for rel in previews:
        split = layout.split_preview(rel)
        if split is not None and split[1] <= ML_SIZE:
            return rel
    return None


def stored(storage: Any, entry_id: str) -> dict[str, Any]:
    """The entry record's ML fields of what is stored (see `ml_outputs`)."""
    return ml_outputs(
        storage.read_json(entry_id, layout.SIMILARITY),
        storage.read_json(entry_id, layout.OBJECTS),
        storage.read_json(entry_id, layout.FACES),
    )


def _local_current(value: Any) -> bool:
    from hg_extract.ml.local import MODEL_NAME, MODEL_VERSION

    return (
        isinstance(value, dict)
        and value.get("model") == MODEL_NAME
        and value.get("version") == MODEL_VERSION
    )


def needed(
    backend: str, force: bool, storage: Any, entry_id: str, have: dict, faces: bool = True
) -> tuple[str, ...]:
    """The passes of `backend` the entry needs, none when it needs none (`have`: what
    `stored` found; `faces`: whether the local backend looks for faces)."""
    if backend == "off":
        return ()
    local_pair = _local_current(have.get("similarity")) and _local_current(have.get("objects"))
    if backend == "api":
        if force or not (local_pair or all(storage.exists(entry_id, w) for w in ENDPOINT_FILES)):
            return PARTS
        # hg's current pair is as good as the server's answers: only the faces are missing
        # (a server that has none answers 501, and is asked once a run, `ApiClient`)
        return (FACES,) if faces and not storage.exists(entry_id, layout.FACES) else ()
    from hg_extract.ml.faces import is_current

    parts = []
    if force or not local_pair:
        parts.append(OBJECTS)
    if faces and (force or not is_current(have.get("faces"))):
        parts.append(FACES)
    return tuple(parts)


ENDPOINT_FILES = (layout.SIMILARITY, layout.OBJECTS, layout.FACES)


def task_for(group: Any, previews: list[str], parts: tuple[str, ...] = PARTS) -> MLTask | None:
    preview = ml_preview(previews)
    if preview is None or not parts:
        return None
    p = group.primary
    file = {k: p.get(k) for k in ("source", "root", "path", "checksum")}
    return MLTask(group.id, preview, file, parts)


# -- the backends ---------------------------------------------------------------------------


def run_local(storage: Any, task: MLTask, threads: int) -> MLResult:
    """The local models' passes (in a worker process) on the preview, decoded once: each
    pass stores all its files or none, and a pass that fails leaves the other's results."""
    from hg_extract.ml import local

    try:
        img = read_preview(storage.root / task.preview)
    except MLError as exc:
        return MLResult(task, errors=[str(exc)])
    result = MLResult(task)
    created = local.now_utc()
    if OBJECTS in task.parts:
        try:
            analysis = local.model(threads).run(img)
        except MLError as exc:
            result.errors.append(str(exc))
        else:
            _store(storage, result, {
                "objects": (layout.OBJECTS, local.objects_json(analysis, created)),
                "similarity": (layout.SIMILARITY, local.similarity_json(analysis, created)),
            })  # fmt: skip
    if FACES in task.parts:
        from hg_extract.ml import faces

        try:
            found = faces.model().run(faces.rgb_array(img))
        except MLError as exc:
            result.errors.append(f"faces: {exc}")
        else:
            _store(storage, result, {"faces": (layout.FACES, faces.faces_json(found, created))})
    return result


def load_shared() -> None:
    """The face models loaded in this process (hg-extract's parent) before it forks the
    workers that run the passes (`pool.Workers.share_models`): the models (~35 MiB of
    dlib's heap) are only read by a pass, so the workers share one copy instead of holding
    one each, and they are loaded once instead of once per worker. dlib starts no thread,
    so the fork after it is safe (onnxruntime starts one at its import: its session stays
    in the workers). A load that fails is remembered by `faces.model()`: every entry of
    the workers then gets that error, as when they loaded it themselves."""
    from hg_extract.ml import faces

    try:
        faces.model()
    except Exception:  # remembered if a ModelError; else the workers try (and answer) it
        pass


def read_preview(path: Any) -> Any:
    """The preview as an RGB Pillow image; MLError when it cannot be read."""
    from PIL import Image

    try:
        with Image.open(path) as img:
            img.load()
            return img.convert("RGB")
    except (OSError, ValueError, Image.DecompressionBombError, SyntaxError) as exc:
        raise MLError(f"the preview cannot be read: {type(exc).__name__}: {exc}") from exc


def _store(storage: Any, result: MLResult, files: dict[str, tuple[str, Any]]) -> None:
    """Write one pass's files (record key -> (artefact, value)): all, or none and an error."""
    written: list[str] = []
    try:
        for what, value in files.values():
            storage.write_json(result.task.id, what, value)
            written.append(what)
    except OSError as exc:
        for what in written:  # nothing stored half
            try:
                storage.path(result.task.id, what).unlink(missing_ok=True)
            except OSError:
                pass
        result.errors.append(f"cannot store the results: {exc.strerror or exc}")
        return
    result.outputs.update({key: value for key, (_, value) in files.items()})


API_PARTS = {OBJECTS: ("embeddings", "objects"), FACES: ("faces",)}
"""The api-server's endpoints of each part."""


def run_api(storage: Any, client: Any, task: MLTask) -> MLResult:
    """One preview through the api server (in a thread of the parent): each answer of the
    task's parts stored verbatim as it came; a detector that failed stores nothing."""
    from hg_extract.ml.api import ENDPOINTS

    endpoints = tuple(e for part in task.parts for e in API_PARTS[part])
    if all(e in client.not_offered for e in endpoints):
        return MLResult(task)  # nothing to ask: the preview is not even read
    try:
        jpeg = (storage.root / task.preview).read_bytes()
    except OSError as exc:
        return MLResult(task, errors=[f"the preview cannot be read: {exc.strerror or exc}"])
    answer = client.analyse(jpeg, endpoints)
    result = MLResult(task, errors=list(answer.errors.values()))
    # A detector disabled after repeated errors is still this entry's error: with an error
    # record (not only a log line) the entry is retried by the next run or --retry-failed,
    # instead of staying without objects or faces unnoticed.
    result.errors += [
        f"{client.display_url}/{endpoint}: not asked, disabled for this run after repeated errors"
        for endpoint in answer.disabled
    ]
    for endpoint, body in answer.answers.items():
        what = ENDPOINTS[endpoint]
        try:
            storage.write_bytes(task.id, what, body)
        except OSError as exc:
            result.errors.append(f"cannot store {what}: {exc.strerror or exc}")
            continue
        if endpoint == "embeddings":
            result.outputs["similarity"] = orjson.loads(body)
        elif endpoint == "objects":
            result.outputs["objects"] = orjson.loads(body)
        elif endpoint == "faces":
            result.outputs["faces"] = orjson.loads(body)
    return result


# -- records --------------------------------------------------------------------------------


def ml_record(result: MLResult) -> dict[str, Any]:
    return {"type": ML, "v": SCHEMA_VERSION, "id": result.task.id, **result.task.file,
            **result.outputs}  # fmt: skip


def error_sentence(errors: list[str]) -> str:
    return PREFIX + "; ".join(errors)


def worker_threads(jobs: int) -> int:
    from hg_extract.ml.local import threads_for

    return threads_for(jobs, len(os.sched_getaffinity(0)))
