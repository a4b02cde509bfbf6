"""hg-import and its stages: a killed hg-import leaves no stage working on; hg-index's
reports of unreadable files are shown once per import, not once per chunk; the loop's
judgement of a chunk (pure)."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import time
from pathlib import Path

import orjson
import pytest

from hg_import.loop import DiskFull, StageFailed, judge
from hg_import.pipeline import ChunkCounts, ChunkResult, Watch
from tests.import_loop.conftest import REPO, env, hg_import, make_jpegs


def children(pid: int) -> list[int]:
    """Direct children of a process (from /proc)."""
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if int(stat.rpartition(")")[2].split()[1]) == pid:
            out.append(int(entry.name))
    return out


def group(pgid: int) -> list[bytes]:
    """Command lines of the live processes of a process group."""
    out = []
    for entry in Path("/proc").iterdir():
        try:
            fields = (entry / "stat").read_text().rpartition(")")[2].split()
            if fields[0] != "Z" and int(fields[2]) == pgid:
                out.append((entry / "cmdline").read_bytes())
        except (OSError, ValueError, IndexError):
            continue
    return out


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


def transcoding(src: Path) -> bool:
    """Whether an ffmpeg is making the web MP4 of a file under src."""
    for entry in Path("/proc").iterdir():
        try:
            cmdline = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if (
            cmdline[0].endswith(b"ffmpeg")
            and b"libx264" in cmdline
            and str(src).encode() in (b" ".join(cmdline))
        ):
            return True
    return False


def test_kill_9_of_hg_import_alone_ends_its_stages(tmp_path):
    """Only hg-import is killed (not its process group, as a supervisor or the OOM killer
    might), while hg-extract waits for a video transcode: its stages must not work on for
    a chunk nobody will commit (before, hg-extract finished the transcode first)."""
    src, home = tmp_path / "src", tmp_path / "home"
    src.mkdir()
    subprocess.run(
        ["ffmpeg", "-loglevel", "error", "-f", "lavfi", "-i",
         "testsrc=duration=60:size=320x240:rate=25", "-c:v", "libx264", "-preset",
         "ultrafast", "-pix_fmt", "yuv420p", str(src / "clip.mp4")],
        check=True,
    )  # fmt: skip
    proc = subprocess.Popen(
        [str(REPO / "bin" / "hg-import"), "--home", str(home), str(src)],
        env=env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None and not transcoding(src):
            time.sleep(0.02)
        assert proc.poll() is None, "the import ended before the transcode could be seen"
        stages = children(proc.pid)
        # hg-extract and hg-build, kept for the whole import (hg-index ended its chunk)
        assert len(stages) >= 2, "hg-extract and hg-build run"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        deadline = time.monotonic() + 1
        while time.monotonic() < deadline and any(alive(p) for p in stages):
            time.sleep(0.05)
        left = [Path(f"/proc/{p}/cmdline").read_bytes() for p in stages if alive(p)]
        assert left == []
        # and nothing they started: hg-extract's workers, exiftools and the ffmpeg
        deadline = time.monotonic() + 2
        while time.monotonic() < deadline and (group(proc.pid) or transcoding(src)):
            time.sleep(0.05)
        assert group(proc.pid) == [] and not transcoding(src)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # what is left of the group: workers, ffmpeg


def test_unreadable_files_are_reported_once_per_import(tmp_path):
    src, home = tmp_path / "src", tmp_path / "home"
    make_jpegs(src, 25, size=(64, 48))
    (src / "zero-byte.jpg").write_bytes(b"")
    run = hg_import(src, home=home)
    assert run.returncode == 1, run.stderr
    # hg-index ran twice (chunks of 10 and 15; batches 2 and 3 had nothing to add) besides
    # its counts: each run warned of the file
    assert run.stderr.count("hg-index: ") > 2
    warnings = [line for line in run.stderr.splitlines() if "zero-byte.jpg" in line]
    assert warnings == ["hg-index: WARNING: src: zero-byte.jpg: empty file (0 bytes)"]
    # every chunk's hg-build got its error record; it printed it when it was new (contract 3)
    printed = [orjson.loads(line) for line in run.stdout.splitlines()]
    assert [(r["type"], r["path"]) for r in printed] == [("error", "zero-byte.jpg")]
    assert "hg-import: done, 25 files added, 1 failed" in run.stderr


def result(names, statuses, offered=(), total=None) -> ChunkResult:
    counts = ChunkCounts(offered={("s", p): 1 for p in offered})
    counts.offered_total = total if total is not None else len(offered)
    return ChunkResult(list(names), list(statuses), counts)


STAGES = ("hg-index", "hg-extract", "hg-build")


def test_judge_commits_only_complete_chunks():
    watch = Watch()
    assert judge(result(STAGES, (3, 0, 0), total=5), watch, "c", True) is False
    assert judge(result(STAGES, (1, 1, 1), total=5), watch, "c", True) is True
    # a lone XMP has no answer by design: its photo's entry answers it later
    assert judge(result(STAGES, (0, 0, 0), ["a/IMG_1.XMP"]), watch, "c", True) is False
    with pytest.raises(StageFailed, match=r"no answer for 2 of the 9 files .* \(a\.jpg, b\.jpg\)"):
        judge(result(STAGES, (0, 0, 0), ["a.jpg", "b.jpg"], total=9), watch, "c", True)
    # index only: nothing is offered to anyone
    assert judge(result(STAGES[:1], (0,), ["a.jpg"]), watch, "c", False) is False


def test_judge_names_the_first_cause_not_the_stages_that_met_a_closed_pipe():
    watch = Watch()
    with pytest.raises(StageFailed, match=r"hg-build failed \(exit 2\)"):
        judge(result(STAGES, (141, 141, 2)), watch, "c", True)
    with pytest.raises(StageFailed, match=r"hg-index failed \(exit 141\) \(its output was not"):
        judge(result(STAGES, (141, 0, 0)), watch, "c", True)
    with pytest.raises(KeyboardInterrupt):
        judge(result(STAGES, (130, 0, 0)), watch, "c", True)


def test_judge_a_full_disk_is_not_the_files_fault():
    watch = Watch(out=io.BytesIO())
    said = b"hg-extract: WARNING: a.jpg: OSError: No space left on device\n"
    watch.stderr_line("hg-extract", said)
    watch.fail("later cause")  # the first one is named
    with pytest.raises(DiskFull) as caught:
        judge(result(STAGES, (0, 1, 0)), watch, "batch 1 chunk 2", True)
    assert caught.value.problem == "hg-extract: WARNING: a.jpg: OSError: No space left on device"
    assert caught.value.where == "batch 1 chunk 2"
