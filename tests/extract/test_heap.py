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


GIVE_BACK = """
import sys
from hg_extract.heap import give_back, one_arena
one_arena()
def heap_kib():
    kib, inside = 0, False
    for line in open("/proc/self/smaps"):
        if line[0] in "0123456789abcdef" and "-" in line.split()[0]:
            inside = line.rstrip().endswith("[heap]")
        elif inside and line.startswith("Rss:"):
            kib += int(line.split()[1])
    return kib
blocks = [bytearray(4000) for _ in range(30_000)]  # ~120 MB of malloc'ed blocks
last = blocks.pop()  # keeps the top of the heap: free() alone cannot shrink it
del blocks
before = heap_kib()
given = give_back() if sys.argv[1] == "give" else False
print(before, heap_kib(), given)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc_trim")
def test_give_back_returns_the_free_pages_inside_the_heap():
    def run(mode: str) -> tuple[int, int, str]:
        out = subprocess.run(
            [sys.executable, "-c", GIVE_BACK, mode], capture_output=True, text=True, check=True
        ).stdout.split()
        return int(out[0]), int(out[1]), out[2]

    before, after, given = run("keep")
    assert after > 100_000 and given == "False"  # ~120 MB freed, still resident
    before, after, given = run("give")
    assert before > 100_000 and after < 20_000 and given == "True"
