"""Pure: the stream of hg-index records -> pass-through records and sidecar groups.

hg-index prints a folder's records contiguously (held adds come at the end) and reports every
group mate of a touched file, so consecutive file records of one (source, folder) are grouped
with `hg_index.sidecars.group_keys`, HomeGallery's rule. The largest media file of a group is
its primary; its checksum is the entry id. A primary that cannot be read gives way to the
next media file (`next_primary`), so a good `shadow.jpg` is not lost behind a broken, larger
`shadow.png`. Memory holds one folder's records.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from hg_extract.filetypes import MEDIA_TYPES, META, file_type
from hg_index import records
from hg_index.sidecars import group_keys

PASS_THROUGH = (records.REMOVE, records.MOVE, records.ERROR)


@dataclass(frozen=True)
class Group:
    """One future entry: file records (primary first, then by name) and the entry's type."""

    files: tuple[dict[str, Any], ...]
    media_type: str

    @property
    def primary(self) -> dict[str, Any]:
        return self.files[0]

    @property
    def id(self) -> str:
        return self.primary["checksum"]


@dataclass(frozen=True)
class Unsupported:
    """A group without any media file (a PDF, a text file): reported, no entry."""

    files: tuple[dict[str, Any], ...]


def folder_of(path: str) -> str:
    return path.rsplit("/", 1)[0] if "/" in path else ""


def name_of(path: str) -> str:
    return path.rsplit("/", 1)[-1]


def make_groups(files: list[dict[str, Any]]) -> Iterator[Group | Unsupported]:
    """The groups of one folder's file records, in order of their first name."""
    by_path = {f["path"]: f for f in files}  # the last record of a path wins
    keys = group_keys(name_of(p) for p in by_path)
    by_key: dict[str, list[dict[str, Any]]] = {}
    for path, rec in by_path.items():
        by_key.setdefault(keys[name_of(path)], []).append(rec)
    for members in sorted(by_key.values(), key=lambda g: min(name_of(f["path"]) for f in g)):
        media = [f for f in members if is_media(f)]
        if not media:
            if all(file_type(f["path"]) == META for f in members):
                continue  # an XMP whose photo is not in this input: nothing to show
            yield Unsupported(tuple(sorted(members, key=lambda f: f["path"])))
            continue
        yield _with_primary(members, media)


def _with_primary(members: list[dict[str, Any]], media: list[dict[str, Any]]) -> Group:
    primary = max(media, key=lambda f: (f.get("size") or 0, f["path"]))
    rest = sorted((f for f in members if f is not primary), key=lambda f: f["path"])
    return Group((primary, *rest), file_type(primary["path"]))


def next_primary(group: Group) -> Group | None:
    """The group without its primary (which could not be read), around the next media file;
    None when no media file is left (the rest cannot be an entry)."""
    rest = list(group.files[1:])
    media = [f for f in rest if is_media(f)]
    return _with_primary(rest, media) if media else None


def without(group: Group, checksums: set[str]) -> Group | None:
    """The group without the media files of these checksums (known failures), around the
    largest media file left; None when none is left."""
    rest = [f for f in group.files if f["checksum"] not in checksums or not is_media(f)]
    media = [f for f in rest if is_media(f)]
    return _with_primary(rest, media) if media else None


def is_media(rec: dict[str, Any]) -> bool:
    return file_type(rec["path"]) in MEDIA_TYPES


def group_records(
    stream: Iterable[dict[str, Any]],
) -> Iterator[dict[str, Any] | Group | Unsupported]:
    """Pass-through records as they come; groups when their folder's run of records ends.

    A `move` is both passed through (hg-build updates the path) and grouped (its entry is
    re-emitted; its outputs already exist, so that costs no extraction).
    """
    buffer: list[dict[str, Any]] = []
    key: tuple[str, str] | None = None
    for rec in stream:
        kind = rec.get("type")
        if kind in PASS_THROUGH:
            yield rec
        if kind not in records.FILE_TYPES or not rec.get("checksum"):
            if kind not in PASS_THROUGH:
                yield rec  # unknown record types pass through too
            continue
        rec_key = (rec.get("source", ""), folder_of(rec["path"]))
        if key is not None and rec_key != key:
            yield from make_groups(buffer)
            buffer = []
        key = rec_key
        buffer.append(rec)
    if buffer:
        yield from make_groups(buffer)
