"""The send mode of `--cluster` (`[extract] cluster_transfer = "send"`): a Dask worker that
sees neither the originals nor the storage gets what a task reads with the task, and gives
back what it wrote.

hg-extract's machine packs a `Parcel` per task (`pack`): the bytes of the originals the
step opens (every file of a unit's groups: sidecars too, exiftool reads them; a video's
primary for its transcode; none for the ML step), with their mode and times, and of the
stored artefacts it reads (the small JSON files: metadata, colours, ML results; the RAW's
embedded preview or the video's poster only when the previews must be made again; the
preview the ML step analyses). Of the large artefacts a re-run only checks for (previews,
the web video) the parcel carries the names (`present`), not the bytes. The originals are
only read.

On the worker, in one of its extractor processes, `run` lays the parcel out in a temp
folder (originals under their relative paths, with their mode and mtime; a storage of
the artefacts), runs the step there on a `SentStorage` whose `exists` also knows the names
of `present` and which records what the step writes, in order, and returns the result (its
roots mapped back to hg-extract's paths) and the artefacts written, as bytes. Their JSON
names the originals as hg-extract's machine does (exiftool's SourceFile and Directory,
ffprobe's filename, and exiftool's access and inode change times of the original there),
so storage is the same as a local run's. hg-extract then writes them in that order, each
atomically (`write`): the previews before `-colors.json`, as the extractor does, so what
exists is complete even when a write fails half-way.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson

from hg_common import layout
from hg_common.groups import Group
from hg_extract import extractor
from hg_extract.extractor import PREVIEWS_MADE, GroupResult
from hg_extract.ml import step as ml
from hg_extract.storage import Storage

SOURCES = (layout.RAW_PREVIEW, layout.VIDEO_POSTER)
"""Stored images that previews are made from (sent only when the previews are made)."""


@dataclass(frozen=True)
class Original:
    """One original file as hg-extract's machine has it."""

    root: str
    path: str
    data: bytes
    mode: int
    atime_ns: int
    mtime_ns: int
    ctime: float


@dataclass(frozen=True)
class Parcel:
    """A task's argument with what it reads: originals, artefacts (`relpath` -> bytes) and
    the names of artefacts that exist in hg-extract's storage."""

    arg: Any
    originals: tuple[Original, ...] = ()
    stored: tuple[tuple[str, bytes], ...] = ()
    present: frozenset[str] = frozenset()


Artefacts = list[tuple[str, bytes]]
"""What a task wrote: (storage-relative path, bytes), in the order it wrote them."""


# -- hg-extract's side ---------------------------------------------------------------------


def pack(arg: Any, storage: Storage, force: bool = False) -> Parcel:
    """The parcel of a task's argument: a unit of groups (extract), a GroupResult
    (transcode) or a unit of ML tasks. An original or artefact that cannot be read is left
    out: the worker then fails on it as a local run would."""
    if isinstance(arg, GroupResult):  # the transcode reads the primary only
        return Parcel(arg, _originals([arg.group.primary]))
    if isinstance(arg, list) and all(isinstance(t, ml.MLTask) for t in arg):
        return Parcel(arg, stored=tuple(_read(storage.root, t.preview) for t in arg))
    groups = [g for g in arg if isinstance(g, Group)]
    files = [f for g in groups for f in g.files]
    stored: list[tuple[str, bytes | None]] = []
    present: set[str] = set()
    if not force:  # --force reads nothing stored
        for checksum in dict.fromkeys(f["checksum"] for f in files):
            names = layout.stored(storage.root, checksum)
            remake = not PREVIEWS_MADE <= names
            for what in sorted(names):
                rel = layout.relpath(checksum, what)
                if what.endswith(".json") or (remake and what in SOURCES):
                    stored.append(_read(storage.root, rel))
                else:
                    present.add(rel)
    return Parcel(
        arg,
        _originals(files),
        tuple((rel, data) for rel, data in stored if data is not None),
        frozenset(present),
    )


def _originals(files: Any) -> tuple[Original, ...]:
    out = []
    for rec in files:
        path = os.path.join(rec["root"], rec["path"])
        try:
            with open(path, "rb") as f:
                st = os.fstat(f.fileno())
                data = f.read()
        except OSError:
            continue
        out.append(
            Original(rec["root"], rec["path"], data, st.st_mode, st.st_atime_ns, st.st_mtime_ns,
                     st.st_ctime)
        )  # fmt: skip
    return tuple(out)


def _read(root: Path, rel: str) -> tuple[str, bytes | None]:
    try:
        return rel, (Path(root) / rel).read_bytes()
    except OSError:
        return rel, None


def write(storage: Storage, artefacts: Artefacts) -> None:
    """A task's artefacts into hg-extract's storage, in the order the task wrote them,
    each atomically (temp + rename)."""
    for rel, data in artefacts:
        parsed = layout.parse(rel)
        if parsed is None:  # not an artefact's name: never written outside the storage
            raise ValueError(f"a cluster task returned {rel!r}, which is no artefact")
        storage.write_bytes(*parsed, data)


# -- the worker's side (in an extractor process of a Dask worker) ---------------------------


class SentStorage(Storage):
    """The task's temp storage: `exists` also says yes for what hg-extract's storage has
    (`present`); `written` lists what the task wrote, in order."""

    def __init__(self, root: Path, present: frozenset[str]) -> None:
        super().__init__(root)
        self.present = present
        self.written: dict[str, None] = {}

    def exists(self, checksum: str, what: str) -> bool:
        return layout.relpath(checksum, what) in self.present or super().exists(checksum, what)

    @contextmanager
    def atomic(self, checksum: str, what: str) -> Iterator[Path]:
        with super().atomic(checksum, what) as tmp:
            yield tmp
        rel = layout.relpath(checksum, what)
        self.written.pop(rel, None)  # written again: its place is the last write's
        self.written[rel] = None


def run(job: tuple[Callable[[Any], Any], Parcel]) -> tuple[Any, Artefacts]:
    """`fn(parcel.arg)` on the parcel laid out in a temp folder (a pool task: runs in the
    extractor process, whose Extractor it lends the temp storage)."""
    fn, parcel = job
    from hg_extract.cluster import PathMap

    assert extractor._extractor is not None, "init_worker was not called"
    with tempfile.TemporaryDirectory(prefix="hg-cluster-") as tmp:
        roots = {root: f"{tmp}/o{n:03}" for n, root in enumerate(_roots(parcel.arg))}
        for original in parcel.originals:
            _lay_out(Path(roots[original.root]) / original.path, original)
        storage = SentStorage(Path(tmp) / "storage", parcel.present)
        for rel, data in parcel.stored:
            target = storage.root / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        paths = PathMap(list(roots.items()))
        own, extractor._extractor.storage = extractor._extractor.storage, storage
        try:
            result = paths.reverse().convert(fn(paths.convert(parcel.arg)))
        finally:
            extractor._extractor.storage = own
        fix = _Fixer(roots, parcel.originals)
        result = fix.sentences(result)
        artefacts = []
        for rel in storage.written:
            try:
                data = (storage.root / rel).read_bytes()
            except FileNotFoundError:  # written, then taken back (`ml.step._store`)
                continue
            artefacts.append((rel, fix(rel, data)))
        return result, artefacts


def _roots(arg: Any) -> list[str]:
    """The originals' roots a task's argument names, in order."""
    if isinstance(arg, GroupResult):
        arg = [arg.group]
    roots: dict[str, None] = {}
    for item in arg if isinstance(arg, list) else [arg]:
        if isinstance(item, Group):
            roots.update((f["root"], None) for f in item.files if "root" in f)
        elif isinstance(item, ml.MLTask) and "root" in item.file:
            roots[item.file["root"]] = None
    return list(roots)


def _lay_out(target: Path, original: Original) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(original.data)
    os.chmod(target, original.mode & 0o7777)
    os.utime(target, ns=(original.atime_ns, original.mtime_ns))


class _Fixer:
    """The temp folder's paths in a JSON artefact back to hg-extract's (exiftool's
    SourceFile and Directory, ffprobe's filename), and exiftool's times of the original
    that the copy cannot have (its access and inode change times) from hg-extract's."""

    def __init__(self, roots: dict[str, str], originals: tuple[Original, ...]) -> None:
        self.swaps = [
            (orjson.dumps(here)[1:-1], orjson.dumps(there)[1:-1]) for there, here in roots.items()
        ]
        self.texts = [(here, there) for there, here in roots.items()]
        self.by_source = {os.path.join(o.root, o.path): o for o in originals}

    def sentences(self, item: Any) -> Any:
        """A task's result with the temp folder's paths in its error sentences (a
        decoder's message names the file it could not read) as hg-extract's."""
        if isinstance(item, list):
            return [self.sentences(x) for x in item]
        if isinstance(item, GroupResult):
            failed = [
                replace(f, error=self._text(f.error), details=self.sentences(f.details))
                for f in item.failed
            ]
            return replace(item, errors=self.sentences(item.errors), failed=failed)
        if isinstance(item, ml.MLResult):
            return replace(item, errors=[self._text(e) for e in item.errors])
        if isinstance(item, dict) and isinstance(item.get("error"), str):
            return {**item, "error": self._text(item["error"])}
        return item

    def _text(self, text: str) -> str:
        for here, there in self.texts:
            text = text.replace(here, there)
        return text

    def __call__(self, rel: str, data: bytes) -> bytes:
        if not rel.endswith(".json"):
            return data
        for here, there in self.swaps:
            data = data.replace(here, there)
        if rel.endswith(f"-{layout.EXIF}"):
            data = self._exif_times(data)
        return data

    def _exif_times(self, data: bytes) -> bytes:
        raw = orjson.loads(data)
        original = self.by_source.get(raw.get("SourceFile")) if isinstance(raw, dict) else None
        if original is None:
            return data
        for tag, seconds in (
            ("FileAccessDate", original.atime_ns / 1e9),
            ("FileInodeChangeDate", original.ctime),
        ):
            if tag in raw:
                raw[tag] = exiftool_date(seconds)
        return orjson.dumps(raw, option=orjson.OPT_NON_STR_KEYS)


def exiftool_date(seconds: float) -> str:
    """A file time as exiftool prints it: local time, whole seconds, `+hh:mm`."""
    stamp = datetime.fromtimestamp(int(seconds)).astimezone()
    zone = stamp.strftime("%z")
    return stamp.strftime("%Y:%m:%d %H:%M:%S") + f"{zone[:3]}:{zone[3:]}"
