"""hg-extract on the local worker pool vs on a Dask cluster (`--cluster`).

Default: a LocalCluster of 2 worker processes (1 thread each) on this machine against
`--jobs 2`, the cluster both with its shared mount (`--cluster-transfer shared`: the
workers open the originals and write the storage) and without (`send`: each task carries
its originals' bytes and brings the artefacts back, which hg-extract writes). On one
machine the cluster cannot be faster; the difference is what a task costs on Dask
(scheduling, pickling the groups and results, the client's round trips; in send mode the
files' bytes through the scheduler too), which is what a second machine must win back.
Each set run local, shared, send, send, shared, local, the means printed.

`--pin`: one core stands for one machine, so that "this machine alone" and "this machine
plus one more" can be compared on a 2-core box. `local1`: hg-extract `--jobs 1` pinned to
core 0 (`taskset -c 0`, its extractor process and exiftool/ffmpeg with it). With
`--cluster` hg-extract extracts nothing itself (all of it goes to the cluster's workers),
so "plus one more machine" is a cluster whose first worker is this machine: a `dask
scheduler`, hg-extract and one `dask worker --nworkers 1 --nthreads 1` on core 0, a second
such worker on core 1 in a network namespace of its own (a veth pair, its own address:
what crosses to it goes through the kernel's network stack as to another host, minus the
wire), `2m-shared` and `2m-send`. `1m`: the same cluster without the second worker (core 0
only), which against `local1` is Dask's cost on the same core: per task, the tasks counted
by the scheduler's task stream. Order local1, 1m, 2m-shared, 2m-send, then reversed.
Without root (or `ip netns`), or with `--no-netns`, the second worker listens on 127.0.0.1.

Sets: generated photos (6 MP ones whose previews take real work, 96x64 ones where the
overhead is nearly all there is), or with `--real DIR` the JPEGs and the videos under DIR
(copied, so the index sees one folder each). `--ml off` unless `--ml local`; `--no-geo`;
each run into a fresh gallery home, the cluster started before the clock. Per run the busy
share of cores 0 and 1 (all processes, /proc/stat) says how much the other jobs on the
machine took.

Usage: python bench/cluster.py [--photos N] [--tiny N] [--real DIR [--only photos|videos]]
                               [--pin [--no-netns]] [--ml off|local]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
PHOTOS = {".jpg", ".jpeg"}
VIDEOS = {".mp4", ".mov", ".avi", ".3gp", ".m4v", ".mkv", ".mts"}


@dataclass
class Set:
    name: str
    src: Path


@dataclass
class Run:
    kind: str
    took: float
    records: Counter[str]
    busy: dict[str, float]
    tasks: dict[str, tuple[int, float]] | None = None
    """Per Dask worker name: tasks run and their compute seconds (the task stream)."""
    cpu: dict[str, float] | None = None
    """CPU seconds of the run: hg-extract's, and the scheduler's and each worker's (their
    process trees: nanny, worker, its extractor processes, exiftool, ffmpeg)."""


def make_photos(dest: Path, count: int, size: tuple[int, int]) -> None:
    dest.mkdir(parents=True)
    for n in range(count):
        rnd = random.Random(n)
        small = Image.frombytes("RGB", (32, 24), rnd.randbytes(32 * 24 * 3))
        small.resize(size, Image.Resampling.BICUBIC).save(dest / f"p{n:04}.jpg", quality=90)


def copy_real(src: Path, dest: Path, suffixes: set[str]) -> None:
    """The files under `src` with these suffixes, flat in `dest` (their relative paths as
    names, so that none shadows another)."""
    dest.mkdir(parents=True)
    for path in sorted(src.rglob("*")):
        if path.suffix.lower() in suffixes and path.is_file():
            shutil.copyfile(path, dest / "_".join(path.relative_to(src).parts))


def cpu_times() -> dict[str, tuple[int, int]]:
    """Per core: (all jiffies, idle jiffies) since boot."""
    out = {}
    for line in Path("/proc/stat").read_text().splitlines():
        name, *fields = line.split()
        if name.startswith("cpu") and name[3:].isdigit():
            n = [int(x) for x in fields[:8]]
            out[name] = (sum(n), n[3] + n[4])
    return out


def busy_share(before: dict[str, tuple[int, int]]) -> dict[str, float]:
    """Per core, the share of the time since `before` that it was busy (anyone's work)."""
    after = cpu_times()
    out = {}
    for name, (total, idle) in after.items():
        t0, i0 = before.get(name, (0, 0))
        out[name] = 1 - (idle - i0) / max(1, total - t0)
    return out


def tree_cpu(pids: list[int]) -> float:
    """CPU seconds (user + system) of these processes and their descendants so far, the
    children they have reaped included (an ffmpeg that ended)."""
    tick = os.sysconf("SC_CLK_TCK")
    stats: dict[int, tuple[int, int]] = {}  # pid -> (parent, jiffies)
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rpartition(")")[2].split()
        except OSError:  # ended meanwhile
            continue
        stats[int(entry.name)] = (int(fields[1]), sum(int(x) for x in fields[11:15]))
    total, seen = 0, set(pids)
    todo = list(pids)
    while todo:
        pid = todo.pop()
        total += stats.get(pid, (0, 0))[1]
        kids = [k for k, (parent, _) in stats.items() if parent == pid and k not in seen]
        seen.update(kids)
        todo += kids
    return total / tick


def extract(home: Path, stdin: bytes, *args: str, pin: str | None = None) -> Run:
    env = {**os.environ, "HG_HOME": str(home), "PATH": f"{BIN}:{os.environ['PATH']}"}
    cmd: list[Any] = [BIN / "hg-extract", "--no-progress", "--no-geo", "-q", *args]
    if pin is not None:
        cmd = ["taskset", "-c", pin, *cmd]
    before = cpu_times()
    own = os.times()
    started = time.monotonic()
    proc = subprocess.run(cmd, input=stdin, env=env, capture_output=True, check=False)
    took = time.monotonic() - started
    busy = busy_share(before)
    now = os.times()
    used = now.children_user + now.children_system - own.children_user - own.children_system
    # 1: some inputs failed, as broken files in a real corpus do (the counts show whether
    # every run answered the same)
    if proc.returncode not in (0, 1):
        sys.exit(f"hg-extract failed ({proc.returncode}): {proc.stderr.decode()}")
    records = Counter(json.loads(line)["type"] for line in proc.stdout.splitlines())
    return Run("", took, records, busy, cpu={"hg-extract": used})


def index(home: Path, src: Path) -> bytes:
    env = {**os.environ, "HG_HOME": str(home)}
    proc = subprocess.run([BIN / "hg-index", str(src)], env=env, capture_output=True, check=False)
    if proc.returncode not in (0, 1):  # 1: a file it could not read (the real corpus's)
        sys.exit(f"hg-index failed: {proc.stderr.decode()}")
    return proc.stdout


def files_in(stdin: bytes) -> int:
    """What hg-extract is given: the index's file records."""
    return sum(json.loads(line)["type"] == "add" for line in stdin.splitlines())


# -- one core per machine (--pin) ----------------------------------------------------------


class Netns:
    """A network namespace joined to this one by a veth pair: the second machine's
    network (its own address and stack; no wire, so no LAN latency or bandwidth)."""

    def __init__(self) -> None:
        tag = os.getpid() % 10000
        self.name = f"hgbench{tag}"
        self.host_if, self.peer_if = f"hgb{tag}a", f"hgb{tag}b"
        net = f"10.213.{tag % 250}"
        self.host_ip, self.peer_ip = f"{net}.1", f"{net}.2"
        inside = ["ip", "netns", "exec", self.name]
        steps = [
            ["ip", "netns", "add", self.name],
            ["ip", "link", "add", self.host_if, "type", "veth", "peer", "name", self.peer_if],
            ["ip", "link", "set", self.peer_if, "netns", self.name],
            ["ip", "addr", "add", f"{self.host_ip}/24", "dev", self.host_if],
            ["ip", "link", "set", self.host_if, "up"],
            [*inside, "ip", "addr", "add", f"{self.peer_ip}/24", "dev", self.peer_if],
            [*inside, "ip", "link", "set", self.peer_if, "up"],
            [*inside, "ip", "link", "set", "lo", "up"],
        ]
        try:
            for step in steps:
                subprocess.run(step, check=True, capture_output=True, text=True)
        except (OSError, subprocess.CalledProcessError) as exc:
            self.close()
            why = getattr(exc, "stderr", "") or exc
            raise OSError(f"{' '.join(getattr(exc, 'cmd', []) or [])}: {why}".strip()) from None
        self.prefix = inside

    def close(self) -> None:
        for step in (["ip", "link", "del", self.host_if], ["ip", "netns", "del", self.name]):
            subprocess.run(step, check=False, capture_output=True)


class PinnedCluster:
    """`dask scheduler` and `dask worker`s as processes of their own, each pinned to a
    core, as on machines of their own (a worker: `--nworkers 1 --nthreads 1`)."""

    def __init__(self, base: Path, name: str, host: str) -> None:
        from distributed import Client

        self.base, self.name = base, name
        self.env = {**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}"}
        self.procs: list[subprocess.Popen[bytes]] = []
        self.names: list[str] = []
        self.file = base / f"{name}-scheduler.json"
        self._start(
            "scheduler",
            ["taskset", "-c", "0", BIN / "dask", "scheduler", "--host", host, "--port", "0"]
            + ["--no-dashboard", "--scheduler-file", self.file],
        )
        deadline = time.monotonic() + 60
        while not self.file.exists():
            if time.monotonic() > deadline or self.procs[0].poll() is not None:
                self.close()
                sys.exit(f"dask scheduler did not start: {self._log('scheduler')}")
            time.sleep(0.2)
        self.client = Client(scheduler_file=str(self.file), set_as_default=False)
        self.client.get_task_stream()  # the scheduler records its tasks from now on
        self.address = self.client.scheduler.address

    def _start(self, what: str, cmd: list[Any]) -> None:
        log = (self.base / f"{self.name}-{what}.log").open("wb")
        # a session of its own: close() ends each process group this bench started
        proc = subprocess.Popen(
            cmd, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        self.procs.append(proc)
        self.names.append(what)

    def cpu(self) -> dict[str, float]:
        """CPU seconds so far of the scheduler's and each worker's process tree."""
        return {n: tree_cpu([p.pid]) for n, p in zip(self.names, self.procs, strict=True)}

    def _log(self, what: str) -> str:
        return (self.base / f"{self.name}-{what}.log").read_text(errors="replace")[-2000:]

    def add_worker(self, core: str, host: str, prefix: list[str] | None = None) -> None:
        name = f"core{core}"
        self._start(
            name,
            [*(prefix or []), "taskset", "-c", core, BIN / "dask", "worker"]
            + ["--scheduler-file", self.file, "--nworkers", "1", "--nthreads", "1"]
            + ["--host", host, "--name", name, "--no-dashboard"],
        )
        try:
            self.client.wait_for_workers(len(self.procs) - 1, timeout=60)
        except TimeoutError:
            self.close()
            sys.exit(f"dask worker on core {core} did not join: {self._log(name)}")

    def tasks(self, since: float) -> dict[str, tuple[int, float]]:
        """Per worker name: the tasks that ran since `since` (time.time()) and their
        compute seconds."""
        names = {a: w["name"] for a, w in self.client.scheduler_info()["workers"].items()}
        out: dict[str, tuple[int, float]] = {}
        for rec in self.client.get_task_stream(start=since):
            name = str(names.get(rec["worker"], rec["worker"]))
            compute = sum(
                s["stop"] - s["start"] for s in rec["startstops"] if s["action"] == "compute"
            )
            n, secs = out.get(name, (0, 0.0))
            out[name] = (n + 1, secs + compute)
        return out

    def close(self) -> None:
        if hasattr(self, "client"):
            self.client.close()
        for proc in reversed(self.procs):
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in reversed(self.procs):
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def run_pinned(sets: list[Set], base: Path, use_netns: bool, ml: str) -> None:
    host = "127.0.0.1"
    netns: Netns | None = None
    if use_netns:
        try:
            netns = Netns()
            host = netns.host_ip
            print(
                f"second machine: network namespace {netns.name}, {netns.peer_ip} "
                f"(this one {host}, a veth pair)"
            )
        except OSError as exc:
            print(f"no network namespace ({exc}): the second worker on 127.0.0.1")
    if netns is None:
        print("second machine: a worker process on 127.0.0.1 (no namespace)")
    clusters: list[PinnedCluster] = []
    try:
        one = PinnedCluster(base, "one", host)
        clusters.append(one)
        one.add_worker("0", host)
        two = PinnedCluster(base, "two", host)
        clusters.append(two)
        two.add_worker("0", host)
        if netns is not None:
            two.add_worker("1", netns.peer_ip, netns.prefix)
        else:
            two.add_worker("1", host)
        kinds = ("local1", "1m", "2m-shared", "2m-send")
        for n, s in enumerate(sets):
            stdin = index(base / f"index{n}", s.src)
            count = files_in(stdin)
            runs: dict[str, list[Run]] = {k: [] for k in kinds}
            load_before = os.getloadavg()
            # forwards then backwards: a load that changes during the runs (the machine
            # is shared) weighs on all alike
            for r, kind in enumerate((*kinds, *reversed(kinds))):
                flags: tuple[str, ...] = ("--ml", ml)
                cluster = None
                if kind == "local1":
                    flags += ("--jobs", "1")
                else:
                    cluster = one if kind == "1m" else two
                    transfer = "send" if kind.endswith("send") else "shared"
                    flags += ("--cluster", cluster.address, "--cluster-transfer", transfer)
                since = time.time()
                cpu = cluster.cpu() if cluster is not None else {}
                run = extract(base / f"{kind}{n}-{r}", stdin, *flags, pin="0")
                run.kind = kind
                if cluster is not None:
                    time.sleep(1)  # the task stream and the workers' last breath settle
                    run.tasks = cluster.tasks(since)
                    after = cluster.cpu()
                    run.cpu = {**(run.cpu or {}), **{k: after[k] - v for k, v in cpu.items()}}
                runs[kind].append(run)
                print(f"  {s.name}: {describe(run, count)}", flush=True)
            mb = sum(f.stat().st_size for f in s.src.iterdir()) / 1e6
            print(
                f"{s.name}: {count} files, {mb:.1f} MB, --ml {ml}; load "
                f"{load_before[0]:.1f} -> {os.getloadavg()[0]:.1f}"
            )
            summarise(runs, count)
    finally:
        for cluster in clusters:
            cluster.close()
        if netns is not None:
            netns.close()


def describe(run: Run, count: int) -> str:
    records = ", ".join(f"{v} {k}" for k, v in sorted(run.records.items()) if k != "scanned")
    busy = " ".join(f"{c[3:]}:{b:.0%}" for c, b in sorted(run.busy.items()))
    text = f"{run.kind:9} {run.took:6.1f} s {count / run.took:6.1f} files/s ({records}; busy {busy}"
    if run.tasks:
        tasks = ", ".join(f"{w} {n} tasks {s:.1f} s" for w, (n, s) in sorted(run.tasks.items()))
        text += f"; {tasks}"
    if run.cpu:
        text += "; CPU s " + ", ".join(f"{k} {v:.1f}" for k, v in run.cpu.items())
    return text + ")"


def summarise(runs: dict[str, list[Run]], count: int) -> None:
    mean = {k: sum(r.took for r in v) / len(v) for k, v in runs.items()}
    for kind, took in mean.items():
        times = [round(r.took, 1) for r in runs[kind]]
        line = f"  {kind:9} {took:.1f} s ({count / took:.2f} files/s, runs {times} s)"
        if kind != "local1":
            line += f", local1/{kind} = {mean['local1'] / took:.2f}"
        print(line)
    cpu = {k: sum(sum((r.cpu or {}).values()) for r in v) / len(v) for k, v in runs.items()}
    print("  CPU s a run (all processes): " + ", ".join(f"{k} {v:.1f}" for k, v in cpu.items()))
    tasks = [sum(n for n, _ in r.tasks.values()) for r in runs["1m"] if r.tasks]
    if tasks:
        per = sum(tasks) / len(tasks)
        extra = (mean["1m"] - mean["local1"]) / per * 1000
        extra_cpu = (cpu["1m"] - cpu["local1"]) / per * 1000
        print(
            f"  1m - local1: {extra:+.0f} ms wall, {extra_cpu:+.0f} ms CPU per task "
            f"({per:.0f} tasks a run; the run's fixed costs included)"
        )


# -- a LocalCluster beside --jobs 2 (the default) -------------------------------------------


def run_local_cluster(sets: list[Set], base: Path, ml: str) -> None:
    from distributed import LocalCluster

    cluster = LocalCluster(
        n_workers=2,
        processes=True,
        threads_per_worker=1,
        host="127.0.0.1",
        scheduler_port=0,
        dashboard_address=":0",
    )
    try:
        for n, s in enumerate(sets):
            stdin = index(base / f"index{n}", s.src)
            count = files_in(stdin)
            # local, shared, send, send, shared, local: a load that changes during
            # the runs (the machine is shared) weighs on all alike
            address = cluster.scheduler_address
            kinds = ("local", "shared", "send")
            times: dict[str, list[float]] = {k: [] for k in kinds}
            for r, kind in enumerate((*kinds, *reversed(kinds))):
                flags = (
                    ("--jobs", "2")
                    if kind == "local"
                    else ("--cluster", address, "--cluster-transfer", kind)
                )
                run = extract(base / f"{kind}{n}-{r}", stdin, "--ml", ml, *flags)
                times[kind].append(round(run.took, 1))
            mean = {k: sum(v) / len(v) for k, v in times.items()}
            mb = sum(f.stat().st_size for f in s.src.iterdir()) / 1e6
            print(f"{s.name} ({mb:.1f} MB of originals):")
            for kind in kinds:
                extra = (mean[kind] - mean["local"]) / count * 1000
                print(
                    f"  {kind:6} {mean[kind]:.1f} s ({count / mean[kind]:.1f} files/s)"
                    + (f", {extra:+.0f} ms per file vs local" if kind != "local" else "")
                    + f" (runs {times[kind]} s)"
                )
    finally:
        cluster.close()


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--photos", type=int, default=32, help="6 MP photos")
    p.add_argument("--tiny", type=int, default=160, help="96x64 photos")
    p.add_argument("--real", type=Path, help="the JPEGs and the videos under this folder")
    p.add_argument("--only", choices=("photos", "videos"), help="with --real: one set")
    p.add_argument("--pin", action="store_true", help="one core per machine (see above)")
    p.add_argument("--no-netns", action="store_true", help="--pin's second worker on 127.0.0.1")
    p.add_argument("--ml", choices=("off", "local"), default="off")
    args = p.parse_args()
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}, load before {os.getloadavg()}"
    )
    with tempfile.TemporaryDirectory(prefix="hg-bench-cluster-") as tmp:
        base = Path(tmp)
        sets: list[Set] = []
        if args.real:
            for kind, suffixes in (("photos", PHOTOS), ("videos", VIDEOS)):
                if args.only in (None, kind):
                    copy_real(args.real, base / f"real-{kind}", suffixes)
                    if any((base / f"real-{kind}").iterdir()):
                        sets.append(Set(f"real {kind} of {args.real}", base / f"real-{kind}"))
        else:
            for name, count, size in (
                (f"{args.photos} photos 3000x2000", args.photos, (3000, 2000)),
                (f"{args.tiny} tiny photos 96x64", args.tiny, (96, 64)),
            ):
                if count:  # --photos 0: only the tiny ones
                    make_photos(base / f"gen{len(sets)}", count, size)
                    sets.append(Set(name, base / f"gen{len(sets)}"))
        if args.pin:
            run_pinned(sets, base, not args.no_netns, args.ml)
        else:
            run_local_cluster(sets, base, args.ml)
    print(f"load after {os.getloadavg()}")


if __name__ == "__main__":
    main()
