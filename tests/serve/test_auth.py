"""Users, passwords, sessions and per-user filters on a real server."""

from __future__ import annotations

import subprocess

import requests

from hg_serve.passwords import hash_password, verify_password
from tests.conftest import run_tool, tool
from tests.serve.conftest import free_port, start_server


def write_config(home, users: str) -> None:
    (home / "config.toml").write_text(users)


def users_config() -> str:
    anna, ben = hash_password("anna-secret"), hash_password("ben-secret")
    return f"""
[server]
base_path = "/g"

[[server.users]]
name = "anna"
password = "{anna}"

[[server.users]]
name = "ben"
password = "{ben}"
filter = "tag:beach"
"""


def test_hash_password_reads_stdin():
    run = subprocess.run(
        [tool("hg-serve"), "hash-password"], input=b"s3cret\n", capture_output=True, check=True
    )
    hashed = run.stdout.decode().strip()
    assert hashed.startswith("{scrypt}") and verify_password("s3cret", hashed)
    assert not verify_password("wrong", hashed)
    assert hash_password("s3cret") != hashed  # salted
    empty = subprocess.run([tool("hg-serve"), "hash-password"], input=b"\n", capture_output=True)
    assert empty.returncode == 2


def test_anonymous_is_blocked_basic_and_login_work(own_home):
    write_config(own_home, users_config())
    srv = start_server(own_home)
    srv.url += "/g"  # base_path from the config file
    try:
        r = srv.get("/api/entries")
        assert r.status_code == 401 and r.headers["www-authenticate"].startswith("Basic")
        r = srv.get("/api/entries", headers={"X-Requested-With": "hg"})
        assert r.status_code == 401 and "www-authenticate" not in r.headers
        item = run_files_path(srv, ("anna", "anna-secret"))
        assert srv.get(item).status_code == 401
        page = srv.get("/", allow_redirects=False)
        assert page.status_code == 303 and page.headers["location"].startswith("/g/login?next=")
        assert srv.get("/login").status_code == 200
        assert srv.get("/api/entries", auth=("anna", "wrong")).status_code == 401
        assert srv.get("/api/entries", auth=("nobody", "x")).status_code == 401
        assert srv.get("/api/entries", auth=("anna", "anna-secret")).json()["total"] == 15

        session = requests.Session()
        bad = session.post(srv.url + "/login", data={"name": "anna", "password": "nope"})
        assert bad.status_code == 401 and "Wrong name or password" in bad.text
        ok = session.post(
            srv.url + "/login",
            data={"name": "anna", "password": "anna-secret", "next": "/g/years"},
            allow_redirects=False,
        )
        assert ok.status_code == 303 and ok.headers["location"] == "/g/years"
        assert "httponly" in ok.headers["set-cookie"].lower()
        assert session.get(srv.url + "/api/info").json()["user"] == "anna"
        assert session.get(srv.url + "/api/entries").json()["total"] == 15
        evil = session.post(
            srv.url + "/login",
            data={"name": "anna", "password": "anna-secret", "next": "//evil.example/"},
            allow_redirects=False,
        )
        assert evil.headers["location"] == "/g/"
        forged = {"hg_session": "YW5uYQ.9999999999.forged"}
        assert srv.get("/api/entries", cookies=forged).status_code == 401
        real = {"hg_session": ok.cookies["hg_session"]}
        assert srv.get("/api/entries", cookies=real).status_code == 200
    finally:
        srv.stop()


def run_files_path(srv, auth) -> str:
    item = srv.get("/api/entries", auth=auth).json()["entries"][0]
    return f"/files/{item['preview']}-image-preview-{item['sizes'][-1]}.jpg"


def test_user_filter_limits_everything(own_home):
    write_config(own_home, users_config())
    srv = start_server(own_home)
    srv.url += "/g"
    ben = ("ben", "ben-secret")
    try:
        page = srv.get("/api/entries", auth=ben).json()
        assert (
            page["total"] == 1
            and srv.get("/api/entries", auth=ben, params={"q": "coolpix"}).json()["total"] == 0
        )
        assert sum(y["count"] for y in srv.get("/api/years", auth=ben).json()) == 1
        assert srv.get("/api/geo", auth=ben).json()["ids"] == []
        # the user's query runs within the filter: "holiday" finds the beach photo only
        assert (
            srv.get("/api/entries", auth=("anna", "anna-secret"), params={"q": "2021"}).json()[
                "total"
            ]
            == 2
        )
        mine = srv.get("/api/entries", auth=ben, params={"q": "2021 holiday"}).json()
        assert mine["total"] == 1 and mine["entries"][0]["id"] == page["entries"][0]["id"]
        assert srv.get("/api/entries", auth=ben, params={"q": "2021"}).json()["total"] == 1
        assert srv.get("/api/tags", auth=ben).json() == [
            {"tag": "beach", "count": 1},
            {"tag": "holiday", "count": 1},
        ]
        bad = srv.get("/api/entries", auth=ben, params={"q": "year>>1"})
        assert bad.status_code == 400 and "position 6" in bad.json()["error"]  # in ben's text
        hidden = srv.get("/api/entries", auth=("anna", "anna-secret"), params={"q": "coolpix"})
        hidden_id = hidden.json()["entries"][0]["id"]
        assert srv.get(f"/api/entries/{hidden_id}", auth=ben).status_code == 404
        r = srv.post(
            "/api/events",
            auth=ben,
            json={"targetIds": [hidden_id], "actions": [{"action": "addTag", "value": "x"}]},
        )
        assert r.status_code == 400 and "unknown entry" in r.json()["error"]
        # a photo inside ben's filter he may tag (the detail view's edits), and the new
        # tag is among his suggestions (GET /api/tags)
        own_id = mine["entries"][0]["id"]
        add = {"action": "addTag", "value": "bens"}
        r = srv.post("/api/events", auth=ben, json={"targetIds": [own_id], "actions": [add]})
        assert r.status_code == 201, r.text
        assert "bens" in srv.get(f"/api/entries/{own_id}", auth=ben).json()["tags"]
        assert {"tag": "bens", "count": 1} in srv.get("/api/tags", auth=ben).json()
    finally:
        srv.stop()


def test_public_bind_without_users_warns_loudly(own_home):
    port = free_port()
    proc = subprocess.Popen(
        [tool("hg-serve"), "--home", str(own_home), "--host", "0.0.0.0", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        line = b""
        while b"Uvicorn running" not in line and b"WITHOUT USERS" not in line:
            line = proc.stderr.readline()
            assert line, "hg-serve ended early"
        assert b"WITHOUT USERS" in line or b"WITHOUT USERS" in proc.stderr.readline()
    finally:
        proc.terminate()
        proc.wait(10)
    loop = start_server(own_home)  # on 127.0.0.1: no warning
    loop.stop()
    assert b"WITHOUT USERS" not in loop.log.read_bytes()


def test_bad_server_config_is_a_usage_error(own_home):
    write_config(own_home, '[[server.users]]\nname = "x"\npassword = "plain"\n')
    run = run_tool("hg-serve", "--home", str(own_home), "--port", str(free_port()))
    assert run.returncode == 2 and "hash-password" in run.stderr
    write_config(own_home, '[server]\nbase_path = "no slash"\n')
    run = run_tool("hg-serve", "--home", str(own_home))
    assert run.returncode == 2 and "base path" in run.stderr
