"""The ML step's cost per photo against the preview work hg-extract does for the same photo,
in the same process on the same JPEGs, sequentially: the local CenterNet model on each 800 px
preview (what `--ml local` adds) vs hg's previews of the original (draft decode, the five
sizes, progressive JPEG). The ratio says what share of an extraction the ML step adds.

Sets: the JPEGs of tests/fixtures/media, plus ../shared/media's when it is there.

Usage: python bench/ml.py [--threads N] [--rounds R]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hg_extract.ml.local import LocalModel  # noqa: E402
from hg_extract.previews import (  # noqa: E402
    PreviewError,
    make_previews,
    open_oriented,
    preview_sizes,
)

SETS = [ROOT / "tests" / "fixtures" / "media", ROOT / ".." / "shared" / "media"]


def jpegs() -> list[Path]:
    """The decodable JPEGs of the sets (the broken ones of the corpus are left out)."""
    seen: dict[str, Path] = {}
    for base in SETS:
        for path in sorted(base.rglob("*.jpg")) if base.is_dir() else []:
            rel = path.relative_to(base).as_posix()
            if rel in seen:
                continue
            try:
                open_oriented(path)
            except PreviewError:
                continue
            seen[rel] = path
    return list(seen.values())


def previews(src: Path, out: Path) -> Path:
    """hg's preview path; returns the 800 px preview (the ML step's input)."""
    img, _ = open_oriented(src)
    sizes = preview_sizes(max(img.size))
    make_previews(img, sizes, lambda s, w: w(out / f"{s}.jpg"))
    return out / f"{min((s for s in sizes if s >= 800), default=min(sizes))}.jpg"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=1, help="onnxruntime threads (a worker's)")
    p.add_argument("--rounds", type=int, default=2)
    args = p.parse_args()
    files = jpegs()
    t0 = time.perf_counter()
    model = LocalModel(threads=args.threads)
    load = time.perf_counter() - t0
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, load "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}; {len(files)} JPEGs; "
          f"model load {load * 1000:.0f} ms, {args.threads} thread(s)")  # fmt: skip
    prev_ms: list[float] = []
    ml_ms: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        for rnd in range(args.rounds):
            for i, src in enumerate(files):
                out = Path(tmp) / f"{rnd}-{i}"
                out.mkdir()
                t = time.perf_counter()
                preview = previews(src, out)
                t1 = time.perf_counter()
                model.analyse(preview)
                t2 = time.perf_counter()
                prev_ms.append((t1 - t) * 1000)
                ml_ms.append((t2 - t1) * 1000)
    for name, values in (("previews (reference)", prev_ms), ("ML step (local)", ml_ms)):
        q = statistics.quantiles(values, n=20)
        print(f"{name:22} median {statistics.median(values):6.1f} ms  p95 {q[-1]:6.1f} ms  "
              f"total {sum(values) / 1000:6.2f} s")  # fmt: skip
    print(f"ML / previews: {sum(ml_ms) / sum(prev_ms):.2f}x of the preview time "
          f"(median {statistics.median(ml_ms) / statistics.median(prev_ms):.2f}x); "
          f"load after {' '.join(f'{x:.2f}' for x in os.getloadavg())}")  # fmt: skip


if __name__ == "__main__":
    main()
