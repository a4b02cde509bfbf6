"""Progress on stderr: a one-line bar on a TTY, NDJSON records with `--json-progress`, else quiet.

Progress never touches stdout, so pipes carry only data.
"""

from __future__ import annotations

import sys
import time
from typing import IO, Any

from hg_common.filesize import format_filesize
from hg_common.ndjson import dumps


def _eta(done: float, total: float | None, elapsed: float) -> float | None:
    if not total or done <= 0 or elapsed <= 0 or done >= total:
        return None
    return (total - done) / (done / elapsed)


def _fmt_seconds(sec: float | None) -> str:
    if sec is None:
        return "--"
    sec = int(sec)
    h, rest = divmod(sec, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


class Progress:
    """Counts files and bytes; renders at most every `interval` seconds."""

    def __init__(
        self,
        stage: str,
        mode: str = "auto",
        stream: IO[str] | None = None,
        interval: float = 0.2,
        clock: Any = time.monotonic,
    ) -> None:
        self.stream = stream or sys.stderr
        if mode == "auto":
            mode = "bar" if self.stream.isatty() else "off"
        self.mode = mode
        self.stage = stage
        self.interval = interval if mode == "bar" else max(interval, 1.0)
        self.clock = clock
        self.start = clock()
        self.last = 0.0
        self.files = 0
        self.bytes = 0
        self.total_files: int | None = None
        self.total_bytes: int | None = None
        self.phase = ""

    def update(self, files: int = 0, nbytes: int = 0, phase: str | None = None) -> None:
        self.files += files
        self.bytes += nbytes
        if phase is not None:
            self.phase = phase
        now = self.clock()
        if self.mode != "off" and now - self.last >= self.interval:
            self.last = now
            self.render(now)

    def snapshot(self, now: float | None = None) -> dict[str, Any]:
        now = self.clock() if now is None else now
        elapsed = now - self.start
        return {
            "type": "progress",
            "v": 1,
            "stage": self.stage,
            "phase": self.phase,
            "files": self.files,
            "bytes": self.bytes,
            "total_files": self.total_files,
            "total_bytes": self.total_bytes,
            "elapsed": round(elapsed, 3),
            "files_per_s": round(self.files / elapsed, 1) if elapsed > 0 else None,
            "bytes_per_s": round(self.bytes / elapsed) if elapsed > 0 else None,
            "eta": _eta(self.bytes, self.total_bytes, elapsed)
            or _eta(self.files, self.total_files, elapsed),
        }

    def render(self, now: float | None = None, final: bool = False) -> None:
        snap = self.snapshot(now)
        if self.mode == "json":
            self.stream.write(dumps({**snap, "final": final}).decode())
        elif self.mode == "bar":
            total = f"/{self.total_files}" if self.total_files else ""
            line = (
                f"\r{self.stage} {self.phase}: {self.files}{total} files, "
                f"{format_filesize(self.bytes)}, {snap['files_per_s'] or 0:.0f} files/s, "
                f"{format_filesize(snap['bytes_per_s'] or 0)}/s, ETA {_fmt_seconds(snap['eta'])}"
            )
            self.stream.write(line[:200].ljust(80) + ("\n" if final else ""))
        self.stream.flush()

    def close(self) -> None:
        if self.mode != "off":
            self.render(final=True)
