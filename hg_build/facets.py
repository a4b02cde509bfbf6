"""Counts of queries as numpy masks over cached sets of entries: what hg-serve's `total`
of a page costs when SQL would look up every hit (issue 19, a million entries).

At 1M entries some counts read far more than their page does: `tag:dog or tag:cat`
(count(DISTINCT) of 190k ids, ~1 s), `(tag:dog or tag:cat) and year >= 2018 and not
tag:night` (a row lookup per hit, ~3 s), `make:canon and iso > 800` (every row, ~0.9 s).
Here a query is counted from a `Facets`, one database state's sets of entries as masks
over their rowids: each tag's entries (read through the `tags_f` index) and each other
term's (`iso > 800`, `make:canon`, a word…: read with that term's own SQL, as the compiler
writes it, so it selects exactly what it selects in the query). `and`, `or` and `not` of
them are boolean operations over a million bytes: a few ms, once the terms are read.

A term's SQL alone selects the rows where it is true; where it is NULL or false the row
is out, and the compiled query treats the two alike: each `not` is `NOT coalesce(x, 0)`
(or a `NOT IN` of a tag's entries, never NULL), and in an AND or OR a NULL term never
makes a row match. So the masks' count is the SQL count (`tests/build/test_facets.py`
compares both on random nested queries with user filters). Left to SQL (`count` gives
None): `similar:` and `face:` (their seed obeys the user's filter) and a tag-driven
query's `year:` (`Compiled.terms` is None: its SQL bounds `t.ts` too).

States and freshness (as `hg_build.vectors` does for similarity matrices): one `Facets`
per database file, keyed by its and its WAL's signature (`vectors.signature`: any commit
changes it). Nothing is read until a query needs it, and then only the sets it names,
each through a connection of its own; after each read the signature is checked again, so
every part of a `Facets` is of the one state its key names (a commit in between drops the
state and that query is counted with SQL). A term's first read costs about what its SQL
count costs (`iso > 800`: a scan of every row); the last LEAVES terms are kept. While the
database is being written (its newest change less than `QUIET` seconds ago: an import
commits a chunk every second or so) a new state is not read at all: reading its terms
again after every chunk would make each count cost more than SQL alone.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from hg_build import vectors
from hg_build.query import ast
from hg_build.query.compile import (
    _Compiler,
    canonical,
)

LEAVES = 256
"""Terms' masks kept per state (1M entries: 125 KB each, packed)."""
QUERIES = 4
"""Whole queries' masks kept per state (a count, then its pages: 1M entries, 1 MB each)."""
QUIET = 2.0
"""Seconds without a write before a new database state is loaded (see module doc)."""

Mask = np.ndarray  # bool, one per rowid (0..max rowid)
Step = Callable[["Facets"], Mask]


class Unsupported(Exception):
    """A term this module does not count: the caller counts with SQL."""


class Stale(Exception):
    """The database changed while a part of its state was read."""


class Facets:
    """One database state's sets of entries, read when first asked for (thread-safe)."""

    def __init__(self, path: str, key: tuple) -> None:
        self.path = path
        self.key = key
        self._lock = threading.RLock()  # a read asks for `size` under it
        self._present: Mask | None = None
        self._size: int | None = None
        self._tags: dict[str, np.ndarray] = {}
        self._leaves: OrderedDict[tuple, np.ndarray] = OrderedDict()
        self._newest_first: np.ndarray | None = None
        self._queries: OrderedDict[tuple, Mask] = OrderedDict()  # the last QUERIES' masks
        self.loads: dict[str, float] = {}  # what was read, and its seconds (benchmarks)

    # -- reading ---------------------------------------------------------------------------
    def _read(
        self,
        what: str,
        sql: str,
        params: Sequence[Any] = (),
        collect: Callable[[sqlite3.Cursor], Any] = sqlite3.Cursor.fetchall,
    ) -> Any:
        """Rows of one statement on a connection of its own, of this state only (as
        `collect` gathers them from the cursor)."""
        start = time.perf_counter()
        from hg_build import db  # db imports vectors; facets is imported by query.search

        conn = db.connect(self.path, readonly=True)
        try:
            rows = collect(conn.execute(sql, params))
        finally:
            conn.close()
        if vectors.signature(self.path) != self.key:
            raise Stale(self.path)
        self.loads[what] = time.perf_counter() - start
        return rows

    @property
    def present(self) -> Mask:
        """Which rowids are entries (rowids have gaps: an upsert is a new row); read when
        a `not` needs it."""
        with self._lock:
            if self._present is None:
                size = self.size
                ((joined,),) = self._read("entries", "SELECT group_concat(rowid) FROM entries")
                self._present = self.mask_of(_ints(joined))
                assert len(self._present) == size
            return self._present

    @property
    def size(self) -> int:
        """Masks' length: the largest rowid + 1 (read without `present`, which only a
        `not` needs: 1M entries, 0.4 s)."""
        with self._lock:
            if self._size is None:
                ((top,),) = self._read("max(rowid)", "SELECT max(rowid) FROM entries")
                self._size = (top or 0) + 1
            return self._size

    @property
    def newest_first(self) -> np.ndarray:
        """Every entry's rowid in the default order (`ts DESC, id`: the `entries_ts`
        index, read once per state for `page`; 1M entries: 8 MB)."""
        with self._lock:
            if self._newest_first is None:
                self._newest_first = self._read(
                    "newest first",
                    "SELECT rowid FROM entries ORDER BY ts DESC, id",
                    # row by row: group_concat need not keep a subquery's order
                    collect=lambda cursor: np.fromiter((r for (r,) in cursor), np.int64),
                )
            return self._newest_first

    def query(self, terms: Sequence[ast.Node], steps: Sequence[Step]) -> Mask:
        """The mask of the AND of `terms` (`steps`: their plans); the last QUERIES are
        kept, so the page read after a count does not compute it again."""
        key = tuple(terms)
        with self._lock:
            found = self._queries.get(key)
            if found is not None:
                self._queries.move_to_end(key)
                return found
        mask = steps[0](self)  # a set of entries: a `not` keeps to those there are
        for step in steps[1:]:
            mask &= step(self)
        with self._lock:
            self._queries[key] = mask
            while len(self._queries) > QUERIES:
                self._queries.popitem(last=False)
        return mask

    def tag(self, folded: str) -> np.ndarray:
        """The rowids of the entries with a (casefolded) tag."""
        with self._lock:
            if folded not in self._tags:
                # an IN list: its ids sorted once, then looked up in the primary key in
                # order (1M entries, a tag of 100k: 200-300 ms; a join 370-430 ms)
                ((joined,),) = self._read(
                    f"tag:{folded}",
                    "SELECT group_concat(rowid) FROM entries "
                    "WHERE id IN (SELECT entry_id FROM tags WHERE tag_f = ?)",
                    [folded],
                )
                self._tags[folded] = _ints(joined)
            return self._tags[folded]

    def leaf(self, where: str, params: Sequence[Any]) -> Mask:
        """The mask of the entries one term's own SQL (a WHERE over `entries e`, as the
        compiler writes it) selects; the last LEAVES are kept, packed 8 to a byte."""
        key = (where, tuple(params))
        with self._lock:
            packed = self._leaves.get(key)
            if packed is not None:
                self._leaves.move_to_end(key)
        if packed is None:
            sql = f"SELECT group_concat(e.rowid) FROM entries e WHERE {where}"
            with self._lock:
                what = f"{where[:40]}… {params!r:.40}" if len(where) > 40 else f"{where} {params}"
                ((joined,),) = self._read(what, sql, params)
                packed = np.packbits(self.mask_of(_ints(joined)))
                self._leaves[key] = packed
                while len(self._leaves) > LEAVES:
                    self._leaves.popitem(last=False)
        return np.unpackbits(packed, count=self.size).view(bool)

    def nbytes(self) -> int:
        """Memory held by the arrays read so far."""
        arrays = [self._present] if self._present is not None else []
        arrays += [*self._tags.values(), *self._leaves.values(), *self._queries.values()]
        arrays += [self._newest_first] if self._newest_first is not None else []
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
    False, as in the compiled SQL, whose every `not` is `NOT coalesce(x, 0)` or a `NOT
    IN`); Unsupported for a term this module leaves to SQL."""
    if not _has_tags(node):  # one read of its SQL (`make:canon and iso > 800`: one scan)
        return _leaf(node)
    if isinstance(node, ast.And | ast.Or):
        steps = [plan(i) for i in node.items]
        combine = np.logical_and if isinstance(node, ast.And) else np.logical_or

        def joined(f: Facets) -> Mask:
            out = steps[0](f)
            for step in steps[1:]:
                out = combine(out, step(f))
            return out

        return joined
    if isinstance(node, ast.Not):  # of the entries there are (rowids have gaps)
        inner = plan(node.expr)
        return lambda f: ~inner(f) & f.present
    tags = _Compiler.tag_values(node)
    if tags is not None:  # the rowids of each tag, read through its index
        folded = [v.text.casefold() for v in tags]
        return lambda f: f.mask_of(np.concatenate([f.tag(t) for t in folded]))
    if isinstance(node, ast.In) and node.all and canonical(node.key, node.pos) == "tag":
        return plan(ast.And(tuple(ast.Cmp(node.key, "=", v, node.pos) for v in node.values), 0))
    if isinstance(node, ast.Cmp) and node.op == "!=" and canonical(node.key, node.pos) == "tag":
        value = node.value.text.casefold()
        return lambda f: ~f.mask_of(f.tag(value)) & f.present
    return _leaf(node)


def _leaf(node: ast.Node) -> Step:
    """The mask of what the node's own SQL selects (see module doc)."""
    compiler = _Compiler()
    where = compiler.node(node)
    if compiler.similar or compiler.faces:  # a seed, and a user's filter on the seed
        raise Unsupported(where)
    params = list(compiler.params)
    return lambda f: f.leaf(where, params)


def _has_tags(node: ast.Node) -> bool:
    """Whether a node has a term on tags (read through their index, not row by row)."""
    if isinstance(node, ast.And | ast.Or):
        return any(_has_tags(i) for i in node.items)
    if isinstance(node, ast.Not):
        return _has_tags(node.expr)
    return isinstance(node, ast.Cmp | ast.In) and canonical(node.key, node.pos) == "tag"


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
    if not terms:
        return None
    try:
        steps = [plan(t) for t in terms]
    except Unsupported:
        return None
    mask = _of_state(conn, lambda f: f.query(terms, steps))
    return None if mask is None else int(np.count_nonzero(mask))


ORDER_FROM = 20_000
"""An offset from which the page of everything is sliced from the state's order even when
that is not read yet (its read: ~0.4 s at 1M); below it SQL's OFFSET costs less."""


def page(
    conn: sqlite3.Connection, terms: Sequence[ast.Node], offset: int, limit: int
) -> list[int] | None:
    """The rowids of one page of the entries matching every one of `terms` (none: all),
    newest first (`ts DESC, id`, the default order), from the query's mask and the state's
    order of all entries: no walk of the date index that reads rows which are no hits, no
    sort of every hit (1M entries: `beach and year <= 2006`, every hit at the far end of
    the order, took 0.2-1.8 s in SQL), no OFFSET stepped over row by row (the timeline's
    jump to a year: 476k rows, 180 ms). None as for `count`: read the page with SQL."""
    if not terms:

        def everything(f: Facets) -> list[int] | None:
            if f._newest_first is None and offset < ORDER_FROM:
                return None
            return f.newest_first[offset : offset + limit].tolist()

        return _of_state(conn, everything)
    try:
        steps = [plan(t) for t in terms]
    except Unsupported:
        return None

    def hits(f: Facets) -> list[int]:
        mask, order = f.query(terms, steps), f.newest_first
        return order[mask[order]][offset : offset + limit].tolist()  # 1M entries: ~5 ms

    return _of_state(conn, hits)


def _of_state(conn: sqlite3.Connection, read: Callable[[Facets], Any]) -> Any:
    """`read` of the Facets of the state `conn` reads, or None: the database is in memory,
    being written (`for_path`), or changed while `read` read its parts (see `count`)."""
    path = vectors.database_file(conn)
    if not path:
        return None
    key = vectors.signature(path)
    facets = for_path(path, key)
    if facets is None:
        return None
    # The query's transaction reads the state it sees first: make that happen now, between
    # two looks at the file, so the count is of the same state as the page read after it.
    conn.execute("SELECT 1 FROM entries LIMIT 1").fetchall()
    try:
        found = read(facets)
    except Stale:
        with _cache_lock:
            if _cache.get(path) is facets:
                del _cache[path]
        return None
    if vectors.signature(path) != key:
        return None
    return found
