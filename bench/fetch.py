"""hg-import --fetch benchmark: time, requests and bytes of copying N entries (default 1,000)
from a real hg-serve on 127.0.0.1.

The remote is bench/export_static.py's synthetic gallery (bench/build.py's records written
by hg-build's own Builder, every entry with the five previews of a fixture photo as
hg-extract writes them) plus each file's `-meta.json` (what the entry records carry), served
by the real `hg-serve` with one login. Then the real `hg-import --fetch` is timed into an
empty home: the first fetch, a re-fetch with nothing changed (one 304), and a re-fetch
after one tag edit there (one event, one entry record, no file). Prints the machine's load.

Usage: .venv/bin/python bench/fetch.py [--entries 1000]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import orjson
import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.build import synthetic  # noqa: E402
from bench.export_static import make_home  # noqa: E402
from hg_common import layout  # noqa: E402
from hg_common.home import STORAGE  # noqa: E402
from hg_serve.passwords import hash_password  # noqa: E402
from tests.serve.conftest import start_server  # noqa: E402

BIN = Path(sys.executable).parent
LOGIN = ("bench", "bench-secret")


def write_metas(home: Path, n: int) -> None:
    """Each file's `-meta.json`, as hg-extract stores it (the same records make_home built)."""
    for r in synthetic(n):
        for f in r["files"]:
            path = home / STORAGE / layout.relpath(f["checksum"], layout.META)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(orjson.dumps({**f["meta"], "v": 1}))


def fetch(home: Path, url: str) -> tuple[float, dict]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HG_")}
    env["HG_FETCH_PASSWORD"] = LOGIN[1]
    t0 = time.perf_counter()
    proc = subprocess.run(
        [str(BIN / "hg-import"), "--home", str(home), "--fetch", url, "--user", LOGIN[0], "-q"],
        capture_output=True, env=env,
    )  # fmt: skip
    took = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.exit(f"fetch exited {proc.returncode}: {proc.stderr.decode()[-2000:]}")
    return took, json.loads(proc.stdout)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--entries", type=int, default=1000)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="hg-bench-fetch-"))
    srv = None
    try:
        remote = tmp / "remote"
        remote.mkdir()
        (remote / "config.toml").write_text(
            f'[[server.users]]\nname = "{LOGIN[0]}"\npassword = "{hash_password(LOGIN[1])}"\n'
        )
        t0 = time.perf_counter()
        stored = make_home(remote, args.entries)
        write_metas(remote, args.entries)
        print(f"remote: {args.entries} entries, {stored / 1e6:.1f} MB of previews "
              f"({time.perf_counter() - t0:.1f} s to make)")  # fmt: skip
        srv = start_server(remote, log_dir=tmp)
        local = tmp / "laptop"
        print(f"load average before: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
        print("| fetch | entries asked | files | file bytes | requests | bytes received | time |")
        print("|---|---:|---:|---:|---:|---:|---:|")
        runs = ["first fetch (empty home)", "re-fetch, nothing changed", "re-fetch, one tag there"]
        for name in runs:
            if name.endswith("one tag there"):
                some = srv.get("/api/entries", auth=LOGIN, params={"limit": 1}).json()
                body = {"targetIds": [some["entries"][0]["id"]],
                        "actions": [{"action": "addTag", "value": "bench"}]}  # fmt: skip
                assert requests.post(srv.url + "/api/events", json=body, auth=LOGIN,
                                     timeout=10).status_code == 201  # fmt: skip
            took, s = fetch(local, srv.url)
            print(f"| {name} | {s['changed']} | {s['files']} | {s['file_bytes'] / 1e6:.1f} MB | "
                  f"{s['requests']} | {s['received'] / 1e6:.2f} MB | {took:.2f} s |")  # fmt: skip
        print(f"load average after: {os.getloadavg()[0]:.2f}")
    finally:
        if srv is not None:
            srv.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
