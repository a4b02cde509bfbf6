"""One chunk: `hg-index --defer-commit … | hg-extract | hg-build`, relayed through this
process so the loop can count what each stage has done (for progress and ETAs).

The relays only read lines and write them on, so the stages run at their own pace. When a
stage dies its reader's pipe is closed, so the stage before it ends too (EPIPE) instead of
blocking; nothing is committed then (the loop runs `hg-index commit` only after success).
"""

from __future__ import annotations

import subprocess
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import IO

import orjson

OFFERED = {b"add", b"change", b"move"}


@dataclass
class ChunkCounts:
    """What went through the pipes of one chunk."""

    added: int = 0
    offered: dict[tuple[str, str], int] = field(default_factory=dict)
    """(source, path) -> size of every file hg-index handed on; popped when extracted."""
    lock: threading.Lock = field(default_factory=threading.Lock)


@dataclass
class ChunkResult:
    names: list[str]
    statuses: list[int]
    counts: ChunkCounts


def _kind(line: bytes) -> bytes | None:
    # records start with {"type":"…" (NdjsonWriter), so this avoids parsing every line
    if line.startswith(b'{"type":"'):
        end = line.find(b'"', 9)
        return line[9:end] if end > 0 else None
    return None


def _relay(src: IO[bytes], dst: IO[bytes] | None, on_line: Callable[[bytes], None]) -> None:
    try:
        for line in src:
            on_line(line)
            if dst is not None:
                dst.write(line)
                dst.flush()  # a few hundred lines a second at most: let them flow at once
    except (BrokenPipeError, ValueError, OSError):
        pass  # the next stage died: stop reading, so the stage before us ends on EPIPE
    finally:
        src.close()
        if dst is not None:
            try:
                dst.close()
            except OSError:
                pass


def start_extract(command: list[str], to_build: bool) -> subprocess.Popen[bytes]:
    """hg-extract waiting for its input (see `run_chunk`'s `extract`)."""
    return subprocess.Popen(
        command,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE if to_build else subprocess.DEVNULL,
    )


def stop_spare(proc: subprocess.Popen[bytes] | None) -> None:
    """End an hg-extract started ahead that got no chunk: no input, so it exits quietly."""
    if proc is None:
        return
    try:
        if proc.stdin is not None:
            proc.stdin.close()
        proc.wait(timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        proc.kill()
        proc.wait()
    if proc.stdout is not None:
        proc.stdout.close()


def run_chunk(
    commands: list[list[str]],
    names: list[str],
    on_extracted: Callable[[int, int], None],
    extract: subprocess.Popen[bytes] | None = None,
) -> ChunkResult:
    """Run the stages (1 to 3 commands) as a pipe; `on_extracted(files, bytes)` is called as
    hg-extract reports the files of this chunk done (entries, errors and skips).

    `extract`: an hg-extract started ahead (`start_extract`, while the last chunk ran), so
    its start (imports, worker pool, two exiftools: ~0.7 s) is not on this chunk's path."""
    counts = ChunkCounts()

    def from_index(line: bytes) -> None:
        kind = _kind(line)
        if kind in OFFERED:
            record = orjson.loads(line)
            if kind == b"add":
                counts.added += 1
            if record.get("reason") != "sidecar":
                with counts.lock:
                    counts.offered[(record["source"], record["path"])] = record.get("size", 0)

    def from_extract(line: bytes) -> None:
        kind = _kind(line)
        if kind not in (b"entry", b"error", b"skip"):
            return
        record = orjson.loads(line)
        keys = [(f.get("source"), f.get("path")) for f in record.get("files", ())]
        keys.append((record.get("source"), record.get("path")))
        files = nbytes = 0
        with counts.lock:
            for key in keys:
                size = counts.offered.pop(key, None)  # type: ignore[arg-type]
                if size is not None:
                    files += 1
                    nbytes += size
        if files:
            on_extracted(files, nbytes)

    procs: list[subprocess.Popen[bytes]] = []
    threads: list[threading.Thread] = []
    try:
        index = subprocess.Popen(commands[0], stdout=subprocess.PIPE)
        procs.append(index)
        if len(commands) == 1:
            threads.append(threading.Thread(target=_relay, args=(index.stdout, None, from_index)))
        else:
            if extract is None:
                extract = start_extract(commands[1], len(commands) > 2)
            procs.append(extract)
            threads.append(
                threading.Thread(target=_relay, args=(index.stdout, extract.stdin, from_index))
            )
            if len(commands) > 2:
                build = subprocess.Popen(commands[2], stdin=subprocess.PIPE)
                procs.append(build)
                threads.append(
                    threading.Thread(
                        target=_relay, args=(extract.stdout, build.stdin, from_extract)
                    )
                )
        for t in threads:
            t.daemon = True
            t.start()
        statuses = [p.wait() for p in procs]
        for t in threads:
            t.join()
    finally:
        for p in procs:  # interrupted: do not leave stages behind
            if p.poll() is None:
                p.terminate()
                p.wait()
    return ChunkResult(names[: len(procs)], statuses, counts)
