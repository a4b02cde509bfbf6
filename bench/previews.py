"""Preview routes compared in-process: CPU seconds per image for hg's whole preview set, and
how close each route's pixels are to today's and to a careful reference.

Every route makes the sizes `preview_sizes()` gives (1920, 1280, 800, 320, 128, never
upscaled, the largest replaced by the image itself when it is smaller), EXIF orientation
applied, quality 80, and returns the JPEG bytes per size:

- `today`: the route of hg_extract/previews.py before issue 15 (draft box 1920x1920, then
  `thumbnail()` BICUBIC, reducing_gap 2, each size from the previous, progressive);
- `fitdraft`: the same, but the draft box is the largest preview's own size (1920x1440 for a
  4:3 photo), so libjpeg's DCT scaling (1/2, 1/4, 1/8) applies to every photo of at least
  twice that size, not only to those whose short side is 3840 px;
- `fitdraft-base`: `fitdraft` with baseline JPEGs (to show what progressive costs);
- `fitdraft-mixed`: progressive for 1920/1280/800, baseline for 320 and 128;
- `simplejpeg`: libjpeg-turbo's scaled decode (M/8 steps) to the largest size, Pillow's
  resize, simplejpeg's encoder (baseline only: it has no progressive mode);
- `vips-cascade`: pyvips (pyvips-binary's libvips) `thumbnail` with shrink-on-load from the
  file, each smaller one `thumbnail_buffer` of the previous JPEG (HomeGallery's cascade);
- `vips-source`: pyvips `thumbnail` of the file for every size (shrink-on-load each time);
- `vips-memory`: pyvips `thumbnail` of the file, then `thumbnail_image` of the previous one.
  libvips runs single-threaded (VIPS_CONCURRENCY=1) with its operation cache off, as a
  worker process would use it; `hg`: the route hg_extract/previews.py has now.

CPU is `time.process_time()` (all threads of this process) around each call; routes are
interleaved per file, in a rotating order, for several rounds. Quality (first round): the
pixel size must equal `today`'s; mean absolute difference (0-255) to `today`'s output, and
PSNR against a reference made from the fully decoded image with LANCZOS straight to each
size (no DCT scaling, no cascade; higher is closer). Bytes: the total of a route's previews.

Sets: the JPEGs of tests/fixtures/media and ../shared/media (those Pillow and libvips both
read), split at 4 MP, and a few 24 MP copies (6000x4000 q90) of the largest of them.

Usage: python bench/previews.py [--rounds N] [--big N] [--routes a,b,...]
"""

from __future__ import annotations

import argparse
import io
import os
import platform
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

os.environ.setdefault("VIPS_CONCURRENCY", "1")

import numpy as np  # noqa: E402
import pyvips  # noqa: E402
from PIL import Image, ImageOps  # noqa: E402

try:
    import simplejpeg  # pip install -e '.[bench]'
except ImportError:
    simplejpeg = None

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.extract import big_copies  # noqa: E402  (the same 24 MP copies)
from hg_extract import previews as hg_previews  # noqa: E402
from hg_extract.previews import SIZES, preview_sizes  # noqa: E402

MEDIA = [ROOT / "tests" / "fixtures" / "media", ROOT / ".." / "shared" / "media"]
Q = 80
pyvips.cache_set_max(0)


def _fit(w: int, h: int, size: int) -> tuple[int, int]:
    scale = size / max(w, h)
    return max(1, round(w * scale)), max(1, round(h * scale))


def _pillow(
    src: Path, fitted: bool, progressive, resample=Image.Resampling.BICUBIC
) -> dict[int, bytes]:
    img = Image.open(src)
    if img.format == "JPEG":
        if fitted:
            w, h = img.size
            img.draft("RGB", _fit(w, h, min(max(SIZES), max(w, h))))
        else:
            img.draft("RGB", (max(SIZES), max(SIZES)))
    img.load()
    img = hg_previews._flatten(ImageOps.exif_transpose(img))
    out = {}
    for size in preview_sizes(max(img.size)):
        if max(img.size) > size:
            img.thumbnail((size, size), resample, reducing_gap=2.0)
        buf = io.BytesIO()
        img.save(buf, "JPEG", quality=Q, progressive=progressive(size))
        out[size] = buf.getvalue()
    return out


def today(src: Path) -> dict[int, bytes]:
    return _pillow(src, False, lambda s: True)


def fitdraft(src: Path) -> dict[int, bytes]:
    return _pillow(src, True, lambda s: True)


def fitdraft_base(src: Path) -> dict[int, bytes]:
    return _pillow(src, True, lambda s: False)


def fitdraft_mixed(src: Path) -> dict[int, bytes]:
    return _pillow(src, True, lambda s: s >= 800)


def fitdraft_bilinear(src: Path) -> dict[int, bytes]:
    return _pillow(src, True, lambda s: True, Image.Resampling.BILINEAR)


def _pil_save(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=Q, progressive=True)
    return buf.getvalue()


def hybrid(src: Path) -> dict[int, bytes]:
    """Pillow's (fitted) draft decode, libvips's resize, Pillow's progressive encode."""
    img = Image.open(src)
    if img.format == "JPEG":
        w, h = img.size
        img.draft("RGB", _fit(w, h, min(max(SIZES), max(w, h))))
    img.load()
    img = hg_previews._flatten(ImageOps.exif_transpose(img))
    v = pyvips.Image.new_from_memory(img.tobytes(), img.width, img.height, 3, "uchar")
    out = {}
    for size in preview_sizes(max(img.size)):
        if max(v.width, v.height) > size:
            v = v.thumbnail_image(size, height=size, size="down").copy_memory()
        out[size] = _pil_save(Image.frombuffer("RGB", (v.width, v.height), v.write_to_memory()))
    return out


def _sj_decode(src: Path, strict: bool = True) -> Image.Image:
    """simplejpeg's scaled decode (M/8) to the largest preview's size, EXIF orientation
    applied."""
    data = src.read_bytes()
    with Image.open(io.BytesIO(data)) as head:
        orientation = head.getexif().get(0x0112, 1)
        w, h = head.size
    tw, th = _fit(w, h, min(max(SIZES), max(w, h)))
    arr = simplejpeg.decode_jpeg(data, "RGB", min_width=tw, min_height=th, strict=strict)
    img = Image.fromarray(arr)
    if orientation in _TRANSPOSE:
        img = img.transpose(_TRANSPOSE[orientation])
    return img


def sj_prog(src: Path) -> dict[int, bytes]:
    """simplejpeg's scaled decode (M/8), Pillow's resize and progressive encode."""
    img = _sj_decode(src)
    out = {}
    for size in preview_sizes(max(img.size)):
        if max(img.size) > size:
            img.thumbnail((size, size), Image.Resampling.BICUBIC, reducing_gap=2.0)
        out[size] = _pil_save(img)
    return out


_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


def simplejpeg_route(src: Path) -> dict[int, bytes]:
    img = _sj_decode(src, strict=False)
    out = {}
    for size in preview_sizes(max(img.size)):
        if max(img.size) > size:
            img.thumbnail((size, size), Image.Resampling.BICUBIC, reducing_gap=2.0)
        out[size] = simplejpeg.encode_jpeg(np.asarray(img), Q, "RGB", "420")
    return out


def _vips_save(img: pyvips.Image) -> bytes:
    return img.jpegsave_buffer(Q=Q, interlace=True, optimize_coding=True, keep=0)


def _vips_sizes(src: Path) -> list[int]:
    with Image.open(src) as head:
        return preview_sizes(max(head.size))


def vips_cascade(src: Path) -> dict[int, bytes]:
    out, prev = {}, None
    for size in _vips_sizes(src):
        if prev is None:
            img = pyvips.Image.thumbnail(str(src), size, height=size, size="down")
        else:
            img = pyvips.Image.thumbnail_buffer(prev, size, height=size, size="down")
        out[size] = prev = _vips_save(img)
    return out


def vips_source(src: Path) -> dict[int, bytes]:
    return {
        size: _vips_save(pyvips.Image.thumbnail(str(src), size, height=size, size="down"))
        for size in _vips_sizes(src)
    }


def vips_memory(src: Path, save=_vips_save) -> dict[int, bytes]:
    out, img = {}, None
    for size in _vips_sizes(src):
        if img is None:
            img = pyvips.Image.thumbnail(str(src), size, height=size, size="down").copy_memory()
        else:
            img = img.thumbnail_image(size, height=size, size="down").copy_memory()
        out[size] = save(img)
    return out


def vips_memory_base(src: Path) -> dict[int, bytes]:
    return vips_memory(src, lambda img: img.jpegsave_buffer(Q=Q, keep=0))


def hg(src: Path) -> dict[int, bytes]:
    out: dict[int, bytes] = {}
    img, _ = hg_previews.open_oriented(src)

    def save(size, writer):
        with tempfile.NamedTemporaryFile(suffix=".jpg") as f:
            writer(Path(f.name))
            out[size] = Path(f.name).read_bytes()

    hg_previews.make_previews(img, preview_sizes(max(img.size)), save)
    return out


ROUTES = {
    "today": today,
    "fitdraft": fitdraft,
    "fitdraft-base": fitdraft_base,
    "fitdraft-mixed": fitdraft_mixed,
    "fitdraft-bilinear": fitdraft_bilinear,
    "hybrid": hybrid,
    "simplejpeg": simplejpeg_route,
    "sj-prog": sj_prog,
    "vips-cascade": vips_cascade,
    "vips-source": vips_source,
    "vips-memory": vips_memory,
    "vips-memory-base": vips_memory_base,
    "hg": hg,
}


def full_image(src: Path) -> Image.Image:
    with Image.open(src) as img:
        return ImageOps.exif_transpose(img.convert("RGB"))


def reference(full: Image.Image, shape: tuple[int, ...], cache: dict) -> np.ndarray:
    """The full image resized with LANCZOS straight to a preview's (height, width)."""
    if shape not in cache:
        img = full.resize((shape[1], shape[0]), Image.Resampling.LANCZOS)
        cache[shape] = np.asarray(img, np.int16)
    return cache[shape]


def pixels(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as img:
        return np.asarray(img.convert("RGB"), np.int16)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a - b) ** 2))
    return 99.0 if mse == 0 else 10 * np.log10(255**2 / mse)


def readable(p: Path) -> bool:
    try:
        with Image.open(p) as img:
            img.load()
            if img.format != "JPEG":
                return False
        pyvips.Image.new_from_file(str(p), fail_on="warning").avg()
        return True
    except Exception:
        return False  # the broken samples are for the robustness tests


def jpegs() -> list[Path]:
    seen, files = set(), []
    for root in MEDIA:
        for p in sorted(root.rglob("*")):
            if p.suffix.lower() in (".jpg", ".jpeg") and p.stat().st_size > 0:
                key = p.read_bytes()
                if key in seen:
                    continue
                seen.add(key)
                if readable(p):
                    files.append(p)
    return files


OTHERS = (".png", ".heic", ".heif", ".tif", ".tiff", ".webp", ".gif", ".bmp")


def others(routes: list[str]) -> None:
    """Non-JPEG images (PNG, HEIC, TIFF, WebP, GIF): the routes that read any format must
    answer the same way (previews of the same sizes, or an error for both)."""
    files = [p for root in MEDIA for p in sorted(root.rglob("*")) if p.suffix.lower() in OTHERS]
    if not {"today", "hg"} <= set(routes):
        return
    same = errors = 0
    mads: list[float] = []
    cpu: dict[str, float] = defaultdict(float)
    for p in files:
        outs = {}
        for name in ("today", "hg"):
            start = time.process_time()
            try:
                outs[name] = ROUTES[name](p)
            except Exception as exc:
                outs[name] = type(exc).__name__
            cpu[name] += time.process_time() - start
        a, b = outs["today"], outs["hg"]
        if isinstance(a, str) or isinstance(b, str):
            errors += 1
            same += isinstance(a, str) and isinstance(b, str)
            continue
        pa, pb = [pixels(x) for x in a.values()], [pixels(x) for x in b.values()]
        if list(a) == list(b) and [x.shape for x in pa] == [x.shape for x in pb]:
            same += 1
            mads += [float(np.abs(x - y).mean()) for x, y in zip(pa, pb, strict=True)]
    print(
        f"\nother formats: {len(files)} PNG/HEIC/TIFF/WebP/GIF files, today and hg agree on "
        f"{same} (same sizes, or an error for both: {errors}); mean abs diff to today's "
        f"{np.mean(mads):.2f}, max {max(mads):.1f}; CPU ms/img "
        + ", ".join(f"{n} {cpu[n] / max(len(files), 1) * 1000:.1f}" for n in ("today", "hg"))
    )


def megapixels(p: Path) -> float:
    with Image.open(p) as img:
        return img.size[0] * img.size[1] / 1e6


def load() -> str:
    return "load {:.2f} {:.2f} {:.2f}".format(*os.getloadavg())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--big", type=int, default=4, help="24 MP copies (default 4)")
    parser.add_argument("--routes", default=",".join(ROUTES))
    parser.add_argument("--limit", type=int, default=0, help="at most N files per set")
    args = parser.parse_args()
    names = args.routes.split(",")
    if simplejpeg is None:
        print("simplejpeg is not installed (pip install -e '.[bench]'): its routes are left out")
        names = [k for k in names if k not in ("simplejpeg", "sj-prog")]
    routes = {k: ROUTES[k] for k in names}
    print(
        f"{platform.machine()}, Python {platform.python_version()}, Pillow {Image.__version__}, "
        f"libvips {pyvips.version(0)}.{pyvips.version(1)}.{pyvips.version(2)} (pyvips-binary), "
        f"simplejpeg {simplejpeg and simplejpeg.__version__}, {os.cpu_count()} cores; {load()}"
    )
    with tempfile.TemporaryDirectory() as tmpdir:
        files = jpegs()
        small = [p for p in files if megapixels(p) < 4]
        large = [p for p in files if megapixels(p) >= 4]
        big = big_copies(files, args.big, Path(tmpdir))
        sets = {"<4 MP": small, "4-12 MP": large, "24 MP": big}
        if args.limit:
            sets = {k: v[: args.limit] for k, v in sets.items()}
        for label, fs in sets.items():
            print(f"set {label}: {len(fs)} JPEGs")
        cpu: dict[tuple[str, str], list[float]] = defaultdict(list)
        quality: dict[tuple[str, str], list] = defaultdict(list)
        names = list(routes)
        for rnd in range(args.rounds):
            for label, fs in sets.items():
                for i, src in enumerate(fs):
                    order = names[(i + rnd) % len(names) :] + names[: (i + rnd) % len(names)]
                    outs = {}
                    for name in order:
                        start = time.process_time()
                        outs[name] = routes[name](src)
                        cpu[label, name].append(time.process_time() - start)
                    if rnd == 0:
                        full, cache = full_image(src), {}
                        base = {s: pixels(b) for s, b in outs[names[0]].items()}
                        for name, out in outs.items():
                            q = quality[label, name]
                            same = list(out) == list(base) and all(
                                pixels(b).shape == base[s].shape for s, b in out.items()
                            )
                            mad = (
                                np.mean(
                                    [np.abs(pixels(b) - base[s]).mean() for s, b in out.items()]
                                )
                                if same
                                else float("nan")
                            )
                            ps = [
                                psnr(p, reference(full, p.shape[:2], cache))
                                for p in map(pixels, out.values())
                                if max(p.shape) < max(full.size)
                            ]
                            q.append(
                                (
                                    same,
                                    mad,
                                    np.mean(ps) if ps else 99.0,
                                    sum(map(len, out.values())),
                                )
                            )
            print(f"round {rnd + 1} done; {load()}", flush=True)
        print()
        print(f"CPU ms per image (median of {args.rounds} rounds' totals / files); {load()}")
        for label, fs in sets.items():
            print(f"\n{label} ({len(fs)} files)")
            print(
                f"{'route':16} {'CPU ms/img':>10} {'vs ' + names[0]:>9} {'same size':>9} "
                f"{'MAD vs ' + names[0]:>12} {'PSNR vs ref':>11} {'KB/img':>7}"
            )
            n = len(fs)
            per = {
                name: float(np.median(np.array(cpu[label, name]).reshape(args.rounds, n).sum(1)))
                / n
                for name in names
            }
            for name in names:
                q = quality[label, name]
                print(
                    f"{name:16} {per[name] * 1000:10.1f} {per[name] / per[names[0]]:9.2f} "
                    f"{sum(x[0] for x in q):4}/{len(q):<4} "
                    f"{np.nanmean([x[1] for x in q]):12.2f} {np.mean([x[2] for x in q]):11.2f} "
                    f"{np.mean([x[3] for x in q]) / 1024:7.1f}"
                )
    others(names)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
