"""Query text -> AST (`ast.Query`): HomeGallery's grammar, with lark (LALR, contextual lexer).

Precedence, strongest first: `not`, `and`, `or`, juxtaposition (implicit AND between
terms). `key:(a or b)` scopes the bare words of a group to a key (`key:a or key:b`).
Keywords (`and or not in all count exists order by asc desc`) are case-insensitive.
A pure function: no database, no I/O; errors are QueryError with a position.
"""

from __future__ import annotations

import re
from functools import cache

from lark import Lark, Token, Transformer, v_args
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, VisitError

from hg_build.query import ast
from hg_build.query.errors import QueryError

_STOP = r"""\s:=<>!~()\[\],"'"""  # characters that end a bare word
_KW = rf"(?![^{_STOP}])"  # a keyword is a whole word

GRAMMAR = rf"""
start: terms? order?

terms: or_expr+
?or_expr: or_expr OR and_expr -> or_
        | and_expr
?and_expr: and_expr AND not_expr -> and_
         | not_expr
?not_expr: NOT not_expr -> not_
         | atom
?atom: key ":" value ("," value)*        -> colon
     | key ":" LPAR terms ")"             -> scoped
     | key CMP value                      -> cmp
     | key IN "(" value_list ")"          -> in_list
     | key ALL IN "(" value_list ")"      -> all_in
     | key IN "[" value ":" value "]"     -> range
     | COUNT "(" key ")" CMP value        -> count
     | EXISTS "(" key ")"                 -> exists
     | LPAR terms ")"                     -> group
     | value                              -> text

value_list: value (","? value)*
key: IDENT
value: IDENT | WORD | STRING
order: ORDER key DIR?                     -> order_key
     | ORDER COUNT "(" key ")" DIR?      -> order_count

LPAR: "("
OR.3: /or{_KW}/i
AND.3: /and{_KW}/i
NOT.3: /not{_KW}/i
IN.3: /in{_KW}/i
ALL.3: /all{_KW}/i
COUNT.3: /count(?=\s*\()/i
EXISTS.3: /exists(?=\s*\()/i
ORDER.3: /order\s+by{_KW}/i
DIR.3: /(asc|desc){_KW}/i
CMP: /<=|>=|!=|=|<|>|~/
IDENT.2: /[A-Za-z\u00c0-\u017f.]+{_KW}/
WORD: /[^{_STOP}]+/
STRING: /"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'/

%ignore /\s+/
"""

_ESCAPES = {"n": "\n", "r": "\r", "t": "\t"}


def _unquote(text: str) -> str:
    return re.sub(r"\\(.)", lambda m: _ESCAPES.get(m.group(1), m.group(1)), text[1:-1])


@v_args(inline=True)
class _ToAst(Transformer):
    def start(self, *parts):
        expr = next((p for p in parts if not isinstance(p, ast.Order)), None)
        order = next((p for p in parts if isinstance(p, ast.Order)), None)
        return ast.Query(expr, order)

    def terms(self, *items):
        return items[0] if len(items) == 1 else ast.And(tuple(items), _pos(items[0]))

    def or_(self, left, _op, right):
        return ast.Or(_flat(ast.Or, left, right), _pos(left))

    def and_(self, left, _op, right):
        return ast.And(_flat(ast.And, left, right), _pos(left))

    def not_(self, tok, expr):
        return ast.Not(expr, tok.start_pos)

    def key(self, tok: Token) -> Token:
        return tok

    def value(self, tok: Token) -> ast.Value:
        if tok.type == "STRING":
            return ast.Value(_unquote(str(tok)), tok.start_pos, quoted=True)
        return ast.Value(str(tok), tok.start_pos)

    def value_list(self, *values):
        return tuple(values)

    def colon(self, key, value, *more):
        return ast.Cmp(str(key), ":", value, key.start_pos, tuple(more))

    def cmp(self, key, op, value):
        return ast.Cmp(str(key), str(op), value, key.start_pos)

    def in_list(self, key, _in, values):
        return ast.In(str(key), values, False, key.start_pos)

    def all_in(self, key, _all, _in, values):
        return ast.In(str(key), values, True, key.start_pos)

    def range(self, key, _in, low, high):
        return ast.Range(str(key), low, high, key.start_pos)

    def count(self, tok, key, op, value):
        return ast.Count(str(key), str(op), value, tok.start_pos)

    def exists(self, tok, key):
        return ast.Exists(str(key), tok.start_pos)

    def group(self, _lpar, terms):
        return terms

    def scoped(self, key, _lpar, terms):
        """`objects:(dog or cat)`: each bare word inside is `key:word`."""
        return _scoped(terms, str(key))

    def text(self, value):
        return ast.Text(value, value.pos)

    def order_key(self, tok, key, direction=None):
        return ast.Order(str(key), False, _dir(direction), tok.start_pos)

    def order_count(self, tok, _count, key, direction=None):
        return ast.Order(str(key), True, _dir(direction), tok.start_pos)


def _dir(tok: Token | None) -> str | None:
    return str(tok).lower() if tok is not None else None


def _pos(node) -> int:
    return node.pos


def _scoped(node: ast.Node, key: str) -> ast.Node:
    if isinstance(node, ast.Text):
        return ast.Cmp(key, ":", node.value, node.pos)
    if isinstance(node, ast.Not):
        return ast.Not(_scoped(node.expr, key), node.pos)
    if isinstance(node, ast.And | ast.Or):
        return type(node)(tuple(_scoped(n, key) for n in node.items), node.pos)
    return node  # `tag:(year:2020 …)`: a term with its own key keeps it


def _flat(cls, left, right) -> tuple:
    items = left.items if isinstance(left, cls) else (left,)
    return (*items, *(right.items if isinstance(right, cls) else (right,)))


@cache
def _parser() -> Lark:
    return Lark(GRAMMAR, parser="lalr", lexer="contextual", maybe_placeholders=False)


def parse(text: str) -> ast.Query:
    """Parse a query; an empty query means everything, newest first."""
    if not text.strip():
        return ast.Query(None, None)
    try:
        tree = _parser().parse(text)
        return _ToAst().transform(tree)
    except UnexpectedEOF:
        raise QueryError("unexpected end of query", len(text), text) from None
    except UnexpectedCharacters as exc:
        pos = exc.pos_in_stream
        raise QueryError(f"unexpected {text[pos]!r}", pos, text) from None
    except UnexpectedInput as exc:
        token = getattr(exc, "token", None)
        pos = getattr(token, "start_pos", None)
        if token is None or token.type == "$END" or pos is None:
            raise QueryError("unexpected end of query", len(text), text) from None
        raise QueryError(f"unexpected {str(token)!r}", pos, text) from None
    except VisitError as exc:  # pragma: no cover - a bug in the transformer
        raise QueryError(f"cannot read the query: {exc.orig_exc}", 0, text) from None
