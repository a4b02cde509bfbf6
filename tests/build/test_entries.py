"""hg_build.entries: the one-file fast path gives exactly what the group merge gives."""

from __future__ import annotations

import copy
import struct

import pytest

from bench.build import synthetic
from hg_build.entries import _merged, _single, display_size, media_from_entry


def variants() -> list[dict]:
    base = synthetic(100, seed=7)
    singles = [r for r in base if len(r["files"]) == 1]
    out = copy.deepcopy(singles[:40])
    odd = copy.deepcopy(singles[40:50])
    odd[0]["files"][0]["meta"] = {}  # nothing extracted: mtime date, no size
    odd[1]["files"][0].pop("meta")
    odd[2]["files"][0]["meta"]["dates"] = {"DateTimeOriginal": "0000:00:00 00:00:00"}
    odd[3]["files"][0]["meta"].update(latitude=1.5, longitude=None, altitude=3)  # half a fix
    odd[4]["files"][0]["meta"].update(make="", lens=[], iso=0, description="  ")
    odd[5]["files"][0]["meta"].update(rotation=90, orientation=None, duration=12.5)
    odd[6]["files"][0]["primary"] = False  # a lone file is the primary whatever it says
    odd[6]["files"][0]["file_type"] = "meta"
    odd[7]["media_type"] = None
    odd[8]["files"][0]["meta"]["tags"] = "one tag"
    gps = {"GPSDateTime": "2020:01:02 03:04:05Z", "offset": "+02:00"}
    odd[9]["files"][0]["meta"]["dates"] = gps
    return out + odd


@pytest.mark.parametrize("record", variants(), ids=lambda r: r["id"][:8])
def test_single_file_fast_path_matches_the_merge(record):
    f = record["files"][0]
    assert _single(record, record["id"], f) == _merged(record, record["id"], [dict(f)])
    assert media_from_entry(record) == _merged(record, record["id"], [dict(f)])


def test_fields_that_are_not_scalars_become_storable():
    """A record from a script may hold lists or objects where hg-extract writes numbers and
    text: the entry keeps its other fields and the build goes on (tested through the CLI
    in test_lifecycle's bad-input test too)."""
    record = copy.deepcopy(synthetic(1, seed=3)[0])
    f = record["files"][0]
    f["meta"].update(make=["Canon", 5, {"x": 1}], model={"a": 1}, iso=[100], aperture=True)
    f.update(mtime=[1], root=["/a"], checksum=7)
    record.update(media_type=["image"], address={"city": ["Köln", "Bonn"]}, similarity=[1, 2.5],
                  video={"path": "x.mp4"})  # fmt: skip
    media = media_from_entry(record)
    assert media["make"] == "Canon, 5" and media["model"] is None and media["city"] == "Köln, Bonn"
    assert media["iso"] is None and media["aperture"] is None and media["media_type"] == "image"
    assert media["files"][0]["mtime"] is None and media["files"][0]["root"] == "/a"
    assert media["files"][0]["checksum"] == "7"
    assert media["similarity"] == b"/\0f" + struct.pack("2f", 1, 2.5)  # model "", float32
    assert media["video"] is None
    assert media["width"] == f["meta"].get("width")  # the rest as it was


def test_a_heif_size_turns_by_its_rotation_not_by_exif_orientation():
    """A meta.json written before hg-extract dropped a HEIF's EXIF orientation still gets
    its size as its previews show it (no re-extraction needed)."""
    old_heic = {"mime": "image/heic", "width": 4032, "height": 3024, "orientation": 6}
    assert display_size(old_heic) == (4032, 3024)
    assert display_size({**old_heic, "rotation": 270}) == (3024, 4032)
    assert display_size({**old_heic, "mime": "image/jpeg"}) == (3024, 4032)
