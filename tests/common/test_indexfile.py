import pytest

from hg_common.indexfile import IndexFormatError, IndexWriter, read_count, read_entries


def test_roundtrip_and_atomic(tmp_path):
    path = tmp_path / "idx" / "s.ndjson"
    assert read_count(path) == 0 and list(read_entries(path)) == []
    w = IndexWriter(path, "s", "/root")
    w.write({"path": "a", "size": 1, "mtime_ns": 1, "inode": 1, "checksum": "c"})
    assert not path.exists()  # nothing visible before commit
    w.commit()
    assert read_count(path) == 1
    assert [e["path"] for e in read_entries(path)] == ["a"]
    w2 = IndexWriter(path, "s", "/root")
    w2.discard()
    assert read_count(path) == 1
    assert [p.name for p in path.parent.iterdir()] == ["s.ndjson"]


def test_truncated_and_unknown_version(tmp_path):
    path = tmp_path / "s.ndjson"
    w = IndexWriter(path, "s", "/r")
    w.write({"path": "a", "size": 1, "mtime_ns": 1, "inode": 1, "checksum": "c"})
    w.commit()
    data = path.read_bytes()
    path.write_bytes(data[: data.rindex(b'{"type"')])
    with pytest.raises(IndexFormatError, match="truncated"):
        list(read_entries(path))
    path.write_text('{"type":"hg/file-index","version":99}\n')
    with pytest.raises(IndexFormatError, match="version 99"):
        read_count(path)
    path.write_text("garbage\n")
    with pytest.raises(IndexFormatError, match="not an hg file index"):
        read_count(path)
