"""The work on groups inside a worker process: metadata, previews, posters, transcodes.

Every step first looks in storage: what exists is not made again (unless `force`), so a
re-run reads a few small JSON files per entry and decodes nothing. Previews are written
largest first and `-image-preview-128.jpg` last, then `-colors.json`: when both exist, the
entry's previews are complete. Each worker process keeps one exiftool (see `exif`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from multiprocessing.util import Finalize
from pathlib import Path
from typing import Any

from hg_extract import video as videos
from hg_extract.colors import palette
from hg_extract.exif import FILE_TIMEOUT, ExifReader, binary_sizes, extract_binary
from hg_extract.filetypes import IMAGE, RAW_IMAGE, VIDEO, file_type, mime_mismatch
from hg_extract.grouping import Group
from hg_extract.normalise import META_VERSION, normalise
from hg_extract.previews import (
    DEFAULT_MAX_PIXELS,
    SIZES,
    PreviewError,
    make_previews,
    open_oriented,
    preview_sizes,
)
from hg_extract.storage import Storage, relpath

SMALLEST = f"image-preview-{min(SIZES)}.jpg"
VIDEO_OUT = "video-720.mp4"


@dataclass(frozen=True)
class Options:
    storage: Path
    force: bool = False
    video: bool = True
    max_pixels: int = DEFAULT_MAX_PIXELS
    file_timeout: float = FILE_TIMEOUT
    video_timeout: float | None = None
    """None: 300 s plus 4 s per second of video."""


@dataclass
class GroupResult:
    """What a worker made for one group; the parent adds the address and prints it."""

    group: Group
    metas: dict[str, dict[str, Any]] = field(default_factory=dict)
    previews: list[str] = field(default_factory=list)
    video: str | None = None
    colors: list[str] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)
    fatal: str | None = None
    """Set when the primary file could not be handled at all: an error record, no entry."""
    needs_video: bool = False
    duration: float = 0.0


def abspath(rec: dict[str, Any]) -> str:
    return os.path.join(rec["root"], rec["path"])


class Extractor:
    """One per worker process: options, storage and the worker's exiftool."""

    def __init__(self, opts: Options) -> None:
        self.opts = opts
        self.storage = Storage(opts.storage)
        self.reader = ExifReader(opts.file_timeout)

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
                    meta = self.storage.read_json(c, "meta.json")
                    if isinstance(meta, dict) and meta.get("v") == META_VERSION:
                        metas[c] = meta
                        continue
                todo[c] = rec
        by_path = {abspath(rec): c for c, rec in todo.items()}
        for path, raw in self.reader.read(list(by_path)).items():
            c = by_path.get(path)
            if c is None:
                continue
            if isinstance(raw, str):
                errors[c] = raw
                metas[c] = normalise({"Error": raw})
                continue
            meta = normalise(raw)
            metas[c] = meta
            if raw.get("Error"):
                errors[c] = f"exiftool: {raw['Error']}"
                continue  # nothing stored: the next run tries again
            self.storage.write_json(c, "exif.json", raw)
            self.storage.write_json(c, "meta.json", meta)
        return metas, errors

    # -- previews -------------------------------------------------------------------------

    def _stored_previews(self, entry_id: str) -> tuple[list[str], list[str]] | None:
        s = self.storage
        if self.opts.force or not (
            s.exists(entry_id, SMALLEST) and s.exists(entry_id, "colors.json")
        ):
            return None
        previews = [
            relpath(entry_id, f"image-preview-{size}.jpg")
            for size in sorted(SIZES, reverse=True)
            if s.exists(entry_id, f"image-preview-{size}.jpg")
        ]
        return previews, s.read_json(entry_id, "colors.json") or []

    def previews(self, entry_id: str, source: str, hint: int | None = None) -> tuple[list, list]:
        img, _fmt = open_oriented(source, max(SIZES), self.opts.max_pixels, hint)
        sizes = preview_sizes(max(img.size))

        def save(size: int, writer: Any) -> None:
            with self.storage.atomic(entry_id, f"image-preview-{size}.jpg") as tmp:
                writer(tmp)

        smallest = make_previews(img, sizes, save)
        colors = palette(smallest)
        self.storage.write_json(entry_id, "colors.json", colors)
        return [relpath(entry_id, f"image-preview-{s}.jpg") for s in sizes], colors

    def _raw_source(self, group: Group, metas: dict[str, dict]) -> tuple[str, int | None]:
        """HomeGallery's order: a JPG (image) sidecar, else the largest embedded preview."""
        sidecars = [f for f in group.files[1:] if file_type(f["path"]) == IMAGE]
        if sidecars:
            return abspath(max(sidecars, key=lambda f: f.get("size") or 0)), None
        c = group.id
        hint = metas.get(c, {}).get("orientation")
        stored = self.storage.path(c, "raw-preview.jpg")
        if stored.is_file() and not self.opts.force:
            return str(stored), hint
        raw = self.storage.read_json(c, "exif.json") or {}
        for _size, tag in binary_sizes(raw):
            data = extract_binary(abspath(group.primary), tag, self.opts.file_timeout)
            if data[:2] == b"\xff\xd8":
                self.storage.write_bytes(c, "raw-preview.jpg", data)
                return str(stored), hint
        if metas.get(c, {}).get("mime") == "image/jpeg":
            return abspath(group.primary), None  # a JPEG with a RAW name
        raise PreviewError("RAW image has no JPG sidecar and no embedded preview")

    # -- groups ---------------------------------------------------------------------------

    def process(self, groups: list[Group]) -> list[GroupResult]:
        metas, file_errors = self.metadata(groups)
        return [self._group(g, metas, file_errors) for g in groups]

    def _group(self, group: Group, metas: dict, file_errors: dict[str, str]) -> GroupResult:
        result = GroupResult(group, {f["checksum"]: metas[f["checksum"]] for f in group.files})
        for rec in group.files:
            if rec["checksum"] in file_errors:
                result.errors.append({"path": rec["path"], "error": file_errors[rec["checksum"]]})
            warning = mime_mismatch(rec["path"], result.metas[rec["checksum"]].get("mime"))
            if warning:
                result.errors.append({"path": rec["path"], "error": warning, "warning": True})
        try:
            if group.media_type == VIDEO:
                self._video(group, result)
            else:
                stored = self._stored_previews(group.id)
                if stored:
                    result.previews, result.colors = stored
                elif group.media_type == RAW_IMAGE:
                    self._raw(group, result)
                else:
                    result.previews, result.colors = self.previews(group.id, abspath(group.primary))
        except (PreviewError, videos.VideoError) as exc:
            result.fatal = str(exc)
        except OSError as exc:  # vanished, unreadable, storage full: this group only
            result.fatal = f"{type(exc).__name__}: {exc.strerror or exc}"
        return result

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
                s.exists(c, "ffprobe.json") and not self.opts.force
            ):
                continue
            try:
                s.write_json(c, "ffprobe.json", videos.probe(abspath(rec)))
            except videos.VideoError as exc:
                if rec is group.primary:
                    raise
                result.errors.append({"path": rec["path"], "error": str(exc)})
        result.duration = videos.duration(s.read_json(group.id, "ffprobe.json") or {})
        stored = self._stored_previews(group.id)
        if stored:
            result.previews, result.colors = stored
        else:
            poster = s.path(group.id, "video-poster.jpg")
            if self.opts.force or not poster.is_file():
                with s.atomic(group.id, "video-poster.jpg") as tmp:
                    videos.poster(abspath(group.primary), tmp, min(0.5, result.duration / 2))
            result.previews, result.colors = self.previews(group.id, str(poster))
        if s.exists(group.id, VIDEO_OUT) and not self.opts.force:
            result.video = relpath(group.id, VIDEO_OUT)
        elif self.opts.video and result.duration > 0:
            result.needs_video = True

    def transcode(self, result: GroupResult) -> GroupResult:
        """The last step of a video entry: the web MP4 (a failure keeps the entry)."""
        group = result.group
        timeout = self.opts.video_timeout or 300 + 4 * result.duration
        try:
            with self.storage.atomic(group.id, VIDEO_OUT) as tmp:
                videos.transcode(abspath(group.primary), tmp, timeout)
        except (videos.VideoError, OSError) as exc:
            return replace(
                result,
                needs_video=False,
                errors=[*result.errors, {"path": group.primary["path"], "error": str(exc)}],
            )
        return replace(result, needs_video=False, video=relpath(group.id, VIDEO_OUT))


# -- the per-process instance used by the worker pool -------------------------------------

_extractor: Extractor | None = None


def init_worker(opts: Options) -> None:
    """Pool initializer: one Extractor (and exiftool) per process, closed at process exit."""
    global _extractor
    _extractor = Extractor(opts)
    Finalize(None, _extractor.close, exitpriority=10)


def process_chunk(groups: list[Group]) -> list[GroupResult]:
    assert _extractor is not None, "init_worker was not called"
    return _extractor.process(groups)


def transcode_one(result: GroupResult) -> GroupResult:
    assert _extractor is not None, "init_worker was not called"
    return _extractor.transcode(result)
