import pytest

from hg_build.query import QueryError, ast, compile_query, parse


def dump(node) -> str:
    """A compact s-expression of the AST, for golden comparisons."""
    if isinstance(node, ast.Query):
        parts = [dump(node.expr)] if node.expr else []
        if node.order:
            o = node.order
            key = f"count({o.key})" if o.count else o.key
            parts.append(f"(order {key} {o.direction or '-'})")
        return " ".join(parts)
    if isinstance(node, ast.And | ast.Or):
        name = "and" if isinstance(node, ast.And) else "or"
        return f"({name} " + " ".join(dump(i) for i in node.items) + ")"
    if isinstance(node, ast.Not):
        return f"(not {dump(node.expr)})"
    if isinstance(node, ast.Text):
        return f"(text {node.value.text!r})"
    if isinstance(node, ast.Cmp):
        more = "".join(f",{v.text}" for v in node.values)
        return f"({node.op} {node.key} {node.value.text!r}{more})"
    if isinstance(node, ast.In):
        kind = "all-in" if node.all else "in"
        return f"({kind} {node.key} " + " ".join(repr(v.text) for v in node.values) + ")"
    if isinstance(node, ast.Range):
        return f"(range {node.key} {node.low.text!r} {node.high.text!r})"
    if isinstance(node, ast.Count):
        return f"(count {node.key} {node.op} {node.value.text!r})"
    if isinstance(node, ast.Exists):
        return f"(exists {node.key})"
    raise AssertionError(node)


GOLDEN = [
    # HomeGallery's examples (packages/query tests and README)
    ("not(bar or snow)", "(not (or (text 'bar') (text 'snow')))"),
    ("123456 or tag:snow or year=2019", "(or (text '123456') (: tag 'snow') (= year '2019'))"),
    (
        "width > 2000 and height > 1000 and country:Italy",
        "(and (> width '2000') (> height '1000') (: country 'Italy'))",
    ),
    ("tag ~ alp", "(~ tag 'alp')"),
    ("object~ouch", "(~ object 'ouch')"),
    ("lon in [10:20]", "(range lon '10' '20')"),
    ("filesize in [1k:2kb]", "(range filesize '1k' '2kb')"),
    ("duration > '1:30'", "(> duration '1:30')"),
    ("count(faces) = 2", "(count faces = '2')"),
    ("tags all in (vacation, Sea)", "(all-in tags 'vacation' 'Sea')"),
    ("year >= 2021 order by updated", "(>= year '2021') (order updated -)"),
    ("order by count(tags)", "(order count(tags) -)"),
    ("road:plöck", "(: road 'plöck')"),
    (
        "tag in (sea sun) year:2022 count(faces) > 2 not private",
        "(and (in tag 'sea' 'sun') (: year '2022') (count faces > '2') (not (text 'private')))",
    ),
    # precedence: not > and > or > juxtaposition
    ("a b or c and d", "(and (text 'a') (or (text 'b') (and (text 'c') (text 'd'))))"),
    ("not a and b", "(and (not (text 'a')) (text 'b'))"),
    ("\"New York\" city:'San José'", "(and (text 'New York') (: city 'San José'))"),
    (
        "year:2020 and tag:beach order by date asc",
        "(and (: year '2020') (: tag 'beach')) (order date asc)",
    ),  # fmt: skip
    ("exists(geo) near:48.1,11.5,10km", "(and (exists geo) (: near '48.1',11.5,10km))"),
    ("notable NOT x", "(and (text 'notable') (not (text 'x')))"),
]


@pytest.mark.parametrize(("text", "expected"), GOLDEN)
def test_golden(text, expected):
    assert dump(parse(text)) == expected


@pytest.mark.parametrize(("text", "expected"), GOLDEN)
def test_golden_queries_compile(text, expected):
    compiled = compile_query(text)
    assert compiled.where and compiled.order


@pytest.mark.parametrize(
    ("text", "pos", "reason"),
    [
        ("foo:bar", 0, "unknown key 'foo'"),
        ("year:2020 colour ~ red", 10, "unknown key 'colour'"),
        ("year >", 6, "unexpected end of query"),
        ("(beach", 6, "unexpected end of query"),
        ("beach)", 5, "unexpected ')'"),
        ("year > abc", 7, "expected a number, got 'abc'"),
        ("id:1234", 3, "an id needs at least 5 characters"),
        ("filesize > huge", 11, "expected a file size"),
        ("order by colour", 0, "cannot order by 'colour'"),
    ],
)
def test_errors_name_the_position(text, pos, reason):
    with pytest.raises(QueryError) as info:
        compile_query(text)
    assert info.value.pos == pos
    assert info.value.reason.startswith(reason)
    assert f"position {pos + 1}" in str(info.value)


def test_values_are_parameters_never_sql():
    evil = "x' OR 1=1 --"
    compiled = compile_query(f'make:"{evil}" "{evil}"')
    assert evil not in compiled.where
    assert "x' or 1=1 --" in compiled.params  # casefolded, as a parameter


def test_empty_query_is_everything_newest_first():
    compiled = compile_query("")
    assert compiled.where == "1"
    assert compiled.order.startswith("e.ts DESC")


def test_only_a_date_order_is_dated():
    """The web app shows month headers only for results in date order."""
    dated = {q: compile_query(q).dated for q in (
        "", "tag:x", "year:2020 order by date asc", "similar:abcdef", "similar:abcdef or tag:x",
        "tag:x order by random", "order by count(tags)", "similar:abcdef order by date",
    )}  # fmt: skip
    assert dated == {
        "": True, "tag:x": True, "year:2020 order by date asc": True,
        "similar:abcdef": False, "similar:abcdef or tag:x": False,
        "tag:x order by random": False, "order by count(tags)": False,
        "similar:abcdef order by date": True,
    }  # fmt: skip
