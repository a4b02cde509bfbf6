"""hg-serve --watch: SourceWatcher debounces real file-system events (inotify and polling),
and a watched source picks up a newly copied photo into the database."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import orjson
import pytest

from hg_serve.watch import SourceWatcher
from tests.conftest import media_file
from tests.import_loop.conftest import env, gallery_paths


def calls_of(watcher_kwargs, src, action, wait=4.0):
    calls: list[float] = []
    done = threading.Event()

    def callback():
        calls.append(time.monotonic())
        done.set()

    w = SourceWatcher([src], callback, run_at_start=False, **watcher_kwargs).start()
    try:
        time.sleep(0.5)  # the watch is set up
        start = time.monotonic()
        action()
        done.wait(wait)
        time.sleep(0.5)
    finally:
        w.stop(5)
    return [c - start for c in calls]


@pytest.mark.parametrize("poll", [None, 0.2], ids=["inotify", "polling"])
def test_one_import_after_the_quiet_period(tmp_path, poll):
    src = tmp_path / "src"
    src.mkdir()

    def copy_three():
        for i in range(3):
            (src / f"{i}.jpg").write_bytes(b"x" * 1000)
            time.sleep(0.1)

    calls = calls_of({"debounce": 0.8, "max_delay": 5, "poll": poll}, src, copy_three)
    assert len(calls) == 1
    assert 0.8 <= calls[0] < 3.0  # after the last change + the quiet period, not at once


def test_max_delay_while_changes_keep_coming(tmp_path):
    src = tmp_path / "src"
    src.mkdir()

    def trickle():  # a change every 0.2 s for 3 s: never quiet for 1 s
        for i in range(15):
            (src / f"{i}.jpg").write_bytes(b"y")
            time.sleep(0.2)

    calls = calls_of({"debounce": 1.0, "max_delay": 1.5}, src, trickle, wait=0.1)
    assert calls and calls[0] < 2.8  # did not wait for the trickle to end (3 s + 1 s)


def test_no_changes_no_import(tmp_path):
    (tmp_path / "src").mkdir()
    assert calls_of({"debounce": 0.3, "max_delay": 1}, tmp_path / "src", lambda: None) == []


def test_a_watched_source_picks_up_a_new_photo(tmp_path):
    src = tmp_path / "photos"
    shutil.copytree(media_file("exif-samples/jpg/orientation"), src / "a", dirs_exist_ok=True)
    home = tmp_path / "home"
    home.mkdir()
    (home / "config.toml").write_text(
        f'[[sources]]\ndir = "{src}"\n\n[server]\nwatch_debounce = 0.5\n'
    )
    serve = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "hg-serve"),
            "--watch",
            "--home",
            str(home),
            "--port",
            "0",
        ],  # fmt: skip
        env=env(),
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        status = home / "import-status.json"
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:  # the first import, at start
            if status.exists() and orjson.loads(status.read_bytes())["state"] == "finished":
                break
            time.sleep(0.2)
        before = gallery_paths(home)
        assert "a/landscape_1.jpg" in before
        shutil.copy2(media_file("exif-samples/jpg/gps/DSCN0010.jpg"), src / "new.jpg")
        while time.monotonic() < deadline and "new.jpg" not in gallery_paths(home):
            time.sleep(0.3)
        assert gallery_paths(home) == before | {"new.jpg"}
    finally:
        os.killpg(serve.pid, signal.SIGTERM)
        serve.wait(30)
