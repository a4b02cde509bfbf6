"""A minimal stand-in for hg-extract, for hg-build's tests only: real exiftool, no previews.

It turns hg-index records into the `entry` records of the extract -> build contract
(docs/architecture.md), normalising `exiftool -json -n` output into the per-file `meta`
dict, and writes each file's `<checksum>-meta.json` into storage, as hg-extract does, so
`hg-build --rebuild` can be tested too. hg-extract owns the real normaliser; the file
types, groups and primaries, the entry record and the storage paths are hg-extract's own
(`hg_common`), so a test here sees what a live import would do.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from hg_common import layout
from hg_common.entry import entry_record
from hg_common.groups import Group, group_records

DATE_KEYS = ("GPSDateTime", "SubSecDateTimeOriginal", "DateTimeOriginal", "CreateDate")
TAG_KEYS = ("TagsList", "HierarchicalSubject", "Keywords", "Subject")


def exiftool(paths: list[Path]) -> dict[str, dict[str, Any]]:
    if not paths:
        return {}
    proc = subprocess.run(
        ["exiftool", "-json", "-n", "-charset", "filename=utf8", *map(str, paths)],
        capture_output=True,
        check=False,
    )
    return {d["SourceFile"]: d for d in json.loads(proc.stdout or b"[]")}


def _list(value: Any) -> list[str]:
    if value is None:
        return []
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


def normalise(exif: dict[str, Any]) -> dict[str, Any]:
    """exiftool -n tags -> the contract's per-file meta dict."""
    dates = {k: exif[k] for k in DATE_KEYS if isinstance(exif.get(k), str)}
    offset = exif.get("OffsetTimeOriginal") or exif.get("OffsetTime")
    if offset:
        dates["offset"] = offset
    tags: list[str] = []
    for key in TAG_KEYS:
        tags += [t for t in _list(exif.get(key)) if t not in tags]
    exposure = exif.get("ExposureTime")
    return {
        "v": layout.META_VERSION,
        "mime": exif.get("MIMEType"),
        "width": exif.get("ImageWidth"),
        "height": exif.get("ImageHeight"),
        "orientation": exif.get("Orientation"),
        "rotation": exif.get("Rotation"),
        "duration": exif.get("Duration"),
        "dates": dates,
        "make": exif.get("Make"),
        "model": exif.get("Model"),
        "lens": exif.get("LensModel") or exif.get("Lens"),
        "iso": exif.get("ISO"),
        "aperture": exif.get("FNumber") or exif.get("Aperture"),
        "exposure": exposure if isinstance(exposure, int | float) else None,
        "focal_length": exif.get("FocalLength"),
        "latitude": exif.get("GPSLatitude"),
        "longitude": exif.get("GPSLongitude"),
        "altitude": exif.get("GPSAltitude"),
        "tags": tags,
        "description": exif.get("ImageDescription") or exif.get("Description"),
        "title": exif.get("Title"),
        "rating": exif.get("Rating"),
    }


def extract(records: list[dict[str, Any]], storage: Path) -> list[dict[str, Any]]:
    """hg-index records -> entry records and the remove/move/error records passed through,
    in hg-extract's order."""
    out: list[dict[str, Any]] = []
    for item in group_records(records):
        if isinstance(item, dict):
            out.append(item)  # remove, move, error: passed through
        if not isinstance(item, Group):
            continue  # a record, or a group without a media file
        root = item.primary["root"]
        exif = exiftool([Path(root) / f["path"] for f in item.files])
        metas = {}
        for f in item.files:
            metas[f["checksum"]] = meta = normalise(exif.get(str(Path(root) / f["path"]), {}))
            target = storage / layout.relpath(f["checksum"], layout.META)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(json.dumps(meta))
        outputs = {"previews": [], "video": None, "colors": [], "address": None}
        out.append(entry_record(item, metas, [], **outputs))
    return out
