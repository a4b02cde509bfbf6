"""hg-extract --cluster: a real Dask LocalCluster (a scheduler and two worker processes on
127.0.0.1) does the work; what comes out is what a local run makes, and a worker that dies
costs nothing but time (or, when a file kills every worker it meets, that file's record)."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import orjson
import pytest
from distributed import Client

from hg_common import layout
from hg_extract import extractor
from hg_extract.cluster import PATHS_ENV, ClusterWorkers, PathMap, task_key
from hg_extract.extractor import Options
from hg_extract.workers import Runner
from tests.conftest import FIXTURES
from tests.dask_cluster import local_cluster

from .conftest import BIN, hg_env, run_extract, run_index
from .hostile import photo
from .test_processes import crashing_decoder, slow_png, unreadable_png

TIMESTAMPS = re.compile(rb'"(created|date|FileAccessDate)":"[^"]*"')
"""What may differ between two runs on the same input: when the ML files and failure memos
were made, when exiftool last read the original."""


@pytest.fixture(scope="module")
def cluster():
    # allowed-failures 1: a task is run again after one lost worker, KilledWorker after two
    with local_cluster(allowed_failures=1) as running:
        yield running


def without_timestamps(data: bytes) -> bytes:
    return TIMESTAMPS.sub(rb'"\1":"-"', data)


def storage_files(storage: Path) -> dict[str, Any]:
    """Each file's bytes; exiftool's raw JSON as a dict: the order of its composite tags
    follows Perl's hash order, which differs from one exiftool process to the next."""
    out: dict[str, Any] = {}
    for path in sorted(storage.rglob("*")):
        if path.is_file():
            data = without_timestamps(path.read_bytes())
            out[str(path.relative_to(storage))] = (
                orjson.loads(data) if path.name.endswith(f"-{layout.EXIF}") else data
            )
    return out


def test_a_cluster_run_makes_what_a_local_run_makes(tmp_path, cluster):
    address, _ = cluster
    src = tmp_path / "src"
    # every committed sample: photos, RAWs, HEIC, videos (the transcode step), sidecars,
    # copies of one photo, broken files (error records), files that are not media
    shutil.copytree(FIXTURES, src)
    stdin = run_index(tmp_path / "local", src)

    code, local, err = run_extract(tmp_path / "local", stdin, "--jobs", "2")
    assert code == 1, err  # the broken samples
    code, remote, err = run_extract(tmp_path / "remote", stdin, "--cluster", address)
    assert code == 1, err

    assert any(r["type"] == "entry" and r.get("video") for r in remote)  # transcoded
    assert any(r["type"] == "ml" for r in remote)
    assert sum(r["type"] == "error" for r in remote) >= 3
    # the same records, byte for byte; entries in input order in both. Where a skip or an
    # ml record falls between them depends on timing (units in flight) in any run.
    lines = [without_timestamps(orjson.dumps(r)) for r in remote]
    assert sorted(lines) == sorted(without_timestamps(orjson.dumps(r)) for r in local)
    assert [r["id"] for r in remote if r["type"] == "entry"] == [
        r["id"] for r in local if r["type"] == "entry"
    ]
    remote_files = storage_files(tmp_path / "remote/storage")
    assert len(remote_files) > 100
    assert remote_files == storage_files(tmp_path / "local/storage")


def test_cluster_from_the_config(tmp_path, cluster):
    address, _ = cluster
    src = tmp_path / "src"
    for n in range(3):
        photo(src / f"p{n}.jpg", 700 + n)
    home = tmp_path / "home"
    home.mkdir()
    (home / "config.toml").write_text(f'[extract]\ncluster = "{address}"\n')
    code, records, err = run_extract(home, run_index(home, src), "--ml", "off", "-v")
    assert code == 0, err
    assert sorted(r["files"][0]["path"] for r in records if r["type"] == "entry") == [
        "p0.jpg",
        "p1.jpg",
        "p2.jpg",
    ]
    # the config's cluster was used: the scheduler ran this run's tasks
    assert (home / "storage").is_dir()


def worker_pids(client: Client) -> dict[str, int]:
    return client.run(os.getpid)


@pytest.mark.parametrize("transfer", ["shared", "send"])
def test_a_worker_killed_mid_run_loses_nothing(tmp_path, cluster, transfer):
    address, client = cluster
    src = tmp_path / "src"
    for n in range(24):
        photo(src / f"p{n:02}.jpg", 200 + n, (1600, 1200))
    home = tmp_path / "home"
    (tmp_path / "records").write_bytes(run_index(home, src))
    proc = subprocess.Popen(
        [BIN / "hg-extract", "--no-progress", "--no-geo", "--ml", "off", "--cluster", address]
        + ["--cluster-transfer", transfer],
        stdin=(tmp_path / "records").open("rb"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=hg_env(home),
    )
    victim = None
    deadline = time.monotonic() + 60
    while victim is None and time.monotonic() < deadline:
        busy = [w for w, keys in client.processing().items() if keys]
        if busy and len(list((home / "storage").rglob("*-image-preview-128.jpg"))) >= 2:
            victim = worker_pids(client)[busy[0]]
        time.sleep(0.05)
    assert victim is not None, "no task was running"
    os.kill(victim, signal.SIGKILL)  # a Dask worker process, with its extractor processes
    out, err = proc.communicate(timeout=180)
    assert proc.returncode == 0, err.decode()
    records = [orjson.loads(line) for line in out.splitlines()]
    entries = [r for r in records if r["type"] == "entry"]  # not the index's passed records
    paths = sorted(r["files"][0]["path"] for r in entries)
    assert paths == [f"p{n:02}.jpg" for n in range(24)]
    for n in range(24):  # nothing half-written: every preview a whole JPEG
        entry_id = next(r["id"] for r in entries if r["files"][0]["path"] == f"p{n:02}.jpg")
        for preview in (home / "storage").glob(f"{entry_id[:2]}/{entry_id[2:4]}/*.jpg"):
            assert preview.read_bytes().endswith(b"\xff\xd9"), preview
    assert not list((home / "storage").rglob("*.tmp*"))
    client.wait_for_workers(2, timeout=60)  # the nanny's new worker, for the next test


def killing_its_dask_worker(groups):
    """The worker's job, with a file that kills the Dask worker running it: `a-killer*`
    ends the extractor process's parent (the Dask worker process, as the OOM killer or a
    machine switched off would) and then itself; every other file is extracted for real.
    It runs in the extractor process, at the moment the task reaches the file: no race
    with an outside watcher."""
    for group in groups:
        if group.primary["path"].startswith("a-killer"):
            kills = Path(group.primary["root"]).parent / "kills"
            kills.mkdir(exist_ok=True)
            (kills / str(os.getppid())).touch()  # which Dask worker it killed
            os.kill(os.getppid(), signal.SIGKILL)
            os.kill(os.getpid(), signal.SIGKILL)
    return extractor.process_chunk(groups)


def test_a_file_that_kills_every_worker_it_meets_is_its_error(tmp_path, cluster):
    """Dask gives up on a task whose workers died (allowed-failures): KilledWorker. The
    runner then does that unit's files one at a time, and the one that kills its worker
    again gets the error record; the others are entries, and nothing is half-written."""
    address, client = cluster
    src = tmp_path / "src"
    photo(src / "a-killer.jpg", 399)  # first of the first unit
    for n in range(6):
        photo(src / f"p{n}.jpg", 400 + n)
    home = tmp_path / "home"
    records = [orjson.loads(line) for line in run_index(home, src).splitlines()]
    opts = Options(storage=home / "storage", ml="off")
    workers = ClusterWorkers(opts, address)
    runner = Runner(opts, workers.jobs, work=killing_its_dask_worker, cluster=workers)

    out = list(runner.run(records))

    errors = {r["path"]: r for r in out if r["type"] == "error"}
    entries = {f["path"]: r for r in out if r["type"] == "entry" for f in r["files"]}
    assert set(errors) == {"a-killer.jpg"}, errors
    assert "KilledWorker" in errors["a-killer.jpg"]["error"]
    assert set(entries) == {f"p{n}.jpg" for n in range(6)}
    storage = home / "storage"
    assert not list(storage.rglob("*.tmp"))
    for entry in entries.values():  # every preview whole, none for the killer
        for preview in entry["previews"]:
            assert (storage / preview).read_bytes().endswith(b"\xff\xd9"), preview
    killer = next(r["checksum"] for r in records if r.get("path") == "a-killer.jpg")
    assert not list(storage.rglob(f"{killer[4:]}-image-preview-*"))
    # twice for its unit (allowed-failures 1), twice alone
    assert len(list((tmp_path / "kills").iterdir())) >= 4
    client.wait_for_workers(2, timeout=60)


def test_a_decoder_crash_on_a_worker_costs_only_its_file(tmp_path, cluster):
    """The local run's crash test, on the cluster: the crash ends one of a Dask worker's
    extractor processes, not the Dask worker, and the error says how it died."""
    address, _ = cluster
    src = tmp_path / "src"
    for n in range(8):
        photo(src / f"p{n:02}.jpg", 100 + n)
    jpg = photo(src / "crash.jpg", 99)
    unreadable_png(src / "crash.png", jpg.stat().st_size * 2)  # its primary, crashes
    home = tmp_path / "home"
    records = [orjson.loads(line) for line in run_index(home, src).splitlines()]
    opts = Options(storage=home / "storage", ml="off")
    workers = ClusterWorkers(opts, address)
    runner = Runner(opts, workers.jobs, work=crashing_decoder, cluster=workers)

    out = list(runner.run(records))

    errors = {r["path"]: r for r in out if r["type"] == "error"}
    entries = {f["path"]: r for r in out if r["type"] == "entry" for f in r["files"]}
    assert set(errors) == {"crash.png"}
    assert "worker process was killed (SIGSEGV)" in errors["crash.png"]["error"]
    assert set(entries) == {f"p{n:02}.jpg" for n in range(8)} | {"crash.jpg"}


def test_the_cpu_limit_holds_on_the_cluster(tmp_path, cluster):
    address, _ = cluster
    src = tmp_path / "src"
    for n in range(3):
        photo(src / f"p{n}.jpg", 500 + n)
    slow_png(src / "huge.png", 150_000_000)
    home = tmp_path / "home"
    code, records, err = run_extract(
        home, run_index(home, src), "--cpu-limit", "0.3", "--ml", "off", "--cluster", address
    )
    assert code == 1, err
    errors = {r["path"]: r for r in records if r["type"] == "error"}
    assert set(errors) == {"huge.png"}, errors
    assert "stopped after 0.3 CPU seconds ([extract] cpu_limit)" in errors["huge.png"]["error"]


def test_an_unreachable_cluster_is_one_line_and_exit_2(tmp_path):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    started = time.monotonic()
    code, records, err = run_extract(tmp_path / "home", b"", "--cluster", f"tcp://127.0.0.1:{port}")
    assert code == 2
    assert records == []
    assert err.strip().count("\n") == 0, err
    assert err.startswith(
        f"hg-extract: error: cannot reach the Dask scheduler at tcp://127.0.0.1:{port}"
    )
    assert time.monotonic() - started < 15


@pytest.mark.parametrize("where", ["flag", "config"])
def test_an_unreachable_cluster_falls_back_to_local_work_when_asked(tmp_path, where):
    home = tmp_path / "home"
    home.mkdir()
    address = f"tcp://127.0.0.1:{free_port()}"
    args = ["--cluster", address, "--ml", "off"]
    if where == "flag":
        args += ["--cluster-fallback", "local"]
    else:
        (home / "config.toml").write_text('[extract]\ncluster_fallback = "local"\n')
    for n in range(2):
        photo(tmp_path / f"src/p{n}.jpg", 900 + n)
    code, records, err = run_extract(home, run_index(home, tmp_path / "src"), *args)
    assert code == 0, err
    assert sorted(r["files"][0]["path"] for r in records if r["type"] == "entry") == [
        "p0.jpg",
        "p1.jpg",
    ]
    warning = next(line for line in err.splitlines() if "Dask" in line)
    assert warning.startswith(f"hg-extract: WARNING: cannot reach the Dask scheduler at {address}")
    assert warning.endswith("extracting on this machine instead (cluster_fallback = local)")
    assert (home / "storage").is_dir()


def test_the_cluster_keys_of_the_config_are_checked(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    (home / "config.toml").write_text('[extract]\ncluster_transfer = "nfs"\n')
    code, _, err = run_extract(home, b"")
    assert code == 2
    assert "cluster_transfer" in err and "shared, send" in err
    code, _, err = run_extract(tmp_path / "other", b"", "--cluster-fallback", "maybe")
    assert code == 2 and "--cluster-fallback" in err


def test_an_empty_cluster_flag_overrides_the_config(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    (home / "config.toml").write_text(f'[extract]\ncluster = "tcp://127.0.0.1:{free_port()}"\n')
    photo(tmp_path / "src/p.jpg", 1)
    code, records, err = run_extract(home, run_index(home, tmp_path / "src"), "--cluster", "")
    assert code == 0, err
    assert [r["files"][0]["path"] for r in records if r["type"] == "entry"] == ["p.jpg"]
    assert "Dask" not in err


def test_a_bad_cluster_address_in_the_config_is_a_config_error(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    (home / "config.toml").write_text('[extract]\ncluster = "myhost:8786"\n')
    code, _, err = run_extract(home, b"")
    assert code == 2
    assert "cluster" in err and "tcp://HOST:8786" in err


def test_task_keys_name_the_work_and_nothing_else():
    group_opts = Options(storage=Path("/s"))
    from hg_common.groups import Group

    def group(path: str, checksum: str) -> Group:
        return Group(({"checksum": checksum, "root": "/r", "path": path},), "image")

    a = task_key("extract", [group("a.jpg", "ab" * 32)], group_opts)
    assert a == task_key("extract", [group("a.jpg", "ab" * 32)], group_opts)
    assert a.startswith("hg-extract-abababababab-")
    assert a != task_key("extract", [group("copy/a.jpg", "ab" * 32)], group_opts)  # a copy
    assert a != task_key("transcode", [group("a.jpg", "ab" * 32)], group_opts)
    forced = Options(storage=Path("/s"), force=True)
    assert a != task_key("extract", [group("a.jpg", "ab" * 32)], forced)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_scheduler_lost_mid_run_ends_the_run_with_exit_2(tmp_path):
    """With `dask scheduler` and `dask worker` as a user starts them: the scheduler killed
    mid-run ends hg-extract in seconds (not a wait for ever), one line, exit 2; what it
    printed before stands, and no file got an error record or a failure memo for it."""
    port = free_port()
    scheduler = subprocess.Popen(
        [BIN / "dask", "scheduler", "--host", "127.0.0.1", "--port", str(port)]
        + ["--dashboard-address", ":0"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    worker = subprocess.Popen(
        [BIN / "dask", "worker", f"tcp://127.0.0.1:{port}", "--host", "127.0.0.1"]
        + ["--nworkers", "1", "--nthreads", "2"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        with Client(f"tcp://127.0.0.1:{port}", timeout=30) as client:
            client.wait_for_workers(1, timeout=60)
        src = tmp_path / "src"
        for n in range(64):
            photo(src / f"p{n:02}.jpg", 300 + n, (2400, 1600))
        home = tmp_path / "home"
        (tmp_path / "records").write_bytes(run_index(home, src))
        proc = subprocess.Popen(
            [BIN / "hg-extract", "--no-progress", "--no-geo", "--ml", "off"]
            + ["--cluster", f"tcp://127.0.0.1:{port}"],
            stdin=(tmp_path / "records").open("rb"),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=hg_env(home),
        )
        storage = home / "storage"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not list(storage.rglob("*-colors.json")):
            time.sleep(0.05)
        scheduler.kill()
        killed = time.monotonic()
        out, err = proc.communicate(timeout=120)
        took = time.monotonic() - killed
    finally:
        worker.terminate()
        scheduler.kill()
        worker.wait(30)
        scheduler.wait(30)
    assert proc.returncode == 2, err.decode()
    last = err.decode().strip().splitlines()[-1]
    assert last.startswith(f"hg-extract: error: lost the Dask scheduler at tcp://127.0.0.1:{port}")
    assert took < 30
    records = [orjson.loads(line) for line in out.splitlines()]
    assert not [r for r in records if r["type"] == "error"]
    assert not list(storage.rglob("*-failed.json"))
    entries = [r for r in records if r["type"] == "entry"]
    assert len(entries) < 64  # it was mid-run
    for entry in entries:  # each printed entry is whole
        assert entry["previews"] and (storage / entry["previews"][-1]).is_file()


def test_a_worker_that_mounts_the_files_elsewhere_maps_the_paths(tmp_path):
    """Originals and storage at other paths on the workers (HG_CLUSTER_PATHS): the workers
    read and write at theirs, the records name the files as hg-extract's machine does."""
    here, there = tmp_path / "nas", tmp_path / "mnt"
    for n in range(3):
        photo(here / "photos" / f"p{n}.jpg", 800 + n)
    home = tmp_path / "home"
    stdin = run_index(home, here / "photos")
    shutil.copytree(here / "photos", there / "photos")
    shutil.rmtree(here / "photos")  # gone at the client's path: only the map finds them
    paths = f"{here / 'photos'}={there / 'photos'};{home / 'storage'}={there / 'storage'}"
    with local_cluster(env={PATHS_ENV: paths}) as (address, _):
        code, records, err = run_extract(home, stdin, "--ml", "off", "--cluster", address)
    assert code == 0, err
    entries = [r for r in records if r["type"] == "entry"]
    assert sorted(r["files"][0]["path"] for r in entries) == ["p0.jpg", "p1.jpg", "p2.jpg"]
    assert {r["files"][0]["root"] for r in entries} == {str(here / "photos")}
    for entry in entries:  # written at the worker's storage path
        assert (there / "storage" / entry["previews"][-1]).is_file()
        assert not (home / "storage" / entry["previews"][-1]).exists()


def test_path_map():
    paths = PathMap.parse("/volume1/photos=/mnt/photos; /volume1/photos/2020=/mnt/2020/;")
    assert paths.path("/volume1/photos/a/b.jpg") == "/mnt/photos/a/b.jpg"
    assert paths.path("/volume1/photos/2020/x.jpg") == "/mnt/2020/x.jpg"  # the longest
    assert paths.path("/volume1/photos") == "/mnt/photos"
    assert paths.path("/volume1/photoshop/x") == "/volume1/photoshop/x"  # a whole name only
    assert paths.reverse().path("/mnt/photos/a.jpg") == "/volume1/photos/a.jpg"
    with pytest.raises(ValueError, match="HG_CLUSTER_PATHS"):
        PathMap.parse("photos=/mnt/photos")


HIDDEN_RUN = """
set -e
if [ "$HIDE" = 1 ]; then mount -t tmpfs hg-hidden "$HIDDEN"; fi
cp -a "$FIXTURES" "$HIDDEN/src"
HG_HOME="$HIDDEN/home" hg-index "$HIDDEN/src" > "$HIDDEN/records" || [ $? = 1 ]
set +e
export HG_HOME="$HIDDEN/home"
hg-extract --no-progress "$@" < "$HIDDEN/records" > "$OUT/out" 2> "$OUT/err"
echo $? > "$OUT/code"
hg-extract --no-progress "$@" < "$HIDDEN/records" > "$OUT/again" 2> "$OUT/err2"
cp -a "$HIDDEN/home/storage" "$OUT/storage"
"""
"""hg-index | hg-extract (twice: the second run finds it all stored) on a copy of the
fixtures at $HIDDEN; with HIDE=1 in a mount
namespace of its own (`unshare -m`), where $HIDDEN is a tmpfs that no other process sees:
not the Dask workers, started outside it."""


def can_hide() -> bool:
    """Whether this machine lets us make a mount namespace (root, or CAP_SYS_ADMIN)."""
    if not shutil.which("unshare"):
        return False
    probe = subprocess.run(
        ["unshare", "-m", "sh", "-c", "mount -t tmpfs none /mnt"], capture_output=True
    )
    return probe.returncode == 0


def hidden_run(tmp_path: Path, name: str, hide: bool, *args: str) -> tuple[int, list, str, Path]:
    """(exit status, records, stderr) of the first run, the copy of the storage; the
    second run's records are in `again` beside it."""
    hidden, out = tmp_path / "hidden", tmp_path / name
    hidden.mkdir(exist_ok=True)
    out.mkdir()
    if not hide:
        shutil.rmtree(hidden)
        hidden.mkdir()
    env = {**hg_env(tmp_path), "HIDE": "1" if hide else "0", "HIDDEN": str(hidden)}
    env.update(OUT=str(out), FIXTURES=str(FIXTURES))
    cmd = ["sh", "-c", HIDDEN_RUN, "sh", *args]
    subprocess.run(["unshare", "-m", *cmd] if hide else cmd, env=env, check=True, timeout=600)
    records = [orjson.loads(line) for line in (out / "out").read_bytes().splitlines()]
    code = int((out / "code").read_text())
    return code, records, (out / "err").read_text(), out / "storage"


def test_send_mode_makes_what_a_local_run_makes_on_workers_that_see_nothing(tmp_path):
    """`--cluster-transfer send`: the workers get the originals' bytes with each task and
    send the artefacts back; the records and the storage are a local run's. hg-extract
    runs where its files are on a tmpfs in a mount namespace of its own, so the Dask
    workers could not open them if they tried; their path map points nowhere as well."""
    hide = can_hide()
    hidden = tmp_path / "hidden"
    nowhere = f"{hidden}=/nonexistent/hidden"
    local = hidden_run(tmp_path, "local", hide, "--jobs", "2")
    with local_cluster(env={PATHS_ENV: nowhere}) as (address, _):
        remote = hidden_run(
            tmp_path, "remote", hide, "--cluster", address, "--cluster-transfer", "send", "-v"
        )
    if hide:  # the client's files were in its own namespace only
        assert not (hidden / "src").exists()
    code, records, err, storage = remote
    assert code == local[0] == 1, err  # the broken samples
    assert "files sent with each task" in err
    assert any(r["type"] == "entry" and r.get("video") for r in records)  # transcoded
    assert any(r["type"] == "ml" for r in records)
    assert sum(r["type"] == "error" for r in records) >= 3

    def lines(recs: list) -> list[bytes]:
        return sorted(without_timestamps(orjson.dumps(r)) for r in recs)

    assert lines(records) == lines(local[1])
    assert [r["id"] for r in records if r["type"] == "entry"] == [
        r["id"] for r in local[1] if r["type"] == "entry"
    ]
    # the two runs' copies of the originals were made at different times (their inode
    # change times differ); each file's other bytes are the same
    sent, made_here = (
        {
            k: v if isinstance(v, bytes) else {**v, "FileInodeChangeDate": "-"}
            for k, v in storage_files(where).items()
        }
        for where in (storage, local[3])
    )
    assert len(sent) > 100
    assert sent.keys() == made_here.keys()
    for name in sent:
        assert sent[name] == made_here[name], name
    # a second run reads what is stored (sent as names or small JSON) and makes nothing
    again = [(tmp_path / run / "again").read_bytes().splitlines() for run in ("remote", "local")]
    assert len(again[0]) > 40
    assert sorted(map(without_timestamps, again[0])) == sorted(map(without_timestamps, again[1]))
    assert not any(b'"type":"ml"' in line for line in again[0])
