"""Child processes that end with their parent, even when the parent is killed with SIGKILL.

A worker or an ffmpeg left behind by a killed hg-extract would go on writing into the
storage for seconds (and hold CPU and the source's disk) while the next run starts. Linux's
PR_SET_PDEATHSIG has the kernel send a signal to a process when its parent ends; it is set
in the child itself, and kept across exec. exiftool gets it from pyexiftool already (SIGTERM
when its worker ends), ffmpeg, ffprobe and the short-lived exiftool through `dies_with_me()`
as `preexec_fn`, and the worker processes through `die_with(parent)`.
"""

from __future__ import annotations

import ctypes
import os
import signal
from collections.abc import Callable

_PR_SET_PDEATHSIG = 1


def _set_pdeathsig() -> bool:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL) == 0
    except (OSError, AttributeError):  # not Linux: nothing to do
        return False


def die_with(parent: int) -> None:
    """In a worker: SIGKILL when `parent` ends; exit at once if it has ended already."""
    _set_pdeathsig()
    if os.getppid() != parent:  # the parent ended before prctl
        os._exit(1)


def dies_with_me() -> Callable[[], None]:
    """A `preexec_fn` for a subprocess (it runs in the child between fork and exec)."""
    parent = os.getpid()
    return lambda: die_with(parent)
