"""Failures on a real server: `/api/failures` and the count in `/api/info`, for users
without a filter only (a failure has no entry a filter could be applied to)."""

from __future__ import annotations

import json
import subprocess

from tests.conftest import tool
from tests.serve.conftest import start_server
from tests.serve.test_auth import users_config, write_config


def add_failures(home, n: int) -> None:
    """Error records through the real hg-build, as an import would bring them."""
    records = [
        {"type": "error", "v": 1, "stage": "extract", "error": f"cannot decode {i}",
         "source": "src", "root": "/nas/src", "path": f"bad/{i:03}.heic", "checksum": "ab" * 32,
         "extractor": 1, "details": ["EOFError"]}
        for i in range(n)
    ]  # fmt: skip
    stdin = b"".join(json.dumps(r).encode() + b"\n" for r in records)
    run = subprocess.run(
        [tool("hg-build"), "--home", str(home)], input=stdin, capture_output=True, timeout=120
    )
    assert run.returncode == 1, run.stderr.decode()


def test_failures_are_listed_for_unrestricted_users_only(own_home):
    add_failures(own_home, 12)
    write_config(own_home, users_config())  # anna: no filter; ben: tag:beach
    srv = start_server(own_home)
    srv.url += "/g"
    anna, ben = ("anna", "anna-secret"), ("ben", "ben-secret")
    try:
        assert srv.get("/api/info", auth=anna).json()["failures"] == 12
        page = srv.get("/api/failures", auth=anna, params={"offset": 10, "limit": 5}).json()
        assert page["total"] == 12 and len(page["failures"]) == 2
        first = srv.get("/api/failures", auth=anna).json()["failures"][0]
        assert first["path"].startswith("bad/") and first["stage"] == "extract"
        assert first["error"].startswith("cannot decode") and first["details"] == ["EOFError"]
        assert {"source", "root", "checksum", "extractor", "first_seen", "last_seen"} <= set(first)

        assert srv.get("/api/info", auth=ben).json()["failures"] == 0
        assert srv.get("/api/failures", auth=ben).json() == {"total": 0, "failures": []}
        assert srv.get("/api/failures").status_code == 401
        bad = srv.get("/api/failures", auth=anna, params={"limit": "many"})
        assert bad.status_code == 400
    finally:
        srv.stop()


def test_a_new_failure_shows_without_a_restart(own_home):
    srv = start_server(own_home)
    try:
        assert srv.get("/api/info").json()["failures"] == 0  # anonymous: no users, no filter
        assert srv.get("/api/failures").json() == {"total": 0, "failures": []}
        add_failures(own_home, 1)
        assert srv.get("/api/info").json()["failures"] == 1
        assert srv.get("/api/failures").json()["total"] == 1  # the cached answer is stale
    finally:
        srv.stop()
