"""Where to draw the line for `hg-build duplicates`: the cosine of true duplicates (a photo
and its re-saved, resized or cropped copy) against that of the nearest *different* photos,
on real photos through the real pipeline; then, optionally, the time and memory of
`hg-build duplicates` at 100k synthetic vectors.

The photos: the decodable JPEGs of tests/fixtures/media and ../shared/media (bench/ml.py's
set) at least `--min-side` pixels (200) on their short side: the corpus's thumbnails of a
few dozen pixels are not photos anyone keeps copies of, and their crops are other pictures.
Each gets three copies made with Pillow: re-saved at 400 px, quality 50; cropped by 4 % a
side at 600 px, quality 70; cropped by 10 % a side at 800 px, quality 85. All go through
the real `hg-index | hg-extract (local model) | hg-build`. Printed: per kind of copy the
lowest and median cosine with its original; per entry its nearest entry of another
picture, the highest of those and the highest pairs by name; per threshold how many copies
it misses and how many entries have another picture above it. "The same picture" is
decided on pixels (`same_pictures`), since the corpus has the same picture under many names.

Usage: .venv/bin/python bench/duplicates.py [--limit N] [--big 100000]
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.ml import SETS, jpegs  # noqa: E402
from hg_build import db, vectors  # noqa: E402

BIN = Path(sys.executable).parent
COPIES = {"resaved-400-q50": (400, 50, 0.0), "crop4-600-q70": (600, 70, 0.04),
          "crop10-800-q85": (800, 85, 0.10)}  # fmt: skip


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def copy(src: Path, dest: Path, size: int, quality: int, crop: float) -> None:
    from PIL import ImageOps

    img = ImageOps.exif_transpose(Image.open(src)).convert("RGB")
    w, h = img.size
    img = img.crop((int(w * crop), int(h * crop), w - int(w * crop), h - int(h * crop)))
    img.thumbnail((size, size))
    dest.parent.mkdir(parents=True, exist_ok=True)
    img.save(dest, "JPEG", quality=quality)


def pipeline(home: Path, src: Path) -> None:
    env = {**os.environ, "HG_HOME": str(home)}
    index = subprocess.run([BIN / "hg-index", str(src)], capture_output=True, env=env, check=True)
    extract = subprocess.run([BIN / "hg-extract", "--no-progress", "--no-geo"],
                             input=index.stdout, capture_output=True, env=env)  # fmt: skip
    build = subprocess.run([BIN / "hg-build"], input=extract.stdout, capture_output=True, env=env)
    if build.returncode not in (0, 1):
        raise SystemExit(build.stderr.decode())


def thumbnail(path: Path) -> np.ndarray:
    """The picture as displayed, 32x32 grey, mean 0 and length 1 (pixel correlation)."""
    from PIL import ImageOps

    img = ImageOps.exif_transpose(Image.open(path)).convert("L").resize((32, 32))
    px = np.asarray(img, dtype=np.float64).ravel()
    px -= px.mean()
    norm = np.linalg.norm(px)
    return px / norm if norm else px


def same_pictures(paths: list[str], thumbs: list[np.ndarray]) -> dict[str, int]:
    """Path -> picture number: originals whose displayed pixels correlate >= 0.9 (or are
    both flat) are the same picture. The corpus has the same pixels under many names (test
    files that differ in metadata only, an orientation set, an HDR pair): not counted as
    different photos."""
    parent = list(range(len(paths)))

    def find(i: int) -> int:
        while parent[i] != i:
            i = parent[i]
        return i

    for i in range(len(paths)):
        for j in range(i):
            flat = not thumbs[i].any() and not thumbs[j].any()
            if flat or float(thumbs[i] @ thumbs[j]) >= 0.9:
                parent[find(i)] = find(j)
    return {p: find(i) for i, p in enumerate(paths)}


def measure(limit: int | None, min_side: int) -> None:
    files = [p for p in jpegs() if min(Image.open(p).size) >= min_side][:limit]
    thumbs: dict[str, np.ndarray] = {}  # relative path -> thumbnail
    with tempfile.TemporaryDirectory() as tmp:
        src, home = Path(tmp) / "src", Path(tmp) / "home"
        made = 0
        for n, path in enumerate(files):
            base = next(b for b in SETS if b.is_dir() and path.is_relative_to(b))
            rel = Path(f"{n:03d}-{path.name}")  # unique: the same name is in two folders
            thumbs[rel.as_posix()] = thumbnail(path)
            (src / "orig").mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, src / "orig" / rel)
            for kind, (size, quality, crop) in COPIES.items():
                try:
                    copy(path, src / "copies" / kind / rel, size, quality, crop)
                    made += 1
                except OSError:
                    pass
            del base
        t0 = time.perf_counter()
        pipeline(home, src)
        print(f"{len(files)} photos + {made} copies through the pipeline in "
              f"{time.perf_counter() - t0:.0f} s; load {load()}")  # fmt: skip
        conn = db.connect(home / "gallery.db", readonly=True)
        files_of: dict[str, list[str]] = {}
        for i, p in conn.execute("SELECT entry_id, path FROM files"):
            files_of.setdefault(i, []).append(p)
        [group] = vectors.for_connection(conn).groups
        conn.close()
    keys = same_pictures(list(thumbs), list(thumbs.values()))
    ids = group.ids.tolist()
    # an entry is one content; its files are originals and/or copies of pictures
    kinds = [{p.split("/")[1] if p.startswith("copies/") else "original" for p in files_of[i]}
             for i in ids]  # fmt: skip
    pictures = [{keys[p.rsplit("/", 1)[-1]] for p in files_of[i]} for i in ids]
    label = [min(files_of[i]) for i in ids]
    unit = group.unit_rows()
    scores = unit @ unit.T
    originals = [r for r, k in enumerate(kinds) if "original" in k]
    copy_scores: dict[str, list[float]] = {}
    lowest: list[tuple[float, str]] = []
    for kind in COPIES:
        values = copy_scores[kind] = []
        for r, k in enumerate(kinds):
            if kind in k and "original" not in k:
                same = [o for o in originals if pictures[o] & pictures[r]]
                if same:
                    values.append(max(float(scores[r, o]) for o in same))
                    lowest.append((values[-1], label[r]))
        p5, median = np.percentile(values, 5), statistics.median(values)
        print(f"{kind}: {len(values)} copies with their original: min {min(values):.3f}, "
              f"p5 {p5:.3f}, median {median:.3f}")  # fmt: skip
    print("lowest copies: " + ", ".join(f"{c:.3f} {n}" for c, n in sorted(lowest)[:8]))
    nearest = []
    for r in range(len(ids)):
        others = [c for c in range(len(ids)) if not pictures[c] & pictures[r]]
        best = max(others, key=lambda c: scores[r, c])
        nearest.append((float(scores[r, best]), label[r], label[best]))
    values = [n[0] for n in nearest]
    print(f"nearest entry of another picture, over {len(values)} entries: max {max(values):.3f}, "
          f"p99 {np.percentile(values, 99):.3f}, p95 {np.percentile(values, 95):.3f}, "
          f"median {statistics.median(values):.3f}")  # fmt: skip
    seen = set()
    print("highest pairs of different pictures:")
    for score, a, b in sorted(nearest, reverse=True):
        key = tuple(sorted((a, b)))
        if key in seen:
            continue
        seen.add(key)
        print(f"  {score:.3f}  {a}  ~  {b}")
        if len(seen) == 25:
            break
    copies = [c for kind in COPIES for c in copy_scores[kind]]
    for t in (0.8, 0.85, 0.86, 0.87, 0.88, 0.9, 0.92, 0.95):
        missed = sum(c < t for c in copies)
        wrong = sum(n[0] >= t for n in nearest)
        print(f"threshold {t}: {missed}/{len(copies)} copies missed, {wrong}/{len(nearest)} "
              f"entries' nearest other picture above it")  # fmt: skip


def big(n: int) -> None:
    from bench.serve import build_database
    from bench.similar import add_vectors

    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        path = home / "gallery.db"
        took = build_database(path, n) + add_vectors(path, n // 50)
        print(f"{n} synthetic entries with vectors in {took:.0f} s; load {load()}")
        t0 = time.perf_counter()
        proc = subprocess.run([BIN / "hg-build", "duplicates", "--json", "--home", str(home)],
                              capture_output=True)  # fmt: skip
        took = time.perf_counter() - t0
        rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss >> 10
        lines = proc.stdout.count(b"\n")
        print(f"hg-build duplicates at {n}: {took:.1f} s, exit {proc.returncode}, {lines} groups, "
              f"max RSS {rss} MiB; load {load()}")  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--limit", type=int, help="at most N photos")
    ap.add_argument("--min-side", type=int, default=200, help="photos at least this large")
    ap.add_argument("--big", type=int, default=0, help="also time N synthetic entries")
    args = ap.parse_args()
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, load {load()}")
    measure(args.limit, args.min_side)
    if args.big:
        big(args.big)


if __name__ == "__main__":
    main()
