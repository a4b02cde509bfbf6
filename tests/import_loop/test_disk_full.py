"""A full disk mid-import (issue 13, item 2), through the real bin/hg-import on a tiny tmpfs
with generated photos: the import stops with a message naming the disk and the space left,
commits no chunk with files that got no answer, and the next import after freeing space
completes the gallery (every photo in the database).

The disk fills up right after the first chunk: a test thread allocates all that is left.
Which part of the gallery lives on the small disk decides who meets the full disk first:
hg-import itself (its status file; before the fix its relay took that for a dead stage and
the chunk was committed with files never answered), hg-extract (storage; before the fix its
error records made the chunk count as done), hg-index (the index's .next file) or all of
them (everything in the home)."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import orjson
import pytest

from hg_common.indexfile import read_entries
from tests.conftest import tmpfs
from tests.import_loop.conftest import hg, hg_import, make_jpegs

N = 40  # batch 1 chunks: 10, 20, 10
SMALL_DISK = "20m"


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    src = tmp_path_factory.mktemp("photos") / "src"
    make_jpegs(src, N, size=(1600, 1200))
    return src


def fill(disk: Path) -> Path:
    """Allocate every free block of `disk`; the next write there fails with ENOSPC."""
    ballast = disk / "ballast"
    st = os.statvfs(disk)
    fd = os.open(ballast, os.O_CREAT | os.O_WRONLY)
    try:
        os.posix_fallocate(fd, 0, st.f_bavail * st.f_frsize)
    finally:
        os.close(fd)
    return ballast


def fill_after_first_chunk(home: Path, disk: Path, ballast: list[Path]) -> threading.Thread:
    """A thread that fills `disk` as soon as the first chunk's files are answered."""

    def watch():
        status_file = home / "import-status.json"
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                status = orjson.loads(status_file.read_bytes())
            except (OSError, orjson.JSONDecodeError):
                status = {}
            if status.get("current_batch", {}).get("files", 0) >= 10:
                ballast.append(fill(disk))
                return
            time.sleep(0.02)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


LAYOUTS = {
    # what lives on the small disk -> (top-level keys pointing elsewhere)
    "home": (),
    "status file": ("storage", "database", "events", "index_dir"),
    "storage": ("database", "events", "index_dir"),
    "index": ("storage", "database", "events"),
}


@pytest.mark.parametrize("layout", LAYOUTS)
def test_a_full_disk_stops_the_import_and_the_next_one_completes(photos, tmp_path, layout):
    other = tmp_path / "big disk"
    small = tmp_path / "small disk"
    with tmpfs(SMALL_DISK, small):
        home = small / "home" if layout in ("home", "status file") else other / "home"
        elsewhere = {"storage": "storage", "database": "gallery.db", "events": "events.ndjson"}
        elsewhere["index_dir"] = "index"
        config = {k: str(other / v) for k, v in elsewhere.items() if k in LAYOUTS[layout]}
        if layout == "storage":
            config["storage"] = str(small / "storage")
        if layout == "index":
            config["index_dir"] = str(small / "index")
        config_file = tmp_path / "config.toml"
        config_file.write_text("".join(f'{k} = "{v}"\n' for k, v in config.items()))
        ballast: list[Path] = []
        filler = fill_after_first_chunk(home, small, ballast)

        first = hg_import("--config", config_file, photos, home=home)
        filler.join(timeout=5)
        assert ballast, f"the import ended before the disk could be filled: {first.stderr}"
        assert first.returncode == 2, first.stderr
        said = first.stderr.splitlines()
        stop = [line for line in said if line.startswith("hg-import: stopped, the disk is full")]
        assert stop, first.stderr
        assert str(small) in stop[0] and " free of " in stop[0], stop[0]
        assert "done," not in first.stderr

        ballast[0].unlink()  # free the space
        # what the committed index knows is in the gallery: no chunk was committed with
        # files that were never answered
        index_dir = Path(config.get("index_dir", home / "index"))
        committed = {e["path"] for e in read_entries(index_dir / "src.ndjson")}
        assert committed <= gallery_paths_with(home, config_file), first.stderr

        again = hg_import("--config", config_file, photos, home=home)
        assert again.returncode == 0, again.stderr
        on_disk = {str(p.relative_to(photos)) for p in photos.rglob("*.jpg")}
        assert gallery_paths_with(home, config_file) == on_disk


def gallery_paths_with(home: Path, config_file: Path) -> set[str]:
    """The gallery's paths (`hg-build query` with the test's config); none when the disk
    filled up before the first chunk's database was put in place."""
    proc = hg("hg-build", "query", "", "--config", config_file, home=home)
    if proc.returncode == 2 and b"no database at" in proc.stderr:
        return set()
    assert proc.returncode == 0, proc.stderr.decode()
    return {f["path"] for line in proc.stdout.splitlines() for f in orjson.loads(line)["files"]}
