"""The long-lived exiftool: batches, a hanging file costs only itself, normalisation."""

from __future__ import annotations

import os
import shutil
import time

from hg_extract.exif import ExifReader, binary_sizes
from hg_extract.normalise import normalise
from tests.conftest import media_file


def test_batch_with_bad_files(tmp_path):
    good = tmp_path / "a.jpg"
    shutil.copyfile(media_file("exif-samples/jpg/gps/DSCN0010.jpg"), good)
    fifo = tmp_path / "hang.jpg"
    os.mkfifo(fifo)  # a special file: exiftool must not block on it
    other = tmp_path / "b.raf"
    shutil.copyfile(media_file("exiftool/images/FujiFilm.raf"), other)
    reader = ExifReader(file_timeout=1.5, batch_timeout=1.0)
    try:
        start = time.monotonic()
        out = reader.read([str(good), str(fifo), str(other), str(tmp_path / "gone.jpg")])
        assert time.monotonic() - start < 20
        assert out[str(good)]["Make"] == "NIKON"
        assert isinstance(out[str(fifo)], str)
        assert out[str(other)]["Make"] == "FUJIFILM"
        assert binary_sizes(out[str(other)])[0][1] == "PreviewImage"
        assert "vanished" in out[str(tmp_path / "gone.jpg")]
    finally:
        reader.close()


def test_timeout_kills_and_restarts_exiftool(tmp_path):
    paths = []
    for i in range(6):
        paths.append(str(tmp_path / f"{i}.jpg"))
        shutil.copyfile(media_file("exif-samples/jpg/Reconyx_HC500_Hyperfire.jpg"), paths[-1])
    reader = ExifReader(file_timeout=0.001, batch_timeout=0.001)
    try:
        reader.read([paths[0]])  # start exiftool; then every call is far too slow
        out = reader.read(paths)
        assert all(isinstance(v, dict) or "timed out" in v for v in out.values())
        assert any(isinstance(v, str) for v in out.values())
        reader.file_timeout, reader.batch_timeout = 20, 20
        again = reader.read(paths)  # a fresh exiftool answers for every file
        assert all(again[p]["MIMEType"] == "image/jpeg" for p in paths)
    finally:
        reader.close()


def test_normalise_signs_and_tags():
    raw = {
        "GPSLatitude": 33.9,
        "GPSLatitudeRef": "S",
        "GPSLongitude": 18.4,
        "GPSLongitudeRef": "E",
        "GPSAltitude": 12.345,
        "GPSAltitudeRef": 1,
        "Subject": ["Beach", "sun"],
        "Keywords": "beach",
        "HierarchicalSubject": ["Places|Cape Town"],
        "DateTimeOriginal": "0000:00:00 00:00:00",
        "CreateDate": "2020:01:02 03:04:05",
        "OffsetTime": "+02:00",
        "Orientation": 6,
        "ExposureTime": 0.004,
    }
    meta = normalise(raw)
    assert (meta["latitude"], meta["longitude"], meta["altitude"]) == (-33.9, 18.4, -12.35)
    assert meta["tags"] == ["Places|Cape Town", "beach", "sun"]
    assert meta["dates"] == {"CreateDate": "2020:01:02 03:04:05", "offset": "+02:00"}
    assert meta["orientation"] == 6 and meta["exposure"] == 0.004
    assert normalise({"GPSLatitude": 0, "GPSLongitude": 0})["latitude"] is None
