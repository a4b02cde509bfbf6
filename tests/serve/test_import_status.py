"""GET /api/import-status: the status file of a real hg-import run, through the ASGI app."""

from __future__ import annotations

import asyncio
import concurrent.futures
import subprocess

import orjson

from hg_common.import_status import read_import_status, status_text, write_status
from hg_import.progress import ImportProgress
from hg_serve.import_status import ImportStatusApp


def get(home, method="GET"):
    sent = []

    async def receive():
        return {"type": "http.request", "body": b""}

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "method": method, "path": "/api/import-status"}
    # a thread of its own: the session's Playwright keeps an event loop in this one
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, ImportStatusApp(home)(scope, receive, send)).result()
    start, body = sent
    return start["status"], dict(start["headers"]), orjson.loads(body["body"])


def test_idle_running_interrupted(tmp_path):
    assert get(tmp_path)[2]["state"] == "idle"
    clock = iter(float(t) for t in range(0, 1000, 10))
    progress = ImportProgress(tmp_path / "import-status.json", "off", clock=lambda: next(clock))
    progress.set_total(50_000, 10**10)
    progress.start_batch(1, 40_000, 10**9)
    progress.start_chunk(3)
    progress.advance(1234, 10**6)
    code, headers, body = get(tmp_path)
    assert code == 200 and headers[b"content-type"] == b"application/json"
    assert body["state"] == "running" and body["files"] == 1234 and body["batch"] == 1
    assert body["text"].startswith("importing: 1,234 / 50,000 — ETA ")
    # a killed import: the file still says running, but its process is gone
    dead = subprocess.Popen(["true"])
    dead.wait()
    write_status(tmp_path / "import-status.json", {**body, "pid": dead.pid})
    assert read_import_status(tmp_path)["state"] == "interrupted"
    assert get(tmp_path, "POST")[0] == 405


def test_status_text():
    assert (
        status_text({"state": "running", "files": 1234, "total_files": 50000, "eta": 10800})
        == "importing: 1,234 / 50,000 — ETA 3 h 00 min"
    )
    assert status_text({"state": "finished", "files": 3}) == ""
    assert status_text({"state": "running", "files": 5, "total_files": None}) == "importing: 5"
