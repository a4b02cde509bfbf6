"""hg-import: a second import exits with a clear message or waits (--wait); progress records
with --json-progress; totals come from `hg-index --count`."""

from __future__ import annotations

import threading
import time

import orjson

from hg_common.import_status import format_duration
from hg_common.lock import RunLock
from hg_import.progress import eta_seconds
from tests.import_loop.conftest import hg_import


def tree(root, n):
    root.mkdir(parents=True)
    for i in range(n):
        (root / f"f{i:02d}.jpg").write_bytes(f"{i}\n".encode() * (i + 1))
    return root


def test_a_second_import_exits_with_a_clear_message_or_waits(tmp_path):
    src, home = tree(tmp_path / "src", 3), tmp_path / "home"
    with RunLock(home / "import.lock"):  # an import is running
        refused = hg_import("--index-only", src, home=home)
    assert refused.returncode == 2
    assert "another import is running" in refused.stderr and "--wait" in refused.stderr
    assert not (home / "index" / "src.ndjson").exists()

    lock = RunLock(home / "import.lock").__enter__()
    threading.Timer(1.5, lock.__exit__).start()
    start = time.monotonic()
    waited = hg_import("--index-only", "--wait", src, home=home)
    assert waited.returncode == 0, waited.stderr
    assert time.monotonic() - start >= 1.4
    assert "waiting for the import running" in waited.stderr
    assert "batch 1 chunk 1: 3 added" in waited.stderr


def test_json_progress_records_and_status_file(tmp_path):
    src, home = tree(tmp_path / "src", 25), tmp_path / "home"
    run = hg_import("--index-only", "--json-progress", src, home=home)
    assert run.returncode == 0, run.stderr
    records = [orjson.loads(line) for line in run.stderr.splitlines() if line.startswith("{")]
    progress = [r for r in records if r["type"] == "progress" and r["stage"] == "import"]
    # batch 1 (10,20,…): chunks of 10 and 15; batches 2 and 3 have nothing to add: skipped
    assert [(r["batch"], r["chunk"], r["current_batch"]["files"]) for r in progress] == [
        (1, 1, 10),
        (1, 2, 25),
    ]
    first = progress[0]
    assert first["total_files"] == first["current_batch"]["total_files"] == 25
    assert first["current_batch"]["total_bytes"] == sum(p.stat().st_size for p in src.iterdir())
    status = orjson.loads((home / "import-status.json").read_bytes())
    assert status["state"] == "finished" and status["files"] == 25 and status["exit"] == 0


def test_eta_arithmetic():
    assert eta_seconds(10, 100, 5.0) == 45.0
    assert eta_seconds(0, 100, 5.0) is None and eta_seconds(5, None, 1.0) is None
    assert format_duration(10800) == "3 h 00 min" and format_duration(75) == "1 min 15 s"
