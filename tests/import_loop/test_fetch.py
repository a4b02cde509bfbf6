"""`hg-import --fetch`: a second gallery copies a real hg-serve's gallery over HTTP.

A first hg-serve on 127.0.0.1 serves a gallery imported by the real `hg-import` from
fixture media (photos with GPS, XMP sidecars with tags, a video); the fetch goes into an
empty home, which a second hg-serve then serves: same entries, same preview bytes, same
tags and searches, edits from both sides merged, only what changed fetched again, a
killed fetch finished by the next, a wrong login refused, a filtered login's subset.
"""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import orjson
import pytest

from hg_serve.passwords import hash_password
from tests.conftest import copy_media_parts
from tests.import_loop.conftest import REPO, env, hg, hg_import
from tests.serve.conftest import Server, start_server

MEDIA = [
    *(f"exif-samples/jpg/gps/DSCN00{n}.jpg" for n in (10, 12, 21, 25, 27, 29, 38, 40, 42)),
    "exif-samples/jpg/orientation/landscape_1.jpg",
    "exif-samples/jpg/orientation/portrait_6.jpg",
    "tricky/sidecar",  # XMP sidecars: tags beach/holiday and forest
    "tricky/rotated90-gps.mp4",  # a video: its web video must come over too
]
ANNA = ("anna", "anna-secret")
BEN = ("ben", "ben-secret")  # filter tag:beach


@pytest.fixture(scope="module")
def remote(tmp_path_factory):
    """hg-serve over a gallery made by the real hg-import, with two logins."""
    base = tmp_path_factory.mktemp("remote")
    src = copy_media_parts(MEDIA, base / "src")
    home = base / "home"
    home.mkdir()
    (home / "config.toml").write_text(
        f"""
[[server.users]]
name = "anna"
password = "{hash_password(ANNA[1])}"

[[server.users]]
name = "ben"
password = "{hash_password(BEN[1])}"
filter = "tag:beach"
"""
    )
    done = hg_import(src, home=home)
    assert done.returncode == 0, done.stderr
    srv = start_server(home)
    yield srv
    srv.stop()


def fetch(home: Path, url: str, *args: str, user=ANNA, password_env: bool = False):
    """`hg-import --fetch` with the login in the URL (or --user and HG_FETCH_PASSWORD)."""
    if user is not None and not password_env:
        url = url.replace("http://", f"http://{user[0]}:{user[1]}@")
    extra = ["--user", user[0]] if password_env else []
    environ = {**env(), **({"HG_FETCH_PASSWORD": user[1]} if password_env else {})}
    return subprocess.run(
        [str(REPO / "bin" / "hg-import"), "--home", str(home), "--fetch", url, *extra, *args],
        capture_output=True, text=True, env=environ, timeout=300,
    )  # fmt: skip


def summary(proc) -> dict:
    lines = [orjson.loads(x) for x in proc.stdout.splitlines() if x.strip()]
    assert [r["type"] for r in lines] == ["fetch"], proc.stdout
    return lines[0]


def all_entries(srv: Server, auth=None, q: str = "") -> dict[str, dict]:
    r = srv.get("/api/entries", params={"q": q, "limit": 5000}, auth=auth)
    assert r.status_code == 200, r.text
    return {e["id"]: e for e in r.json()["entries"]}


def details(srv: Server, ids, auth=None) -> dict[str, dict]:
    return {i: srv.get(f"/api/entries/{i}", auth=auth).json() for i in ids}


def storage_files(home: Path) -> set[str]:
    root = home / "storage"
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}


def temp_files(home: Path) -> list[Path]:
    return [p for p in (home / "storage").rglob(".*.tmp")]


def add_tag(srv: Server, entry_id: str, tag: str, auth=None) -> None:
    body = {"targetIds": [entry_id], "actions": [{"action": "addTag", "value": tag}]}
    r = srv.post("/api/events", json=body, auth=auth)
    assert r.status_code == 201, r.text


def test_fetched_copy_serves_the_same_gallery_and_merges_edits(remote, tmp_path):
    home = tmp_path / "laptop"
    first = fetch(home, remote.url, password_env=True)
    assert first.returncode == 0, first.stderr
    got = summary(first)
    theirs = all_entries(remote, ANNA)
    assert got["entries"] == got["built"] == len(theirs) > 10 and got["failed"] == 0

    local = start_server(home)
    try:
        mine = all_entries(local)
        assert set(mine) == set(theirs)
        remote_details, local_details = details(remote, theirs, ANNA), details(local, mine)
        for i, d in remote_details.items():
            here = local_details[i]
            for key in ("date", "media_type", "previews", "video", "tags", "width", "height",
                        "latitude", "longitude", "city", "colors", "make", "model"):  # fmt: skip
                assert here[key] == d[key], (i, key)
            assert [f["path"] for f in here["files"]] == [f["path"] for f in d["files"]]
            for rel in [*d["previews"], *([d["video"]] if d["video"] else [])]:
                ours = local.get("/files/" + rel)
                assert ours.status_code == 200, rel
                assert ours.content == remote.get("/files/" + rel, auth=ANNA).content, rel
                # readable by others: hg-serve may run as another user than the fetch
                assert (home / "storage" / rel).stat().st_mode & 0o044 == 0o044, rel
        assert any(d["video"] for d in local_details.values())  # the web video came over
        assert local.get("/api/tags").json() == remote.get("/api/tags", auth=ANNA).json()
        for q in ("tag:beach", "forest", "year:2008 and not tag:beach"):
            assert set(all_entries(local, q=q)) == set(all_entries(remote, ANNA, q=q)), q
        assert all_entries(local, q="tag:beach")
        # originals stay where the remote has them: served while that path is reachable
        # here (the share mounted at the same place), else a clear 404
        some = next(iter(mine))
        assert local.get(f"/originals/{some}/0").status_code == 200
        root = Path(local_details[some]["files"][0]["root"])
        root.rename(root.with_name("away"))
        try:
            original = local.get(f"/originals/{some}/0")
        finally:
            root.with_name("away").rename(root)
        assert original.status_code == 404 and "not available" in original.text

        # nothing changed there: one answer (304), no file, no entry
        again = summary(fetch(home, remote.url))
        assert (again["requests"], again["files"], again["changed"]) == (1, 0, 0)

        # a tag made there and one made here: both stand after the next fetch
        ids = sorted(theirs)
        add_tag(remote, ids[0], "from-the-nas", ANNA)
        add_tag(local, ids[1], "made-on-the-laptop")
        before = storage_files(home)
        third = fetch(home, remote.url)
        assert third.returncode == 0, third.stderr
        after = summary(third)
        assert after["files"] == 0 and after["file_bytes"] == 0 and after["events"] == 1
        assert after["changed"] == 1  # the tagged entry's stamp changed there, nothing else
        assert storage_files(home) == before
        tagged = all_entries(local, q="tag:from-the-nas")
        assert set(tagged) == {ids[0]}
        assert set(all_entries(local, q="tag:made-on-the-laptop")) == {ids[1]}
        assert "made-on-the-laptop" not in remote.get("/api/tags", auth=ANNA).text
    finally:
        local.stop()


def test_wrong_password_is_refused_and_writes_nothing(remote, tmp_path):
    home = tmp_path / "laptop"
    proc = fetch(home, remote.url, user=("anna", "not-her-password"))
    assert proc.returncode == 2
    assert "wrong user or password" in proc.stderr and "not-her-password" not in proc.stderr
    assert proc.stdout == "" and not home.exists()
    anonymous = fetch(home, remote.url, user=None)
    assert anonymous.returncode == 2 and "no login" in anonymous.stderr and not home.exists()


def test_a_filtered_login_fetches_only_its_subset(remote, tmp_path):
    home = tmp_path / "laptop"
    add_tag(remote, sorted(all_entries(remote, ANNA, q="not tag:beach"))[0], "anna-only", ANNA)
    beach = sorted(all_entries(remote, ANNA, q="tag:beach"))[0]
    add_tag(remote, beach, "seen-by-ben", ANNA)
    proc = fetch(home, remote.url, user=BEN)
    assert proc.returncode == 0, proc.stderr
    visible = all_entries(remote, BEN)
    everything = all_entries(remote, ANNA)
    assert 0 < len(visible) < len(everything)
    assert summary(proc)["entries"] == len(visible)
    hg_query = hg("hg-build", "query", "", "--ids", home=home)
    assert set(hg_query.stdout.decode().split()) == set(visible)
    tagged = hg("hg-build", "query", "tag:seen-by-ben", "--ids", home=home)
    assert tagged.stdout.decode().split() == [beach]
    fetched = storage_files(home)
    allowed = {
        rel
        for i in visible
        for rel in (lambda d: [*d["previews"], *([d["video"]] if d["video"] else [])])(
            remote.get(f"/api/entries/{i}", auth=BEN).json()
        )
    }
    assert fetched == allowed
    # the other user's edits on entries ben cannot see did not come over
    log = (home / "events.ndjson").read_text() if (home / "events.ndjson").exists() else ""
    assert "anna-only" not in log


def test_a_killed_fetch_is_finished_by_the_next(remote, tmp_path):
    home = tmp_path / "laptop"
    url = remote.url.replace("http://", f"http://{ANNA[0]}:{ANNA[1]}@")
    proc = subprocess.Popen(
        [str(REPO / "bin" / "hg-import"), "--home", str(home), "--fetch", url, "-v"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env(),
    )  # fmt: skip
    seen = 0
    for line in proc.stderr:
        if b"fetched " in line and b" bytes)" in line:
            seen += 1
            if seen == 3:
                os.kill(proc.pid, signal.SIGKILL)
                break
    proc.wait(30)
    assert proc.returncode == -signal.SIGKILL
    total = {
        rel
        for d in details(remote, all_entries(remote, ANNA), ANNA).values()
        for rel in [*d["previews"], *([d["video"]] if d["video"] else [])]
    }
    partial = storage_files(home)
    assert 3 <= len(partial & total) < len(total)  # stopped midway: whole files only
    assert not list((home / "fetch").glob("*.json"))  # no state: the next run checks all

    done = fetch(home, remote.url)
    assert done.returncode == 0, done.stderr
    rerun = summary(done)
    assert rerun["files"] == len(total - partial)  # what was there is not fetched again
    assert total <= storage_files(home)
    assert temp_files(home) == []
    hg_query = hg("hg-build", "query", "", "--ids", home=home)
    assert set(hg_query.stdout.decode().split()) == set(all_entries(remote, ANNA))
