"""The preview route (Pillow decode, libvips resize, Pillow encode) on every kind of pixels:
the sizes `Image.thumbnail` gives, never upscaled, upright, RGB, baseline quality-80 JPEGs
whose pixels match a careful full-size reference."""

from __future__ import annotations

import io
import random
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import pyvips
from PIL import Image, ImageOps

from hg_extract import previews
from hg_extract.previews import (
    QUALITY,
    SIZES,
    PreviewError,
    _packed,
    fit,
    make_previews,
    open_oriented,
    preview_sizes,
)
from tests.conftest import media_file
from tests.extract.conftest import run_extract, run_index


def run(path: Path, tmp_path: Path, **kw) -> dict[int, Image.Image]:
    img, _ = open_oriented(path, **kw)
    out: dict[int, Path] = {}

    def save(size, writer):
        out[size] = tmp_path / f"{size}.jpg"
        writer(out[size])

    make_previews(img, preview_sizes(max(img.size)), save)
    previews = {}
    for size, p in out.items():
        with Image.open(p) as im:
            assert im.format == "JPEG" and not im.info.get("progressive") and "exif" not in im.info
            previews[size] = im.convert("RGB")
    return previews


def closeness(img: Image.Image, ref: Image.Image) -> tuple[float, float]:
    """Mean absolute difference of `img` to `ref`, and that of `ref` itself after a quality-80
    JPEG round trip: what the encoder alone loses."""
    buf = io.BytesIO()
    ref.save(buf, "JPEG", quality=80)
    r = np.asarray(ref, np.int16)
    own = np.abs(np.asarray(Image.open(buf).convert("RGB"), np.int16) - r).mean()
    return float(np.abs(np.asarray(img, np.int16) - r).mean()), float(own)


def test_fit_is_thumbnails_size():
    rng = random.Random(15)
    for _ in range(3000):
        w, h, box = rng.randint(1, 5000), rng.randint(1, 5000), rng.choice(SIZES)
        img = Image.new("1", (w, h))
        img.thumbnail((box, box))
        assert fit((w, h), box) == img.size, (w, h, box)


def test_a_camera_jpeg_matches_a_full_size_reference(tmp_path):
    src = media_file("exif-samples/jpg/orientation/portrait_6.jpg")
    with Image.open(src) as im:
        full = ImageOps.exif_transpose(im.convert("RGB"))
    previews = run(src, tmp_path)
    assert list(previews) == [800, 320, 128]  # 600x450: itself once, then smaller, no upscale
    assert previews[800].size == full.size == (450, 600)
    for size, img in previews.items():
        assert img.size == fit(full.size, size)
        mad, jpeg_loss = closeness(img, full.resize(img.size, Image.Resampling.LANCZOS))
        assert mad < jpeg_loss + 1.0, (size, mad, jpeg_loss)


def test_a_large_photo_gets_every_size_from_a_draft_decode(tmp_path):
    src = tmp_path / "big.jpg"
    rng = np.random.default_rng(15)
    base = rng.integers(0, 255, (30, 40, 3), dtype=np.uint8)
    Image.fromarray(base).resize((4032, 3024), Image.Resampling.BICUBIC).save(src, quality=90)
    img, fmt = open_oriented(src)
    assert fmt == "JPEG" and img.size == (2016, 1512)  # 1/2 while decoding, still >= 1920
    previews = run(src, tmp_path)
    assert [p.size for p in previews.values()] == [
        (1920, 1440),
        (1280, 960),
        (800, 600),
        (320, 240),
        (128, 96),
    ]
    with Image.open(src) as im:
        im.load()
        for size, img in previews.items():
            mad, jpeg_loss = closeness(img, im.resize(img.size, Image.Resampling.LANCZOS))
            assert mad < jpeg_loss + 1.0, (size, mad, jpeg_loss)


@pytest.mark.parametrize(
    "mode, fmt, expect",
    [
        ("CMYK", "JPEG", None),
        ("I;16", "PNG", (128, 128, 128)),
        ("RGBA", "PNG", (255, 255, 255)),
        ("LA", "PNG", (255, 255, 255)),
        ("P", "PNG", (255, 255, 255)),
        ("1", "PNG", (255, 255, 255)),
        ("L", "TIFF", (128, 128, 128)),
    ],
)
def test_every_pixel_kind_becomes_an_rgb_preview(tmp_path, mode, fmt, expect):
    src = tmp_path / f"in.{fmt.lower()}"
    if mode == "I;16":
        img = Image.fromarray(np.full((900, 1500), 128 * 256, np.uint16))
    elif mode in ("RGBA", "LA"):
        img = Image.new(mode, (1500, 900), (0,) * (len(mode) - 1) + (0,))  # transparent
    elif mode == "P":
        img = Image.new("P", (1500, 900), 0)
        img.info["transparency"] = 0
    elif mode == "1":
        img = Image.new("1", (1500, 900), 1)
    elif mode == "L":
        img = Image.new("L", (1500, 900), 128)
    else:
        img = Image.new("CMYK", (1500, 900), (0, 255, 255, 0))  # red
    img.save(src, fmt, **({"transparency": 0} if mode == "P" else {}))
    previews = run(src, tmp_path)
    sizes = [(1500, 900), (1280, 768), (800, 480), (320, 192), (128, 77)]
    assert [p.size for p in previews.values()] == sizes
    centre = previews[128].getpixel((64, 38))
    if expect is None:
        assert centre[0] > 200 and centre[1] < 60 and centre[2] < 60  # CMYK red stays red
    else:
        assert all(abs(a - b) <= 3 for a, b in zip(centre, expect, strict=True)), centre


def test_a_broken_or_oversized_image_is_a_preview_error(tmp_path):
    cut = tmp_path / "cut.jpg"
    buf = io.BytesIO()
    Image.new("RGB", (800, 600), (10, 200, 30)).save(buf, "JPEG")
    cut.write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    with pytest.raises(PreviewError, match="broken"):
        open_oriented(cut)
    Image.new("L", (3000, 2000)).save(tmp_path / "wide.png")
    with pytest.raises(PreviewError, match="decompression-bomb guard"):
        open_oriented(tmp_path / "wide.png", max_pixels=5_000_000)


def gradient(width: int, height: int) -> Image.Image:
    """An RGB image of smooth gradients (every preview size differs from the next)."""
    x = np.linspace(0, 255, width)
    y = np.linspace(0, 255, height)[:, None]
    rgb = np.stack([x + 0 * y, y + 0 * x, (x[::-1] + y) / 2], axis=2).astype(np.uint8)
    return Image.fromarray(rgb)


def test_a_large_png_is_reduced_first_and_let_go(tmp_path):
    """No draft mode for a PNG: Pillow's reduce() brings it to >= 2x the preview, and the
    full-size image is closed before libvips gets a copy (not held twice)."""
    src = tmp_path / "wide.png"
    gradient(8000, 2000).save(src, compress_level=1)
    img, fmt = open_oriented(src)
    assert fmt == "PNG" and img.size == (8000, 2000)
    out: dict[int, Path] = {}

    def save(size, writer):
        out[size] = tmp_path / f"{size}.jpg"
        writer(out[size])

    make_previews(img, preview_sizes(8000), save)
    with pytest.raises(ValueError, match="closed"):
        img.load()
    full = gradient(8000, 2000)
    for size, p in out.items():
        with Image.open(p) as im:
            prev = im.convert("RGB")
        assert prev.size == fit((8000, 2000), size)
        mad, jpeg_loss = closeness(prev, full.resize(prev.size, Image.Resampling.LANCZOS))
        assert mad < jpeg_loss + 1.0, (size, mad, jpeg_loss)


def test_hg_extract_says_nothing_of_libvips_on_stderr(tmp_path):
    """libvips logs each resize's plan at INFO; a run's stderr is for hg's own lines."""
    src = tmp_path / "src"
    src.mkdir()
    for name in ("obama-portrait.jpg", "biden-portrait.jpg"):
        (src / name).write_bytes(media_file(f"faces/{name}").read_bytes())
    home = tmp_path / "home"
    code, records, stderr = run_extract(home, run_index(home, src), "--ml", "off")
    assert code == 0, stderr
    assert len([r for r in records if r["type"] == "entry"]) == 2
    assert "VIPS" not in stderr, stderr[:500]


def test_a_draft_decode_is_let_go_once_copied_for_libvips(tmp_path):
    """A JPEG under 4x the largest preview is not reduced first: its decode is closed as soon
    as libvips has its copy (issue 15: it was held, 32 MB for an 8 MP photo, until every
    preview was written), and that copy is exactly `tobytes()`; the previews are the same."""
    src = tmp_path / "photo.jpg"
    gradient(3001, 2001).save(src, quality=90)
    img, _ = open_oriented(src)
    assert img.size == (3001, 2001)  # 1.5x the largest preview: no draft scaling
    assert bytes(_packed(img)) == img.tobytes()
    expected = img.tobytes()
    with pytest.MonkeyPatch.context() as mp:  # a Pillow whose internals moved: tobytes()
        mp.setattr(previews, "Image", SimpleNamespace())  # no _getencoder
        assert _packed(img) == expected
    out: dict[int, bytes] = {}

    def save(size, writer):
        writer(tmp_path / f"{size}.jpg")
        out[size] = (tmp_path / f"{size}.jpg").read_bytes()

    smallest = make_previews(img, preview_sizes(3001), save)
    with pytest.raises(ValueError, match="closed"):
        img.load()
    assert smallest.size == fit((3001, 2001), 128)
    # The same bytes as the previews made from a decode that is kept open meanwhile.
    kept, _ = open_oriented(src)
    source = pyvips.Image.new_from_memory(kept.tobytes(), *kept.size, 3, "uchar")
    for size in sorted(out, reverse=True):
        target = fit((source.width, source.height), size)
        source = source.resize(target[0] / source.width, vscale=target[1] / source.height)
        source = source.copy_memory()
        assert (source.width, source.height) == target
        ref = Image.frombuffer("RGB", target, source.write_to_memory(), "raw", "RGB", 0, 1)
        buf = io.BytesIO()
        ref.save(buf, "JPEG", quality=QUALITY, optimize=False)
        assert buf.getvalue() == out[size], size
