"""bin/hg-import end to end with every stage: a clean tree ends in the database with exit 0;
real media with broken files ends with exit 1 and every good file in the database; deletes and
renames between runs; kill -9 mid-chunk then a re-run gives the same database."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest

from hg_common.indexfile import pending_path, read_count
from tests.conftest import media_file
from tests.import_loop.conftest import (
    REPO,
    env,
    gallery,
    gallery_paths,
    hg,
    hg_import,
    make_jpegs,
)

N = 48  # batch 1 chunks: 10, 20, 18


@pytest.fixture(scope="module")
def clean_tree(tmp_path_factory):
    src = tmp_path_factory.mktemp("clean") / "src"
    make_jpegs(src, N, size=(1600, 1200))
    return src


@pytest.fixture(scope="module")
def reference(clean_tree, tmp_path_factory):
    """An uninterrupted import of the clean tree."""
    home = tmp_path_factory.mktemp("reference") / "home"
    run = hg_import(clean_tree, home=home)
    return home, run


def storage_files(home):
    return {
        str(p.relative_to(home / "storage")): p.stat().st_mtime_ns
        for p in (home / "storage").rglob("*")
        if p.is_file()
    }


def test_a_clean_tree_ends_in_the_database_with_exit_0(clean_tree, reference):
    home, run = reference
    assert run.returncode == 0, run.stderr
    assert "batch 1 chunk 1: 10 added" in run.stderr
    assert "batch 1 chunk 3: 18 added" in run.stderr
    entries = gallery(home)
    assert len(entries) == N
    on_disk = {str(p.relative_to(clean_tree)) for p in clean_tree.rglob("*.jpg")}
    assert gallery_paths(home) == on_disk
    assert all(e["previews"] for e in entries)
    # progress: totals from `hg-index --count`, files done / total per batch
    assert f"hg-import: batch 1: {N} / {N} files" in run.stderr
    status = orjson.loads((home / "import-status.json").read_bytes())
    assert status["state"] == "finished" and status["exit"] == 0
    assert status["files"] == status["total_files"] == N
    assert not list((home / "index").glob("*.next"))
    # one hg-extract | hg-build served every chunk (one summary each, at the end), and
    # they are gone; batches 2 and 3 had nothing to add, so they did not run
    assert run.stderr.count("hg-extract: ") == 1
    assert run.stderr.count("hg-build: ") == 1
    assert "batch 2 chunk" not in run.stderr
    left = subprocess.run(["pgrep", "-f", f"hg-extract.*{home}"], capture_output=True)
    assert left.stdout == b""


def test_kill_9_mid_chunk_then_rerun_gives_the_same_database(clean_tree, reference, tmp_path):
    home = tmp_path / "home"
    proc = subprocess.Popen(
        [str(REPO / "bin" / "hg-import"), "--home", str(home), str(clean_tree)],
        env=env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,  # its own process group: the stages die with it
    )
    status_file = home / "import-status.json"
    deadline = time.monotonic() + 120
    status: dict = {}
    while time.monotonic() < deadline and proc.poll() is None:
        if status_file.exists():
            status = orjson.loads(status_file.read_bytes())
            if status["chunk"] >= 2 and status["current_batch"]["files"] > 10:
                break  # chunk 2 is being extracted and built
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)  # hg-import and every stage, like a power cut
    proc.wait()
    assert status.get("state") == "running", "the import finished before it could be killed"
    index = home / "index" / "src.ndjson"
    known = read_count(index)
    assert known < N  # the chunk being worked on was not committed
    in_db = len(gallery(home))
    assert in_db >= known  # what the index knows is in the database; maybe more (idempotent)

    rerun = hg_import(clean_tree, home=home)
    assert rerun.returncode == 0, rerun.stderr
    assert gallery(home) == gallery(reference[0])
    assert not pending_path(index).exists()


def test_a_failed_stage_loses_no_chunk(clean_tree, tmp_path):
    """hg-build fails after hg-index ran with --defer-commit: the files are offered again."""
    home = tmp_path / "home"
    index = subprocess.run(
        [str(hg_bin("hg-index")), "--home", str(home), "--defer-commit", str(clean_tree)],
        capture_output=True,
        env=env(),
    )
    assert index.returncode == 0
    (home / "gallery.db").mkdir()  # hg-build cannot open its database
    build = hg("hg-build", home=home, stdin=b"")
    assert build.returncode == 2
    (home / "gallery.db").rmdir()
    run = hg_import(clean_tree, home=home)
    assert run.returncode == 0, run.stderr
    assert len(gallery(home)) == N


def hg_bin(name):
    return Path(sys.executable).parent / name


def test_delete_and_rename_between_runs(clean_tree, tmp_path):
    src = tmp_path / "src"
    shutil.copytree(clean_tree, src)
    home = tmp_path / "home"
    assert hg_import(src, home=home).returncode == 0
    before = storage_files(home)

    (src / "2000" / "event 0" / "IMG_0000.jpg").unlink()
    os.rename(src / "2001", src / "renamed 2001")
    run = hg_import(src, home=home)
    assert run.returncode == 0, run.stderr
    paths = gallery_paths(home)
    assert "2000/event 0/IMG_0000.jpg" not in paths and len(paths) == N - 1
    assert not any(p.startswith("2001/") for p in paths)
    moved = [p for p in paths if p.startswith("renamed 2001/")]
    assert len(moved) == N // 3
    # the rename re-used every stored preview and metadata file: nothing was made again
    assert storage_files(home) == before
    assert f"{N // 3} moved" in run.stderr  # hg-build's summary


def test_real_media_with_broken_files_exit_1_and_every_good_file_is_in(tmp_path):
    src = tmp_path / "src"
    for part in ("tricky", "exif-samples/jpg/gps", "exif-samples/jpg/orientation"):
        shutil.copytree(media_file(part), src / part)
    home = tmp_path / "home"
    run = hg_import(src, home=home)
    assert run.returncode == 1, run.stderr  # zero-byte, truncated, not-an-image …
    errors = [orjson.loads(line) for line in run.stdout.splitlines()]
    failed = {e["path"] for e in errors if e["type"] == "error"}
    assert {"tricky/zero-byte.jpg", "tricky/not-an-image.jpg"} <= failed
    on_disk = {str(p.relative_to(src)) for p in src.rglob("*") if p.is_file()}
    sidecars = {p for p in on_disk if p.endswith(".xmp")}
    not_media = {p for p in on_disk if p.endswith("/README")}  # skipped, not failures
    good = on_disk - failed - sidecars - not_media
    in_db = gallery_paths(home)
    assert good <= in_db, sorted(good - in_db)
    assert not (not_media & in_db)
    assert len(good) > 30
    again = hg_import(src, home=home)  # nothing new; the zero-byte file is reported again
    assert again.returncode == 1 and "batch 1 chunk 1: 0 added" in again.stderr
    assert gallery_paths(home) == in_db
