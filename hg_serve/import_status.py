"""`GET /api/import-status`: what `hg-import` writes to `<home>/import-status.json`
(`hg_common.import_status` reads it), for the web app's "importing: 1,234 / 50,000 — ETA
3 h" indicator.

`ImportStatusApp` is a plain ASGI app, so the server mounts it without glue:
`Route("/api/import-status", ImportStatusApp(cfg.home))` in Starlette.
"""

from __future__ import annotations

from pathlib import Path

import orjson

from hg_common.import_status import read_import_status


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
