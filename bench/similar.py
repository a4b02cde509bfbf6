"""`similar:<id>` at 100k vectors: the numpy route (`hg_build.vectors`) against the SQL route
it replaced (`hg_cosine` per row), measured in the same run on the same database.

A synthetic gallery (bench/build.py's generator) is written by hg-build's own Builder in
chunks of 500, then every entry gets a 720-d vector through `ml` records, as an import
with the local model would (float16 unit vectors in the real schema). The vectors are
clustered as photos are (bursts, series): `--clusters` random centres, each vector its
centre plus noise, so a seed has tens of hits above HomeGallery's 0.5, not none or all.

Measured through `hg_serve.gallery.Gallery` in-process, what hg-serve's routes call (its
reader connection, `compile_filtered`, `search_fields`): `similar()` (the detail view's
"Similar images", 201 rows) and `page(q="similar:<id>")` (the search grid: count + 500 rows).
Each timed query has a new seed, so the per-seed score cache never answers; the first
query, which reads the matrix into the cache, is printed on its own. The old route is the
SQL compile.py produced before (a `hg_cosine` per row for the filter and the order), run
through the same `search_fields` on the same connection, on fewer seeds (it takes ~1 s).

Since issue 19 the vectors are int8 rows (hg_build.vectors): the run prints the memory
they hold and hg-serve's RSS after the first read, and checks the timed seeds' hits and
order against a float32 matrix of the same stored vectors (made after the timings): the
recall (hits found / the float32 route's hits at 0.5), whether the found ones are in its
order, and how many pages are the same. Above hg_build.coarse_lists.MIN_ROWS rows the
coarse lists are built in a thread after the first read: `--during` seeds are timed
while they are, then the run waits for them and prints their build time and memory; the
timed seeds after that read the lists.
`--direct` writes the entries straight into the schema (id, date, vector; no files, tags or
places) instead of through the Builder: a 1M gallery in minutes rather than an hour.

Usage: .venv/bin/python bench/similar.py [--entries 100000] [--repeat 40] [--old 5] [--direct]
    [--keep FILE] [--during 5]
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.build import pct  # noqa: E402
from bench.serve import build_database  # noqa: E402
from hg_build import coarse_lists, db, ml, vectors  # noqa: E402
from hg_build.build import Builder  # noqa: E402
from hg_build.query.compile import SIMILAR_MIN, Compiled  # noqa: E402
from hg_build.query.search import search_fields  # noqa: E402
from hg_serve import grid  # noqa: E402
from hg_serve.gallery import SIMILAR_LIMIT, Gallery  # noqa: E402

DIM = 720
MODEL = {"model": "centernet-mbv3-coco", "version": "human-models-3.0.4", "dim": DIM}


def add_vectors(path: Path, clusters: int, seed: int = 2) -> float:
    """An `ml` record with a clustered unit vector for every entry, through the Builder."""
    t0 = time.perf_counter()
    rng = np.random.default_rng(seed)
    conn = db.open_database(path)
    ids = [r[0] for r in conn.execute("SELECT id FROM entries ORDER BY rowid")]
    centres = rng.normal(size=(clusters, DIM)).astype(np.float32)
    builder = Builder(conn, lambda r: None)
    for start in range(0, len(ids), 500):
        part = ids[start : start + 500]
        noise = rng.normal(scale=0.75, size=(len(part), DIM)).astype(np.float32)
        data = centres[rng.integers(0, clusters, len(part))] + noise
        data /= np.linalg.norm(data, axis=1)[:, None]
        builder.apply_chunk(
            [
                {"type": "ml", "v": 1, "id": i, "source": "pictures", "path": "x.jpg",
                 "similarity": {**MODEL, "data": v.tolist()}}
                for i, v in zip(part, data, strict=True)
            ]
        )  # fmt: skip
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    return time.perf_counter() - t0


def direct_database(path: Path, n: int, clusters: int, seed: int = 2) -> float:
    """`n` entries with only what `similar:` and the grid read, each with a clustered
    float16 vector as `ml` stores it (see module doc), written in transactions of 20k."""
    import hashlib

    t0 = time.perf_counter()
    rng = np.random.default_rng(seed)
    conn = db.open_database(path)
    centres = rng.normal(size=(clusters, DIM)).astype(np.float32)
    prefix = ml.model_tag(MODEL) + b"\0h"
    for start in range(0, n, 20_000):
        count = min(n, start + 20_000) - start
        data = centres[rng.integers(0, clusters, count)]
        data += rng.normal(scale=0.75, size=data.shape).astype(np.float32)
        data /= np.linalg.norm(data, axis=1)[:, None]
        half = data.astype(np.float16)
        conn.execute("BEGIN")
        conn.executemany(
            "INSERT INTO entries (id, type, date, ts, updated, files_count, tags_count, text, "
            "tags, extracted_tags, similarity) VALUES (?, 'image', '2020-01-01', ?, '', 0, 0, "
            "'', '[]', '[]', ?)",
            [
                (hashlib.blake2b(b"%d" % (start + k), digest_size=32).hexdigest(),
                 1.6e9 + start + k, prefix + half[k].tobytes())
                for k in range(count)
            ],
        )  # fmt: skip
        conn.execute("COMMIT")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    return time.perf_counter() - t0


def rss_mib() -> int:
    """The process's resident memory now (not the peak)."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") >> 20


def held_mib(found: vectors.Vectors) -> tuple[float, float]:
    """(MiB of int8 rows and factors, MiB of the id arrays) a Vectors holds."""
    rows = sum(g.rows.nbytes + g.factors.nbytes + g.keys.nbytes for g in found.groups)
    ids = found.sorted_ids.nbytes + found.rank.nbytes + found.group.nbytes + found.row.nbytes
    ids += found.slots.nbytes
    return rows / 2**20, ids / 2**20


def old_similar(seed: str) -> Compiled:
    """`similar:<seed>` as compile.py compiled it before the numpy route."""
    sub = (
        "(SELECT similarity FROM entries WHERE substr(id, 1, ?) = ? "
        "AND similarity IS NOT NULL LIMIT 1)"
    )
    return Compiled(
        f"(hg_cosine(e.similarity, {sub}) >= ?)",
        [len(seed), seed, SIMILAR_MIN],
        f"hg_cosine(e.similarity, {sub}) DESC, e.ts DESC, e.id",
        [len(seed), seed],
    )


def timed(fn, *args) -> tuple[float, object]:
    t = time.perf_counter()
    out = fn(*args)
    return (time.perf_counter() - t) * 1000, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--entries", type=int, default=100_000)
    ap.add_argument("--clusters", type=int, default=2000)
    ap.add_argument("--repeat", type=int, default=40, help="timed seeds per numpy call")
    ap.add_argument("--old", type=int, default=5, help="timed seeds on the old SQL route")
    ap.add_argument("--direct", action="store_true", help="entries straight into the schema")
    ap.add_argument("--keep", type=Path, help="--direct: keep the database file there, "
                    "and read it instead when it exists (its --entries, --clusters)")  # fmt: skip
    ap.add_argument("--during", type=int, default=5,
                    help="page(similar:ID) seeds timed while coarse lists are built")  # fmt: skip
    args = ap.parse_args()
    load = lambda: " ".join(f"{x:.2f}" for x in os.getloadavg())  # noqa: E731
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"load {load()}; {args.entries} entries, {args.clusters} clusters")  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "gallery.db"
        if args.keep and args.keep.exists():
            path = args.keep
            print(f"the database of an earlier run: {path}")
        elif args.direct:
            took = direct_database(path, args.entries, args.clusters)
            print(f"written in {took:.1f} s; load {load()}")
            if args.keep:
                shutil.copyfile(path, args.keep)
                path = args.keep
        else:
            print(f"built in {build_database(path, args.entries):.1f} s, vectors added in "
                  f"{add_vectors(path, args.clusters):.1f} s; load {load()}")  # fmt: skip
        gallery = Gallery(path, Path(tmp) / "events.ndjson", readers=1)
        conn = db.connect(path, readonly=True)
        ids = [r[0] for r in conn.execute("SELECT id FROM entries")]
        seeds = random.Random(3).sample(ids, 2 * args.repeat + 2 * args.old + 1 + args.during)
        rss0, now0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, rss_mib()
        first, _ = timed(gallery.similar, seeds.pop())
        t_lists = time.perf_counter()
        rss1, now1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, rss_mib()
        held = vectors.for_source(str(path))
        rows_mib, ids_mib = held_mib(held)
        print(f"first query (reads the matrix): {first:.0f} ms; RSS {now0} -> {now1} MiB "
              f"(max +{(rss1 - rss0) >> 10} MiB while reading); held: int8 rows "
              f"{rows_mib:.0f} MiB, id arrays {ids_mib:.0f} MiB; load {load()}")  # fmt: skip
        big = any(len(g.rows) >= coarse_lists.MIN_ROWS for g in held.groups)
        building = [
            timed(lambda s: gallery.page(f"similar:{s}", (), 0, 500), seeds.pop())[0]
            for _ in range(args.during if big else 0)
        ]
        if building:
            print(f"page(similar:ID) while the lists are built: p50 {pct(building, 50):.0f} ms, "
                  f"p95 {pct(building, 95):.0f} ms ({len(building)} seeds)")  # fmt: skip
        held.wait_lists()
        built = time.perf_counter() - t_lists
        lists = [x for x in held.lists if x is not None]
        if lists:
            print(f"coarse lists built {built:.1f} s after the first query (a thread; "
                  f"{len(lists[0].centroids)} lists, {coarse_lists.PROBES} read a seed + its "
                  f"own); held "
                  f"{sum(x.nbytes for x in lists) / 2**20:.1f} MiB; RSS {now1} -> {rss_mib()} "
                  f"MiB (max +{(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss1) >> 10}"
                  f" MiB while building); load {load()}")  # fmt: skip
        else:
            print(f"no coarse lists (a group below {coarse_lists.MIN_ROWS} rows): every row")
        rows: dict[str, list[float]] = {
            "similar() (detail view, 201 rows)": [],
            "page(similar:ID) (grid, count + 500)": [],
            "page(not similar:ID) (every other entry scored)": [],
        }
        hits, asked = [], []
        calls = (
            gallery.similar,
            lambda s: gallery.page(f"similar:{s}", (), 0, 500),
            lambda s: gallery.page(f"not similar:{s}", (), 0, 500),
        )
        for name, fn in zip(rows, calls, strict=True):
            for _ in range(args.repeat if "not" not in name else args.old):
                asked.append(seeds.pop())
                ms, out = timed(fn, asked[-1])
                rows[name].append(ms)
                if isinstance(out, dict) and "not" not in name:
                    hits.append(out["total"])
        old_ms, same = [], 0
        for seed in seeds[: args.old]:
            ms, old = timed(
                lambda s: list(
                    search_fields(conn, old_similar(s), grid.GRID_FIELDS, SIMILAR_LIMIT + 1)
                ),
                seed,
            )
            old_ms.append(ms)
            new = list(search_fields(conn, f"similar:{seed}", grid.GRID_FIELDS, SIMILAR_LIMIT + 1))
            same += [m["id"] for m in old] == [m["id"] for m in new]
        conn.close()
        print(f"hits per seed (>= {SIMILAR_MIN}): median {pct(hits, 50):.0f}, max {max(hits)}")
        for name, values in rows.items():
            print(f"{name}: p50 {pct(values, 50):.1f} ms, p95 {pct(values, 95):.1f} ms "
                  f"({len(values)} seeds)")  # fmt: skip
        numpy_p50 = pct(rows["similar() (detail view, 201 rows)"], 50)
        print(f"old hg_cosine route, same call: p50 {pct(old_ms, 50):.0f} ms "
              f"({len(old_ms)} seeds; ratio old/new p50 {pct(old_ms, 50) / numpy_p50:.0f}x); "
              f"same ids and order: {same}/{len(old_ms)}")  # fmt: skip
        found = vectors.for_source(str(path))
        one = found.groups[0]
        t0 = time.perf_counter()
        for _ in range(10):
            one.cosines(0)
        print(f"the product alone: {(time.perf_counter() - t0) * 100:.1f} ms "
              f"({one.rows.shape[0]}x{one.rows.shape[1]} int8); RSS {rss_mib()} MiB; "
              f"load {load()}")  # fmt: skip
        # the float32 route on the same stored vectors: same hits and order?
        unit = np.empty(one.rows.shape, np.float32)
        conn = db.connect(path, readonly=True)
        row_of = {i: r for r, i in enumerate(one.ids.tolist())}
        for entry_id, blob in conn.execute("SELECT id, similarity FROM entries"):
            unit[row_of[entry_id]] = ml.split_blob(blob)[1]
        unit /= np.linalg.norm(unit, axis=1)[:, None]
        ts = dict(conn.execute("SELECT id, ts FROM entries"))
        conn.close()
        same = found_hits = exact_hits = in_order = 0
        ids_of = one.ids
        checked = asked[: 2 * args.repeat]  # the seeds of similar() and page(similar:ID)
        for seed in checked:
            cos = unit @ unit[row_of[seed]]
            want = sorted(ids_of[np.flatnonzero(cos >= SIMILAR_MIN)].tolist(),
                          key=lambda i: (-cos[row_of[i]], -ts[i], i))[:500]  # fmt: skip
            got = [r["id"] for r in gallery.page(f"similar:{seed}", (), 0, 500)["entries"]]
            same += got == want
            exact_hits += len(want)
            found_hits += len(set(got) & set(want))
            in_order += got == [i for i in want if i in set(got)]  # the found ones' order
        print(f"against the float32 matrix ({len(checked)} seeds): recall {found_hits}/"
              f"{exact_hits} = {found_hits / max(exact_hits, 1):.4f} of the hits at "
              f"{SIMILAR_MIN}; the found hits in its order: {in_order}/{len(checked)}; "
              f"the same page: {same}/{len(checked)}")  # fmt: skip
        gallery.close()


if __name__ == "__main__":
    main()
