"""Files that are not media beside the photos are reported as skipped, not as failures."""

import shutil
import subprocess

import orjson

from tests.conftest import media_file, tool


def test_notes_beside_photos_exit_0(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    shutil.copy(media_file("exif-samples/jpg/gps/DSCN0010.jpg"), src / "DSCN0010.jpg")
    (src / "notes.txt").write_text("holiday notes")
    (src / "Thumbs.db").write_bytes(b"\x00\x01cache")
    env = {"HG_HOME": str(tmp_path / "home"), "PATH": "/usr/bin:/bin"}
    pipe = f"{tool('hg-index')} {src} | {tool('hg-extract')} --jobs 1; echo $? >&2"
    proc = subprocess.run(["bash", "-c", pipe], capture_output=True, env=env, timeout=120)
    records = [orjson.loads(line) for line in proc.stdout.splitlines()]
    assert proc.stderr.decode().strip().splitlines()[-1] == "0"
    assert sorted(r["type"] for r in records) == ["entry", "ml", "scanned", "skip", "skip"]
    skipped = sorted(r["path"] for r in records if r["type"] == "skip")
    assert skipped == ["Thumbs.db", "notes.txt"]
    assert "2 skipped (not media)" in proc.stderr.decode()
