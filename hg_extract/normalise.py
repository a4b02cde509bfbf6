"""Pure: one file's raw exiftool JSON (`-j -n`) -> the normalised per-file `meta` of the contract.

The raw JSON stays in storage (`-exif.json`); this is the small, versioned part hg-build
reads (`-meta.json`), so a `hg-build --rebuild` never needs exiftool. With `-n` exiftool
prints numbers as numbers (GPS in signed degrees, exposure in seconds), which keeps this
mapping free of string parsing.
"""

from __future__ import annotations

from typing import Any

from hg_common.filetypes import HEIF_MIMES
from hg_common.layout import META_VERSION

DATE_KEYS = ("GPSDateTime", "SubSecDateTimeOriginal", "DateTimeOriginal", "CreateDate")
OFFSET_KEYS = ("OffsetTimeOriginal", "OffsetTime", "OffsetTimeDigitized", "TimeZone")
TAG_KEYS = ("TagsList", "HierarchicalSubject", "Keywords", "Subject")
# exiftool -n prints an AVCHD clip's make (H.264 MDPM) as its code: Image::ExifTool::H264's names
H264_MAKES = {0x0103: "Panasonic", 0x0108: "Sony", 0x1011: "Canon", 0x1104: "JVC"}


def _first(raw: dict[str, Any], *keys: str) -> Any:
    for key in keys:
        value = raw.get(key)
        if value not in (None, "", "unknown", "Unknown"):
            return value
    return None


def _number(value: Any) -> float | int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return value
    if isinstance(value, str):
        try:
            return float(value.strip().split()[0])
        except (ValueError, IndexError):
            return None
    return None


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, list):
        value = " ".join(str(v) for v in value)
    text = str(value).strip()
    return text or None


def _make(value: Any) -> str | None:
    """A camera make is a name: a number is an H.264 make code (unknown ones: no make)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return H264_MAKES.get(int(value))
    return _text(value)


def _valid_date(value: Any) -> bool:
    return isinstance(value, str) and len(value) >= 10 and not value.startswith("0000")


def dates(raw: dict[str, Any]) -> dict[str, str]:
    """The dates hg-build chooses from, as exiftool prints them, plus `offset` when known."""
    found = {k: raw[k] for k in DATE_KEYS if _valid_date(raw.get(k))}
    offset = _first(raw, *OFFSET_KEYS)
    if isinstance(offset, str) and offset[:1] in "+-":
        found["offset"] = offset
    return found


def tags(raw: dict[str, Any]) -> list[str]:
    """TagsList, HierarchicalSubject, Keywords, Subject: one list, first spelling wins."""
    out: list[str] = []
    seen: set[str] = set()
    for key in TAG_KEYS:
        value = raw.get(key)
        for item in value if isinstance(value, list) else [value] if value is not None else []:
            text = str(item).strip()
            if text and text.lower() not in seen:
                seen.add(text.lower())
                out.append(text)
    return out


def _coordinate(raw: dict[str, Any], key: str, negative_ref: str) -> float | None:
    value = _number(raw.get(key))
    if value is None:
        return None
    ref = str(raw.get(f"{key}Ref", "")).upper()[:1]
    if value > 0 and ref == negative_ref:
        value = -value
    return round(float(value), 7)


def gps(raw: dict[str, Any]) -> dict[str, float | None]:
    lat = _coordinate(raw, "GPSLatitude", "S")
    lon = _coordinate(raw, "GPSLongitude", "W")
    if lat is None or lon is None or not (-90 <= lat <= 90 and -180 <= lon <= 180):
        lat = lon = None
    elif lat == 0 and lon == 0:
        lat = lon = None  # "0 0" is a camera without a fix, not the Gulf of Guinea
    alt = _number(raw.get("GPSAltitude")) if lat is not None else None
    if alt is not None:
        ref = raw.get("GPSAltitudeRef")
        if ref in (1, "1") and alt > 0:
            alt = -alt
        alt = round(float(alt), 2)
    return {"latitude": lat, "longitude": lon, "altitude": alt}


def normalise(raw: dict[str, Any]) -> dict[str, Any]:
    """The contract's per-file meta; absent values are None (lists are empty)."""
    orientation = None if _first(raw, "MIMEType") in HEIF_MIMES else _number(raw.get("Orientation"))
    rotation = _number(raw.get("Rotation"))
    meta: dict[str, Any] = {
        "v": META_VERSION,
        "mime": _first(raw, "MIMEType"),
        "width": _number(_first(raw, "ImageWidth", "ExifImageWidth", "SourceImageWidth")),
        "height": _number(_first(raw, "ImageHeight", "ExifImageHeight", "SourceImageHeight")),
        "orientation": int(orientation) if orientation in range(1, 9) else None,
        "rotation": int(rotation) if rotation is not None else None,
        "duration": _number(_first(raw, "Duration", "MediaDuration", "TrackDuration")),
        "dates": dates(raw),
        "make": _make(_first(raw, "Make")),
        "model": _text(_first(raw, "Model")),
        "lens": _text(_first(raw, "LensModel", "Lens", "LensInfo")),
        "iso": _number(_first(raw, "ISO", "ISOSpeed")),
        "aperture": _number(_first(raw, "FNumber", "ApertureValue", "Aperture")),
        "exposure": _number(_first(raw, "ExposureTime", "ShutterSpeedValue", "ShutterSpeed")),
        "focal_length": _number(_first(raw, "FocalLength")),
        **gps(raw),
        "tags": tags(raw),
        "description": _text(_first(raw, "ImageDescription", "Description", "Caption-Abstract")),
        "title": _text(_first(raw, "Title", "ObjectName", "XPTitle")),
        "rating": _number(_first(raw, "Rating")),
    }
    if raw.get("Error"):
        meta["error"] = str(raw["Error"])
    return meta
