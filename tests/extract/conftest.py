"""Shared fixtures: real media copied to a temp dir, the real `hg-index | hg-extract` pipe."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import orjson
import pytest
from PIL import Image

from tests.conftest import media_file

BIN = Path(sys.executable).parent

# Small, varied files: orientation, GPS, XMP sidecars, HEIC, AVIF/WebP, RAW, video, broken.
PICK = [
    "exif-samples/jpg/orientation/portrait_1.jpg",
    "exif-samples/jpg/orientation/portrait_6.jpg",
    "exif-samples/jpg/gps/DSCN0010.jpg",
    "exif-samples/heic/mobile/iphone_13_pro_max.HEIC",
    "exiftool/images/FujiFilm.raf",
    "exiftool/images/DNG.dng",
    "exiftool/images/PDF.pdf",
    "tricky/sidecar/IMG_0001.jpg",
    "tricky/sidecar/IMG_0001.jpg.xmp",
    "tricky/sidecar/IMG_0002.jpg",
    "tricky/sidecar/IMG_0002.xmp",
    "tricky/truncated.jpg",
    "tricky/not-an-image.jpg",
    "tricky/png-named.jpg",
    "tricky/zero-byte.jpg",
    "tricky/generated.avif",
    "tricky/generated.webp",
    "tricky/rotated90-gps.mp4",
    "tricky/Straße_ümlaut.jpg",
]


def hg_env(home: Path) -> dict[str, str]:
    return {**os.environ, "HG_HOME": str(home), "PATH": f"{BIN}:{os.environ['PATH']}"}


def copy_media(dest: Path, picks: list[str] = PICK) -> Path:
    for rel in picks:
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(media_file(rel), target)
    return dest


def add_raw_with_sidecar(dest: Path) -> None:
    """A RAW (the larger file, so primary) with a JPG of the same base name."""
    (dest / "rawpair").mkdir(exist_ok=True)
    raf = (media_file("exiftool/images/FujiFilm.raf")).read_bytes()
    (dest / "rawpair/IMG_9.RAF").write_bytes(raf + b"\0" * 64)  # other content, other id
    shutil.copyfile(
        media_file("exif-samples/jpg/Fujifilm_FinePix_E500.jpg"), dest / "rawpair/IMG_9.JPG"
    )


def add_bomb(dest: Path) -> None:
    """256 MP of a 1-bit PNG: a few KB on disk, a GB in RAM when decoded."""
    Image.new("1", (16000, 16000)).save(dest / "bomb.png", optimize=True)


def run_index(home: Path, src: Path) -> bytes:
    proc = subprocess.run(
        [BIN / "hg-index", str(src)], env=hg_env(home), capture_output=True, check=False
    )
    assert proc.returncode in (0, 1), proc.stderr
    return proc.stdout


def run_extract(home: Path, stdin: bytes, *args: str) -> tuple[int, list[dict], str]:
    proc = subprocess.run(
        [BIN / "hg-extract", "--no-progress", *args],
        input=stdin,
        env=hg_env(home),
        capture_output=True,
        check=False,
        timeout=600,
    )
    records = [orjson.loads(line) for line in proc.stdout.splitlines() if line.strip()]
    return proc.returncode, records, proc.stderr.decode()


def by_path(records: list[dict]) -> dict[str, dict]:
    """Entries and errors by the path of each file they name."""
    out = {}
    for rec in records:
        if rec["type"] == "entry":
            for f in rec["files"]:
                out[f["path"]] = rec
        elif "path" in rec and rec["type"] != "ml":
            out[rec["path"]] = rec
    return out


def with_ml(records: list[dict]) -> list[dict]:
    """The records with each `ml` record's similarity, objects and faces put into its entry,
    as a re-run prints the entry once they are stored."""
    entries: dict[str, list[dict]] = {}
    for rec in records:
        if rec["type"] == "entry":
            entries.setdefault(rec["id"], []).append(rec)  # copies of one photo: one id
    out = []
    for rec in records:
        if rec["type"] == "ml":
            for entry in entries[rec["id"]]:
                entry.update({k: rec[k] for k in ("similarity", "objects", "faces") if k in rec})
        else:
            out.append(rec)
    return out


@pytest.fixture(scope="session")
def pipeline(tmp_path_factory):
    """One real `hg-index | hg-extract` run over the picked media (2 jobs, with video)."""
    base = tmp_path_factory.mktemp("extract")
    src = copy_media(base / "src")
    add_raw_with_sidecar(src)
    (src / "webp").mkdir()
    shutil.copyfile(media_file("tricky/generated.webp"), src / "webp/generated.webp")
    add_bomb(src)
    home = base / "home"
    index_out = run_index(home, src)
    vanished = orjson.loads(index_out.splitlines()[0])
    vanished.update(type="add", path="gone/vanished.jpg", checksum="ab" * 32, size=10)
    stdin = index_out + orjson.dumps(vanished) + b"\n"
    code, records, stderr = run_extract(home, stdin, "--jobs", "2")
    return {
        "home": home,
        "src": src,
        "storage": home / "storage",
        "stdin": stdin,
        "code": code,
        "records": records,
        "stderr": stderr,
        "by_path": by_path(records),
    }
