"""Dominant colours: a tiny palette of the smallest preview, for placeholders while loading."""

from __future__ import annotations

from PIL import Image


def palette(img: Image.Image, count: int = 4) -> list[str]:
    """Up to `count` '#rrggbb' colours, most frequent first (median cut on <=64 px)."""
    small = img.convert("RGB")
    if max(small.size) > 64:
        small = small.copy()
        small.thumbnail((64, 64))
    quant = small.quantize(colors=count, method=Image.Quantize.MEDIANCUT)
    pal = quant.getpalette() or []
    used = sorted(quant.getcolors() or [], reverse=True)
    return ["#{:02x}{:02x}{:02x}".format(*pal[index * 3 : index * 3 + 3]) for _count, index in used]
