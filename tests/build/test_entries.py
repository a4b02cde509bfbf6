"""hg_build.entries: the one-file fast path gives exactly what the group merge gives."""

from __future__ import annotations

import copy

import pytest

from bench.build import synthetic
from hg_build.entries import _merged, _single, media_from_entry


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
