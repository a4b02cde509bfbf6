"""Files whose extraction failed are offered again at the end of each import (from
`hg-build failures --json`, contract 3), with their sidecar mates; hg-extract's memo decides
what is really redone (contract 2), --retry-failed redoes them all."""

from __future__ import annotations

import os
import subprocess

import orjson
import pytest

from hg_import.retry import parse_failures, retry_records, to_retry, with_group_mates
from tests.conftest import BIN, run_tool
from tests.import_loop.conftest import gallery_paths, hg_import, make_jpegs


def test_parse_failures_reads_ndjson_or_an_array():
    rows = [{"source": "s", "path": "a.jpg", "stage": "extract"}]
    ndjson = b"".join(orjson.dumps(r) + b"\n" for r in rows)
    assert parse_failures(ndjson) == parse_failures(orjson.dumps(rows)) == rows
    assert parse_failures(b"") == parse_failures(b"\n") == []


def test_only_extract_failures_not_answered_in_this_import_are_retried():
    rows = [
        {"source": "s", "path": "a.jpg", "stage": "extract"},
        {"source": "s", "path": "b.jpg", "stage": "extract"},
        {"source": "s", "path": "empty.jpg", "stage": "index"},  # every walk reports it
        {"source": "t", "path": "x/c.heic", "stage": "extract"},
    ]
    assert to_retry(rows, answered={("s", "b.jpg")}) == {"s": {"a.jpg"}, "t": {"x/c.heic"}}


def entry(path):
    return {"path": path, "size": 1, "mtime_ns": 1, "inode": 1, "checksum": path}


def test_a_failed_file_comes_with_its_sidecar_group():
    folder = [entry(f"d/{n}") for n in ("IMG_1.CR2", "IMG_1.CR2.xmp", "IMG_1.JPG", "IMG_2.jpg")]
    picked = with_group_mates(folder, {"d/IMG_1.CR2"})
    assert [e["path"] for e in picked] == ["d/IMG_1.CR2", "d/IMG_1.CR2.xmp", "d/IMG_1.JPG"]
    assert with_group_mates(folder, {"d/IMG_2.jpg"}) == [folder[3]]


def test_retry_records_come_from_the_committed_index_and_skip_changed_files(tmp_path):
    src, home = tmp_path / "src", tmp_path / "home"
    (src / "d").mkdir(parents=True)
    for name in ("IMG_1.heic", "IMG_1.heic.xmp", "IMG_2.jpg", "changed.jpg"):
        (src / "d" / name).write_bytes(name.encode() * 10)
    assert run_tool("hg-index", str(src), "--no-progress", home=home).returncode == 0
    (src / "d" / "changed.jpg").write_bytes(b"new content")  # the next walk reports it
    wanted = {"src": {"d/IMG_1.heic", "d/changed.jpg"}, "elsewhere": {"x.jpg"}}
    records = [orjson.loads(line) for line in retry_records(home / "index", wanted)]
    assert [(r["type"], r["path"]) for r in records] == [
        ("file", "d/IMG_1.heic"),
        ("file", "d/IMG_1.heic.xmp"),
    ]
    first = records[0]
    assert first["source"] == "src" and first["root"] == str(src)
    st = os.stat(src / "d" / "IMG_1.heic")
    assert (first["size"], first["inode"], first["mtime"]) == (
        st.st_size,
        st.st_ino,
        st.st_mtime_ns / 1e9,
    )


def test_an_import_offers_failed_files_again(tmp_path):
    usage = subprocess.run([str(BIN / "hg-extract"), "--help"], capture_output=True).stdout
    if b"--retry-failed" not in usage:
        pytest.skip("needs `hg-extract --retry-failed` (contract 2, branch extract)")
    src, home = tmp_path / "src", tmp_path / "home"
    make_jpegs(src, 3, size=(64, 48))
    (src / "broken.jpg").write_bytes(b"not a photo at all, " * 20)
    first = hg_import(src, home=home)
    listed = subprocess.run(
        [str(BIN / "hg-build"), "failures", "--json", "--home", str(home)], capture_output=True
    )
    if listed.returncode != 0:
        pytest.skip("needs `hg-build failures --json` (contract 3, branch build)")
    assert [orjson.loads(line)["path"] for line in listed.stdout.splitlines()] == ["broken.jpg"]
    assert first.returncode == 1, first.stderr
    assert "whose extraction failed before" not in first.stderr  # answered in this import
    printed = [orjson.loads(line) for line in first.stdout.splitlines()]
    assert [(r["type"], r["path"]) for r in printed] == [("error", "broken.jpg")]
    assert "hg-import: done, 4 files added, 1 failed" in first.stderr  # (to the index)
    again = hg_import(src, home=home)
    assert again.returncode == 1, again.stderr
    assert "hg-import: offering 1 files whose extraction failed before" in again.stderr
    assert "hg-import: done, 0 files added, 1 failed" in again.stderr
    assert again.stdout == ""  # a known failure: hg-build counts it, prints nothing
    forced = hg_import("--retry-failed", src, home=home)
    assert forced.returncode == 1, forced.stderr
    assert "(--retry-failed)" in forced.stderr
    assert len(gallery_paths(home)) == 3
