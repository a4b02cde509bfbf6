"""Import speed: time to the first entry in the database and total time of the chunked
import (`bin/hg-import`: HomeGallery's batches, deferred index commits) against one
non-chunked pass (`hg-index | hg-extract | hg-build`), on the same generated archive, in the
same run.

The archive: N real-sized JPEGs (2-12 MP camera photos of ../shared/media, copied with a
varying number of bytes appended after the image, so every copy has its own checksum and is
extracted as a new photo), 100 per folder. Targets: first entry < 60 s; chunked total <= 1.1x
the single pass.

Usage: python bench/import.py [--files 5000] [--workdir DIR] [--keep]
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from hg_common.home import DATABASE

ROOT = Path(__file__).resolve().parents[1]
MEDIA = ROOT / ".." / "shared" / "media" / "exif-samples" / "jpg"
BIN = Path(sys.executable).parent
PHOTOS = [
    "Reconyx_HC500_Hyperfire.jpg",
    "hdr/canon_hdr_NO.jpg",
    "hdr/canon_hdr_YES.jpg",
    "hdr/iphone_hdr_NO.jpg",
    "hdr/iphone_hdr_YES.jpg",
    "mobile/HMD_Nokia_8.3_5G.jpg",
    "mobile/jolla.jpg",
    "tests/28-hex_value.jpg",
    "tests/35-empty.jpg",
    "tests/42_IndexError.jpg",
    "tests/87_OSError.jpg",
]


def make_archive(root: Path, count: int) -> int:
    """`count` copies, each with its own appended bytes; returns the total size."""
    blobs = [(MEDIA / p).read_bytes() for p in PHOTOS]
    total = 0
    for i in range(count):
        folder = root / f"folder{i // 100:03d}"
        folder.mkdir(parents=True, exist_ok=True)
        data = blobs[i % len(blobs)] + i.to_bytes(4, "big")
        (folder / f"IMG_{i:05d}.jpg").write_bytes(data)
        total += len(data)
    return total


def entries(db: Path) -> int:
    if not db.exists():
        return 0
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1)
        try:
            return conn.execute("SELECT count(*) FROM entries").fetchone()[0]
        finally:
            conn.close()
    except sqlite3.Error:
        return 0


def timed(cmd: list[str] | str, home: Path, shell: bool = False) -> dict:
    """Run an import; poll the database for its first entry."""
    env = {**os.environ, "HG_HOME": str(home), "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    log = open(home.parent / f"{home.name}.log", "w")  # noqa: SIM115
    start = time.monotonic()
    proc = subprocess.Popen(cmd, shell=shell, env=env, stdout=subprocess.DEVNULL, stderr=log)
    first = None
    loads = []
    next_load = start
    while proc.poll() is None:
        if time.monotonic() >= next_load:
            loads.append(os.getloadavg()[0])
            next_load += 10
        if first is None and entries(home / DATABASE) > 0:
            first = time.monotonic() - start
        time.sleep(0.1)
    total = time.monotonic() - start
    log.close()
    if first is None and entries(home / DATABASE) > 0:
        first = total
    return {
        "exit": proc.returncode,
        "first": first,
        "total": total,
        "entries": entries(home / DATABASE),
        "load": sum(loads) / len(loads) if loads else os.getloadavg()[0],
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--files", type=int, default=5000)
    ap.add_argument("--workdir", type=Path)
    ap.add_argument("--keep", action="store_true", help="keep the archive and homes")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="hg-bench-import-", dir=args.workdir))
    try:
        src = work / "src"
        t = time.monotonic()
        size = make_archive(src, args.files)
        print(
            f"archive: {args.files} JPEGs, {size / 2**30:.2f} GiB in {time.monotonic() - t:.0f} s"
        )
        print(f"machine: {platform.platform()}, {os.cpu_count()} cores, load {os.getloadavg()}")
        runs = {}
        for name, cmd, shell in (
            ("chunked", [str(ROOT / "bin" / "hg-import"), "-q", str(src)], False),
            ("single", f"hg-index -q {src} | hg-extract -q | hg-build -q", True),
        ):
            home = work / name
            home.mkdir()
            runs[name] = r = timed(cmd, home, shell)
            print(
                f"{name:8s} exit {r['exit']}, first entry {r['first']:.1f} s, total "
                f"{r['total']:.1f} s, {args.files / r['total']:.1f} files/s, "
                f"{r['entries']} entries, mean load {r['load']:.2f}",
                flush=True,
            )
        ratio = runs["chunked"]["total"] / runs["single"]["total"]
        print(
            f"chunked/single total: {ratio:.2f}x (target <= 1.1x); first entry chunked "
            f"{runs['chunked']['first']:.1f} s (target < 60 s) vs single "
            f"{runs['single']['first']:.1f} s"
        )
        ok = all(r["entries"] == args.files for r in runs.values())
        return 0 if ok else 1
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
