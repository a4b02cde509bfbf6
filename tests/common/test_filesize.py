import pytest

from hg_common.errors import ConfigError
from hg_common.filesize import format_filesize, parse_filesize


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("1024", 1024),
        ("5m", 5 * 2**20),
        ("0.2GB", int(0.2 * 2**30)),
        ("4M", 4 * 2**20),
        ("20 MB", 20 * 2**20),
        ("1k", 1024),
        ("12b", 12),
        ("1T", 2**40),
    ],
)
def test_parse(text, size):
    assert parse_filesize(text) == size


@pytest.mark.parametrize("text", ["", "abc", "5x", "-1", "1.2.3", "m5"])
def test_invalid_names_valid_examples(text):
    with pytest.raises(ConfigError, match="1024, 5m, 0.2GB"):
        parse_filesize(text)


def test_format():
    assert format_filesize(512) == "512 B"
    assert format_filesize(1536) == "1.5 KiB"
