"""The `scanned` record (contract 4): the real hg-index prints it as the last record of a
source only when its walk looked at every file, so hg-build may forget index failures that
were not reported again. Runs cut by the add limit or by a run's --max-filesize are not
complete: an unreadable file among the files left out would not have been reported."""

from __future__ import annotations

import os

from tests.conftest import run_tool


def index(*args, home):
    return run_tool("hg-index", "--no-progress", *args, home=home)


def write(path, data=b"x"):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def scanned(run):
    return [(r["source"], r["root"]) for r in run.of_type("scanned")]


def test_a_complete_walk_ends_each_source_with_scanned(tmp_path):
    home, a, b = tmp_path / "home", tmp_path / "a", tmp_path / "b"
    write(a / "x.jpg", b"x")
    write(a / "gone.jpg", b"gone")
    write(b / "y.jpg", b"y")
    assert index(str(a), str(b), home=home).returncode == 0
    os.rename(a / "x.jpg", b / "x.jpg")  # a move between sources, printed at the very end
    (a / "gone.jpg").unlink()
    write(a / "z.jpg", b"z")
    run = index(str(a), str(b), home=home)
    assert run.returncode == 0, run.stderr
    kinds = [r["type"] for r in run.records]
    assert kinds[-2:] == ["scanned", "scanned"], kinds  # after the move and the remove
    assert {"move", "remove", "add"} <= set(kinds)
    assert scanned(run) == [("a", str(a)), ("b", str(b))]
    assert run.records[-1] == {"type": "scanned", "v": 1, "source": "b", "root": str(b)}


def test_runs_cut_by_the_add_limit_are_not_complete_but_report_every_error(tmp_path):
    home, src = tmp_path / "home", tmp_path / "src"
    for i in range(5):
        write(src / f"f{i}.jpg", f"file {i}".encode())
    write(src / "z-empty.jpg", b"")
    os.mkfifo(src / "zz-pipe.jpg")  # sorted after the files the limit lets in
    runs = []
    for _ in range(5):
        runs.append(index("--add-limits", "2,2,1.0,2", str(src), home=home))
        if runs[-1].returncode != 3:
            break
    assert [r.returncode for r in runs] == [3, 3, 1]
    for run in runs:  # files beyond the limit are still walked: their errors come every run
        assert run.paths("error") == ["z-empty.jpg", "zz-pipe.jpg"], run.stderr
    assert [len(r.of_type("add")) for r in runs] == [2, 2, 1]
    assert [scanned(r) for r in runs] == [[], [], [("src", str(src))]]


def test_a_run_size_flag_that_left_files_out_is_not_complete(tmp_path):
    home, src = tmp_path / "home", tmp_path / "src"
    write(src / "small.jpg", b"s" * 100)
    write(src / "big.mov", b"b" * 3000)
    batch = index("--max-filesize", "2k", str(src), home=home)
    assert batch.paths("add") == ["small.jpg"] and scanned(batch) == []
    rest = index(str(src), home=home)
    assert rest.paths("add") == ["big.mov"] and scanned(rest) == [("src", str(src))]
    # a size limit of the source itself is its choice, like an exclude: the walk is complete
    (tmp_path / "config.toml").write_text(
        f'[[sources]]\ndir = "{src}"\nname = "cfg"\nmax_filesize = "2k"\n'
    )
    configured = index("--config", str(tmp_path / "config.toml"), home=tmp_path / "home2")
    assert configured.paths("add") == ["small.jpg"] and scanned(configured) == [("cfg", str(src))]


def test_no_scanned_for_a_missing_or_suddenly_empty_source(tmp_path):
    home, src = tmp_path / "home", tmp_path / "src"
    write(src / "a.jpg", b"a")
    assert scanned(index(str(src), home=home)) == [("src", str(src))]
    (src / "a.jpg").unlink()
    empty = index(str(src), home=home)  # not mounted? the index is kept
    assert empty.returncode == 1 and scanned(empty) == []
    src.rmdir()
    missing = index(str(src), "--name", "src", home=home)
    assert missing.returncode == 1 and scanned(missing) == []
