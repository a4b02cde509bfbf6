"""The run: groups from stdin -> worker processes -> entry records, in input order per chunk.

Groups are sent to `jobs` worker processes in chunks of about `CHUNK_FILES` files (one
exiftool call per chunk); at most two chunks per worker are in flight, so memory does not
grow with the archive. Results come back in submission order. Geo lookups run here, in the
parent (one offline tree, one global Nominatim rate limit). Video transcodes are queued and
run after every chunk, so a run's images appear first; only those few small records wait.
"""

from __future__ import annotations

import logging
import multiprocessing
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from hg_extract import extractor
from hg_extract.entry import build_entry, coordinates, file_error, is_failure
from hg_extract.extractor import GroupResult, Options
from hg_extract.grouping import Group, Unsupported, group_records
from hg_extract.storage import Storage
from hg_index.progress import Progress
from hg_index.records import skip_record

log = logging.getLogger("hg-extract")

CHUNK_FILES = 8
"""Files per work unit. Small, so that the last units of a run keep every worker busy: with
48, a 60-file run (an import chunk) gave one worker 48 files and the other 12 and took
19.2 s instead of 13.2 s; at 200 files 8 and 48 take the same (38.9 / 38.7 s), while 4 costs
~3 % more CPU in exiftool calls and pickling."""
ADDRESS = "geo-address.json"


@dataclass
class Summary:
    entries: int = 0
    failed: int = 0
    skipped: int = 0
    passed: int = 0
    videos: int = 0


class _Now:
    """apply_async's result for the in-process runner (`--jobs 1`)."""

    def __init__(self, value: Any) -> None:
        self.value = value

    def get(self) -> Any:
        return self.value


class _InProcess:
    def __init__(self, opts: Options) -> None:
        extractor.init_worker(opts)

    def apply_async(self, fn: Callable, args: tuple) -> _Now:
        return _Now(fn(*args))

    def close(self) -> None:
        if extractor._extractor is not None:
            extractor._extractor.close()


def _chunks(items: Iterable[Any]) -> Iterator[list[Group] | dict[str, Any]]:
    """Chunks of groups; pass-through and unsupported-file records as they come."""
    chunk: list[Group] = []
    files = 0
    for item in items:
        if isinstance(item, Group):
            chunk.append(item)
            files += len(item.files)
            if files >= CHUNK_FILES:
                yield chunk
                chunk, files = [], 0
        elif isinstance(item, Unsupported):
            for rec in item.files:
                name = rec["path"].rsplit("/", 1)[-1]
                yield skip_record(
                    "extract",
                    f"not a photo or video: unsupported file type ({name})",
                    source=rec.get("source"),
                    root=rec.get("root"),
                    path=rec.get("path"),
                    checksum=rec.get("checksum"),
                )
        else:
            yield item
    if chunk:
        yield chunk


class Runner:
    """Runs one hg-extract pass; `summary` has the counts afterwards."""

    def __init__(
        self, opts: Options, jobs: int, geocoder: Any = None, progress: Progress | None = None
    ) -> None:
        self.opts = opts
        self.jobs = max(1, jobs)
        self.geocoder = geocoder
        self.progress = progress or Progress("extract", "off")
        self.storage = Storage(opts.storage)
        self.summary = Summary()

    def _pool(self) -> Any:
        if self.jobs == 1:
            return _InProcess(self.opts)
        ctx = multiprocessing.get_context("fork")
        return ctx.Pool(self.jobs, initializer=extractor.init_worker, initargs=(self.opts,))

    def run(self, stream: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        pool = self._pool()
        try:
            yield from self._run(pool, stream)
        finally:
            pool.close()
            if hasattr(pool, "join"):
                pool.join()

    def _run(self, pool: Any, stream: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        pending: deque[Any] = deque()
        videos: list[GroupResult] = []
        self.progress.update(phase="metadata+previews")
        for chunk in _chunks(group_records(stream)):
            if isinstance(chunk, dict):
                yield self._passed(chunk)
                continue
            pending.append(pool.apply_async(extractor.process_chunk, (chunk,)))
            while len(pending) >= 2 * self.jobs:
                yield from self._results(pending.popleft().get(), videos)
        while pending:
            yield from self._results(pending.popleft().get(), videos)
        if videos:
            self.progress.update(phase="video transcode")
            pending = deque()
            for result in videos:
                pending.append(pool.apply_async(extractor.transcode_one, (result,)))
                while len(pending) >= self.jobs + 1:
                    yield from self._results([pending.popleft().get()], [])
            while pending:
                yield from self._results([pending.popleft().get()], [])

    def _passed(self, rec: dict[str, Any]) -> dict[str, Any]:
        if rec.get("type") == "error" and rec.get("stage") == "extract":
            self.summary.failed += 1
            log.warning("%s: %s", rec.get("path"), rec.get("error"))
            self.progress.update(files=1)
        elif rec.get("type") == "skip" and rec.get("stage") == "extract":
            self.summary.skipped += 1
            log.info("%s: skipped: %s", rec.get("path"), rec.get("reason"))
            self.progress.update(files=1)
        else:
            self.summary.passed += 1
        return rec

    def _results(self, results: list[GroupResult], videos: list[GroupResult]) -> Iterator[dict]:
        for result in results:
            group = result.group
            if result.fatal:
                self.summary.failed += 1
                log.warning("%s: %s", group.primary["path"], result.fatal)
                rec = file_error(group.primary, result.fatal)
                if result.errors:
                    rec["details"] = result.errors
                self.progress.update(files=len(group.files))
                yield rec
                continue
            if result.needs_video:
                videos.append(result)
                continue
            self.progress.update(files=len(group.files), nbytes=group.primary.get("size") or 0)
            yield self._entry(result)

    def _entry(self, result: GroupResult) -> dict[str, Any]:
        group = result.group
        entry = build_entry(
            group,
            result.metas,
            result.previews,
            result.video,
            result.colors,
            self._address(group, result.metas),
            result.errors,
        )
        self.summary.entries += 1
        self.summary.videos += result.video is not None
        for err in result.errors:
            log.warning("%s: %s", err["path"], err["error"])
        if any(is_failure(e) for e in result.errors):
            self.summary.failed += 1
        return entry

    def _address(self, group: Group, metas: dict[str, dict]) -> dict[str, Any] | None:
        if self.geocoder is None:
            return None
        point = coordinates(group, metas)
        if point is None:
            return None
        stored = None if self.opts.force else self.storage.read_json(group.id, ADDRESS)
        if isinstance(stored, dict) and stored.get("source") == self.geocoder.source:
            return stored
        address = self.geocoder.address(*point)
        if address is not None:
            self.storage.write_json(group.id, ADDRESS, address)
        return address
