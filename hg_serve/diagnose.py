"""What to tell a person when the gallery home cannot be written: read-only, full, other.

hg-serve writes little, but it must write: SQLite's `gallery.db-shm` beside the database
(even to read a WAL database), the event log and the database for tag edits. SQLite and the
OS report a read-only or full disk in several ways ("attempt to write a readonly database",
"disk I/O error", EROFS, ENOSPC…); `describe` turns what it can into one sentence naming the
folder and what to do, from facts `explain` gathers (pure, so it is tested without a disk).
"""

from __future__ import annotations

import errno
import os
import shutil
import sqlite3
from pathlib import Path

READ_ONLY_ERRNOS = {errno.EROFS, errno.EACCES, errno.EPERM}
FULL_ERRNOS = {errno.ENOSPC, errno.EDQUOT}
LOW_SPACE = 1 << 20  # below this many free bytes a failed write is most likely a full disk


def describe(folder: Path, error: BaseException, writable: bool, free: int | None) -> str:
    """One sentence: why writing in `folder` failed (`writable`: may this user write there;
    `free`: bytes free on its disk, None when unknown) and what would fix it."""
    code = getattr(error, "errno", None)
    text = str(error)
    if code in FULL_ERRNOS or "full" in text or (free is not None and free < LOW_SPACE):
        shown = "" if free is None else f" ({free // 1024} KiB free)"
        return f"the disk of {folder} is full{shown}: free some space there"
    if code in READ_ONLY_ERRNOS or "readonly" in text or "read-only" in text or not writable:
        user = _user()
        return (
            f"{folder} is read-only for {user}: hg-serve needs to write there (SQLite's "
            "-shm file beside the database, the event log and the database for tag edits); "
            "make it writable for that user, or mount it read-write"
        )
    kind = getattr(error, "sqlite_errorname", None) or type(error).__name__
    return f"cannot write in {folder}: {kind}: {text}"


def explain(folder: Path, error: BaseException) -> str:
    """`describe` with the facts of the real disk."""
    writable = os.access(folder, os.W_OK)
    try:
        free: int | None = shutil.disk_usage(folder).free
    except OSError:
        free = None
    return describe(folder, error, writable, free)


def is_home_problem(error: BaseException) -> bool:
    """Errors that a read-only or full home causes (as opposed to bugs)."""
    return isinstance(error, OSError | sqlite3.OperationalError)


def _user() -> str:
    try:
        import pwd

        return f"user {pwd.getpwuid(os.geteuid()).pw_name}"
    except (ImportError, KeyError, OSError):
        return "this user"
