"""Pure shaping of hg-build's media records into what the web app needs: grid items, detail.

A grid item carries only what the timeline lays out and paints: id, date, type, size (for
the aspect ratio), the dominant colour and the preview sizes that exist. Preview files
follow the storage layout `<stem>-image-preview-<size>.jpg` (`hg_common.layout`), so the
item sends the stem once and the sizes; the browser picks the size for the row height and
pixel ratio.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from hg_common.layout import split_preview

GRID_FIELDS = (
    *("date", "media_type", "width", "height", "colors", "previews", "duration"),
    *("city", "country"),  # the place, for the tile's accessible name
)
"""The fields of a media record that `grid_item` reads (all that a grid page fetches)."""


def preview_sizes(previews: Iterable[str]) -> tuple[str | None, list[int]]:
    """(stem, sizes largest first) of the image previews; (None, []) when there are none."""
    stem, sizes = None, []
    for path in previews or ():
        found = split_preview(path)
        if found and (stem is None or found[0] == stem):
            stem = found[0]
            sizes.append(found[1])
    return stem, sorted(sizes, reverse=True)


def grid_item(media: Mapping[str, Any]) -> dict[str, Any]:
    stem, sizes = preview_sizes(media.get("previews") or [])
    colors = media.get("colors") or []
    item = {
        "id": media["id"],
        "date": media.get("date"),
        "type": media.get("media_type"),
        "w": media.get("width") or 0,
        "h": media.get("height") or 0,
        "color": colors[0] if colors else None,
        "preview": stem,
        "sizes": sizes,
    }
    if media.get("duration"):
        item["duration"] = round(float(media["duration"]), 1)
    place = ", ".join(p for p in (media.get("city"), media.get("country")) if p)
    if place:
        item["place"] = place
    return item


def detail(media: Mapping[str, Any], has_similar: bool = False) -> dict[str, Any]:
    """The whole media record for the detail view, plus preview stem/sizes."""
    out = {k: v for k, v in media.items() if k not in ("v",)}
    out["preview"], out["sizes"] = preview_sizes(media.get("previews") or [])
    out["type"] = media.get("media_type")
    out["has_similar"] = has_similar
    out.setdefault("faces", [])
    out.setdefault("objects", [])
    return out
