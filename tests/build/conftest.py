"""A gallery built from real media: hg-index -> extract stand-in (real exiftool) -> hg-build."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.build.extract_stand_in import extract
from tests.conftest import media_file

BIN = Path(sys.executable).parent


def run(tool: str, *args: str, home: Path, stdin: bytes = b"", check: bool = True):
    proc = subprocess.run(
        [str(BIN / tool), "--home", str(home), *args] if tool != "hg-build-sub" else [],
        input=stdin,
        capture_output=True,
        env={**os.environ, "HG_HOME": str(home)},
        timeout=300,
    )
    if check and proc.returncode not in (0, 1):
        raise AssertionError(f"{tool} {args} exited {proc.returncode}: {proc.stderr.decode()}")
    return proc


def hg_build(home: Path, *args: str, stdin: bytes = b"", check: bool = True):
    """Run `hg-build SUBCOMMAND… --home HOME` (options after the subcommand)."""
    proc = subprocess.run(
        [str(BIN / "hg-build"), *args, "--home", str(home)],
        input=stdin,
        capture_output=True,
        timeout=300,
    )
    if check and proc.returncode not in (0, 1):
        raise AssertionError(f"hg-build {args} exited {proc.returncode}: {proc.stderr.decode()}")
    return proc


def index_and_extract(home: Path, source: Path) -> bytes:
    """`hg-index SOURCE | extract stand-in` as NDJSON bytes for hg-build's stdin."""
    proc = run("hg-index", str(source), home=home)
    records = [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]
    entries = extract(records, home / "storage")
    return b"".join(json.dumps(r).encode() + b"\n" for r in entries)


def query(home: Path, text: str, *extra: str) -> list[dict]:
    proc = hg_build(home, "query", text, *extra, check=False)
    assert proc.returncode == 0, proc.stderr.decode()
    return [json.loads(line) for line in proc.stdout.splitlines()]


def names(results: list[dict]) -> set[str]:
    """File names of the results' primary files (a copy elsewhere is a primary too)."""
    return {f["path"].rsplit("/", 1)[-1] for r in results for f in r["files"] if f["primary"]}


def copy_media(dest: Path) -> Path:
    """A small real archive: tricky/, the GPS JPEGs, two orientations, a video."""
    src = dest / "photos"
    shutil.copytree(media_file("tricky"), src / "tricky")
    shutil.copytree(media_file("exif-samples/jpg/gps"), src / "gps")
    (src / "orientation").mkdir()
    for name in ("portrait_6.jpg", "landscape_1.jpg"):
        shutil.copy(media_file(f"exif-samples/jpg/orientation/{name}"), src / "orientation")
    shutil.copy(media_file("metadata-extractor/mp4/with-gps.mp4"), src / "with-gps.mp4")
    # Date priority: an XMP sidecar's date beats the JPEG's own GPSDateTime/DateTimeOriginal.
    (src / "prio").mkdir()
    shutil.copy(media_file("exif-samples/jpg/gps/DSCN0012.jpg"), src / "prio" / "P1.jpg")
    subprocess.run(  # other bytes than DSCN0012.jpg, so its own entry
        ["exiftool", "-q", "-overwrite_original", "-Comment=prio", str(src / "prio" / "P1.jpg")],
        check=True,
    )
    subprocess.run(
        ["exiftool", "-q", "-o", str(src / "prio" / "P1.xmp"),
         "-XMP:DateTimeOriginal=2022:03:04 05:06:07", "-XMP:Subject=xmp-tag"],
        check=True,
    )  # fmt: skip
    for path in src.rglob("*"):
        path.chmod(0o755 if path.is_dir() else 0o644)
    return src


@pytest.fixture(scope="session")
def gallery(tmp_path_factory) -> Path:
    """A home with a database built from copies of ../shared/media (read-only for tests)."""
    base = tmp_path_factory.mktemp("gallery")
    home = base / "home"
    source = copy_media(base)
    stdin = index_and_extract(home, source)
    proc = hg_build(home, stdin=stdin)
    assert proc.returncode == 1, proc.stderr.decode()  # zero-byte.jpg: an error record
    return home
