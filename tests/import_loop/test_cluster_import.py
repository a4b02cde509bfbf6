"""hg-import with `[extract] cluster`: its hg-extract stage reads the config, so the
extraction runs on the Dask cluster's workers and the gallery is the same."""

from __future__ import annotations

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
