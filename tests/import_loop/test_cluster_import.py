"""hg-import with `[extract] cluster` or its --cluster flags: its hg-extract stage reads
the config or gets the flags, so the extraction runs on the Dask cluster's workers."""

from __future__ import annotations

import socket
import sqlite3

from tests.dask_cluster import local_cluster
from tests.import_loop.conftest import hg_import, make_jpegs

N = 6


def test_hg_import_extracts_on_the_cluster_of_the_config(tmp_path):
    src, home = tmp_path / "src", tmp_path / "home"
    make_jpegs(src, N)
    home.mkdir()
    with local_cluster() as (address, _):
        (home / "config.toml").write_text(f'[extract]\ncluster = "{address}"\nml = "off"\n')
        proc = hg_import(src, home=home, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert f"extracting on the Dask cluster at {address}" in proc.stderr
    with sqlite3.connect(home / "gallery.db") as conn:
        assert conn.execute("SELECT count(previews) FROM entries").fetchone() == (N,)


def test_hg_import_passes_the_cluster_flags_to_hg_extract(tmp_path):
    src, home = tmp_path / "src", tmp_path / "home"
    make_jpegs(src, N)
    home.mkdir()
    (home / "config.toml").write_text('[extract]\nml = "off"\n')
    with local_cluster() as (address, _):
        proc = hg_import(
            src, "-v", "--cluster", address, "--cluster-transfer", "send", home=home, timeout=300
        )
    assert proc.returncode == 0, proc.stderr
    assert "files sent with each task" in proc.stderr
    with sqlite3.connect(home / "gallery.db") as conn:
        assert conn.execute("SELECT count(previews) FROM entries").fetchone() == (N,)


def test_hg_import_falls_back_to_local_work_when_asked(tmp_path):
    src, home = tmp_path / "src", tmp_path / "home"
    make_jpegs(src, N)
    home.mkdir()
    (home / "config.toml").write_text('[extract]\nml = "off"\n')
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        address = f"tcp://127.0.0.1:{s.getsockname()[1]}"  # nobody listens there
    proc = hg_import(src, "--cluster", address, "--cluster-fallback", "local", home=home)
    assert proc.returncode == 0, proc.stderr
    assert f"cannot reach the Dask scheduler at {address}" in proc.stderr
    with sqlite3.connect(home / "gallery.db") as conn:
        assert conn.execute("SELECT count(previews) FROM entries").fetchone() == (N,)
