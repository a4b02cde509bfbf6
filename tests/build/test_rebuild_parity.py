"""A live import and `hg-build --rebuild` make the same database from the same archive.

User edits are keyed by entry id and a rebuild replays them, so a rebuild that picked
another primary (another id), typed a file otherwise or left a file out would lose edits
and change what the gallery shows. The archive: real HEIC, RAW+JPEG pairs, a sidecar XMP,
a live photo, copies of one file under two names (one with a rarer extension), two
different files of equal size in one group, and a broken larger twin that exiftool reads
but no decoder does (the live import falls back past it).
"""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

from PIL import Image

from tests.conftest import media_file, run_tool
from tests.extract.hostile import heic_that_raises, photo


def archive(root: Path) -> Path:
    src = root / "photos"
    heic = media_file("exif-samples/heic/mobile/iphone_13_pro_max.HEIC")
    (src / "heic").mkdir(parents=True)
    shutil.copy(heic, src / "heic" / "IMG_2001.HEIC")
    (src / "copies").mkdir()
    shutil.copy(heic, src / "copies" / "IMG_2001.hif")  # the same bytes, another name
    shutil.copy(media_file("exif-samples/jpg/gps/DSCN0010.jpg"), src / "copies" / "a.jpg")
    shutil.copy(media_file("exif-samples/jpg/gps/DSCN0010.jpg"), src / "copies" / "b.jpg")
    (src / "raw").mkdir()
    shutil.copy(media_file("exiftool/images/FujiFilm.raf"), src / "raw" / "DSCF0001.RAF")
    photo(src / "raw" / "DSCF0001.JPG", 1)  # its camera JPEG, smaller: the RAF is primary
    shutil.copy(media_file("exiftool/images/DNG.dng"), src / "raw" / "DNG0001.dng")
    shutil.copytree(media_file("tricky/sidecar"), src / "sidecar")
    shutil.copytree(media_file("tricky/livephoto"), src / "livephoto")
    (src / "twins").mkdir()
    for name, colour in (("pair.BMP", (200, 10, 10)), ("pair.bmp", (10, 200, 10))):
        Image.new("RGB", (40, 30), colour).save(src / "twins" / name)
    heic_that_raises(src / "broken" / "shadow.heic", 3)
    photo(src / "broken" / "shadow.jpg", 4, (8, 8))
    for path in src.rglob("*"):
        path.chmod(0o755 if path.is_dir() else 0o644)
    return src


def tables(home: Path) -> dict[str, list[tuple]]:
    """Every row of the tables a build writes, without the times of this run."""
    conn = sqlite3.connect(home / "gallery.db")
    try:
        out = {}
        for table, skip in (("entries", {"updated"}), ("files", set()), ("tags", set()),
                            ("failures", {"first_seen", "last_seen"})):  # fmt: skip
            columns = [r[1] for r in conn.execute(f"PRAGMA table_info({table})")]
            keep = ", ".join(c for c in columns if c not in skip)
            out[table] = sorted(conn.execute(f"SELECT {keep} FROM {table}"), key=repr)
        return out
    finally:
        conn.close()


def test_a_rebuild_makes_the_database_the_live_import_made(tmp_path):
    src = archive(tmp_path)
    home = tmp_path / "home"
    index = run_tool("hg-index", str(src), home=home)
    assert index.returncode == 0, index.stderr
    extract = run_tool("hg-extract", "--jobs", "2", "--no-progress", home=home, stdin=index.stdout)
    assert extract.returncode == 1, extract.stderr  # shadow.heic cannot be decoded
    build = run_tool("hg-build", home=home, stdin=extract.stdout)
    assert build.returncode == 1, build.stderr
    live = tables(home)

    entries = {r["id"]: r for r in extract.of_type("entry")}
    checksum = {r["path"]: r["checksum"] for r in index.records if r["type"] == "add"}
    by_id = {row[0]: row for row in live["entries"]}
    # The cases are really there: an equal-size pair (the alphabetically last is primary),
    # the fallback past the broken twin, HEIC as an image, a RAW with its JPEG sidecar.
    assert checksum["twins/pair.bmp"] in by_id and checksum["twins/pair.BMP"] not in by_id
    assert checksum["broken/shadow.jpg"] in by_id and checksum["broken/shadow.heic"] not in by_id
    assert entries[checksum["heic/IMG_2001.HEIC"]]["media_type"] == "image"
    raw = entries[checksum["raw/DSCF0001.RAF"]]
    assert raw["media_type"] == "rawImage" and len(raw["files"]) == 2 and raw["previews"]
    conn = sqlite3.connect(home / "gallery.db")
    files = {path for (path,) in conn.execute("SELECT path FROM files")}
    conn.close()
    assert {"copies/IMG_2001.hif", "copies/a.jpg", "copies/b.jpg"} <= files

    rebuild = run_tool("hg-build", "--rebuild", home=home)
    assert rebuild.returncode == 0, rebuild.stderr
    rebuilt = tables(home)
    for table in live:
        only_live = [r for r in live[table] if r not in rebuilt[table]]
        only_rebuilt = [r for r in rebuilt[table] if r not in live[table]]
        assert (table, only_live, only_rebuilt) == (table, [], [])
        assert rebuilt[table] == live[table]  # the same rows the same number of times
