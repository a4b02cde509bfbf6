"""Work units: 8 files while the input goes on, then shares that end every worker together;
records and groups keep their input order; an input error reaches the dispatcher."""

from __future__ import annotations

import time

import pytest

from hg_common.groups import Group
from hg_extract.workers import CHUNK_FILES, _Lookahead, unit_size


def group(n: int, files: int = 1) -> Group:
    return Group(
        tuple({"checksum": f"{n:064x}", "path": f"{n}-{i}.jpg"} for i in range(files)), "image"
    )


def test_unit_size_shrinks_once_the_input_has_ended():
    assert unit_size(None, 2) == CHUNK_FILES == 8
    assert [unit_size(r, 2) for r in (60, 16, 12, 5, 3, 2, 1, 0)] == [8, 8, 6, 3, 2, 1, 1, 1]
    assert unit_size(5, 1) == 5


def test_units_of_an_ended_input_keep_the_order_and_split_the_tail():
    items = [group(n) for n in range(10)]
    items.insert(3, {"type": "remove", "path": "x"})
    look = _Lookahead(iter(items))
    # let the reader reach the end first, as with hg-index's quick output
    while not look._ended:
        time.sleep(0.01)
    out = list(look.units(2))
    assert out[0] == [
        group(0),
        group(1),
        group(2),
    ]  # 10 files left, 2 workers: 5, cut by the record
    assert out[1] == {"type": "remove", "path": "x"}
    flat = [g for u in out if isinstance(u, list) for g in u]
    assert flat == [group(n) for n in range(10)]
    assert [len(u) for u in out[2:]] == [4, 2, 1]  # 7 left: 4, then 3 left: 2, then 1


def test_an_input_error_reaches_the_dispatcher():
    def broken():
        yield group(1)
        raise OSError("stdin went away")

    look = _Lookahead(broken())
    with pytest.raises(OSError, match="stdin went away"):
        list(look.units(2))
