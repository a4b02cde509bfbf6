"""Query values to numbers: file sizes (`2MB`), durations (`'1:30'`), ratios, radii. Pure."""

from __future__ import annotations

import re
from datetime import date

from hg_build.query.ast import Value
from hg_build.query.errors import QueryError

_SIZE = re.compile(r"^(\d+(?:\.\d+)?)\s*([kmgt]?)(b?)$", re.IGNORECASE)
_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}
_DIST = re.compile(r"^(\d+(?:\.\d+)?)\s*(km|m)?$", re.IGNORECASE)
RATIOS = {"panorama": (">", 2.0), "landscape": (">", 1.0), "square": ("=", 1.0),
          "portrait": ("<", 1.0)}  # fmt: skip


def number(value: Value, what: str = "a number") -> float:
    try:
        return float(value.text)
    except ValueError:
        raise QueryError(f"expected {what}, got {value.text!r}", value.pos) from None


def filesize(value: Value) -> int:
    """`2MB`, `1k`, `1024` (binary units, as HomeGallery)."""
    match = _SIZE.match(value.text.strip())
    if not match:
        raise QueryError(f"expected a file size like 2MB or 500k, got {value.text!r}", value.pos)
    return int(float(match.group(1)) * _UNITS[match.group(2).lower()])


def duration(value: Value) -> float:
    """Seconds from `90`, `'1:30'` or `'1:02:03'`."""
    parts = value.text.strip().split(":")
    try:
        nums = [float(p) for p in parts]
    except ValueError:
        nums = []
    if not nums or len(nums) > 3:
        raise QueryError(f"expected a duration like 90 or '1:30', got {value.text!r}", value.pos)
    total = 0.0
    for n in nums:
        total = total * 60 + n
    return total


def ratio(value: Value) -> tuple[str | None, float]:
    """(`op` for a named ratio or None, the ratio): `landscape`, `1.5` or `3/4`."""
    text = value.text.strip().lower()
    if text in RATIOS:
        return RATIOS[text]
    try:
        if "/" in text:
            num, den = text.split("/", 1)
            return None, float(num) / float(den)
        return None, float(text)
    except (ValueError, ZeroDivisionError):
        raise QueryError(
            f"expected a ratio (1.5, 3/4, panorama, landscape, square, portrait), "
            f"got {value.text!r}",
            value.pos,
        ) from None


_MONTH_DAY = re.compile(r"^(\d{1,2})-(\d{1,2})$")


def month_day(value: Value) -> tuple[int, int]:
    """(month, day) of `today` (this computer's local date) or `MM-DD` (`12-06`, `2-29`)."""
    text = value.text.strip().lower()
    if text == "today":
        today = date.today()
        return today.month, today.day
    match = _MONTH_DAY.match(text)
    if match:
        month, day = int(match.group(1)), int(match.group(2))
        if 1 <= month <= 12 and 1 <= day <= _DAYS[month - 1]:
            return month, day
    raise QueryError(f"expected today or a month and day like 12-06, got {value.text!r}", value.pos)


_DAYS = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def distance_km(value: Value) -> float:
    """`10` (km), `10km`, `500m`."""
    match = _DIST.match(value.text.strip())
    if not match:
        raise QueryError(f"expected a radius like 10km or 500m, got {value.text!r}", value.pos)
    n = float(match.group(1))
    return n / 1000 if (match.group(2) or "km").lower() == "m" else n
