"""Near-duplicates: entries whose similarity vectors are (almost) the same picture — bursts,
re-saved, resized or slightly cropped copies — as pairs and as the groups the pairs join.

The pairs come from `vectors.pairs_above` (blockwise, memory bounded however large the
gallery) within each model's group (two models' vectors are never compared), their
scores from the stored vectors (`vectors.stored_units`: the int8 rows are within ~0.003
of them, and a pair near the threshold is in or out as with the exact cosine); the groups
from a union-find over them, so memory is O(entries) and a pair is never kept. Records
(`hg-build duplicates --json`):

    {"type": "duplicate-pair", "v": 1, "a": id, "b": id, "score": cosine}   (--pairs)
    {"type": "duplicate-group", "v": 1, "ids": [id…], "min_score": c, "max_score": c}

Ids of a group and the groups are in the query's order (newest first by default), a group
placed by its first id. A query restricts what is compared (hg-serve passes a user's filter
here, so a group never shows, or is joined through, an entry the user may not see).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from hg_build import vectors
from hg_build.query.compile import Compiled
from hg_build.query.search import search_ids

DEFAULT_THRESHOLD = 0.86
"""Measured by bench/duplicates.py on the 69 photos of the fixture and shared media at
least 200 px large, with 3 copies each (docs/benchmarks.md): copies score 0.795-0.99 with
their original (median 0.92-0.96 by kind), the nearest different picture at most 0.855
(median 0.73), except an HDR / non-HDR pair of one moment (0.945: a burst, which this
should find). At 0.86 every different picture stays apart and 195 of 204 copies (96 %)
are found; 0.9 would miss 33."""


class _UnionFind:
    """Disjoint sets over row numbers (a hand-written forest: a graph library for one loop
    would be a large dependency), with the lowest and highest score that joined each."""

    def __init__(self, n: int) -> None:
        self.parent = list(range(n))
        self.low: dict[int, float] = {}  # root -> lowest pair score in its set
        self.high: dict[int, float] = {}

    def find(self, i: int) -> int:
        parent = self.parent
        root = i
        while parent[root] != root:
            root = parent[root]
        while parent[i] != root:  # path compression
            parent[i], i = root, parent[i]
        return root

    def union(self, a: int, b: int, score: float) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[ra] = rb
        low = min(score, self.low.pop(ra, score), self.low.get(rb, score))
        high = max(score, self.high.pop(ra, score), self.high.get(rb, score))
        self.low[rb], self.high[rb] = low, high


def find_duplicates(
    conn: sqlite3.Connection,
    query: str | Compiled = "",
    threshold: float = DEFAULT_THRESHOLD,
    on_pair: Callable[[dict[str, Any]], None] | None = None,
) -> Iterator[dict[str, Any]]:
    """`duplicate-group` records of the entries matching `query` (see module doc); each
    pair found is handed to `on_pair` as a `duplicate-pair` record first, if given."""
    order = {entry_id: i for i, entry_id in enumerate(search_ids(conn, query))}
    found: list[tuple[int, list[str], float, float]] = []
    for group in vectors.for_connection(conn).groups:
        keep = np.fromiter((i in order for i in group.ids), bool, len(group.ids))
        if keep.sum() < 2:
            continue
        rows = np.flatnonzero(keep)
        ids = group.ids[rows]
        sets = _UnionFind(len(ids))
        width, units = group.rows.shape[1], {}

        def unit(entry_id: str, width=width, units=units, group=group) -> np.ndarray | None:
            if entry_id not in units:
                found = vectors.stored_units(conn, [entry_id], group.tag, width)
                units[entry_id] = found.get(entry_id)
            return units[entry_id]

        # the int8 rows' cosines are off by up to ~0.003: the pairs near the threshold or
        # above get the stored vectors' exact cosine, so a pair is in or out as with them
        near = threshold - vectors.EXACT_MARGIN
        for a, b, approx in vectors.pairs_above(group, near, rows):
            ua, ub = unit(ids[a]), unit(ids[b])
            score = float(ua @ ub) if ua is not None and ub is not None else approx
            if score < threshold:
                continue
            sets.union(a, b, score)
            if on_pair is not None:
                first, second = sorted((ids[a], ids[b]), key=order.__getitem__)
                on_pair({"type": "duplicate-pair", "v": 1, "a": first, "b": second,
                         "score": round(score, 4)})  # fmt: skip
        members: dict[int, list[str]] = {}
        for root in sets.low:
            members[root] = []
        for row, entry_id in enumerate(ids):
            root = sets.find(row)
            if root in members:
                members[root].append(entry_id)
        for root, group_ids in members.items():
            group_ids.sort(key=order.__getitem__)
            found.append((order[group_ids[0]], group_ids, sets.low[root], sets.high[root]))
    found.sort(key=lambda g: g[0])
    for _rank, group_ids, low, high in found:
        yield {"type": "duplicate-group", "v": 1, "ids": group_ids,
               "min_score": round(low, 4), "max_score": round(high, 4)}  # fmt: skip
