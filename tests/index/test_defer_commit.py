"""`hg-index --defer-commit` + `hg-index commit`: a chunk whose downstream stages never finish
is offered again by the next run (the import loop's never-lose-a-chunk rule)."""

from __future__ import annotations

import os

import pytest

from hg_common.indexfile import (
    IndexFormatError,
    commit_pending,
    pending_path,
    read_count,
    read_entries,
)
from tests.conftest import run_tool


def index(*args, home):
    return run_tool("hg-index", *args, home=home)


def tree(root, n):
    root.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        (root / f"f{i:03d}.jpg").write_bytes(f"file {i}\n".encode())
    return root


@pytest.fixture
def home(tmp_path):
    return tmp_path / "home"


def idx(home, name="src"):
    return home / "index" / f"{name}.ndjson"


def test_deferred_run_leaves_the_committed_index_alone(tmp_path, home):
    src = tree(tmp_path / "src", 5)
    first = index("--defer-commit", str(src), home=home)
    assert first.returncode == 0 and len(first.of_type("add")) == 5
    assert not idx(home).exists()
    assert read_count(pending_path(idx(home))) == 5
    # not committed: the next deferred run offers the same files again
    again = index("--defer-commit", str(src), home=home)
    assert again.paths("add") == first.paths("add")
    committed = index("commit", home=home)
    assert committed.returncode == 0 and committed.records == []
    assert not pending_path(idx(home)).exists()
    assert [e["path"] for e in read_entries(idx(home))] == first.paths("add")
    assert index("--defer-commit", str(src), home=home).of_type("add") == []
    # nothing pending: commit is a no-op
    before = idx(home).read_bytes()
    assert index("commit", home=home).returncode == 0 and idx(home).read_bytes() == before


def test_add_limits_count_from_the_committed_index(tmp_path, home):
    src = tree(tmp_path / "src", 30)
    limits = ("--add-limits", "4,6,1.5,100", "--defer-commit", str(src))
    first = index(*limits, home=home)
    assert first.returncode == 3 and len(first.of_type("add")) == 4
    # uncommitted: the index is still empty, so the limit is `initial` again, same files
    retry = index(*limits, home=home)
    assert retry.returncode == 3 and retry.paths("add") == first.paths("add")
    index("commit", home=home)
    second = index(*limits, home=home)  # 4 known -> max(6, 4 * 0.5) = 6
    assert second.returncode == 3 and len(second.of_type("add")) == 6
    assert not set(second.paths("add")) & set(first.paths("add"))
    index("commit", home=home)
    assert read_count(idx(home)) == 10


def test_a_plain_run_discards_stale_pending_indexes(tmp_path, home):
    a, b = tree(tmp_path / "a", 3), tree(tmp_path / "b", 2)
    index("--defer-commit", str(a), home=home)
    assert pending_path(idx(home, "a")).exists()
    # another source's plain run: a's uncommitted chunk is dropped, never committed by accident
    plain = index(str(b), home=home)
    assert plain.returncode == 0 and not pending_path(idx(home, "a")).exists()
    index("commit", home=home)
    assert not idx(home, "a").exists() and read_count(idx(home, "b")) == 2
    assert len(index(str(a), home=home).of_type("add")) == 3
    # --count and --dry-run do not touch pending indexes
    (a / "new.jpg").write_bytes(b"new")
    index("--defer-commit", str(a), home=home)
    index("--count", str(a), home=home)
    index("--dry-run", str(a), home=home)
    assert pending_path(idx(home, "a")).exists()


def test_pending_moves_and_removes_are_offered_again(tmp_path, home):
    src = tree(tmp_path / "src", 3)
    index(str(src), home=home)
    os.rename(src / "f000.jpg", src / "moved.jpg")
    (src / "f001.jpg").unlink()
    first = index("--defer-commit", str(src), home=home)
    again = index("--defer-commit", str(src), home=home)
    for run in (first, again):
        assert run.paths("move") == ["moved.jpg"] and run.paths("remove") == ["f001.jpg"]
    index("commit", home=home)
    assert [r["type"] for r in index(str(src), home=home).records] == ["scanned"]


def test_commit_refuses_a_torn_pending_index(tmp_path, home):
    src = tree(tmp_path / "src", 2)
    index(str(src), home=home)
    (src / "x.jpg").write_bytes(b"x")
    index("--defer-commit", str(src), home=home)
    pending = pending_path(idx(home))
    pending.write_bytes(pending.read_bytes()[:-20])
    with pytest.raises(IndexFormatError):
        commit_pending(home / "index")
    assert read_count(idx(home)) == 2
    run = index("commit", home=home)
    assert run.returncode == 2 and "truncated" in run.stderr
