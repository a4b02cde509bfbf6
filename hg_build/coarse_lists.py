"""Coarse lists (an inverted file, IVF) over one group's int8 rows: what lets `similar:<id>`
read a few percent of a big group's rows instead of all of them (issue 19).

A seed's cosines with every row of a 1M × 720 group are one int8 product that reads 690 MB
(~125 ms of CPU, bound by memory bandwidth: `hg_build.vectors`). Above MIN_ROWS rows the
rows are put in about sqrt(n) lists by spherical k-means (centroids of unit length), each
row in the SPILL lists whose centroids have the largest cosines with it, and a seed reads
only the rows of the PROBES lists whose centroids are nearest to it, and of its own list:
at 1M ~32k rows (~23 MB) instead of 1M. Its hits there are then scored exactly as before
(`Vectors._exact`). That is approximate: a hit in no list read is not found. The recall
measured on bench/similar.py's clustered vectors is in docs/benchmarks.md.

The lists hold no copy of the rows: int32 row indexes ordered list by list (`order`,
with each list's start), each row's nearest list, and the centroids; 8 + 4 + 2.9 MB at
1M against 694 MB of rows. A query gathers its lists' rows (a copy of ~32k rows).

Training: TRAIN_ROUNDS rounds of k-means on a random sample of SAMPLE_PER_LIST rows per
list, then FULL_ROUNDS rounds over every row (centroids = the normalised sum of their
rows' unit vectors), then every row put in its lists. The rounds over all rows are what
makes the lists hold whole clusters: trained on the sample alone, a cluster with few
rows in it is nearly orthogonal to every centroid and its rows scatter over many lists.
Measured at 1M (20k clusters, 1000 lists, 40 seeds, hits found / hits at 0.5): sample
only 0.83 with 8 lists read; one round over all rows 0.94, with each row in 2 lists 0.97
(8 lists read, ~16k rows) and 0.984 (16 lists, ~32k rows); a second round 0.98 / 0.984,
for another pass over all rows (~1 min of CPU at 1M). Each round is float32 blocks made
from the int8 rows times the centroids (numpy's BLAS matrix-matrix product; the int8
kernel takes one seed at a time), BLOCK rows at once so the build holds ~60 MB beyond
the rows whatever their number.

A new database state (any commit) gets new lists, from the previous state's centroids
when the row count moved by less than about a quarter: one pass over its rows.

Hand-written rather than a library's: faiss-cpu or usearch would hold their own copy of
the 690 MB of vectors (or a graph beside them) and the query would not be the int8
kernel and exact re-scoring every other `similar:` uses; k-means itself is the few lines
below on numpy, already a dependency.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np

MIN_ROWS = 250_000  # below: the full scan (< 20 ms at 100k), exact
PROBES = 16  # lists read besides the seed's own (docs/benchmarks.md: recall and time)
SAMPLE_PER_LIST = 64  # rows of the training sample per list
TRAIN_ROUNDS = 6  # k-means rounds on the sample
FULL_ROUNDS = 1  # then rounds over every row
SPILL = 2  # lists a row is put in (its nearest ones)
BLOCK = 8192  # rows made float32 at once (24 MB at 720-d, and 8192 × lists scores)
# BLAS threads while building (threadpoolctl; numpy's BLAS takes every core otherwise). At
# 1M on 2 shared cores one thread built the lists in 72 s where two took 118 s (load 7.5
# and 12), and a full scan meanwhile took 213 ms at p50 instead of 391 (max 370 vs 1381):
# the queries waiting for the lists keep a core
BLAS_THREADS = 1


class Stopped(Exception):
    """The build was asked to stop (the vectors it is for were dropped)."""


@dataclass(frozen=True)
class Lists:
    """The lists of one group's rows: list j holds the rows `order[starts[j]:starts[j + 1]]`
    (ascending), `centroids[j]` its unit centroid; `list_of[i]` is row i's list."""

    centroids: np.ndarray  # float32 (k, d)
    order: np.ndarray  # int32 (n × SPILL,)
    starts: np.ndarray  # int64 (k + 1,)
    list_of: np.ndarray  # int32 (n,)

    def near(self, unit: np.ndarray, row: int, probes: int | None = None) -> np.ndarray:
        """The rows (ascending int32 indexes) of the `probes` lists whose centroids have the
        largest cosines with the unit vector `unit` of row `row`, and of row's own list."""
        probes = PROBES if probes is None else probes
        # einsum, not `@`: numpy's own loop, ~0.1 ms; BLAS threads this product and waiting
        # for them took 12 ms at p50 when the cores were busy (a 1000 × 720 product)
        scores = np.einsum("ij,j->i", self.centroids, unit)
        best = (
            np.argpartition(-scores, probes)[:probes]
            if probes < len(scores)
            else np.arange(len(scores))
        )
        # a row is in SPILL lists: marks, not np.unique (a sort; 3 ms against 0.7 at 1M)
        read = np.zeros(len(self.list_of), bool)
        for j in [*best.tolist(), int(self.list_of[row])]:
            read[self.order[self.starts[j] : self.starts[j + 1]]] = True
        return np.flatnonzero(read).astype(np.int32)

    @property
    def nbytes(self) -> int:
        return sum(a.nbytes for a in (self.centroids, self.order, self.starts, self.list_of))


def count_for(n: int) -> int:
    """How many lists for n rows: about sqrt(n) (a list of ~sqrt(n) rows too)."""
    return max(1, round(n**0.5))


def build(
    rows: np.ndarray,
    factors: np.ndarray,
    stop: threading.Event | None = None,
    seed: int = 0,
    trained: np.ndarray | None = None,
) -> Lists:
    """The lists of int8 rows whose unit vectors are `rows[i] * factors[i]` (see module
    doc). `trained`: the centroids of an earlier state's lists of the same group, taken
    as they are when their number is within an eighth of what n rows get (n within about
    a quarter): one pass over the rows instead of three, for a state that differs by a
    commit. Raises Stopped when `stop` is set (checked between blocks)."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(BLAS_THREADS, user_api="blas"):
        return _build(rows, factors, stop, seed, trained)


def _build(
    rows: np.ndarray,
    factors: np.ndarray,
    stop: threading.Event | None,
    seed: int,
    trained: np.ndarray | None,
) -> Lists:
    n = len(rows)
    k = count_for(n)
    if trained is not None and abs(len(trained) - k) <= k // 8:
        return _listed(*_round(rows, factors, trained, stop, update=False))
    rng = np.random.default_rng(seed)
    sample = np.sort(rng.choice(n, min(n, SAMPLE_PER_LIST * k), replace=False))
    sample_rows, sample_factors = rows[sample], factors[sample]
    first = rng.choice(len(sample), k, replace=False)  # the first centroids: sample rows
    centroids = _units(sample_rows[first], sample_factors[first])
    for _ in range(TRAIN_ROUNDS):
        centroids = _round(sample_rows, sample_factors, centroids, stop)[0]
    del sample_rows, sample_factors
    for _ in range(FULL_ROUNDS):
        centroids = _round(rows, factors, centroids, stop)[0]
    return _listed(*_round(rows, factors, centroids, stop, update=False))


def _listed(centroids: np.ndarray, nearest: np.ndarray) -> Lists:
    """The lists of rows whose SPILL nearest lists are `nearest[i]` (the nearest first)."""
    flat = nearest.reshape(-1)
    by_list = np.argsort(flat, kind="stable")
    order = (by_list // nearest.shape[1]).astype(np.int32)  # ascending within each list
    starts = np.searchsorted(flat[by_list], np.arange(len(centroids) + 1)).astype(np.int64)
    return Lists(centroids, order, starts, nearest[:, 0].copy())


def _units(rows: np.ndarray, factors: np.ndarray) -> np.ndarray:
    return rows.astype(np.float32) * factors[:, None]


def _round(
    rows: np.ndarray,
    factors: np.ndarray,
    centroids: np.ndarray,
    stop: threading.Event | None,
    update: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """One k-means round: (the new unit centroids, each row's list by the old ones). A list
    left with no rows keeps its centroid. Not `update`: (the centroids, each row's SPILL
    nearest lists, the nearest first)."""
    spill = 1 if update else min(SPILL, len(centroids))
    assigned = np.empty((len(rows), spill), np.int32)
    sums = np.zeros_like(centroids) if update else centroids
    for start in range(0, len(rows), BLOCK):
        if stop is not None and stop.is_set():
            raise Stopped
        block = _units(rows[start : start + BLOCK], factors[start : start + BLOCK])
        scores = block @ centroids.T
        if spill == 1:
            nearest = np.argmax(scores, axis=1).astype(np.int32)
            assigned[start : start + len(block), 0] = nearest
        else:
            best = np.argpartition(-scores, spill - 1, axis=1)[:, :spill]
            ranked = np.argsort(-np.take_along_axis(scores, best, axis=1), axis=1)
            assigned[start : start + len(block)] = np.take_along_axis(best, ranked, axis=1)
        if update:  # sums of the block's rows per list, through one sort (np.add.at is slow)
            by_list = np.argsort(nearest, kind="stable")
            lists, first = np.unique(nearest[by_list], return_index=True)
            sums[lists] += np.add.reduceat(block[by_list], first, axis=0)
    if not update:
        return centroids, assigned
    assigned = assigned[:, 0]
    norms = np.linalg.norm(sums, axis=1)
    empty = norms == 0
    sums[~empty] /= norms[~empty][:, None]
    sums[empty] = centroids[empty]
    return sums, assigned
