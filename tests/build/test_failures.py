"""Failures through the real hg-build CLI: kept in the `failures` table, printed once, gone
when the file becomes an entry, is removed or was not reported again by a complete walk."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.build.conftest import hg_build
from tests.build.test_fresh_build import entry


def error(path: str, stage: str = "extract", source: str = "s", **extra) -> dict:
    return {"type": "error", "v": 1, "stage": stage, "error": f"cannot read {path}",
            "source": source, "root": f"/{source}", "path": path, "checksum": "ab" * 32,
            **extra}  # fmt: skip


def ndjson(*records: dict) -> bytes:
    return b"".join(json.dumps(r).encode() + b"\n" for r in records)


def build(home: Path, *records: dict, workers: int = 1):
    proc = hg_build(home, "--workers", str(workers), stdin=ndjson(*records))
    printed = [json.loads(line) for line in proc.stdout.splitlines()]
    return proc, printed


def listed(home: Path) -> list[dict]:
    proc = hg_build(home, "failures", "--json")
    assert proc.returncode == 0, proc.stderr.decode()
    return [json.loads(line) for line in proc.stdout.splitlines()]


def keys(home: Path) -> set[tuple[str, str]]:
    return {(f["source"], f["path"]) for f in listed(home)}


def test_a_failure_is_kept_printed_once_and_again_when_it_changes(tmp_path):
    home = tmp_path / "home"
    bad = error("a.heic", extractor=3, details=["EOFError: Unexpected end of file"])
    proc, printed = build(home, bad, error("b.jpg"))
    assert proc.returncode == 1 and [p["path"] for p in printed] == ["a.heic", "b.jpg"]
    (first,) = [f for f in listed(home) if f["path"] == "a.heic"]
    assert first["type"] == "failure" and first["extractor"] == 3 and first["stage"] == "extract"
    assert first["details"] == ["EOFError: Unexpected end of file"] and first["root"] == "/s"
    assert first["first_seen"] == first["last_seen"] and first["last_seen"].endswith("Z")

    proc, printed = build(home, {**bad, "known": True}, error("b.jpg"))  # the same again
    assert proc.returncode == 1 and printed == []  # still a failed input: exit 1
    assert b"2 errors (2 known, not printed" in proc.stderr
    (again,) = [f for f in listed(home) if f["path"] == "a.heic"]
    assert again["first_seen"] == first["first_seen"] and again["last_seen"] > first["last_seen"]

    proc, printed = build(
        home, {**bad, "error": "other reason"}, {**bad, "path": "b.jpg", "checksum": "cd" * 32}
    )
    assert [p["path"] for p in printed] == ["a.heic", "b.jpg"]  # error, checksum changed
    assert b"(2 known" not in proc.stderr


def test_plain_listing_is_path_and_reason_newest_first(tmp_path):
    home = tmp_path / "home"
    build(home, error("old.jpg"))
    build(home, {**error("dir/new.jpg"), "error": "two\nlines"})
    proc = hg_build(home, "failures")
    assert proc.returncode == 0
    assert proc.stdout.decode().splitlines() == [
        "/s/dir/new.jpg: two lines",
        "/s/old.jpg: cannot read old.jpg",
    ]


def test_an_error_naming_no_file_is_printed_every_time_and_not_kept(tmp_path):
    home = tmp_path / "home"
    for _ in range(2):
        proc = hg_build(home, stdin=b"not json\n")
        assert proc.returncode == 1 and b"invalid JSON" in proc.stdout
    assert listed(home) == []


@pytest.mark.parametrize("workers", [1, 2])
def test_an_entry_or_a_remove_ends_a_failure_and_a_move_takes_it_along(tmp_path, workers):
    home = tmp_path / "home"
    good = entry(1, "2020:01:02 03:04:05")
    path = good["files"][0]["path"]
    build(home, error(path), error("gone.jpg"), error("moving.jpg"), error("stays.jpg"),
          error("fixed.xmp"), workers=workers)  # fmt: skip
    sidecar = entry(2, "2020:01:02 03:04:05", sidecar=True)
    sidecar["files"][1]["path"] = "fixed.xmp"  # a sidecar of an entry: no failure either
    proc, _ = build(
        home, good, sidecar,
        {"type": "remove", "v": 1, "source": "s", "path": "gone.jpg", "size": 1},
        {"type": "move", "v": 1, "source": "s", "from_source": "s", "from_path": "moving.jpg",
         "path": "moved/moving.jpg", "size": 1, "checksum": "ab" * 32},
        workers=workers,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr.decode()
    assert keys(home) == {("s", "stays.jpg"), ("s", "moved/moving.jpg")}


@pytest.mark.parametrize("workers", [1, 2])
def test_a_complete_walk_ends_the_index_failures_it_did_not_report(tmp_path, workers):
    home = tmp_path / "home"
    build(home, error("deleted.jpg", "index"), error("still.jpg", "index"),
          error("other.jpg", "index", source="t"), error("decoder.heic"))  # fmt: skip
    scanned = {"type": "scanned", "v": 1, "source": "s", "root": "/s"}
    # A chunk of entries around them, so the workers prepare it (the parent applies these)
    entries = [entry(n, "2020:01:02 03:04:05") for n in range(10, 20)]
    proc, printed = build(home, *entries, error("still.jpg", "index"), scanned, workers=workers)
    assert proc.returncode == 1 and printed == []
    # deleted.jpg was not reported by the walk of s; t was not walked; extract failures stay
    assert keys(home) == {("s", "still.jpg"), ("t", "other.jpg"), ("s", "decoder.heic")}
    proc, _ = build(home, scanned, workers=workers)
    assert proc.returncode == 0 and keys(home) == {("t", "other.jpg"), ("s", "decoder.heic")}
    assert b"ignoring 'scanned'" not in proc.stderr


def test_a_rebuild_keeps_failures_from_the_memos_and_the_old_database(tmp_path):
    """Extract failures come back from hg-extract's `-failed.json` memos even without the
    old database; what storage cannot tell (an unreadable file) is carried over from it.
    A group whose primary failed falls back to its next readable file (as hg-extract)."""
    from PIL import Image

    from hg_common import layout
    from tests.build.conftest import index_and_extract

    src, home = tmp_path / "photos", tmp_path / "home"
    src.mkdir()
    for name, size in (("good.jpg", (64, 48)), ("shadow.jpg", (32, 24))):
        Image.new("RGB", size, "red").save(src / name)
    (src / "shadow.png").write_bytes(b"\x89PNG broken" * 4000)  # larger: the primary
    (src / "broken.heic").write_bytes(b"\0\0\0\x18ftypheic" + b"\1" * 5000)
    (src / "broken.xmp").write_text('<x:xmpmeta xmlns:x="adobe:ns:meta/"></x:xmpmeta>')
    records = [json.loads(line) for line in index_and_extract(home, src).splitlines()]
    sums = {f["path"]: f["checksum"] for r in records for f in r.get("files", ())}
    storage = home / "storage"
    for path, reason in (("shadow.png", "cannot identify image"), ("broken.heic", "EOFError")):
        memo = layout.path(storage, sums[path], layout.FAILED)
        memo.write_text(
            json.dumps(
                {
                    "v": 1,
                    "extractor": 2,
                    "error": reason,
                    "details": [reason],
                    "date": "2024-01-02T03:04:05.000Z",
                }
            )
        )
        layout.path(storage, sums[path], layout.META).unlink()  # exiftool failed on it too
    # What hg-extract prints for that: good.jpg, shadow.jpg (fallback) and the failures
    fallback = next(r for r in records if "shadow.jpg" in {f["path"] for f in r.get("files", ())})
    fallback = {**fallback, "id": sums["shadow.jpg"],
                "files": [{**f, "primary": True} for f in fallback["files"]
                          if f["path"] == "shadow.jpg"]}  # fmt: skip
    good = next(r for r in records if r.get("files", [{}])[0].get("path") == "good.jpg")
    unreadable = error("locked.jpg", "index", source="photos")
    extract_errors = [
        {**error(p, source="photos"), "root": str(src), "checksum": sums[p], "error": e}
        for p, e in (("shadow.png", "cannot identify image"), ("broken.heic", "EOFError"),
                     ("broken.xmp", "not imported: broken.heic failed: EOFError"))
    ]  # fmt: skip
    proc, _ = build(home, good, fallback, unreadable, *extract_errors)
    assert proc.returncode == 1, proc.stderr.decode()

    def failed() -> dict[str, str]:
        return {f["path"]: f["error"] for f in listed(home)}

    before = failed()
    assert set(before) == {"locked.jpg", "shadow.png", "broken.heic", "broken.xmp"}
    proc = hg_build(home, "--rebuild")
    assert proc.returncode == 0, proc.stderr.decode()  # restored failures: not this run's
    assert failed() == before
    entries = hg_build(home, "query", "", "--ids").stdout.split()
    assert sorted(entries) == sorted([sums["good.jpg"].encode(), sums["shadow.jpg"].encode()])

    (home / "gallery.db").unlink()  # the database lost: the memos still tell
    assert hg_build(home, "--rebuild").returncode == 0
    memo_only = {k: v for k, v in before.items() if k != "locked.jpg"}
    assert failed() == memo_only
    (row,) = [f for f in listed(home) if f["path"] == "broken.heic"]
    assert row["extractor"] == 2 and row["first_seen"] == "2024-01-02T03:04:05.000Z"
