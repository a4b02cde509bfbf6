"""hg-extract on the local worker pool vs on a Dask cluster (`--cluster`) of the same size:
a LocalCluster of 2 worker processes (1 thread each) on this machine against `--jobs 2`.
On one machine the cluster cannot be faster; the difference is what a task costs on Dask
(scheduling, pickling the groups and results, the client's round trips), which is what a
second machine must win back. Two sets: photos whose previews take real work, and tiny
ones where the overhead is nearly all there is. `--ml off`, `--no-geo` (both the same for
the two runs); each run into a fresh gallery home, the cluster started before the clock; each
set run local, cluster, cluster, local, the means printed.

Usage: python bench/cluster.py [--photos N] [--tiny N]
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def make_photos(dest: Path, count: int, size: tuple[int, int]) -> None:
    dest.mkdir(parents=True)
    for n in range(count):
        rnd = random.Random(n)
        small = Image.frombytes("RGB", (32, 24), rnd.randbytes(32 * 24 * 3))
        small.resize(size, Image.Resampling.BICUBIC).save(dest / f"p{n:04}.jpg", quality=90)


def extract(home: Path, stdin: bytes, *args: str) -> float:
    env = {**os.environ, "HG_HOME": str(home), "PATH": f"{BIN}:{os.environ['PATH']}"}
    cmd = [BIN / "hg-extract", "--no-progress", "--no-geo", "--ml", "off", "-q", *args]
    started = time.monotonic()
    proc = subprocess.run(cmd, input=stdin, env=env, capture_output=True, check=False)
    took = time.monotonic() - started
    if proc.returncode != 0:
        sys.exit(f"hg-extract failed: {proc.stderr.decode()}")
    return took


def index(home: Path, src: Path) -> bytes:
    env = {**os.environ, "HG_HOME": str(home)}
    return subprocess.run(
        [BIN / "hg-index", str(src)], env=env, capture_output=True, check=True
    ).stdout


def main() -> None:
    from distributed import LocalCluster

    p = argparse.ArgumentParser()
    p.add_argument("--photos", type=int, default=32, help="6 MP photos")
    p.add_argument("--tiny", type=int, default=160, help="96x64 photos")
    args = p.parse_args()
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}, load before {os.getloadavg()}"
    )
    with tempfile.TemporaryDirectory(prefix="hg-bench-cluster-") as tmp:
        base = Path(tmp)
        sets = {
            f"{args.photos} photos 3000x2000": (args.photos, (3000, 2000)),
            f"{args.tiny} tiny photos 96x64": (args.tiny, (96, 64)),
        }
        cluster = LocalCluster(
            n_workers=2,
            processes=True,
            threads_per_worker=1,
            host="127.0.0.1",
            scheduler_port=0,
            dashboard_address=":0",
        )
        try:
            for n, (name, (count, size)) in enumerate(sets.items()):
                src = base / f"src{n}"
                make_photos(src, count, size)
                stdin = index(base / f"index{n}", src)
                # local, cluster, cluster, local: a load that changes during the runs
                # (the machine is shared) weighs on both alike
                address = cluster.scheduler_address
                times: dict[str, list[float]] = {"local": [], "cluster": []}
                for r, kind in enumerate(("local", "cluster", "cluster", "local")):
                    flags = ("--jobs", "2") if kind == "local" else ("--cluster", address)
                    took = extract(base / f"{kind}{n}-{r}", stdin, *flags)
                    times[kind].append(round(took, 1))
                local, remote = (sum(times[k]) / 2 for k in ("local", "cluster"))
                print(
                    f"{name}: local --jobs 2 {local:.1f} s ({count / local:.1f} images/s), "
                    f"LocalCluster 2x1 {remote:.1f} s ({count / remote:.1f} images/s), "
                    f"cluster - local {(remote - local) / count * 1000:+.0f} ms per image "
                    f"(runs: local {times['local']}, cluster {times['cluster']} s)"
                )
        finally:
            cluster.close()
    print(f"load after {os.getloadavg()}")


if __name__ == "__main__":
    main()
