"""hg-build's input: numbered lines in blocks of what each read brought, and chunks cut by
size or by time."""

from __future__ import annotations

import io
import os
import threading
import time

from hg_build.build import flush_of, is_flush, timed_chunks
from hg_build.parallel import line_blocks, numbered_lines


class Pieces(io.RawIOBase):
    """A stream that returns the given pieces, one per read (as a pipe would)."""

    def __init__(self, pieces: list[bytes]) -> None:
        self.pieces = list(pieces)

    def readable(self) -> bool:
        return True

    def readinto(self, buf) -> int:
        if not self.pieces:
            return 0
        piece = self.pieces.pop(0)
        if len(piece) > len(buf):  # the rest is the next read
            piece, rest = piece[: len(buf)], piece[len(buf) :]
            self.pieces.insert(0, rest)
        buf[: len(piece)] = piece
        return len(piece)


def blocks(pieces: list[bytes], size: int = 1 << 16) -> list[list[tuple[int, bytes]]]:
    return list(line_blocks(io.BufferedReader(Pieces(pieces), 1 << 20), size))


def test_lines_are_numbered_as_in_the_input_whatever_the_reads():
    text = b'{"a":1}\n\n{"b":2}\r\n   \n{"c":3}\n{"d":4}'
    expected = list(numbered_lines(io.BytesIO(text)))
    assert [n for n, _ in expected] == [1, 3, 5, 6]
    for cut in range(1, len(text)):
        got = blocks([text[:cut], text[cut:]])
        assert [n for block in got for n, _ in block] == [1, 3, 5, 6]
        assert [line.strip() for block in got for _, line in block] == [
            line.strip() for _, line in expected
        ]


def test_a_read_gives_a_block_and_a_long_line_waits_for_its_end():
    got = blocks([b"1\n2\n3", b"4" * 10, b"5\n6\n"], size=8)
    assert got[0] == [(1, b"1"), (2, b"2")]
    assert [line for block in got[1:] for _, line in block] == [b"3" + b"4" * 10 + b"5", b"6"]


def test_chunks_are_cut_at_the_size_across_blocks():
    items = [[1, 2, 3], [4], [5, 6, 7, 8, 9, 10, 11]]
    assert list(timed_chunks(items, 4, 60.0)) == [[1, 2, 3, 4], [5, 6, 7, 8], [9, 10, 11]]


def test_a_chunk_closes_after_max_delay_while_the_input_stays_open():
    read_fd, write_fd = os.pipe()
    reader = os.fdopen(read_fd, "rb")
    os.write(write_fd, b'{"n":1}\n{"n":2}\n')
    seen: list[tuple[float, list]] = []
    start = time.monotonic()

    def consume() -> None:
        for chunk in timed_chunks(line_blocks(reader), 500, 0.3):
            seen.append((time.monotonic() - start, chunk))

    thread = threading.Thread(target=consume)
    thread.start()
    time.sleep(1.0)
    assert len(seen) == 1 and [n for n, _ in seen[0][1]] == [1, 2]
    assert 0.25 < seen[0][0] < 0.9  # cut by time, not by the end of the input
    os.write(write_fd, b'{"n":3}')
    os.close(write_fd)
    thread.join(5)
    assert [n for _, chunk in seen for n, _ in chunk] == [1, 2, 3]


def test_an_input_error_ends_the_chunks_after_what_was_read():
    def failing():
        yield [1, 2]
        raise OSError("read error")

    got = []
    try:
        for chunk in timed_chunks(failing(), 10, 60.0):
            got.append(chunk)
    except OSError as exc:
        assert "read error" in str(exc)
    else:
        raise AssertionError("no error")
    assert got == [[1, 2]]


def test_a_barrier_cuts_the_chunk_at_once_and_is_a_chunk_of_its_own():
    def barrier(item):
        return item == "|"

    items = [[1, 2, "|", 3], [4, 5, 6, "|"], ["|"], [7]]
    assert list(timed_chunks(items, 2, 60.0, barrier)) == [
        [1, 2], ["|"], [3, 4], [5, 6], ["|"], ["|"], [7]
    ]  # fmt: skip


def test_a_flush_line_is_known_by_its_type_only():
    assert is_flush((1, b'{"type":"flush","v":1,"chunk":3}'))
    assert is_flush({"type": "flush", "v": 1})
    assert not is_flush((1, b'{"type":"entry","v":1,"id":"flush"}'))
    assert not is_flush((1, b'{"type":"flush" broken'))
    assert flush_of([(7, b'{"type":"flush","v":1,"chunk":3}')]) == {
        "type": "flush", "v": 1, "chunk": 3
    }  # fmt: skip
    assert flush_of([(7, b'{"type":"flush","v":1}'), (8, b"{}")]) is None
