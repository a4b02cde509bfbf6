"""Pure: the line of a key in TOML text, so a config error can say where the typo is.

tomllib gives no positions, so the text is scanned: table headers (`[a.b]`, `[[a.b]]`,
counting the arrays' items) and `key =` lines (bare, quoted or dotted keys) give each key
line its full path; the line whose path is the wanted one is the answer. Not a parser:
lines inside multi-line strings are skipped, and a key inside an inline table is found as
the line of the table's own key (the nearest enclosing path that is found).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

Path = tuple[str | int, ...]
"""A key's path: table names and keys, and for an array of tables the item's index."""

_HEADER = re.compile(r"^\s*(\[\[?)\s*(.+?)\s*\]\]?\s*(?:#.*)?$")
_KEY = re.compile(
    r"""^\s*((?:[A-Za-z0-9_-]+|"[^"]*"|'[^']*')(?:\s*\.\s*(?:[A-Za-z0-9_-]+|"[^"]*"|'[^']*'))*)\s*="""
)
_PART = re.compile(r"""[A-Za-z0-9_-]+|"[^"]*"|'[^']*'""")


def _parts(dotted: str) -> list[str]:
    return [p.strip("\"'") for p in _PART.findall(dotted)]


def key_lines(text: str) -> dict[Path, int]:
    """Every table header and key line of the text: path -> 1-based line number (the first
    occurrence wins, as a duplicate is a TOML error anyway)."""
    found: dict[Path, int] = {}
    table: Path = ()
    counts: dict[tuple[str, ...], int] = {}
    multiline: str | None = None
    for number, line in enumerate(text.splitlines(), 1):
        if multiline is not None:
            if line.count(multiline) % 2 == 1:
                multiline = None
            continue
        header = _HEADER.match(line)
        if header and not _KEY.match(line):
            names = tuple(_parts(header.group(2)))
            if header.group(1) == "[[":
                index = counts.get(names, 0)
                counts[names] = index + 1
                table = (*names, index)
            else:
                table = _resolve(names, counts)
            found.setdefault(table, number)
            continue
        key = _KEY.match(line)
        if key:
            found.setdefault((*table, *_parts(key.group(1))), number)
            rest = line[key.end() :]
            for quote in ('"""', "'''"):
                if rest.count(quote) % 2 == 1:
                    multiline = quote
    return found


def _resolve(names: tuple[str, ...], counts: dict[tuple[str, ...], int]) -> Path:
    """`[sources.extra]` after `[[sources]]` belongs to the last item of that array."""
    out: list[str | int] = []
    for i, name in enumerate(names):
        out.append(name)
        prefix = names[: i + 1]
        if prefix in counts:
            out.append(counts[prefix] - 1)
    return tuple(out)


def line_of(text: str | None, path: Sequence[str | int]) -> int | None:
    """The line of `path` (or of the nearest enclosing table or key that is there)."""
    if not text:
        return None
    found = key_lines(text)
    path = tuple(path)
    while path:
        if path in found:
            return found[path]
        path = path[:-1]
    return None
