"""End-to-end: the real `hg-index` executable on temp trees and copies of ../shared/media."""

from __future__ import annotations

import os
import shutil

import pytest

from hg_common.indexfile import read_entries
from hg_common.lock import RunLock
from tests.conftest import run_tool


def index(*args, home):
    return run_tool("hg-index", *args, "--json-progress", home=home)


def progress(run):
    """The final progress record hg-index printed on stderr."""
    import orjson

    finals = [orjson.loads(line) for line in run.stderr.splitlines() if line.startswith("{")]
    return [p for p in finals if p.get("final")][-1]


def write(path, data=b"x"):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


@pytest.fixture
def home(tmp_path):
    return tmp_path / "home"


def test_shared_media_first_scan_rescan(copy_media, home):
    src = copy_media("tricky", "exif-samples/jpg/gps")
    first = index(str(src), home=home)
    assert first.returncode == 1  # tricky/zero-byte.jpg
    (err,) = first.of_type("error")
    assert err["path"] == "tricky/zero-byte.jpg" and "empty" in err["error"]
    assert "zero-byte.jpg" in first.stderr
    adds = first.of_type("add")
    on_disk = [p for p in src.rglob("*") if p.is_file() and p.stat().st_size > 0]
    assert len(adds) == len(on_disk) > 20
    by_path = {a["path"]: a for a in adds}
    gps = by_path["exif-samples/jpg/gps/DSCN0010.jpg"]
    assert gps["size"] == (src / "exif-samples/jpg/gps/DSCN0010.jpg").stat().st_size
    assert len(gps["checksum"]) == 64 and gps["source"] == "src" and gps["root"] == str(src)
    # same bytes, same checksum: the duplicate copy is recognised as the same content
    assert by_path["tricky/duplicates/DSCN0010 copy.jpg"]["checksum"] == gps["checksum"]
    assert "tricky/Straße_ümlaut.jpg" in by_path
    assert progress(first)["bytes"] == sum(p.stat().st_size for p in on_disk)

    again = index(str(src), home=home)
    assert again.returncode == 1 and [r["type"] for r in again.records] == ["error", "scanned"]
    assert progress(again)["bytes"] == 0  # nothing re-read

    stats = run_tool("hg-index", "stats", "--json", home=home)
    (s,) = stats.records
    assert s["files"] == len(on_disk) and s["source"] == "src" and s["extensions"]["jpg"] >= 15


def test_change_touch_remove(tmp_path, home):
    src = tmp_path / "src"
    a = write(src / "a.jpg", b"one")
    write(src / "b.jpg", b"two")
    write(src / "c.jpg", b"three")
    assert index(str(src), home=home).returncode == 0
    old = {e["path"]: e["checksum"] for e in read_entries(home / "index" / "src.ndjson")}

    a.write_bytes(b"ONE!")
    os.utime(src / "b.jpg", (1, 1))  # touched, same content: re-hashed, not reported
    (src / "c.jpg").unlink()
    run = index(str(src), home=home)
    assert run.returncode == 0
    (change,) = run.of_type("change")
    assert change["path"] == "a.jpg" and change["previous_checksum"] == old["a.jpg"]
    assert change["checksum"] != old["a.jpg"]
    assert run.paths("remove") == ["c.jpg"]
    assert [r["type"] for r in run.records] == ["change", "remove", "scanned"]
    assert progress(run)["bytes"] == len(b"ONE!") + len(b"two")
    assert progress(index(str(src), home=home))["bytes"] == 0


def test_rename_folder_is_a_move(tmp_path, home):
    src = tmp_path / "src"
    for i in range(3):
        write(src / "2020" / f"p{i}.jpg", f"photo {i}".encode())
    write(src / "other" / "p0 copy.jpg", b"photo 0")  # a duplicate stays put
    index(str(src), home=home)
    (src / "2020").rename(src / "2020-holiday")
    run = index(str(src), home=home)
    moves = run.of_type("move")
    assert sorted((m["from_path"], m["path"]) for m in moves) == [
        ("2020/p0.jpg", "2020-holiday/p0.jpg"),
        ("2020/p1.jpg", "2020-holiday/p1.jpg"),
        ("2020/p2.jpg", "2020-holiday/p2.jpg"),
    ]
    assert run.of_type("add") == [] and run.of_type("remove") == []
    assert progress(run)["bytes"] == sum(len(f"photo {i}") for i in range(3))


def test_move_between_sources(tmp_path, home):
    a, b = tmp_path / "a", tmp_path / "b"
    f = write(a / "x.jpg", b"content")
    write(a / "stays.jpg", b"stays")
    b.mkdir()
    index(str(a), str(b), home=home)
    shutil.move(f, b / "y.jpg")
    run = index(str(a), str(b), home=home)
    (move,) = run.of_type("move")
    assert (move["from_source"], move["from_path"], move["source"], move["path"]) == (
        "a",
        "x.jpg",
        "b",
        "y.jpg",
    )
    assert [r["type"] for r in run.records] == ["move", "scanned", "scanned"]  # a, b


def test_sidecars_are_propagated(copy_media, home):
    src = copy_media("tricky/sidecar")
    xmp = src / "tricky/sidecar/IMG_0001.jpg.xmp"
    data = xmp.read_bytes()
    xmp.unlink()
    index(str(src), home=home)
    xmp.write_bytes(data)
    run = index(str(src), home=home)
    assert run.paths("add") == ["tricky/sidecar/IMG_0001.jpg.xmp"]
    (change,) = run.of_type("change")
    assert change["path"] == "tricky/sidecar/IMG_0001.jpg" and change["reason"] == "sidecar"
    assert change["checksum"] == change["previous_checksum"]
    xmp.unlink()
    run = index(str(src), home=home)
    assert run.paths("remove") == ["tricky/sidecar/IMG_0001.jpg.xmp"]
    assert run.paths("change") == ["tricky/sidecar/IMG_0001.jpg"]
    # changing the main file reports its basename-style sidecar too
    (src / "tricky/sidecar/IMG_0002.jpg").write_bytes(b"new jpeg bytes")
    run = index(str(src), home=home)
    assert run.paths("change") == ["tricky/sidecar/IMG_0002.jpg", "tricky/sidecar/IMG_0002.xmp"]


def test_excludes(tmp_path, home):
    from tests.conftest import REPO

    src = tmp_path / "src"
    for name in ["a.jpg", "b.PNG", "c.mp4", "d/e.JPG", "d/f.mov", "Trash/g.jpg", "h.CR2"]:
        write(src / name, name.encode())
    run = index(
        str(src),
        "-E",
        str(REPO / "examples/only-images.exclude"),
        "-e",
        "/trash/",
        "--dry-run",
        home=home,
    )
    assert run.returncode == 0
    assert run.paths("add") == ["a.jpg", "b.PNG", "d/e.JPG"]
    assert not (home / "index" / "src.ndjson").exists()  # dry run wrote nothing
    run = index(str(src), "--exclude", "*.mov", "-e", "d/", home=home)
    assert run.paths("add") == ["Trash/g.jpg", "a.jpg", "b.PNG", "c.mp4", "h.CR2"]
    # excluding a known file later removes it from the index
    run = index(str(src), "-e", "*.mp4", "-e", "d/", "-e", "*.mov", home=home)
    assert run.paths("remove") == ["c.mp4"]


def test_missing_exclude_file_and_bad_size_are_usage_errors(tmp_path, home):
    src = tmp_path / "src"
    write(src / "a.jpg")
    run = index(str(src), "-E", str(tmp_path / "missing.exclude"), home=home)
    assert run.returncode == 2 and "does not exist" in run.stderr and run.records == []
    run = index(str(src), "--max-filesize", "lots", home=home)
    assert run.returncode == 2 and "1024, 5m, 0.2GB" in run.stderr
    run = index(str(src), "--add-limits", "x", home=home)
    assert run.returncode == 2 and "add limits" in run.stderr
    run = index(str(src), "--no-such-flag", home=home)
    assert run.returncode == 2


def test_max_filesize_keep_known(tmp_path, home):
    src = tmp_path / "src"
    write(src / "small.jpg", b"s" * 100)
    write(src / "big.mov", b"b" * 3000)
    index(str(src), home=home)
    write(src / "new-big.mov", b"n" * 3000)
    run = index(str(src), "--max-filesize", "2k", home=home)
    assert run.records == []  # big.mov is known with the same size: kept; new-big skipped
    # (left out by the flag: not a complete walk, so no `scanned` record)
    entries = [e["path"] for e in read_entries(home / "index" / "src.ndjson")]
    assert entries == ["big.mov", "small.jpg"]
    run = index(str(src), "--max-filesize", "2k", "--no-keep-known", home=home)
    assert run.paths("remove") == ["big.mov"]


def test_exclude_if_present(tmp_path, home):
    src = tmp_path / "src"
    write(src / "d1/f1.jpg", b"1")
    write(src / "d2/f2.jpg", b"2")
    write(src / "d2/.galleryignore", b"")
    write(src / "d3/sub/f3.jpg", b"3")
    write(src / "d3/.nomedia", b"")
    write(src / "d4/f4.jpg", b"4")
    write(src / "d4/.private", b"marker")
    run = index(str(src), home=home)
    assert run.paths("add") == ["d1/f1.jpg", "d4/.private", "d4/f4.jpg"]
    assert run.returncode == 0
    run = index(str(src), "-X", ".private", "--dry-run", home=home)
    assert run.paths("remove") == ["d4/.private", "d4/f4.jpg"]


def test_add_limits_grow_and_exit_3(tmp_path, home):
    src = tmp_path / "src"
    for i in range(35):
        write(src / f"d{i % 4}" / f"{i:02d}.jpg", f"{i}".encode())
    counts, codes = [], []
    for _ in range(4):
        run = index(str(src), "--add-limits", "10,20,1.5,30", home=home)
        counts.append(len(run.of_type("add")))
        codes.append(run.returncode)
    # HomeGallery's arithmetic: 0 -> 10, 10 -> 20, 30 -> max(20, 15) = 20 (only 5 left)
    assert counts == [10, 20, 5, 0] and codes == [3, 3, 0, 0]
    assert "limit reached" in run.stderr or codes[-1] == 0


def test_all_prints_every_known_file(tmp_path, home):
    src = tmp_path / "src"
    write(src / "a.jpg", b"a")
    write(src / "b.jpg", b"b")
    index(str(src), home=home)
    write(src / "c.jpg", b"c")
    run = index(str(src), "--all", home=home)
    assert run.paths("file") == ["a.jpg", "b.jpg"] and run.paths("add") == ["c.jpg"]


def test_bad_names_links_and_loops(tmp_path, home):
    src = tmp_path / "src"
    write(src / "ok.jpg", b"ok")
    fd = os.open(os.fsencode(src) + b"/bad-\xff-name.jpg", os.O_CREAT | os.O_WRONLY)
    os.write(fd, b"bad name")
    os.close(fd)
    (src / "dangling.jpg").symlink_to(tmp_path / "nowhere.jpg")
    (src / "loop").symlink_to(src)
    (src / "sub").mkdir()
    (src / "sub" / "back").symlink_to(src / "sub")
    os.mkfifo(src / "pipe.jpg")
    run = index(str(src), home=home)
    assert run.returncode == 1
    errors = {e["path"]: e["error"] for e in run.of_type("error")}
    assert errors == {
        "bad-\\xff-name.jpg": "name is not valid UTF-8",
        "dangling.jpg": "broken symlink (vanished during the scan)",
        "pipe.jpg": "not a regular file: FIFO",  # reported, not silently skipped (issue 13)
    }
    assert run.paths("add") == ["ok.jpg"]


@pytest.mark.skipif(not hasattr(os, "geteuid"), reason="POSIX only")
def test_unreadable_file_and_folder(tmp_path, home):
    """As root, permissions do not stop reads, so the scan runs as `nobody` there."""
    import tempfile

    base = tempfile.mkdtemp(prefix="hg-perm-")
    os.chmod(base, 0o777)
    from pathlib import Path

    src = Path(base) / "src"
    write(src / "ok.jpg", b"ok")
    write(src / "secret.jpg", b"secret")
    write(src / "locked" / "inside.jpg", b"inside")
    for p in [src, src / "locked", *src.rglob("*")]:
        os.chmod(p, 0o777 if p.is_dir() else 0o666)
    home2 = Path(base) / "home"
    user = "nobody" if os.geteuid() == 0 else None
    try:
        first = run_tool("hg-index", str(src), home=home2, user=user)
        assert first.paths("add") == ["locked/inside.jpg", "ok.jpg", "secret.jpg"]
        os.chmod(src / "secret.jpg", 0o000)
        os.chmod(src / "locked", 0o000)
        write(src / "secret.jpg", b"secret changed")  # root can still write it
        os.chmod(src / "secret.jpg", 0o000)
        run = run_tool("hg-index", str(src), home=home2, user=user)
        assert run.returncode == 1
        errors = {e["path"]: e["error"] for e in run.of_type("error")}
        assert "Permission denied" in errors["secret.jpg"]
        assert "cannot list folder" in errors["locked"]
        assert run.of_type("remove") == []  # nothing is lost: known entries are kept
        paths = sorted(e["path"] for e in read_entries(home2 / "index" / "src.ndjson"))
        assert paths == ["locked/inside.jpg", "ok.jpg", "secret.jpg"]
    finally:
        os.chmod(src / "locked", 0o777)
        shutil.rmtree(base)


def test_second_run_is_refused_while_locked(tmp_path, home):
    src = tmp_path / "src"
    write(src / "a.jpg")
    with RunLock(home / "index" / ".lock"):
        run = index(str(src), home=home)
    assert run.returncode == 2 and "another run" in run.stderr and "--wait" in run.stderr
    assert index(str(src), home=home).returncode == 0


def test_empty_or_missing_source_keeps_index(tmp_path, home):
    src = tmp_path / "share"
    write(src / "a.jpg", b"a")
    write(src / "b.jpg", b"b")
    index(str(src), home=home)
    for f in src.iterdir():
        f.unlink()
    run = index(str(src), home=home)
    assert run.returncode == 1 and run.of_type("remove") == []
    assert "not mounted" in run.of_type("error")[0]["error"]
    src.rmdir()
    run = index(str(src), home=home)
    assert run.returncode == 1 and "does not exist" in run.of_type("error")[0]["error"]
    src.mkdir()
    run = index(str(src), "--allow-empty", home=home)
    assert run.paths("remove") == ["a.jpg", "b.jpg"] and run.returncode == 0


def test_config_sources_and_no_sources(tmp_path, home):
    src = tmp_path / "pics"
    write(src / "a.jpg", b"a")
    write(src / "b.mov", b"b")
    assert index(home=home).returncode == 2
    home.mkdir()
    (home / "config.toml").write_text(
        f'[[sources]]\ndir = "{src}"\nname = "family"\nexcludes = ["*.mov"]\n'
    )
    run = index(home=home)
    assert run.returncode == 0 and run.paths("add") == ["a.jpg"]
    assert run.of_type("add")[0]["source"] == "family"


@pytest.mark.parametrize("name", ["hg-index", "hg-extract", "hg-build", "hg-serve"])
def test_version(name):
    run = run_tool(name, "--version")
    assert run.returncode == 0


def test_help():
    proc = run_tool("hg-index", "--help")
    assert proc.returncode == 0


def test_count_is_a_cheap_plan(tmp_path, home):
    src = tmp_path / "src"
    write(src / "a.jpg", b"a" * 10)
    index(str(src), home=home)
    write(src / "b.jpg", b"b" * 100)
    write(src / "big/c.mov", b"c" * 5000)
    (src / "a.jpg").write_bytes(b"A" * 20)
    run = index(str(src), "--count", home=home)
    (rec,) = run.records
    assert rec == {
        "type": "pending",
        "v": 1,
        "files": 3,
        "bytes": 5120,
        "removed": 0,
        "unchanged": 0,
    }
    assert progress(run)["bytes"] == 0  # nothing was hashed
    run = index(str(src), "--count", "--max-filesize", "1k", home=home)
    assert run.records[0]["files"] == 2
    # nothing was written: a real run still sees everything
    rerun = index(str(src), home=home)
    assert sorted(r["type"] for r in rerun.records) == ["add", "add", "change", "scanned"]


def test_special_files_are_error_records_and_never_opened(tmp_path, home):
    """A FIFO (opening it would block), a socket: reported like unreadable files."""
    import socket

    src = tmp_path / "src"
    write(src / "a.jpg", b"a")
    os.mkfifo(src / "pipe.jpg")
    os.mkfifo(src / "skipped.fifo")
    (src / "sub").mkdir()
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(src / "sub" / "sock"))
    try:
        run = run_tool("hg-index", str(src), "-e", "*.fifo", home=home, timeout=30)
    finally:
        sock.close()
    assert run.returncode == 1, run.stderr
    errors = {r["path"]: r["error"] for r in run.of_type("error")}
    assert errors == {
        "pipe.jpg": "not a regular file: FIFO",
        "sub/sock": "not a regular file: socket",
    }  # an excluded one is not reported
    assert run.paths("add") == ["a.jpg"]
    assert "pipe.jpg: not a regular file: FIFO" in run.stderr


def test_a_closed_stdout_is_quiet_but_not_success(tmp_path, home):
    """`hg-index | head -1`: no traceback, no message, but exit 141 (128 + SIGPIPE, as a
    shell reports `yes | head`): an import must never take a stage that could not hand on
    its output for one that finished."""
    import subprocess

    from tests.conftest import tool

    src = tmp_path / "src"
    for i in range(400):
        write(src / f"d{i % 7}" / f"f{i:04d}.jpg", f"{i}".encode())
    env = {k: v for k, v in os.environ.items() if not k.startswith("HG_")}
    script = f"'{tool('hg-index')}' --home '{home}' --no-progress '{src}' | head -1"
    proc = subprocess.run(
        ["bash", "-c", f"{script}; echo ${{PIPESTATUS[0]}} >&2"], capture_output=True, env=env
    )
    assert proc.stdout.count(b"\n") == 1
    assert proc.stderr.decode().splitlines() == ["141"]  # nothing else said


def test_a_full_disk_is_named_with_the_space_left(tmp_path):
    """ENOSPC is not an internal error: one line with the file and the free space."""
    import subprocess

    disk = tmp_path / "disk"
    disk.mkdir()
    mount = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(disk)])
    if mount.returncode != 0:
        pytest.skip("cannot mount a tmpfs here (needs root)")
    try:
        src = tmp_path / "src"
        for i in range(2000):  # an index bigger than the disk
            write(src / f"d{i % 9}" / f"a-long-file-name-{i:05d}.jpg", f"{i}".encode())
        run = run_tool("hg-index", str(src), "--no-progress", home=disk / "home")
    finally:
        subprocess.run(["umount", "-l", str(disk)])
    assert run.returncode == 2
    (line,) = [x for x in run.stderr.splitlines() if "error" in x]
    assert line.startswith("hg-index: error: no space left on device writing ")
    assert str(disk / "home" / "index" / "src.ndjson") in line
    assert f"free of 64.0 KiB (disk mounted on {disk})" in line


@pytest.mark.parametrize(
    ("tool_name", "text", "said"),
    [
        ("hg-extract", '[extract]\njobs = "many"\n', "line 2: [extract] jobs must be a whole"),
        ("hg-index", "[index]\njobs = 2\n[build]\nwokers = 2\n", "line 4: unknown key 'wokers'"),
        ("hg-build", "[server]\nport = 'http'\n", "line 2: [server] port must be a whole"),
        ("hg-index", b"\x00\x01\xfe\xff binary", "line 1: not UTF-8 text (byte 0xfe"),
    ],
)
def test_a_bad_config_is_a_clear_error_in_every_tool(tmp_path, tool_name, text, said):
    config = tmp_path / "config.toml"
    config.write_bytes(text if isinstance(text, bytes) else text.encode())
    args = {"hg-extract": ["--all"], "hg-index": [str(tmp_path)], "hg-build": []}[tool_name]
    run = run_tool(tool_name, *args, home=tmp_path, stdin=b"")
    assert run.returncode == 2
    assert run.stderr.startswith(f"{tool_name}: error: config file {config}, "), run.stderr
    assert said in run.stderr and "internal error" not in run.stderr
