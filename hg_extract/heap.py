"""One malloc arena per process: what a thread frees is reused by the next, not kept.

glibc gives each thread that allocates while another holds the main arena an arena of its
own (up to 8 per core), and what is freed in an arena stays with it. In hg-extract that is
the input and result threads of the parent, and in each worker libvips's and onnxruntime's
threads: their image buffers and tensors, once freed, were kept in arenas that no other
work used. With one arena the extract workers of an import of 150 photos with the ML step
peaked at 405 MiB of PSS on average against 425 (five runs side by side with main, the same
CPU seconds; docs/benchmarks.md, "Peak memory with the ML step"): a small gain, beside a
run-to-run spread of ±25 MiB. The lock is contended little: a worker runs one thread of
work at a time.

Set at hg-extract's start, before it has threads; the forked workers inherit it. Not glibc
(musl, macOS): nothing to do, the call is not there.
"""

from __future__ import annotations

import ctypes

M_ARENA_MAX = -8
"""glibc's malloc.h."""


def one_arena() -> bool:
    """Every thread of this process (and of the processes it forks) allocates from the
    main arena. False where the C library has no mallopt."""
    try:
        return bool(ctypes.CDLL(None).mallopt(M_ARENA_MAX, 1))
    except (OSError, AttributeError):
        return False


def give_back() -> bool:
    """The free pages inside the heap returned to the system (glibc's malloc_trim): what a
    worker's heap keeps of an ML pass's peak no longer counts while the next previews and
    exiftool run. False where the C library has no malloc_trim."""
    try:
        return bool(ctypes.CDLL(None).malloc_trim(0))
    except (OSError, AttributeError):
        return False
