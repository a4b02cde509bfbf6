"""A minimal stand-in for hg-extract, for hg-build's tests only: real exiftool, no previews.

It turns hg-index records into the `entry` records of the extract -> build contract
(docs/architecture.md), normalising `exiftool -json -n` output into the per-file `meta`
dict, and writes each file's `<checksum>-meta.json` into storage, as hg-extract does, so
`hg-build --rebuild` can be tested too. hg-extract owns the real normaliser.
"""

from __future__ import annotations

import json
import subprocess
from collections import defaultdict
from pathlib import Path
from typing import Any

from hg_build.filetypes import file_type, is_media
from hg_index.sidecars import group_keys

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


def meta_path(storage: Path, checksum: str) -> Path:
    return storage / checksum[0:2] / checksum[2:4] / f"{checksum[4:]}-meta.json"


def extract(records: list[dict[str, Any]], storage: Path) -> list[dict[str, Any]]:
    """hg-index records -> entry records (plus remove/move/error passed through)."""
    out: list[dict[str, Any]] = []
    entries: list[dict[str, Any]] = []
    folders: dict[tuple[str, str, str], list[dict]] = defaultdict(list)
    for r in records:
        if r["type"] in ("add", "change", "file"):
            folders[(r["source"], r["root"], r["path"].rpartition("/")[0])].append(r)
        else:  # remove, move, error: passed through
            out.append(r)
    for (_source, root, _dir), files in folders.items():
        metas = exiftool([Path(root) / f["path"] for f in files])
        names = {f["path"].rsplit("/", 1)[-1]: f for f in files}
        groups: dict[str, list[dict]] = defaultdict(list)
        for name, key in group_keys(names).items():
            groups[key].append(names[name])
        for members in groups.values():
            media = [m for m in members if is_media(file_type(m["path"]))]
            if not media:
                continue
            primary = max(media, key=lambda m: (m["size"], [-ord(c) for c in m["path"]]))
            entry_files = []
            for m in members:
                meta = normalise(metas.get(str(Path(root) / m["path"]), {}))
                target = meta_path(storage, m["checksum"])
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(json.dumps(meta))
                entry_files.append(
                    {
                        **{k: m[k] for k in ("source", "root", "path", "size", "mtime")},
                        "checksum": m["checksum"],
                        "file_type": file_type(m["path"]),
                        "primary": m is primary,
                        "meta": meta,
                    }
                )
            entries.append(
                {
                    "type": "entry",
                    "v": 1,
                    "id": primary["checksum"],
                    "media_type": file_type(primary["path"]),
                    "files": entry_files,
                    "previews": [],
                    "video": None,
                    "colors": [],
                    "address": None,
                    "errors": [],
                }
            )
    return entries + out
