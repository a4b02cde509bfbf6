"""The import-status file (`<home>/import-status.json`): its format, written and read.

hg-import writes it (`write_status`, with `status_record`) at most every second and at every
chunk boundary; hg-serve reads it (`read_import_status`) for the web app's "importing:
1,234 / 50,000 — ETA 3 h" indicator. Both sides live here, so hg-serve needs nothing of
hg_import. The file is replaced atomically (temp file + rename): a reader never sees half a
file. `state` is `running`, `finished`, `interrupted` or `failed`; `pid` lets a reader tell a
killed import (pid gone) from a running one.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from hg_common.home import import_status
from hg_common.layout import write_atomic
from hg_common.lock import process_alive
from hg_common.ndjson import dumps

TYPE = "import-status"
VERSION = 1
BATCHES = 3
"""hg-import's batches (files <= 20 MB, <= 200 MB, the rest)."""


def finished_state(exit_status: int) -> str:
    """The state an import's exit status leaves in the file."""
    return {0: "finished", 1: "finished", 130: "interrupted"}.get(exit_status, "failed")


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def status_record(
    state: str,
    started: str,
    batch: int,
    chunk: int,
    overall: dict[str, Any],
    current_batch: dict[str, Any],
    exit_status: int | None = None,
) -> dict[str, Any]:
    """The file's record: `overall` and `current_batch` are figures (files, total_files,
    bytes, total_bytes, elapsed, files_per_s, eta)."""
    rec: dict[str, Any] = {
        "type": TYPE,
        "v": VERSION,
        "state": state,
        "pid": os.getpid(),
        "started": started,
        "updated": now_iso(),
        "batch": batch,
        "batches": BATCHES,
        "chunk": chunk,
        **overall,
        "current_batch": current_batch,
    }
    if exit_status is not None:
        rec["exit"] = exit_status
    return rec


def write_status(path: Path, status: dict[str, Any]) -> None:
    """Replace the status file atomically: a reader never sees half a file."""
    write_atomic(path, dumps(status))


def read_import_status(home: Path) -> dict[str, Any]:
    """The status with what the file cannot know: a `running` import whose process is gone
    was killed (`interrupted`); no file is `idle`; and `text`, the indicator's words."""
    try:
        status = orjson.loads(import_status(Path(home)).read_bytes())
    except FileNotFoundError:
        return {"type": TYPE, "v": VERSION, "state": "idle", "text": ""}
    except (OSError, orjson.JSONDecodeError):
        return {"type": TYPE, "v": VERSION, "state": "unknown", "text": ""}
    if status.get("state") == "running" and not process_alive(status.get("pid")):
        status["state"] = "interrupted"
    status["text"] = status_text(status)
    return status


def status_text(status: dict[str, Any]) -> str:
    """The indicator's words: "importing: 1,234 / 50,000 — ETA 3 h 05 min" while running."""
    if status.get("state") != "running":
        return ""
    done, total = status.get("files") or 0, status.get("total_files")
    of = f" / {total:,}" if isinstance(total, int) else ""
    eta = status.get("eta")
    return f"importing: {done:,}{of}" + (f" — ETA {format_duration(eta)}" if eta else "")


def format_duration(seconds: float | None) -> str:
    if seconds is None:
        return "--"
    s = int(seconds + 0.5)
    if s >= 3600:
        return f"{s // 3600} h {s % 3600 // 60:02d} min"
    if s >= 60:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s} s"
