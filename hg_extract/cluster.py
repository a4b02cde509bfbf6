"""hg-extract's work on a Dask `distributed` cluster (`--cluster tcp://HOST:8786`).

`ClusterWorkers` has the interface of `pool.Workers` that `workers.Runner` uses: `submit`
returns a concurrent.futures Future and a generation, `replace` says how a worker died. So the
runner is the same for both: results in input order, a unit whose worker died redone one
group at a time, the ML pass, video transcodes last, and every file its record.

On a Dask worker, a task does not run the extractor itself: Dask runs tasks in threads, but
the extractor needs a process's main thread (exiftool's SIGALRM timeout, the CPU limit's
SIGPROF that ends the process, see `extractor`). Each Dask worker process therefore keeps a
`pool.Workers` of its own, one process per Dask thread, with one Extractor (its exiftool, its
ML session) each, made at the first task and kept for the next (`_local_pool`, keyed by the
options). A file that kills its process (a decoder's segfault, the CPU limit) breaks that
local pool: the task fails with BrokenProcessPool and how the process died, as in a local run,
and the runner redoes the units of that moment one group at a time. A Dask worker that dies
(SIGKILL, the machine gone) has its tasks run again by Dask on another worker; a task that
was running on more than `allowed-failures` (a scheduler setting, 3) workers that died comes
back as KilledWorker, taken as BrokenProcessPool too.

Task keys are made from the files' checksums and paths, the step, EXTRACTOR_VERSION and the
options, so Dask's own second run of a task is the same task; the storage's writes are atomic
and skip what exists, so two runs of one task leave one result. A unit the runner redoes gets
a key of its own (`-r1`…), or Dask would answer with the failure it remembers.

Workers read the originals and write the storage at the paths this machine uses (the index's
roots, `storage`), on a shared mount; a worker that mounts them elsewhere says where in its
environment (`HG_CLUSTER_PATHS`, `PathMap`): the paths are mapped on the way in and back on
the way out, so the records name the files as this machine knows them. Without a shared
mount (`transfer="send"`, `[extract] cluster_transfer`), a task carries the bytes of what
it reads and brings back the artefacts it wrote, which this machine writes into its
storage (`parcel`).
"""

from __future__ import annotations

import hashlib
import logging
import multiprocessing
import os
import threading
import time
import warnings
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures.process import BrokenProcessPool
from dataclasses import replace
from pathlib import Path
from typing import Any

import orjson

from hg_common.groups import Group
from hg_extract import extractor, parcel
from hg_extract.extractor import EXTRACTOR_VERSION, GroupResult, Options
from hg_extract.ml import step as ml
from hg_extract.pool import Workers
from hg_extract.storage import Storage

log = logging.getLogger("hg-extract")

CONNECT_TIMEOUT = 5.0
"""Seconds to reach the scheduler and to wait for its first worker."""
STEPS = {
    extractor.process_chunk: "extract",
    extractor.transcode_one: "transcode",
    extractor.analyse_chunk: "ml",
}
"""Task key prefixes (what Dask's dashboard groups by)."""
TRANSFERS = ("shared", "send")
"""How workers reach the originals and the storage: a shared mount, or sent with the task."""


class ClusterError(Exception):
    """The cluster cannot be used (unreachable, no workers): one line for the user."""


class ClusterLost(BaseException):  # noqa: N818 - a lost cluster, as KeyboardInterrupt
    """The scheduler went away mid-run: the run ends (exit 2, like an internal error: the
    files not yet answered are done by the next run). A BaseException, so that the runner's
    per-file handlers (`except Exception`) do not take it for a file's failure and write
    a failure memo for a file that was never read."""


# -- the client side (hg-extract) ----------------------------------------------------------


class ClusterWorkers:
    """The Dask cluster at `address` in place of the local worker processes."""

    def __init__(
        self,
        opts: Options,
        address: str,
        timeout: float = CONNECT_TIMEOUT,
        transfer: str = "shared",
    ) -> None:
        from distributed import Client

        # the cluster's own chatter (a worker lost, a task rescheduled) is not the user's
        logging.getLogger("distributed").setLevel(logging.ERROR)
        # send mode puts the files into the task: Dask's warning about large graphs is
        # what that mode is, not something the user can act on
        warnings.filterwarnings("ignore", message="Sending large graph", category=UserWarning)
        assert transfer in TRANSFERS, transfer
        self.opts = opts
        self.address = address
        self.transfer = transfer
        self.storage = Storage(opts.storage)
        try:
            self.client = Client(address, timeout=timeout, set_as_default=False)
        except (OSError, TimeoutError, ValueError) as exc:
            raise ClusterError(f"cannot reach the Dask scheduler at {address}: {exc}") from None
        try:
            self.client.wait_for_workers(1, timeout=timeout)
        except (OSError, TimeoutError) as exc:
            self.client.close()
            raise ClusterError(f"the Dask scheduler at {address} has no workers: {exc}") from None
        self.jobs = max(1, sum(self.client.nthreads().values()))
        """Tasks the cluster runs at once (its workers' threads when we connected)."""
        log.info(
            "extracting on the Dask cluster at %s (%d worker threads, files %s)",
            address,
            self.jobs,
            "sent with each task" if transfer == "send" else "on a shared mount",
        )
        self.generation = 0
        self._how = "died"
        self._submitted: dict[str, int] = {}
        self._inflight: set[Future] = set()
        self._lost: str | None = None
        self._closed = False
        self._lock = threading.Lock()
        threading.Thread(target=self._watch, daemon=True, name="cluster watch").start()

    def submit(self, fn: Callable[[Any], Any], arg: Any) -> tuple[Future, int]:
        """The future of `fn(arg)` on a Dask worker (a concurrent.futures Future, so the
        runner waits for it as for a local one)."""
        step = STEPS.get(fn, getattr(fn, "__name__", "task"))
        key = task_key(step, arg, self.opts, self.transfer)
        done: Future = Future()
        with self._lock:
            if self._lost:
                raise ClusterLost(self._lost)
            runs = self._submitted.get(key, 0)
            self._submitted[key] = runs + 1
            self._inflight.add(done)
        name = f"{key}-r{runs}" if runs else key
        if self.transfer == "send":  # read here, in the runner's thread: originals read-only
            payload = parcel.pack(arg, self.storage, self.opts.force)
            remote = self.client.submit(run_sent_task, fn, self.opts, payload, key=name, pure=False)
        else:
            remote = self.client.submit(run_task, fn, self.opts, arg, key=name, pure=False)
        remote.add_done_callback(lambda f: self._settle(f, done, key))
        return done, self.generation

    def _settle(self, remote: Any, done: Future, key: str) -> None:
        """The Dask future's outcome into `done` (in the client's callback thread); the
        scheduler may forget the task then."""
        from distributed import KilledWorker

        exc: BaseException | None
        result = None
        try:
            if remote.status == "cancelled":  # the client lost the scheduler
                exc = ClusterLost(self._lost_sentence())
            else:
                exc = remote.exception()
                if exc is None:
                    result = remote.result()
        except BaseException as lost:  # the client is closing: the scheduler is gone
            exc = ClusterLost(self._lost_sentence(lost))
        if exc is None and self.transfer == "send":
            result, artefacts = result
            try:  # before the runner sees the result: its entry's files exist then
                parcel.write(self.storage, artefacts)
            except Exception as failed:  # a full disk: the runner redoes the unit alone
                exc, result = failed, None
        try:
            remote.release()
        except Exception:  # a closed client: nothing left to release
            pass
        if exc is None:  # only a key that failed can be submitted again: memory stays flat
            with self._lock:
                self._submitted.pop(key, None)
        if isinstance(exc, BrokenProcessPool):  # its process died on a Dask worker
            self._how = str(exc) or "died"
        elif isinstance(exc, KilledWorker):
            self._how = "died: each Dask worker that ran it was lost (KilledWorker)"
            exc = BrokenProcessPool(self._how)
        self._finish(done, result, exc)

    def _finish(self, done: Future, result: Any, exc: BaseException | None) -> None:
        with self._lock:
            if done.done():  # failed by `_watch` already
                return
            self._inflight.discard(done)
            if isinstance(exc, ClusterLost):  # and every later submit
                self._lost = self._lost or str(exc)
            if exc is None:
                done.set_result(result)
            else:
                done.set_exception(exc)

    def _lost_sentence(self, why: BaseException | None = None) -> str:
        said = f": {type(why).__name__}: {why}" if why is not None else ""
        return f"lost the Dask scheduler at {self.address} during the run{said}"

    def _watch(self) -> None:
        """A client that lost its scheduler (and could not reconnect in its timeout) is
        closed, and what it was waiting for would never come: fail those futures, and
        every later submit, with ClusterLost."""
        while not self._closed:
            time.sleep(0.5)
            if self._closed or self.client.status not in ("closing", "closed"):
                continue
            with self._lock:
                self._lost = self._lost_sentence()
                waiting, self._inflight = self._inflight, set()
                for done in waiting:
                    if not done.done():
                        done.set_exception(ClusterLost(self._lost))
            return

    def replace(self, generation: int) -> str:
        """How the last failed task's process died: Dask replaces its workers itself, and
        the runner asks after a task it ran alone, so the last is the one it means."""
        return self._how

    def close(self, wait: bool = True) -> None:
        """The client's tasks are forgotten by the scheduler when it disconnects."""
        self._closed = True
        self.client.close()


def task_key(step: str, arg: Any, opts: Options, transfer: str = "shared") -> str:
    """`step-<first checksum>-<digest>`: the same files, step, extractor version, options
    and transfer mode give the same key (a send task returns the artefacts, a shared one
    does not: two clients of one scheduler must not share their results)."""
    files = _files(arg)
    mode = [transfer] if transfer != "shared" else []  # shared keys as they always were
    ident = orjson.dumps([EXTRACTOR_VERSION, repr(opts), files, *mode])
    digest = hashlib.blake2b(ident, digest_size=12).hexdigest()
    first = files[0][0][:12] if files else "none"
    return f"hg-{step}-{first}-{digest}"


def _files(arg: Any) -> list[list[str]]:
    """(checksum, root, path) of what a task works on: a unit of groups, a video's
    GroupResult or a unit of ML tasks."""
    if isinstance(arg, GroupResult):
        arg = [arg.group]
    out: list[list[str]] = []
    for item in arg if isinstance(arg, list) else [arg]:
        if isinstance(item, Group):
            out += [[f["checksum"], f.get("root", ""), f["path"]] for f in item.files]
        elif isinstance(item, ml.MLTask):
            out.append([item.id, item.preview, item.file.get("path", "")])
    return out


# -- a worker's own mount points -----------------------------------------------------------

PATHS_ENV = "HG_CLUSTER_PATHS"
"""On a Dask worker whose mounts differ from hg-extract's machine: `CLIENT=WORKER` prefixes,
separated by `;`, e.g. `/volume1/photos=/mnt/nas/photos;/volume1/hg=/mnt/nas/hg`."""


class PathMap:
    """The client's paths (the originals' roots, the storage) as this worker sees them,
    and back: what a task returns names the files as the client knows them."""

    def __init__(self, pairs: list[tuple[str, str]]) -> None:
        # longest prefix first: /a/b=/x wins over /a=/y for /a/b/c
        self.pairs = sorted(pairs, key=lambda p: len(p[0]), reverse=True)

    @classmethod
    def parse(cls, text: str) -> PathMap:
        pairs = []
        for item in text.split(";"):
            if not item.strip():
                continue
            client, sep, worker = item.partition("=")
            client, worker = client.strip().rstrip("/"), worker.strip().rstrip("/")
            if not sep or not client.startswith("/") or not worker.startswith("/"):
                raise ValueError(f"{PATHS_ENV}: {item!r} is not /CLIENT/PATH=/WORKER/PATH")
            pairs.append((client, worker))
        return cls(pairs)

    def reverse(self) -> PathMap:
        return PathMap([(w, c) for c, w in self.pairs])

    def path(self, path: str) -> str:
        for old, new in self.pairs:
            if path == old or path.startswith(old + "/"):
                return new + path[len(old) :]
        return path

    def convert(self, item: Any) -> Any:
        """`item` with each file record's `root` mapped (a unit of groups, a GroupResult,
        ML tasks or results, Options: what goes to and comes back from a task)."""
        if not self.pairs:
            return item
        if isinstance(item, list):
            return [self.convert(x) for x in item]
        if isinstance(item, dict) and "root" in item:
            return {**item, "root": self.path(item["root"])}
        if isinstance(item, Group):
            return replace(item, files=tuple(self.convert(f) for f in item.files))
        if isinstance(item, GroupResult):
            failed = [replace(f, file=self.convert(f.file)) for f in item.failed]
            task = self.convert(item.ml_task) if item.ml_task is not None else None
            return replace(item, group=self.convert(item.group), failed=failed, ml_task=task)
        if isinstance(item, ml.MLTask):
            return replace(item, file=self.convert(item.file))
        if isinstance(item, ml.MLResult):
            return replace(item, task=self.convert(item.task))
        if isinstance(item, Options):
            return replace(item, storage=Path(self.path(str(item.storage))))
        return item


# -- the worker side (in each Dask worker process) ----------------------------------------

_pools: dict[Options, Workers] = {}
_pools_lock = threading.Lock()


def _paths() -> PathMap:
    """This worker's path map (a bad HG_CLUSTER_PATHS: every task fails saying why)."""
    return PathMap.parse(os.environ.get(PATHS_ENV, ""))


def _local_pool(opts: Options) -> Workers:
    """This Dask worker's extractor processes for `opts`, started at its first task (call
    with `_pools_lock` held). Those of other options (an earlier run's) are stopped once
    their last task is done: a worker keeps one set of processes, not one per run."""
    from distributed import get_worker

    key = opts
    pool = _pools.get(key)
    if pool is None:
        for old in _pools.values():
            old.close(wait=False, kill=False)
        _pools.clear()
        threads = get_worker().state.nthreads
        opts = _paths().convert(opts)
        # A Dask worker under a nanny is a daemon process, which multiprocessing does not
        # let start children (so that none outlives it); ours end with it anyway
        # (`extractor.init_worker` -> `procs.die_with`).
        multiprocessing.current_process()._config["daemon"] = False  # type: ignore[attr-defined]
        local = replace(opts, ml_threads=ml.worker_threads(threads))
        pool = _pools[key] = Workers(local, threads, start="spawn")
    return pool


def run_task(fn: Callable[[Any], Any], opts: Options, arg: Any) -> Any:
    """A Dask task: `fn(arg)` in one of this worker's extractor processes. When that
    process dies, the task fails with BrokenProcessPool saying how (the runner's
    `_alone` puts it in the file's error record), and the next task gets a fresh one."""
    paths = _paths()
    return paths.reverse().convert(_in_pool(opts, fn, paths.convert(arg)))


def run_sent_task(fn: Callable[[Any], Any], opts: Options, payload: parcel.Parcel) -> Any:
    """A send-mode Dask task: `fn` on the parcel's files in a temp folder of this worker
    (`parcel.run`); (result, artefacts) back."""
    return _in_pool(opts, parcel.run, (fn, payload))


def _in_pool(opts: Options, fn: Callable[[Any], Any], arg: Any) -> Any:
    with _pools_lock:
        pool = _local_pool(opts)
        future, generation = pool.submit(fn, arg)
    try:
        return future.result()
    except BrokenProcessPool:
        with _pools_lock:
            how = pool.replace(generation)
        raise BrokenProcessPool(how) from None
