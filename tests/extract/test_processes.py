"""Worker processes: one that dies costs at most its file, and none outlives hg-extract."""

from __future__ import annotations

import faulthandler
import os
import resource
import signal
import subprocess
import time
from pathlib import Path

import orjson
from PIL import Image

from hg_extract import extractor
from hg_extract.extractor import Options
from hg_extract.workers import Runner

from .conftest import BIN, hg_env, run_extract, run_index
from .hostile import alive, descendants, photo, unreadable_png, wait_for


def crashing_decoder(groups):
    """The worker's job, with a decoder that segfaults on `crash*.png` (as a C library
    meeting a hostile file would); every other file is extracted for real."""
    for group in groups:
        name = group.primary["path"].rsplit("/", 1)[-1]
        if name.startswith("crash") and name.endswith(".png"):
            resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
            faulthandler.disable()  # pytest's, inherited: no traceback of the "crash"
            os.kill(os.getpid(), signal.SIGSEGV)
    return extractor.process_chunk(groups)


def test_a_worker_that_dies_costs_only_its_file(tmp_path):
    src = tmp_path / "src"
    for n in range(12):
        photo(src / f"p{n:02}.jpg", 100 + n)
    jpg = photo(src / "crash.jpg", 99)
    unreadable_png(src / "crash.png", jpg.stat().st_size * 2)  # its primary, crashes
    photo(src / "z/crash_alone.png", 98)  # crashes, nothing to fall back to
    home = tmp_path / "home"
    records = [orjson.loads(line) for line in run_index(home, src).splitlines()]
    runner = Runner(Options(storage=home / "storage"), jobs=2, work=crashing_decoder)

    out = list(runner.run(records))

    errors = {r["path"]: r for r in out if r["type"] == "error"}
    entries = {f["path"]: r for r in out if r["type"] == "entry" for f in r["files"]}
    assert set(errors) == {"crash.png", "z/crash_alone.png"}
    for rec in errors.values():
        assert "worker process was killed (SIGSEGV)" in rec["error"], rec
    assert set(entries) == {f"p{n:02}.jpg" for n in range(12)} | {"crash.jpg"}
    assert entries["crash.jpg"]["files"][0]["primary"]
    assert runner.summary.entries == 13 and runner.summary.failed == 2


def test_killing_a_worker_does_not_stop_the_run(tmp_path):
    src = tmp_path / "src"
    for n in range(24):
        photo(src / f"p{n:02}.jpg", 200 + n, (1600, 1200))
    home = tmp_path / "home"
    (tmp_path / "records").write_bytes(run_index(home, src))
    proc = subprocess.Popen(
        [BIN / "hg-extract", "--jobs", "2", "--no-progress", "--no-geo"],
        stdin=(tmp_path / "records").open("rb"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=hg_env(home),
    )
    storage = home / "storage"
    assert wait_for(lambda: len(list(storage.rglob("*-image-preview-128.jpg"))) >= 2, 60)
    workers = [p for p, name in descendants(proc.pid).items() if name != "exiftool"]
    assert workers, descendants(proc.pid)
    os.kill(workers[0], signal.SIGKILL)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err.decode()
    records = [orjson.loads(line) for line in out.splitlines()]
    records = [r for r in records if r["type"] == "entry"]  # not scanned (passed on), not ml
    assert sorted(r["files"][0]["path"] for r in records) == [f"p{n:02}.jpg" for n in range(24)]
    assert b"a worker process died" in err


def transcoding(pids: dict[int, str]) -> bool:
    for pid, name in pids.items():
        try:
            if name == "ffmpeg" and b"libx264" in Path(f"/proc/{pid}/cmdline").read_bytes():
                return True
        except OSError:
            continue
    return False


def test_kill_9_leaves_no_worker_exiftool_or_ffmpeg_behind(tmp_path):
    src = tmp_path / "src"
    for n in range(6):
        photo(src / f"p{n}.jpg", 300 + n)
    # cheap to make, seconds to transcode: still running when hg-extract is killed
    life = "life=s=640x480:r=30:ratio=0.3,format=yuv420p"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-f", "lavfi", "-i", life, "-t", "6", "-c:v", "mpeg4",
         "-q:v", "31", str(src / "clip.mkv")],
        check=True,
    )  # fmt: skip
    home = tmp_path / "home"
    stdin = run_index(home, src)
    proc = subprocess.Popen(
        # no ML pass: it stops the workers' exiftools (`Extractor.analyse`), and they are
        # to be running beside the transcode here
        [BIN / "hg-extract", "--jobs", "2", "--no-progress", "--no-geo", "--ml", "off"],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=hg_env(home),
    )
    proc.stdin.write(stdin)
    proc.stdin.close()
    # the transcode runs last: then there are workers, their exiftools and an ffmpeg
    assert wait_for(lambda: transcoding(descendants(proc.pid)), 120)
    below = descendants(proc.pid)
    assert "exiftool" in below.values(), below
    proc.kill()
    proc.wait()
    started = time.monotonic()
    assert wait_for(lambda: not any(alive(p) for p in below), 2.0), {
        p: name for p, name in below.items() if alive(p)
    }
    assert time.monotonic() - started < 2.0


def slow_png(path: Path, pixels: int) -> Path:
    """A valid PNG of `pixels` grey pixels: a few hundred KB on disk, seconds of CPU to
    decode and scale down (a stand-in for a decoder that never ends)."""
    width = 10_000
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("L", (width, pixels // width), 128).save(path, compress_level=1)
    return path


def test_a_file_over_the_cpu_limit_is_stopped_and_answered(tmp_path):
    src = tmp_path / "src"
    for n in range(6):
        photo(src / f"p{n}.jpg", 400 + n)
    slow_png(src / "huge.png", 150_000_000)
    home = tmp_path / "home"
    code, records, err = run_extract(
        home, run_index(home, src), "--jobs", "2", "--cpu-limit", "0.3", "--ml", "off"
    )
    assert code == 1, err
    errors = {r["path"]: r for r in records if r["type"] == "error"}
    entries = {f["path"] for r in records if r["type"] == "entry" for f in r["files"]}
    assert entries == {f"p{n}.jpg" for n in range(6)}
    assert set(errors) == {"huge.png"}, errors
    assert "stopped after 0.3 CPU seconds ([extract] cpu_limit)" in errors["huge.png"]["error"]
    assert "crash" not in errors["huge.png"]["error"]

    # the limit is the file's CPU, not its wall time: with the default, it is an entry
    code, records, err = run_extract(home, b"", "--all", "--retry-failed", "--ml", "off")
    assert code == 0, err
    assert "huge.png" in {f["path"] for r in records if r["type"] == "entry" for f in r["files"]}
