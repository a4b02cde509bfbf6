"""hg-extract on the local worker pool vs on a Dask cluster (`--cluster`) of the same size:
a LocalCluster of 2 worker processes (1 thread each) on this machine against `--jobs 2`,
the cluster both with its shared mount (`--cluster-transfer shared`: the workers open the
originals and write the storage) and without (`send`: each task carries its originals'
bytes and brings the artefacts back, which hg-extract writes). On one machine the cluster
cannot be faster; the difference is what a task costs on Dask (scheduling, pickling the
groups and results, the client's round trips; in send mode the files' bytes through the
scheduler too), which is what a second machine must win back. Two sets: photos whose
previews take real work, and tiny ones where the overhead is nearly all there is. `--ml
off`, `--no-geo` (the same for all runs); each run into a fresh gallery home, the cluster
started before the clock; each set run local, shared, send, send, shared, local, the
means printed.

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
                # local, shared, send, send, shared, local: a load that changes during
                # the runs (the machine is shared) weighs on all alike
                address = cluster.scheduler_address
                kinds = ("local", "shared", "send")
                times: dict[str, list[float]] = {k: [] for k in kinds}
                for r, kind in enumerate((*kinds, *reversed(kinds))):
                    flags = (
                        ("--jobs", "2")
                        if kind == "local"
                        else ("--cluster", address, "--cluster-transfer", kind)
                    )
                    took = extract(base / f"{kind}{n}-{r}", stdin, *flags)
                    times[kind].append(round(took, 1))
                mean = {k: sum(v) / len(v) for k, v in times.items()}
                mb = sum(f.stat().st_size for f in src.iterdir()) / 1e6
                print(f"{name} ({mb:.1f} MB of originals):")
                for kind in kinds:
                    extra = (mean[kind] - mean["local"]) / count * 1000
                    print(
                        f"  {kind:6} {mean[kind]:.1f} s ({count / mean[kind]:.1f} images/s)"
                        + (f", {extra:+.0f} ms per image vs local" if kind != "local" else "")
                        + f" (runs {times[kind]} s)"
                    )
        finally:
            cluster.close()
    print(f"load after {os.getloadavg()}")


if __name__ == "__main__":
    main()
