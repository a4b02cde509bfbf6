"""Pure shaping of media dicts into what the web app needs: grid items, detail, summaries.

A grid item carries only what the timeline lays out and paints: id, date, type, size (for
the aspect ratio), the dominant colour and the preview sizes that exist. Preview files
follow the storage layout `<stem>-image-preview-<size>.jpg`, so the item sends the stem
once and the sizes; the browser picks the size for the row height and pixel ratio.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

_PREVIEW = re.compile(r"^(?P<stem>.+)-image-preview-(?P<size>\d+)\.jpg$")


def preview_sizes(previews: Iterable[str]) -> tuple[str | None, list[int]]:
    """(stem, sizes largest first) of the image previews; (None, []) when there are none."""
    stem, sizes = None, []
    for path in previews or ():
        m = _PREVIEW.match(path)
        if m and (stem is None or m["stem"] == stem):
            stem = m["stem"]
            sizes.append(int(m["size"]))
    return stem, sorted(sizes, reverse=True)


def grid_item(media: Mapping[str, Any]) -> dict[str, Any]:
    stem, sizes = preview_sizes(media.get("previews") or [])
    colors = media.get("colors") or []
    item = {
        "id": media["id"],
        "date": media.get("date"),
        "type": media.get("media_type") or media.get("type"),
        "w": media.get("width") or 0,
        "h": media.get("height") or 0,
        "color": colors[0] if colors else None,
        "preview": stem,
        "sizes": sizes,
    }
    if media.get("duration"):
        item["duration"] = round(float(media["duration"]), 1)
    return item


def detail(media: Mapping[str, Any]) -> dict[str, Any]:
    """The whole media dict for the detail view, plus preview stem/sizes; internals dropped."""
    out = {k: v for k, v in media.items() if k not in ("similarity", "extracted_tags", "ts")}
    out["preview"], out["sizes"] = preview_sizes(media.get("previews") or [])
    out["type"] = media.get("media_type") or media.get("type")
    out["has_similar"] = media.get("similarity") is not None
    out.setdefault("faces", [])
    out.setdefault("objects", [])
    return out


def years_summary(dates: Iterable[str | None]) -> list[dict[str, Any]]:
    """[{year, count, months: [{month, count}]}], newest year first."""
    months: Counter[tuple[int, int]] = Counter()
    for date in dates:
        if date and len(date) >= 7 and date[:4].isdigit() and date[5:7].isdigit():
            months[int(date[:4]), int(date[5:7])] += 1
    years: dict[int, dict[str, Any]] = {}
    for (year, month), count in sorted(months.items(), reverse=True):
        y = years.setdefault(year, {"year": year, "count": 0, "months": []})
        y["count"] += count
        y["months"].append({"month": month, "count": count})
    return list(years.values())


def tag_counts(tag_lists: Iterable[Iterable[str]]) -> list[dict[str, Any]]:
    """[{tag, count}] most used first, then by name."""
    counts: Counter[str] = Counter()
    for tags in tag_lists:
        counts.update(set(tags))
    return [{"tag": t, "count": c} for t, c in sorted(counts.items(), key=lambda x: (-x[1], x[0]))]
