"""`hg-build events merge`: another log's events join this one by id (the fetch's merge)."""

from __future__ import annotations

import orjson

from tests.build.conftest import hg_build


def event(eid: str, date: str, tag: str, target: str = "a" * 64) -> dict:
    return {"type": "userAction", "id": eid, "date": date, "targetIds": [target],
            "actions": [{"action": "addTag", "value": tag}]}  # fmt: skip


def lines(*events) -> bytes:
    return b"".join(orjson.dumps(e) + b"\n" for e in events)


def logged(home) -> list[str]:
    rows = (home / "events.ndjson").read_bytes().splitlines()
    assert orjson.loads(rows[0])["type"] == "hg/events"
    return [orjson.loads(r)["id"] for r in rows[1:]]


def test_merge_appends_only_new_ids_and_says_what_it_skipped(tmp_path):
    home = tmp_path / "home"
    mine = event("local-1", "2026-12-01T10:00:00.000Z", "laptop")
    out = hg_build(home, "events", "merge", stdin=lines(mine))
    assert orjson.loads(out.stdout) == {"type": "events-merged", "v": 1, "added": 1, "invalid": 0}
    theirs = [event("nas-1", "2026-11-01T10:00:00.000Z", "nas"), mine]
    again = hg_build(home, "events", "merge", stdin=lines(*theirs, *theirs))
    assert again.returncode == 0 and orjson.loads(again.stdout)["added"] == 1
    assert logged(home) == ["local-1", "nas-1"]
    bad = hg_build(home, "events", "merge", stdin=b'{"type": "userAction"}\nnot json\n')
    assert bad.returncode == 1 and orjson.loads(bad.stdout)["invalid"] == 2
    assert logged(home) == ["local-1", "nas-1"]
