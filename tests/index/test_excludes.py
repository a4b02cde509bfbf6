import pytest

from hg_common.errors import ConfigError
from hg_index.excludes import build_excludes, read_exclude_file


def test_gitignore_semantics_case_insensitive():
    ex = build_excludes(["*.mov", "/Trash/", "tmp/", "# comment", ""])
    assert ex.skips_file("a/b/CLIP.MOV")
    assert not ex.skips_file("a/b/photo.jpg")
    assert ex.skips_dir("Trash")
    assert not ex.skips_dir("a/Trash")  # anchored
    assert ex.skips_dir("a/tmp")


def test_negation_only_images(tmp_path):
    from tests.conftest import REPO

    ex = build_excludes(read_exclude_file(REPO / "examples" / "only-images.exclude"))
    assert not ex.skips_dir("2021/holiday")
    assert not ex.skips_file("2021/holiday/IMG_1.JPG")
    assert not ex.skips_file("a.png")
    assert not ex.skips_file("a.jpeg")
    assert ex.skips_file("2021/clip.mp4")
    assert ex.skips_file("IMG_1.CR2")


def test_markers():
    ex = build_excludes([], [".nomedia"])
    assert ex.marks_skip(["a.jpg", ".nomedia"])
    assert not ex.marks_skip(["a.jpg"])


def test_missing_exclude_file_is_an_error(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        read_exclude_file(tmp_path / "nope.exclude")
