"""Temp files of dead writers never outlive the next write into their folder, and a run
after a killed one sweeps them from the whole storage."""

from __future__ import annotations

import os

from hg_common.layout import TEMP_SUFFIX, relpath, temp_pid
from hg_extract.storage import Storage

from .conftest import run_extract
from .hostile import dead_pid

C = "ab" * 32
OTHER = "ff" * 32


def temp(storage, checksum: str, what: str, pid: int):
    target = storage / relpath(checksum, what)
    target.parent.mkdir(parents=True, exist_ok=True)
    path = target.parent / f".{target.name}.{pid}.x1y2z3_q{TEMP_SUFFIX}"
    path.write_bytes(b"half a file")
    return path


def test_temp_names_carry_their_writers_pid():
    assert temp_pid(".0123-image-preview-128.jpg.4242.ab_c9xyz.tmp") == 4242
    assert temp_pid("0123-meta.json") is None
    assert temp_pid(".0123-meta.json.tmp") is None


def test_a_write_removes_the_temps_of_dead_writers_in_its_folder(tmp_path):
    storage = tmp_path / "storage"
    stale = temp(storage, C, "video-720.mp4", dead_pid())  # another target of the folder
    live = temp(storage, C, "image-preview-1920.jpg", os.getpid())  # being written now
    Storage(storage).write_json(C, "meta.json", {"v": 1})
    names = sorted(p.name for p in (storage / relpath(C, "x")).parent.iterdir())
    assert not stale.exists() and live.exists()
    assert names == sorted([live.name, C[4:] + "-meta.json"])


def test_a_run_after_a_killed_run_sweeps_the_whole_storage(tmp_path):
    home = tmp_path / "home"
    storage = home / "storage"
    dead = dead_pid()
    stale = temp(storage, OTHER, "image-preview-128.jpg", dead)  # a folder nobody writes
    live = temp(storage, OTHER, "colors.json", os.getpid())
    mark = storage / f".hg-extract.{dead}.run"  # the killed run's: it never removed it
    mark.touch()
    code, records, stderr = run_extract(home, b"")
    assert code == 0, stderr
    assert not stale.exists() and live.exists()
    assert not mark.exists()
    assert not [p for p in storage.iterdir() if p.name.endswith(".run")]  # nor its own
