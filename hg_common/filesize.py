"""File sizes as people write them: `1024`, `5m`, `0.2GB`, `4M` (binary units, as HomeGallery)."""

from __future__ import annotations

import re

from hg_common.errors import ConfigError

_UNITS = {"": 1, "B": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40, "P": 1 << 50}
_PATTERN = re.compile(r"^(\d+(?:\.\d+)?)\s*(?:([KMGTP])B?|B)?$", re.IGNORECASE)


def parse_filesize(text: str) -> int:
    """Bytes for a size text; an invalid text is a ConfigError naming valid examples."""
    match = _PATTERN.match(text.strip())
    if not match:
        raise ConfigError(f"invalid file size {text!r}. Valid examples are: 1024, 5m, 0.2GB")
    number, unit = match.groups()
    return int(float(number) * _UNITS[(unit or "").upper()])


def format_filesize(size: float) -> str:
    """Human-readable binary size for logs (`1.5 MiB`)."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(size) < 1024 or unit == "TiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} TiB"
