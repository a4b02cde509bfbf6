"""Import speed: time to the first entry in the database, wall time, CPU seconds and peak
memory of the chunked import (`bin/hg-import`: HomeGallery's batches, deferred index
commits) against one non-chunked pass (`hg-index | hg-extract | hg-build`), on the same
generated archive, in the same run; with `--homegallery DIR`, also HomeGallery's
`gallery run import` (a checkout built per ../shared/reference/homegallery-anchor.md; AI
and geo off), interleaved with hg's runs, round after round.

The archive: N JPEGs copied with 4 different bytes appended after the image, so every copy
has its own checksum and is extracted as a new photo, 100 per folder: `--corpus camera`
(11 camera photos of 2-12 MP, ~1.3 MB average) or `--corpus samples` (the 87 JPEGs of
exif-samples, ~0.29 MB average: issue 15's 1,000-JPEG corpus) or `--corpus faces` (the
camera photos alternating with the five portraits of tests/fixtures/media/faces, so the
face pass finds faces).

CPU seconds: user + sys of the run and every process it waited for (os.wait4). Peak memory:
the largest sum of PSS over the run's process tree (sampled every 0.25 s; PSS shares the
forked workers' common pages, so the sum is what the run takes). The machine's load is
printed for every run: the machine is shared, so wall times move with it; CPU seconds
hardly. At the peak, the PSS by process (hg-extract, its forked workers, exiftool, ...).
`--cron K`: afterwards, K new files into the chunked run's gallery, imported again (a cron
run). `--first-photo`: hg-serve is started on each fresh home before the import, "first
entry" is when its `/api/entries` first counts a photo (what the web app shows), and the
import is stopped then (issue 15's 10 s at 10k: `--files 10000 --corpus samples`).

Targets (issue 15): chunked total <= 1.15x the single pass; first entry < 60 s (10 s for a
10k archive); hg-import CPU <= 1/3 of HomeGallery's and wall >= 3x faster (quiet machine);
peak memory < 600 MB; a cron run with a handful of new files in seconds.

Usage: python bench/import.py [--files 5000] [--corpus camera|samples|faces] [--rounds 1]
       [--ml local|off] [--homegallery DIR] [--no-single] [--cron K] [--tools DIR]
       [--workdir DIR] [--keep] [--first-photo]
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from hg_common.home import DATABASE

ROOT = Path(__file__).resolve().parents[1]
MEDIA = ROOT / ".." / "shared" / "media" / "exif-samples" / "jpg"
FACES = ROOT / "tests" / "fixtures" / "media" / "faces"
TOOLS = {"root": ROOT, "bin": Path(sys.executable).parent}
"""The checkout whose tools run (`--tools DIR`: e.g. main's, for a before/after)."""
PHOTOS = [
    "Reconyx_HC500_Hyperfire.jpg",
    "hdr/canon_hdr_NO.jpg",
    "hdr/canon_hdr_YES.jpg",
    "hdr/iphone_hdr_NO.jpg",
    "hdr/iphone_hdr_YES.jpg",
    "mobile/HMD_Nokia_8.3_5G.jpg",
    "mobile/jolla.jpg",
    "tests/28-hex_value.jpg",
    "tests/35-empty.jpg",
    "tests/42_IndexError.jpg",
    "tests/87_OSError.jpg",
]


def corpus(name: str) -> list[bytes]:
    if name == "samples":
        return [p.read_bytes() for p in sorted(MEDIA.rglob("*")) if p.suffix.lower() == ".jpg"]
    blobs = [(MEDIA / p).read_bytes() for p in PHOTOS]
    if name == "faces":  # the camera photos and the fixtures' five portraits, alternating
        faces = [p.read_bytes() for p in sorted(FACES.glob("*.jpg"))]
        blobs = [b for pair in zip(blobs, faces * 3, strict=False) for b in pair]
    return blobs


def make_archive(root: Path, count: int, name: str = "camera", first: int = 0) -> int:
    """`count` copies, each with its own appended bytes; returns the total size."""
    blobs = corpus(name)
    total = 0
    for i in range(first, first + count):
        folder = root / f"folder{i // 100:03d}"
        folder.mkdir(parents=True, exist_ok=True)
        data = blobs[i % len(blobs)] + i.to_bytes(4, "big")
        (folder / f"IMG_{i:05d}.jpg").write_bytes(data)
        total += len(data)
    return total


def entries(db: Path) -> int:
    if not db.exists():
        return 0
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1)
        try:
            return conn.execute("SELECT count(*) FROM entries").fetchone()[0]
        finally:
            conn.close()
    except sqlite3.Error:
        return 0


def hg_entries(db: Path) -> int:
    """Entries of a HomeGallery database (gzipped JSON, `data` a list); -1 if unreadable."""
    try:
        return len(json.loads(gzip.decompress(db.read_bytes()))["data"])
    except (OSError, ValueError, KeyError, TypeError):
        return -1


def _label(pid: int) -> str:
    """A process's name for the breakdown: the script a Python runs, else the program."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            argv = [a.decode(errors="replace") for a in f.read().split(b"\0") if a]
    except OSError:
        return "?"
    if not argv:
        return "?"
    name = os.path.basename(argv[0])
    if name.startswith("python") and len(argv) > 1:
        name = os.path.basename(argv[2] if argv[1] == "-m" and len(argv) > 2 else argv[1])
    if name == "perl" and any("exiftool" in a for a in argv[1:]):
        name = "exiftool"
    return name


def tree_pss(root: int) -> tuple[int, dict[str, int]]:
    """Bytes of PSS of `root` and all its descendants (now), and the same by process name
    (a forked child of the same program counted as its `worker`)."""
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        ppid = int(stat[stat.rindex(b")") + 2 :].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    total, by_name = 0, {}
    todo: list[tuple[int, str]] = [(root, "")]
    while todo:
        pid, parent = todo.pop()
        name = _label(pid)
        if name == parent or name == parent.removesuffix(" worker") + " worker":
            name = parent.removesuffix(" worker") + " worker"
        todo += [(c, name) for c in children.get(pid, [])]
        try:
            with open(f"/proc/{pid}/smaps_rollup", "rb") as f:
                for line in f:
                    if line.startswith(b"Pss:"):
                        pss = int(line.split()[1]) * 1024
                        total += pss
                        by_name[name] = by_name.get(name, 0) + pss
                        break
        except OSError:
            pass
    return total, by_name


def measured(
    cmd: list[str] | str, log: Path, env: dict, shell=False, cwd=None, first=None, stop=False
):
    """Run `cmd`; wall, CPU (user + sys of it and what it waited for), peak PSS of its
    tree, mean load, exit; `first()` polled for the time of the first entry (`stop`: the
    run's process group is ended then, the rest of the import is not waited for)."""
    out = open(log, "w")  # noqa: SIM115
    start = time.monotonic()
    proc = subprocess.Popen(
        cmd, shell=shell, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=out,
        start_new_session=stop,
    )  # fmt: skip
    stopped = False
    first_at = None
    loads, peak, at_peak = [], 0, {}
    next_load = next_mem = start
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        now = time.monotonic()
        if now >= next_load:
            loads.append(os.getloadavg()[0])
            next_load += 5
        if now >= next_mem:
            pss, by_name = tree_pss(proc.pid)
            if pss > peak:
                peak, at_peak = pss, by_name
            next_mem = now + 0.25
        if first is not None and first_at is None and first() > 0:
            first_at = time.monotonic() - start
        if stop and first_at is not None and not stopped:
            os.killpg(proc.pid, signal.SIGTERM)
            stopped = True
        time.sleep(0.05)
    total = time.monotonic() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    out.close()
    return {
        "exit": proc.returncode,
        "first": first_at,
        "total": total,
        "cpu": usage.ru_utime + usage.ru_stime,
        "peak": peak,
        "at_peak": at_peak,
        "maxrss": usage.ru_maxrss * 1024,
        "load": sum(loads) / len(loads) if loads else os.getloadavg()[0],
        "stopped": stopped,
    }


def hg_env(home: Path) -> dict:
    path = f"{TOOLS['bin']}{os.pathsep}{os.environ['PATH']}"
    return {**os.environ, "HG_HOME": str(home), "PATH": path}


def run_hg(name: str, src: Path, work: Path, rnd: int, ml: str, first_photo=False) -> dict:
    home = work / f"{name}-{rnd}"
    home.mkdir()
    (home / "config.toml").write_text(f'[extract]\nml = "{ml}"\n')
    if name == "chunked":
        cmd: list[str] | str = [str(TOOLS["root"] / "bin" / "hg-import"), "-q", str(src)]
    else:
        cmd = f"hg-index -q {src} | hg-extract -q | hg-build -q"
    db = home / DATABASE
    first = lambda: entries(db)  # noqa: E731
    serve = None
    if first_photo:  # the first photo as the web app sees it: hg-serve's /api/entries
        serve, url = start_serve(home, work / f"{home.name}-serve.log")
        first = lambda: api_total(url)  # noqa: E731
    try:
        r = measured(cmd, work / f"{home.name}.log", hg_env(home), name != "chunked", None,
                     first, stop=first_photo)  # fmt: skip
    finally:
        if serve is not None:
            serve.terminate()
            serve.wait()
    r["entries"] = entries(db)
    r["home"] = home
    return r


def start_serve(home: Path, log: Path) -> tuple[subprocess.Popen, str]:
    """hg-serve on the (empty) home, answering before the import starts."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [str(TOOLS["bin"] / "hg-serve"), "-q", "--port", str(port)],
        env=hg_env(home), stdout=subprocess.DEVNULL, stderr=open(log, "w"),  # noqa: SIM115
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}/api/entries?limit=1"
    deadline = time.monotonic() + 60
    while api_total(url) < 0:
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise SystemExit(f"hg-serve did not start: see {log}")
        time.sleep(0.2)
    return proc, url


def api_total(url: str) -> int:
    """`total` of hg-serve's /api/entries; -1 when it does not answer."""
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return int(json.loads(resp.read())["total"])
    except (OSError, ValueError, KeyError):
        return -1


HG_CONFIG = """\
baseDir: {run}
configDir: '{{baseDir}}/config'
cacheDir: '{{baseDir}}/cache'
sources: [{{dir: {src}, index: '{{configDir}}/corpus.idx'}}]
extractor:
  apiServer:
    url: 'http://127.0.0.1:9'
    disable: [similarDetection, objectDetection, faceDetection]
  geoReverse: {{url: 'http://127.0.0.1:9'}}
  useNative: [ffprobe, ffmpeg]
pluginManager: {{disabled: [geoAddressExtractor, aiExtractor]}}
server: {{host: 127.0.0.1, port: 3100, openBrowser: false}}
"""


def run_homegallery(checkout: Path, src: Path, work: Path, rnd: int) -> dict:
    """HomeGallery's `gallery run import` (index, extract, database) into its own dir."""
    run = work / f"homegallery-{rnd}"
    (run / "config").mkdir(parents=True)
    config = run / "gallery.config.yml"
    config.write_text(HG_CONFIG.format(run=run, src=src))
    cmd = ["node", str(checkout / "gallery.js"), "-c", str(config), "run", "import"]
    db = run / "config" / "database.db"
    r = measured(cmd, work / f"homegallery-{rnd}.log", dict(os.environ), cwd=checkout,
                 first=lambda: int(db.exists()))  # fmt: skip
    r["entries"] = hg_entries(db)
    return r


def show(name: str, r: dict, files: int) -> None:
    first = f"{r['first']:.1f} s" if r["first"] is not None else "-"
    rate = "stopped then" if r.get("stopped") else f"{files / r['total']:.1f} files/s"
    print(
        f"{name:12s} exit {r['exit']}, first entry {first}, wall {r['total']:.1f} s, "
        f"CPU {r['cpu']:.1f} s, peak PSS {r['peak'] / 2**20:.0f} MiB (largest process "
        f"{r['maxrss'] / 2**20:.0f} MiB), {rate}, {r['entries']} entries, "
        f"mean load {r['load']:.2f}",
        flush=True,
    )
    if r.get("at_peak"):
        parts = sorted(r["at_peak"].items(), key=lambda kv: -kv[1])
        print("   at the peak: " + ", ".join(f"{k} {v / 2**20:.0f}" for k, v in parts) + " MiB")


def mean(runs: list[dict], key: str) -> float:
    """The mean over the runs; NaN when a run has no figure (a one-pass run's first entry is
    its end: a fresh hg-build writes a temp database and renames it when done)."""
    values = [r[key] for r in runs]
    return float("nan") if None in values else sum(values) / len(values)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--files", type=int, default=5000)
    ap.add_argument("--corpus", choices=("camera", "samples", "faces"), default="camera")
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument(
        "--ml",
        choices=("local", "off"),
        default="local",
        help="hg-extract's ML step ([extract] ml); off for a fair HomeGallery comparison "
        "(its AI is off)",
    )
    ap.add_argument("--homegallery", type=Path, help="a HomeGallery checkout, built")
    ap.add_argument("--no-single", action="store_true", help="no one-pass run")
    ap.add_argument("--cron", type=int, default=0, help="then import K new files again")
    ap.add_argument("--tools", type=Path, help="run this checkout's tools (its .venv)")
    ap.add_argument("--workdir", type=Path)
    ap.add_argument("--keep", action="store_true", help="keep the archive and homes")
    ap.add_argument(
        "--first-photo",
        action="store_true",
        help="time until hg-serve's /api/entries (started on the fresh home before the "
        "import) shows the first photo, then stop the import (issue 15: < 10 s at 10k)",
    )
    args = ap.parse_args()
    if args.tools:
        TOOLS.update(root=args.tools.resolve(), bin=args.tools.resolve() / ".venv" / "bin")
    work = Path(tempfile.mkdtemp(prefix="hg-bench-import-", dir=args.workdir))
    ok = True
    try:
        src = work / "src"
        t = time.monotonic()
        size = make_archive(src, args.files, args.corpus)
        print(
            f"archive: {args.files} JPEGs ({args.corpus}), {size / 2**20:.0f} MiB in "
            f"{time.monotonic() - t:.0f} s"
        )
        print(f"machine: {platform.platform()}, {os.cpu_count()} cores, load {os.getloadavg()}")
        print(f"hg: {TOOLS['root']}, [extract] ml = {args.ml!r}")
        names = ["chunked"] + ([] if args.no_single else ["single"])
        if args.homegallery:
            names.append("homegallery")
        runs: dict[str, list[dict]] = {n: [] for n in names}
        for rnd in range(args.rounds):
            order = names if rnd % 2 == 0 else names[::-1]  # interleaved: neither always first
            for name in order:
                if name == "homegallery":
                    r = run_homegallery(args.homegallery.resolve(), src, work, rnd)
                else:
                    r = run_hg(name, src, work, rnd, args.ml, args.first_photo)
                runs[name].append(r)
                show(f"{name} #{rnd + 1}", r, args.files)
                ok &= (
                    r["entries"] == args.files
                    or name == "homegallery"
                    or (args.first_photo and r["first"] is not None)
                )
        print(f"load now {os.getloadavg()}")
        if "single" in runs:
            ratio = mean(runs["chunked"], "total") / mean(runs["single"], "total")
            cpu = mean(runs["chunked"], "cpu") / mean(runs["single"], "cpu")
            print(
                f"chunked/single: wall {ratio:.2f}x (target <= 1.15x), CPU {cpu:.2f}x; first "
                f"entry chunked {mean(runs['chunked'], 'first'):.1f} s vs single "
                f"{mean(runs['single'], 'first'):.1f} s"
            )
        if "homegallery" in runs:
            hg, other = runs["chunked"], runs["homegallery"]
            print(
                f"hg-import/HomeGallery: wall {mean(hg, 'total') / mean(other, 'total'):.2f}x "
                f"(HomeGallery {mean(other, 'total') / mean(hg, 'total'):.2f}x slower; target "
                f">= 3x), CPU {mean(hg, 'cpu') / mean(other, 'cpu'):.2f}x (target <= 0.33x), "
                f"peak PSS {mean(hg, 'peak') / 2**20:.0f} vs {mean(other, 'peak') / 2**20:.0f} "
                "MiB"
            )
        if args.cron:
            home = runs["chunked"][-1]["home"]
            make_archive(src / "new", args.cron, args.corpus, first=args.files)
            r = measured([str(TOOLS["root"] / "bin" / "hg-import"), "-q", str(src)],
                         work / "cron.log", hg_env(home))  # fmt: skip
            r["entries"] = entries(home / DATABASE)
            show(f"cron +{args.cron}", r, args.cron)
            ok &= r["entries"] == args.files + args.cron
        return 0 if ok else 1
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
