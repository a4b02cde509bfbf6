"""GET /api/events/stream: pages hear about database changes and new edits."""

from __future__ import annotations

import queue
import shutil
import threading

import orjson
import requests

from tests.conftest import media_file
from tests.serve.conftest import start_server
from tests.serve.pipeline import import_media


def listen(server) -> queue.Queue:
    """Collect SSE messages from a real connection in a thread."""
    messages: queue.Queue = queue.Queue()

    def run():
        try:
            with requests.get(server.url + "/api/events/stream", stream=True, timeout=30) as r:
                messages.put({"type": "content-type", "value": r.headers["content-type"]})
                for line in r.iter_lines():
                    if line.startswith(b"data: "):
                        messages.put(orjson.loads(line[6:]))
        except requests.RequestException:
            pass  # the server stopped at the end of the test

    threading.Thread(target=run, daemon=True).start()
    assert messages.get(timeout=10)["value"].startswith("text/event-stream")
    assert messages.get(timeout=10) == {"type": "pong"}
    return messages


def next_of(messages: queue.Queue, kind: str) -> dict:
    while True:
        msg = messages.get(timeout=15)
        if msg["type"] == kind:
            return msg


def test_import_and_edits_reach_open_pages(own_home, tmp_path):
    srv = start_server(own_home)
    try:
        messages = listen(srv)
        before = srv.get("/api/entries").json()["total"]
        src = tmp_path / "more"
        src.mkdir()
        shutil.copy2(media_file("exif-samples/jpg/orientation/landscape_3.jpg"), src)
        import_media(src, own_home)  # hg-index + previews + a new database file
        assert next_of(messages, "server") == {"type": "server", "action": "databaseChanged"}
        assert srv.get("/api/entries").json()["total"] == before + 1

        target = srv.get("/api/entries").json()["entries"][0]["id"]
        action = [{"action": "addTag", "value": "live"}]
        r = srv.post("/api/events", json={"targetIds": [target], "actions": action})
        assert next_of(messages, "userAction")["id"] == r.json()["id"]

        # Another writer (hg-build events, a second server) appends to the log.
        line = {
            "type": "userAction",
            "id": "other-writer-1",
            "date": "2024-01-01T00:00:00Z",
            "targetIds": [target],
            "actions": [{"action": "addTag", "value": "elsewhere"}],
        }
        with open(own_home / "events.ndjson", "ab") as fh:
            fh.write(orjson.dumps(line) + b"\n")
        assert next_of(messages, "userAction")["id"] == "other-writer-1"
        assert srv.get(f"/api/entries/{target}").json()["tags"] == ["elsewhere", "live"]
    finally:
        srv.stop()
