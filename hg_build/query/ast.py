"""The query AST: small frozen dataclasses, each with the position of its first character.

`Cmp` covers `key:value` (op ":"), `key op value` and `~`; `In` lists (`all` for `tags all
in (…)`), `Range` `key in [a:b]`; `Count`, `Exists`; `Text` a bare or quoted word.
Values keep the raw text; their meaning depends on the key (see compile).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Value:
    text: str
    pos: int
    quoted: bool = False


@dataclass(frozen=True)
class Cmp:
    key: str
    op: str
    value: Value
    pos: int
    values: tuple[Value, ...] = ()  # `near:lat,lon,r`: the further comma-separated values


@dataclass(frozen=True)
class In:
    key: str
    values: tuple[Value, ...]
    all: bool
    pos: int


@dataclass(frozen=True)
class Range:
    key: str
    low: Value
    high: Value
    pos: int


@dataclass(frozen=True)
class Count:
    key: str
    op: str
    value: Value
    pos: int


@dataclass(frozen=True)
class Exists:
    key: str
    pos: int


@dataclass(frozen=True)
class Text:
    value: Value
    pos: int


@dataclass(frozen=True)
class Not:
    expr: Node
    pos: int


@dataclass(frozen=True)
class And:
    items: tuple[Node, ...]
    pos: int


@dataclass(frozen=True)
class Or:
    items: tuple[Node, ...]
    pos: int


@dataclass(frozen=True)
class Order:
    key: str
    count: bool
    direction: str | None
    pos: int


@dataclass(frozen=True)
class Query:
    expr: Node | None
    order: Order | None


Node = Cmp | In | Range | Count | Exists | Text | Not | And | Or
