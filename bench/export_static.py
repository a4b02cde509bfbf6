"""hg-serve export static benchmark: time and bytes of exporting N entries (default 1,000).

A synthetic gallery (bench/build.py's generator, written by hg-build's own Builder) whose
storage holds real previews: one fixture photo resized to the five preview sizes as
hg-extract writes them (Pillow, progressive JPEG q80), copied for every entry. Then the real
`hg-serve export static` executable is timed: all entries to a folder, the same as
`--archive`, a query selecting about a tenth (`year in [2010:2011]`), then all entries
again after bench/similar.py's clustered 720-d vectors were added (each entry's similar
list is one `similar:` query). No originals. Prints the machine's load.

Usage: .venv/bin/python bench/export_static.py [--entries 1000]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.build import synthetic  # noqa: E402
from bench.similar import add_vectors  # noqa: E402
from hg_build import db  # noqa: E402
from hg_build.build import Builder  # noqa: E402
from hg_common import layout  # noqa: E402
from hg_common.home import DATABASE, STORAGE  # noqa: E402

BIN = Path(sys.executable).parent
PHOTO = ROOT / "tests/fixtures/media/exif-samples/jpg/orientation/landscape_1.jpg"
SIZES = (1920, 1280, 800, 320, 128)


def previews() -> dict[int, bytes]:
    """The five previews of a photo upscaled to 4000 px (a camera's size), as JPEG bytes."""
    src = Image.open(PHOTO).convert("RGB")
    src = src.resize((4000, round(4000 * src.height / src.width)), Image.LANCZOS)
    out = {}
    for size in SIZES:
        img = src.copy()
        img.thumbnail((size, size), Image.LANCZOS)
        buf = io.BytesIO()
        img.save(buf, "JPEG", quality=80, progressive=True)
        out[size] = buf.getvalue()
    return out


def make_home(home: Path, n: int) -> int:
    """The database and storage of n synthetic entries; returns the storage's bytes."""
    records = synthetic(n)
    conn = db.open_database(home / DATABASE)
    builder = Builder(conn, lambda r: None)
    for i in range(0, len(records), 500):
        builder.apply_chunk(records[i : i + 500])
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    jpegs = previews()
    total = 0
    for r in records:
        for size in SIZES:
            path = home / STORAGE / layout.relpath(r["id"], layout.preview(size))
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(jpegs[size])
            total += len(jpegs[size])
    return total


def export(home: Path, *args: str) -> tuple[float, dict]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HG_")}
    t0 = time.perf_counter()
    proc = subprocess.run(
        [str(BIN / "hg-serve"), "export", "static", "--home", str(home), "-q", *args],
        capture_output=True, env=env,
    )  # fmt: skip
    took = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.exit(f"export exited {proc.returncode}: {proc.stderr.decode()[-2000:]}")
    return took, json.loads(proc.stdout)


def du(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--entries", type=int, default=1000)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="hg-bench-export-"))
    try:
        home = tmp / "home"
        home.mkdir()
        t0 = time.perf_counter()
        stored = make_home(home, args.entries)
        print(f"gallery: {args.entries} entries, {stored / 1e6:.1f} MB of previews "
              f"({time.perf_counter() - t0:.1f} s to make)")  # fmt: skip
        print(f"load average before: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
        runs = [
            ("all entries, folder", ["--dir", str(tmp / "all")], tmp / "all"),
            ("all entries, --archive", ["--dir", str(tmp / "all-a"), "--archive"],
             tmp / "all-a.zip"),
            ("year in [2010:2011], folder",
             ["--query", "year in [2010:2011]", "--dir", str(tmp / "some")], tmp / "some"),
        ]  # fmt: skip
        print("| export | entries | files | bytes on disk | data/gallery.json | time |")
        print("|---|---:|---:|---:|---:|---:|")
        runs.append(("all entries with vectors, folder", ["--dir", str(tmp / "vec")], tmp / "vec"))
        for name, argv, out in runs:
            if out.name == "vec":
                add_vectors(home / DATABASE, clusters=max(1, args.entries // 20))
            took, summary = export(home, *argv)
            data = out / "data/gallery.json" if out.is_dir() else None
            json_mb = f"{data.stat().st_size / 1e6:.2f} MB" if data else "-"
            print(f"| {name} | {summary['entries']} | {summary['files']} | "
                  f"{du(out) / 1e6:.1f} MB | {json_mb} | {took:.2f} s |")  # fmt: skip
        print(f"load average after: {os.getloadavg()[0]:.2f}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
