"""Preview speed: hg's Pillow path (draft-mode decode, cascade) against vipsthumbnail (the
libvips engine HomeGallery uses through sharp) and a naive full-decode Pillow path, measured
in the same run on the same JPEGs, one process, sequentially.

Sets: the JPEGs of ../shared/media, and a bigger copy: a few of them upscaled to 24 MP
(6000x4000, quality 90) the size of a modern camera's photos. Every engine makes the five
preview sizes 1920, 1280, 800, 320, 128 (quality 80, progressive, stripped), each from the
previous one, as HomeGallery does.

Usage: python bench/extract.py [--big N]   (installs libvips-tools when vipsthumbnail is missing)

Whole stage (`--stage`): CPU seconds (the processes' own and their children's, from
`getrusage`) and wall time of `hg-extract --no-video --no-geo` on `hg-index` records of a copy
of ../shared/media (or, `--camera N`, of N 12 MP JPEGs made from its largest), in a fresh
gallery each run, once with `--ml off` and once with the local
model (faces on); `--tree LABEL=DIR` adds a run of another source tree (e.g. `git archive
main` unpacked in /tmp) through PYTHONPATH, interleaved with this one, for before/after.

    python bench/extract.py --stage [--camera N] [--rounds N] [--tree before=/tmp/hg-main]
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image, ImageOps

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hg_extract.previews import SIZES, make_previews, open_oriented, preview_sizes  # noqa: E402

MEDIA = ROOT / ".." / "shared" / "media"


def hg(src: Path, out: Path) -> None:
    img, _ = open_oriented(src)
    make_previews(img, preview_sizes(max(img.size)), lambda s, w: w(out / f"{s}.jpg"))


def vips(src: Path, out: Path) -> None:
    prev = src
    for size in SIZES:
        dst = out / f"{size}.jpg"
        subprocess.run(
            [
                "vipsthumbnail",
                str(prev),
                "--size",
                f"{size}x{size}>",
                "-o",
                f"{dst}[Q=80,interlace,optimize-coding,strip]",
            ],
            check=True,
            capture_output=True,
        )
        prev = dst


def naive(src: Path, out: Path) -> None:
    with Image.open(src) as img:
        full = ImageOps.exif_transpose(img.convert("RGB"))
    for size in SIZES:
        if max(full.size) > size:
            small = full.copy()
            small.thumbnail((size, size), Image.Resampling.LANCZOS, reducing_gap=None)
        else:
            small = full
        small.save(out / f"{size}.jpg", "JPEG", quality=80, progressive=True)


def measure(engine, files: list[Path], tmp: Path) -> float:
    start = time.perf_counter()
    for i, src in enumerate(files):
        out = tmp / engine.__name__ / str(i)
        out.mkdir(parents=True, exist_ok=True)
        engine(src, out)
    return len(files) / (time.perf_counter() - start)


def jpegs() -> list[Path]:
    files = []
    for p in sorted(MEDIA.rglob("*")):
        if p.suffix.lower() in (".jpg", ".jpeg") and p.stat().st_size > 0:
            try:
                with Image.open(p) as img:
                    img.load()
            except Exception:
                continue  # the broken samples are for the robustness tests
            check = subprocess.run(["vips", "avg", str(p)], capture_output=True)
            if check.returncode == 0:  # corrupted.jpg: Pillow copes, libvips refuses
                files.append(p)
    return files


def big_copies(files: list[Path], n: int, tmp: Path) -> list[Path]:
    out = []
    for i, src in enumerate(sorted(files, key=lambda p: -p.stat().st_size)[:n]):
        with Image.open(src) as img:
            big = img.convert("RGB").resize((6000, 4000), Image.Resampling.BICUBIC)
        dst = tmp / f"big{i}.jpg"
        big.save(dst, "JPEG", quality=90)
        out.append(dst)
    return out


def _children_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def _load() -> str:
    return "load {:.2f} {:.2f} {:.2f}".format(*os.getloadavg())


def camera_photos(n: int, dest: Path) -> None:
    """`n` distinct 12 MP JPEGs (4032x3024, quality 92, a phone camera's size) made from the
    largest JPEGs of ../shared/media (each a different picture, so a different entry)."""
    dest.mkdir()
    sources, seen = [], set()
    for p in sorted(MEDIA.rglob("*"), key=lambda p: -p.stat().st_size):
        if p.suffix.lower() in (".jpg", ".jpeg") and p.is_file() and p.read_bytes() not in seen:
            seen.add(p.read_bytes())
            try:
                with Image.open(p) as img:
                    img.load()
                sources.append(p)
            except Exception:
                continue  # the broken samples are for the robustness tests
    for i, src in enumerate((sources * (n // len(sources) + 1))[:n]):
        with Image.open(src) as img:
            img = ImageOps.exif_transpose(img.convert("RGB"))
        if i >= len(sources):
            img = img.transpose(Image.Transpose.FLIP_LEFT_RIGHT)  # still a new picture
        size = (4032, 3024) if img.width >= img.height else (3024, 4032)
        img.resize(size, Image.Resampling.BICUBIC).save(dest / f"cam{i:03}.jpg", quality=92)


def stage(rounds: int, trees: dict[str, Path], jobs: int, camera: int = 0) -> None:
    """Whole hg-extract runs, fresh gallery each, interleaved over trees and ML settings."""
    py = sys.executable
    # -P and cwd: with `-c` the current folder would come before PYTHONPATH, and the
    # worktree's packages would shadow the tree under test.
    main = "import sys; from {0}.cli import main; sys.exit(main())"
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        photos = tmp / "media"
        if camera:
            camera_photos(camera, photos)
        else:
            shutil.copytree(MEDIA, photos)
        records = tmp / "index.ndjson"
        with records.open("wb") as out:
            subprocess.run(
                [
                    py,
                    "-P",
                    "-c",
                    main.format("hg_index"),
                    "--home",
                    str(tmp / "ih"),
                    "-q",
                    str(photos),
                ],
                stdout=out,
                check=False,
            )
        n = sum(1 for _ in records.open())
        what = f"{camera} 12 MP JPEGs" if camera else "a copy of ../shared/media"
        print(f"stage: {n} hg-index records of {what}; {_load()}")
        results: dict[tuple[str, str], list[tuple[float, float]]] = {}
        for r in range(rounds):
            for label, tree in trees.items():
                for ml in ("off", "local"):
                    home = tmp / f"home-{r}-{label}-{ml}"
                    env = dict(os.environ, PYTHONPATH=str(tree))
                    cmd = [py, "-P", "-c", main.format("hg_extract"), "--home", str(home), "-q"]
                    cmd += ["--no-video", "--no-geo", "--ml", ml, "-j", str(jobs)]
                    before_cpu, start = _children_cpu(), time.perf_counter()
                    with records.open("rb") as stdin:
                        subprocess.run(
                            cmd, stdin=stdin, stdout=subprocess.DEVNULL, env=env, cwd=tmp
                        )
                    wall = time.perf_counter() - start
                    cpu = _children_cpu() - before_cpu
                    results.setdefault((label, ml), []).append((cpu, wall))
                    print(
                        f"  round {r + 1} {label:8} ml {ml:5}: "
                        f"CPU {cpu:6.1f} s, wall {wall:6.1f} s; "
                        f"{_load()}",
                        flush=True,
                    )
        for (label, ml), runs in results.items():
            cpus = sorted(c for c, _ in runs)
            print(
                f"{label:8} ml {ml:5}: CPU min {cpus[0]:.1f} s, median "
                f"{cpus[len(cpus) // 2]:.1f} s over {len(runs)} runs"
            )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--big", type=int, default=6, help="24 MP copies to make (default 6)")
    parser.add_argument("--stage", action="store_true", help="whole hg-extract runs (see above)")
    parser.add_argument("--rounds", type=int, default=2, help="--stage rounds (default 2)")
    parser.add_argument("--jobs", type=int, default=2, help="--stage hg-extract -j (default 2)")
    parser.add_argument("--tree", action="append", default=[], help="LABEL=DIR, see above")
    parser.add_argument(
        "--camera", type=int, default=0, help="--stage on N 12 MP JPEGs instead of shared/media"
    )
    args = parser.parse_args()
    if args.stage:
        trees = {"this": ROOT} | {
            t.split("=", 1)[0]: Path(t.split("=", 1)[1]).resolve() for t in args.tree
        }
        stage(args.rounds, trees, args.jobs, args.camera)
        return 0
    if not shutil.which("vipsthumbnail"):
        subprocess.run([str(ROOT / "bin/install-system-deps"), "libvips-tools"], check=True)
    print(
        f"machine: {platform.machine()}, Python {platform.python_version()}, "
        f"Pillow {Image.__version__}, "
        + subprocess.run(
            ["vipsthumbnail", "--vips-version"], capture_output=True, text=True
        ).stdout.strip()
    )
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        small = jpegs()
        big = big_copies(small, args.big, tmp)
        for label, files in [
            (f"shared/media JPEGs ({len(small)})", small),
            (f"24 MP JPEGs ({len(big)})", big),
        ]:
            rates = {e.__name__: measure(e, files, tmp / label[:5]) for e in (hg, vips, naive)}
            print(
                f"{label}: "
                + ", ".join(f"{k} {v:.1f} images/s" for k, v in rates.items())
                + f"; hg/vipsthumbnail {rates['hg'] / rates['vips']:.2f}x, "
                f"hg/naive {rates['hg'] / rates['naive']:.2f}x"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
