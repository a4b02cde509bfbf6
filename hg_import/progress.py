"""Import progress: totals from `hg-index --count`, files done as hg-extract reports them;
rendered as stderr lines, NDJSON records (`--json-progress`) and `<home>/import-status.json`
(what hg-serve shows as "importing: 1,234 / 50,000 — ETA 3 h").

The status file is rewritten atomically (temp file + rename) at most every second and at
every chunk boundary; `state` is `running`, `finished`, `interrupted` or `failed`, and `pid`
lets a reader tell a killed import (pid gone) from a running one.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from hg_index.filesize import format_filesize
from hg_index.ndjson import dumps


def eta_seconds(done: int, total: int | None, elapsed: float) -> float | None:
    """Seconds left at the rate so far (None when unknown)."""
    if total is None or done <= 0 or elapsed <= 0:
        return None
    return max(0, total - done) * elapsed / done


def format_duration(seconds: float | None) -> str:
    if seconds is None:
        return "--"
    s = int(seconds + 0.5)
    if s >= 3600:
        return f"{s // 3600} h {s % 3600 // 60:02d} min"
    if s >= 60:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s} s"


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def write_status(path: Path, status: dict[str, Any]) -> None:
    """Replace the status file atomically: a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise OSError(exc.errno, exc.strerror, str(path)) from None
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(dumps(status))
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except OSError as exc:  # name the status file, not its temp file (a full disk)
        Path(tmp).unlink(missing_ok=True)
        raise OSError(exc.errno, exc.strerror, str(path)) from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


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
        self.started = _now_iso()
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
        rec: dict[str, Any] = {
            "type": "import-status",
            "v": 1,
            "state": state,
            "pid": os.getpid(),
            "started": self.started,
            "updated": _now_iso(),
            "batch": self.batch_number,
            "batches": 3,
            "chunk": self.chunk,
            **self.overall.figures(now),
            "current_batch": self.batch.figures(now),
        }
        if exit_status is not None:
            rec["exit"] = exit_status
        return rec

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
        state = {0: "finished", 1: "finished", 130: "interrupted"}.get(exit_status, "failed")
        try:
            self.status(state, force=True, exit_status=exit_status)
        except OSError as exc:  # a full disk was reported already; readers check the pid
            self.stream.write(f"hg-import: cannot write {self.status_path}: {exc.strerror}\n")
