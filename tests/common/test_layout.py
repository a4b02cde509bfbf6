"""The storage layout's path rule, read back the way purge and hg-serve read it."""

from __future__ import annotations

import errno
import os

import pytest

from hg_common import layout

C = "ab" + "cd" + "e" * 60


def test_a_path_is_parsed_back_to_its_checksum_and_artefact():
    rel = layout.relpath(C, layout.preview(800))
    assert rel == f"ab/cd/{'e' * 60}-image-preview-800.jpg"
    assert layout.parse(rel) == (C, "image-preview-800.jpg")
    assert layout.split_preview(rel) == (layout.prefix(C), 800)
    assert layout.preview_size("image-preview-800.jpg") == 800
    assert layout.parse(layout.relpath(C, layout.META)) == (C, layout.META)


@pytest.mark.parametrize(
    "rel",
    [
        f"ab/cd/.{'e' * 60}-meta.json.4242.x1y2.tmp",  # a temp file is no artefact
        f"ab/cd/{'e' * 59}-meta.json",  # a checksum too short
        f"ab/cd/{'E' * 60}-meta.json",  # not lower-case hex
        f"ab/cd/{'e' * 60}-",  # no artefact name
        f"ab/{'e' * 60}-meta.json",  # another depth
        ".hg-extract.12.run",
    ],
)
def test_what_is_no_artefact_parses_to_none(rel):
    assert layout.parse(rel) is None


def test_temp_names_carry_their_writers_pid():
    name = layout.temp_prefix("x-meta.json", 4242) + "ab_c9" + layout.TEMP_SUFFIX
    assert layout.temp_pid(name) == 4242
    assert layout.temp_pid("x-meta.json") is None
    with pytest.raises(ValueError):
        layout.relpath("not hex", layout.META)


def test_stored_lists_one_checksums_artefacts(tmp_path):
    for what in (layout.META, layout.preview(128), layout.COLORS):
        path = layout.path(tmp_path, C, what)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x")
    (layout.path(tmp_path, C, "x").parent / ".tmp-file.1.a.tmp").write_bytes(b"")
    assert layout.stored(tmp_path, C) == {layout.META, layout.preview(128), layout.COLORS}
    assert layout.stored(tmp_path, "ff" * 32) == set()
    assert list(layout.folders(tmp_path)) == [tmp_path / "ab" / "cd"]


def test_write_atomic_replaces_the_file_and_leaves_no_temp(tmp_path):
    target = tmp_path / "state" / "import-status.json"
    layout.write_atomic(target, b"old")
    layout.write_atomic(target, b"new", durable=True)
    assert target.read_bytes() == b"new"
    assert oct(target.stat().st_mode & 0o777) == oct(layout.FILE_MODE)
    assert [p.name for p in target.parent.iterdir()] == ["import-status.json"]


def test_write_atomic_names_the_target_when_it_cannot_write(tmp_path):
    blocker = tmp_path / "home"
    blocker.write_bytes(b"a file where a folder should be")
    target = blocker / "import-status.json"
    with pytest.raises(OSError) as failed:
        layout.write_atomic(target, b"x")
    assert failed.value.filename == str(target)


def test_write_atomic_keeps_the_old_file_when_the_write_fails(tmp_path, monkeypatch):
    target = tmp_path / "import-status.json"
    layout.write_atomic(target, b"old")

    def full(*_args):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)  # the disk fills up before the data is on it
    with pytest.raises(OSError, match="No space left") as failed:
        layout.write_atomic(target, b"new", durable=True)
    assert failed.value.filename == str(target)
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["import-status.json"]
