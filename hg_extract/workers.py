"""The run: groups from stdin -> worker processes -> entry records, in input order per chunk.

Groups are sent to `jobs` worker processes in units of about `CHUNK_FILES` files (one
exiftool call per unit; smaller once the input has ended, so all workers finish together);
at most two units per worker are in flight and LOOKAHEAD items are read ahead, so memory
does not grow with the archive. Results come back in submission order. Geo lookups run here, in the
parent (one offline tree, one global Nominatim rate limit). Video transcodes are queued and
run after every chunk, so a run's images appear first; only those few small records wait.
A `flush` record in the input is answered like the input's end (all of that, then the record
itself), with the workers, exiftools and geocoder kept for what follows: hg-import runs
one hg-extract for all its chunks.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from hg_common import layout
from hg_common.entry import entry_record
from hg_common.groups import Group, Unsupported, group_records, next_primary
from hg_common.progress import Progress
from hg_common.records import is_flush, skip_record
from hg_extract import extractor, failures
from hg_extract.entry import coordinates, file_error, is_failure, not_imported
from hg_extract.extractor import Failure, GroupResult, Options, describe, may_pass
from hg_extract.ml import step as ml
from hg_extract.pool import Workers
from hg_extract.storage import Storage

log = logging.getLogger("hg-extract")

CHUNK_FILES = 8
"""Files per work unit (one exiftool call) while the input goes on; smaller at its end (see
`unit_size`). Small enough that an import chunk is shared between the workers, large enough
that exiftool calls and pickling stay a small part of the work (figures: docs/benchmarks.md,
hg-import section)."""
LOOKAHEAD = 256
"""Input items (groups or records) read ahead of the workers: bounds memory."""
ML_UNIT = 4
"""Previews per ML work unit (local backend: ~0.1 s each)."""
ML_BACKLOG = 256
"""Entries waiting for the ML step before it runs while the input goes on: the ML step
follows the previews (the photos appear first) without waiting for the end of a long run."""


def now_utc() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Summary:
    entries: int = 0
    failed: int = 0
    """Error records of this stage (files), `known` of them replayed from their memo."""
    known: int = 0
    skipped: int = 0
    passed: int = 0
    videos: int = 0
    ml: int = 0
    """Entries whose similarity vector and objects were made in this run."""


def _classify(items: Iterable[Any], memos: Callable[[Group], dict[str, dict]] | None) -> Iterator:
    """Groups as they are (without their files of known failure, answered from the memo);
    unsupported files as skip records; other records as they come."""
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
        elif isinstance(item, Group) and memos is not None:
            group, known = failures.split_known(item, memos(item))
            yield from known
            if group is not None:
                yield group
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
        self._barriers = 0
        """`flush` records read ahead: the input before the first one has ended, as far as
        the unit sizes go (a chunk of hg-import ends on both workers together)."""
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
                    self._barriers += is_flush(item)
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
                    self._barriers -= is_flush(record)
                    self._cond.notify_all()
                else:
                    record = None
                    size = unit_size(self._remaining(), jobs)
                    unit: list[Group] = []
                    files = 0
                    while self._items and isinstance(self._items[0], Group) and files < size:
                        group = self._items.popleft()
                        unit.append(group)
                        files += len(group.files)
                    self._files -= files
                    self._cond.notify_all()
            yield record if record is not None else unit

    def _remaining(self) -> int | None:
        """Files left before the input's end or its next barrier; None while it goes on."""
        if self._barriers:
            files = 0
            for item in self._items:
                if is_flush(item):
                    return files
                files += len(item.files) if isinstance(item, Group) else 0
        return self._files if self._ended else None


class Runner:
    """Runs one hg-extract pass; `summary` has the counts afterwards.

    Nothing that goes wrong with one group ends the run: a worker catches every exception
    of a group (`Extractor._group`), the parent every exception of its own per-group work
    (`_records`), and a unit whose worker died or whose result did not come back is done
    again group by group in fresh workers (`_collect`, `_alone`). What escapes is hg's own
    failure (it cannot start workers, read its input): an internal error.
    """

    def __init__(
        self,
        opts: Options,
        jobs: int,
        geocoder: Any = None,
        progress: Progress | None = None,
        retry_failed: bool = False,
        work: Callable[[list[Group]], list[GroupResult]] = extractor.process_chunk,
        api: Any = None,
        cluster: Any = None,
    ) -> None:
        self.opts = opts
        self.jobs = max(1, jobs)
        self.geocoder = geocoder
        self.progress = progress or Progress("extract", "off")
        self.storage = Storage(opts.storage)
        self.retry_failed = retry_failed or opts.force
        self.work = work
        """What a worker runs on a unit (tests put a crashing decoder in front of it)."""
        self.summary = Summary()
        self.workers: Workers | None = None
        self._pending: deque[tuple[Any, Future, int]] = deque()
        self._ml_tasks: list[ml.MLTask] = []
        self._ml_ids: set[str] = set()
        self.api = api
        """The api backend's client (`hg_extract.ml.api.ApiClient`) when `opts.ml` is api."""
        self.cluster = cluster
        """A Dask cluster's `hg_extract.cluster.ClusterWorkers` in place of local workers."""

    def run(self, stream: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        # Forked before the input thread starts (see `pool`); a worker per job, also for
        # one: a decoder that crashes takes a worker with it, not the run.
        self.workers = self.cluster or Workers(self.opts, self.jobs)
        finished = False
        try:
            yield from self._run(stream)
            finished = True
        finally:
            self.workers.close(wait=finished)

    def _memos(self, group: Group) -> dict[str, dict[str, Any]]:
        """Current failure memos of the group's media files (read in the input thread)."""
        found = {}
        for checksum in failures.media_checksums(group):
            value = self.storage.read_json(checksum, layout.FAILED)
            if value is not None and failures.is_current(value):
                found[checksum] = value
        return found

    def _run(self, stream: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        pending = self._pending
        videos: list[GroupResult] = []
        self.progress.update(phase="metadata+previews")
        memos = None if self.retry_failed else self._memos
        items = _classify(group_records(stream), memos)
        for chunk in _Lookahead(items).units(self.jobs):
            if is_flush(chunk):  # everything before it answered, then the barrier itself
                yield from self._finish(videos)
                videos = []
                yield chunk
                continue
            if isinstance(chunk, dict):
                yield self._passed(chunk)
                continue
            pending.append((chunk, *self._submit(self.work, chunk)))
            while len(pending) >= 2 * self.jobs:
                yield from self._results(self._collect(self._unit_alone), videos)
            if len(self._ml_tasks) >= ML_BACKLOG:
                while pending:
                    yield from self._results(self._collect(self._unit_alone), videos)
                yield from self._ml_pass()
                self.progress.update(phase="metadata+previews")
        yield from self._finish(videos)

    def _finish(self, videos: list[GroupResult]) -> Iterator[dict[str, Any]]:
        """What the end of the input (or a `flush` record) owes: the units in flight, the
        ML step of the entries printed so far, then the queued video transcodes."""
        pending = self._pending
        while pending:
            yield from self._results(self._collect(self._unit_alone), videos)
        yield from self._ml_pass()
        if videos:
            self.progress.update(phase="video transcode")
            for result in videos:
                pending.append((result, *self._submit(extractor.transcode_one, result)))
                while len(pending) >= self.jobs + 1:
                    yield from self._results(self._collect(self._transcode_alone), [])
            while pending:
                yield from self._results(self._collect(self._transcode_alone), [])
            self.progress.update(phase="metadata+previews")

    def _submit(self, fn: Callable, arg: Any) -> tuple[Future, int]:
        assert self.workers is not None
        return self.workers.submit(fn, arg)

    # -- the ML step ---------------------------------------------------------------------------

    def _ml_pass(self) -> Iterator[dict[str, Any]]:
        """The similarity vectors and objects of the entries printed so far: local in the
        workers (a unit of ML_UNIT previews each), api in `concurrency` threads here."""
        tasks, self._ml_tasks = self._ml_tasks, []
        if not tasks:
            return
        self.progress.update(phase="similar images and objects")
        if self.api is not None:
            yield from self._api_pass(tasks)
            return
        pending = self._pending
        if any(ml.FACES in task.parts for task in tasks) and isinstance(self.workers, Workers):
            self.workers.share_models(ml.load_shared)  # nothing is in flight here
        for start in range(0, len(tasks), ML_UNIT):
            unit = tasks[start : start + ML_UNIT]
            pending.append((unit, *self._submit(extractor.analyse_chunk, unit)))
            while len(pending) >= 2 * self.jobs:
                yield from self._ml_results(self._collect(self._ml_alone))
        while pending:
            yield from self._ml_results(self._collect(self._ml_alone))

    def _api_pass(self, tasks: list[ml.MLTask]) -> Iterator[dict[str, Any]]:
        limit = self.api.concurrency
        with ThreadPoolExecutor(limit, thread_name_prefix="ml-api") as pool:
            futures: deque[Future] = deque()
            for task in tasks:
                futures.append(pool.submit(ml.run_api, self.storage, self.api, task))
                while len(futures) >= 2 * limit:
                    yield from self._ml_results([futures.popleft().result()])
            while futures:
                yield from self._ml_results([futures.popleft().result()])

    def _ml_alone(self, unit: list[ml.MLTask]) -> list[ml.MLResult]:
        """Each preview of a unit whose worker died, alone: a crash is that entry's error."""
        assert self.workers is not None
        out = []
        for task in unit:
            future, generation = self.workers.submit(extractor.analyse_chunk, [task])
            try:
                out += future.result()
            except BrokenProcessPool:
                how = self.workers.replace(generation)
                out.append(ml.MLResult(task, errors=[f"the worker process {how} on it"]))
            except Exception as exc:
                out.append(ml.MLResult(task, errors=[describe(exc)]))
        return out

    def _ml_results(self, results: Iterable[Any]) -> Iterator[dict[str, Any]]:
        for item in results:
            for result in item if isinstance(item, list) else [item]:
                if result.outputs:
                    self.summary.ml += 1
                    yield ml.ml_record(result)
                if result.errors:
                    error = ml.error_sentence(result.errors)
                    log.warning("%s: %s", result.task.file.get("path"), error)
                    self.summary.failed += 1
                    record = file_error(result.task.file, error)
                    record.update(id=result.task.id, ml=True)
                    yield record

    # -- when a worker dies -----------------------------------------------------------------

    def _collect(self, alone: Callable[[Any], Any]) -> list[Any]:
        """The result of the oldest item in flight, in a list; when its worker died, the
        results of every item in flight (those that broke with it done again `alone`)."""
        assert self.workers is not None
        pending = self._pending
        item, future, generation = pending.popleft()
        try:
            return [future.result()]
        except BrokenProcessPool:
            pass
        except Exception:  # a result that did not come back (e.g. could not be pickled)
            log.debug("a work unit failed; redoing it group by group", exc_info=True)
            wait([f for _, f, _ in pending])  # alone means alone: the blame must be right
            return [alone(item)]
        log.warning("a worker process died; redoing its files one group at a time")
        inflight = [(item, future, generation), *pending]
        pending.clear()
        wait([f for _, f, _ in inflight])
        self.workers.replace(generation)
        out = []
        for i, (item, future, _) in enumerate(inflight):
            kept = i > 0 and future.exception() is None  # finished before the worker died
            out.append(future.result() if kept else alone(item))
        return out

    def _unit_alone(self, unit: list[Group]) -> list[GroupResult]:
        return [self._alone(group) for group in unit]

    def _alone(self, group: Group) -> GroupResult:
        """One group in the workers, with nothing else in flight: when the worker dies
        again, its primary is the cause; the next media file of the group is tried."""
        assert self.workers is not None
        failed: list[Failure] = []
        while True:
            future, generation = self.workers.submit(self.work, [group])
            try:
                [result] = future.result()
                result.failed[:0] = failed
                return result
            except BrokenProcessPool:
                how = self.workers.replace(generation)
                cause = "" if "cpu_limit" in how else " (a crash in a decoder?)"
                error = f"the worker process {how} while extracting it{cause}"
                remember = True
            except Exception as exc:  # e.g. a cluster's artefacts this disk could not take
                error = describe(exc)
                remember = not may_pass(exc)  # a full disk: tried again next time, no memo
            failed.append(Failure(group.primary, error, remember=remember))
            following = next_primary(group)
            if following is None:
                return GroupResult(group, failed=failed, fatal=True)
            group = following

    def _transcode_alone(self, result: GroupResult) -> GroupResult:
        assert self.workers is not None
        future, generation = self.workers.submit(extractor.transcode_one, result)
        try:
            return future.result()
        except BrokenProcessPool:
            error = f"ffmpeg transcode: the worker process {self.workers.replace(generation)}"
        except Exception as exc:
            error = f"ffmpeg transcode: {describe(exc)}"
        errors = [*result.errors, {"path": result.group.primary["path"], "error": error}]
        return replace(result, needs_video=False, errors=errors)

    # -- records ------------------------------------------------------------------------------

    def _passed(self, rec: dict[str, Any]) -> dict[str, Any]:
        if rec.get("type") == "error" and rec.get("stage") == "extract":
            self.summary.failed += 1
            if rec.get("known"):
                self.summary.known += 1
                log.info("%s: %s (known failure)", rec.get("path"), rec.get("error"))
            else:
                log.warning("%s: %s", rec.get("path") or "input", rec.get("error"))
            self.progress.update(files=1)
        elif rec.get("type") == "skip" and rec.get("stage") == "extract":
            self.summary.skipped += 1
            log.info("%s: skipped: %s", rec.get("path"), rec.get("reason"))
            self.progress.update(files=1)
        else:
            self.summary.passed += 1
        return rec

    def _results(self, results: Iterable[Any], videos: list[GroupResult]) -> Iterator[dict]:
        for item in results:
            for result in item if isinstance(item, list) else [item]:
                try:
                    records = self._records(result, videos)
                except Exception as exc:  # a bug here, the geocoder: this group only
                    log.debug("%s", exc, exc_info=True)
                    records = self._group_failed(result.group, describe(exc))
                yield from records

    def _records(self, result: GroupResult, videos: list[GroupResult]) -> list[dict[str, Any]]:
        """The group's records (built in full before any is printed: all or none)."""
        group = result.group
        records = [self._failure(f) for f in result.failed]
        if result.fatal:
            first = result.failed[0]
            for rec in group.files[1:]:
                own = [e for e in result.errors if e["path"] == rec["path"]]
                records.append(not_imported(rec, first.file, first.error))
                if own:
                    records[-1]["details"] = own
        elif result.needs_video:
            videos.append(replace(result, failed=[]))  # those are answered now, the entry later
        else:
            records.append(self._entry(result))
        for rec in records:
            if rec["type"] == "error":
                log.warning("%s: %s", rec["path"], rec["error"])
        self.summary.failed += sum(r["type"] == "error" for r in records)
        done = sum(len(r["files"]) if r["type"] == "entry" else 1 for r in records)
        entry = bool(records) and records[-1]["type"] == "entry"
        nbytes = (group.primary.get("size") or 0) if entry else 0
        self.progress.update(files=done, nbytes=nbytes)
        return records

    def _failure(self, failure: Failure) -> dict[str, Any]:
        if failure.remember:
            value = failures.memo(failure.error, failure.details, now_utc())
            try:
                self.storage.write_json(failure.file["checksum"], layout.FAILED, value)
            except OSError as exc:  # the storage is full: tried again next time, no harm
                log.debug("failure memo: %s", exc)
        return file_error(failure.file, failure.error, failure.details)

    def _group_failed(self, group: Group, error: str) -> list[dict[str, Any]]:
        """Every file of a group whose records could not be made: an error record each."""
        self.summary.failed += len(group.files)
        self.progress.update(files=len(group.files))
        records = [file_error(group.primary, error)]
        records += [not_imported(rec, group.primary, error) for rec in group.files[1:]]
        for rec in records:
            log.warning("%s: %s", rec["path"], rec["error"])
        return records

    def _entry(self, result: GroupResult) -> dict[str, Any]:
        group = result.group
        try:
            address = self._address(group, result.metas)
        except Exception as exc:  # the photo is fine: the entry without its address
            address = None
            error = f"address lookup failed: {describe(exc)}"
            result.errors = [*result.errors, {"path": group.primary["path"], "error": error}]
        entry = entry_record(
            group, result.metas, result.errors, **result.outputs(), address=address
        )
        try:  # it is an entry now: an old memo must not make it a failure again
            self.storage.path(group.id, layout.FAILED).unlink(missing_ok=True)
        except OSError:
            pass
        self.summary.entries += 1
        self.summary.videos += result.video is not None
        if result.ml_task is not None and result.ml_task.id not in self._ml_ids:
            self._ml_ids.add(result.ml_task.id)  # copies of one photo: one pass
            self._ml_tasks.append(result.ml_task)
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
        stored = None if self.opts.force else self.storage.read_json(group.id, layout.ADDRESS)
        if isinstance(stored, dict) and stored.get("source") == self.geocoder.source:
            return stored
        address = self.geocoder.address(*point)
        if address is not None:
            self.storage.write_json(group.id, layout.ADDRESS, address)
        return address
