"""Media type by file extension: HomeGallery's lists (common/src/fs/file-types.ts).

Only `image`, `rawImage` and `video` files make gallery entries; `meta` (XMP) files add
metadata to the entry of their sidecar group; other files are listed but never primary.
"""

from __future__ import annotations

import re

_TYPES = {
    "image": "ico bmp gif png jpg jpeg jpe tif tiff thm webp avif",
    "rawImage": "arw cr2 cr3 crw dng gpr heic heif mrw nef nrw orf raf rw2 sr2 srf srw",
    "video": "avi wmv mov mpg mpeg mp4 m4v 3gp mjpeg mts flv swf webm mkv",
    "meta": "xmp",
}
_BY_EXT = {ext: kind for kind, exts in _TYPES.items() for ext in exts.split()}
_EXT = re.compile(r"\.(\w{2,5})$")

MEDIA_TYPES = ("image", "rawImage", "video")


def file_type(path: str) -> str:
    """`2021/IMG_1.CR2` -> `rawImage`; unknown extensions -> `unknown`."""
    match = _EXT.search(path)
    return _BY_EXT.get(match.group(1).lower(), "unknown") if match else "unknown"


def is_media(kind: str) -> bool:
    return kind in MEDIA_TYPES
