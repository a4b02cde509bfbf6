"""AST -> parameterised SQL over the hg-build schema: user text only ever becomes a parameter.

`compile_query(text)` returns a Compiled with a WHERE clause, its parameters and an ORDER
BY clause for `SELECT … FROM entries e`. Text matches are case-insensitive for any
script: values are casefolded here and compared with casefolded columns.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from math import cos, degrees, radians, sin, sqrt
from typing import Any

from hg_build.query import ast
from hg_build.query import values as qv
from hg_build.query.errors import QueryError
from hg_build.query.parser import parse

ALIASES = {"y": "year", "m": "month", "d": "day", "H": "hour", "M": "minute"}
LOWER_ALIASES = {
    "lat": "latitude", "lon": "longitude", "lng": "longitude", "street": "road",
    "tags": "tag", "objects": "object", "faces": "face", "source": "index",
    "focal": "focal_length", "focallength": "focal_length", "filesize": "filesize",
    "size": "filesize", "people": "person",
}  # fmt: skip
INT_KEYS = {"year", "month", "day", "hour", "minute", "width", "height", "orientation"}
NUM_KEYS = {"iso", "latitude", "longitude", "altitude", "aperture", "exposure", "focal_length",
            "rating"}  # fmt: skip
TEXT_KEYS = {"make", "model", "lens", "description", "title", "country", "state", "city",
             "road"}  # fmt: skip
ADDRESS = ("country", "state", "city", "road")
COUNT_KEYS = {"tags": "tags_count", "tag": "tags_count", "faces": "faces_count",
              "face": "faces_count", "objects": "objects_count", "object": "objects_count",
              "files": "files_count", "file": "files_count"}  # fmt: skip
ORDER_KEYS = {"date": "e.ts", "updated": "e.updated", "duration": "e.duration",
              "width": "e.width", "height": "e.height", "filesize": "e.filesize",
              "random": "random()"}  # fmt: skip
NUM_OPS = {":": "=", "=": "=", "!=": "!=", "<": "<", "<=": "<=", ">": ">", ">=": ">="}
_DATE = re.compile(r"^\d{4}(-\d{2}(-\d{2})?)?$")
SIMILAR_MIN = 0.5
TEXT_INDEX_MIN = 3  # characters: the trigram tokenizer finds nothing shorter
FACE_MAX = 0.55  # hg_build.faces.FACE_MAX (not imported: numpy stays out of the parser)
_FACE = re.compile(r"^([0-9a-f]{5,})\.(\d{1,3})$")


ENTRIES = "entries e"
NEWEST_FIRST = "e.ts DESC, e.id"
"""The default order: the date index's (`entries_ts`: ts DESC, id)."""


@dataclass
class Compiled:
    where: str
    params: list[Any]
    order: str
    order_params: list[Any] = field(default_factory=list)
    source: str = ENTRIES  # or tags t joined with entries e (see _tag_driven)
    dated: bool = True  # in date order (the web app's month headers make sense)
    walk: Compiled | None = None
    """The same query with its index lists as row-by-row tests (`_Compiler.indexed` off):
    a page of many hits is found faster walking the date index and stopping at the
    limit than by sorting every hit of the lists (`search.for_page` chooses)."""
    count_sql: tuple[str, list[Any]] | None = None
    """A count that reads an index alone, when the whole query is one such term (no
    filter): the entries of a free-text match or of any of some tags, all but those of a
    tag. None: `count(*)` with the WHERE clause."""
    terms: tuple[ast.Node, ...] | None = None
    """Expressions whose AND is exactly what the WHERE selects (a user's filters' and the
    query's; () for everything), for `hg_build.facets.count`; None when the WHERE says
    more (a tag-driven `year:` bounds `t.ts` too)."""

    @property
    def newest_first(self) -> bool:
        """In the default order, `NEWEST_FIRST` (a tag-driven query's reads the same `ts`
        from `tags t`): the order `hg_build.facets.page` gives its rowids in."""
        return not self.order_params and self.order.replace("t.ts", "e.ts", 1) == NEWEST_FIRST

    def select(self, columns: str, limit: int | None = None, offset: int = 0):
        """The full SELECT and its parameters."""
        sql = f"SELECT {columns} FROM {self.source} WHERE {self.where} ORDER BY {self.order}"
        params = [*self.params, *self.order_params]
        if limit is not None:
            sql += " LIMIT ? OFFSET ?"
            params += [int(limit), int(offset)]
        return sql, params


class _Compiler:
    def __init__(
        self, seed_scope: tuple[str, list[Any]] | None = None, indexed: bool = True
    ) -> None:
        self.seed_scope = seed_scope
        self.indexed = indexed  # index lists for free text and `or` of tags (see walk)
        self.used_index = False  # a term read an index list
        """A WHERE over `entries e` (and its parameters) a `face:` or `similar:` seed must
        satisfy: a user's filter, so an entry outside it selects and orders nothing."""
        self.params: list[Any] = []
        self.similar: list[str] = []  # the entry id prefixes of similar:ID terms
        self.dated = True  # set by order()
        self.faces: list[tuple[str, int]] = []  # (id prefix, face index) of face:ID.N terms
        self.negated = 0  # how many `not`s the term compiled now is under

    def p(self, value: Any) -> str:
        self.params.append(value)
        return "?"

    def node(self, n: ast.Node) -> str:
        if isinstance(n, ast.And):
            return "(" + " AND ".join(self.node(i) for i in n.items) + ")"
        if isinstance(n, ast.Or):
            return self.or_(n)
        if isinstance(n, ast.Not):
            if self.is_tag_term(n.expr):
                if self.indexed:  # one read of the tag's index, not a lookup per entry
                    self.used_index = True
                    return self.k_tag("tag", "!=", n.expr.value, n.expr)
                # the walk form: a page of `not tag:x` (most entries) walks the date index
                # and stops after about `limit` rows, a lookup each, instead of first
                # reading the 100k entries with the tag into a list (1M: 0.3 s)
                folded = self.p(n.expr.value.text.casefold())
                return (
                    f"(NOT EXISTS (SELECT 1 FROM tags WHERE entry_id = e.id AND tag_f = {folded}))"
                )
            self.negated += 1
            try:
                return f"(NOT coalesce({self.node(n.expr)}, 0))"
            finally:
                self.negated -= 1
        if isinstance(n, ast.Text):  # the search text, or the name of a person in the photo
            folded = n.value.text.casefold()
            text = self.free_text(folded)
            return f"({text} OR {self.people(f'instr(p.name_f, {self.p(folded)}) > 0')})"
        if isinstance(n, ast.Cmp):
            return self.cmp(n)
        if isinstance(n, ast.In):
            return self.in_(n)
        if isinstance(n, ast.Range):
            return self.range(n)
        if isinstance(n, ast.Count):
            return self.count(n)
        if isinstance(n, ast.Exists):
            return self.exists(n)
        raise QueryError(f"unsupported term {n!r}")  # pragma: no cover

    tag_sets = True
    """An `or` of tag terms reads the tags' index once (tests turn it off to compare)."""

    def or_(self, n: ast.Or) -> str:
        """`tag:a or tag:b or …`: one list of the entries with any of the tags, read from
        `tags_f` (`e.id IN (… tag_f IN (a, b))`), not two lookups in `tags` per entry
        (1M entries, 190k hits: the count took 6.8 s). Other terms of the `or` stay as
        they are, ORed with it."""
        tags = [self.tag_values(i) for i in n.items] if self.indexed and self.tag_sets else []
        values = [v for found in tags if found is not None for v in found]
        rest = [i for i, found in zip(n.items, tags or [None] * len(n.items), strict=True)
                if found is None]  # fmt: skip
        parts = [self.node(i) for i in rest]
        if len(values) > 1 or (values and parts):
            self.used_index = True
            marks = ", ".join(self.p(v.text.casefold()) for v in values)
            parts.append(f"(e.id IN (SELECT entry_id FROM tags WHERE tag_f IN ({marks})))")
        elif values:  # one tag term alone (`tag:a or tag:a`): as it is
            parts = [self.node(i) for i in n.items]
        return "(" + " OR ".join(parts) + ")"

    @staticmethod
    def tag_values(n: ast.Node) -> tuple[ast.Value, ...] | None:
        """The values of a term that selects entries with any of some tags (`tag:x`,
        `tag = x`, `tag in (x, y)`), else None."""
        if _Compiler.is_tag_term(n):
            assert isinstance(n, ast.Cmp)
            return (n.value,)
        if isinstance(n, ast.In) and not n.all and canonical(n.key, n.pos) == "tag":
            return n.values
        return None

    inner_box = True
    """`near:` skips the distance inside a box within the circle (tests turn it off)."""

    text_index = True
    """Free-text terms of TEXT_INDEX_MIN+ characters read the trigram index (tests turn
    it off to compare with instr() over every row)."""

    def free_text(self, folded: str) -> str:
        """Entries whose haystack holds `folded`: the rowids the trigram index
        `entries_text` finds for it as a phrase (the same rows as instr(); 1M entries:
        0.6 s -> see docs/benchmarks.md), or instr() for a term too short for trigrams."""
        if self.indexed and self.text_index and len(folded) >= TEXT_INDEX_MIN:
            self.used_index = True
            phrase = fts_phrase(folded)
            return (
                "e.rowid IN (SELECT rowid FROM entries_text "
                f"WHERE entries_text MATCH {self.p(phrase)})"
            )
        return f"instr(e.text, {self.p(folded)}) > 0"

    @staticmethod
    def is_tag_term(n: ast.Node) -> bool:
        """`tag:x` / `tag = x`: `not` of it is `tag != x` (`e.id NOT IN` the tag's entries,
        read once from `tags_f`), the same entries as NOT EXISTS per row, 2-3x faster."""
        return (
            isinstance(n, ast.Cmp)
            and n.op in (":", "=")
            and not n.values
            and canonical(n.key, n.pos) == "tag"
        )

    # -- key: value / key op value -------------------------------------------------------
    def cmp(self, n: ast.Cmp) -> str:
        key = canonical(n.key, n.pos)
        if n.values and key != "near":
            raise QueryError(f"{n.key!r} takes one value", n.values[0].pos)
        handler: Callable[[str, str, ast.Value, ast.Cmp], str] | None = getattr(
            self, f"k_{key}", None
        )
        if handler is not None:
            return handler(key, n.op, n.value, n)
        if key in INT_KEYS or key in NUM_KEYS:
            return self.numeric(f"e.{key}", n.op, qv.number(n.value), n)
        if key in TEXT_KEYS:
            return self.text(f"e.{key}_f", n.op, n.value, n)
        raise QueryError(f"unknown key {n.key!r}", n.pos)  # pragma: no cover

    def numeric(self, col: str, op: str, number: float, n: Any) -> str:
        if op not in NUM_OPS:
            raise QueryError(f"operator {op!r} does not apply to {n.key!r}", n.pos)
        return f"({col} {NUM_OPS[op]} {self.p(number)})"

    def text(self, col: str, op: str, value: ast.Value, n: Any) -> str:
        folded = value.text.casefold()
        if op in (":", "="):
            return f"({col} = {self.p(folded)})"
        if op == "!=":
            return f"({col} IS NULL OR {col} != {self.p(folded)})"
        if op == "~":
            return f"(instr({col}, {self.p(folded)}) > 0)"
        raise QueryError(f"operator {op!r} does not apply to text key {n.key!r}", n.pos)

    def k_date(self, key: str, op: str, value: ast.Value, n: Any) -> str:
        text = value.text.strip()
        if not _DATE.match(text):
            raise QueryError(f"expected a date like 2021-07-04, got {text!r}", value.pos)
        if op in (":", "="):
            return f"(substr(e.date, 1, {len(text)}) = {self.p(text)}{self.ts_bound(text, op)})"
        if op == "!=":
            return f"(substr(e.date, 1, {len(text)}) != {self.p(text)})"
        if op not in NUM_OPS:
            raise QueryError(f"operator {op!r} does not apply to 'date'", n.pos)
        return f"(substr(e.date, 1, {len(text)}) {op} {self.p(text)}{self.ts_bound(text, op)})"

    def ts_bound(self, text: str, op: str) -> str:
        """A `ts` range around a date comparison, so the planner can use `entries_ts`
        instead of reading every row's date (a date range over 1M entries). The date
        text is the local date; `ts` is its instant, within 14 hours of the local wall
        clock read as UTC, so the range is a superset and the substr() term decides."""
        span = _date_span(text)
        if span is None:
            return ""
        start, end = span
        lo = {">=": start, ">": start, ":": start, "=": start}.get(op)
        hi = {"<=": end, "<": start, ":": end, "=": end}.get(op)
        bound = "" if lo is None else f" AND e.ts >= {self.p(lo - _ZONE_SLACK)}"
        return bound + ("" if hi is None else f" AND e.ts <= {self.p(hi + _ZONE_SLACK)}")

    def k_type(self, key: str, op: str, value: ast.Value, n: Any) -> str:
        return self.text("lower(e.type)", op, ast.Value(value.text.lower(), value.pos), n)

    def k_id(self, key: str, op: str, value: ast.Value, n: Any) -> str:
        text = value.text.strip().lower()
        if op == "~":
            return f"(instr(e.id, {self.p(text)}) > 0)"
        if len(text) < 5:
            raise QueryError("an id needs at least 5 characters", value.pos)
        if op in (":", "="):
            return f"(substr(e.id, 1, {len(text)}) = {self.p(text)})"
        if op == "!=":
            return f"(substr(e.id, 1, {len(text)}) != {self.p(text)})"
        raise QueryError(f"operator {op!r} does not apply to 'id'", n.pos)

    def k_duration(self, key: str, op: str, value: ast.Value, n: Any) -> str:
        return self.numeric("e.duration", op, qv.duration(value), n)

    def k_ratio(self, key: str, op: str, value: ast.Value, n: Any) -> str:
        named, number = qv.ratio(value)
        if named and op in (":", "="):
            op = named
        expr = "(e.width * 1.0 / nullif(e.height, 0))"
        if op in (":", "="):
            return f"(abs({expr} - {self.p(number)}) < 0.01)"
        return self.numeric(expr, op, number, n)

    def k_tag(self, key: str, op: str, value: ast.Value, n: Any) -> str:
        folded = value.text.casefold()
        if op in (":", "="):  # EXISTS: the planner walks entries in order, not all hits
            return (
                f"(EXISTS (SELECT 1 FROM tags WHERE entry_id = e.id AND tag_f = {self.p(folded)}))"
            )
        if op == "!=":
            return f"(e.id NOT IN (SELECT entry_id FROM tags WHERE tag_f = {self.p(folded)}))"
        if op == "~":
            return f"(e.id IN (SELECT entry_id FROM tags WHERE instr(tag_f, {self.p(folded)}) > 0))"
        raise QueryError(f"operator {op!r} does not apply to 'tag'", n.pos)

    def k_object(self, key: str, op: str, value: ast.Value, n: Any) -> str:
        cls = "casefold(json_extract(o.value, '$.class'))"
        inner = self.text(cls, op if op != "!=" else "=", value, n)
        sql = f"EXISTS (SELECT 1 FROM json_each(e.objects) o WHERE {inner})"
        return f"(NOT {sql})" if op == "!=" else f"({sql})"

    def k_face(self, key: str, op: str, value: ast.Value, n: Any) -> str:
        """HomeGallery's `face:<id prefix>.<face index>`: entries with a face within
        Euclidean FACE_MAX of that face (the index is 0-based, in the record's `faces`)."""
        match = _FACE.match(value.text.strip().lower())
        if op != ":" or match is None:
            raise QueryError(
                "face takes an entry id (at least 5 characters) and a face number, "
                "like face:1a2b3c4d.0",
                n.pos,
            )
        prefix, index = match.group(1), int(match.group(2))
        self.faces.append((prefix, index))
        return f"({self.face_distance(prefix, index)} < {self.p(FACE_MAX)})"

    def face_distance(self, prefix: str, index: int) -> str:
        # The subquery's own `e` hides the outer one, so the scope's `e.` columns are the
        # seed's; its placeholders follow the prefix's.
        match = f"substr(e.id, 1, {len(prefix)}) = {self.p(prefix)}"
        scope = ""
        if self.seed_scope is not None:
            self.params += self.seed_scope[1]
            scope = f" AND ({self.seed_scope[0]})"
        seed = (
            f"(SELECT e.face_descriptors FROM entries e WHERE {match} "
            f"AND e.face_descriptors IS NOT NULL{scope} LIMIT 1)"
        )
        return f"hg_face_distance(e.face_descriptors, {seed}, {self.p(index)})"

    def people(self, cond: str, negate: bool = False) -> str:
        """Entries with a face of a person that `cond` (over `people p`) selects: a
        subquery SQLite runs once per statement, not per entry."""
        inner = (
            "SELECT f.entry_id FROM person_faces f JOIN people p ON p.id = f.person_id "
            f"WHERE {cond}"
        )
        return f"(e.id {'NOT IN' if negate else 'IN'} ({inner}))"

    def k_person(self, key: str, op: str, value: ast.Value, n: Any) -> str:
        """`person:anna` (a name, casefolded, or a person id), `person:*` (any named
        person), `person~ann` (part of a name), `person!=anna` (no face of theirs)."""
        text = value.text.strip()
        if op in (":", "=", "!=") and text == "*" and not value.quoted:
            return self.people("p.name_f IS NOT NULL", negate=op == "!=")
        folded = text.casefold()
        if op in (":", "=", "!="):
            cond = f"(p.name_f = {self.p(folded)} OR p.id = {self.p(folded)})"
            return self.people(cond, negate=op == "!=")
        if op == "~":
            return self.people(f"instr(p.name_f, {self.p(folded)}) > 0")
        raise QueryError(f"operator {op!r} does not apply to 'person'", n.pos)

    def files(self, cond: str) -> str:
        return f"(e.id IN (SELECT entry_id FROM files WHERE {cond}))"

    def k_file(self, key: str, op: str, value: ast.Value, n: Any) -> str:
        return self.files(self.text("path_f", op, value, n))

    def k_path(self, key: str, op: str, value: ast.Value, n: Any) -> str:
        if op in (":", "="):  # case-sensitive, as HomeGallery
            return self.files(f"dir = {self.p(value.text.strip('/'))}")
        return self.files(self.text("dir_f", op, value, n))

    def k_folder(self, key: str, op: str, value: ast.Value, n: Any) -> str:
        """`folder:a/b`: an entry with a file in folder a/b or below (case-sensitive, as
        `path`). A range on `files.dir` (index `files_dir`), not LIKE: folder names may hold
        `%` and `_`, which LIKE would read as wildcards."""
        folder = value.text.strip("/")
        if op not in (":", "=", "!="):
            raise QueryError(f"operator {op!r} does not apply to 'folder'", n.pos)
        if not folder:  # the root: every entry has a file in it or below
            return "(1)" if op != "!=" else "(0)"
        low, high = subtree_bounds(folder)
        inner = (
            f"SELECT entry_id FROM files WHERE dir = {self.p(folder)} "
            f"OR (dir >= {self.p(low)} AND dir < {self.p(high)})"
        )
        return f"(e.id {'NOT IN' if op == '!=' else 'IN'} ({inner}))"

    def k_memories(self, key: str, op: str, value: ast.Value, n: Any) -> str:
        """`memories:today` or `memories:MM-DD`: "on this day", the entries taken on that
        month and day in the years before this one (newest first), over the index
        `entries_month_day`. HomeGallery's grammar has no such term; `day:` is already the
        day of the month. "today" and "this year" are this computer's local date."""
        if op not in (":", "="):
            raise QueryError(f"operator {op!r} does not apply to 'memories'", n.pos)
        month, day = qv.month_day(value)
        return (
            f"(e.month = {self.p(month)} AND e.day = {self.p(day)} "
            f"AND e.year < {self.p(date.today().year)})"
        )

    def k_filename(self, key: str, op: str, value: ast.Value, n: Any) -> str:
        if op in (":", "="):
            return self.files(f"name = {self.p(value.text)}")
        return self.files(self.text("name_f", op, value, n))

    def k_ext(self, key: str, op: str, value: ast.Value, n: Any) -> str:
        return self.files(self.text("ext", op, ast.Value(value.text.lstrip("."), value.pos), n))

    def k_index(self, key: str, op: str, value: ast.Value, n: Any) -> str:
        return self.files(self.text("lower(source)", op, value, n))

    def k_filesize(self, key: str, op: str, value: ast.Value, n: Any) -> str:
        size = qv.filesize(value)
        if op not in NUM_OPS:
            raise QueryError(f"operator {op!r} does not apply to 'filesize'", n.pos)
        return self.files(f"size {NUM_OPS[op]} {self.p(size)}")

    def k_location(self, key: str, op: str, value: ast.Value, n: Any) -> str:
        parts = [self.text(f"e.{a}_f", op, value, n) for a in ADDRESS]
        return "(" + (" AND " if op == "!=" else " OR ").join(parts) + ")"

    def k_geo(self, key: str, op: str, value: ast.Value, n: Any) -> str:
        raise QueryError("use exists(geo) or near:lat,lon,radius", n.pos)

    def k_near(self, key: str, op: str, value: ast.Value, n: ast.Cmp) -> str:
        """Entries within a radius: a box on (latitude, longitude) that the `entries_geo`
        index answers, then the great-circle distance (a Python function per row) for
        those outside a box that lies inside the circle (`_inner_box`: 1M entries, 100k in
        the radius, most of them need no call). In the `walk` form (`Compiled.walk`) the
        box does not choose the index (`+e.latitude`, `+e.longitude`): a page of many hits
        then walks the date index and stops at its end instead of sorting every hit."""
        if op != ":" or len(n.values) != 2:
            raise QueryError("near takes latitude,longitude,radius (near:48.1,11.6,5km)", n.pos)
        lat, lon = qv.number(value, "a latitude"), qv.number(n.values[0], "a longitude")
        km = qv.distance_km(n.values[1])
        dlat = km / 111.0 + 1e-9
        dlon = min(180.0, km / max(1e-6, 111.32 * cos(radians(min(89.9, abs(lat))))))
        self.used_index = self.used_index or self.indexed
        plus = "" if self.indexed else "+"  # neither column chooses the index (skip-scan)
        # placeholders in the text's order
        box = (
            f"{plus}e.latitude BETWEEN {self.p(lat - dlat)} AND {self.p(lat + dlat)} AND "
            f"{plus}e.longitude BETWEEN {self.p(lon - dlon)} AND {self.p(lon + dlon)}"
        )
        inner = _inner_box(lat, km) if self.inner_box else None
        within = ""
        if inner is not None:
            ilat, ilon = inner
            within = (
                f"(e.latitude BETWEEN {self.p(lat - ilat)} AND {self.p(lat + ilat)} AND "
                f"e.longitude BETWEEN {self.p(lon - ilon)} AND {self.p(lon + ilon)}) OR "
            )
        exact = f"hg_distance_km(e.latitude, e.longitude, {self.p(lat)}, {self.p(lon)})"
        return f"({box} AND ({within}{exact} <= {self.p(km)}))"

    def k_similar(self, key: str, op: str, value: ast.Value, n: Any) -> str:
        text = value.text.strip().lower()
        if op != ":" or len(text) < 5:
            raise QueryError("similar takes an entry id (at least 5 characters)", n.pos)
        self.similar.append(text)
        # the ids at or above the threshold come from one matrix product (hg_build.vectors),
        # not from a cosine per row: an uncorrelated IN list is read once per statement
        scope = ""
        if self.seed_scope is not None:
            # The seed is chosen among every entry with a vector (hg_build.vectors): with a
            # scope, each such entry of the prefix must be in it, else nothing is found.
            # (Placeholders in the text's order: this part's come first.)
            match = f"substr(e.id, 1, {len(text)}) = {self.p(text)} AND e.similarity IS NOT NULL"
            self.params += self.seed_scope[1]
            hidden = f"NOT coalesce(({self.seed_scope[0]}), 0)"
            scope = f"NOT EXISTS (SELECT 1 FROM entries e WHERE {match} AND {hidden}) AND "
        # under a `not`, every row's: the coarse lists' hits (hg_build.coarse_lists) may
        # miss a few, which `not similar:` would then list first
        ids = f"hg_similar_ids({self.p(text)}, {self.p(SIMILAR_MIN)}"
        ids += f", {self.p(1)})" if self.negated else ")"  # (placeholders in text order)
        return f"({scope}e.id IN (SELECT value FROM json_each({ids})))"

    # -- lists, ranges, counts, exists ----------------------------------------------------
    def in_(self, n: ast.In) -> str:
        if canonical(n.key, n.pos) == "tag" and not n.all:  # one lookup for the whole list
            marks = ", ".join(self.p(v.text.casefold()) for v in n.values)
            return f"(EXISTS (SELECT 1 FROM tags WHERE entry_id = e.id AND tag_f IN ({marks})))"
        parts = [self.cmp(ast.Cmp(n.key, "=", v, n.pos)) for v in n.values]
        return "(" + (" AND " if n.all else " OR ").join(parts) + ")"

    def range(self, n: ast.Range) -> str:
        key = canonical(n.key, n.pos)
        if key == "filesize":
            lo, hi = qv.filesize(n.low), qv.filesize(n.high)
            return self.files(f"size BETWEEN {self.p(lo)} AND {self.p(hi)}")
        if key not in INT_KEYS | NUM_KEYS | {"date", "duration", "ratio"}:
            raise QueryError(f"{n.key!r} has no range", n.pos)
        low, high = ast.Cmp(n.key, ">=", n.low, n.pos), ast.Cmp(n.key, "<=", n.high, n.pos)
        return f"({self.cmp(low)} AND {self.cmp(high)})"

    def count(self, n: ast.Count) -> str:
        col = COUNT_KEYS.get(n.key.lower())
        if col is None:
            raise QueryError(f"count() takes tags, faces, objects or files, not {n.key!r}", n.pos)
        return self.numeric(f"e.{col}", n.op, qv.number(n.value), n)

    def exists(self, n: ast.Exists) -> str:
        key = n.key.lower()
        if key in COUNT_KEYS:
            return f"(e.{COUNT_KEYS[key]} > 0)"
        key = LOWER_ALIASES.get(key, key)
        if key == "geo":
            return "(e.latitude IS NOT NULL AND e.longitude IS NOT NULL)"
        if key == "location":
            return "(" + " OR ".join(f"e.{a} IS NOT NULL" for a in ADDRESS) + ")"
        if key in TEXT_KEYS:
            return f"(e.{key} IS NOT NULL AND e.{key} != '')"
        if key in NUM_KEYS | INT_KEYS | {"duration"}:
            return f"(e.{key} IS NOT NULL)"
        raise QueryError(f"exists() does not know {n.key!r}", n.pos)

    def order(self, o: ast.Order | None) -> str:
        self.dated = (
            not (self.similar or self.faces)
            if o is None
            else not o.count and o.key.lower() == "date"
        )
        if self.similar and (o is None or o.key.lower() == "similar"):
            scores = ", ".join(f"hg_similar_score({self.p(s)}, e.id)" for s in self.similar)
            expr = f"max({scores}, -1)" if len(self.similar) > 1 else scores
            return f"{expr} DESC, e.ts DESC, e.id"
        if self.faces and (o is None or o.key.lower() == "face"):  # nearest first
            dists = ", ".join(self.face_distance(p, i) for p, i in self.faces)
            expr = f"min({dists})" if len(self.faces) > 1 else dists
            return f"{expr} ASC, e.ts DESC, e.id"
        if o is None:
            return NEWEST_FIRST
        key = o.key.lower()
        if o.count:
            col = COUNT_KEYS.get(key)
            if col is None:
                raise QueryError(f"cannot order by count({o.key})", o.pos)
            expr = f"e.{col}"
        elif key in ORDER_KEYS:
            expr = ORDER_KEYS[key]
        else:
            raise QueryError(f"cannot order by {o.key!r}", o.pos)
        direction = (o.direction or "desc").upper()
        return f"{expr} {direction}, e.ts DESC, e.id"


EARTH_KM = 6371.0088  # hg_build.db.distance_km's radius


def _inner_box(lat: float, km: float) -> tuple[float, float] | None:
    """Half the height and width in degrees of a box around (lat, ·) whose every point is
    within `km` of it by hg_distance_km's haversine: there h = sin²(Δφ/2) + cos φ0 cos φ
    sin²(Δλ/2) <= (Δφ² + cos φ0 Δλ²) / 4, which the box keeps below sin²(km / 2R) (with
    0.1 % to spare for rounding). None for radii of a quarter of the earth and more."""
    if not -90.0 <= lat <= 90.0 or not 0.0 < km < 10_000.0:
        return None
    s = 2 * sin(km / (2 * EARTH_KM)) * 0.999  # radians: dφ² + c dλ² <= s²
    c = cos(radians(lat))
    half_lat = degrees(s / sqrt(2))
    half_lon = 180.0 if c < 1e-9 else min(180.0, degrees(s / sqrt(2 * c)))
    return half_lat, half_lon


def fts_phrase(folded: str) -> str:
    """A term as one FTS5 phrase (with the trigram tokenizer: a substring)."""
    return '"' + folded.replace('"', '""') + '"'


def _count_sql(expr: ast.Node | None) -> tuple[str, list[Any]] | None:
    """The count of a query that is one indexed term alone, read from that index without
    a look at `entries` (1M entries: a row lookup per hit, 100k of them, cost ~0.5 s):
    the trigram index holds exactly the entries' rowids (its triggers), `tags` a row per
    entry and casefolded tag, each of an entry that exists (written and deleted with it)."""
    if expr is None:  # everything: SQLite counts a b-tree's cells (1M: 1 ms, not 85 ms)
        return "SELECT count(*) FROM entries", []
    items = expr.items if isinstance(expr, ast.And) else (expr,)
    if _Compiler.text_index and items and all(_text_rowids(i) is not None for i in items):
        # words and `not` words: their rowid sets intersected and taken away, integers only
        # (1M: `"New York" not private` 0.6 s as a row lookup per hit)
        positive = [_text_rowids(i) for i in items if not isinstance(i, ast.Not)]
        negative = [_text_rowids(i) for i in items if isinstance(i, ast.Not)]
        if positive:
            parts = [*positive, *negative]
            ops = [" INTERSECT "] * (len(positive) - 1) + [" EXCEPT "] * len(negative)
            sql = "SELECT rowid FROM (" + parts[0][0] + ")"
            for op, part in zip(ops, parts[1:], strict=True):
                sql += f"{op}SELECT rowid FROM ({part[0]})"
            params = [v for part in parts for v in part[1]]  # type: ignore[index]
            return f"SELECT count(*) FROM ({sql})", params
    if isinstance(expr, ast.Or) and _Compiler.tag_sets:
        found = [_Compiler.tag_values(i) for i in expr.items]
        if all(v is not None for v in found):
            values = sorted({v.text.casefold() for vs in found for v in vs or ()})
            marks = ", ".join("?" * len(values))
            return f"SELECT count(DISTINCT entry_id) FROM tags WHERE tag_f IN ({marks})", values
    if isinstance(expr, ast.Not) and _Compiler.tag_sets and _Compiler.is_tag_term(expr.expr):
        assert isinstance(expr.expr, ast.Cmp)
        return (
            "SELECT (SELECT count(*) FROM entries) - (SELECT count(*) FROM tags WHERE tag_f = ?)",
            [expr.expr.value.text.casefold()],
        )
    return None


def _text_rowids(n: ast.Node) -> tuple[str, list[Any]] | None:
    """The rowids a bare word of 3+ characters (or `not` one: the word's) selects, from
    the trigram index and the people's names, as one SELECT; None for other terms."""
    if isinstance(n, ast.Not):
        n = n.expr
    if not isinstance(n, ast.Text) or len(n.value.text.casefold()) < TEXT_INDEX_MIN:
        return None
    folded = n.value.text.casefold()
    return (
        "SELECT rowid FROM entries_text WHERE entries_text MATCH ? "
        "UNION SELECT e.rowid FROM entries e WHERE e.id IN (SELECT f.entry_id FROM "
        "person_faces f JOIN people p ON p.id = f.person_id WHERE instr(p.name_f, ?) > 0)",
        [fts_phrase(folded), folded],
    )


def subtree_bounds(folder: str) -> tuple[str, str]:
    """[low, high) of the `dir` values strictly below a folder (no leading or trailing /):
    every string that starts with `folder/` sorts at or after `folder/` and before `folder0`
    ('0' follows '/' in byte order, SQLite's BINARY collation)."""
    return f"{folder}/", f"{folder}0"


KNOWN = (
    INT_KEYS | NUM_KEYS | TEXT_KEYS
    | {"date", "type", "id", "duration", "ratio", "tag", "object", "face", "file", "path",
       "filename", "ext", "index", "filesize", "location", "geo", "near", "similar",
       "folder", "memories", "person"}
)  # fmt: skip


def canonical(key: str, pos: int) -> str:
    """The key's canonical name; QueryError for keys hg does not know."""
    if key in ALIASES:
        return ALIASES[key]
    low = key.lower()
    low = LOWER_ALIASES.get(low, low)
    if low not in KNOWN:
        raise QueryError(f"unknown key {key!r}", pos)
    return low


def _tag_driven(parsed: ast.Query) -> tuple[ast.Cmp, ast.Node | None] | None:
    """`tag:x [and …]` in date order: the tag term and the rest (None when none).

    Such a query walks the `tags_f` index (tag_f, ts) from the newest (or oldest) entry with
    the tag and stops at the limit, instead of collecting every entry with the tag first.
    """
    order = parsed.order
    if order is not None and (order.count or order.key.lower() != "date"):
        return None
    items = parsed.expr.items if isinstance(parsed.expr, ast.And) else (parsed.expr,)
    for i, item in enumerate(items):
        if (
            isinstance(item, ast.Cmp)
            and item.op in (":", "=")
            and not item.values
            and LOWER_ALIASES.get(item.key.lower(), item.key.lower()) == "tag"
            and item.key not in ALIASES
        ):
            rest = (*items[:i], *items[i + 1 :])
            return item, (None if not rest else rest[0] if len(rest) == 1 else ast.And(rest, 0))
    return None


def _years(rest: ast.Node | None) -> list[int]:
    """The years of `year:Y` / `year = Y` terms ANDed at the top of a tag query."""
    items = rest.items if isinstance(rest, ast.And) else (rest,) if rest is not None else ()
    years = []
    for item in items:
        if (
            isinstance(item, ast.Cmp)
            and item.op in (":", "=")
            and not item.values
            and canonical(item.key, item.pos) == "year"
        ):
            number = qv.number(item.value)
            if number == int(number) and 1 <= number <= 9998:
                years.append(int(number))
    return years


def _year_span(year: int) -> tuple[float, float]:
    """`ts` bounds of every entry whose local date is in `year`: `ts` is the instant
    (a naive date counts as UTC), so a zone moves it by up to 14 hours either way."""
    start = datetime(year, 1, 1, tzinfo=UTC).timestamp()
    end = datetime(year + 1, 1, 1, tzinfo=UTC).timestamp()
    return start - _ZONE_SLACK, end + _ZONE_SLACK


_ZONE_SLACK = 14 * 3600.0


def _date_span(text: str) -> tuple[float, float] | None:
    """The local wall-clock period `2021`, `2021-07` or `2021-07-04` names, as epoch
    seconds of its start and of the next period's start (read as UTC); None when the
    text names no real date (`2021-13`: the substr() comparison alone then)."""
    parts = [int(p) for p in text.split("-")]
    try:
        start = datetime(parts[0], *(parts[1:] or [1]), *([1] if len(parts) < 3 else []))
        if len(parts) == 1:
            end = datetime(parts[0] + 1, 1, 1)
        elif len(parts) == 2:
            end = datetime(parts[0] + parts[1] // 12, parts[1] % 12 + 1, 1)
        else:
            end = datetime.fromordinal(start.toordinal() + 1)
    except (ValueError, OverflowError):
        return None
    epoch = datetime(1970, 1, 1)
    return (start - epoch).total_seconds(), (end - epoch).total_seconds()


def entries_where(query: str | Compiled) -> Compiled:
    """A compiled query whose WHERE clause reads `entries e` alone, to embed in another
    statement (summaries, lookups). A tag-driven Compiled is refused: it reads `tags t`."""
    c = compile_query(query, drive_by_tag=False) if isinstance(query, str) else query
    if c.source != ENTRIES:
        raise ValueError("compile with drive_by_tag=False to embed this query")
    return c


def compile_query(
    query: str | ast.Query,
    drive_by_tag: bool = True,
    seed_scope: tuple[str, list[Any]] | None = None,
) -> Compiled:
    """Compile query text (or a parsed Query) to SQL; QueryError names the position.

    With `drive_by_tag` a `tag:x` query in date order reads `tags t JOIN entries e` (see
    `_tag_driven`); pass False where the WHERE clause is embedded in another statement that
    reads `entries e` only (summaries, lookups, filters). `seed_scope`: (WHERE over
    `entries e`, its parameters) that a `face:` or `similar:` term's seed entry must
    satisfy."""
    text = query if isinstance(query, str) else None
    parsed = parse(query) if isinstance(query, str) else query
    compiled, used_index = _compile(parsed, text, drive_by_tag, seed_scope, indexed=True)
    if used_index:
        compiled.walk = _compile(parsed, text, drive_by_tag, seed_scope, indexed=False)[0]
    if seed_scope is None:
        compiled.count_sql = _count_sql(parsed.expr)
    driver = _tag_driven(parsed) if parsed.expr is not None and drive_by_tag else None
    if driver is None or not _years(driver[1]):
        compiled.terms = () if parsed.expr is None else (parsed.expr,)
    return compiled


def _compile(
    parsed: ast.Query,
    text: str | None,
    drive_by_tag: bool,
    seed_scope: tuple[str, list[Any]] | None,
    indexed: bool,
) -> tuple[Compiled, bool]:
    c = _Compiler(seed_scope, indexed)
    try:
        driver = _tag_driven(parsed) if parsed.expr is not None and drive_by_tag else None
        if driver is not None:
            tag, rest = driver
            where = f"(t.tag_f = {c.p(tag.value.text.casefold())})"
            where += f" AND {c.node(rest)}" if rest is not None else ""
            for year in _years(rest):  # the tag's index is (tag_f, ts): walk that year only
                lo, hi = _year_span(year)
                where += f" AND (t.ts BETWEEN {c.p(lo)} AND {c.p(hi)})"
        else:
            where = c.node(parsed.expr) if parsed.expr is not None else "1"
        params = list(c.params)
        c.params = []
        order = c.order(parsed.order)
    except QueryError as exc:
        if text is not None and exc.pos is not None:
            raise QueryError(exc.reason, exc.pos, text) from None
        raise
    if driver is not None:  # tags has one row per entry and casefolded tag: no duplicates
        compiled = Compiled(
            where,
            params,
            order.replace("e.ts", "t.ts"),
            c.params,
            source="tags t JOIN entries e ON e.id = t.entry_id",
            dated=c.dated,
        )
        return compiled, c.used_index
    return Compiled(where, params, order, c.params, dated=c.dated), c.used_index
