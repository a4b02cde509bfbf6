"""One run at a time: an advisory lock (flock) on a lock file (hg_common.home names them:
one hg-index per index folder, one import per home, one writer per database).

flock is released by the kernel when the process dies, so a killed run never leaves a stale
lock behind.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from hg_common.errors import ConfigError


def process_alive(pid: object) -> bool:
    """Whether a process with this id exists (a stale temp file or status file's owner)."""
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


class LockedError(ConfigError):
    """Another run holds the lock."""


class RunLock:
    def __init__(self, path: Path, wait: bool = False) -> None:
        self.path = path
        self.wait = wait
        self._fd: int | None = None

    def __enter__(self) -> RunLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if self.wait else fcntl.LOCK_NB))
        except BlockingIOError:
            holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "?"
            os.close(fd)
            raise LockedError(
                f"another run (pid {holder}) is using {self.path.parent}; "
                "try again when it has finished, or pass --wait"
            ) from None
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, str(os.getpid()).encode(), 0)
        except OSError:
            pass  # a full disk: the pid only names the holder in a message; the lock holds
        return self

    def __exit__(self, *exc: object) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
