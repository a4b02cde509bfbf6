"""Preview speed: hg's Pillow path (draft-mode decode, cascade) against vipsthumbnail (the
libvips engine HomeGallery uses through sharp) and a naive full-decode Pillow path, measured
in the same run on the same JPEGs, one process, sequentially.

Sets: the JPEGs of ../shared/media, and a bigger copy: a few of them upscaled to 24 MP
(6000x4000, quality 90) the size of a modern camera's photos. Every engine makes the five
preview sizes 1920, 1280, 800, 320, 128 (quality 80, progressive, stripped), each from the
previous one, as HomeGallery does.

Usage: python bench/extract.py [--big N]   (installs libvips-tools when vipsthumbnail is missing)
"""

from __future__ import annotations

import argparse
import platform
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--big", type=int, default=6, help="24 MP copies to make (default 6)")
    args = parser.parse_args()
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
