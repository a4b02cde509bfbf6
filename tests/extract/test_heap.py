"""hg_extract.heap: one malloc arena for every thread of the process."""

from __future__ import annotations

import subprocess
import sys

import pytest

SCRIPT = """
import ctypes, sys, threading
from hg_extract.heap import one_arena
if sys.argv[1] == "one":
    assert one_arena()
def work():
    keep = [bytearray(300_000) for _ in range(20)]  # malloc'ed by this thread
threads = [threading.Thread(target=work) for _ in range(4)]
for t in threads: t.start()
for t in threads: t.join()
ctypes.CDLL(None).malloc_stats()  # one "Arena N:" block per arena, on stderr
"""


def arenas(mode: str) -> int:
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT, mode], capture_output=True, text=True, check=True
    )
    return sum(1 for line in proc.stderr.splitlines() if line.startswith("Arena "))


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_threads_share_the_main_arena():
    assert arenas("default") > 1  # glibc gives threads arenas of their own
    assert arenas("one") == 1
