"""bin/hg-import: HomeGallery's three import batches, chunked by hg-index's add limits, end
with every file in the index; the chunk sizes follow the add-limit arithmetic."""

from __future__ import annotations

import json
import os
import re
import subprocess

import pytest

from tests.demo.conftest import BIN, REPO, hg_tool

MIB = 2**20
CHUNK = re.compile(r"^hg-import: batch (\d+) chunk (\d+): (\d+) added$", re.M)


def make_tree(root):
    """60 small files in nested folders, 8 of 21 MiB (batch 2), 4 of 201 MiB (batch 3).
    The large files are sparse: hashing reads zeros, the disk holds nothing."""
    for i in range(60):
        folder = root / f"y{i % 4}" / f"event {i % 3}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"IMG_{i:04d}.jpg").write_bytes(f"photo {i}\n".encode() * (i + 1))
    for name, count, size in (("mid", 8, 21 * MIB), ("big", 4, 201 * MIB)):
        for i in range(count):
            with open(root / f"{name}{i}.mov", "wb") as f:
                f.write(f"{name} {i}".encode())  # distinct content, distinct checksum
                f.truncate(size)
    return 60 + 8 + 4


def hg_import(*args, home):
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    return subprocess.run(
        [str(REPO / "bin" / "hg-import"), "--home", str(home), *map(str, args)],
        capture_output=True,
        text=True,
        env=env,
    )


def chunks(stderr):
    """{batch: [added per chunk]} from the log lines."""
    found: dict[int, list[int]] = {}
    for batch, chunk, added in CHUNK.findall(stderr):
        found.setdefault(int(batch), []).append(int(added))
        assert len(found[int(batch)]) == int(chunk)
    return found


@pytest.fixture(scope="module")
def imported(tmp_path_factory):
    base = tmp_path_factory.mktemp("import")
    files = make_tree(base / "src")
    run = hg_import("--index-only", base / "src", home=base / "home")
    return base, files, run


def test_every_file_ends_in_the_index(imported):
    base, files, run = imported
    assert run.returncode == 0, run.stderr
    stats = subprocess.run(
        [hg_tool("hg-index"), "stats", "--json", "--home", str(base / "home")],
        capture_output=True,
        check=True,
    )
    (record,) = [json.loads(line) for line in stats.stdout.splitlines()]
    assert record["files"] == files == record["unique"]
    assert record["bytes"] == sum(p.stat().st_size for p in (base / "src").rglob("*.*"))


def test_chunks_follow_the_add_limits(imported):
    _, _, run = imported
    # batch 1 (<= 20 MiB, 10,20,1.5,2000): empty index -> 10; then max(20, 50 % of the index)
    # batch 2 (<= 200 MiB, 2,5,1.1,30):   60 known -> max(5, 6) = 6; 66 -> 6 (2 left)
    # batch 3 (the rest, 1,2,1.05,10):    68 known -> max(2, 3) = 3; 71 -> 3 (1 left)
    assert chunks(run.stderr) == {1: [10, 20, 20, 10], 2: [6, 2], 3: [3, 1]}
    assert "hg-import: done, 72 files added (index only)" in run.stderr


def test_a_second_import_adds_nothing(imported):
    base, _, _ = imported
    run = hg_import("--index-only", base / "src", home=base / "home")
    assert run.returncode == 0, run.stderr
    # batch 1 runs (it is where new files are found); the later batches' counts say
    # nothing is new in them, so they are skipped
    assert chunks(run.stderr) == {1: [0]}


def test_an_unreadable_input_is_exit_1_and_the_import_completes(tmp_path):
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "a.jpg").write_bytes(b"a")  # not a JPEG: hg-extract reports it
    run = hg_import(tmp_path / "src", home=tmp_path / "home")
    assert run.returncode == 1, run.stderr
    assert chunks(run.stderr) == {1: [1]}  # nothing for batches 2 and 3: skipped
    assert '"type":"error"' in run.stdout and "a.jpg" in run.stdout  # hg-build's error record


def test_a_failing_stage_is_named(tmp_path):
    (tmp_path / "src").mkdir()
    run = hg_import("--index-arg=--no-such-flag", tmp_path / "src", home=tmp_path / "home")
    assert run.returncode == 2
    assert "hg-import: hg-index failed (exit 2) in batch 1 chunk 1; stopping" in run.stderr


def test_usage_errors(tmp_path):
    run = hg_import("--bogus", home=tmp_path)
    assert run.returncode == 2 and "unrecognized arguments: --bogus" in run.stderr
    assert "usage: hg-import" in hg_import("--help", home=tmp_path).stdout


def test_quiet_reaches_the_stages(tmp_path):
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "a.jpg").write_bytes(b"a")
    loud = hg_import("--index-only", tmp_path / "src", home=tmp_path / "home1")
    quiet = hg_import("-q", "--index-only", tmp_path / "src", home=tmp_path / "home2")
    assert "hg-index: 1 added" in loud.stderr
    assert "hg-index:" not in quiet.stderr
    assert chunks(quiet.stderr) == chunks(loud.stderr) == {1: [1]}
