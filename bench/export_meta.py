"""hg-build export meta benchmark: the sidecars of N entries (default 1,000), real tools.

N copies of a fixture photo (each made unique by trailing bytes after the JPEG's end), half
with an existing XMP sidecar (the fixture's, with a title and other fields to keep), are
imported with the real `hg-index | hg-extract | hg-build`; every entry gets two tags
through `hg-build events add`. Then timed, through the real executable and exiftool:
`--dry-run`, the first run (N/2 sidecars created, N/2 updated), a second run (nothing to
write) and the `hg-index` rescan that picks the sidecars up. Prints the machine's load.

Usage: .venv/bin/python bench/export_meta.py [--entries 1000]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
FIXTURE = ROOT / "tests/fixtures/media/tricky/sidecar"


def run(*cmd: str, env: dict, stdin: bytes | None = None) -> tuple[float, bytes]:
    start = time.perf_counter()
    proc = subprocess.run(cmd, input=stdin, capture_output=True, env=env)
    took = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"{cmd} exited {proc.returncode}: {proc.stderr.decode()[-2000:]}")
    return took, proc.stdout


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--entries", type=int, default=1000)
    n = ap.parse_args().entries
    base = Path(tempfile.mkdtemp(prefix="hg-bench-xmp-"))
    try:
        src, home = base / "pics", base / "home"
        photo = (FIXTURE / "IMG_0001.jpg").read_bytes()
        sidecar = (FIXTURE / "IMG_0001.jpg.xmp").read_bytes()
        for i in range(n):
            folder = src / f"d{i // 100:03d}"
            folder.mkdir(parents=True, exist_ok=True)
            (folder / f"IMG_{i:05d}.jpg").write_bytes(photo + f"hg-bench {i}".encode())
            if i % 2:
                (folder / f"IMG_{i:05d}.jpg.xmp").write_bytes(sidecar)
        home.mkdir()
        (home / "config.toml").write_text(
            f'[[sources]]\ndir = "{src}"\nwrite_xmp = true\n\n[extract]\nml = "off"\n'
        )
        env = {k: v for k, v in os.environ.items() if not k.startswith("HG_")}
        env["HG_HOME"] = str(home)
        load0 = os.getloadavg()
        print(
            f"{n} entries, load {load0[0]:.1f} {load0[1]:.1f} {load0[2]:.1f}, "
            f"{os.cpu_count()} cores"
        )
        t_import = time.perf_counter()
        _, index = run(str(BIN / "hg-index"), "--no-progress", env=env)
        _, extract = run(str(BIN / "hg-extract"), "--no-progress", env=env, stdin=index)
        run(str(BIN / "hg-build"), "-q", env=env, stdin=extract)
        print(f"import (setup): {time.perf_counter() - t_import:.1f} s")
        _, ids = run(str(BIN / "hg-build"), "query", "", "--ids", env=env)
        t, _ = run(str(BIN / "hg-build"), "events", "add", "--tag", "bench", "--tag", "kayak",
                   "-", env=env, stdin=ids)  # fmt: skip
        print(f"tagging {len(ids.split())} entries (setup): {t:.2f} s")
        before = sum(p.stat().st_size for p in src.rglob("*.xmp"))
        exp = (str(BIN / "hg-build"), "export", "meta")
        t_dry, out = run(*exp, "--dry-run", env=env)
        print(f"export meta --dry-run: {t_dry:.2f} s, {len(out.splitlines())} records")
        t_first, out = run(*exp, env=env)
        after = sum(p.stat().st_size for p in src.rglob("*.xmp"))
        kinds = [line.split(b'"action":"')[1][:6].decode() for line in out.splitlines()]
        print(f"export meta (first run): {t_first:.2f} s, {kinds.count('create')} created, "
              f"{kinds.count('update')} updated, {n / t_first:.0f} entries/s; sidecar bytes "
              f"{before:,} -> {after:,}")  # fmt: skip
        t_again, out = run(*exp, env=env)
        print(f"export meta (second run, nothing to write): {t_again:.2f} s, "
              f"{len(out.splitlines())} records")  # fmt: skip
        t_scan, out = run(str(BIN / "hg-index"), "--no-progress", env=env)
        changed = sum(1 for line in out.splitlines() if b'"type":"change"' in line
                      or b'"type":"add"' in line)  # fmt: skip
        print(f"hg-index rescan after it: {t_scan:.2f} s, {changed} add/change records")
        load1 = os.getloadavg()
        print(f"load after: {load1[0]:.1f} {load1[1]:.1f} {load1[2]:.1f}")
    finally:
        shutil.rmtree(base)


if __name__ == "__main__":
    main()
