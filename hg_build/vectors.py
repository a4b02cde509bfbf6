"""The gallery's similarity vectors as numpy matrices: what `similar:<id>` (the SQL
functions `hg_similar_ids` / `hg_similar_score`) and `hg-build duplicates` compare.

Comparing a seed with 100k stored vectors row by row in SQL (`hg_cosine`) costs ~1 s; one
matrix-vector product over the same vectors ~15 ms. Reading and decoding the blobs costs
more than that (~0.5 s at 100k), so `for_connection` keeps the matrices of the last few
database files and reads them again only when the file or its WAL changed (any commit
touches the WAL; a rebuild replaces the file). They are read through a connection of their
own opened *after* that check: the cache never holds an older state than its key says
(the query's own transaction may have begun before a commit; the cached state is then the
newer one, and the next query sees the file changed again at worst).

A `Group` is the vectors of one model tag and length, as `hg_build.ml` compares them:
vectors of two models (or two lengths) are never compared. Rows are scaled to unit length
(float32: 288 MB at 100k × 720), so a cosine is one dot product; a vector of length zero
is in no group (its cosine is None, as `ml.cosine`'s). The seed of a prefix is the first
entry with a vector in the table's row order whose id starts with it, the entry the SQL
route's `LIMIT 1` scan found.
"""

from __future__ import annotations

import bisect
import os
import sqlite3
import threading
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from hg_build import ml

CACHED_DATABASES = 2  # hg-serve reads one; a second while a rebuild's file replaces it
CACHED_SEEDS = 16  # one request asks for the ids and then the scores of the same seed
READ_BATCH = 4096  # rows decoded at once: the raw blobs are never all held together


@dataclass(frozen=True)
class Group:
    """The comparable vectors of one model: `ids[i]` has unit vector `matrix[i]`."""

    tag: bytes
    ids: np.ndarray  # of str, in the table's row order
    matrix: np.ndarray  # float32 (len(ids), dimension), rows of length 1


@dataclass
class Vectors:
    """Every entry's vector of one database state, grouped by model."""

    groups: list[Group]
    where: dict[str, tuple[int, int]]  # entry id -> (group, row), for usable vectors
    rank: dict[str, int]  # entry id -> place in row order, for every non-NULL vector
    sorted_ids: list[str]  # the ids of `rank`, sorted (prefix lookups)
    _scores: OrderedDict[str, Any] = field(default_factory=OrderedDict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _last: tuple[str, Any] = ("", None)  # (prefix, scores) last asked: one read per row

    def seed(self, prefix: str) -> str | None:
        """The entry whose vector a `similar:<prefix>` compares with (see module doc)."""
        if prefix in self.rank:
            return prefix
        i = bisect.bisect_left(self.sorted_ids, prefix)
        found = None
        while i < len(self.sorted_ids) and self.sorted_ids[i].startswith(prefix):
            candidate = self.sorted_ids[i]
            if found is None or self.rank[candidate] < self.rank[found]:
                found = candidate
            i += 1
        return found

    def scores(self, prefix: str) -> tuple[int, np.ndarray] | None:
        """(group, cosine of each of its rows with the seed); None when the prefix has no
        seed or the seed's vector is unusable. The last few are kept; the last one is
        answered without the lock (`score` asks once per row)."""
        last = self._last  # one read of an immutable tuple
        if prefix and last[0] == prefix:
            return last[1]
        with self._lock:
            if prefix in self._scores:
                self._scores.move_to_end(prefix)
                self._last = (prefix, self._scores[prefix])
                return self._last[1]
        seed = self.seed(prefix)
        place = self.where.get(seed) if seed is not None else None
        found = None
        if place is not None:
            group = self.groups[place[0]]
            found = (place[0], group.matrix @ group.matrix[place[1]])
        with self._lock:
            self._scores[prefix] = found
            while len(self._scores) > CACHED_SEEDS:
                self._scores.popitem(last=False)
            self._last = (prefix, found)
        return found

    def similar_ids(self, prefix: str, minimum: float) -> list[str]:
        """The ids whose cosine with the seed is at least `minimum` (the seed's included)."""
        found = self.scores(prefix)
        if found is None:
            return []
        group, scores = found
        return self.groups[group].ids[np.flatnonzero(scores >= minimum)].tolist()

    def score(self, prefix: str, entry_id: str) -> float | None:
        """The cosine of an entry with the seed; None when not comparable."""
        found = self.scores(prefix)
        place = self.where.get(entry_id)
        if found is None or place is None or place[0] != found[0]:
            return None
        return float(found[1][place[1]])


def read(conn: sqlite3.Connection) -> Vectors:
    """Every stored vector, decoded and grouped (see module doc), in one read."""
    rank: dict[str, int] = {}
    # (tag, code, payload length) -> ids and decoded float32 batches, in row order
    batches: dict[tuple[bytes, bytes, int], tuple[list[str], list[np.ndarray]]] = {}
    pending: dict[tuple[bytes, bytes, int], list[bytes]] = {}

    def flush(key: tuple[bytes, bytes, int]) -> None:
        payloads = pending.pop(key, [])
        if payloads:
            batches[key][1].append(_decode(key[1], b"".join(payloads), len(payloads)))

    rows = conn.execute(
        "SELECT id, similarity FROM entries WHERE similarity IS NOT NULL ORDER BY rowid"
    )
    for entry_id, blob in rows:
        rank[entry_id] = len(rank)
        key = _key(blob)
        if key is None:
            continue
        if key not in batches:
            batches[key] = ([], [])
        batches[key][0].append(entry_id)
        pending.setdefault(key, []).append(blob[len(key[0]) + 2 :])
        if len(pending[key]) >= READ_BATCH:
            flush(key)
    for key in list(pending):
        flush(key)
    return _grouped(batches, rank)


def _key(blob: bytes) -> tuple[bytes, bytes, int] | None:
    """(tag, code, payload length) of a blob whose payload `_decode` can read."""
    cut = blob.find(b"\0")
    if cut < 0 or cut + 1 >= len(blob):
        return None
    code, size = blob[cut + 1 : cut + 2], len(blob) - cut - 2
    ok = (code == b"h" and size % 2 == 0) or (code == b"f" and size % 4 == 0) or code == b"q"
    return (blob[:cut], code, size) if ok and size else None


def _decode(code: bytes, joined: bytes, count: int) -> np.ndarray:
    """`count` payloads of one code and length -> rows (as `ml.split_blob`; float16 ones
    become float32 in `_grouped`)."""
    if code == b"h":  # float16 until grouped: the batches take half the memory meanwhile
        rows = np.frombuffer(joined, np.float16).copy()
    elif code == b"f":
        rows = np.frombuffer(joined, np.float32).copy()
    else:
        rows = ml.hg_unpack(joined)
    return rows.reshape(count, -1)


def _grouped(batches: dict, rank: dict[str, int]) -> Vectors:
    """Batches of one tag and vector length become one group, rows in row order; rows of
    length zero are left out."""
    by_group: dict[tuple[bytes, int], list[tuple[list[str], np.ndarray]]] = {}
    for (tag, _code, _size), (ids, arrays) in batches.items():
        matrix = np.concatenate(arrays, dtype=np.float32)
        del arrays[:]
        by_group.setdefault((tag, matrix.shape[1]), []).append((ids, matrix))
    groups: list[Group] = []
    where: dict[str, tuple[int, int]] = {}
    for (tag, _dim), parts in by_group.items():
        ids = [i for part_ids, _ in parts for i in part_ids]
        matrix = np.concatenate([m for _, m in parts]) if len(parts) > 1 else parts[0][1]
        if len(parts) > 1:  # two codes of one tag ("/" from a dict and from a list)
            order = np.argsort([rank[i] for i in ids], kind="stable")
            ids, matrix = [ids[k] for k in order], matrix[order]
        norms = np.linalg.norm(matrix, axis=1)
        keep = norms > 0
        if not keep.all():
            ids, matrix, norms = (
                [i for i, k in zip(ids, keep, strict=True) if k],
                matrix[keep],
                norms[keep],
            )
        matrix /= norms[:, None]
        index = len(groups)
        groups.append(Group(tag, np.asarray(ids, dtype=object), matrix))
        where.update((entry_id, (index, row)) for row, entry_id in enumerate(ids))
    return Vectors(groups, where, rank, sorted(rank))


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
        return read(source)
    key = signature(source)
    with _cache_lock:
        held = _cache.get(source)
        if held is not None and held[0] == key:
            _cache.move_to_end(source)
            return held[1]
        _cache.pop(source, None)  # free the old matrices before the new ones are read
        from hg_build import db

        conn = db.connect(source, readonly=True)
        try:
            vectors = read(conn)
        finally:
            conn.close()
        _cache[source] = (key, vectors)
        while len(_cache) > CACHED_DATABASES:
            _cache.popitem(last=False)
        return vectors


def for_connection(conn: sqlite3.Connection) -> Vectors:
    """The vectors of the database a connection reads (its file's, cached)."""
    return for_source(database_file(conn) or conn)


def pairs_above(
    group: Group, threshold: float, rows: np.ndarray | None = None, block: int = 2048
) -> Iterator[tuple[int, int, float]]:
    """(a, b, cosine) of every pair a < b of the group's rows (or of `rows`, a selection of
    them: a and b then index `rows`) whose cosine is at least `threshold`, computed block
    by block: memory stays at two blocks of rows and `block`² scores however large the
    group (a 100k × 100k product would be 40 GB)."""
    matrix = group.matrix
    n = len(matrix) if rows is None else len(rows)

    def take(start: int) -> np.ndarray:
        stop = min(n, start + block)
        return matrix[start:stop] if rows is None else matrix[rows[start:stop]]

    for start in range(0, n, block):
        left = take(start)
        for other in range(start, n, block):
            scores = left @ (left if other == start else take(other)).T
            a, b = np.nonzero(scores >= threshold)
            upper = a + start < b + other
            a, b = a[upper], b[upper]
            for i, j, s in zip(a + start, b + other, scores[a, b], strict=True):
                yield int(i), int(j), float(s)
