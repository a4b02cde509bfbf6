"""The `flush` record through the real hg-extract and hg-build, each alone and kept running:
hg-extract answers it after every record before it (entries, ML results, the transcoded
video), hg-build after all of that is committed, while both still wait for more input."""

from __future__ import annotations

import os
import queue
import shutil
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import orjson
from PIL import Image

BIN = Path(sys.executable).parent
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "media"


def photos(folder: Path, names: list[str], shade: int = 0) -> None:
    folder.mkdir(parents=True)
    for i, name in enumerate(names):
        colour = (40 * i, 90 + shade, 200 - 30 * i)
        Image.new("RGB", (320, 240), colour).save(folder / name)


def index(src: Path, home: Path) -> bytes:
    env = {**os.environ, "HG_HOME": str(home)}
    run = subprocess.run([BIN / "hg-index", "-q", src], env=env, capture_output=True, check=True)
    return run.stdout


class Lines:
    """A process's stdout lines, read in a thread (select on a buffered pipe would miss
    lines already in its buffer)."""

    def __init__(self, proc: subprocess.Popen) -> None:
        self.queue: queue.Queue[bytes] = queue.Queue()
        threading.Thread(target=self._read, args=(proc.stdout,), daemon=True).start()

    def _read(self, stream) -> None:
        for line in stream:
            self.queue.put(line)
        self.queue.put(b"")

    def until_flush(self, chunk: int, timeout: float = 120) -> list[dict]:
        """The records up to and including the flush of `chunk`, the input left open (the
        flush must be answered without the input ending)."""
        got: list[dict] = []
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self.queue.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"no flush of chunk {chunk} within {timeout} s") from None
            assert line, f"ended before the flush of chunk {chunk}"
            got.append(orjson.loads(line))
            if got[-1]["type"] == "flush":
                assert got[-1] == {"type": "flush", "v": 1, "chunk": chunk, "note": "kept"}
                return got


def flush(chunk: int) -> bytes:
    # an extra field: passed on untouched, as every record's
    return orjson.dumps({"type": "flush", "v": 1, "chunk": chunk, "note": "kept"}) + b"\n"


def test_extract_and_build_answer_a_flush_after_everything_before_it(tmp_path):
    src, home = tmp_path / "src", tmp_path / "home"
    photos(src / "a", ["1.jpg", "2.jpg", "3.jpg"])
    first = index(src, home)
    photos(src / "b", ["4.jpg", "5.jpg"], shade=60)
    shutil.copy(FIXTURES / "tricky" / "rotated90-gps.mp4", src / "b" / "clip.mp4")
    second = index(src, home)
    env = {**os.environ, "HG_HOME": str(home)}
    extract = subprocess.Popen(
        [BIN / "hg-extract", "-q", "--no-progress", "--ml", "local", "--no-faces"],
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    out = Lines(extract)
    try:
        extract.stdin.write(first + flush(1))
        extract.stdin.flush()
        one = out.until_flush(1)
        # the folder's group and the ML step of its entries come before the flush
        assert sorted(r["files"][0]["path"] for r in one if r["type"] == "entry") == [
            "a/1.jpg", "a/2.jpg", "a/3.jpg"
        ]  # fmt: skip
        assert len([r for r in one if r["type"] == "ml"]) == 3
        extract.stdin.write(second + flush(2))
        extract.stdin.flush()
        two = out.until_flush(2)
        entries = {r["files"][0]["path"]: r for r in two if r["type"] == "entry"}
        assert sorted(entries) == ["b/4.jpg", "b/5.jpg", "b/clip.mp4"]
        assert entries["b/clip.mp4"]["video"], "the transcode is done before the flush"
        assert extract.poll() is None, "it waits for more"
    finally:
        extract.stdin.close()
        assert extract.wait(timeout=60) == 0
    assert out.queue.get(timeout=5) == b""  # every answer came before its flush

    # hg-build: the records of each chunk, then its flush; the flush comes back once the
    # chunk is in the database (the first one: the fresh file is in place)
    database = home / "gallery.db"
    build = subprocess.Popen(
        [BIN / "hg-build", "-q"], env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    out = Lines(build)
    try:
        for n, records in ((1, one), (2, two)):
            build.stdin.write(b"".join(orjson.dumps(r) + b"\n" for r in records))
            build.stdin.flush()
            assert out.until_flush(n, timeout=60)[-1]["chunk"] == n
            conn = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
            try:
                count = conn.execute("SELECT count(*) FROM entries").fetchone()[0]
            finally:
                conn.close()
            assert count == (3 if n == 1 else 6)
            assert build.poll() is None
    finally:
        build.stdin.close()
        assert build.wait(timeout=60) == 0
