"""The run: groups from stdin -> worker processes -> entry records, in input order per chunk.

Groups are sent to `jobs` worker processes in units of about `CHUNK_FILES` files (one
exiftool call per unit; smaller once the input has ended, so all workers finish together);
at most two units per worker are in flight and LOOKAHEAD items are read ahead, so memory
does not grow with the archive. Results come back in submission order. Geo lookups run here, in the
parent (one offline tree, one global Nominatim rate limit). Video transcodes are queued and
run after every chunk, so a run's images appear first; only those few small records wait.
"""

from __future__ import annotations

import logging
import multiprocessing
import threading
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
"""Files per work unit (one exiftool call) while the input goes on; smaller at its end (see
`unit_size`). With 48, a 60-file run (an import chunk) gave one worker 48 files and the other
12 and took 19.2 s instead of 13.2 s; at 200 files 8 and 48 take the same (38.9 / 38.7 s),
while 4 costs ~3 % more CPU in exiftool calls and pickling."""
LOOKAHEAD = 256
"""Input items (groups or records) read ahead of the workers: bounds memory."""
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


def _classify(items: Iterable[Any]) -> Iterator[Group | dict[str, Any]]:
    """Groups as they are; unsupported files as skip records; other records as they come."""
    for item in items:
        if isinstance(item, Unsupported):
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


def unit_size(remaining: int | None, jobs: int) -> int:
    """Files for the next work unit: CHUNK_FILES while the input goes on; once it has
    ended (`remaining` files left), a share that lets every worker finish at about the
    same time, down to one file: a 60-file import chunk then ends within a file or two
    on both workers instead of one worker running the last 8-file unit alone."""
    if remaining is None:
        return CHUNK_FILES
    return max(1, min(CHUNK_FILES, -(-remaining // jobs)))


class _Lookahead:
    """The input read in a thread, up to LOOKAHEAD items ahead, so the dispatcher knows when
    it has ended and how much is left (`unit_size`), and never waits for a full unit while
    a worker is idle."""

    def __init__(self, items: Iterable[Group | dict[str, Any]]) -> None:
        self._items: deque[Any] = deque()
        self._files = 0
        self._ended = False
        self._error: BaseException | None = None
        self._cond = threading.Condition()
        threading.Thread(target=self._read, args=(items,), daemon=True, name="input").start()

    def _read(self, items: Iterable[Any]) -> None:
        try:
            for item in items:
                with self._cond:
                    while len(self._items) >= LOOKAHEAD:
                        self._cond.wait()
                    self._items.append(item)
                    self._files += len(item.files) if isinstance(item, Group) else 0
                    self._cond.notify_all()
        except BaseException as exc:  # re-raised by the dispatcher
            self._error = exc
        with self._cond:
            self._ended = True
            self._cond.notify_all()

    def units(self, jobs: int) -> Iterator[list[Group] | dict[str, Any]]:
        """Work units (lists of groups) and other records, in input order."""
        while True:
            with self._cond:
                while not self._items and not self._ended:
                    self._cond.wait()
                if not self._items:
                    if self._error is not None:
                        raise self._error
                    return
                if not isinstance(self._items[0], Group):
                    record = self._items.popleft()
                    self._cond.notify_all()
                else:
                    record = None
                    size = unit_size(self._files if self._ended else None, jobs)
                    unit: list[Group] = []
                    files = 0
                    while self._items and isinstance(self._items[0], Group) and files < size:
                        group = self._items.popleft()
                        unit.append(group)
                        files += len(group.files)
                    self._files -= files
                    self._cond.notify_all()
            yield record if record is not None else unit


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
        for chunk in _Lookahead(_classify(group_records(stream))).units(self.jobs):
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
