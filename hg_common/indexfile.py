"""The per-source index file: NDJSON, versioned, written atomically, read as a stream.

Layout (one JSON object per line)::

    {"type":"hg/file-index","version":1,"source":"pictures","root":"/abs/dir","created":"…"}
    {"path":"2021/a.jpg","size":123,"mtime_ns":…,"inode":…,"checksum":"<blake3 hex>"}
    …                                  (entries in walk order: see hg_index.walk)
    {"type":"hg/file-index-end","count":N}

The trailer makes a truncated file detectable and gives the entry count without reading the
file. A new index is written to a temp file in the same folder, fsynced and renamed over the
old one, so a killed run leaves the previous index intact.

Deferred commit (`hg-index --defer-commit`): the new index is renamed to `<name>.next`
instead, beside the committed one, and only `commit_pending` (`hg-index commit`, run by the
import loop after hg-extract and hg-build succeeded) moves it over the index. Until then the
next run still compares against the committed index, so a chunk whose downstream stages failed
is offered again instead of being lost.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import orjson

from hg_common.errors import ConfigError
from hg_common.home import INDEX_SUFFIX, PENDING_SUFFIX
from hg_common.ndjson import dumps
from hg_common.records import versioned_header

INDEX_TYPE = "hg/file-index"
END_TYPE = "hg/file-index-end"
INDEX_VERSION = 1


class IndexFormatError(ConfigError):
    """An index file hg cannot read (unknown version, truncated, not an index)."""


def _header(path: Path, line: bytes) -> dict[str, Any]:
    header = versioned_header(line, INDEX_TYPE)
    if header is None:
        raise IndexFormatError(f"{path} is not an hg file index")
    if header.get("version") != INDEX_VERSION:
        raise IndexFormatError(
            f"{path} has index version {header.get('version')!r}, this hg reads version "
            f"{INDEX_VERSION}: re-create it (move it away and run hg-index again)"
        )
    return header


def _trailer(path: Path, fh: IO[bytes]) -> int:
    """The entry count from the trailer line, checking the file is complete."""
    fh.seek(0, os.SEEK_END)
    end = fh.tell()
    fh.seek(max(0, end - 4096))
    last = fh.read().rstrip(b"\n").rsplit(b"\n", 1)[-1]
    try:
        trailer = orjson.loads(last)
    except orjson.JSONDecodeError:
        trailer = None
    if not isinstance(trailer, dict) or trailer.get("type") != END_TYPE:
        raise IndexFormatError(f"{path} is truncated (no end line): re-create it")
    return int(trailer["count"])


def read_count(path: Path) -> int:
    """Number of entries in an index (0 when it does not exist yet)."""
    try:
        with open(path, "rb") as fh:
            _header(path, fh.readline())
            return _trailer(path, fh)
    except FileNotFoundError:
        return 0


def read_header(path: Path) -> dict[str, Any] | None:
    try:
        with open(path, "rb") as fh:
            return _header(path, fh.readline())
    except FileNotFoundError:
        return None


def read_entries(path: Path) -> Iterator[dict[str, Any]]:
    """Stream the entries of an index (nothing when it does not exist yet)."""
    try:
        fh = open(path, "rb")
    except FileNotFoundError:
        return
    with fh:
        _header(path, fh.readline())
        _trailer(path, fh)
        fh.seek(0)
        fh.readline()
        for line in fh:
            record = orjson.loads(line)
            if record.get("type") == END_TYPE:
                return
            yield record


def pending_path(path: Path) -> Path:
    """Where a deferred run leaves the new index of `path` until `hg-index commit`."""
    return path.with_name(path.name + PENDING_SUFFIX)


def _fsync_dir(folder: Path) -> None:
    dir_fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def index_files(index_dir: Path) -> list[Path]:
    """The committed index files of an index folder, one per source, sorted."""
    if not index_dir.is_dir():
        return []
    return sorted(index_dir.glob(f"*{INDEX_SUFFIX}"))


def pending_indexes(index_dir: Path) -> list[Path]:
    """The `.next` files waiting in an index folder."""
    if not index_dir.is_dir():
        return []
    return sorted(index_dir.glob(f"*{INDEX_SUFFIX}{PENDING_SUFFIX}"))


def discard_pending(index_dir: Path) -> list[Path]:
    """Delete stale `.next` files (a pipeline that failed before `hg-index commit`): their
    files stay unknown, so this run offers them again."""
    stale = pending_indexes(index_dir)
    for path in stale:
        path.unlink(missing_ok=True)
    return stale


def commit_pending(index_dir: Path) -> list[Path]:
    """Rename every `<name>.ndjson.next` over `<name>.ndjson`; returns the committed indexes.
    Each rename is atomic; a pending file that is not a complete index is refused."""
    committed = []
    for path in pending_indexes(index_dir):
        target = path.with_name(path.name[: -len(PENDING_SUFFIX)])
        with open(path, "rb") as fh:  # a torn file must never become the index
            _header(path, fh.readline())
            _trailer(path, fh)
        os.replace(path, target)
        committed.append(target)
    if committed:
        _fsync_dir(index_dir)
    return committed


class IndexWriter:
    """Writes a new index beside the old one; `commit()` makes it the index atomically
    (or, with `defer`, the pending `<name>.next` that `commit_pending` promotes later)."""

    def __init__(self, path: Path, source: str, root: str, defer: bool = False) -> None:
        self.path = pending_path(path) if defer else path
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        self._tmp = Path(tmp)
        self._fh = os.fdopen(fd, "wb", buffering=1 << 20)
        self.count = 0
        header = {
            "type": INDEX_TYPE,
            "version": INDEX_VERSION,
            "source": source,
            "root": root,
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        self._fh.write(dumps(header))

    def write(self, entry: dict[str, Any]) -> None:
        try:
            self._fh.write(dumps(entry))
        except OSError as exc:
            raise self._named(exc) from None
        self.count += 1

    def commit(self) -> None:
        try:
            self._fh.write(dumps({"type": END_TYPE, "count": self.count}))
            self._fh.flush()
            os.fsync(self._fh.fileno())
            self._fh.close()
        except OSError as exc:
            raise self._named(exc) from None
        os.replace(self._tmp, self.path)
        _fsync_dir(self.path.parent)

    def _named(self, exc: OSError) -> OSError:
        """A write error naming the index being written (a full disk says where)."""
        return OSError(exc.errno, exc.strerror, str(self.path))

    def discard(self) -> None:
        if not self._fh.closed:
            try:
                self._fh.close()
            except OSError:  # the buffer cannot be flushed (a full disk): dropped anyway
                pass
        self._tmp.unlink(missing_ok=True)
