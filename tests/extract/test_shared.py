"""What hg-extract's workers share with their parent, and what they let go for an ML pass
(issue 15: the peak memory of an import with the ML step)."""

from __future__ import annotations

import gc
import multiprocessing
import os

import numpy as np
import orjson
from PIL import Image

from hg_common.groups import Group, group_records
from hg_extract.extractor import Extractor, Options
from hg_extract.ml import faces
from hg_extract.ml import step as ml
from hg_extract.pool import Workers
from tests.conftest import face_photos

from .conftest import run_index

BOTH = multiprocessing.get_context("fork").Barrier(2)
"""Inherited by every worker forked from here: two calls that wait for each other run in
the two workers, one each."""


def worker_state(_: object) -> dict:
    """In a worker: its pid, and whether it holds the face models (and where)."""
    BOTH.wait(timeout=60)
    return {"pid": os.getpid(), "model": id(faces._model) if faces._model is not None else None}


def worker_faces(path: str) -> list:
    with Image.open(path) as img:
        found = faces.model().run(faces.rgb_array(img.convert("RGB")))
    return [(f.box, f.score, f.landmarks, f.descriptor.tolist()) for f in found.faces]


def states(workers: Workers) -> dict[int, dict]:
    futures = [workers.submit(worker_state, None)[0] for _ in range(2)]
    return {s["pid"]: s for s in (f.result() for f in futures)}


def test_the_workers_share_the_face_models_loaded_once_in_the_parent(tmp_path, monkeypatch):
    # as in a fresh hg-extract: an earlier test may have loaded the models in this process
    monkeypatch.setattr(faces, "_model", None)
    monkeypatch.setattr(faces, "_model_error", None)
    face_photos(tmp_path / "src", ["obama-portrait.jpg"])
    workers = Workers(Options(storage=tmp_path / "storage"), 2)
    try:
        assert gc.get_freeze_count() > 0  # the parent's objects frozen before the fork
        before = states(workers)
        assert len(before) == 2 and all(s["model"] is None for s in before.values())

        workers.share_models(ml.load_shared)

        after = states(workers)
        assert len(after) == 2 and not set(after) & set(before)  # forked again
        # The parent's own model object, at the parent's address: inherited (copy on write),
        # not loaded. How many of its pages stay shared is measured by bench/import.py: a
        # count of shared pages here depends on what earlier tests left in this process.
        assert {s["model"] for s in after.values()} == {id(faces._model)}
        # Once a run: a second call changes nothing.
        workers.share_models(ml.load_shared)
        assert set(states(workers)) == set(after)

        # The same faces as the parent's own pass finds.
        path = str(tmp_path / "src" / "obama-portrait.jpg")
        theirs = workers.submit(worker_faces, path)[0].result()
    finally:
        workers.close()
    ours = worker_faces(path)
    assert len(theirs) == 1
    assert [t[:3] for t in theirs] == [o[:3] for o in ours]
    assert np.array_equal(np.asarray(theirs[0][3]), np.asarray(ours[0][3]))


def groups_of(home, src) -> list[Group]:
    records = [orjson.loads(line) for line in run_index(home, src).splitlines()]
    return [g for g in group_records(records) if isinstance(g, Group)]


def test_exiftool_is_stopped_for_an_ml_pass_and_back_for_the_next_unit(tmp_path):
    src = face_photos(tmp_path / "src", ["obama-portrait.jpg", "biden-portrait.jpg"])
    first, second = groups_of(tmp_path / "home", src)
    ex = Extractor(Options(storage=tmp_path / "home" / "storage"))
    try:
        [result] = ex.process([first])
        assert ex.reader._et is not None and ex.reader._et.running
        exiftool = ex.reader._et._process.pid

        [analysed] = ex.analyse([result.ml_task])

        assert ex.reader._et is None  # stopped for the pass
        assert not os.path.exists(f"/proc/{exiftool}") or _zombie(exiftool)
        assert set(analysed.outputs) == {"similarity", "objects", "faces"}
        assert len(analysed.outputs["faces"]["data"]) == 1

        [later] = ex.process([second])  # started again: the metadata is read as before

        assert ex.reader._et is not None and ex.reader._et.running
        meta = later.metas[second.id]
        assert meta["width"] > 0 and meta["mime"] == "image/jpeg", meta
        assert later.previews and not later.errors
    finally:
        ex.close()


def _zombie(pid: int) -> bool:
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()[0] == "Z"
