"""The primary rule a live import and a rebuild share (`hg_common.groups.entry_group`)."""

from __future__ import annotations

from hg_common.filetypes import file_type
from hg_common.groups import entry_group, make_groups


def rec(path, size, n):
    return {"type": "add", "source": "s", "root": "/r", "path": path, "size": size,
            "checksum": f"{n:064x}"}  # fmt: skip


def test_of_equal_sizes_the_alphabetically_last_path_is_primary():
    upper, lower, side = rec("pair.BMP", 900, 1), rec("pair.bmp", 900, 2), rec("pair.xmp", 9, 3)
    (group,) = make_groups([upper, lower, side])
    assert group.primary is lower and group.files == (lower, upper, side)


def test_a_failed_file_is_never_in_the_entry_and_an_unreadable_one_is_passed_over():
    png, jpg, heic = rec("a.png", 900, 1), rec("a.jpg", 300, 2), rec("a.heic", 100, 3)
    group, left_out = entry_group([png, jpg, heic], failed={heic["checksum"]})
    assert group.primary is png and group.files == (png, jpg) and left_out == [heic]
    readable = {jpg["checksum"], heic["checksum"]}
    group, left_out = entry_group([png, jpg, heic], readable=lambda f: f["checksum"] in readable)
    assert group.primary is jpg and group.files == (jpg, heic) and left_out == [png]
    assert entry_group([png, jpg], failed={png["checksum"], jpg["checksum"]}) == (None, [png, jpg])


def test_the_one_type_table():
    assert [file_type(p) for p in ("a.HEIC", "a.hif", "a.pef", "a.x3f", "a.m2ts", "a.xmp")] == [
        "image", "image", "rawImage", "rawImage", "video", "meta",
    ]  # fmt: skip
    assert file_type(".jpg") == "unknown" and file_type("README") == "unknown"
