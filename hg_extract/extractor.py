"""The work on groups inside a worker process: metadata, previews, posters, transcodes.

Every step first looks in storage: what exists is not made again (unless `force`), so a
re-run reads a few small JSON files per entry and decodes nothing. Previews are written
largest first and `-image-preview-128.jpg` last, then `-colors.json`: when both exist, the
entry's previews are complete. Each worker process keeps one exiftool (see `exif`).

Whatever goes wrong with one group (a decoder's EOFError, a numpy error in the palette, a
full disk) is that group's failure, never the run's: `_group` catches every exception, and a
primary that failed gives way to the group's next media file (`groups.next_primary`). The
failed primaries come back as `Failure`s, one error record each.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from multiprocessing.util import Finalize
from pathlib import Path
from typing import Any

from hg_common import layout
from hg_common.filetypes import IMAGE, RAW_IMAGE, VIDEO, file_type, mime_mismatch
from hg_common.groups import Group, next_primary
from hg_common.layout import relpath
from hg_extract import video as videos
from hg_extract.colors import palette
from hg_extract.exif import FILE_TIMEOUT, ExifReader, binary_sizes, extract_binary
from hg_extract.heap import give_back
from hg_extract.ml import step as ml
from hg_extract.normalise import normalise
from hg_extract.previews import (
    DEFAULT_MAX_PIXELS,
    SIZES,
    PreviewError,
    make_previews,
    open_oriented,
    preview_sizes,
)
from hg_extract.procs import die_with
from hg_extract.storage import Storage

EXTRACTOR_VERSION = 2
"""Written into error records and failure memos; bump it when extraction changes in a way
that may read files that failed before (a memo of an older version is tried again). It keys
nothing else: stored previews and metadata are kept across versions, so a bump costs one more
try of the known failures, not a re-extraction. 2: previews decode JPEGs at a smaller scale
(the fitted draft box), so a JPEG over the CPU or memory budget before may pass now."""
CPU_LIMIT = 120.0
"""Default of `[extract] cpu_limit`: far above what a 200-megapixel image costs (a few CPU
seconds), far below "for ever"."""
SMALLEST = layout.preview(min(SIZES))
"""Written last of the previews: with `-colors.json` it means they are complete."""
PREVIEWS_MADE = frozenset({SMALLEST, layout.COLORS})
"""What must be stored for an entry's previews to count as made (else they are made again;
send mode then ships what they are made from)."""


@dataclass(frozen=True)
class Options:
    storage: Path
    force: bool = False
    video: bool = True
    max_pixels: int = DEFAULT_MAX_PIXELS
    file_timeout: float = FILE_TIMEOUT
    video_timeout: float | None = None
    """None: 300 s plus 4 s per second of video."""
    ml: str = "local"
    """The ML step's backend: local, api or off (`hg_extract.ml.step`)."""
    ml_threads: int = 1
    """Intra-op threads of each worker's model session (the cores shared by the jobs)."""
    faces: bool = True
    """Whether the local backend looks for faces (`hg_extract.ml.faces`)."""
    cpu_limit: float | None = CPU_LIMIT
    """CPU seconds one file's previews may take in a worker (None: no limit), see
    `cpu_limited`."""


@dataclass
class Failure:
    """A file that could not be an entry's primary: an error record of its own."""

    file: dict[str, Any]
    error: str
    details: list[dict[str, Any]] = field(default_factory=list)
    remember: bool = True
    """Write the failure memo; not for what may pass (vanished, unreadable, disk full)."""


@dataclass
class GroupResult:
    """What a worker made for one group; the parent adds the address and prints it."""

    group: Group
    """The group as it ended: without the primaries that failed (`failed`)."""
    metas: dict[str, dict[str, Any]] = field(default_factory=dict)
    previews: list[str] = field(default_factory=list)
    video: str | None = None
    colors: list[str] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)
    failed: list[Failure] = field(default_factory=list)
    fatal: bool = False
    """No entry: `group.primary` is the last of `failed`, the other files are not imported."""
    needs_video: bool = False
    duration: float = 0.0
    ml: dict[str, Any] = field(default_factory=dict)
    """The stored similarity vector and objects (`ml.stored`)."""
    ml_task: ml.MLTask | None = None
    """The ML pass this entry needs, after its record is printed."""

    def outputs(self) -> dict[str, Any]:
        """The entry record's fields of what was made (`hg_common.entry.entry_record`)."""
        return {"previews": self.previews, "video": self.video, "colors": self.colors, **self.ml}


def describe(exc: BaseException) -> str:
    """An exception as the sentence of an error record."""
    if isinstance(exc, PreviewError | videos.VideoError):
        return str(exc)
    if isinstance(exc, OSError):
        return f"{type(exc).__name__}: {exc.strerror or exc}"
    return f"{type(exc).__name__}: {exc}"


def may_pass(exc: BaseException) -> bool:
    """A failure that is not the file's own (so no memo): the file vanished or was not
    readable, the storage was full or read-only."""
    return isinstance(exc, OSError) or (isinstance(exc, PreviewError) and exc.transient)


def abspath(rec: dict[str, Any]) -> str:
    return os.path.join(rec["root"], rec["path"])


class Extractor:
    """One per worker process: options, storage and the worker's exiftool."""

    def __init__(self, opts: Options) -> None:
        self.opts = opts
        self.storage = Storage(opts.storage)
        self.reader = ExifReader(opts.file_timeout)
        self._after_pass = False
        """An ML pass ran since the last unit of previews (`analyse`, `process`)."""

    def close(self) -> None:
        self.reader.close()

    # -- metadata -------------------------------------------------------------------------

    def metadata(self, groups: list[Group]) -> tuple[dict[str, dict], dict[str, str]]:
        """Meta per file checksum (stored or read in one exiftool batch) and errors per file."""
        metas: dict[str, dict[str, Any]] = {}
        errors: dict[str, str] = {}
        todo: dict[str, dict[str, Any]] = {}
        for group in groups:
            for rec in group.files:
                c = rec["checksum"]
                if c in metas or c in todo:
                    continue
                if not self.opts.force:
                    meta = self.storage.read_json(c, layout.META)
                    if isinstance(meta, dict) and meta.get("v") == layout.META_VERSION:
                        metas[c] = meta
                        continue
                todo[c] = rec
        by_path = {abspath(rec): c for c, rec in todo.items()}
        for path, raw in self.reader.read(list(by_path)).items():
            c = by_path.get(path)
            if c is None:
                continue
            try:
                error = self._store_meta(c, raw, metas)
            except Exception as exc:  # odd tags, a full disk: this file's metadata only
                error = f"metadata: {describe(exc)}"
            if error:
                errors[c] = error
                metas.setdefault(c, normalise({"Error": error}))
        for c in todo:
            if c not in metas:  # exiftool said nothing of it
                errors[c] = "exiftool failed"
                metas[c] = normalise({"Error": errors[c]})
        return metas, errors

    def _store_meta(self, c: str, raw: dict[str, Any] | str, metas: dict[str, dict]) -> str | None:
        if isinstance(raw, str):
            return raw
        metas[c] = meta = normalise(raw)
        if raw.get("Error"):
            return f"exiftool: {raw['Error']}"  # nothing stored: the next run tries again
        self.storage.write_json(c, layout.EXIF, raw)
        self.storage.write_json(c, layout.META, meta)
        return None

    # -- previews -------------------------------------------------------------------------

    def _stored_previews(self, entry_id: str) -> tuple[list[str], list[str]] | None:
        s = self.storage
        if self.opts.force or not all(s.exists(entry_id, what) for what in PREVIEWS_MADE):
            return None
        previews = [
            relpath(entry_id, layout.preview(size))
            for size in sorted(SIZES, reverse=True)
            if s.exists(entry_id, layout.preview(size))
        ]
        return previews, s.read_json(entry_id, layout.COLORS) or []

    def previews(self, entry_id: str, source: str, hint: int | None = None) -> tuple[list, list]:
        img, _fmt = open_oriented(source, max(SIZES), self.opts.max_pixels, hint)
        sizes = preview_sizes(max(img.size))

        def save(size: int, writer: Any) -> None:
            with self.storage.atomic(entry_id, layout.preview(size)) as tmp:
                writer(tmp)

        smallest = make_previews(img, sizes, save)
        colors = palette(smallest)
        self.storage.write_json(entry_id, layout.COLORS, colors)
        return [relpath(entry_id, layout.preview(s)) for s in sizes], colors

    def _raw_source(self, group: Group, metas: dict[str, dict]) -> tuple[str, int | None]:
        """HomeGallery's order: a JPG (image) sidecar, else the largest embedded preview."""
        sidecars = [f for f in group.files[1:] if file_type(f["path"]) == IMAGE]
        if sidecars:
            return abspath(max(sidecars, key=lambda f: f.get("size") or 0)), None
        c = group.id
        hint = metas.get(c, {}).get("orientation")
        stored = self.storage.path(c, layout.RAW_PREVIEW)
        if stored.is_file() and not self.opts.force:
            return str(stored), hint
        raw = self.storage.read_json(c, layout.EXIF) or {}
        for _size, tag in binary_sizes(raw):
            data = extract_binary(abspath(group.primary), tag, self.opts.file_timeout)
            if data[:2] == b"\xff\xd8":
                self.storage.write_bytes(c, layout.RAW_PREVIEW, data)
                return str(stored), hint
        if metas.get(c, {}).get("mime") == "image/jpeg":
            return abspath(group.primary), None  # a JPEG with a RAW name
        raise PreviewError("RAW image has no JPG sidecar and no embedded preview")

    # -- groups ---------------------------------------------------------------------------

    def process(self, groups: list[Group]) -> list[GroupResult]:
        if self._after_pass:  # once a pass: the heap it left free, before exiftool is back
            self._after_pass = False
            give_back()
        try:
            metas, file_errors = self.metadata(groups)
        except Exception:  # not one file's: read each group on its own to find whose
            return [self._group_alone(g) for g in groups]
        return [self._group(g, metas, file_errors) for g in groups]

    def _group_alone(self, group: Group) -> GroupResult:
        try:
            metas, file_errors = self.metadata([group])
        except Exception as exc:
            failure = Failure(group.primary, f"metadata: {describe(exc)}", [], not may_pass(exc))
            return GroupResult(group, failed=[failure], fatal=True)
        return self._group(group, metas, file_errors)

    def _group(self, group: Group, metas: dict, file_errors: dict[str, str]) -> GroupResult:
        """The entry's outputs, falling back to the next media file while the primary fails."""
        failed: list[Failure] = []
        while True:
            result = GroupResult(group, {f["checksum"]: metas[f["checksum"]] for f in group.files})
            primary = group.primary["path"]
            try:
                result.errors = self._file_errors(group, result.metas, file_errors)
                with cpu_limited(self.opts.cpu_limit):
                    self._outputs(group, result)
                result.failed = failed
                return result
            except Exception as exc:  # any library, any bug: this file's failure
                own = [e for e in result.errors if e["path"] == primary]
                failed.append(Failure(group.primary, describe(exc), own, not may_pass(exc)))
            following = next_primary(group)
            if following is None:
                result.errors = [e for e in result.errors if e["path"] != primary]
                result.failed, result.fatal = failed, True
                return result
            group = following

    @staticmethod
    def _file_errors(group: Group, metas: dict, file_errors: dict[str, str]) -> list[dict]:
        errors: list[dict[str, Any]] = []
        for rec in group.files:
            if rec["checksum"] in file_errors:
                errors.append({"path": rec["path"], "error": file_errors[rec["checksum"]]})
            warning = mime_mismatch(rec["path"], metas[rec["checksum"]].get("mime"))
            if warning:
                errors.append({"path": rec["path"], "error": warning, "warning": True})
        return errors

    def _outputs(self, group: Group, result: GroupResult) -> None:
        if group.media_type == VIDEO:
            self._video(group, result)
            return
        stored = self._stored_previews(group.id)
        if stored:
            result.previews, result.colors = stored
        elif group.media_type == RAW_IMAGE:
            self._raw(group, result)
        else:
            result.previews, result.colors = self.previews(group.id, abspath(group.primary))
        self._ml(group, result)

    def _ml(self, group: Group, result: GroupResult) -> None:
        """What is stored of the ML step, and whether it must run (after the entry)."""
        result.ml = ml.stored(self.storage, group.id)
        parts = ml.needed(
            self.opts.ml, self.opts.force, self.storage, group.id, result.ml, self.opts.faces
        )
        if parts:
            result.ml_task = ml.task_for(group, result.previews, parts)

    def analyse(self, tasks: list[ml.MLTask]) -> list[ml.MLResult]:
        """The local model's pass over some entries' previews (one session per process).

        exiftool is stopped first: a pass needs none, and its ~34 MiB of perl heap (the tag
        tables of the makes it read) would stay beside the pass's peak, which both workers
        reach at once at the end of an import chunk; the next unit starts it again (~0.2 s
        of CPU, once a chunk and worker). Figures: docs/benchmarks.md, "Shared with the
        workers"."""
        self.reader.close()
        self._after_pass = True
        return [ml.run_local(self.storage, t, self.opts.ml_threads) for t in tasks]

    def _raw(self, group: Group, result: GroupResult) -> None:
        try:
            source, hint = self._raw_source(group, result.metas)
        except PreviewError as exc:  # the entry still appears with its metadata
            result.errors.append(
                {"path": group.primary["path"], "error": str(exc), "warning": True}
            )
            return
        result.previews, result.colors = self.previews(group.id, source, hint)

    def _video(self, group: Group, result: GroupResult) -> None:
        s = self.storage
        for rec in group.files:
            c = rec["checksum"]
            if file_type(rec["path"]) != VIDEO or (
                s.exists(c, layout.FFPROBE) and not self.opts.force
            ):
                continue
            try:
                s.write_json(c, layout.FFPROBE, videos.probe(abspath(rec)))
            except videos.VideoError as exc:
                if rec is group.primary:
                    raise
                result.errors.append({"path": rec["path"], "error": str(exc)})
        result.duration = videos.duration(s.read_json(group.id, layout.FFPROBE) or {})
        stored = self._stored_previews(group.id)
        if stored:
            result.previews, result.colors = stored
        else:
            poster = s.path(group.id, layout.VIDEO_POSTER)
            if self.opts.force or not poster.is_file():
                with s.atomic(group.id, layout.VIDEO_POSTER) as tmp:
                    videos.poster(abspath(group.primary), tmp, min(0.5, result.duration / 2))
            result.previews, result.colors = self.previews(group.id, str(poster))
        if s.exists(group.id, layout.WEB_VIDEO) and not self.opts.force:
            result.video = relpath(group.id, layout.WEB_VIDEO)
        elif self.opts.video and result.duration > 0:
            result.needs_video = True

    def transcode(self, result: GroupResult) -> GroupResult:
        """The last step of a video entry: the web MP4 (a failure keeps the entry)."""
        group = result.group
        timeout = self.opts.video_timeout or 300 + 4 * result.duration
        try:
            with self.storage.atomic(group.id, layout.WEB_VIDEO) as tmp:
                videos.transcode(abspath(group.primary), tmp, timeout)
        except Exception as exc:  # whatever it was: the entry keeps its poster and previews
            return replace(
                result,
                needs_video=False,
                errors=[*result.errors, {"path": group.primary["path"], "error": describe(exc)}],
            )
        return replace(result, needs_video=False, video=relpath(group.id, layout.WEB_VIDEO))


# -- the per-process instance used by the worker pool -------------------------------------

_extractor: Extractor | None = None


@contextmanager
def cpu_limited(seconds: float | None) -> Iterator[None]:
    """End this worker process when the block uses more than `seconds` of CPU.

    A decoder caught in a loop on a hostile file never returns to Python, so no exception
    can stop it: SIGPROF's default action ends the process, and the parent's pool handling
    (a dead worker costs only its group: `workers.Runner._alone`) turns that into the file's
    error record. CPU time, not wall time: a busy NAS slows a file down but does not make it
    use more CPU, so load never fails a good file; and ITIMER_PROF leaves ITIMER_REAL to
    the exiftool reader (`exif.ExifReader`)."""
    if not seconds:
        yield
        return
    signal.setitimer(signal.ITIMER_PROF, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_PROF, 0)


def init_worker(opts: Options, parent: int) -> None:
    """Pool initializer: one Extractor (and exiftool) per process, closed at process exit.
    The worker ends with its parent, even one killed with SIGKILL (see `procs`)."""
    global _extractor
    die_with(parent)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # not the parent's handler: just end
    signal.signal(signal.SIGPROF, signal.SIG_DFL)  # the CPU limit ends it (`cpu_limited`)
    _extractor = Extractor(opts)
    Finalize(None, _extractor.close, exitpriority=10)


def process_chunk(groups: list[Group]) -> list[GroupResult]:
    assert _extractor is not None, "init_worker was not called"
    return _extractor.process(groups)


def transcode_one(result: GroupResult) -> GroupResult:
    assert _extractor is not None, "init_worker was not called"
    return _extractor.transcode(result)


def analyse_chunk(tasks: list[ml.MLTask]) -> list[ml.MLResult]:
    assert _extractor is not None, "init_worker was not called"
    return _extractor.analyse(tasks)
