#!/usr/bin/env python3
"""Per-file cost of hg_index.checksum.checksum_file on many small files, against a plain
`os.read` + blake3 loop measured in the same run, single-threaded and in a 4-thread pool
(as hg-index hashes a folder's new files).

Why: the first scan of 100k small files is where hg-index trails b3sum (docs/benchmarks.md);
this isolates the hashing from the walk, the planning and the index write.
Usage: bench/checksum.py [--small 100000] [--tree DIR]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from blake3 import blake3
from index import build_tree, warm_up

from hg_index.checksum import checksum_file, open_readonly


def plain(path: str) -> str:
    """The reference: read what is there, hash it."""
    fd = open_readonly(path)
    try:
        hasher = blake3()
        while chunk := os.read(fd, 1 << 20):
            hasher.update(chunk)
    finally:
        os.close(fd)
    return hasher.hexdigest()


def timed(fn: Callable[[str], object], paths: list[str], threads: int) -> float:
    started = time.perf_counter()
    if threads == 1:
        for p in paths:
            fn(p)
    else:
        with ThreadPoolExecutor(threads) as pool:
            for _ in pool.map(fn, paths):
                pass
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--small", type=int, default=100_000, help="small files (1-64 KiB)")
    p.add_argument("--tree", type=Path, help="build (or reuse) the tree here and keep it")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="hg-bench-") as tmp:
        root = args.tree or Path(tmp) / "tree"
        if args.tree is None or not args.tree.exists():
            build_tree(root, args.small, 0, 0)
        paths = sorted(
            os.path.join(d, n) for d, _, names in os.walk(root) if "large" not in d for n in names
        )
        warm_up(root)
        with_size = {p: os.stat(p).st_size for p in paths}
        ours = lambda p: checksum_file(p, with_size[p])  # noqa: E731
        print(f"{len(paths)} small files, {sum(with_size.values()) / 1e6:.0f} MB")
        for threads in (1, 4):
            ref = timed(plain, paths, threads)
            mine = timed(ours, paths, threads)
            print(
                f"  {threads} thread(s): checksum_file {mine:6.2f} s "
                f"({len(paths) / mine:6.0f} files/s), os.read+blake3 {ref:6.2f} s "
                f"({len(paths) / ref:6.0f} files/s), ratio {mine / ref:.1f}x the time"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
