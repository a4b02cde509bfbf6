"""Date taken, as HomeGallery picks it: pure functions over the per-file `meta.dates` dicts.

Order: XMP sidecars first, then the primary file, then the other sidecars; within each
file `GPSDateTime`, `SubSecDateTimeOriginal`, `DateTimeOriginal`, `CreateDate`. A date of
`0000:00:00` is invalid. Unlike HomeGallery (which turns a date without a zone into UTC in
the build machine's zone) hg keeps the photo's wall-clock time: a date with a zone keeps
it, a date without one stays naive, and a file's `offset` (OffsetTimeOriginal) supplies
the zone when the value has none. The result is an ISO 8601 string.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

DATE_KEYS = ("GPSDateTime", "SubSecDateTimeOriginal", "DateTimeOriginal", "CreateDate")

_DATE = re.compile(
    r"^\s*(\d{4})\D(\d{2})\D(\d{2})[ T\D](\d{2})\D(\d{2})(?:\D(\d{2}))?(\.\d+)?"
    r"\s*(Z|[+-]\d{2}:?\d{2})?"
)
_OFFSET = re.compile(r"^\s*(Z|[+-]\d{2}:?\d{2})\s*$")


def parse_offset(value: Any) -> timezone | None:
    """`+01:00`, `-0500`, `Z` or minutes (int) to a timezone; anything else to None."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return timezone(timedelta(minutes=int(value))) if abs(value) < 24 * 60 else None
    match = _OFFSET.match(str(value))
    return _tz(match.group(1)) if match else None


def _tz(text: str) -> timezone | None:
    if text == "Z":
        return UTC
    sign = -1 if text[0] == "-" else 1
    digits = text[1:].replace(":", "")
    hours, minutes = int(digits[:2]), int(digits[2:])
    if hours > 23 or minutes > 59:
        return None
    return timezone(sign * timedelta(hours=hours, minutes=minutes))


def parse_date(value: Any, offset: timezone | None = None) -> datetime | None:
    """An exiftool date (`2021:07:04 12:34:56.12+02:00`) to a datetime; None if invalid."""
    if not isinstance(value, str):
        return None
    if (
        len(value) == 19
        and value[4] == value[7] == value[13] == value[16] == ":"
        and value[10] == " "
        and value.isascii()
    ):  # fast path for exiftool's usual `YYYY:MM:DD HH:MM:SS` (no fraction, no zone)
        digits = value[0:4] + value[5:7] + value[8:10] + value[11:13] + value[14:16] + value[17:]
        if digits.isdigit():
            try:  # all digits, so this reads exactly those six numbers (and checks ranges)
                dt = datetime.fromisoformat(
                    f"{value[0:4]}-{value[5:7]}-{value[8:10]}T{value[11:19]}"
                )
            except ValueError:  # 0000:00:00, month 13, ...
                return None
            return dt.replace(tzinfo=offset) if offset is not None else dt
    match = _DATE.match(value)
    if not match:
        return None
    year, month, day, hour, minute, second, frac, zone = match.groups()
    try:
        micro = int(round(float(frac) * 1_000_000)) if frac else 0
        fields = (int(v) for v in (year, month, day, hour, minute, second or 0))
        dt = datetime(*fields, min(micro, 999_999))
    except ValueError:  # 0000:00:00, month 13, ...
        return None
    tz = _tz(zone) if zone else None
    if tz is not None:
        dt = dt.replace(tzinfo=tz)
        # A UTC value (GPSDateTime) is shown in the file's own zone when that is known.
        return dt.astimezone(offset) if offset is not None and tz is UTC else dt
    return dt.replace(tzinfo=offset) if offset is not None else dt


def date_from_meta(dates: Mapping[str, Any] | None) -> datetime | None:
    """The first valid date of one file's `meta.dates`, in HomeGallery's key order."""
    if not dates:
        return None
    offset = dates.get("offset")
    offset = None if offset is None else parse_offset(offset)
    for key in DATE_KEYS:
        value = dates.get(key)
        if value is not None:
            dt = parse_date(value, offset)
            if dt is not None:
                return dt
    return None


def pick_date(metas_in_priority: Iterable[Mapping[str, Any] | None]) -> datetime | None:
    """The first file (already in priority order) that has a valid date wins."""
    for meta in metas_in_priority:
        dt = date_from_meta((meta or {}).get("dates"))
        if dt is not None:
            return dt
    return None


def from_mtime(mtime: float) -> datetime:
    """The fallback: the file's modification time, in UTC."""
    return datetime.fromtimestamp(mtime, UTC)


def iso(dt: datetime) -> str:
    """ISO 8601 with seconds (and milliseconds when present); `Z` for UTC."""
    text = dt.isoformat(timespec="milliseconds") if dt.microsecond else dt.isoformat()
    if dt.tzinfo is not None and text.endswith("+00:00"):
        return text[:-6] + "Z"
    return text


def sort_key(dt: datetime) -> float:
    """Epoch seconds for ordering; a naive date counts as UTC (its wall clock). The same
    float as `.timestamp()` (which subtracts the epoch too), a few times faster."""
    return (dt - (_EPOCH if dt.tzinfo is not None else _EPOCH_NAIVE)).total_seconds()


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_EPOCH_NAIVE = datetime(1970, 1, 1)
