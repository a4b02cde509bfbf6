"""The routes `hg-import --fetch` copies a gallery with, on a real server: each answers
under the login's filter, as every other route does."""

from __future__ import annotations

import orjson

from tests.serve.conftest import start_server
from tests.serve.test_auth import users_config, write_config

ANNA, BEN = ("anna", "anna-secret"), ("ben", "ben-secret")  # ben: filter = "tag:beach"


def ndjson(r) -> list[dict]:
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/x-ndjson")
    return [orjson.loads(line) for line in r.content.splitlines() if line.strip()]


def test_fetch_routes_hold_the_users_filter(own_home):
    write_config(own_home, users_config())
    srv = start_server(own_home)
    srv.url += "/g"
    try:
        everything = srv.get("/api/fetch/manifest", auth=ANNA)
        assert everything.status_code == 200
        all_ids = [i for i, _ in everything.json()["entries"]]
        (mine,) = [e["id"] for e in srv.get("/api/entries", auth=BEN).json()["entries"]]
        hidden = next(i for i in all_ids if i != mine)
        bens = srv.get("/api/fetch/manifest", auth=BEN)
        assert [i for i, _ in bens.json()["entries"]] == [mine]
        again = srv.get("/api/fetch/manifest", auth=BEN,
                        headers={"If-None-Match": bens.headers["etag"]})  # fmt: skip
        assert again.status_code == 304 and again.content == b""

        records = ndjson(srv.post("/api/fetch/entries", auth=BEN, json={"ids": [hidden, mine]}))
        assert [r["id"] for r in records] == [mine]
        (record,) = records
        assert record["type"] == "entry" and record["v"] == 1
        detail = srv.get(f"/api/entries/{mine}", auth=BEN).json()
        assert record["previews"] == detail["previews"]
        primary = record["files"][0]
        assert primary["primary"] and primary["meta"]["width"]  # the stored meta came along
        assert len(ndjson(srv.post("/api/fetch/entries", auth=ANNA, json={"ids": all_ids}))) == len(
            all_ids
        )
        assert srv.post("/api/fetch/entries", auth=BEN, json={"ids": "x"}).status_code == 400
        assert srv.post("/api/fetch/entries", json={"ids": [mine]}).status_code == 401

        # events: one naming both entries reaches ben narrowed; one on the hidden one not
        both = {"targetIds": [hidden, mine], "actions": [{"action": "addTag", "value": "both"}]}
        only = {"targetIds": [hidden], "actions": [{"action": "addTag", "value": "secret"}]}
        for body in (both, only):
            assert srv.post("/api/events", auth=ANNA, json=body).status_code == 201
        head, *events = ndjson(srv.get("/api/fetch/events", auth=BEN))
        assert head["type"] == "hg/fetch-events" and head["from"] == 0 and head["log"]
        assert [(e["targetIds"], e["actions"][0]["value"]) for e in events] == [([mine], "both")]
        _, *anna_events = ndjson(srv.get("/api/fetch/events", auth=ANNA))
        assert [e["actions"][0]["value"] for e in anna_events] == ["both", "secret"]
        # from the cursor: nothing new; another log's stamp: from the start
        params = {"from": head["next"], "log": head["log"]}
        assert ndjson(srv.get("/api/fetch/events", auth=BEN, params=params))[1:] == []
        other = ndjson(srv.get("/api/fetch/events", auth=BEN, params={**params, "log": "x"}))
        assert other[0]["from"] == 0 and len(other) == 2
    finally:
        srv.stop()
