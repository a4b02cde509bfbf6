#!/usr/bin/env python3
"""Benchmark hg-index against references measured in the same run, on a synthetic tree.

(a) first scan: hg-index (walk + blake3 + index write) vs b3sum (blake3 only; sha1sum when
    b3sum is missing) over the same files, in MB/s and files/s;
(b) re-scan of the unchanged tree (stat only) vs `find -printf` of size, mtime and inode;
(c) peak RSS of each hg-index run (wait4 of that very process).

The page cache cannot be dropped without root, so the tree is read once before timing
(warm-up) and every tool then reads from memory: the figures compare CPU work, not disks.
Other work on the machine shows as noise: first scans are interleaved and repeated (medians).
Usage: bench/index.py [--small 100000] [--large 8] [--large-mb 256] [--repeat 3] [--tree DIR]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

TREE_SUFFIX = ".bench.json"
"""Beside the tree (not in it, so no tool sees it): the parameters it was built with."""
GNU_TIME = os.access("/usr/bin/time", os.X_OK)
PER_FOLDER = 200
"""Files per leaf folder, about what a camera card or an event folder holds."""


@dataclass
class Run:
    seconds: float
    max_rss_mb: float
    returncode: int
    cpu_seconds: float | None = None
    """user + system time (GNU time only): less sensitive to a busy machine than wall time."""


def run_measured(cmd: list[str], **kwargs) -> Run:
    """Run cmd; wall time, and the peak RSS of that process alone.

    wait4's ru_maxrss would include this Python parent (Linux carries the forking process's
    high-water mark across exec), so GNU time reports the RSS when it is installed."""
    with tempfile.NamedTemporaryFile("r") as rss_file:
        gnu_time = ["/usr/bin/time", "-f", "%M %U %S", "-o", rss_file.name] if GNU_TIME else []
        started = time.perf_counter()
        proc = subprocess.Popen(gnu_time + cmd, **kwargs)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        if GNU_TIME:  # the last line (a failing command adds one before it)
            rss_kb, user, system = rss_file.read().splitlines()[-1].split()
            return Run(seconds, int(rss_kb) / 1024, proc.returncode, float(user) + float(system))
    return Run(seconds, usage.ru_maxrss / 1024, proc.returncode)


def median(runs: list[Run]) -> Run:
    return sorted(runs, key=lambda r: r.seconds)[len(runs) // 2]


def small_sizes(count: int, seed: int) -> list[int]:
    """1-64 KiB, log-uniform (many small files, as thumbnails, sidecars and JPEGs mix)."""
    rng = random.Random(seed)
    return [int(1024 * math.exp(rng.uniform(0, math.log(64)))) for _ in range(count)]


def build_tree(root: Path, small: int, large: int, large_mb: int, seed: int = 1) -> None:
    """year/event folders of small files plus `large/` with the big ones; every file unique."""
    params = {"small": small, "large": large, "large_mb": large_mb, "seed": seed}
    marker = root.parent / (root.name + TREE_SUFFIX)
    if marker.is_file() and json.loads(marker.read_text()) == params:
        print(f"reusing the tree in {root}", file=sys.stderr)
        return
    if root.exists():
        shutil.rmtree(root)
    root.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    noise = random.Random(seed).randbytes(8 * 2**20)
    for i, size in enumerate(small_sizes(small, seed)):
        if i % PER_FOLDER == 0:
            folder = root / f"{2000 + i // 5000}" / f"event-{i // PER_FOLDER:05d}"
            folder.mkdir(parents=True)
        start = (i * 7919) % (len(noise) - size)
        with open(folder / f"IMG_{i:06d}.jpg", "wb") as f:
            f.write(i.to_bytes(8, "little") + noise[start : start + size - 8])
    (root / "large").mkdir(parents=True, exist_ok=True)
    for i in range(large):
        with open(root / "large" / f"video-{i:02d}.mp4", "wb") as f:
            f.write(i.to_bytes(8, "little"))
            for _ in range(large_mb * 2**20 // len(noise)):
                f.write(noise)
    marker.write_text(json.dumps(params))
    print(f"built the tree in {time.perf_counter() - started:.1f} s", file=sys.stderr)


def tree_size(root: Path) -> tuple[int, int]:
    files = total = 0
    for dirpath, _, names in os.walk(root):
        for name in names:
            files += 1
            total += os.stat(os.path.join(dirpath, name)).st_size
    return files, total


def warm_up(root: Path) -> float:
    """Read every file once, so every timed tool reads from the page cache."""
    started = time.perf_counter()
    subprocess.run(
        f"find {shlex.quote(str(root))} -type f -print0 | xargs -0 cat > /dev/null", shell=True
    )
    return time.perf_counter() - started


def hash_reference() -> str:
    return "b3sum" if shutil.which("b3sum") else "sha1sum"


def run_reference(root: Path, tool: str) -> Run:
    """The reference hasher over the same files, fed by find | xargs like a shell user would."""
    cmd = f"find {shlex.quote(str(root))} -type f -print0 | xargs -0 {tool}"
    return run_measured(["bash", "-c", cmd], stdout=subprocess.DEVNULL)


def run_find(root: Path) -> Run:
    cmd = ["find", str(root), "-type", "f", "-printf", "%s %T@ %i %P\n"]
    return run_measured(cmd, stdout=subprocess.DEVNULL)


def hg_index_cmd() -> str:
    local = Path(sys.executable).parent / "hg-index"
    return str(local) if local.exists() else shutil.which("hg-index") or "hg-index"


def run_hg_index(root: Path, home: Path, *extra: str) -> Run:
    cmd = [hg_index_cmd(), "--home", str(home), "--no-progress", "-q", *extra, str(root)]
    run = run_measured(cmd, stdout=subprocess.DEVNULL)
    if run.returncode not in (0, 1):
        sys.exit(f"hg-index failed with exit {run.returncode}")
    return run


def report(files: int, total: int, results: dict[str, Run], ref: str, repeat: int) -> None:
    mb = total / 1e6
    r = results

    def line(label: str, run: Run, rates: bool = True) -> None:
        rate = f"{mb / run.seconds:8.1f} MB/s {files / run.seconds:9.0f} files/s" if rates else ""
        cpu = f"cpu {run.cpu_seconds:6.2f} s" if run.cpu_seconds is not None else ""
        print(f"  {label:<30} {run.seconds:7.2f} s {rate:<34} {cpu}  RSS {run.max_rss_mb:6.1f} MB")

    print(f"\ntree: {files} files, {mb / 1000:.2f} GB; reference hasher {ref}")
    print(f"(a) first scan, from the page cache (median of {repeat})")
    line("hg-index", r["first"])
    line(ref, r["ref"])
    ratio = r["ref"].seconds / r["first"].seconds
    print(f"  hg-index throughput / {ref} throughput: {ratio:.2f}", end="")
    if r["first"].cpu_seconds and r["ref"].cpu_seconds:
        print(f"; hg-index uses {r['first'].cpu_seconds / r['ref'].cpu_seconds:.1f}x the CPU")
    else:
        print()
    print("(b) re-scan of the unchanged tree (median of 3)")
    line("hg-index", r["rescan"])
    line("find -printf size,mtime,inode", r["find"])
    line("hg-index --version (startup)", r["startup"], rates=False)
    print(f"  hg-index / find: {r['rescan'].seconds / r['find'].seconds:.1f}x the time")
    per_100k = r["rescan"].seconds * 100_000 / files
    work = max(0.0, r["rescan"].seconds - r["startup"].seconds) * 100_000 / files
    print(
        f"  re-scan per 100k files: {per_100k:.2f} s, {work:.2f} s without startup (target < 3 s)"
    )
    print(f"(c) hg-index peak RSS: first scan {r['first'].max_rss_mb:.0f} MB, ", end="")
    print(f"re-scan {r['rescan'].max_rss_mb:.0f} MB" + ("" if GNU_TIME else " (incl. parent)"))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--small", type=int, default=100_000, help="small files (1-64 KiB)")
    p.add_argument("--large", type=int, default=8, help="large files")
    p.add_argument("--large-mb", type=int, default=256, help="size of each large file, MiB")
    p.add_argument("--repeat", type=int, default=3, help="first scans per tool (median)")
    p.add_argument("--tree", type=Path, help="build (or reuse) the tree here and keep it")
    args = p.parse_args(argv)
    sys.stdout.reconfigure(line_buffering=True)  # figures and stderr notes in order
    with tempfile.TemporaryDirectory(prefix="hg-bench-") as tmp:
        root = args.tree or Path(tmp) / "tree"
        build_tree(root, args.small, args.large, args.large_mb)
        files, total = tree_size(root)
        print(f"warm-up read: {warm_up(root):.1f} s", file=sys.stderr)
        # flush the tree's writeback and the atimes the warm-up set, else the timed runs
        # (and the fsync of each index write) would wait for them
        os.sync()
        ref = hash_reference()
        refs, firsts = [], []
        for i in range(args.repeat):  # interleaved, so a busy neighbour slows both alike
            refs.append(run_reference(root, ref))
            firsts.append(run_hg_index(root, Path(tmp) / f"home{i}"))
        results = {"ref": median(refs), "first": median(firsts)}
        home = Path(tmp) / f"home{args.repeat - 1}"
        # re-scans are short: take the median of three
        results["rescan"] = median([run_hg_index(root, home) for _ in range(3)])
        results["find"] = median([run_find(root) for _ in range(3)])
        version = [hg_index_cmd(), "--version"]
        results["startup"] = median(
            [run_measured(version, stdout=subprocess.DEVNULL) for _ in range(3)]
        )
        report(files, total, results, ref, args.repeat)
    return 0


if __name__ == "__main__":
    sys.exit(main())
