"""The ML step's cost per photo against the preview work hg-extract does for the same photo,
in the same process on the same JPEGs, sequentially: the local CenterNet model on each 800 px
preview (what `--ml local` adds) and dlib's face pass on it (what faces add: `--no-faces`
leaves it out) vs hg's previews of the original (draft decode, the five sizes, progressive
JPEG). The ratios say what share of an extraction the ML step adds, with faces and without.
Faces per second: faces found / time of the face pass.

With --stage, also the whole stage: `hg-index | hg-extract -j 2` on a copy of the set, with
faces and with --no-faces (a fresh gallery each; wall time).

Sets: the JPEGs of tests/fixtures/media, plus ../shared/media's when it is there.

Usage: python bench/ml.py [--threads N] [--rounds R] [--stage]
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hg_extract.ml.faces import FaceModel, rgb_array  # noqa: E402
from hg_extract.ml.local import LocalModel  # noqa: E402
from hg_extract.ml.step import read_preview  # noqa: E402
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


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def line(name: str, values: list[float]) -> str:
    q = statistics.quantiles(values, n=20)
    return (f"{name:24} median {statistics.median(values):6.1f} ms  p95 {q[-1]:6.1f} ms  "
            f"total {sum(values) / 1000:6.2f} s")  # fmt: skip


def stage(files: list[Path]) -> None:
    """hg-index | hg-extract -j 2 on a copy of the files, with and without faces."""
    bin_dir = Path(sys.executable).parent
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "src"
        src.mkdir()
        for i, path in enumerate(files):
            shutil.copyfile(path, src / f"{i:04d}-{path.name}")
        for label, extra in (("faces on", []), ("--no-faces", ["--no-faces"])):
            home = Path(tmp) / label.strip("-").replace(" ", "-")
            env = {**os.environ, "HG_HOME": str(home)}
            index = subprocess.run(
                [bin_dir / "hg-index", str(src)], env=env, capture_output=True, check=True
            )
            t = time.perf_counter()
            subprocess.run(
                [bin_dir / "hg-extract", "--no-progress", "--no-geo", "-j", "2", *extra],
                input=index.stdout, env=env, capture_output=True, check=False,
            )  # fmt: skip
            print(f"stage, {len(files)} photos, -j 2, {label:10}: "
                  f"{time.perf_counter() - t:6.1f} s (load {load()})")  # fmt: skip


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=1, help="onnxruntime threads (a worker's)")
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--stage", action="store_true", help="also time the whole hg-extract stage")
    args = p.parse_args()
    files = jpegs()
    t0 = time.perf_counter()
    model = LocalModel(threads=args.threads)
    t1 = time.perf_counter()
    face_model = FaceModel()
    t2 = time.perf_counter()
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, load "
          f"{load()}; {len(files)} JPEGs; model load {(t1 - t0) * 1000:.0f} ms, face models "
          f"{(t2 - t1) * 1000:.0f} ms, {args.threads} thread(s)")  # fmt: skip
    prev_ms: list[float] = []
    ml_ms: list[float] = []
    face_ms: list[float] = []
    found: list[int] = []
    with tempfile.TemporaryDirectory() as tmp:
        for rnd in range(args.rounds):
            for i, src in enumerate(files):
                out = Path(tmp) / f"{rnd}-{i}"
                out.mkdir()
                t = time.perf_counter()
                preview = previews(src, out)
                t1 = time.perf_counter()
                img = read_preview(preview)  # once for both passes, as the ML step does
                model.run(img)
                t2 = time.perf_counter()
                faces = face_model.run(rgb_array(img)).faces
                t3 = time.perf_counter()
                prev_ms.append((t1 - t) * 1000)
                ml_ms.append((t2 - t1) * 1000)
                face_ms.append((t3 - t2) * 1000)
                found.append(len(faces))
    both = [a + b for a, b in zip(ml_ms, face_ms, strict=True)]
    with_faces = [ms for ms, n in zip(face_ms, found, strict=True) if n]
    without = [ms for ms, n in zip(face_ms, found, strict=True) if not n]
    print(line("previews (reference)", prev_ms))
    print(line("ML step, --no-faces", ml_ms))
    print(line("face pass", face_ms))
    print(line("ML step, faces on", both))
    rate = sum(found) / (sum(face_ms) / 1000)
    rate_with = sum(found) / (sum(with_faces) / 1000) if with_faces else 0
    med = statistics.median
    print(f"face pass: {sum(found)} faces on {len(with_faces)} of {len(found)} photos: "
          f"{rate:.2f} faces/s over all, {rate_with:.2f} on the photos with faces; "
          f"median {med(without) if without else 0:.0f} ms without a face, "
          f"{med(with_faces) if with_faces else 0:.0f} ms with; "
          f"per face beyond detection ~{_per_face(face_ms, found):.0f} ms")  # fmt: skip
    print(f"ML / previews: --no-faces {sum(ml_ms) / sum(prev_ms):.2f}x, faces on "
          f"{sum(both) / sum(prev_ms):.2f}x of the preview time (medians "
          f"{med(ml_ms) / med(prev_ms):.2f}x, {med(both) / med(prev_ms):.2f}x); "
          f"load after {load()}")  # fmt: skip
    if args.stage:
        stage(files)


def _per_face(face_ms: list[float], found: list[int]) -> float:
    """The slope of face-pass time over faces found (least squares): a face's landmarks and
    descriptor, beyond the detector's pass over the whole photo."""
    if len(set(found)) < 2:
        return float("nan")
    slope, _ = np.polyfit(np.asarray(found, float), np.asarray(face_ms, float), 1)
    return float(slope)


if __name__ == "__main__":
    main()
