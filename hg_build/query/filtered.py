"""A query ANDed with fixed filters (hg-serve's per-user `filter`), compiled to one WHERE.

Each part is parsed and compiled on its own, so an error in the user's query points at a
position in *that* text, and the filter's own `order by` (if any) is ignored: the order is
the user's query's. A `face:<id>.<n>` or `similar:<id>` term's seed entry must pass the
filters too: one outside them finds nothing (and orders nothing), as if it were not there.
"""

from __future__ import annotations

from collections.abc import Sequence

from hg_build.query.compile import Compiled, compile_query
from hg_build.query.errors import QueryError


def compile_filtered(
    query: str, filters: Sequence[str] = (), drive_by_tag: bool = True
) -> Compiled:
    """`(filter1) AND … AND (query)` with the query's order and source; QueryError names the
    part. `drive_by_tag=False` for a WHERE clause over `entries e` alone (summaries)."""
    if not filters:
        return compile_query(query, drive_by_tag)
    wheres, params, terms = [], [], []
    for text in filters:
        try:
            part = compile_query(text, drive_by_tag=False)
        except QueryError as exc:
            raise QueryError(f"in the filter {text!r}: {exc.reason}", exc.pos) from None
        wheres.append(f"({part.where})")
        params += part.params
        terms.append(part.terms)
    main = compile_query(query, drive_by_tag, seed_scope=(" AND ".join(wheres), list(params)))
    together = _and(wheres, params, main)
    if main.terms is not None and None not in terms:
        together.terms = tuple(t for part in [*terms, main.terms] for t in part)  # type: ignore[union-attr]
    return together


def _and(wheres: list[str], params: list, main: Compiled) -> Compiled:
    return Compiled(
        " AND ".join([*wheres, f"({main.where})"]),
        params + main.params,
        main.order,
        main.order_params,
        main.source,
        main.dated,
        walk=None if main.walk is None else _and(wheres, params, main.walk),
    )
