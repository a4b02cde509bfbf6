"""Content checksum (blake3, hex) of a file: the identity of a photo everywhere in hg.

Files are opened read-only (and with O_NOATIME where allowed, so indexing does not even touch
the originals' access times) and streamed in 1 MiB blocks: memory stays flat for a 20 GB video.
Large files are hashed with blake3's own threads, which run beside the read.
"""

from __future__ import annotations

import os

from blake3 import blake3

BLOCK = 1 << 20
THREADED_FROM = 16 << 20
_NOATIME = getattr(os, "O_NOATIME", 0)


def open_readonly(path: str | os.PathLike[str]) -> int:
    """A read-only descriptor; O_NOATIME when the OS lets us (owner or root only)."""
    flags = os.O_RDONLY | getattr(os, "O_CLOEXEC", 0)
    if _NOATIME:
        try:
            return os.open(path, flags | _NOATIME)
        except PermissionError:
            pass
    return os.open(path, flags)


def checksum_file(path: str | os.PathLike[str], size_hint: int = 0) -> tuple[str, int]:
    """blake3 hex digest and the number of bytes read.

    The buffer is sized to the file (a small photo needs one read, and no 1 MiB buffer is
    zero-filled per file), up to 8 MiB blocks for large files.
    """
    threaded = size_hint >= THREADED_FROM
    hasher = blake3(max_threads=blake3.AUTO if threaded else 1)
    buf = bytearray(BLOCK * 8 if threaded else min(BLOCK, max(size_hint, 4096) + 1))
    view = memoryview(buf)
    total = 0
    fd = open_readonly(path)
    try:
        while n := os.readv(fd, [view]):
            hasher.update(view[:n])
            total += n
    finally:
        os.close(fd)
    return hasher.hexdigest(), total


def checksum_bytes(data: bytes) -> str:
    return blake3(data).hexdigest()
