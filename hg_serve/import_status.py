"""`GET /api/import-status`: what `hg-import` writes to `<home>/import-status.json`, for the
web app's "importing: 1,234 / 50,000 — ETA 3 h" indicator.

`read_import_status` adds what the file cannot know: an import whose process is gone while
the file still says `running` was killed (`state: "interrupted"`), and no file means `idle`.
`ImportStatusApp` is a plain ASGI app, so the server mounts it without glue:
`Route("/api/import-status", ImportStatusApp(cfg.home))` in Starlette.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from hg_common.home import import_status
from hg_import.progress import format_duration
from hg_index.lock import process_alive


def read_import_status(home: Path) -> dict[str, Any]:
    try:
        status = orjson.loads(import_status(Path(home)).read_bytes())
    except FileNotFoundError:
        return {"type": "import-status", "v": 1, "state": "idle", "text": ""}
    except (OSError, orjson.JSONDecodeError):
        return {"type": "import-status", "v": 1, "state": "unknown", "text": ""}
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


class ImportStatusApp:
    """ASGI app answering GET with the status as JSON (no caching: it changes every second)."""

    def __init__(self, home: Path) -> None:
        self.home = Path(home)

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return
        if scope.get("method", "GET") not in ("GET", "HEAD"):
            code, body = 405, b'{"error":"method not allowed"}'
        else:
            code, body = 200, orjson.dumps(read_import_status(self.home))
        headers = [
            (b"content-type", b"application/json"),
            (b"cache-control", b"no-store"),
            (b"content-length", str(len(body)).encode()),
        ]
        await send({"type": "http.response.start", "status": code, "headers": headers})
        await send({"type": "http.response.body", "body": body})
