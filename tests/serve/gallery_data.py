"""A real, small gallery for hg-serve's tests, made from ../shared/media.

INTERIM, until hg-extract and hg-build are merged: the real `hg-index` finds the files and
their checksums; metadata comes from the real exiftool, previews are written with Pillow
(and the video poster/transcode with the real ffmpeg) in the documented storage layout
`<storage>/C[0:2]/C[2:4]/C[4:]-image-preview-<size>.jpg`; the media dicts, in hg-build's
shape, are written as NDJSON to the database path (what hg_serve.gallery reads for now).
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from PIL import Image, ImageOps

from tests.conftest import run_tool

PREVIEW_SIZES = (1280, 800, 320, 128)
IMAGE_EXT = {".jpg", ".jpeg", ".png", ".webp"}
VIDEO_EXT = {".mp4", ".mov"}
EXIF_TAGS = [
    "-DateTimeOriginal",
    "-CreateDate",
    "-GPSLatitude",
    "-GPSLongitude",
    "-Make",
    "-Model",
    "-Subject",
    "-Duration",
    "-Rotation",
    "-ExposureTime",
    "-FNumber",
    "-ISO",
    "-FocalLength",
]


def storage_path(checksum: str, what: str) -> str:
    return f"{checksum[:2]}/{checksum[2:4]}/{checksum[4:]}-{what}"


def _atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    os.replace(tmp, path)


def _exif(paths: list[Path]) -> dict[str, dict]:
    if not paths:
        return {}
    out = subprocess.run(
        ["exiftool", "-json", "-n", *EXIF_TAGS, *map(str, paths)],
        capture_output=True,
        check=False,
    )
    return {str(Path(d["SourceFile"])): d for d in json.loads(out.stdout or b"[]")}


def _date(meta: dict, mtime: float) -> str:
    for key in ("DateTimeOriginal", "CreateDate"):
        value = str(meta.get(key) or "")
        if len(value) >= 19 and not value.startswith("0000"):
            return f"{value[:4]}-{value[5:7]}-{value[8:10]}T{value[11:19]}"
    return datetime.fromtimestamp(mtime, UTC).strftime("%Y-%m-%dT%H:%M:%S")


def _previews(img: Image.Image, checksum: str, storage: Path) -> tuple[list[str], list[str]]:
    img = img.convert("RGB")
    long_side = max(img.size)
    previews = []
    for size in PREVIEW_SIZES:
        if size > long_side and size != PREVIEW_SIZES[-1]:
            continue
        copy = img.copy()
        copy.thumbnail((size, size))
        rel = storage_path(checksum, f"image-preview-{size}.jpg")
        target = storage / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        copy.save(target, "JPEG", quality=80)
        previews.append(rel)
    r, g, b = img.resize((1, 1), Image.Resampling.BOX).getpixel((0, 0))
    return previews, [f"#{r:02x}{g:02x}{b:02x}"]


def _video(src: Path, checksum: str, storage: Path) -> tuple[Image.Image, str]:
    with tempfile.TemporaryDirectory() as tmp:
        poster = Path(tmp) / "poster.png"
        subprocess.run(
            ["ffmpeg", "-v", "error", "-y", "-i", str(src), "-frames:v", "1", str(poster)],
            check=True,
        )
        img = Image.open(poster)
        img.load()
    rel = storage_path(checksum, "video-720.mp4")
    target = storage / rel
    target.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-i", str(src), "-vf", "scale=-2:'min(720,ih)'",
         "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-an",
         "-movflags", "+faststart", "-f", "mp4", str(target)],
        check=True,
    )  # fmt: skip
    return img, rel


def import_media(src: Path, home: Path) -> list[dict]:
    """Index src (real hg-index), make previews for new files, merge into the database."""
    run = run_tool("hg-index", str(src), "--no-progress", home=home)
    assert run.returncode == 0, run.stderr
    storage, database = home / "storage", home / "gallery.db"
    adds = [r for r in run.records if r["type"] == "add"]
    by_path = {(Path(r["root"]) / r["path"]): r for r in adds}
    metas = _exif(list(by_path))
    xmp_tags = {
        str(p).split(".")[0]: metas.get(str(p), {}).get("Subject")
        for p in by_path
        if p.suffix == ".xmp"
    }
    entries = []
    for path, rec in sorted(by_path.items()):
        ext = path.suffix.lower()
        if ext not in IMAGE_EXT | VIDEO_EXT:
            continue
        meta = dict(metas.get(str(path), {}))
        sidecar = Path(str(path) + ".xmp")
        if str(sidecar) in metas:
            meta = {**meta, **{k: v for k, v in metas[str(sidecar)].items() if v}}
        tags = meta.get("Subject") or xmp_tags.get(str(path).split(".")[0]) or []
        checksum = rec["checksum"]
        video = None
        if ext in VIDEO_EXT:
            img, video = _video(path, checksum, storage)
        else:
            img = ImageOps.exif_transpose(Image.open(path))
        previews, colors = _previews(img, checksum, storage)
        lat, lon = meta.get("GPSLatitude"), meta.get("GPSLongitude")
        entries.append(
            {
                "id": checksum,
                "media_type": "video" if video else "image",
                "date": _date(meta, rec["mtime"]),
                "width": img.width,
                "height": img.height,
                "duration": meta.get("Duration"),
                "make": meta.get("Make"),
                "model": meta.get("Model"),
                "iso": meta.get("ISO"),
                "aperture": meta.get("FNumber"),
                "exposure": meta.get("ExposureTime"),
                "focal_length": meta.get("FocalLength"),
                "latitude": lat,
                "longitude": lon,
                "previews": previews,
                "video": video,
                "colors": colors,
                "tags": sorted(tags if isinstance(tags, list) else [str(tags)]),
                "files": [{"source": rec["source"], "path": rec["path"], "size": rec["size"]}],
                "filesize": rec["size"],
                "objects": [],
                "faces": [],
            }
        )
    old = []
    if database.exists():
        old = [json.loads(line) for line in database.read_text().splitlines() if line]
    known = {e["id"] for e in entries}
    merged = [e for e in old if e["id"] not in known] + entries
    _atomic_write(database, b"".join(json.dumps(e).encode() + b"\n" for e in merged))
    return entries
