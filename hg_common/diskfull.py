"""A full disk said in words a user can act on: which path, which disk, how much is free.

A full disk is not a bad input: no file "failed", the run did not complete. Every tool
stops on it with one line naming the path, the mount and the space left, and hg-import
recognises that line (and exiftool's, SQLite's) in what a stage prints, so it commits
nothing and the next import after freeing space carries on.
"""

from __future__ import annotations

import errno
import os
import shutil
import sys
from pathlib import Path

from hg_common.filesize import format_filesize

DISK_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})

SIGNS = ("no space left on device", "disk quota exceeded", "database or disk is full")
"""How a full disk reads in messages: strerror of ENOSPC and EDQUOT, SQLite's SQLITE_FULL."""


def says_disk_full(text: str) -> bool:
    """Pure: whether a message (a stage's stderr line, an error record) is about a full disk."""
    low = text.lower()
    return any(sign in low for sign in SIGNS)


def is_disk_full(exc: BaseException) -> bool:
    """ENOSPC/EDQUOT, or SQLite's "database or disk is full" (an sqlite3 error, not OSError;
    looked up without importing sqlite3 into tools that do not use it)."""
    if isinstance(exc, OSError):
        return exc.errno in DISK_FULL_ERRNOS
    sqlite3 = sys.modules.get("sqlite3")
    return bool(sqlite3 and isinstance(exc, sqlite3.Error) and says_disk_full(str(exc)))


def mount_point(path: Path) -> Path:
    """The folder `path` is mounted under (the topmost ancestor on the same device)."""
    path = existing_ancestor(path)
    dev = path.stat().st_dev
    while path.parent != path and path.parent.stat().st_dev == dev:
        path = path.parent
    return path


def existing_ancestor(path: Path) -> Path:
    path = Path(os.path.abspath(path))
    while not path.exists() and path.parent != path:
        path = path.parent
    return path


def space_sentence(path: Path, mount: Path, free: int, total: int) -> str:
    """Pure: '/srv/gallery: 12.0 KiB free of 20.0 MiB (disk mounted on /srv)'."""
    where = "" if mount == path else f" (disk mounted on {mount})"
    return f"{path}: {format_filesize(free)} free of {format_filesize(total)}{where}"


def describe_space(path: Path) -> str:
    """The space left where `path` is (or would be), as a sentence; '' when unknown."""
    try:
        mount = mount_point(path)
        usage = shutil.disk_usage(mount)
    except OSError:
        return ""
    return space_sentence(Path(os.path.abspath(path)), mount, usage.free, usage.total)


LOW_SPACE = 1 << 20
"""Less free space than this where hg writes: a failure there is most likely the full disk
(SQLite may say "disk I/O error" when it cannot grow its shared-memory file)."""


def describe_disks(paths: list[Path], below: int | None = None) -> list[str]:
    """The space left on each disk that holds one of `paths` (one sentence per disk; with
    `below`, only the disks with less free space than that)."""
    seen: set[int] = set()
    out: list[str] = []
    for path in paths:
        try:
            dev = existing_ancestor(path).stat().st_dev
            free = shutil.disk_usage(existing_ancestor(path)).free
        except OSError:
            continue
        if dev not in seen and (below is None or free < below):
            seen.add(dev)
            sentence = describe_space(path)
            if sentence:
                out.append(sentence)
    return out


def disk_full_message(exc: BaseException) -> str:
    """One line for a tool's stderr: what could not be written and how much room is left."""
    filename = getattr(exc, "filename", None)
    if isinstance(filename, str | os.PathLike) and filename:
        space = describe_space(Path(filename).parent)
        what = f"no space left on device writing {filename}"
        return f"{what} ({space})" if space else what
    return f"the disk is full ({getattr(exc, 'strerror', None) or exc})"
