"""Sidecar groups and their primary file: the one rule of a live import and a rebuild.

An entry is a sidecar group: files of one folder that describe one photo (`IMG_1.CR2`,
`IMG_1.JPG`, `IMG_1.CR2.xmp`), grouped with HomeGallery's rule (`hg_common.sidecars`). Its
primary is the largest media file, of equal sizes the alphabetically last path; the
primary's checksum is the entry's id, and user edits are keyed by it, so every way to an
entry must pick the same file. A media file that failed (it has a failure memo, or it
failed just now) is never in an entry, and one that cannot be read is passed over as
primary: the next media file in that order is tried, so a good `shadow.jpg` is not lost
behind a broken, larger `shadow.png` (`entry_group`).

hg-extract groups its input with `group_records` and falls back with `next_primary` while
primaries fail; `hg-build --rebuild` groups the index (`index_records`) with the same
`group_records` and picks each primary with `entry_group` from what storage holds (a
primary needs its `-meta.json` and no memo), so both give an entry the same id and files.
Pure except `index_records`, which reads the index files. Memory holds one folder's records.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hg_common import records
from hg_common.filetypes import META, file_type
from hg_common.filetypes import is_media as is_media_type
from hg_common.indexfile import index_files, read_entries, read_header
from hg_common.sidecars import group_keys

PASS_THROUGH = (records.REMOVE, records.MOVE, records.ERROR)


@dataclass(frozen=True)
class Group:
    """One future entry: file records (primary first, then by path) and the entry's type."""

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


def is_media(rec: dict[str, Any]) -> bool:
    return is_media_type(file_type(rec["path"]))


def primary_rank(rec: dict[str, Any]) -> tuple[int, str]:
    """The primary is the file of the highest rank: the largest; of equal sizes the
    alphabetically last path (the rule hg-extract always had, so ids stay as they were)."""
    return rec.get("size") or 0, rec["path"]


def entry_group(
    members: Iterable[dict[str, Any]],
    failed: Collection[str] = (),
    readable: Callable[[dict[str, Any]], bool] | None = None,
) -> tuple[Group | None, list[dict[str, Any]]]:
    """The entry a sidecar group's files make, and the media files left out of it (by rank).

    Left out: media files whose checksum is in `failed`, and those above the primary that
    are not `readable` (None: all are). The group is None when no media file is left to be
    the primary; then every media file is left out.
    """
    members = list(members)
    media = sorted((f for f in members if is_media(f)), key=primary_rank, reverse=True)
    primary = None
    for f in media:
        if f["checksum"] not in failed and (readable is None or readable(f)):
            primary = f
            break
    if primary is None:
        return None, media
    top = primary_rank(primary)
    left_out = [f for f in media if f["checksum"] in failed or primary_rank(f) > top]
    out = {id(f) for f in left_out} | {id(primary)}
    rest = sorted((f for f in members if id(f) not in out), key=lambda f: f["path"])
    return Group((primary, *rest), file_type(primary["path"])), left_out


def next_primary(group: Group) -> Group | None:
    """The group without its primary (which could not be read), around the next media file;
    None when no media file is left (the rest cannot be an entry)."""
    return entry_group(group.files[1:])[0]


def make_groups(files: list[dict[str, Any]]) -> Iterator[Group | Unsupported]:
    """The groups of one folder's file records, in order of their first name."""
    by_path = {f["path"]: f for f in files}  # the last record of a path wins
    keys = group_keys(name_of(p) for p in by_path)
    by_key: dict[str, list[dict[str, Any]]] = {}
    for path, rec in by_path.items():
        by_key.setdefault(keys[name_of(path)], []).append(rec)
    for members in sorted(by_key.values(), key=lambda g: min(name_of(f["path"]) for f in g)):
        group, _ = entry_group(members)
        if group is not None:
            yield group
        elif not all(file_type(f["path"]) == META for f in members):
            yield Unsupported(tuple(sorted(members, key=lambda f: f["path"])))
        # else an XMP whose photo is not in this input: nothing to show


def group_records(
    stream: Iterable[dict[str, Any]],
) -> Iterator[dict[str, Any] | Group | Unsupported]:
    """Pass-through records as they come; groups when their folder's run of records ends.

    hg-index prints a folder's records contiguously (held adds come at the end) and reports
    every group mate of a touched file, so consecutive file records of one (source, folder)
    are one folder's. A `move` is both passed through (hg-build updates the path) and
    grouped (its entry is re-emitted; its outputs already exist, so that costs no work).
    A `flush` record ends the folder's run: its groups come before it.
    """
    buffer: list[dict[str, Any]] = []
    key: tuple[str, str] | None = None
    for rec in stream:
        kind = rec.get("type")
        if records.is_flush(rec):  # a barrier: the files before it are one chunk's
            if buffer:
                yield from make_groups(buffer)
            buffer, key = [], None
            yield rec
            continue
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


def index_records(index_dir: Path) -> Iterator[dict[str, Any]]:
    """Every indexed file of every source as a `file` record, in the index's walk order
    (folder by folder): what `hg-extract --all` and `hg-build --rebuild` group."""
    for path in index_files(index_dir):
        header = read_header(path)
        if header is None:
            continue
        for entry in read_entries(path):
            entry = {**entry, "mtime": entry.get("mtime_ns", 0) / 1e9}
            yield records.file_record(records.FILE, header["source"], header["root"], entry)
