"""One chunk: `hg-index --defer-commit … | hg-extract | hg-build`, relayed through this
process so the loop can count what each stage has done (for progress and ETAs) and check
that every file offered to hg-extract was answered before the chunk is committed.
hg-import runs `run_chunk` for `--index-only` (hg-index alone); otherwise `service` keeps
one hg-extract | hg-build for all chunks, with this module's counting, relays and Watch.

The relays only read lines and write them on, so the stages run at their own pace. When a
stage dies its reader's pipe is closed, so the stage before it ends too (EPIPE, exit 141)
instead of blocking. A relay's own failure (the status file on a full disk) or a full disk
said by a stage (on stderr or in an error record) stops the chunk at once: the stages are
terminated and the loop commits nothing.

Stages' stderr is relayed too (to see "No space left on device"); each stage gets
PARENT_ENV, so it dies with this process even when this process is killed with -9.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import IO, Any

import orjson

from hg_common.cli_support import PARENT_ENV
from hg_common.diskfull import is_disk_full, says_disk_full
from hg_common.filetypes import META, file_type

OFFERED = {b"add", b"change", b"move", b"file"}
"""Records that hand hg-extract a file to answer (an entry, error or skip record naming it)."""
ANSWERS = {b"entry", b"error", b"skip"}

Key = tuple[str, str]
"""(source, path) of a file."""


@dataclass
class ChunkCounts:
    """What went through the pipes of one chunk."""

    added: int = 0
    offered: dict[Key, int] = field(default_factory=dict)
    """(source, path) -> size of every file handed to hg-extract; popped when answered."""
    offered_total: int = 0
    failed: set[Key] = field(default_factory=set)
    """Files with an error record in this chunk (hg-index's or hg-extract's)."""
    build_errors: int = 0
    """Error records hg-build printed (news) in this chunk: a stage kept across chunks has
    no exit status per chunk to say that some inputs failed."""
    lock: threading.Lock = field(default_factory=threading.Lock)

    def index_line(self, line: bytes) -> None:
        """A record of hg-index on its way to hg-extract: what it offers, what failed."""
        kind = _kind(line)
        if kind in OFFERED:
            record = orjson.loads(line)
            if kind == b"add":
                self.added += 1
            if record.get("reason") != "sidecar":
                with self.lock:
                    self.offered[(record["source"], record["path"])] = record.get("size", 0)
                    self.offered_total += 1
        elif kind == b"error":
            record = orjson.loads(line)
            self.failed.add((record.get("source"), record.get("path")))

    def extract_line(
        self, line: bytes, watch: Watch, on_extracted: Callable[[int, int], None]
    ) -> None:
        """A record of hg-extract on its way to hg-build: the offered files it answers
        (`on_extracted(files, bytes)`); an error of a full disk stops the chunk."""
        kind = _kind(line)
        if kind not in ANSWERS:
            return
        record = orjson.loads(line)
        if kind == b"error":
            self.failed.add((record.get("source"), record.get("path")))
            if says_disk_full(orjson.dumps([record.get("error"), record.get("details")]).decode()):
                # not the file's fault: the chunk must be redone when there is room
                watch.fail(f"hg-extract: {record.get('path')}: {record.get('error')}", True)
        files, nbytes = self._answered(_answered_keys(kind, record))
        if files:
            on_extracted(files, nbytes)

    def _answered(self, keys: list[Key]) -> tuple[int, int]:
        """Files and bytes of `keys` that were offered and not answered before."""
        files = nbytes = 0
        with self.lock:
            for key in keys:
                size = self.offered.pop(key, None)
                if size is not None:
                    files += 1
                    nbytes += size
        return files, nbytes


def _answered_keys(kind: bytes, record: dict[str, Any]) -> list[Key]:
    """The files an answer of hg-extract names: an entry's files, the record's own path, and
    for an error the files of the failed group named in its details."""
    keys = [(f.get("source"), f.get("path")) for f in record.get("files", ())]
    keys.append((record.get("source"), record.get("path")))
    if kind == b"error":
        keys += [(record.get("source"), d.get("path")) for d in record.get("details") or ()]
    return keys


@dataclass
class ChunkResult:
    names: list[str]
    statuses: list[int]
    counts: ChunkCounts

    def unanswered(self) -> list[Key]:
        """Offered files hg-extract gave no answer for. An XMP whose photo was not in the
        input has none by design (it is answered with its photo's entry when that comes)."""
        return sorted(k for k in self.counts.offered if file_type(k[1]) != META)


class Watch:
    """What the relays noticed that must stop the import: a full disk (said on a stage's
    stderr, in an error record, or met by this process) or a relay's own failure. Shared
    by the chunks of one import (its hg-extract and hg-build serve them all: `service`).

    Also passes the stages' stderr on, printing hg-index's warnings about files it cannot
    read once per import: every chunk walks the whole source and reports them again."""

    def __init__(self, out: IO[bytes] | None = None) -> None:
        self.out = out or sys.stderr.buffer
        self.stop = threading.Event()
        self.problem: str | None = None
        self.disk_full = False
        self._shown: set[bytes] = set()
        self._lock = threading.Lock()

    def fail(self, problem: str, disk_full: bool = False) -> None:
        with self._lock:
            if self.problem is None:  # the first cause is the one to name
                self.problem = problem
                self.disk_full = disk_full
        self.stop.set()

    def failed_by(self, what: str, exc: BaseException) -> None:
        said = str(exc)
        if isinstance(exc, OSError) and exc.strerror:
            said = f"{exc.strerror}: {exc.filename}" if exc.filename else exc.strerror
        self.fail(f"hg-import: {said} (while relaying {what})", is_disk_full(exc))

    def stderr_line(self, name: str, line: bytes) -> None:
        text = line.decode(errors="replace").strip()
        if says_disk_full(text):
            self.fail(text if text.startswith(f"{name}: ") else f"{name}: {text}", True)
        if name == "hg-index" and b": WARNING: " in line:
            with self._lock:
                if line in self._shown:
                    return
                self._shown.add(line)
        try:
            self.out.write(line)
            self.out.flush()
        except (OSError, ValueError):
            pass  # our own stderr is gone: the stages' words have nowhere to go


def _kind(line: bytes) -> bytes | None:
    # records start with {"type":"…" (NdjsonWriter), so this avoids parsing every line
    if line.startswith(b'{"type":"'):
        end = line.find(b'"', 9)
        return line[9:end] if end > 0 else None
    return None


def _relay(
    src: IO[bytes],
    dst: IO[bytes] | None,
    on_line: Callable[[bytes], None],
    watch: Watch,
    what: str,
) -> None:
    try:
        for line in src:
            try:
                on_line(line)
            except Exception as exc:  # our bookkeeping, not the stage: stop the chunk
                watch.failed_by(what, exc)
                return
            if dst is not None:
                dst.write(line)
                dst.flush()  # a few hundred lines a second at most: let them flow at once
    except (OSError, ValueError):
        pass  # the next stage died: stop reading, so the stage before us ends on EPIPE
    finally:
        src.close()
        if dst is not None:
            try:
                dst.close()
            except OSError:
                pass


def _stderr_relay(src: IO[bytes], name: str, watch: Watch) -> None:
    try:
        for line in src:
            watch.stderr_line(name, line)
    except (OSError, ValueError):
        pass
    finally:
        src.close()


@dataclass
class Stage:
    """A stage process and the thread that relays its stderr."""

    name: str
    proc: subprocess.Popen[bytes]
    stderr: threading.Thread


def start_stage(
    name: str, command: list[str], watch: Watch, stdin: Any = None, stdout: Any = None
) -> Stage:
    env = {**os.environ, PARENT_ENV: str(os.getpid())}
    proc = subprocess.Popen(command, stdin=stdin, stdout=stdout, stderr=subprocess.PIPE, env=env)
    thread = threading.Thread(
        target=_stderr_relay, args=(proc.stderr, name, watch), daemon=True, name=f"{name} stderr"
    )
    thread.start()
    return Stage(name, proc, thread)


def start_extract(command: list[str], to_build: bool, watch: Watch) -> Stage:
    """hg-extract waiting for its input (see `run_chunk`'s `extract`)."""
    return start_stage(
        "hg-extract",
        command,
        watch,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE if to_build else subprocess.DEVNULL,
    )


def _wait(stages: list[Stage], watch: Watch) -> list[int]:
    """Wait for every stage; when the watch says stop, terminate those still running."""
    stopped = False
    while True:
        if watch.stop.is_set() and not stopped:
            stopped = True
            for s in stages:
                if s.proc.poll() is None:
                    s.proc.terminate()
        running = [s for s in stages if s.proc.poll() is None]
        if not running:
            return [s.proc.returncode for s in stages]
        try:
            running[0].proc.wait(timeout=0.05)
        except subprocess.TimeoutExpired:
            pass


def run_chunk(
    commands: list[list[str]],
    on_extracted: Callable[[int, int], None],
    watch: Watch,
    extract: Stage | None = None,
    feed: Iterable[bytes] | None = None,
) -> ChunkResult:
    """Run the stages (hg-index, hg-extract, hg-build; the first one or all three) as a
    pipe; `on_extracted(files, bytes)` is called as hg-extract answers the files of this
    chunk (entries, errors and skips).

    `extract`: an hg-extract already started (`start_extract`) to use.
    `feed`: record lines to hand hg-extract instead of hg-index's (then `commands` are
    hg-extract and hg-build only)."""
    counts = ChunkCounts()
    stages: list[Stage] = []
    try:
        relays = _start_pipe(commands, watch, extract, feed, counts, on_extracted, stages)
        for t in relays:
            t.start()
        statuses = _wait(stages, watch)
        for t in relays:
            t.join()
        for s in stages:  # a stage's last words (a helper it left may hold the pipe: not long)
            s.stderr.join(timeout=5)
    finally:
        for s in stages:  # interrupted: do not leave stages behind
            if s.proc.poll() is None:
                s.proc.terminate()
                s.proc.wait()
    return ChunkResult([s.name for s in stages], statuses, counts)


def _start_pipe(
    commands: list[list[str]],
    watch: Watch,
    extract: Stage | None,
    feed: Iterable[bytes] | None,
    counts: ChunkCounts,
    on_extracted: Callable[[int, int], None],
    stages: list[Stage],
) -> list[threading.Thread]:
    """Start the chunk's stages (each appended to `stages` at once, so the caller can end
    them however this ends) and return the relay threads that join them, not started."""
    threads: list[threading.Thread] = []

    def relay(src: IO[bytes], dst: IO[bytes] | None, on_line: Callable, what: str) -> None:
        threads.append(
            threading.Thread(target=_relay, args=(src, dst, on_line, watch, what), daemon=True)
        )

    def from_extract(line: bytes) -> None:
        counts.extract_line(line, watch, on_extracted)

    if feed is None:
        index = start_stage("hg-index", commands[0], watch, stdout=subprocess.PIPE)
        stages.append(index)
        first: IO[bytes] = index.proc.stdout  # type: ignore[assignment]
        rest = commands[1:]
    else:
        first = io.BytesIO(b"".join(feed))  # a few lines per failed file: small
        rest = commands
    if not rest:
        relay(first, None, counts.index_line, "hg-index's records")
        return threads
    if extract is None:
        extract = start_extract(rest[0], len(rest) > 1, watch)
    stages.append(extract)
    relay(first, extract.proc.stdin, counts.index_line, "records to hg-extract")
    if len(rest) > 1:
        build = start_stage("hg-build", rest[1], watch, stdin=subprocess.PIPE)
        stages.append(build)
        relay(extract.proc.stdout, build.proc.stdin, from_extract, "hg-extract's records")
    return threads
