import io

import pytest

from hg_common.ndjson import NdjsonError, NdjsonWriter, dumps, read_ndjson


def test_roundtrip_unicode_and_unknown_fields():
    records = [
        {"type": "add", "v": 1, "path": "Straße/ümlaut.jpg", "extra": {"x": [1, 2]}},
        {"type": "remove", "v": 1},
    ]
    buf = io.BytesIO()
    w = NdjsonWriter(buf)
    w.write_all(records)
    assert w.count == 2
    lines = buf.getvalue().splitlines()
    assert len(lines) == 2 and "Straße".encode() in lines[0]
    assert list(read_ndjson(io.BytesIO(buf.getvalue() + b"\n\n"))) == records


def test_lazy_reading_stops_at_bad_line_with_its_number():
    stream = iter([b'{"type":"a"}\n', b"not json\n"])
    it = read_ndjson(stream)
    assert next(it) == {"type": "a"}
    with pytest.raises(NdjsonError, match="line 2"):
        next(it)
    with pytest.raises(NdjsonError, match="expected a JSON object"):
        list(read_ndjson([b"[1,2]\n"]))


def test_dumps_is_one_line():
    assert dumps({"a": "x\ny"}) == b'{"a":"x\\ny"}\n'
