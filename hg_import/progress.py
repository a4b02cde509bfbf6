"""Import progress: totals from `hg-index --count`, files done as hg-extract reports them;
rendered as stderr lines, NDJSON records (`--json-progress`) and `<home>/import-status.json`
(the file's format, written here and read by hg-serve, is `hg_common.import_status`).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from hg_common.filesize import format_filesize
from hg_common.import_status import (
    finished_state,
    format_duration,
    now_iso,
    status_record,
    write_status,
)
from hg_common.ndjson import dumps


def eta_seconds(done: int, total: int | None, elapsed: float) -> float | None:
    """Seconds left at the rate so far (None when unknown)."""
    if total is None or done <= 0 or elapsed <= 0:
        return None
    return max(0, total - done) * elapsed / done


class _Counter:
    def __init__(self, clock: Callable[[], float]) -> None:
        self.start = clock()
        self.files = 0
        self.bytes = 0
        self.total_files: int | None = None
        self.total_bytes: int | None = None

    def figures(self, now: float) -> dict[str, Any]:
        elapsed = now - self.start
        return {
            "files": self.files,
            "total_files": self.total_files,
            "bytes": self.bytes,
            "total_bytes": self.total_bytes,
            "elapsed": round(elapsed, 1),
            "files_per_s": round(self.files / elapsed, 2) if elapsed > 0 else None,
            "eta": _round(eta_seconds(self.files, self.total_files, elapsed)),
        }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


class ImportProgress:
    """Counts per batch and overall; `mode` is `text`, `json` or `off` (stderr only)."""

    def __init__(
        self,
        status_path: Path,
        mode: str = "text",
        stream: IO[str] | None = None,
        interval: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.status_path = status_path
        self.mode = mode
        self.stream = stream or sys.stderr
        self.interval = interval
        self.clock = clock
        self.started = now_iso()
        self.overall = _Counter(clock)
        self.batch = _Counter(clock)
        self.batch_number = 0
        self.chunk = 0
        self._last_status = 0.0
        self._last_line = clock()

    def set_total(self, files: int | None, nbytes: int | None) -> None:
        self.overall.total_files, self.overall.total_bytes = files, nbytes

    def start_batch(self, number: int, files: int | None, nbytes: int | None) -> None:
        self.batch = _Counter(self.clock)
        self.batch.total_files, self.batch.total_bytes = files, nbytes
        self.batch_number, self.chunk = number, 0
        self.status("running", force=True)

    def start_chunk(self, chunk: int) -> None:
        self.chunk = chunk

    def advance(self, files: int, nbytes: int) -> None:
        """Files of this chunk are in the gallery (extracted; built moments later)."""
        for c in (self.batch, self.overall):
            c.files += files
            c.bytes += nbytes
        self.status("running")
        if self.mode == "text" and self.clock() - self._last_line >= self.interval:
            self.line()

    def record(self, state: str = "running", exit_status: int | None = None) -> dict[str, Any]:
        now = self.clock()
        return status_record(
            state,
            self.started,
            self.batch_number,
            self.chunk,
            self.overall.figures(now),
            self.batch.figures(now),
            exit_status,
        )

    def status(self, state: str, force: bool = False, exit_status: int | None = None) -> None:
        now = self.clock()
        if force or now - self._last_status >= 1.0:
            self._last_status = now
            write_status(self.status_path, self.record(state, exit_status))

    def line(self) -> None:
        """One progress line (text) or record (json) on stderr."""
        self._last_line = self.clock()
        if self.mode == "json":
            record = {**self.record(), "type": "progress", "stage": "import"}
            self.stream.write(dumps(record).decode())
        elif self.mode == "text":
            b = self.batch.figures(self.clock())
            total = f" / {b['total_files']:,}" if b["total_files"] is not None else ""
            total_bytes = (
                f" / {format_filesize(b['total_bytes'])}" if b["total_bytes"] is not None else ""
            )
            self.stream.write(
                f"hg-import: batch {self.batch_number}: {b['files']:,}{total} files, "
                f"{format_filesize(b['bytes'])}{total_bytes}, "
                f"{b['files_per_s'] or 0:.1f} files/s, ETA {format_duration(b['eta'])}\n"
            )
        self.stream.flush()

    def chunk_done(self, added: int) -> None:
        self.stream.write(
            f"hg-import: batch {self.batch_number} chunk {self.chunk}: {added} added\n"
        )
        self.line()
        self.status("running", force=True)

    def finish(self, exit_status: int) -> None:
        state = finished_state(exit_status)
        try:
            self.status(state, force=True, exit_status=exit_status)
        except OSError as exc:  # a full disk was reported already; readers check the pid
            self.stream.write(f"hg-import: cannot write {self.status_path}: {exc.strerror}\n")
