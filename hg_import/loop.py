"""The import loop: per batch, count what is left, then run chunks until hg-index stops
saying "more" (exit 3); commit each chunk's index only after every stage succeeded.

Exit 1 of a stage (some inputs failed, the run completed) counts as done; any other failure
stops the import, names the stage and leaves the chunk uncommitted, so the next import offers
the same files again (hg-extract skips what exists, hg-build upserts).
"""

from __future__ import annotations

import logging
import subprocess
import sys

import orjson

from hg_import.batches import (
    BATCHES,
    Batch,
    Plan,
    build_command,
    commit_command,
    count_command,
    extract_command,
    index_command,
)
from hg_import.pipeline import run_chunk, start_extract, stop_spare
from hg_import.progress import ImportProgress

log = logging.getLogger("hg-import")

EXIT_MORE = 3


class StageFailed(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)


def count_pending(plan: Plan, batch: Batch | None) -> tuple[int | None, int | None]:
    """Files and bytes left (a stat pass, no hashing); (None, None) when it cannot tell."""
    proc = subprocess.run(count_command(plan, batch), capture_output=True)
    for line in proc.stdout.splitlines():
        if line.startswith(b'{"type":"pending"'):
            record = orjson.loads(line)
            return int(record["files"]), int(record["bytes"])
    log.debug("hg-index --count said nothing (exit %s)", proc.returncode)
    return None, None


def run_import(plan: Plan, progress: ImportProgress) -> int:
    """Run all batches; returns 0, 1 (some inputs failed) or raises StageFailed.

    Each chunk's hg-extract is started while the chunk before runs (a spare): its start is
    then off the path between chunks. The last spare gets no input and exits quietly."""
    spare: list[subprocess.Popen[bytes] | None] = [None]
    try:
        return _run_batches(plan, progress, spare)
    finally:
        stop_spare(spare[0])


def _run_batches(
    plan: Plan, progress: ImportProgress, spare: list[subprocess.Popen[bytes] | None]
) -> int:
    failed_inputs = False
    total = 0
    progress.set_total(*count_pending(plan, None))
    for batch in BATCHES:
        progress.start_batch(batch.number, *count_pending(plan, batch))
        chunk = 0
        while True:
            chunk += 1
            progress.start_chunk(chunk)
            commands = [index_command(plan, batch)]
            names = ["hg-index"]
            if not plan.index_only:
                commands += [extract_command(plan), build_command(plan)]
                names += ["hg-extract", "hg-build"]
            extract, spare[0] = spare[0], None  # None: run_chunk starts one
            if not plan.index_only:
                spare[0] = start_extract(commands[1], True)
            result = run_chunk(commands, names, progress.advance, extract)
            for name, status in zip(result.names, result.statuses, strict=True):
                if name == "hg-index" and status == EXIT_MORE:
                    continue
                if status == 1:
                    failed_inputs = True
                elif status in (130, -2):
                    raise KeyboardInterrupt
                elif status != 0:
                    progress.chunk_done(result.counts.added)
                    raise StageFailed(
                        f"{name} failed (exit {status}) in batch {batch.number} chunk {chunk}; "
                        "stopping (this chunk is not committed: the next import redoes it)"
                    )
            commit = subprocess.run(commit_command(plan))
            if commit.returncode != 0:
                raise StageFailed(
                    f"hg-index commit failed (exit {commit.returncode}) in batch "
                    f"{batch.number} chunk {chunk}; stopping"
                )
            left = result.counts.offered  # not reported by hg-extract (e.g. index only)
            progress.advance(len(left), sum(left.values()))
            added = result.counts.added
            total += added
            progress.chunk_done(added)
            if result.statuses[0] != EXIT_MORE:
                break
            if added == 0:
                raise StageFailed("hg-index reports more files but added none; stopping")
    what = " (index only)" if plan.index_only else ""
    print(f"hg-import: done, {total} files added{what}", file=sys.stderr)
    return 1 if failed_inputs else 0
