"""HomeGallery's three import batches and the stage command lines (pure).

Photos first, short videos next, long videos last: each batch caps the file size and grows
its chunks by hg-index's add limits, so the first photos are in the gallery within a minute.
"""

from __future__ import annotations

from dataclasses import dataclass

from hg_common.cli_support import tool


@dataclass(frozen=True)
class Batch:
    number: int
    add_limits: str
    max_filesize: str | None


# Batch 1 is HomeGallery's but for its growth (1.5 instead of 1.2) and its largest chunk
# (2000 instead of 200): a chunk costs an hg-index run, a walk of the whole tree and an index
# commit, so HomeGallery's 200-file chunks made a 10k-photo archive 64 chunks (16.5 s of CPU
# to index what one hg-index run does in 1.2 s) and a 100k one ~500, each walking 100k
# files. These limits make 17 at 10k (5.3 s). The gallery still fills steadily within a
# chunk (hg-build commits every few seconds); a chunk is only what a killed import hashes
# again. Videos take far longer than a walk, so batches 2 and 3 keep HomeGallery's limits.
BATCHES = (
    Batch(1, "10,20,1.5,2000", "20m"),
    Batch(2, "2,5,1.1,30", "200m"),
    Batch(3, "1,2,1.05,10", None),
)


@dataclass(frozen=True)
class Plan:
    """What one import runs: shared flags (--home/--config/-q/-v), hg-index extras, sources."""

    common: tuple[str, ...] = ()
    index_args: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()
    index_only: bool = False
    retry_failed: bool = False
    """Pass --retry-failed to hg-extract: redo failed files despite its memo."""
    index_dir: str = ""
    """The config's index folder (the retry of failed files reads the committed indexes)."""
    extract_args: tuple[str, ...] = ()
    """hg-extract's own flags of this import (the cluster's: `--cluster` …)."""


def _size_filter(batch: Batch | None) -> list[str]:
    return ["--max-filesize", batch.max_filesize] if batch and batch.max_filesize else []


def index_command(plan: Plan, batch: Batch) -> list[str]:
    return [
        tool("hg-index"),
        *plan.common,
        "--no-progress",
        "--defer-commit",
        "--add-limits",
        batch.add_limits,
        *_size_filter(batch),
        *plan.index_args,
        *plan.sources,
    ]


def count_command(plan: Plan, batch: Batch | None) -> list[str]:
    """`hg-index --count`: what is left for a batch (all batches with None), no hashing."""
    return [
        tool("hg-index"),
        *plan.common,
        "-q",
        "--no-progress",
        "--count",
        *_size_filter(batch),
        *plan.index_args,
        *plan.sources,
    ]


def extract_command(plan: Plan) -> list[str]:
    retry = ["--retry-failed"] if plan.retry_failed else []
    return [tool("hg-extract"), *plan.common, "--no-progress", *retry, *plan.extract_args]


def failures_command(plan: Plan) -> list[str]:
    """`hg-build failures --json` (contract 3), with the home and config only."""
    where = [a for a in plan.common if a not in ("-q", "-v")]
    return [tool("hg-build"), "failures", "--json", *where]


def build_command(plan: Plan) -> list[str]:
    return [tool("hg-build"), *plan.common]
