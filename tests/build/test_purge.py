"""`hg-build purge` on real media: after a file is deleted and the gallery re-imported, purge
lists exactly that file's storage files; --yes deletes them and nothing else."""

from __future__ import annotations

import shutil

import orjson
from blake3 import blake3

from hg_common.lock import RunLock
from tests.conftest import media_file
from tests.import_loop.conftest import gallery, hg, hg_import


def purge(home, *args):
    proc = hg("hg-build", "purge", *args, home=home)
    assert proc.returncode == 0, proc.stderr.decode()
    return [orjson.loads(line) for line in proc.stdout.splitlines()], proc.stderr.decode()


def storage_files(home):
    root = home / "storage"
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}


def test_purge_lists_exactly_the_deleted_files_outputs(tmp_path):
    src = tmp_path / "src"
    shutil.copytree(
        media_file("exif-samples/jpg/gps"), src / "gps", ignore=shutil.ignore_patterns("README*")
    )
    shutil.copy2(media_file("tricky/livephoto/IMG_0100.MOV"), src / "clip.mov")
    home = tmp_path / "home"
    assert hg_import(src, home=home).returncode == 0
    assert purge(home)[0] == []  # everything is referenced

    victims = [src / "gps" / "DSCN0012.jpg", src / "clip.mov"]
    sums = {blake3(p.read_bytes()).hexdigest() for p in victims}
    for p in victims:
        p.unlink()
    assert hg_import(src, home=home).returncode == 0
    before = storage_files(home)
    expected = {f for f in before if f[:2] + f[3:5] + f[6:].split("-", 1)[0] in sums}
    assert any(f.endswith("-video-720.mp4") for f in expected)
    assert any(f.endswith("-image-preview-320.jpg") for f in expected)

    listed, said = purge(home)
    assert {r["path"] for r in listed} == expected
    total = sum((home / "storage" / f).stat().st_size for f in expected)
    assert sum(r["bytes"] for r in listed) == total and not any(r["deleted"] for r in listed)
    assert f"{len(expected)} storage files" in said and "dry run" in said
    assert storage_files(home) == before  # a dry run deletes nothing

    entries = gallery(home)
    deleted, _ = purge(home, "--yes")
    assert {r["path"] for r in deleted} == expected and all(r["deleted"] for r in deleted)
    assert storage_files(home) == before - expected
    assert purge(home)[0] == []
    # the gallery still has everything it had, also when rebuilt from index + storage
    assert gallery(home) == entries
    assert hg("hg-build", "--rebuild", home=home).returncode == 0
    assert [e["previews"] for e in gallery(home)] == [e["previews"] for e in entries]


def test_purge_waits_for_no_import(tmp_path):
    home = tmp_path / "home"
    with RunLock(home / "import.lock"):
        proc = hg("hg-build", "purge", home=home)
    assert proc.returncode == 2 and b"an import is running" in proc.stderr
