"""The gallery's similarity vectors as int8 matrices: what `similar:<id>` (the SQL functions
`hg_similar_ids` / `hg_similar_score`) and `hg-build duplicates` compare.

Comparing a seed with 100k stored vectors row by row in SQL (`hg_cosine`) costs ~1 s; one
matrix-vector product over the same vectors ~10 ms. Reading and decoding the blobs costs
more than that (~2 s at 100k), so `for_connection` keeps the matrices of the last few
database files and reads them again only when the file or its WAL changed (any commit
touches the WAL; a rebuild replaces the file). They are read through a connection of their
own opened *after* that check: the cache never holds an older state than its key says
(the query's own transaction may have begun before a commit; the cached state is then the
newer one, and the next query sees the file changed again at worst).

A `Group` is the vectors of one model tag and length, as `hg_build.ml` compares them:
vectors of two models (or two lengths) are never compared. A vector of length zero (or
not finite) is in no group (its cosine is None, as `ml.cosine`'s). The seed of a prefix is
the first entry with a vector in the table's row order whose id starts with it, the entry
the SQL route's `LIMIT 1` scan found.

Rows are held as int8 (`quantised`: each row scaled so its largest component is ±127,
rounded, and given the float32 factor that makes it length 1; hg's own model's 2-bit
values are whole numbers there, exact), not float32: 1M × 720 is 720 MB instead of
2.9 GB, for a NAS. A seed's cosines are one int8 matrix-vector product (int32 sums, times
the two rows' factors) in onnxruntime's MatMulInteger (`_Int8Product`), which reads a
quarter of float32's bytes: at 1M it took 2-2.5x less time than numpy's float32 product in
the same runs, and numpy has no fast int8 or float16 product of its own
(bench/similar_kernels.py, docs/benchmarks.md). The rounding moves a cosine by up to
~0.003, enough to swap two photos whose cosines differ by 0.0001; so `similar_ids` puts
the exact cosines of the rows near and above its minimum in (`_exact`, from the stored
vectors read again: ~50 rows a seed), and the hits and their order are the float32
route's. Only rows below the minimum (`not similar:`'s) keep int8 cosines: near-ties
among them may swap. The ids are numpy byte strings (sorted, with each one's place in row
order, group and row beside them, and a hash table of places), not Python dicts and lists
of 1M strings (~300 MB at 1M; the arrays take ~80 MB).
"""

from __future__ import annotations

import os
import sqlite3
import sys
import threading
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from hg_build import coarse_lists, ml

CACHED_DATABASES = 2  # hg-serve reads one; a second while a rebuild's file replaces it
CACHED_SEEDS = 16  # one request asks for the ids and then the scores of the same seed
# ... but at most this many bytes of cosines (4 MB a seed at 1M vectors: 8 seeds, not 16)
CACHED_SEED_BYTES = 32 << 20
READ_BATCH = 4096  # rows decoded at once: the raw blobs are never all held together
INT8_MAX = 127
# `similar_ids` asks for the exact cosines of the rows within EXACT_MARGIN below its
# minimum or above: the int8 ones are off by at most ~0.003 (bench/similar_kernels.py)
EXACT_MARGIN = 0.01
EXACT_ROWS = 2000  # at most (the best): each costs a read by id, ~10-20 µs


def quantised(matrix: np.ndarray, whole: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """(int8 rows, float32 factors) of float rows with a length above zero: row i is
    `rows[i] * factors[i]`, of length 1, its largest component ±127 before the factor.
    `whole`: the rows are whole numbers within int8 already, taken as they are (exact)."""
    if whole:
        rows = np.rint(matrix).astype(np.int8)
    else:
        peak = np.abs(matrix).max(axis=1)
        rows = np.rint(matrix * (INT8_MAX / peak)[:, None]).astype(np.int8)
    factors = 1 / np.sqrt(np.einsum("ij,ij->i", rows, rows, dtype=np.int64))
    return rows, factors.astype(np.float32)


@dataclass(frozen=True)
class Group:
    """The comparable vectors of one model: the entry `sorted_ids[keys[i]]` has the unit
    vector `rows[i] * factors[i]` (rows in the table's row order)."""

    tag: bytes
    keys: np.ndarray  # int32: each row's place in `sorted_ids`
    rows: np.ndarray  # int8 (len(keys), dimension)
    factors: np.ndarray  # float32 (len(keys),)
    sorted_ids: np.ndarray  # the Vectors' (shared, not a copy)

    @property
    def ids(self) -> np.ndarray:
        """The rows' entry ids (an object array of str, made on each call)."""
        return np.array([b.decode() for b in self.sorted_ids[self.keys]], dtype=object)

    def unit_rows(self, start: int = 0, stop: int | None = None, rows: Any = None) -> np.ndarray:
        """float32 unit rows `start:stop` (or the rows selected by `rows`), made from the
        int8 ones: for products whose both sides are many rows (`pairs_above`)."""
        pick = slice(start, stop) if rows is None else rows
        return self.rows[pick].astype(np.float32) * self.factors[pick][:, None]

    def cosines(self, row: int, near: np.ndarray | None = None) -> np.ndarray:
        """The cosine of each row with row `row` (float32, see module doc); with `near`
        (row indexes: coarse lists' rows), of those rows only, in that order."""
        rows, factors, threads = self.rows, self.factors, None
        if near is not None:  # np.take: ~half the time of rows[near] for ~32k of 1M rows
            rows, factors, threads = np.take(rows, near, axis=0), factors[near], LIST_THREADS
        out = _product(rows, self.rows[row], threads).astype(np.float32)
        out *= factors
        out *= self.factors[row]
        return out


@dataclass
class Vectors:
    """Every entry's vector of one database state, grouped by model. Per entry with a
    non-NULL vector, by its place in `sorted_ids` (UTF-8 bytes, sorted): its place in the
    table's row order, its group (-1: no usable vector) and row there."""

    groups: list[Group]
    sorted_ids: np.ndarray  # bytes ("S<longest>")
    rank: np.ndarray  # int32
    group: np.ndarray  # int16
    row: np.ndarray  # int32
    slots: np.ndarray  # int32: a hash table of places in `sorted_ids` (`_slots`)
    _scores: OrderedDict[str, Any] = field(default_factory=OrderedDict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    source: str | sqlite3.Connection | None = None  # where `_exact` reads vectors again
    _last: tuple[str, Any] = ("", None)  # (prefix, scores) last asked: one read per row
    # each group's coarse lists once built (`start_lists`), else None: the full scan
    lists: list[coarse_lists.Lists | None] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _building: threading.Thread | None = None
    _started: bool = False
    # the centroids of the same file's previous state's lists (`for_source`), for the build
    _trained: dict[tuple[bytes, int], np.ndarray] | None = None

    def _place(self, entry_id: str) -> int:
        """The place of an id in `sorted_ids`, -1 when it has no vector: through `slots`
        (`score` asks once per scored row, 1M times for `not similar:` at 1M; a search
        of the sorted ids costs ~10x a dict's lookup, this ~2x)."""
        key = entry_id.encode()
        slots, mask = self.slots, len(self.slots) - 1
        at = hash(key) & mask
        while True:
            place = slots.item(at)
            if place < 0 or self.sorted_ids[place] == key:
                return place
            at = (at + 1) & mask

    def _seed_place(self, prefix: str) -> int:
        exact = self._place(prefix)
        if exact >= 0:
            return exact
        key = prefix.encode()
        # b"\xff" never occurs in UTF-8: every id starting with the prefix sorts before it
        lo, hi = self.sorted_ids.searchsorted([key, key + b"\xff"])
        if lo == hi:
            return -1
        return int(lo + np.argmin(self.rank[lo:hi]))

    def seed(self, prefix: str) -> str | None:
        """The entry whose vector a `similar:<prefix>` compares with (see module doc)."""
        place = self._seed_place(prefix)
        return None if place < 0 else self.sorted_ids[place].decode()

    def scores(self, prefix: str, whole: bool = False) -> _Seed | None:
        """The seed's group and the cosine of each of its rows with the seed; None when
        the prefix has no seed or the seed's vector is unusable. In a group with coarse
        lists, only the rows of the lists near the seed are scored (NaN elsewhere) unless
        `whole`. The last few are kept; the last one is answered without the lock (`score`
        asks once per row)."""
        last = self._last  # one read of an immutable tuple
        if prefix and last[0] == prefix and (last[1] is None or last[1].whole or not whole):
            return last[1]
        with self._lock:
            held = self._scores.get(prefix, False)
            if held is not False and (held is None or held.whole or not whole):
                self._scores.move_to_end(prefix)
                self._last = (prefix, held)
                return held
        if not self._started:
            self.start_lists()
        place = self._seed_place(prefix)
        found = None
        if place >= 0 and self.group[place] >= 0:
            group, row = int(self.group[place]), int(self.row[place])
            found = self._seed_scores(group, row, whole, held or None)
        with self._lock:
            self._scores[prefix] = found
            size = len(found.cosines) * 4 if found is not None else 0
            keep = max(2, min(CACHED_SEEDS, CACHED_SEED_BYTES // max(size, 1)))
            while len(self._scores) > keep:
                self._scores.popitem(last=False)
            self._last = (prefix, found)
        return found

    def similar_ids(self, prefix: str, minimum: float, whole: bool = False) -> list[str]:
        """The ids whose cosine with the seed is at least `minimum` (the seed's included),
        from the exact cosines of the rows the int8 ones put near or above it
        (`_exact`): the ids and their scores are then those of the stored vectors. In a
        group with coarse lists, among the rows of the lists near the seed only (an
        approximation: see `hg_build.coarse_lists`) unless `whole` (`not similar:`)."""
        found = self.scores(prefix, whole)
        if found is None:
            return []
        if minimum - EXACT_MARGIN < found.exact_from:
            self._exact(found, minimum - EXACT_MARGIN)
        group = self.groups[found.group]
        keys = group.keys[np.flatnonzero(found.cosines >= minimum)]
        return [b.decode() for b in self.sorted_ids[keys]]

    def score(self, prefix: str, entry_id: str) -> float | None:
        """The cosine of an entry with the seed; None when not comparable."""
        found = self.scores(prefix)
        if found is None:
            return None
        place = self._place(entry_id)
        if place < 0 or self.group.item(place) != found.group:
            return None
        value = found.cosines.item(self.row.item(place))  # .item: no numpy scalars, faster
        if value != value:  # NaN: a row the coarse lists left out; now every row's cosine
            found = self.scores(prefix, whole=True)
            assert found is not None
            value = found.cosines.item(self.row.item(place))
        return value

    def _seed_scores(self, group: int, row: int, whole: bool, partial: _Seed | None) -> _Seed:
        """A seed's cosines in its group: with every row (the int8 product over all of
        them), or, when the group's coarse lists are built and not `whole`, with the rows
        of the lists near the seed (NaN for the others). A whole one made from a `partial`
        one keeps the exact cosines it had (the int8 ones are the same sums), and its
        `exact_from` is reset: rows the lists left out may be near the minimum."""
        rows = self.groups[group]
        lists = self.lists[group] if group < len(self.lists) else None
        if lists is None or whole:
            cosines = rows.cosines(row)
            if partial is not None:
                before = partial.cosines  # one read: `_exact` may swap it meanwhile
                read = ~np.isnan(before)
                cosines[read] = before[read]
            return _Seed(group, row, cosines)
        near = lists.near(rows.rows[row] * rows.factors[row], row)
        cosines = np.full(len(rows.rows), np.nan, np.float32)
        cosines[near] = rows.cosines(row, near)
        return _Seed(group, row, cosines, whole=False)

    def trained(self) -> dict[tuple[bytes, int], np.ndarray]:
        """The centroids of the lists built so far, by (model tag, length)."""
        return {
            (group.tag, group.rows.shape[1]): lists.centroids
            for group, lists in zip(self.groups, self.lists, strict=False)
            if lists is not None
        }

    def start_lists(self) -> None:
        """Build the coarse lists of the groups of at least `coarse_lists.MIN_ROWS` rows in
        a thread of their own, once: the first seed scored asks (after the read, so the
        first query waits for no lists; `hg-build duplicates` scores none and builds
        none). Queries scan every row until a group's lists are ready, then read them
        (one reference set in `lists`). Stopped by `stop`. The centroids of the same
        file's previous state (`_trained`) are reused for the groups of the same model
        and length (`coarse_lists.build`)."""
        with self._lock:
            if self._started:
                return
            self._started = True
        big = [i for i, g in enumerate(self.groups) if len(g.rows) >= coarse_lists.MIN_ROWS]
        if not isinstance(self.source, str):  # an in-memory database's: read every query
            big = []
        self.lists = [None] * len(self.groups)
        trained, self._trained = self._trained or {}, None
        if big:
            self._building = threading.Thread(
                target=self._build_lists, args=(big, trained), name="hg-similar-lists",
                daemon=True,
            )  # fmt: skip
            self._building.start()

    def _build_lists(self, big: list[int], trained: dict[tuple[bytes, int], Any]) -> None:
        for i in big:
            group = self.groups[i]
            known = trained.get((group.tag, group.rows.shape[1]))
            try:
                built = coarse_lists.build(group.rows, group.factors, self._stop, trained=known)
            except coarse_lists.Stopped:
                return
            self.lists[i] = built
            _give_back_freed_memory()
            # the seeds scored before hold every row's cosines: kept (still right)

    def wait_lists(self, timeout: float | None = None) -> bool:
        """Wait for the coarse lists' build (bench, tests): True when none is running."""
        if self._building is not None:
            self._building.join(timeout)
            return not self._building.is_alive()
        return True

    def stop(self) -> None:
        """Stop building coarse lists (the cache dropped these vectors)."""
        self._stop.set()

    def _exact(self, found: _Seed, lowest: float) -> None:
        """Replace the int8 cosines at or above `lowest` (the best EXACT_ROWS of them) by
        the stored vectors' own, read again from the database (rows that changed model
        or length since keep theirs). The seed's are swapped whole, not written into:
        a thread reading them sees one or the other."""
        group = self.groups[found.group]
        rows = np.flatnonzero(found.cosines >= lowest)
        if len(rows) > EXACT_ROWS:
            rows = rows[np.argpartition(found.cosines[rows], -EXACT_ROWS)[-EXACT_ROWS:]]
        rows = np.append(rows, found.row)  # the seed's own vector, last
        ids = [b.decode() for b in self.sorted_ids[group.keys[rows]]]
        units = {}
        if self.source is not None:
            units = stored_units(self.source, ids, group.tag, group.rows.shape[1])
        seed = units.get(ids[-1])
        if seed is not None:  # else no seed vector (changed since): nothing to compare with
            keep = [k for k, entry_id in enumerate(ids) if entry_id in units]
            matrix = np.array([units[ids[k]] for k in keep], np.float32)
            cosines = found.cosines.copy()
            cosines[rows[keep]] = matrix @ seed
            found.cosines = cosines
        found.exact_from = lowest


@dataclass
class _Seed:
    """A seed's row in its group and its cosines with every row of the group; those at or
    above `exact_from` are the stored vectors' own (`Vectors._exact`)."""

    group: int
    row: int
    cosines: np.ndarray  # NaN for the rows not scored (`whole` False: coarse lists)
    exact_from: float = float("inf")
    whole: bool = True


def stored_units(
    source: str | sqlite3.Connection, ids: list[str], tag: bytes, width: int
) -> dict[str, np.ndarray]:
    """The stored vectors of some ids as float32 unit vectors, read again from the database:
    those of model `tag` and length `width` with a direction (the others are left out).
    What the int8 cosines near a threshold are replaced with (`Vectors._exact`,
    `hg_build.duplicates`)."""
    out = {}
    for entry_id, blob in _blobs(source, ids).items():
        split = ml.split_blob(blob) if isinstance(blob, bytes) else None
        if split is None or split[0] != tag or len(split[1]) != width:
            continue
        vec = np.asarray(split[1], np.float32)
        norm = float(np.linalg.norm(vec))
        if np.isfinite(norm) and norm > 0:
            out[entry_id] = vec / norm
    return out


def _blobs(source: str | sqlite3.Connection, ids: list[str]) -> dict[str, bytes]:
    """The stored vectors of some ids, read from a database file (a connection of its
    own, as `for_source`'s) or through an in-memory database's connection."""
    from hg_build import db

    conn = db.connect(source, readonly=True) if isinstance(source, str) else source
    try:
        rows = conn.execute(
            "SELECT id, similarity FROM entries WHERE id IN (SELECT value FROM json_each(?))",
            (orjson.dumps(ids).decode(),),
        )
        return dict(rows.fetchall())
    finally:
        if conn is not source:
            conn.close()


class _Rows:
    """One group's int8 rows while they are read: room for the rows the count promised,
    grown if a commit added more meanwhile (so the rows are not held twice to be joined)."""

    def __init__(self, tag: bytes, dim: int, capacity: int) -> None:
        self.tag, self.count = tag, 0
        self.rows = np.empty((max(capacity, 1), dim), np.int8)
        self.factors = np.empty(max(capacity, 1), np.float32)
        self.ranks: list[int] = []
        self.unusable: list[int] = []

    def place(self, rank: int) -> int:
        if self.count == len(self.rows):
            self.rows = np.concatenate([self.rows, np.empty_like(self.rows)])
            self.factors = np.concatenate([self.factors, np.empty_like(self.factors)])
        self.ranks.append(rank)
        self.count += 1
        return self.count - 1

    def put(self, at: list[int], matrix: np.ndarray, whole: bool) -> None:
        norms = np.linalg.norm(matrix, axis=1)
        usable = np.isfinite(norms) & (norms > 0)
        if not usable.all():
            self.unusable += [a for a, ok in zip(at, usable, strict=True) if not ok]
            matrix[~usable] = 1  # any usable row: left out in `done`
        self.rows[at], self.factors[at] = quantised(matrix, whole)

    def done(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(ranks, rows, factors) of the usable rows."""
        ranks = np.asarray(self.ranks, np.int64)
        rows, factors = self.rows[: self.count], self.factors[: self.count]
        if self.unusable:
            keep = np.ones(self.count, bool)
            keep[self.unusable] = False
            return ranks[keep], rows[keep], factors[keep]
        if self.count < len(self.rows):  # fewer rows than counted: do not hold the rest
            rows, factors = rows.copy(), factors.copy()
        return ranks, rows, factors


def read(conn: sqlite3.Connection) -> Vectors:
    """Every stored vector, decoded, quantised and grouped (see module doc), in one read."""
    (capacity,) = conn.execute(
        "SELECT count(*) FROM entries WHERE similarity IS NOT NULL"
    ).fetchone()
    ids = _Ids()
    groups: dict[tuple[bytes, int], _Rows] = {}
    # (tag, code, payload length) -> payloads waiting to be decoded, and their group rows
    pending: dict[tuple[bytes, bytes, int], tuple[_Rows, list[int], list[bytes]]] = {}

    def flush(key: tuple[bytes, bytes, int]) -> None:
        into, at, payloads = pending.pop(key)
        into.put(at, _decode(key[1], b"".join(payloads), len(payloads)), key[1] == b"q")

    rows = conn.execute(
        "SELECT CAST(id AS BLOB), similarity FROM entries WHERE similarity IS NOT NULL "
        "ORDER BY rowid"
    )
    for entry_id, blob in rows:
        ids.append(entry_id)
        key = _key(blob)
        if key is None:
            continue
        group_key = (key[0], _dimension(key[1], key[2]))
        into = groups.get(group_key)
        if into is None:
            into = groups[group_key] = _Rows(key[0], group_key[1], capacity)
        held = pending.setdefault(key, (into, [], []))
        held[1].append(into.place(len(ids) - 1))
        held[2].append(blob[len(key[0]) + 2 :])
        if len(held[2]) >= READ_BATCH:
            flush(key)
    for key in list(pending):
        flush(key)
    return _indexed(ids, list(groups.values()))


def _key(blob: bytes) -> tuple[bytes, bytes, int] | None:
    """(tag, code, payload length) of a blob whose payload `_decode` can read."""
    cut = blob.find(b"\0")
    if cut < 0 or cut + 1 >= len(blob):
        return None
    code, size = blob[cut + 1 : cut + 2], len(blob) - cut - 2
    ok = (code == b"h" and size % 2 == 0) or (code == b"f" and size % 4 == 0) or code == b"q"
    return (blob[:cut], code, size) if ok and size else None


def _dimension(code: bytes, size: int) -> int:
    """The vector length of a payload (`_key`'s code and length)."""
    return {b"h": size // 2, b"f": size // 4}.get(code, size * 4)  # "q": 4 values a byte


def _decode(code: bytes, joined: bytes, count: int) -> np.ndarray:
    """`count` payloads of one code and length -> float32 rows (as `ml.split_blob`, but
    hg's own 2-bit values k²/9 as k², whole numbers: exact in int8, so the local model's
    cosines are not rounded at all)."""
    if code == b"h":
        rows = np.frombuffer(joined, np.float16).astype(np.float32)
    elif code == b"f":
        rows = np.frombuffer(joined, np.float32).copy()
    else:
        rows = ml.hg_unpack(joined) * 9
    return rows.reshape(count, -1)


class _Ids:
    """The ids read, in row order, as byte-string arrays of READ_BATCH with their Python
    hashes: 1M ids as Python objects at once would be ~100 MB more at the peak, and the
    allocator keeps much of that after they are freed."""

    def __init__(self) -> None:
        self.count = 0
        self.batch: list[bytes] = []
        self.parts: list[np.ndarray] = []
        self.hashes: list[np.ndarray] = []

    def __len__(self) -> int:
        return self.count

    def append(self, entry_id: bytes) -> None:
        self.batch.append(entry_id)
        self.count += 1
        if len(self.batch) >= READ_BATCH:
            self.flush()

    def flush(self) -> None:
        if self.batch:
            self.parts.append(np.array(self.batch))
            self.hashes.append(np.fromiter(map(hash, self.batch), np.int64, len(self.batch)))
            self.batch = []

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """(ids, their hashes), in row order."""
        self.flush()
        if not self.parts:
            return np.array([], dtype="S1"), np.array([], np.int64)
        ids, hashes = np.concatenate(self.parts), np.concatenate(self.hashes)
        self.parts, self.hashes = [], []
        return ids, hashes


def _indexed(ids: _Ids, read_groups: list[_Rows]) -> Vectors:
    """The read ids (in row order) sorted, with each one's rank, group and row."""
    in_order, hashes = ids.arrays()
    order = np.argsort(in_order, kind="stable")
    sorted_ids = in_order[order]
    del in_order
    place = np.empty(len(order), np.int32)  # rank -> place in sorted_ids
    place[order] = np.arange(len(order), dtype=np.int32)
    group_of = np.full(len(order), -1, np.int16)
    row_of = np.zeros(len(order), np.int32)
    groups: list[Group] = []
    for rows in read_groups:
        ranks, matrix, factors = rows.done()
        if not len(ranks):
            continue
        keys = place[ranks]
        group_of[keys] = len(groups)
        row_of[keys] = np.arange(len(keys), dtype=np.int32)
        groups.append(Group(rows.tag, keys, matrix, factors, sorted_ids))
    slots = _slots(hashes[order])
    return Vectors(groups, sorted_ids, order.astype(np.int32), group_of, row_of, slots)


def _slots(hashes: np.ndarray) -> np.ndarray:
    """An open-addressing hash table (linear probing, at most half full) of the places
    0..n-1 whose keys have these Python hashes: slot -> place, -1 empty. A Python dict of
    1M ids would hold ~170 MB of objects; this is 8 MB. Filled in rounds: each place not
    yet in takes its slot when free (the first of several wanting one), else tries the
    next, so every slot between a place's home and its own is taken, as a lookup needs."""
    n = len(hashes)
    size = 1 << max(1, (2 * n - 1).bit_length())
    mask = size - 1
    slots = np.full(size, -1, np.int32)
    at = hashes & mask
    pending = np.arange(n)
    placed = np.zeros(n, bool)
    while len(pending):
        free = pending[slots[at[pending]] < 0]
        _, first = np.unique(at[free], return_index=True)
        won = free[first]
        slots[at[won]] = won
        placed[won] = True
        pending = pending[~placed[pending]]
        at[pending] = (at[pending] + 1) & mask
    return slots


# -- the int8 product ----------------------------------------------------------------------


class _Int8Product:
    """`rows @ seed` for int8 rows and an int8 seed, as int32 sums, through onnxruntime's
    MatMulInteger in a one-node graph (GRAPH, written by `onnx.helper`; shipped, not made
    here, because importing onnx costs ~3 s, its ml_dtypes most): rows as the left operand
    (N x D) and the seed as a column (D x 1), which needs no packed copy of the rows
    (the other orientation, DynamicQuantizeMatMul with the rows as its right operand, packs
    all of them on every call: 720 MB more at 1M). If the kernel gives a wrong sum on a
    probe of extreme values (x86 CPUs without VNNI may saturate int16 pairs), or
    onnxruntime cannot run it, the product is numpy's over float32 blocks: exact, slower."""

    BLOCK = 65536  # rows converted to float32 at once by the fallback (~190 MB at 720-d)

    def __init__(self, threads: int = 2) -> None:
        self.session: Any = None
        try:
            self.session = self._session(threads)
            probe = np.tile(np.array([[127, -127, 127, 127], [-127, 127, -127, 127]], np.int8),
                            (1, 200))  # fmt: skip
            seed = np.tile(np.array([127, -127, 127, -127], np.int8), 200)
            if not np.array_equal(self._ort(probe, seed), probe.astype(np.int64) @ seed):
                raise ValueError("wrong int8 sums")
        except Exception as err:  # any failure: the exact route, with a word on stderr
            print(f"hg: similar: numpy's float32 product instead of onnxruntime ({err})",
                  file=sys.stderr)  # fmt: skip
            self.session = None

    @staticmethod
    def _session(threads: int) -> Any:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = min(os.cpu_count() or 1, threads)
        # no busy-waiting threads between queries: hg-serve idles on a NAS most of the time
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        model = GRAPH.read_bytes()
        return ort.InferenceSession(model, options, ["CPUExecutionProvider"])

    def _ort(self, rows: np.ndarray, seed: np.ndarray) -> np.ndarray:
        column = np.ascontiguousarray(seed).reshape(-1, 1)
        return self.session.run(None, {"rows": rows, "seed": column})[0].reshape(-1)

    def __call__(self, rows: np.ndarray, seed: np.ndarray) -> np.ndarray:
        if self.session is not None:
            return self._ort(np.ascontiguousarray(rows), seed)
        out = np.empty(len(rows), np.float32)
        column = seed.astype(np.float32)
        for start in range(0, len(rows), self.BLOCK):
            # integer sums below 2**24 (up to 1040-d) are exact in float32
            out[start : start + self.BLOCK] = (
                rows[start : start + self.BLOCK].astype(np.float32) @ column
            )
        return out


THREADS = 2  # onnxruntime's threads for one product (bench/similar_kernels.py)
# MatMulInteger(rows int8 [n, d], seed int8 [d, 1]) -> sums int32 [n, 1]; made by
# tests/build/test_vectors.py's `graph()`, which checks that the file is that graph
GRAPH = Path(__file__).with_name("int8_product.onnx")
# the coarse lists' products (~32k rows at 1M): one thread took 4-5 ms where two took 7
# (load 6.5): for a product that short the second thread's wake-up costs more than it gives
LIST_THREADS = 1
_kernels: dict[int, _Int8Product] = {}
_kernel_lock = threading.Lock()


def _product(rows: np.ndarray, seed: np.ndarray, threads: int | None = None) -> np.ndarray:
    """int32 (or exact float) sums `rows @ seed` of int8 rows and an int8 seed (on
    `threads` of onnxruntime's, THREADS by default)."""
    threads = THREADS if threads is None else threads
    kernel = _kernels.get(threads)
    if kernel is None:
        with _kernel_lock:
            kernel = _kernels.get(threads)
            if kernel is None:
                kernel = _kernels[threads] = _Int8Product(threads)
    return kernel(rows, seed)


# -- the cache: one Vectors per database file and state ------------------------------------

_cache: OrderedDict[str, tuple[tuple, Vectors]] = OrderedDict()
_cache_lock = threading.Lock()


def signature(path: str) -> tuple:
    """(mtime_ns, size, inode, device) of the file and its WAL: changes with every commit."""
    out: list[Any] = []
    for name in (path, f"{path}-wal"):
        try:
            st = os.stat(name)
            out.append((st.st_mtime_ns, st.st_size, st.st_ino, st.st_dev))
        except FileNotFoundError:
            out.append(None)
    return tuple(out)


def database_file(conn: sqlite3.Connection) -> str:
    """The file of the connection's main database; '' for an in-memory one."""
    for _seq, name, file in conn.execute("PRAGMA database_list"):
        if name == "main":
            return file or ""
    return ""  # pragma: no cover - every connection has a main database


def for_source(source: str | sqlite3.Connection) -> Vectors:
    """The vectors of a database file (cached, see module doc), or read from an in-memory
    database's connection."""
    if isinstance(source, sqlite3.Connection):
        vectors = read(source)
        vectors.source = source
        return vectors
    key = signature(source)
    with _cache_lock:
        held = _cache.get(source)
        if held is not None and held[0] == key:
            _cache.move_to_end(source)
            return held[1]
        dropped = _cache.pop(source, None)  # free the old matrices before the new ones are read
        trained = None
        if dropped is not None:
            dropped[1].stop()
            trained = dropped[1].trained()  # the centroids only: ~3 MB at 1M
            del dropped
        from hg_build import db

        conn = db.connect(source, readonly=True)
        try:
            vectors = read(conn)
        finally:
            conn.close()
        vectors.source = source
        _give_back_freed_memory()
        _cache[source] = (key, vectors)
        while len(_cache) > CACHED_DATABASES:
            _cache.popitem(last=False)[1][1].stop()
        vectors._trained = trained  # for its lists, built once a seed is scored
        return vectors


def _give_back_freed_memory() -> None:
    """Ask glibc to return the heap the read freed (its decoded float32 batches, ~12 MB
    each): it keeps it otherwise, ~110 MB at 300k vectors (measured with malloc_trim)
    that hg-serve would hold for nothing. No-op where there is no glibc."""
    import ctypes
    import ctypes.util

    try:
        ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def for_connection(conn: sqlite3.Connection) -> Vectors:
    """The vectors of the database a connection reads (its file's, cached)."""
    return for_source(database_file(conn) or conn)


def pairs_above(
    group: Group, threshold: float, rows: np.ndarray | None = None, block: int = 2048
) -> Iterator[tuple[int, int, float]]:
    """(a, b, cosine) of every pair a < b of the group's rows (or of `rows`, a selection of
    them: a and b then index `rows`) whose cosine is at least `threshold`, computed block
    by block: memory stays at two blocks of rows and `block`² scores however large the
    group (a 100k × 100k product would be 40 GB). The blocks are float32 rows made from the
    int8 ones (BLAS's matrix-matrix product, as before the rows were int8): the cosines are
    those of `Group.cosines`, within float32's rounding."""
    n = len(group.rows) if rows is None else len(rows)

    def take(start: int) -> np.ndarray:
        stop = min(n, start + block)
        if rows is None:
            return group.unit_rows(start, stop)
        return group.unit_rows(rows=rows[start:stop])

    for start in range(0, n, block):
        left = take(start)
        for other in range(start, n, block):
            scores = left @ (left if other == start else take(other)).T
            a, b = np.nonzero(scores >= threshold)
            upper = a + start < b + other
            a, b = a[upper], b[upper]
            for i, j, s in zip(a + start, b + other, scores[a, b], strict=True):
                yield int(i), int(j), float(s)
