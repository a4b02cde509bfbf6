"""The file-type table: a file's kind by its extension (lower-cased, the last one).

The one table every stage reads: hg-extract groups and extracts with it, hg-build types
the files of a rebuild and of an entry record that names none with it. HomeGallery's
`file-types.ts` lists, with these differences on purpose: HEIC/HEIF count as `image`
(Pillow decodes them through pillow-heif, no RAW path needed) and `hif` (Sony's HEIF)
joins them; `pef`, `x3f` (RAW) and `m2ts` (video) are added. Only `image`, `rawImage`
and `video` files can be an entry's primary; `meta` (XMP) files only ever describe
another file; other files are `unknown` and make no entry.
"""

from __future__ import annotations

IMAGE = "image"
RAW_IMAGE = "rawImage"
VIDEO = "video"
META = "meta"
UNKNOWN = "unknown"

_TYPES: dict[str, tuple[str, ...]] = {
    IMAGE: ("ico bmp gif png jpg jpeg jpe tif tiff thm webp avif heic heif hif".split()),
    RAW_IMAGE: "arw cr2 cr3 crw dng gpr mrw nef nrw orf raf rw2 sr2 srf srw pef x3f".split(),
    VIDEO: "avi wmv mov mpg mpeg mp4 m4v 3gp mjpeg mts m2ts flv swf webm mkv".split(),
    META: ("xmp",),
}
_BY_EXT = {ext: kind for kind, exts in _TYPES.items() for ext in exts}

MEDIA_TYPES = (IMAGE, RAW_IMAGE, VIDEO)
"""File types that can be the primary file of an entry."""


def extension(path: str) -> str:
    """The last extension, lower-cased, without the dot ('' when there is none)."""
    name = path.rsplit("/", 1)[-1]
    if "." not in name.lstrip("."):
        return ""
    return name.rsplit(".", 1)[-1].lower()


def file_type(path: str) -> str:
    """image, rawImage, video, meta or unknown."""
    return _BY_EXT.get(extension(path), UNKNOWN)


def is_media(kind: str) -> bool:
    """Whether a file of this type can be an entry's primary."""
    return kind in MEDIA_TYPES


_MIME_EXTS = {
    "image/jpeg": {"jpg", "jpeg", "jpe", "thm"},
    "image/png": {"png"},
    "image/gif": {"gif"},
    "image/tiff": {"tif", "tiff"},
    "image/webp": {"webp"},
    "image/heic": {"heic", "heif", "hif"},
    "image/heif": {"heic", "heif", "hif"},
    "image/avif": {"avif"},
    "image/bmp": {"bmp"},
}


def mime_mismatch(path: str, mime: str | None) -> str | None:
    """A warning when an image's content is not what its name says (a PNG named .jpg)."""
    ext = extension(path)
    expected = _MIME_EXTS.get(mime or "")
    if file_type(path) != IMAGE or expected is None or ext in expected:
        return None
    return f"content is {mime} but the name says .{ext}"


HEIF_MIMES = ("image/heic", "image/heif", "image/heic-sequence", "image/heif-sequence")
"""MIAF: a HEIF's EXIF Orientation is not applied (libheif turns it by its irot/imir boxes,
which exiftool reports as Rotation), so neither its previews nor its size follow it."""
