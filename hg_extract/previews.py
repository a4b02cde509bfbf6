"""Image previews: long sides 1920, 1280, 800, 320, 128, never upscaled.

Pillow decodes (every format, its decompression-bomb guard, EXIF orientation, CMYK, 16-bit,
alpha and palette images flattened to 8-bit RGB), libvips resizes, Pillow encodes: the route
bench/previews.py measured cheapest for hg's whole preview set without giving up quality
(docs/benchmarks.md, issue 15). Speed comes from not decoding what is thrown away: a JPEG is
opened in draft mode with the largest preview's own box, so libjpeg scales by 1/2, 1/4 or
1/8 while decoding (DCT scaling) whenever the photo is at least twice that size, and a 24 MP
photo is never held at full size; each smaller preview is then made from the previous one
with libvips's resize (Lanczos, as HomeGallery's sharp; several times cheaper in CPU than
Pillow's bicubic filter on these sizes). EXIF orientation is applied (HEIC/HEIF pixels come
already rotated from libheif, so those are not rotated again). Previews are baseline JPEGs,
quality 80, without metadata; the sizes are Pillow's `thumbnail()` ones. Baseline, not
progressive as HomeGallery's: libjpeg-turbo's progressive encode took a third of
hg-extract's CPU and costs ~5x the baseline one, a browser decodes a baseline preview ~2.5x
faster (what a grid of thumbnails does while scrolling), and it is only ~4 % larger; its
coarse-first drawing helps on a slow link, which a gallery on the LAN rarely has
(docs/benchmarks.md, issue 15).

A size larger than the image is replaced by the image itself once (a 600 px photo gets a
600 px `-800` preview, then 320 and 128), so every image has its best preview and nothing is
upscaled.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from pathlib import Path

import pillow_heif
import pyvips
from PIL import Image, ImageFile, ImageOps

pillow_heif.register_heif_opener()
# A worker process resizes one image at a time and there is a worker per core: libvips's own
# threads would only compete with the other workers. Each image is resized once, so libvips's
# operation cache would only hold memory. Importing starts no thread (libvips starts its
# first one at the first resize), so hg-extract's parent, which imports this module but
# never resizes, can still fork its workers safely.
pyvips.concurrency_set(1)
pyvips.cache_set_max(0)
# libvips reports every resize's plan at INFO (~16 lines an image), which the tools' INFO
# level would put on stderr, where hg-import reads every line.
logging.getLogger("pyvips").setLevel(logging.WARNING)

SIZES = (1920, 1280, 800, 320, 128)
QUALITY = 80
DEFAULT_MAX_PIXELS = 200_000_000

# Our own pixel-count guard runs first and gives the clear message; Pillow's stays as a net.
Image.MAX_IMAGE_PIXELS = DEFAULT_MAX_PIXELS
ImageFile.LOAD_TRUNCATED_IMAGES = False


class PreviewError(Exception):
    """An image that cannot be previewed; the message is the record's error sentence.
    `transient`: the file may be fine on the next try (it vanished, was unreadable)."""

    def __init__(self, message: str, transient: bool = False) -> None:
        super().__init__(message)
        self.transient = transient


def preview_sizes(long_side: int, sizes: tuple[int, ...] = SIZES) -> list[int]:
    """Sizes to make for an image of this long side, largest first (see module doc)."""
    smaller = [s for s in sorted(sizes, reverse=True) if s < long_side]
    covering = [s for s in sizes if s >= long_side]
    return ([min(covering)] if covering else []) + smaller


def fit(size: tuple[int, int], box: int) -> tuple[int, int]:
    """The size `Image.thumbnail((box, box))` gives an image of `size` (the sizes previews
    have always had): the aspect ratio kept as closely as whole pixels allow, never 0."""
    w, h = size
    if w <= box and h <= box:
        return w, h
    aspect = w / h
    if aspect <= 1:
        x, y = box, box
        x = max(
            min(math.floor(y * aspect), math.ceil(y * aspect), key=lambda n: abs(aspect - n / y)), 1
        )
        return x, y
    x, y = box, box
    y = max(
        min(
            math.floor(x / aspect),
            math.ceil(x / aspect),
            key=lambda n: abs(aspect - x / n) if n else 0,
        ),
        1,
    )
    return x, y


def _flatten(img: Image.Image) -> Image.Image:
    """RGB for JPEG: transparency on white, 16-bit and palette images converted."""
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        background = Image.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        return img.point(lambda v: v / 256).convert("L").convert("RGB")
    return img if img.mode == "RGB" else img.convert("RGB")


def open_oriented(
    path: str | Path,
    largest: int = SIZES[0],
    max_pixels: int = DEFAULT_MAX_PIXELS,
    orientation_hint: int | None = None,
) -> tuple[Image.Image, str]:
    """The image, loaded at >= `largest` px where the codec can scale, upright, in RGB.

    Returns the image and the format Pillow detected. `orientation_hint` (from the RAW around
    an embedded preview) applies when the image has no EXIF orientation of its own.
    """
    try:
        img = Image.open(path)
    except Image.DecompressionBombError as exc:
        raise PreviewError(f"image too large to decode safely ({exc})") from None
    except FileNotFoundError:
        raise PreviewError("file vanished", transient=True) from None
    except PermissionError:
        raise PreviewError("file is not readable (permission denied)", transient=True) from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise PreviewError(f"not a readable image ({exc})") from None
    fmt = img.format or "?"
    w, h = img.size
    if w * h > max_pixels:
        raise PreviewError(
            f"image too large: {w}x{h} = {w * h / 1e6:.0f} MP exceeds the limit of "
            f"{max_pixels / 1e6:.0f} MP (decompression-bomb guard)"
        )
    try:
        if fmt == "JPEG":
            # The box of the largest preview itself: a square box would ask for a short side
            # of `largest` and leave a 12 MP 4:3 photo undecimated.
            img.draft("RGB", fit((w, h), largest))
        img.load()
        if fmt != "HEIF":
            # in place: a copy of every upright photo (orientation 1) cost ~4 % of extract
            exif_orientation = img.getexif().get(0x0112)
            if exif_orientation:
                ImageOps.exif_transpose(img, in_place=True)
            elif orientation_hint and orientation_hint > 1:
                img.getexif()[0x0112] = orientation_hint
                img.info.pop("exif", None)
                ImageOps.exif_transpose(img, in_place=True)
        img = _flatten(img)
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise PreviewError(f"image data is broken ({exc})") from None
    return img, fmt


def _to_vips(img: Image.Image) -> pyvips.Image:
    return pyvips.Image.new_from_memory(_packed(img), img.width, img.height, 3, "uchar")


def _packed(img: Image.Image) -> bytes | bytearray:
    """`img.tobytes()` (RGB), packed straight into one buffer: tobytes() keeps its chunks and
    joins them, two copies of the pixels at once (48 MB beside an 8 MP decode's 32)."""
    getencoder = getattr(Image, "_getencoder", None)  # tobytes()'s own, private API: a
    block = getattr(ImageFile, "MAXBLOCK", None)  # Pillow without them gets tobytes()
    if getencoder is None or block is None:
        return img.tobytes()
    encoder = getencoder(img.mode, "raw", img.mode)
    out = bytearray(img.width * img.height * 3)
    view = memoryview(out)
    try:
        encoder.setimage(img.im, (0, 0, *img.size))
        pos, errcode = 0, 0
        while not errcode:
            _, errcode, data = encoder.encode(max(block, img.width * 4))
            view[pos : pos + len(data)] = data
            pos += len(data)
        if errcode < 0 or pos != len(out):
            raise PreviewError(f"image data is broken (encoder error {errcode})")
    finally:
        encoder.cleanup()
    return out


def _to_pillow(img: pyvips.Image) -> Image.Image:
    return Image.frombuffer(
        "RGB", (img.width, img.height), img.write_to_memory(), "raw", "RGB", 0, 1
    )


def make_previews(
    img: Image.Image,
    sizes: list[int],
    save: Callable[[int, Callable[[Path], None]], None],
) -> Image.Image:
    """Write each size with `save(size, writer)`, each from the previous one; return the last.

    `img` is RGB (`open_oriented`) and is consumed (closed) when it is reduced, so a large
    image is not held twice. Each size is libvips's Lanczos resize of the previous one to the
    exact pixel size `fit` gives."""
    first = fit(img.size, sizes[0])
    factor = min(img.width / first[0], img.height / first[1])
    if factor >= 4:
        # What draft mode could not do (PNG, TIFF, HEIC, a JPEG far larger than 8x): Pillow's
        # reduce() (whole blocks averaged, cheap) to >= 2x the preview first, as
        # `thumbnail(reducing_gap=2)` did, and the full-size pixels are let go before they
        # are copied for libvips.
        reduced = img.reduce(int(factor // 2))
        img.close()
        img = reduced
    current, pixels = img, None
    for size in sizes:
        w, h = current.size
        target = fit((w, h), size)
        if target != (w, h):
            if pixels is None:
                source = _to_vips(current)
                # Its pixels are copied for libvips, and its writer ran: let the decode go
                # before the resize (an 8 MP photo's is 32 MB), not when the previews end.
                current.close()
            else:
                source = pixels
            # copy_memory: computed once here, not again as the next size's input
            pixels = source.resize(target[0] / w, vscale=target[1] / h).copy_memory()
            del source  # the copy of the decode (and the previous size): not kept for the save
            current = _to_pillow(pixels)
            if current.size != target:  # libvips rounds; the sizes are a contract
                current = current.resize(target, Image.Resampling.BICUBIC)
                pixels = None

        def writer(tmp: Path, current: Image.Image = current) -> None:
            current.save(tmp, "JPEG", quality=QUALITY, optimize=False)

        save(size, writer)
    return current
