"""Newline-delimited JSON on pipes: one record per line, lazy, orjson-fast.

Records are plain dicts. Reading is lazy so a stage can start working on the first record
while the previous stage is still producing; writing flushes per line when the reader is
interactive so pipelines show progress immediately.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import IO, Any

import orjson


class NdjsonError(ValueError):
    """A line on the input is not a JSON object."""


def parse_line(line: bytes | str, lineno: int = 0) -> dict[str, Any]:
    try:
        value = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        raise NdjsonError(f"line {lineno}: invalid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise NdjsonError(f"line {lineno}: expected a JSON object, got {type(value).__name__}")
    return value


def read_ndjson(stream: IO[bytes] | Iterable[bytes | str]) -> Iterator[dict[str, Any]]:
    """Yield one dict per non-blank line."""
    for lineno, line in enumerate(stream, 1):
        if not line.strip():
            continue
        yield parse_line(line, lineno)


def dumps(record: dict[str, Any]) -> bytes:
    """One record as one line (with the newline)."""
    return orjson.dumps(record, option=orjson.OPT_APPEND_NEWLINE | orjson.OPT_NON_STR_KEYS)


class NdjsonWriter:
    """Writes records to a binary stream; flushes each line when `line_buffered`."""

    def __init__(self, stream: IO[bytes], line_buffered: bool = False) -> None:
        self._stream = stream
        self._line_buffered = line_buffered
        self.count = 0

    def write(self, record: dict[str, Any]) -> None:
        self._stream.write(dumps(record))
        self.count += 1
        if self._line_buffered:
            self._stream.flush()

    def write_all(self, records: Iterable[dict[str, Any]]) -> None:
        for record in records:
            self.write(record)

    def flush(self) -> None:
        self._stream.flush()
