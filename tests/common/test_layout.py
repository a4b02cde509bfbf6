"""The storage layout's path rule, read back the way purge and hg-serve read it."""

from __future__ import annotations

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
