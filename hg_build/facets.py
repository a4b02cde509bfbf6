"""Counts of queries as numpy masks over cached columns: what hg-serve's `total` of a page
costs when SQL would look up every hit (issue 19, a million entries).

At 1M entries some counts read far more than their page does: `tag:dog or tag:cat`
(count(DISTINCT) of 190k ids, ~1 s), `(tag:dog or tag:cat) and year >= 2018 and not
tag:night` (a row lookup per hit, ~3 s), `make:canon and iso > 800` (every row, ~0.9 s).
Here such a query is counted from a `Facets`: one database state's columns as integer
codes per entry rowid (`codes[rowid]` is the place of the entry's value in `values`: few
distinct makes, years or ISO values, so a comparison is made once per distinct value and
looked up for every entry) and each tag's entries as a rowid array. A count is then a few
boolean operations over a million bytes (a few ms).

What is counted here is the subset of the grammar whose terms map to those columns (see
`plan`): `and`, `or`, `not`, `tag:`/`tag =`/`tag !=`/`tag in (…)`/`tags all in (…)`,
comparisons and ranges of the numeric columns (`year >= 2018`, `iso > 800`, `duration`),
the text keys (`make:canon`, `model~eos`, `lens != x`, `location:`), `count(tags) > 2`
and `exists(…)`. Anything else (free text, dates, `near:`, files, people, similar, …)
makes `count` return None and the caller counts with SQL as before. Each term has the
SQL compiler's meaning exactly (`hg_build.query.compile`): the same columns (the
casefolded `*_f` copies for text), SQLite's order of types for a number compared with a
text value, and NULL as false (every `not` of the compiled SQL is `NOT coalesce(x, 0)`
and a NULL comparison in an AND or OR never makes a row match).
`tests/build/test_facets.py` compares both on random queries.

States and freshness (as `hg_build.vectors` does for similarity matrices): one `Facets`
per database file, keyed by its and its WAL's signature (`vectors.signature`: any commit
changes it). Nothing is read until a query needs it, and then only the columns and tags
that query names, each through a connection of its own; after each read the signature is
checked again, so every part of a `Facets` is of the one state its key names (a commit in
between drops the state and that query is counted with SQL). While the database is being
written (its newest change less than `QUIET` seconds ago: an import commits a chunk every
second or so) a new state is not loaded at all: reading its columns again after every
chunk would cost each count more than SQL does.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from hg_build import vectors
from hg_build.query import ast
from hg_build.query import values as qv
from hg_build.query.compile import (
    ADDRESS,
    COUNT_KEYS,
    INT_KEYS,
    NUM_KEYS,
    TEXT_KEYS,
    _Compiler,
    canonical,
)

QUIET = 2.0
"""Seconds without a write before a new database state is loaded (see module doc)."""

Mask = np.ndarray  # bool, one per rowid (0..max rowid)
Step = Callable[["Facets"], Mask]


class Unsupported(Exception):
    """A term this module does not count: the caller counts with SQL."""


class Stale(Exception):
    """The database changed while a part of its state was read."""


class Facets:
    """One database state's columns and tags, read when first asked for (thread-safe)."""

    def __init__(self, path: str, key: tuple) -> None:
        self.path = path
        self.key = key
        self._lock = threading.Lock()
        self._present: Mask | None = None
        self._columns: dict[str, tuple[np.ndarray, list[Any]]] = {}
        self._tags: dict[str, np.ndarray] = {}
        self._rows: dict[str, np.ndarray] = {}
        self.load_seconds = 0.0  # spent reading, for the benchmark

    # -- reading ---------------------------------------------------------------------------
    def _read(self, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
        """Rows of one statement on a connection of its own, of this state only."""
        start = time.perf_counter()
        from hg_build import db  # db imports vectors; facets is imported by query.search

        conn = db.connect(self.path, readonly=True)
        try:
            rows = conn.execute(sql, params).fetchall()
        finally:
            conn.close()
        if vectors.signature(self.path) != self.key:
            raise Stale(self.path)
        self.load_seconds += time.perf_counter() - start
        return rows

    @property
    def present(self) -> Mask:
        """Which rowids are entries (rowids have gaps: an upsert is a new row)."""
        with self._lock:
            if self._present is None:
                ((top, joined),) = self._read("SELECT max(rowid), group_concat(rowid) FROM entries")
                present = np.zeros((top or 0) + 1, bool)
                present[_ints(joined)] = True
                self._present = present
            return self._present

    @property
    def size(self) -> int:
        return len(self.present)

    def column(self, name: str) -> tuple[np.ndarray, list[Any]]:
        """(codes, values) of an `entries` column: `values[codes[rowid]]` is the entry's
        value (None for NULL); a rowid of no entry has code len(values)."""
        if not name.isidentifier():  # pragma: no cover - names come from the compiler's sets
            raise ValueError(name)
        size = self.size
        with self._lock:
            if name not in self._columns:
                rows = self._read(f"SELECT {name}, group_concat(rowid) FROM entries GROUP BY 1")
                dtype = np.int16 if len(rows) < 32_000 else np.int32
                codes = np.full(size, len(rows), dtype)
                for k, (_value, joined) in enumerate(rows):
                    codes[_ints(joined)] = k
                self._columns[name] = (codes, [r[0] for r in rows])
            return self._columns[name]

    def tag(self, folded: str) -> np.ndarray:
        """The rowids of the entries with a (casefolded) tag."""
        with self._lock:
            if folded not in self._tags:
                ((joined,),) = self._read(
                    "SELECT group_concat(e.rowid) FROM tags t JOIN entries e "
                    "ON e.id = t.entry_id WHERE t.tag_f = ?",
                    [folded],
                )
                self._tags[folded] = _ints(joined)
            return self._tags[folded]

    def rows(self, where: str) -> np.ndarray:
        """The rowids of the entries a parameterless WHERE over `entries e` selects (an
        `exists(…)` as the compiler writes it)."""
        with self._lock:
            if where not in self._rows:
                sql = f"SELECT group_concat(e.rowid) FROM entries e WHERE {where}"
                ((joined,),) = self._read(sql)
                self._rows[where] = _ints(joined)
            return self._rows[where]

    def nbytes(self) -> int:
        """Memory held by the arrays read so far."""
        arrays = [self._present] if self._present is not None else []
        arrays += [c for c, _ in self._columns.values()]
        arrays += [*self._tags.values(), *self._rows.values()]
        return sum(a.nbytes for a in arrays)

    # -- masks -----------------------------------------------------------------------------
    def mask_of(self, rowids: np.ndarray) -> Mask:
        out = np.zeros(self.size, bool)
        out[rowids] = True
        return out


def _ints(joined: str | None) -> np.ndarray:
    """A group_concat of rowids as an array (one string, not a Python int per row)."""
    if not joined:
        return np.zeros(0, np.int64)
    return np.fromstring(joined, dtype=np.int64, sep=",")


# -- the query: AST -> steps over a Facets ---------------------------------------------------


def plan(node: ast.Node) -> Step:
    """A function of a Facets giving the node's mask (True: the entry matches; NULL is
    False, as in the compiled SQL); Unsupported for a term outside the subset."""
    if isinstance(node, ast.And | ast.Or):
        steps = [plan(i) for i in node.items]
        combine = np.logical_and if isinstance(node, ast.And) else np.logical_or

        def joined(f: Facets) -> Mask:
            out = steps[0](f)
            for step in steps[1:]:
                out = combine(out, step(f))
            return out

        return joined
    if isinstance(node, ast.Not):
        inner = plan(node.expr)
        return lambda f: ~inner(f)
    if isinstance(node, ast.Cmp):
        return _cmp(node)
    if isinstance(node, ast.In):
        if canonical(node.key, node.pos) == "tag" and not node.all:  # any of the tags
            tags = [v.text.casefold() for v in node.values]
            return lambda f: f.mask_of(np.concatenate([f.tag(t) for t in tags]))
        parts = ast.And if node.all else ast.Or
        items = tuple(ast.Cmp(node.key, "=", v, node.pos) for v in node.values)
        return plan(parts(items, node.pos))
    if isinstance(node, ast.Range):
        key = canonical(node.key, node.pos)
        if key not in INT_KEYS | NUM_KEYS | {"duration"}:
            raise Unsupported(key)  # date, ratio, filesize
        low = ast.Cmp(node.key, ">=", node.low, node.pos)
        high = ast.Cmp(node.key, "<=", node.high, node.pos)
        return plan(ast.And((low, high), node.pos))
    if isinstance(node, ast.Count):
        return _numeric(COUNT_KEYS[node.key.lower()], node.op, qv.number(node.value))
    if isinstance(node, ast.Exists):
        where = _Compiler().exists(node)  # the SQL's own test; it has no parameters
        return lambda f: f.mask_of(f.rows(where))
    raise Unsupported(type(node).__name__)  # free text


def _cmp(n: ast.Cmp) -> Step:
    key = canonical(n.key, n.pos)
    if n.values:
        raise Unsupported(key)  # near:
    if key == "tag":
        folded = n.value.text.casefold()
        if n.op in (":", "="):
            return lambda f: f.mask_of(f.tag(folded))
        if n.op == "!=":
            return lambda f: ~f.mask_of(f.tag(folded))
        raise Unsupported("tag~")
    if key == "duration":
        return _numeric("duration", n.op, qv.duration(n.value))
    if key in INT_KEYS or key in NUM_KEYS:  # `e.<key> op number` (no k_<key> handler)
        return _numeric(key, n.op, qv.number(n.value))
    if key in TEXT_KEYS:
        return _text(f"{key}_f", n.op, n.value.text.casefold())
    if key == "location":  # as k_location: every address part, ANDed for !=
        folded = n.value.text.casefold()
        steps = [_text(f"{a}_f", n.op, folded) for a in ADDRESS]
        combine = np.logical_and if n.op == "!=" else np.logical_or

        def location(f: Facets) -> Mask:
            out = steps[0](f)
            for step in steps[1:]:
                out = combine(out, step(f))
            return out

        return location
    raise Unsupported(key)


def _lookup(column: str, test: Callable[[Any], bool]) -> Step:
    """The mask of a test made once per distinct value of a column."""

    def step(f: Facets) -> Mask:
        codes, values = f.column(column)
        table = np.array([bool(test(v)) for v in values] + [False])  # last: no entry
        return table[codes]

    return step


_ORDER = {
    "=": lambda a, b: a == b, ":": lambda a, b: a == b, "!=": lambda a, b: a != b,
    "<": lambda a, b: a < b, "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b, ">=": lambda a, b: a >= b,
}  # fmt: skip


def _numeric(column: str, op: str, number: float) -> Step:
    """`col op number` as SQLite compares a numeric column: NULL matches nothing, a value
    stored as text or blob (one that was no number) sorts after every number."""
    if op not in _ORDER:
        raise Unsupported(op)
    compare = _ORDER[op]

    def test(v: Any) -> bool:
        if v is None:
            return False
        if isinstance(v, int | float):
            return compare(v, number)
        return op in ("!=", ">", ">=")  # text and blobs are greater than numbers

    return _lookup(column, test)


def _text(column: str, op: str, folded: str) -> Step:
    """As `_Compiler.text` over a casefolded column: `=`, `!=` (NULL included), `~`
    (instr: a part of it)."""
    if op in (":", "="):
        return _lookup(column, lambda v: isinstance(v, str) and v == folded)
    if op == "!=":
        return _lookup(column, lambda v: v is None or v != folded)
    if op == "~":
        return _lookup(column, lambda v: isinstance(v, str) and folded in v)
    raise Unsupported(op)


# -- the cache --------------------------------------------------------------------------------

_cache: dict[str, Facets] = {}
_cache_lock = threading.Lock()


def for_path(path: str, key: tuple) -> Facets | None:
    """The Facets of a database file's state `key`; None while it is being written (see
    QUIET). The state of an earlier key is dropped (its arrays freed)."""
    with _cache_lock:
        held = _cache.get(path)
        if held is not None and held.key == key:
            return held
        newest = max((s[0] for s in key if s is not None), default=0) / 1e9
        if time.time() - newest < QUIET:
            return None
        _cache[path] = Facets(path, key)
        return _cache[path]


def count(conn: sqlite3.Connection, terms: Sequence[ast.Node]) -> int | None:
    """How many entries match every one of `terms` (a query's and its user's filters'
    expressions: `Compiled.terms`), counted from the cached columns; None when a term is
    outside the subset, the database is in memory, being written, or changed meanwhile
    (count with SQL then)."""
    path = vectors.database_file(conn)
    if not path or not terms:
        return None
    try:
        steps = [plan(t) for t in terms]
    except Unsupported:
        return None
    key = vectors.signature(path)
    facets = for_path(path, key)
    if facets is None:
        return None
    # The query's transaction reads the state it sees first: make that happen now, between
    # two looks at the file, so the count is of the same state as the page read after it.
    conn.execute("SELECT 1 FROM entries LIMIT 1").fetchall()
    try:
        mask = facets.present.copy()
        for step in steps:
            mask &= step(facets)
    except Stale:
        with _cache_lock:
            if _cache.get(path) is facets:
                del _cache[path]
        return None
    if vectors.signature(path) != key:
        return None
    return int(np.count_nonzero(mask))
