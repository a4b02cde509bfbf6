"""hg-extract's writes into the content-addressed storage (`hg_common.layout`).

Every file is written to a temp file in its final folder and renamed, so a killed run
leaves no partial output under a final name and a re-run can trust that what exists is
complete. A temp whose writer is dead is left over: every write removes those of its
folder, and a run that finds the mark of a run that did not end (`.hg-extract.<pid>.run`
at the storage root, see `begin_run`) sweeps the whole storage once, for the folders no
later run writes into.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson

from hg_common import layout
from hg_common.layout import remove_stale_temps, writer_alive

log = logging.getLogger("hg-extract")

RUN_MARK = (".hg-extract.", ".run")


class Storage:
    """Paths, existence checks and atomic writes below one storage root."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def path(self, checksum: str, what: str) -> Path:
        return layout.path(self.root, checksum, what)

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
        remove_stale_temps(target.parent)
        with layout.temp_beside(target) as tmp_path:
            yield tmp_path
            if tmp_path.stat().st_size == 0:
                raise OSError(f"refusing to store an empty {what}")

    def write_bytes(self, checksum: str, what: str, data: bytes) -> Path:
        with self.atomic(checksum, what) as tmp:
            tmp.write_bytes(data)
        return self.path(checksum, what)

    def write_json(self, checksum: str, what: str, value: Any) -> Path:
        return self.write_bytes(checksum, what, orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS))

    def begin_run(self) -> None:
        """Mark this run as going on; sweep the storage's stale temps when an earlier run
        ended without removing its mark (killed, crashed). Never fails the run: a storage
        that cannot be written shows in each file's error record instead."""
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            crashed = [
                name
                for name in os.listdir(self.root)
                if (pid := run_mark_pid(name)) is not None and not writer_alive(pid)
            ]
            (self.root / self._mark()).touch()
            if crashed:
                removed = self.sweep_stale_temps()
                log.debug("an earlier run did not end: %d stale temp files removed", removed)
                for name in crashed:
                    os.unlink(self.root / name)
        except OSError as exc:
            log.debug("storage run mark: %s", exc)

    def end_run(self) -> None:
        try:
            os.unlink(self.root / self._mark())
        except OSError:
            pass

    def _mark(self) -> str:
        return f"{RUN_MARK[0]}{os.getpid()}{RUN_MARK[1]}"

    def sweep_stale_temps(self) -> int:
        """Remove the temp files of dead writers in every folder; how many."""
        return sum(remove_stale_temps(folder) for folder in layout.folders(self.root))


def run_mark_pid(name: str) -> int | None:
    """The pid of a run mark's name (`.hg-extract.<pid>.run`), else None."""
    head, tail = RUN_MARK
    if not (name.startswith(head) and name.endswith(tail)):
        return None
    pid = name[len(head) : -len(tail)]
    return int(pid) if pid.isdigit() else None
