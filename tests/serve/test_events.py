"""POST /api/events: validated tag edits, appended durably, visible at once and after restart."""

from __future__ import annotations

import json
import time

import orjson

from hg_common.home import database_lock
from hg_common.lock import RunLock
from tests.conftest import run_tool
from tests.serve.conftest import start_server


def ids(server, q=""):
    return [e["id"] for e in server.get("/api/entries", params={"q": q}).json()["entries"]]


def test_tag_edit_is_logged_applied_and_survives_restart(own_home):
    srv = start_server(own_home)
    try:
        targets = ids(srv, "coolpix")[:3]
        r = srv.post(
            "/api/events",
            json={"targetIds": targets, "actions": [{"action": "addTag", "value": " Italy "}]},
        )
        assert r.status_code == 201, r.text
        event = r.json()
        assert event["type"] == "userAction" and len(event["id"]) == 36
        assert event["date"].endswith("Z") and event["targetIds"] == targets
        assert event["actions"] == [{"action": "addTag", "value": "Italy"}]
        assert srv.get(f"/api/entries/{targets[0]}").json()["tags"] == ["Italy"]
        assert ids(srv, "tag:italy") == targets
        # applied to the database itself: hg-build's own query sees it, no server involved
        cli = run_tool("hg-build", "query", "tag:Italy", "--ids", "--home", str(own_home))
        assert cli.returncode == 0 and cli.stdout.decode().split() == targets
        assert {"tag": "Italy", "count": 3} in srv.get("/api/tags").json()
        r = srv.post(
            "/api/events",
            json={"targetIds": targets[:1], "actions": [{"action": "removeTag", "value": "Italy"}]},
        )
        assert r.status_code == 201
    finally:
        srv.stop()
    lines = (own_home / "events.ndjson").read_bytes().splitlines()
    header = orjson.loads(lines[0])
    assert header["type"] == "hg/events" and header["version"] == 1
    assert [orjson.loads(x)["actions"][0]["action"] for x in lines[1:]] == ["addTag", "removeTag"]
    srv = start_server(own_home)  # a new process reads the log
    try:
        assert sorted(ids(srv, "tag:italy")) == sorted(targets[1:])
        assert {t["tag"]: t["count"] for t in srv.get("/api/tags").json()}["Italy"] == 2
    finally:
        srv.stop()


def test_edit_waits_for_a_running_import_then_applies(own_home):
    """While hg-build holds its writer lock the edit is logged and answered, applied later."""
    srv = start_server(own_home)
    try:
        target = ids(srv, "beach")
        with RunLock(database_lock(own_home / "gallery.db")):  # as a running hg-build holds it
            r = srv.post(
                "/api/events",
                json={"targetIds": target, "actions": [{"action": "addTag", "value": "later"}]},
            )
            assert r.status_code == 201, r.text
            assert b'"later"' in (own_home / "events.ndjson").read_bytes()  # durable
            assert ids(srv, "tag:later") == []  # not applied: the import holds the lock
        deadline = time.monotonic() + 10
        while ids(srv, "tag:later") != target:  # the watcher applies it once the lock is free
            assert time.monotonic() < deadline, "the pending edit was never applied"
            time.sleep(0.2)
    finally:
        srv.stop()


def test_invalid_edits_are_refused_and_not_logged(own_home):
    srv = start_server(own_home)
    good = ids(srv)[:1]
    add = [{"action": "addTag", "value": "x"}]
    try:
        cases = [
            ({"targetIds": ["0" * 64], "actions": add}, 400, "unknown entry id"),
            ({"targetIds": [], "actions": add}, 400, "targetIds"),
            ({"targetIds": good, "actions": []}, 400, "actions"),
            ({"targetIds": good, "actions": [{"action": "rm", "value": "x"}]}, 400, "addTag"),
            ({"targetIds": good, "actions": [{"action": "addTag", "value": "  "}]}, 400, "empty"),
            (
                {"targetIds": good, "actions": [{"action": "addTag", "value": "a\nb"}]},
                400,
                "control",
            ),
            (
                {"targetIds": good, "actions": [{"action": "addTag", "value": "x" * 201}]},
                400,
                "200",
            ),
            ({"targetIds": good, "actions": [{"action": "addTag", "value": 5}]}, 400, "string"),
            (["not", "an", "object"], 400, "object"),
        ]
        for body, status, words in cases:
            r = srv.post("/api/events", json=body)
            assert r.status_code == status and words in r.json()["error"], (body, r.text)
        r = srv.post("/api/events", data="{}", headers={"Content-Type": "text/plain"})
        assert r.status_code == 415
        r = srv.post("/api/events", data="{nope", headers={"Content-Type": "application/json"})
        assert r.status_code == 400
        huge = json.dumps({"targetIds": good, "actions": add, "pad": "x" * (1 << 20)})
        r = srv.post("/api/events", data=huge, headers={"Content-Type": "application/json"})
        assert r.status_code == 413
    finally:
        srv.stop()
    assert not (own_home / "events.ndjson").exists()
