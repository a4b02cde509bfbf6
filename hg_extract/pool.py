"""The worker processes, replaced by fresh ones when one dies.

A decoder that segfaults, the OOM killer or a `kill -9` ends a worker in the middle of a
unit. multiprocessing.Pool would then wait forever for that unit's result; a
ProcessPoolExecutor fails every future it had in flight with BrokenProcessPool and is unusable
from then on. `Workers` keeps one and starts a new one when it broke (`replace`); the runner
redoes the units that were in flight, one group at a time, so the group that kills a worker
again is the one that gets the error record (see `workers.Runner`).

Workers are forked (they start at once, hg_extract already imported) and all forked at the
first task, which `_start` submits at once: the first set before the runner's input thread
exists. A replacement is forked while that thread runs, so the thread must hold no lock a
worker needs: it reads stdin with os.read, not through sys.stdin's buffer, whose lock a
forked child takes when multiprocessing closes stdin in it.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import signal
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from hg_extract import extractor
from hg_extract.extractor import Options


class Workers:
    """`jobs` worker processes, each with its `Extractor` (and exiftool)."""

    def __init__(self, opts: Options, jobs: int, start: str = "fork") -> None:
        self.opts = opts
        self.jobs = jobs
        self.start = start
        """multiprocessing's start method: "spawn" in a Dask worker (`cluster`), whose
        threads make a fork unsafe."""
        self.generation = 0
        """Counts replacements: a future of an older generation broke with its pool."""
        self.shared = False
        """Whether the workers were forked with the face models loaded (`share_models`)."""
        self._pool = self._start()

    def _start(self) -> ProcessPoolExecutor:
        if self.start == "fork":
            # The parent's objects go to the collector's permanent generation (none of
            # them is collected in a worker, so their pages stay shared); garbage first,
            # so none of it is kept for good.
            gc.collect()
            gc.freeze()
        pool = ProcessPoolExecutor(
            self.jobs,
            mp_context=multiprocessing.get_context(self.start),
            initializer=extractor.init_worker,
            initargs=(self.opts, os.getpid()),
        )
        pool.submit(os.getpid).result()  # fork them all now (see the module doc)
        return pool

    def submit(self, fn: Callable[[Any], Any], arg: Any) -> tuple[Future, int]:
        """The future of `fn(arg)` in a worker, and the generation it runs in."""
        try:
            return self._pool.submit(fn, arg), self.generation
        except BrokenProcessPool:  # broke since the last look; its futures will say so
            self.replace(self.generation)
            return self._pool.submit(fn, arg), self.generation

    def replace(self, generation: int) -> str:
        """New workers for the pool of `generation` if it is still the current one; how its
        worker died, for the error record."""
        if generation != self.generation:
            return "died"
        processes = list((getattr(self._pool, "_processes", None) or {}).values())
        self._pool.shutdown(wait=True, cancel_futures=True)  # joins them: exit codes known
        how = _how_it_died(processes, self.opts.cpu_limit)
        self.generation += 1
        self._pool = self._start()
        return how

    def share_models(self, load: Callable[[], None]) -> None:
        """Once a run: `load()` models here, then fork the workers again, so they share
        what it loaded (copy on write) instead of each loading its own. Only between units:
        nothing may be in flight. Not for spawned workers (they share nothing)."""
        if self.shared or self.start != "fork":
            return
        self.shared = True
        load()
        self._pool.shutdown(wait=True)
        self.generation += 1
        self._pool = self._start()

    def close(self, wait: bool = True, kill: bool = True) -> None:
        """`wait=False` (an interrupted run): the workers are stopped, not waited for;
        with `kill=False` they end after the work they have."""
        if not wait and kill:
            for proc in list((getattr(self._pool, "_processes", None) or {}).values()):
                proc.kill()
        self._pool.shutdown(wait=wait, cancel_futures=True)


def _how_it_died(processes: list[Any], cpu_limit: float | None = None) -> str:
    """'was killed (SIGSEGV)' from the exit codes the broken pool's processes left: the
    others were ended by the pool itself (SIGTERM)."""
    for code in (p.exitcode for p in processes):
        if code == -signal.SIGPROF:  # `extractor.cpu_limited`
            return f"was stopped after {cpu_limit or 0:g} CPU seconds ([extract] cpu_limit)"
        if code is not None and code < 0 and code != -signal.SIGTERM:
            return f"was killed ({_signal_name(-code)})"
        if code is not None and code > 0:
            return f"exited with status {code}"
    return "died"


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"
