"""The import loop: per batch, count what is left, then run chunks until hg-index stops
saying "more" (exit 3); commit each chunk's index only after every stage succeeded and
every file offered to hg-extract was answered. At the end, the files whose extraction
failed before are offered again (see `retry`).

Exit 1 of a stage (some inputs failed, the run completed) counts as done; any other failure
stops the import, names the stage and leaves the chunk uncommitted, so the next import offers
the same files again (hg-extract skips what exists, hg-build upserts). So does a full disk,
said by anyone: it is not the files' fault, they must be done when there is room.
"""

from __future__ import annotations

import contextlib
import logging
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import orjson

from hg_common.cli_support import EXIT_BROKEN_PIPE, EXIT_FAILED_INPUTS, EXIT_INTERRUPTED, EXIT_OK
from hg_common.diskfull import is_disk_full
from hg_common.home import index_lock
from hg_common.indexfile import IndexFormatError, commit_pending
from hg_common.lock import RunLock
from hg_import.batches import (
    BATCHES,
    Batch,
    Plan,
    build_command,
    count_command,
    extract_command,
    failures_command,
    index_command,
)
from hg_import.pipeline import ChunkResult, Key, Watch, run_index
from hg_import.progress import ImportProgress
from hg_import.retry import list_failures, retry_records, to_retry
from hg_import.service import NAMES, Service

log = logging.getLogger("hg-import")

EXIT_MORE = 3
SHOWN_PATHS = 3


class StageFailed(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)


class DiskFull(StageFailed):
    """A full disk stopped the import (`problem` says who noticed, `where` the chunk)."""

    def __init__(self, problem: str, where: str) -> None:
        super().__init__(f"{problem} (in {where})")
        self.problem = problem
        self.where = where


@dataclass
class ImportState:
    watch: Watch = field(default_factory=Watch)
    failed: set[Key] = field(default_factory=set)
    """Files with an error record in this import: counted once, however many chunks."""


def count_pending(plan: Plan, batch: Batch | None) -> tuple[int | None, int | None]:
    """Files and bytes left (a stat pass, no hashing); (None, None) when it cannot tell."""
    proc = subprocess.run(count_command(plan, batch), capture_output=True)
    for line in proc.stdout.splitlines():
        if line.startswith(b'{"type":"pending"'):
            record = orjson.loads(line)
            return int(record["files"]), int(record["bytes"])
    log.debug("hg-index --count said nothing (exit %s)", proc.returncode)
    return None, None


def run_import(plan: Plan, progress: ImportProgress, state: ImportState | None = None) -> int:
    """Run all batches, then the retry of failed files; returns 0, 1 (some inputs failed)
    or raises StageFailed (DiskFull).

    One hg-extract | hg-build serves every chunk (`service`): started with the first
    chunk, closed at the end; each chunk is ended by a flush record."""
    state = state or ImportState()
    service: list[Service | None] = [None]
    finished = False
    try:
        status, total = _run_batches(plan, progress, service, state)
        if not plan.index_only:
            status = max(status, _retry_failed(plan, state, service))
        finished = True
    finally:
        if service[0] is not None:
            if finished:
                _close(service[0])
            else:
                service[0].kill()
    what = " (index only)" if plan.index_only else ""
    failed = f", {len(state.failed)} failed" if state.failed else ""
    print(f"hg-import: done, {total} files added{failed}{what}", file=sys.stderr)
    return status


def judge(result: ChunkResult, watch: Watch, where: str, check_answers: bool) -> bool:
    """Raise unless the chunk may be committed; True when some inputs failed (exit 1).

    Pure but for the exceptions. The first cause is named: a stage that failed on its own,
    not the ones before it that then met a closed pipe (141)."""
    if watch.problem is not None:
        if watch.disk_full:
            raise DiskFull(watch.problem, where)
        raise StageFailed(f"{watch.problem} in {where}; stopping (this chunk is not committed)")
    # stages kept across chunks (`service`) say failures by records, not exit statuses
    failed_inputs = bool(result.counts.failed or result.counts.build_errors)
    culprit: tuple[str, int] | None = None
    for name, status in zip(result.names, result.statuses, strict=True):
        if status == EXIT_OK or (name == "hg-index" and status == EXIT_MORE):
            continue
        if status == EXIT_FAILED_INPUTS:
            failed_inputs = True
        elif status in (EXIT_INTERRUPTED, -2):
            raise KeyboardInterrupt
        elif culprit is None or (culprit[1] == EXIT_BROKEN_PIPE and status != EXIT_BROKEN_PIPE):
            culprit = (name, status)
    if culprit is not None:
        name, status = culprit
        why = " (its output was not read to the end)" if status == EXIT_BROKEN_PIPE else ""
        raise StageFailed(
            f"{name} failed (exit {status}){why} in {where}; stopping "
            "(this chunk is not committed: the next import redoes it)"
        )
    lost = result.unanswered() if check_answers else []
    if lost:
        shown = ", ".join(path for _, path in lost[:SHOWN_PATHS])
        more = f" and {len(lost) - SHOWN_PATHS} more" if len(lost) > SHOWN_PATHS else ""
        raise StageFailed(
            f"hg-extract gave no answer for {len(lost)} of the {result.counts.offered_total} "
            f"files offered in {where} ({shown}{more}); stopping (this chunk is not "
            "committed: the next import offers them again)"
        )
    return failed_inputs


def commit_chunk(plan: Plan, where: str) -> None:
    """`hg-index commit` in this process (`hg_common.indexfile`, under hg-index's lock):
    a process start less per chunk."""
    index_dir = Path(plan.index_dir)
    try:
        with RunLock(index_lock(index_dir), wait=True):
            commit_pending(index_dir)
    except OSError as exc:
        said = f"hg-import: committing the index: {exc}"
        if is_disk_full(exc):
            raise DiskFull(said, where) from None
        raise StageFailed(f"{said} in {where}; stopping") from None
    except IndexFormatError as exc:
        raise StageFailed(f"hg-import: committing the index: {exc} in {where}; stopping") from None


def _close(service: Service) -> None:
    """The end of the import: every chunk was answered and committed, so the service's
    stages end on their own; one that fails then is hg's bug, said as such."""
    for name, code in zip(NAMES[1:], service.close(), strict=True):
        if code not in (EXIT_OK, EXIT_FAILED_INPUTS):
            raise StageFailed(
                f"{name} failed (exit {code}) at the end of the import, after every chunk "
                "was committed"
            )


def _service(plan: Plan, service: list[Service | None], watch: Watch) -> Service:
    if service[0] is None:
        service[0] = Service(extract_command(plan), build_command(plan), watch)
    return service[0]


def _run_batches(
    plan: Plan, progress: ImportProgress, service: list[Service | None], state: ImportState
) -> tuple[int, int]:
    watch = state.watch
    failed_inputs = False
    total = 0
    progress.set_total(*count_pending(plan, None))
    for batch in BATCHES:
        pending = count_pending(plan, batch)
        progress.start_batch(batch.number, *pending)
        if pending[0] == 0 and batch is not BATCHES[0]:
            # Nothing new of this size: the first batch's walk saw every file (it reported
            # the removes, and its `scanned` record unless a larger new file was left for
            # a later batch, which this count would see): a cron run skips two index runs
            continue
        chunk = 0
        while True:
            chunk += 1
            where = f"batch {batch.number} chunk {chunk}"
            progress.start_chunk(chunk)
            index = index_command(plan, batch)
            if plan.index_only:
                result = run_index(index, watch)
            else:
                result = _service(plan, service, watch).run(progress.advance, index=index)
            state.failed |= result.counts.failed
            try:
                failed_inputs |= judge(result, watch, where, not plan.index_only)
            except StageFailed:
                with contextlib.suppress(OSError):  # a full disk: the cause is what we report
                    progress.chunk_done(result.counts.added)
                raise
            commit_chunk(plan, where)
            left = result.counts.offered  # not reported by hg-extract (e.g. index only)
            progress.advance(len(left), sum(left.values()))
            added = result.counts.added
            total += added
            progress.chunk_done(added)
            if result.statuses[0] != EXIT_MORE:
                break
            if added == 0:
                raise StageFailed("hg-index reports more files but added none; stopping")
    return (EXIT_FAILED_INPUTS if failed_inputs else EXIT_OK), total


def _retry_failed(plan: Plan, state: ImportState, service: list[Service | None]) -> int:
    """Offer the files whose extraction failed before (and were not offered in this import)
    to hg-extract | hg-build; hg-extract's memo decides what is really redone."""
    failures = list_failures(failures_command(plan))
    if not failures:
        return EXIT_OK
    lines = retry_records(Path(plan.index_dir), to_retry(failures, state.failed))
    if not lines:
        return EXIT_OK
    how = "--retry-failed" if plan.retry_failed else "retried if hg-extract changed since"
    print(
        f"hg-import: offering {len(lines)} files whose extraction failed before ({how})",
        file=sys.stderr,
    )
    result = _service(plan, service, state.watch).run(lambda files, nbytes: None, feed=lines)
    state.failed |= result.counts.failed
    failed = judge(result, state.watch, "the retry of failed files", True)
    return EXIT_FAILED_INPUTS if failed else EXIT_OK
