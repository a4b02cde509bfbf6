"""A file that cannot be extracted is that file's error record, once, with a memo: the run
goes on, every other file is an entry, and every offered file has an answer."""

from __future__ import annotations

import orjson

from hg_common.groups import Group, next_primary
from hg_common.layout import relpath
from hg_extract import failures
from hg_extract.extractor import EXTRACTOR_VERSION
from hg_extract.sources import file_record_problem

from .conftest import run_extract, run_index
from .hostile import heic_that_raises, photo, unreadable_png, xmp


def offered(stdin: bytes) -> set[str]:
    return {
        r["path"]
        for r in map(orjson.loads, stdin.splitlines())
        if r["type"] in ("add", "change", "move", "file")
    }


def answers(records: list[dict]) -> list[str]:
    """The path of every file an entry or an error record names (once each, we expect)."""
    paths = []
    for rec in records:
        if rec["type"] == "entry":
            paths += [f["path"] for f in rec["files"]]
        elif rec["type"] == "error":
            paths.append(rec["path"])
    return paths


def errors(records: list[dict]) -> dict[str, dict]:
    return {r["path"]: r for r in records if r["type"] == "error"}


def entries(records: list[dict]) -> dict[str, dict]:
    return {f["path"]: r for r in records if r["type"] == "entry" for f in r["files"]}


def test_a_decoder_exception_is_the_files_error_record_and_is_remembered(tmp_path):
    src = tmp_path / "src"
    photo(src / "good.jpg", 1)
    photo(src / "2021/other.jpg", 2)
    heic_that_raises(src / "broken.heic")
    heic_that_raises(src / "2021/IMG_7.heic", 3)
    xmp(src / "2021/IMG_7.heic.xmp")
    home = tmp_path / "home"
    stdin = run_index(home, src)

    code, records, stderr = run_extract(home, stdin, "--jobs", "2", "--no-geo")
    assert code == 1, stderr  # some inputs failed, the run completed (not 2: internal error)
    assert "internal error" not in stderr
    assert sorted(answers(records)) == sorted(offered(stdin))  # each file once
    err = errors(records)
    broken = err["broken.heic"]
    assert broken["stage"] == "extract" and broken["extractor"] == EXTRACTOR_VERSION
    # libheif's words for it changed across pillow-heif releases ("Decoder plugin generated
    # an error: Unexpected end of file" before 1.x; "NAL stream was rejected …" after)
    assert broken["error"].startswith("image data is broken (")
    assert "known" not in broken
    assert err["2021/IMG_7.heic.xmp"]["error"].startswith("not imported: IMG_7.heic failed: ")
    assert set(entries(records)) == {"good.jpg", "2021/other.jpg"}

    memo_path = home / "storage" / relpath(broken["checksum"], "failed.json")
    memo = orjson.loads(memo_path.read_bytes())
    assert memo["v"] == 1 and memo["extractor"] == EXTRACTOR_VERSION
    assert memo["error"] == broken["error"] and memo["date"].endswith("Z")

    # Offered again: answered from the memo, without reading the file (it is gone now).
    (src / "broken.heic").unlink()
    code, again, _ = run_extract(home, stdin, "--jobs", "2", "--no-geo")
    assert code == 1
    assert sorted(answers(again)) == sorted(offered(stdin))
    err = errors(again)
    assert err["broken.heic"]["known"] is True
    assert err["broken.heic"]["error"] == broken["error"]
    assert err["2021/IMG_7.heic.xmp"]["known"] is True
    assert set(entries(again)) == {"good.jpg", "2021/other.jpg"}

    # --retry-failed reads it again (and finds it gone)
    code, retried, _ = run_extract(home, stdin, "--jobs", "1", "--no-geo", "--retry-failed")
    assert code == 1
    assert "known" not in errors(retried)["broken.heic"]
    assert "vanish" in errors(retried)["broken.heic"]["error"]

    # a memo of another extractor version is tried again too
    memo_path.write_bytes(orjson.dumps({**memo, "extractor": EXTRACTOR_VERSION - 1}))
    code, newer, _ = run_extract(home, stdin, "--jobs", "1", "--no-geo")
    assert "known" not in errors(newer)["broken.heic"]
    assert errors(newer)["2021/IMG_7.heic"]["known"] is True


def test_a_good_photo_is_not_lost_behind_a_broken_larger_twin(tmp_path):
    src = tmp_path / "src"
    jpg = photo(src / "shadow.jpg", 4)
    unreadable_png(src / "shadow.png", jpg.stat().st_size * 3)  # larger: the primary first
    home = tmp_path / "home"
    stdin = run_index(home, src)
    checksums = {
        r["path"]: r["checksum"] for r in map(orjson.loads, stdin.splitlines()) if "path" in r
    }

    for run in ("first", "again"):
        code, records, stderr = run_extract(home, stdin, "--jobs", "1", "--no-geo")
        assert code == 1, (run, stderr)
        entry = entries(records)["shadow.jpg"]
        assert entry["id"] == checksums["shadow.jpg"]  # the next readable file is primary
        assert [f["path"] for f in entry["files"]] == ["shadow.jpg"]
        assert entry["files"][0]["primary"]
        png = errors(records)["shadow.png"]
        assert png["stage"] == "extract" and "not a readable image" in png["error"]
        assert png.get("known", False) is (run == "again")
        assert sorted(answers(records)) == ["shadow.jpg", "shadow.png"]


def test_bad_input_lines_are_error_records_and_the_run_goes_on(tmp_path):
    src = tmp_path / "src"
    photo(src / "a.jpg", 5)
    photo(src / "b.jpg", 6)
    home = tmp_path / "home"
    lines = run_index(home, src).splitlines()
    bad_checksum = {**orjson.loads(lines[0]), "path": "c.jpg", "checksum": "../../etc"}
    stdin = b"\n".join(
        [b"not json at all", lines[0], b"[1, 2]", orjson.dumps(bad_checksum), *lines[1:], b""]
    )
    code, records, stderr = run_extract(home, stdin, "--jobs", "1", "--no-geo")
    assert code == 1, stderr
    assert "internal error" not in stderr
    bad = [r for r in records if r["type"] == "error"]
    assert [(r["stage"], r["line"]) for r in bad] == [("extract", n) for n in (1, 3, 4)]
    assert "line 1: invalid JSON" in bad[0]["error"]
    assert "line 3: expected a JSON object" in bad[1]["error"]
    assert "line 4:" in bad[2]["error"] and "checksum" in bad[2]["error"]
    assert bad[2]["path"] == "c.jpg"
    assert set(entries(records)) == {"a.jpg", "b.jpg"}


def rec(path: str, size: int, n: int) -> dict:
    return {"type": "add", "source": "s", "root": "/r", "path": path, "size": size,
            "checksum": f"{n:064x}"}  # fmt: skip


def test_pure_fallback_and_known_failures():
    png, jpg, side = rec("a.png", 900, 1), rec("a.jpg", 300, 2), rec("a.png.xmp", 2, 3)
    group = Group((png, jpg, side), "image")
    following = next_primary(group)
    assert following.primary is jpg and following.files == (jpg, side)
    assert next_primary(Group((jpg, side), "image")) is None

    memo = failures.memo("broken", [], "2026-01-01T00:00:00Z")
    rest, known = failures.split_known(group, {png["checksum"]: memo})
    assert rest.primary is jpg and [r["path"] for r in known] == ["a.png"]
    assert known[0]["known"] is True and known[0]["error"] == "broken"
    both = {png["checksum"]: memo, jpg["checksum"]: memo}
    rest, known = failures.split_known(group, both)
    assert rest is None
    assert [(r["path"], r["error"]) for r in known] == [
        ("a.png", "broken"),
        ("a.jpg", "broken"),
        ("a.png.xmp", "not imported: a.png failed: broken"),
    ]
    assert not failures.is_current({**memo, "extractor": EXTRACTOR_VERSION + 1})


def test_pure_input_checks():
    good = rec("a.jpg", 1, 1)
    assert file_record_problem(good) is None
    assert file_record_problem({"type": "remove", "path": 1}) is None  # passes through
    assert "checksum" in file_record_problem({**good, "checksum": "ZZ" * 32})
    assert "path" in file_record_problem({**good, "path": "/etc/passwd"})
    assert "size" in file_record_problem({**good, "size": "big"})
