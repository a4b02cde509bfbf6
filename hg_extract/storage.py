"""The content-addressed storage: `<storage>/C[0:2]/C[2:4]/C[4:]-<what>.<ext>`.

`C` is the blake3 checksum of an original file (per-file outputs such as `exif.json`) or of an
entry's primary file (per-entry outputs such as previews). Every file is written to a temp
file in its final folder and renamed, so a killed run leaves no partial output under a final
name and a re-run can trust that what exists is complete. Leftover temp files of a killed run
are removed when their target is written again.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson

from hg_index.lock import process_alive

TMP_SUFFIX = ".tmp"
_UMASK = os.umask(0o022)
os.umask(_UMASK)
FILE_MODE = 0o666 & ~_UMASK
"""mkstemp makes 0600 files; storage is served by hg-serve, maybe as another user."""


def relpath(checksum: str, what: str) -> str:
    """Storage-relative path, `/`-separated: `ab/cd/<rest>-<what>`."""
    if len(checksum) < 8 or not all(c in "0123456789abcdef" for c in checksum):
        raise ValueError(f"not a hex checksum: {checksum!r}")
    return f"{checksum[0:2]}/{checksum[2:4]}/{checksum[4:]}-{what}"


class Storage:
    """Paths, existence checks and atomic writes below one storage root."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def path(self, checksum: str, what: str) -> Path:
        return self.root / relpath(checksum, what)

    def exists(self, checksum: str, what: str) -> bool:
        return self.path(checksum, what).is_file()

    def read_json(self, checksum: str, what: str) -> Any | None:
        """The stored JSON, or None when absent or unreadable (then it is made again)."""
        try:
            return orjson.loads(self.path(checksum, what).read_bytes())
        except (OSError, orjson.JSONDecodeError):
            return None

    @contextmanager
    def atomic(self, checksum: str, what: str) -> Iterator[Path]:
        """Yield a temp path beside the target; rename it into place when the block succeeds."""
        target = self.path(checksum, what)
        target.parent.mkdir(parents=True, exist_ok=True)
        _remove_stale_temps(target)
        fd, tmp = tempfile.mkstemp(
            prefix=f".{target.name}.{os.getpid()}.", suffix=TMP_SUFFIX, dir=target.parent
        )
        os.fchmod(fd, FILE_MODE)
        os.close(fd)
        tmp_path = Path(tmp)
        try:
            yield tmp_path
            if tmp_path.stat().st_size == 0:
                raise OSError(f"refusing to store an empty {what}")
            os.replace(tmp_path, target)
        finally:
            tmp_path.unlink(missing_ok=True)

    def write_bytes(self, checksum: str, what: str, data: bytes) -> Path:
        with self.atomic(checksum, what) as tmp:
            tmp.write_bytes(data)
        return self.path(checksum, what)

    def write_json(self, checksum: str, what: str, value: Any) -> Path:
        return self.write_bytes(checksum, what, orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS))


def _remove_stale_temps(target: Path) -> None:
    """Temp files for this target (`.<name>.<pid>.<random>.tmp`) whose writer is dead."""
    try:
        names = os.listdir(target.parent)
    except OSError:
        return
    prefix = f".{target.name}."
    for name in names:
        if not (name.startswith(prefix) and name.endswith(TMP_SUFFIX)):
            continue
        pid = name[len(prefix) :].split(".", 1)[0]
        if pid.isdigit() and process_alive(int(pid)):
            continue  # another worker is writing the same content right now
        try:
            os.unlink(target.parent / name)
        except OSError:
            pass
