"""Pure grouping of hg-index records into entries (HomeGallery's sidecar rule)."""

from __future__ import annotations

from hg_common.groups import Group, Unsupported, group_records

from .conftest import copy_media, run_extract, run_index


def rec(path, size, kind="add", source="s"):
    return {
        "type": kind,
        "v": 1,
        "source": source,
        "root": "/r",
        "path": path,
        "size": size,
        "checksum": f"{abs(hash(path)):064x}"[-64:],
    }


def test_raw_jpg_xmp_group_and_pass_through():
    stream = [
        rec("a/IMG_1.CR2", 900),
        rec("a/IMG_1.JPG", 300),
        rec("a/IMG_1.CR2.xmp", 2),
        rec("a/notes.txt", 5),
        {"type": "remove", "v": 1, "source": "s", "path": "a/old.jpg"},
        rec("a/IMG_2.xmp", 2),
        rec("b/IMG_1.jpg", 100, "move"),
    ]
    out = list(group_records(stream))
    assert out[0]["type"] == "remove" and out[1]["type"] == "move"  # passed through at once
    groups = [g for g in out if isinstance(g, Group)]
    assert [[f["path"] for f in g.files] for g in groups] == [
        ["a/IMG_1.CR2", "a/IMG_1.CR2.xmp", "a/IMG_1.JPG"],
        ["b/IMG_1.jpg"],
    ]
    assert groups[0].media_type == "rawImage" and groups[0].id == stream[0]["checksum"]
    unsupported = [u for u in out if isinstance(u, Unsupported)]
    assert [[f["path"] for f in u.files] for u in unsupported] == [["a/notes.txt"]]
    # an XMP alone is no entry and no error


def test_largest_media_file_is_primary_even_if_a_video():
    out = list(group_records([rec("IMG_0100.HEIC", 10), rec("IMG_0100.MOV", 20)]))
    assert out[0].media_type == "video" and out[0].primary["path"] == "IMG_0100.MOV"


def test_all_reads_the_index(tmp_path):
    src = copy_media(
        tmp_path / "src", ["tricky/sidecar/IMG_0001.jpg", "tricky/sidecar/IMG_0001.jpg.xmp"]
    )
    home = tmp_path / "home"
    run_index(home, src)
    code, records, stderr = run_extract(home, b"", "--all", "--no-geo")
    assert code == 0, stderr
    records = [r for r in records if r["type"] == "entry"]  # not the ml record after it
    assert [len(r["files"]) for r in records] == [2]
    assert {f["path"] for f in records[0]["files"]} == {
        "tricky/sidecar/IMG_0001.jpg",
        "tricky/sidecar/IMG_0001.jpg.xmp",
    }
