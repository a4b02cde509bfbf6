"""The event log on a full disk: an append that does not fit leaves the log as it was (no
torn line of half an edit), and the next append after space is freed goes in whole."""

from __future__ import annotations

import os

import pytest

from hg_build.events import append_events, read_events, tag_event
from tests.conftest import tmpfs


def test_an_append_that_does_not_fit_leaves_no_torn_line():
    with tmpfs("1m") as disk:
        log = disk / "events.ndjson"
        first = tag_event(["ab" * 32], ["first"])
        append_events(log, [first])
        size = log.stat().st_size
        disk_stat = os.statvfs(disk)
        free = disk_stat.f_bavail * disk_stat.f_frsize
        (disk / "rest").write_bytes(b"\0" * (free - 3 * 4096))  # a few pages left
        big = tag_event([f"{i:064x}" for i in range(400)], ["x" * 100])  # ~27 KB
        with pytest.raises(OSError):
            append_events(log, [big])
        assert log.stat().st_size == size  # the part that fitted was taken back
        (disk / "rest").unlink()
        append_events(log, [big])
        assert [e["id"] for e, _ in read_events(log)] == [first["id"], big["id"]]
