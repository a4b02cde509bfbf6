"""The demo's sample archive: real EXIF read back by exiftool, a valid video, and hg-index
indexes all of it except the `.nomedia` folder."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import unicodedata

import pytest
from PIL import Image, ImageOps

from tests.demo.conftest import REPO, hg_tool


def exiftool_json(paths, *tags):
    out = subprocess.run(
        ["exiftool", "-json", "-n", *[f"-{t}" for t in tags], *map(str, paths)],
        check=True,
        capture_output=True,
    ).stdout
    return {os.path.basename(r["SourceFile"]): r for r in json.loads(out)}


def test_photos_carry_real_exif(sample_archive, sample_manifest):
    photos = sample_manifest["photos"]
    assert len(photos) >= 40
    tags = ["DateTimeOriginal", "OffsetTimeOriginal", "SubSecTimeOriginal", "Orientation"]
    tags += ["GPSLatitude", "GPSLongitude", "Make", "Model", "ImageWidth", "ImageHeight"]
    read = exiftool_json([sample_archive / p["path"] for p in photos], *tags)
    for p in photos:
        r = read[os.path.basename(p["path"])]
        assert r.get("DateTimeOriginal") == p["taken"], p["path"]
        assert r.get("OffsetTimeOriginal") == p["offset"], p["path"]
        assert r.get("Make") == p["make"]
        if p["make"]:
            assert r["Orientation"] == p["orientation"]
            assert str(r["SubSecTimeOriginal"]).zfill(3) == p["subsec"]
        if p["gps"]:
            assert r["GPSLatitude"] == pytest.approx(p["gps"][0], abs=1e-5)
            assert r["GPSLongitude"] == pytest.approx(p["gps"][1], abs=1e-5)
        else:
            assert "GPSLatitude" not in r
        stored = (r["ImageWidth"], r["ImageHeight"])
        upright = tuple(p["upright_size"])
        assert stored == (upright[::-1] if p["orientation"] in (6, 8) else upright)
    years = {p["taken"][:4] for p in photos if p["taken"]}
    assert {"2015", "2024"} <= years and len(years) >= 8
    assert len({p["offset"] for p in photos if p["offset"]}) >= 5
    assert len({p["country"] for p in photos if p["gps"]}) >= 6
    assert {6, 8} <= {p["orientation"] for p in photos}
    assert any(w * h >= 12_000_000 for w, h in (p["upright_size"] for p in photos))
    assert any(w < h for w, h in (p["upright_size"] for p in photos if p["orientation"] == 1))


def test_rotated_photos_display_upright(sample_archive, sample_manifest):
    for p in sample_manifest["photos"]:
        if p["orientation"] != 1:
            with Image.open(sample_archive / p["path"]) as img:
                assert ImageOps.exif_transpose(img).size == tuple(p["upright_size"])


def test_video_is_valid_and_located(sample_archive, sample_manifest):
    video = sample_archive / sample_manifest["video"]["path"]
    probe = json.loads(
        subprocess.run(
            ["ffprobe", "-v", "error", "-show_streams", "-show_format", "-of", "json", str(video)],
            check=True,
            capture_output=True,
        ).stdout
    )
    codecs = {s["codec_type"]: s["codec_name"] for s in probe["streams"]}
    assert codecs == {"video": "h264", "audio": "aac"}
    assert 2.0 <= float(probe["format"]["duration"]) <= 3.0
    assert probe["format"]["tags"]["creation_time"].startswith("2023-08-12T17:30:00")
    r = exiftool_json([video], "GPSLatitude", "GPSLongitude", "Keys:CreationDate")[video.name]
    lat, lon, _ = sample_manifest["video"]["gps"]
    assert (r["GPSLatitude"], r["GPSLongitude"]) == (
        pytest.approx(lat, abs=1e-4),
        pytest.approx(lon, abs=1e-4),
    )
    assert r["CreationDate"] == "2023:08:12 18:30:00+01:00"


def test_png_sidecars_and_raw_pair(sample_archive, sample_manifest):
    png = sample_archive / sample_manifest["png"]["path"]
    assert (
        exiftool_json([png], "DateTimeOriginal")[png.name]["DateTimeOriginal"]
        == (sample_manifest["png"]["taken"])
    )
    xmps = [sample_archive / p for p in sample_manifest["xmp_sidecars"]]
    read = exiftool_json(xmps, "XMP-dc:Subject", "XMP-xmp:Rating")
    for rel, tags in sample_manifest["xmp_sidecars"].items():
        r = read[os.path.basename(rel)]
        assert r["Subject"] == tags["XMP-dc:Subject"]
        assert r["Rating"] == int(tags["XMP-xmp:Rating"])
        # a sidecar belongs to a photo beside it (NAME.EXT.xmp or NAME.xmp)
        stem = rel[: -len(".xmp")]
        assert (sample_archive / stem).is_file() or (sample_archive / f"{stem}.JPG").is_file()
    raw, jpeg = (sample_archive / p for p in sample_manifest["raw_pair"])
    read = exiftool_json([raw, jpeg], "FileType", "Model", "DateTimeOriginal")
    assert read[raw.name]["FileType"] == "NEF"
    assert read[raw.name]["Model"] == read[jpeg.name]["Model"] == "NIKON D750"
    assert read[raw.name]["DateTimeOriginal"] == read[jpeg.name]["DateTimeOriginal"]


def test_hg_index_indexes_all_but_nomedia(sample_archive, sample_manifest, tmp_path):
    run = subprocess.run(
        [
            hg_tool("hg-index"),
            "--home",
            str(tmp_path / "home"),
            "--no-progress",
            str(sample_archive),
        ],
        capture_output=True,
    )
    assert run.returncode == 0, run.stderr.decode()
    records = [json.loads(line) for line in run.stdout.splitlines()]
    assert records.pop()["type"] == "scanned"  # the walk was complete (contract 4)
    assert {r["type"] for r in records} == {"add"}
    indexed = {r["path"] for r in records}
    on_disk = {
        unicodedata.normalize("NFC", p.relative_to(sample_archive).as_posix())
        for p in sample_archive.rglob("*")
        if p.is_file()
    }
    skipped = set(sample_manifest["skipped"])
    assert skipped and skipped <= on_disk
    assert indexed == on_disk - skipped
    assert "2018/2018-05 Zürich/Grüezi Zürich – Café 東京.jpg" in indexed


def test_second_run_leaves_a_complete_archive_alone(sample_archive):
    before = {p: p.stat().st_mtime_ns for p in sample_archive.rglob("*")}
    run = subprocess.run(
        [sys.executable, str(REPO / "demo" / "make_sample_archive.py"), str(sample_archive)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "already complete" in run.stderr
    assert {p: p.stat().st_mtime_ns for p in sample_archive.rglob("*")} == before


def test_refuses_a_foreign_folder_and_leaves_no_temp(tmp_path):
    foreign = tmp_path / "photos"
    foreign.mkdir()
    (foreign / "mine.jpg").write_bytes(b"not ours")
    run = subprocess.run(
        [sys.executable, str(REPO / "demo" / "make_sample_archive.py"), str(foreign)],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 2 and "not a sample archive" in run.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["photos"]
    assert [p.name for p in foreign.iterdir()] == ["mine.jpg"]
