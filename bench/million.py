"""A gallery of a million entries (issue 19): is hg still fast at that size?

Each part is selectable (`--only build,upsert,query,serve,similar,rescan`) and the size is
`--entries`, so a run at 100k is quick and one at 1,000,000 possible:

- build: the real `hg-build` executable reads a synthetic NDJSON file (bench/build.py's
  generator, in blocks with unique paths) into a fresh database: wall time and the peak
  RSS of its process tree (the main process and its worker processes, summed, sampled
  every 0.1 s from /proc). Target: flat memory, < 1 GB.
- upsert: an incremental chunk of 500 new entries, then the same 500 again (updates),
  through hg-build's Builder on the built database.
- query: the HomeGallery grammar's common forms through `hg_serve.Gallery.page` (what
  `GET /api/entries` runs: count + 500 grid items), p50/p95. Target p95 < 100 ms. `first`
  is the first call of each form, which reads its terms into the counts' cache
  (`hg_build.facets`); then what that cache read and holds, and each count alone from SQL
  and from the cache.
- serve: the real `hg-serve` over HTTP as the web app calls it: its first page
  (`/api/entries?offset=0&limit=500`), the years page (`/api/years`), and a year jump to
  the middle and the oldest year: the timeline loads its chunks (500, then 2000) from the
  year's offset that `/api/years` gives, and the chunk before it when scrolled up
  (static/timeline.js `jumpToYear`, `loadBefore`); each request timed. Target: first page
  p95 < 100 ms.
- similar: `similar:<id>` through `Gallery.page` with a clustered 720-d vector per entry
  (bench/similar.py's generator) on `--similar-entries` entries (default: all), and the
  numpy product alone over `--entries` random vectors (what the route costs at that size).
- rescan: `hg-index` over a tree of `--entries` tiny files (8 bytes each, in folders of
  200), first scan, then the re-scan of the unchanged tree (stat only), median of 3.
  Target < 30 s at 1M. The tree is deleted afterwards.

Every figure is printed with the machine's load (os.getloadavg), which moves them.
Usage: .venv/bin/python bench/million.py [--entries 100000] [--only build,query] [--dir D]
"""

from __future__ import annotations

import argparse
import http.client
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.build import pct, synthetic  # noqa: E402
from bench.index import run_hg_index, run_measured  # noqa: E402
from bench.serve import get, rss_kib, start_server  # noqa: E402
from hg_build import db, facets  # noqa: E402
from hg_build.build import Builder  # noqa: E402
from hg_build.query.filtered import compile_filtered  # noqa: E402
from hg_build.query.search import count  # noqa: E402
from hg_common.home import DATABASE, EVENTS  # noqa: E402
from hg_serve.gallery import Gallery  # noqa: E402

PARTS = ("build", "upsert", "query", "serve", "similar", "rescan")
BLOCK = 10_000
"""Entries per generator call: synthetic() holds its list, so the file is written in blocks."""
QUERIES = [  # (form, query): the grammar's common forms
    ("all, newest first", ""),
    ("free text", "beach"),
    ("free text, phrase", '"New York"'),
    ("tag:", "tag:holiday"),
    ("year:", "year:2015"),
    ("date range", "date in [2020-03-01:2020-05-31]"),
    ("geo: near:", "near:49.41,8.70,5km"),
    ("geo: exists", "exists(geo)"),
    ("not", "not tag:private"),
    ("free text + not", '"New York" not private'),
    ("and", "tag:beach and year:2020"),
    ("or", "tag:dog or tag:cat"),
    ("and/or/not nested", "(tag:dog or tag:cat) and year >= 2018 and not tag:night"),
    ("camera + number", "make:canon and iso > 800"),
    # hits bunched at the far end of the date order: a walk of the date index reads most
    # rows before its first hit (docs/benchmarks.md, "Pages: which route")
    ("bunched: text + year", "beach and year <= 2006"),
    ("bunched: or + year", "(tag:dog or tag:cat) and year <= 2006"),
    ("bunched: newest", "beach and year >= 2022"),
]
CHUNKS = (500, 2000, 5000)
"""The web app's timeline chunks (hg_serve/static/timeline.js)."""


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def say(text: str) -> None:
    print(f"{text}  [load {load()}]", flush=True)


def records(n: int, seed: int = 1):
    """n synthetic entries, BLOCK at a time, with globally unique paths (synthetic() numbers
    its files from 0 in every call)."""
    for start in range(0, n, BLOCK):
        block = synthetic(min(BLOCK, n - start), seed=seed * 100_000 + start // BLOCK)
        for j, r in enumerate(block):
            g = start + j
            for f in r["files"]:
                year, _, rest = f["path"].partition("/")
                f["path"] = f"{year}/s{seed}/d{g // 200}/IMG_{g}.{rest.rsplit('.', 1)[1]}"
            yield r


def write_input(path: Path, n: int) -> float:
    t0 = time.perf_counter()
    with open(path, "wb") as f:
        for r in records(n):
            f.write(orjson.dumps(r) + b"\n")
    return time.perf_counter() - t0


def tree_rss(pid: int) -> tuple[int, int]:
    """(RSS of pid, RSS of pid and all its descendants) in KiB, from /proc."""
    total = own = 0
    stack = [pid]
    while stack:
        p = stack.pop()
        try:
            kib = rss_kib(p).get("VmRSS", 0)
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as fh:
                    stack += [int(c) for c in fh.read().split()]
        except (OSError, ValueError):
            continue
        total += kib
        own = own or kib
    return own, total


def part_build(home: Path, n: int) -> None:
    ndjson = home / "input.ndjson"
    gen_s = write_input(ndjson, n)
    say(f"build: input written ({n:,} entries, {ndjson.stat().st_size / 1e6:,.0f} MB) "
        f"in {gen_s:.0f} s")  # fmt: skip
    exe = Path(sys.executable).parent / "hg-build"
    env = {k: v for k, v in os.environ.items() if not k.startswith("HG_")}
    peak_own = peak_tree = 0
    samples: list[int] = []
    t0 = time.perf_counter()
    with open(ndjson, "rb") as stdin:
        proc = subprocess.Popen(
            [str(exe), "--home", str(home), "-q"], stdin=stdin, stdout=subprocess.DEVNULL, env=env
        )
        while proc.poll() is None:
            own, total = tree_rss(proc.pid)
            peak_own, peak_tree = max(peak_own, own), max(peak_tree, total)
            samples.append(total)
            time.sleep(0.1)
    build_s = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.exit(f"hg-build failed: exit {proc.returncode}")
    ndjson.unlink()
    # memory over time: the tree's RSS at each tenth of the run (flat = does not grow with n)
    tenths = [samples[min(len(samples) - 1, len(samples) * k // 10)] >> 10 for k in range(1, 11)]
    size = (home / DATABASE).stat().st_size
    say(f"build: hg-build first build {build_s:.1f} s ({n / build_s:,.0f} entries/s); "
        f"peak RSS {peak_tree / 1024:.0f} MB (main process + workers), main alone "
        f"{peak_own / 1024:.0f} MB; database {size / 1e6:,.0f} MB")  # fmt: skip
    say(f"build: tree RSS (MB) at each tenth of the run: {tenths}")


def part_upsert(home: Path, n: int) -> None:
    conn = db.open_database(home / DATABASE)
    builder = Builder(conn, lambda r: None)
    new = list(records(500, seed=7))  # seeds 7, and below: ids and paths not in the gallery
    times = []
    for label, chunk in (("500 new", new), ("the same 500 again", new)):
        t0 = time.perf_counter()
        builder.apply_chunk(chunk)
        times.append(f"{label} {(time.perf_counter() - t0) * 1000:.0f} ms")
    conn.close()
    say(f"upsert at {n:,} entries: " + ", ".join(times))


def part_query(home: Path, repeat: int) -> None:
    gallery = Gallery(home / DATABASE, home / EVENTS, readers=1)
    say(f"query: Gallery.page (count + 500 grid items), {repeat} runs each, after one warm-up")
    print(f"  {'form':22} {'query':58} {'total':>8} {'p50 ms':>8} {'p95 ms':>8} {'first':>8}")
    worst = 0.0
    for form, q in QUERIES:
        t0 = time.perf_counter()  # the first: reads the cached counts' columns (facets)
        out = gallery.page(q, (), 0, 500)
        first = (time.perf_counter() - t0) * 1000
        times = []
        for _ in range(repeat):
            t0 = time.perf_counter()
            gallery.page(q, (), 0, 500)
            times.append((time.perf_counter() - t0) * 1000)
        worst = max(worst, pct(times, 95))
        print(f"  {form:22} {q or '-':58} {out['total']:>8,} {pct(times, 50):8.1f} "
              f"{pct(times, 95):8.1f} {first:8.1f}", flush=True)  # fmt: skip
    gallery.close()
    say(f"query: worst p95 {worst:.1f} ms (target < 100 ms)")
    held = facets._cache.get(str(home / DATABASE))
    if held is not None:  # what the counts' cache read (once per database state) and holds
        loads = ", ".join(f"{k} {v * 1000:.0f}" for k, v in held.loads.items())
        say(f"query: counts' cache (hg_build.facets) holds {held.nbytes() / 1e6:.1f} MB, "
            f"read in {sum(held.loads.values()):.2f} s: {loads} ms")  # fmt: skip
        sql_vs_cached(home)


def sql_vs_cached(home: Path) -> None:
    """The count alone, SQL and from the cache, for the forms the cache counts."""
    conn = db.connect(home / DATABASE, readonly=True)
    print(f"  {'query':58} {'SQL ms':>8} {'cached ms':>9}")
    for _form, q in QUERIES:
        c = compile_filtered(q)
        if c.terms is None or facets.count(conn, c.terms) is None:
            continue
        t0 = time.perf_counter()
        n_sql = count(conn, c)
        t1 = time.perf_counter()
        n_cached = count(conn, c, cached=True)
        t2 = time.perf_counter()
        assert n_sql == n_cached, (q, n_sql, n_cached)
        print(f"  {q:58} {(t1 - t0) * 1000:8.1f} {(t2 - t1) * 1000:9.1f}", flush=True)
    conn.close()


def part_serve(home: Path, repeat: int) -> None:
    proc, port = start_server(home)
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
        t0 = time.perf_counter()
        get(conn, "/api/info")
        get(conn, "/api/entries?offset=0&limit=500")
        say(f"serve: the very first page after start {(time.perf_counter() - t0) * 1000:.0f} ms")
        for name, path in (
            ("first page", "/api/entries?offset=0&limit=500"),
            ("years", "/api/years"),
            ("first page, q=year:2010", "/api/entries?q=year%3A2010&offset=0&limit=500"),
        ):
            cold, cached, nbytes = [], [], 0
            for i in range(repeat):  # cold: another dummy parameter, the answer cache misses
                elapsed, nbytes = get(conn, f"{path}&nocache={i}" if "?" in path
                                      else f"{path}?nocache={i}")  # fmt: skip
                cold.append(elapsed * 1000)
                cached.append(get(conn, path)[0] * 1000)
            say(f"serve: {name:24} {nbytes:>9,} B  cold p50 {pct(cold, 50):6.1f} p95 "
                f"{pct(cold, 95):6.1f} ms; cached p50 {pct(cached, 50):6.1f} p95 "
                f"{pct(cached, 95):6.1f} ms")  # fmt: skip
        # the year jump (static/timeline.js jumpToYear): /api/years gives the year's offset,
        # the timeline loads its chunks from there; scrolled up, the chunk before it
        years = orjson.loads(_body(conn, "/api/years"))
        for label, year in (("the middle year", years[len(years) // 2]), ("the oldest", years[-1])):
            offset = year["offset"]
            for name, path in (
                ("first chunk", f"/api/entries?offset={offset}&limit={CHUNKS[0]}"),
                ("next chunk", f"/api/entries?offset={offset + CHUNKS[0]}&limit={CHUNKS[1]}"),
                ("chunk before", f"/api/entries?offset={max(0, offset - CHUNKS[1])}"
                                 f"&limit={min(offset, CHUNKS[1])}"),
            ):  # fmt: skip
                times = [get(conn, f"{path}&nocache=jump{i}")[0] * 1000 for i in range(repeat)]
                say(f"serve: year jump to {year['year']} ({label}, offset {offset:,}): {name} "
                    f"p50 {pct(times, 50):.0f} ms, p95 {pct(times, 95):.0f} ms")  # fmt: skip
        mem = rss_kib(proc.pid)
        say(f"serve: server RSS {mem['VmRSS'] >> 10} MB, peak {mem['VmHWM'] >> 10} MB")
        conn.close()
    finally:
        proc.terminate()
        proc.wait(10)


def _body(conn: http.client.HTTPConnection, path: str) -> bytes:
    conn.request("GET", path)  # no gzip: the body is parsed here
    resp = conn.getresponse()
    body = resp.read()
    if resp.status != 200:
        sys.exit(f"{path}: HTTP {resp.status} {body[:200]!r}")
    return body


def part_similar(home: Path, n: int, similar_n: int, repeat: int) -> None:
    import numpy as np

    from bench.similar import DIM, add_vectors

    path = home / DATABASE
    if similar_n < n:  # a smaller gallery of its own, so the vectors take minutes, not hours
        path = home / "similar" / DATABASE
        path.parent.mkdir(exist_ok=True)
        conn = db.open_database(path)
        builder = Builder(conn, lambda r: None)
        batch = []
        for r in records(similar_n, seed=3):
            batch.append(r)
            if len(batch) == 500:
                builder.apply_chunk(batch)
                batch = []
        builder.apply_chunk(batch)
        conn.close()
    added = add_vectors(path, clusters=max(20, similar_n // 50))
    say(f"similar: {similar_n:,} vectors of {DIM} added in {added:.0f} s")
    gallery = Gallery(path, path.parent / EVENTS, readers=1)
    conn = db.connect(path, readonly=True)
    ids = [r[0] for r in conn.execute("SELECT id FROM entries WHERE similarity IS NOT NULL")]
    conn.close()
    rng = np.random.default_rng(5)
    seeds = [ids[k] for k in rng.choice(len(ids), repeat + 1, replace=False)]
    t0 = time.perf_counter()
    gallery.page(f"similar:{seeds.pop()}", (), 0, 500)
    first = (time.perf_counter() - t0) * 1000
    times, hits = [], []
    for s in seeds:
        t0 = time.perf_counter()
        out = gallery.page(f"similar:{s}", (), 0, 500)
        times.append((time.perf_counter() - t0) * 1000)
        hits.append(out["total"])
    gallery.close()
    say(f"similar: page(similar:ID) over {similar_n:,} vectors: first (reads the matrix) "
        f"{first:.0f} ms; then p50 {pct(times, 50):.1f} ms, p95 {pct(times, 95):.1f} ms "
        f"({repeat} seeds, median {pct(hits, 50):.0f} hits)")  # fmt: skip
    # the product alone at the full size: what the numpy route must do per new seed
    matrix = rng.standard_normal((n, DIM), dtype=np.float32)
    matrix /= np.linalg.norm(matrix, axis=1)[:, None]
    prod = []
    for k in range(10):
        t0 = time.perf_counter()
        scores = matrix @ matrix[k]
        np.flatnonzero(scores >= 0.5)
        prod.append((time.perf_counter() - t0) * 1000)
    say(f"similar: the numpy product alone over {n:,} x {DIM} float32 "
        f"({matrix.nbytes / 1e9:.2f} GB): p50 {pct(prod, 50):.0f} ms, "
        f"p95 {pct(prod, 95):.0f} ms")  # fmt: skip


def cpu(run) -> str:
    """user + system seconds (GNU time): what the run costs on a machine of its own; the
    wall time on a shared one waits for a core too."""
    return "n/a" if run.cpu_seconds is None else f"{run.cpu_seconds:.1f} s"


def part_rescan(base: Path, n: int) -> None:
    root = base / "tree"
    t0 = time.perf_counter()
    for i in range(n):
        if i % 200 == 0:
            folder = root / f"{2000 + i // 50_000}" / f"event-{i // 200:05d}"
            folder.mkdir(parents=True)
        with open(folder / f"IMG_{i:07d}.jpg", "wb") as f:
            f.write(i.to_bytes(8, "little"))  # unique content: no two files are copies
    os.sync()
    say(f"rescan: tree of {n:,} files written in {time.perf_counter() - t0:.0f} s")
    home = base / "index-home"
    first = run_hg_index(root, home)
    say(f"rescan: hg-index first scan {first.seconds:.1f} s (CPU {cpu(first)}), "
        f"RSS {first.max_rss_mb:.0f} MB")  # fmt: skip
    runs = sorted((run_hg_index(root, home) for _ in range(3)), key=lambda r: r.seconds)
    find = run_measured(["find", str(root), "-type", "f", "-printf", "%s %T@ %i %P\n"],
                        stdout=subprocess.DEVNULL)  # fmt: skip
    say(f"rescan: hg-index re-scan of {n:,} unchanged files: median {runs[1].seconds:.1f} s "
        f"(runs {', '.join(f'{r.seconds:.1f}' for r in runs)}), CPU {cpu(runs[1])}, "
        f"RSS {runs[1].max_rss_mb:.0f} MB"
        f"; find -printf {find.seconds:.1f} s (target < 30 s at 1M)")  # fmt: skip
    t0 = time.perf_counter()
    shutil.rmtree(root)
    shutil.rmtree(home)
    say(f"rescan: tree deleted in {time.perf_counter() - t0:.0f} s")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--entries", type=int, default=100_000)
    ap.add_argument("--only", default=",".join(PARTS), help="parts: " + ",".join(PARTS))
    ap.add_argument("--repeat", type=int, default=20, help="runs per query or HTTP call")
    ap.add_argument("--similar-entries", type=int, help="vectors for similar: (default: all)")
    ap.add_argument("--dir", type=Path, help="work here (kept; default: a temporary directory)")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = ap.parse_args()
    parts = [p.strip() for p in args.only.split(",") if p.strip()]
    if bad := set(parts) - set(PARTS):
        ap.error(f"unknown parts {sorted(bad)}; choose from {','.join(PARTS)}")
    n = args.entries
    base = args.dir or Path(tempfile.mkdtemp(prefix="hg-million-"))
    home = base / "home"
    home.mkdir(parents=True, exist_ok=True)
    say(f"{os.cpu_count()} cores, Python {sys.version.split()[0]}; {n:,} entries; "
        f"parts {','.join(parts)}; in {base}")  # fmt: skip
    try:
        if "build" in parts:
            if (home / DATABASE).exists():
                sys.exit(f"{home / DATABASE} exists: a first build needs a fresh home")
            part_build(home, n)
        needs_db = {"upsert", "query", "serve"} & set(parts) or (
            "similar" in parts and (args.similar_entries or n) >= n
        )
        if needs_db and not (home / DATABASE).exists():
            sys.exit("no gallery: run with build first (or --dir with a kept gallery)")
        if "query" in parts:
            part_query(home, args.repeat)
        if "serve" in parts:
            part_serve(home, args.repeat)
        if "upsert" in parts:  # after the reads: it adds 500 entries
            part_upsert(home, n)
        if "similar" in parts:
            part_similar(home, n, min(n, args.similar_entries or n), args.repeat)
        if "rescan" in parts:
            part_rescan(base, n)
    finally:  # a --dir of the user's is never removed (it may hold a kept 1M gallery)
        if not args.keep and args.dir is None:
            shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
