"""Issue 13's acceptance run: a mixed archive with hostile files imports completely through
the real bin/hg-import — every good file is in the gallery, every bad one is listed with its
reason (`hg-build failures` and the web app's API) — and a second import neither redoes nor
re-reports them. On the code before issue 13 the decoder-crashing HEIC stopped the import at
its first chunk (hg-extract: internal error: EOFError)."""

from __future__ import annotations

import os
import shutil

import orjson
from PIL import Image

from tests.conftest import media_file
from tests.extract.hostile import heic_that_raises
from tests.import_loop.conftest import gallery_paths, hg, hg_import, make_jpegs
from tests.serve.conftest import start_server

GOOD_SHARED = [
    "exif-samples/jpg/gps/DSCN0010.jpg",
    "exif-samples/jpg/orientation/portrait_6.jpg",
    "tricky/Straße_ümlaut.jpg",
    "tricky/generated.webp",
]


def hostile_archive(src):
    """Good photos, and beside them what a NAS throws at a gallery."""
    make_jpegs(src / "good", 6)
    for rel in GOOD_SHARED:
        (src / "good" / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(media_file(rel), src / "good" / rel)
    bad = src / "bad"
    bad.mkdir()
    (bad / "zero-byte.jpg").write_bytes(b"")
    shutil.copy(media_file("tricky/not-an-image.jpg"), bad / "not-an-image.jpg")
    heic_that_raises(bad / "decoder-crash.heic")  # img.load(): EOFError from libheif
    cut = media_file("tricky/livephoto/IMG_0100.HEIC").read_bytes()
    (bad / "cut.heic").write_bytes(cut[: len(cut) // 2])  # ValueError: end of file
    Image.new("1", (16000, 16000)).save(bad / "bomb.png", optimize=True)  # 256 MP
    os.mkfifo(bad / "pipe.jpg")  # opening it would block for ever
    os.symlink(".", bad / "loop")  # a folder that contains itself
    # A good photo beside a larger, unreadable twin of the same name: grouped as sidecars
    shutil.copy(media_file("exif-samples/jpg/gps/DSCN0012.jpg"), bad / "shadow.jpg")
    (bad / "shadow.png").write_bytes(b"\x89PNG\r\n\x1a\n" + os.urandom(400_000))
    return {
        "good": {p.relative_to(src).as_posix() for p in (src / "good").rglob("*") if p.is_file()}
        | {"bad/shadow.jpg"},
        "bad": {
            "bad/zero-byte.jpg",
            "bad/decoder-crash.heic",
            "bad/cut.heic",
            "bad/bomb.png",
            "bad/pipe.jpg",
            "bad/shadow.png",
        },
        "skipped": {"bad/not-an-image.jpg"},
    }


def failures(home) -> dict[str, dict]:
    proc = hg("hg-build", "failures", "--json", home=home)
    assert proc.returncode == 0, proc.stderr.decode()
    return {r["path"]: r for r in map(orjson.loads, proc.stdout.splitlines())}


def test_a_hostile_archive_imports_completely_and_lists_every_bad_file(tmp_path):
    src = tmp_path / "src"
    expect = hostile_archive(src)
    home = tmp_path / "home"
    run = hg_import(src, home=home, timeout=600)
    assert run.returncode == 1, run.stderr  # some inputs failed; the import completed
    assert "internal error" not in run.stderr
    in_gallery = gallery_paths(home)
    assert expect["good"] <= in_gallery, sorted(expect["good"] - in_gallery)
    assert not (expect["bad"] & in_gallery)
    listed = failures(home)
    assert expect["bad"] <= set(listed), sorted(expect["bad"] - set(listed))
    assert all(listed[p]["error"] for p in expect["bad"])  # each with its reason
    srv = start_server(home)  # the web app's list: the same files, each with its reason
    try:
        answer = srv.get("/api/failures?limit=100").json()
        assert srv.get("/api/info").json()["failures"] == answer["total"] == len(listed)
        assert {f["path"]: f["error"] for f in answer["failures"]} == {
            p: f["error"] for p, f in listed.items()
        }
    finally:
        srv.stop()
    reported = [r for r in map(orjson.loads, run.stdout.splitlines()) if r["type"] == "error"]
    assert len(reported) == len({r["path"] for r in reported})  # once per import, not per chunk

    again = hg_import(src, home=home, timeout=600)
    assert again.returncode in (0, 1), again.stderr
    assert "internal error" not in again.stderr
    assert gallery_paths(home) == in_gallery
    assert set(failures(home)) == set(listed)
    assert not [line for line in again.stdout.splitlines() if '"error"' in line]  # known
