"""What hg-import reads from its stages' pipes: the counting of a chunk's records (for
progress and ETAs, and to check that every file offered to hg-extract was answered before
the chunk is committed), the `Watch` that stops an import, and starting a stage. `service`
keeps one hg-extract | hg-build for all chunks and relays through these; `run_index` runs
hg-index alone for `--index-only`.

A relay's own failure (the status file on a full disk) or a full disk said by a stage (on
stderr or in an error record) stops the chunk at once: the stages are terminated and the
loop commits nothing.

Stages' stderr is relayed too (to see "No space left on device"); each stage gets
PARENT_ENV, so it dies with this process even when this process is killed with -9.
"""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import IO, Any

import orjson

from hg_common.cli_support import child_env
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


def _read_records(
    src: IO[bytes], on_line: Callable[[bytes], None], watch: Watch, what: str
) -> None:
    """Reads a stage's records to the end, each to `on_line`."""
    try:
        for line in src:
            try:
                on_line(line)
            except Exception as exc:  # our bookkeeping, not the stage: stop the chunk
                watch.failed_by(what, exc)
                return
    except (OSError, ValueError):
        pass
    finally:
        src.close()


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
    proc = subprocess.Popen(
        command, stdin=stdin, stdout=stdout, stderr=subprocess.PIPE, env=child_env()
    )
    thread = threading.Thread(
        target=_stderr_relay, args=(proc.stderr, name, watch), daemon=True, name=f"{name} stderr"
    )
    thread.start()
    return Stage(name, proc, thread)


def _wait(stage: Stage, watch: Watch) -> int:
    """Wait for the stage; when the watch says stop, terminate it."""
    stopped = False
    while True:
        if watch.stop.is_set() and not stopped:
            stopped = True
            if stage.proc.poll() is None:
                stage.proc.terminate()
        try:
            return stage.proc.wait(timeout=0.05)
        except subprocess.TimeoutExpired:
            pass


def run_index(command: list[str], watch: Watch) -> ChunkResult:
    """hg-index alone (`hg-import --index-only`): its records are counted (what it adds
    and offers) and go nowhere else."""
    counts = ChunkCounts()
    index = start_stage("hg-index", command, watch, stdout=subprocess.PIPE)
    try:
        reader = threading.Thread(
            target=_read_records,
            args=(index.proc.stdout, counts.index_line, watch, "hg-index's records"),
            daemon=True,
        )
        reader.start()
        statuses = [_wait(index, watch)]
        reader.join()
        index.stderr.join(timeout=5)  # its last words (a helper it left may hold the pipe)
    finally:
        if index.proc.poll() is None:  # interrupted: do not leave it behind
            index.proc.terminate()
            index.proc.wait()
    return ChunkResult([index.name], statuses, counts)
