"""The run lock on a full disk: taken and released all the same (the pid it writes is only
for the message of a second run)."""

from __future__ import annotations

import errno
import os

import pytest

from hg_common.lock import LockedError, RunLock
from tests.conftest import tmpfs


def fill(where) -> None:
    with open(where / "filler", "wb") as f:
        try:
            while True:
                f.write(b"\0" * 65536)
        except OSError as exc:
            assert exc.errno == errno.ENOSPC


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_a_full_disk_still_locks_and_releases():
    with tmpfs("256k") as where:
        fill(where)
        before = open_fds()
        with RunLock(where / "run.lock"):
            with pytest.raises(LockedError, match=r"another run \(pid \?\)"):
                with RunLock(where / "run.lock"):
                    pass
        assert open_fds() == before
        with RunLock(where / "run.lock"):  # released: a next run takes it
            pass
        assert open_fds() == before
