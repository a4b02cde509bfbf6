"""A read-only or full gallery home: hg-serve says so clearly (exit 2 when it cannot start;
503 for an edit it cannot save, while it keeps serving what it can read)."""

from __future__ import annotations

import os
import pwd
import shutil
import tempfile
from pathlib import Path

import pytest

from hg_build.events import read_events
from hg_serve.diagnose import describe
from tests.conftest import run_tool, tmpfs
from tests.serve.conftest import free_port, start_server

EDIT = {"actions": [{"action": "addTag", "value": "kept"}]}


def fill(folder: Path) -> Path:
    """Fill the disk of folder to the last byte; the filler file (delete it to free)."""
    filler = folder / "filler"
    with open(filler, "wb", buffering=0) as fh:
        for block in (65536, 512):  # then the last partial blocks
            try:
                while fh.write(b"\0" * block):
                    pass
            except OSError:
                pass
    return filler


def gallery_copy(gallery_home: Path, dest: Path, with_storage: bool = True) -> Path:
    dest.mkdir(parents=True)
    shutil.copy(gallery_home / "gallery.db", dest / "gallery.db")
    if with_storage:
        shutil.copytree(gallery_home / "storage", dest / "storage")
    return dest


def nobody() -> tuple[str, ...]:
    """Run as `nobody` when we are root (root writes anywhere): setpriv's arguments."""
    if os.geteuid() != 0:
        return ()
    pw = pwd.getpwnam("nobody")
    return ("setpriv", f"--reuid={pw.pw_uid}", f"--regid={pw.pw_gid}", "--clear-groups")


def test_a_read_only_home_stops_the_start_with_a_clear_message(gallery_home):
    base = Path(tempfile.mkdtemp(prefix="hg-ro-"))
    try:
        home = gallery_copy(gallery_home, base / "home", with_storage=False)
        os.chmod(base, 0o755)
        os.chmod(home, 0o555)  # root owns it: read-only for nobody (and for anybody else)
        os.chmod(home / "gallery.db", 0o444)
        user = "nobody" if os.geteuid() == 0 else None
        run = run_tool("hg-serve", "--home", str(home), "--port", str(free_port()), user=user)
        assert run.returncode == 2, run.stderr
        assert "internal error" not in run.stderr and "OperationalError" not in run.stderr
        assert f"{home} is read-only for user" in run.stderr
    finally:
        os.chmod(base / "home", 0o755)
        shutil.rmtree(base)


def test_a_full_home_stops_the_start_with_a_clear_message(gallery_home):
    with tmpfs("2m") as disk:
        home = gallery_copy(gallery_home, disk / "home", with_storage=False)
        fill(disk)
        run = run_tool("hg-serve", "--home", str(home), "--port", str(free_port()))
        assert run.returncode == 2, run.stderr
        assert "internal error" not in run.stderr
        assert f"the disk of {home} is full" in run.stderr


def test_a_full_home_refuses_edits_clearly_and_keeps_serving(gallery_home, tmp_path):
    with tmpfs("16m") as disk:
        home = gallery_copy(gallery_home, disk / "home")
        srv = start_server(home, log_dir=tmp_path)
        try:
            item = srv.get("/api/entries").json()["entries"][0]
            preview = f"/files/{item['preview']}-image-preview-{item['sizes'][-1]}.jpg"
            filler = fill(disk)
            r = srv.post("/api/events", json={"targetIds": [item["id"]], **EDIT})
            assert r.status_code == 503
            assert r.json()["error"].startswith(f"the edit was not saved: the disk of {home}")
            assert srv.get("/api/entries").status_code == 200  # reads go on
            assert srv.get(preview).status_code == 200
            assert srv.get(f"/api/entries/{item['id']}").json()["tags"] == item.get("tags", [])
            filler.unlink()  # space again: the next edit goes through
            r = srv.post("/api/events", json={"targetIds": [item["id"]], **EDIT})
            assert r.status_code == 201, r.text
            events = [e for e, _ in read_events(home / "events.ndjson")]  # no torn line
            assert [e["id"] for e in events] == [r.json()["id"]]
            assert "kept" in srv.get(f"/api/entries/{item['id']}").json()["tags"]
        finally:
            srv.stop()
        assert "Traceback" not in next(tmp_path.glob("serve-*.log")).read_text()


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to run the server as nobody")
def test_a_home_that_turns_read_only_refuses_edits_and_keeps_serving(gallery_home):
    base = Path(tempfile.mkdtemp(prefix="hg-ro-"))
    try:
        home = gallery_copy(gallery_home, base / "home")
        os.chmod(base, 0o755)
        pw = pwd.getpwnam("nobody")
        for path in [home, *home.rglob("*")]:
            os.chown(path, pw.pw_uid, pw.pw_gid)
        srv = start_server(home, prefix=nobody(), log_dir=base)
        try:
            item = srv.get("/api/entries").json()["entries"][0]
            os.chmod(home, 0o555)  # e.g. remounted read-only: no event log can be made
            r = srv.post("/api/events", json={"targetIds": [item["id"]], **EDIT})
            assert r.status_code == 503
            assert f"{home} is read-only for user nobody" in r.json()["error"]
            assert srv.get("/api/entries").json()["total"] > 0
        finally:
            srv.stop()
    finally:
        os.chmod(base / "home", 0o755)
        shutil.rmtree(base)


def test_describe_tells_read_only_full_and_other_apart():
    folder = Path("/g")
    full = OSError(28, "No space left on device")
    assert describe(folder, full, True, 10**9).startswith("the disk of /g is full")
    io = Exception("disk I/O error")
    assert describe(folder, io, True, 4096) == (
        "the disk of /g is full (4 KiB free): free some space there"
    )
    assert "/g is read-only for" in describe(folder, PermissionError(13, "denied"), True, None)
    readonly = Exception("attempt to write a readonly database")
    assert "/g is read-only for" in describe(folder, readonly, True, 10**9)
    assert describe(folder, io, True, 10**9) == "cannot write in /g: Exception: disk I/O error"
