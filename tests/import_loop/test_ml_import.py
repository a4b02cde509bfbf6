"""hg-import with the ML step: a chunk's previews reach the gallery before its similarity
vectors and objects (which follow in the same import), and a failed ML step is retried."""

from __future__ import annotations

import sqlite3
import subprocess
import time

from tests.extract.api_server import FakeApiServer
from tests.import_loop.conftest import REPO, env, hg_import, make_jpegs

N = 6


def states(db) -> tuple[int, int]:
    """(entries with previews, entries with a similarity vector), or (0, 0) before the db."""
    if not db.exists():
        return 0, 0
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
            return conn.execute("SELECT count(previews), count(similarity) FROM entries").fetchone()
    except sqlite3.OperationalError:  # the schema is being made
        return 0, 0


def test_previews_reach_the_gallery_before_the_ml_results(tmp_path):
    src, home = tmp_path / "src", tmp_path / "home"
    make_jpegs(src, N)
    home.mkdir()
    with FakeApiServer() as server:
        server.mode["embeddings"], server.delay = "slow", 1.5  # a slow model server
        (home / "config.toml").write_text(
            f'[extract]\nml = "api"\napi_server = "{server.url}"\napi_concurrency = 1\n'
        )
        proc = subprocess.Popen(
            [str(REPO / "bin" / "hg-import"), "--home", str(home), str(src)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env=env(),
        )
        seen = []
        deadline = time.monotonic() + 120
        while proc.poll() is None and time.monotonic() < deadline:
            seen.append(states(home / "gallery.db"))
            time.sleep(0.1)
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err.decode()
    # every photo was in the gallery (previews) while most of its vectors were still coming
    changes = [s for i, s in enumerate(seen) if i == 0 or s != seen[i - 1]]
    assert any(shown == N and vectors <= N // 2 for shown, vectors in seen), changes
    assert states(home / "gallery.db") == (N, N)


def test_an_ml_failure_is_listed_and_retried_by_the_next_import(tmp_path):
    src, home = tmp_path / "src", tmp_path / "home"
    make_jpegs(src, 2)
    home.mkdir()
    with FakeApiServer() as server:
        server.mode["objects"] = "500"
        (home / "config.toml").write_text(f'[extract]\nml = "api"\napi_server = "{server.url}"\n')
        first = hg_import(src, home=home)
        assert first.returncode == 1, first.stderr
        assert states(home / "gallery.db") == (2, 2)  # photos and vectors are there
        failures = subprocess.run(
            [str(REPO / ".venv" / "bin" / "hg-build"), "failures", "--home", str(home)],
            capture_output=True, text=True, env=env(),
        )  # fmt: skip
        assert failures.stdout.count("similar images and objects") == 2, failures.stdout
        server.mode.pop("objects")
        again = hg_import(src, home=home)
    assert again.returncode == 0, again.stderr
    with sqlite3.connect(home / "gallery.db") as conn:
        assert conn.execute("SELECT count(*) FROM entries WHERE objects_count > 0").fetchone() == (
            2,
        )
        assert conn.execute("SELECT count(*) FROM failures").fetchone() == (0,)
