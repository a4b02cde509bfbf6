"""Walk a source folder with os.scandir, yielding one listing per folder in a stable order.

Order: a folder's files, then its subfolders, each sorted by name, depth first. The index
file is written in the same order, so a re-scan merges the walk with the old index as two
sorted streams and never holds the whole archive in memory.

Symlinks are followed; a folder reached twice (a symlink loop or a second link to it) is
walked once. Special files (FIFOs, sockets, devices) are reported as problems and never
opened: opening a FIFO blocks until someone writes to it, a device may never end.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass, field

from hg_index.excludes import Excludes


@dataclass(frozen=True, slots=True)
class FileStat:
    name: str
    size: int
    mtime_ns: int
    inode: int


@dataclass(slots=True)
class Listing:
    """One folder: `path` relative to the root ('' for the root), its files, its problems."""

    path: str
    files: list[FileStat] = field(default_factory=list)
    problems: list[tuple[str, str]] = field(default_factory=list)
    """(relative path, reason) for entries that could not be read."""
    failed: str | None = None
    """Why the folder itself could not be listed (its old entries are then kept)."""


def join(parent: str, name: str) -> str:
    return f"{parent}/{name}" if parent else name


def valid_name(name: str) -> bool:
    """False for names that are not valid UTF-8 (decoded with surrogate escapes)."""
    if name.isascii():
        return True
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def printable(name: str) -> str:
    """A name that is safe to print and put into JSON, even when it is not UTF-8."""
    return os.fsencode(name).decode("utf-8", "backslashreplace")


SPECIAL_KINDS = (
    (stat.S_ISFIFO, "FIFO"),
    (stat.S_ISSOCK, "socket"),
    (stat.S_ISCHR, "character device"),
    (stat.S_ISBLK, "block device"),
)


def special_kind(mode: int) -> str:
    """What a file that is neither a regular file nor a folder is (for its error record)."""
    return next((name for test, name in SPECIAL_KINDS if test(mode)), "special file")


def _reason(exc: OSError) -> str:
    if exc.errno == errno.ENOENT:
        return "vanished during the scan"
    return exc.strerror or str(exc)


def walk(root: str, excludes: Excludes) -> Iterator[Listing]:
    """Yield a Listing per folder that is not excluded, in index order."""
    seen: set[tuple[int, int]] = set()
    try:
        st = os.stat(root)
        seen.add((st.st_dev, st.st_ino))
    except OSError:
        pass
    stack = [""]
    while stack:
        rel = stack.pop()
        listing = Listing(rel)
        try:
            with os.scandir(os.path.join(root, rel) if rel else root) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as exc:
            listing.failed = _reason(exc)
            yield listing
            continue
        if excludes.marks_skip(e.name for e in entries):
            continue
        subdirs: list[str] = []
        for entry in entries:
            relpath = join(rel, entry.name)
            if not valid_name(entry.name):
                listing.problems.append((printable(relpath), "name is not valid UTF-8"))
                continue
            try:
                st = entry.stat()  # follows symlinks
            except OSError as exc:
                reason = _reason(exc)
                if entry.is_symlink():
                    reason = f"broken symlink ({reason})"
                listing.problems.append((relpath, reason))
                continue
            if stat.S_ISDIR(st.st_mode):
                if excludes.skips_dir(relpath):
                    continue
                ident = (st.st_dev, st.st_ino)
                if ident in seen:
                    continue
                seen.add(ident)
                subdirs.append(relpath)
            elif stat.S_ISREG(st.st_mode):
                if excludes.skips_file(relpath):
                    continue
                listing.files.append(FileStat(entry.name, st.st_size, st.st_mtime_ns, st.st_ino))
            elif not excludes.skips_file(relpath):
                # stat only (never open: a FIFO would block); reported like an unreadable
                # file, so nothing in a source disappears without a word
                reason = f"not a regular file: {special_kind(st.st_mode)}"
                listing.problems.append((relpath, reason))
        yield listing
        stack.extend(reversed(subdirs))
