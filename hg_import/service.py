"""One `hg-extract | hg-build` for a whole import, fed chunk after chunk.

Starting hg-extract (its imports, worker pool, two exiftools, the geocoder) and hg-build
(its imports, worker pool, the database) for every chunk cost ~1-3 s a chunk, 1.25-1.4x a
single pass on small archives (docs/benchmarks.md). So both are started once and kept: each
chunk's records (hg-index's, relayed and counted as in `pipeline`) are followed by a `flush`
record (`hg_common.records`), which hg-extract passes on once it has answered everything
before it and hg-build prints once that is committed. The chunk is done when hg-build's
flush comes back; only then does the loop commit the chunk's index.

The tools stay what they are on their own: the flush is one more record type that each
passes on in its place. What goes wrong stops the chunk as in `pipeline`: a stage that
ends before the flush came back, a full disk said by anyone (the Watch), a relay's failure;
then every stage is terminated and the loop commits nothing.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import IO

import orjson

from hg_common import ndjson
from hg_common.records import flush_record
from hg_import.pipeline import ChunkCounts, ChunkResult, Stage, Watch, _kind, start_stage

NAMES = ["hg-index", "hg-extract", "hg-build"]
ENDED_EARLY = 70
"""The status given a service stage that exited before answering a chunk's flush (its own
status, when that was 0 or 1, would not say that the chunk is incomplete)."""


@dataclass
class _Chunk:
    number: int
    counts: ChunkCounts
    on_extracted: Callable[[int, int], None]
    done: threading.Event = field(default_factory=threading.Event)


class Service:
    """hg-extract | hg-build, started at the first chunk, closed by `close`."""

    def __init__(self, extract: list[str], build: list[str], watch: Watch) -> None:
        self.watch = watch
        self.extract = start_stage(
            "hg-extract", extract, watch, stdin=subprocess.PIPE, stdout=subprocess.PIPE
        )
        self.build = start_stage(
            "hg-build", build, watch, stdin=subprocess.PIPE, stdout=subprocess.PIPE
        )
        self.chunk: _Chunk | None = None
        self.chunks = 0
        self._lock = threading.Lock()  # hg-extract's stdin: the chunk's relay, the flush
        self._threads = [
            threading.Thread(target=self._from_extract, daemon=True, name="extract→build"),
            threading.Thread(target=self._from_build, daemon=True, name="hg-build's output"),
        ]
        for t in self._threads:
            t.start()

    # -- the long-lived relays --------------------------------------------------------------

    def _from_extract(self) -> None:
        """hg-extract's records to hg-build, counted for the chunk they answer."""
        src: IO[bytes] = self.extract.proc.stdout  # type: ignore[assignment]
        dst: IO[bytes] = self.build.proc.stdin  # type: ignore[assignment]
        try:
            for line in src:
                chunk = self.chunk
                if chunk is not None and _kind(line) != b"flush":
                    try:
                        chunk.counts.extract_line(line, self.watch, chunk.on_extracted)
                    except Exception as exc:  # our bookkeeping: stop the chunk
                        self.watch.failed_by("hg-extract's records", exc)
                        return
                dst.write(line)
                dst.flush()
        except (OSError, ValueError):
            pass  # hg-build died: hg-extract then ends on EPIPE
        finally:
            src.close()
            with contextlib.suppress(OSError):
                dst.close()

    def _from_build(self) -> None:
        """hg-build's output: the flush that ends a chunk; its error records (the failures
        that are news) go on to our stdout, as a chunk's hg-build printed them before."""
        src: IO[bytes] = self.build.proc.stdout  # type: ignore[assignment]
        try:
            for line in src:
                chunk = self.chunk
                kind = _kind(line)
                if kind == b"flush":
                    number = orjson.loads(line).get("chunk")
                    if chunk is not None and number == chunk.number:
                        chunk.done.set()
                    continue
                if kind == b"error" and chunk is not None:
                    chunk.counts.build_errors += 1
                with contextlib.suppress(OSError, ValueError):
                    sys.stdout.buffer.write(line)
                    sys.stdout.buffer.flush()
        except (OSError, ValueError):
            pass
        finally:
            src.close()
            chunk = self.chunk
            if chunk is not None:
                chunk.done.set()  # nothing more will come: the waiter looks at the statuses

    # -- one chunk --------------------------------------------------------------------------

    def run(
        self,
        on_extracted: Callable[[int, int], None],
        index: list[str] | None = None,
        feed: Iterable[bytes] | None = None,
    ) -> ChunkResult:
        """One chunk: hg-index's records (`index`, its command) or `feed` (record lines),
        then the flush; returns when hg-build answered it or something stopped the chunk."""
        self.chunks += 1
        chunk = _Chunk(self.chunks, ChunkCounts(), on_extracted)
        self.chunk = chunk
        stage = None
        if index is not None:
            stage = start_stage("hg-index", index, self.watch, stdout=subprocess.PIPE)
            lines: Iterable[bytes] = stage.proc.stdout  # type: ignore[assignment]
        else:
            lines = feed or ()
        feeder = threading.Thread(
            target=self._feed, args=(lines, chunk), daemon=True, name="records to hg-extract"
        )
        feeder.start()
        try:
            statuses = self._wait(chunk, stage)
        finally:
            if stage is not None and stage.proc.poll() is None:  # interrupted
                stage.proc.terminate()
                stage.proc.wait()
        feeder.join(timeout=5)
        if stage is not None:
            stage.stderr.join(timeout=5)
        names = NAMES if stage is not None else NAMES[1:]
        return ChunkResult(names, statuses if stage is not None else statuses[1:], chunk.counts)

    def _feed(self, lines: Iterable[bytes], chunk: _Chunk) -> None:
        dst: IO[bytes] = self.extract.proc.stdin  # type: ignore[assignment]
        try:
            for line in lines:
                try:
                    chunk.counts.index_line(line)
                except Exception as exc:  # our bookkeeping, not the stage: stop the chunk
                    self.watch.failed_by("records to hg-extract", exc)
                    return
                dst.write(line)
            # hg-index's output ended (it exited, or died: then the chunk is not committed
            # anyway); the flush makes hg-extract and hg-build finish it
            dst.write(ndjson.dumps(flush_record(chunk.number)))
            dst.flush()
        except (OSError, ValueError):
            pass  # hg-extract died: stop reading, so hg-index ends on EPIPE
        finally:
            close = getattr(lines, "close", None)
            if close is not None:
                close()

    def _wait(self, chunk: _Chunk, index: Stage | None) -> list[int]:
        """[hg-index, hg-extract, hg-build] statuses once the chunk is answered (0 for the
        service's stages that live on) or stopped."""
        service = [self.extract, self.build]
        while True:
            if self.watch.stop.is_set():
                self.terminate(index)
                break
            index_done = index is None or index.proc.poll() is not None
            if chunk.done.is_set() and index_done:
                break
            if any(s.proc.poll() is not None for s in service) and index_done:
                # a stage ended: what it had printed is read to the end, then judged
                chunk.done.wait(timeout=5)
                break
            chunk.done.wait(timeout=0.05)
        answered = chunk.done.is_set() and all(s.proc.poll() is None for s in service)
        statuses = [index.proc.wait() if index is not None else 0]
        for s in service:
            code = s.proc.poll()
            if code is None:
                code = 0 if answered else ENDED_EARLY
            elif code in (0, 1) and not answered:
                code = ENDED_EARLY
            statuses.append(code)
        if not answered and all(c == 0 for c in statuses[1:]):
            statuses[2] = ENDED_EARLY
        return statuses

    # -- the end --------------------------------------------------------------------------

    def terminate(self, index: Stage | None = None) -> None:
        for s in [*([index] if index is not None else []), self.extract, self.build]:
            if s.proc.poll() is None:
                s.proc.terminate()

    def close(self, timeout: float = 60.0) -> list[int]:
        """End of the import: hg-extract's input closed, so it and then hg-build exit
        (nothing is pending: every chunk was answered). Their statuses."""
        self.chunk = None
        with contextlib.suppress(OSError, ValueError):
            self.extract.proc.stdin.close()  # type: ignore[union-attr]
        deadline = time.monotonic() + timeout
        statuses = []
        for s in (self.extract, self.build):
            try:
                statuses.append(s.proc.wait(timeout=max(0.1, deadline - time.monotonic())))
            except subprocess.TimeoutExpired:
                s.proc.kill()
                statuses.append(s.proc.wait())
        for t in self._threads:
            t.join(timeout=5)
        for s in (self.extract, self.build):
            s.stderr.join(timeout=5)
        return statuses

    def kill(self) -> None:
        """Interrupted or stopped: end both stages now and reap them."""
        self.chunk = None
        self.terminate()
        for s in (self.extract, self.build):
            try:
                s.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                s.proc.kill()
                s.proc.wait()
        for s in (self.extract, self.build):
            s.stderr.join(timeout=5)
