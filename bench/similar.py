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

Usage: .venv/bin/python bench/similar.py [--entries 100000] [--repeat 40] [--old 5]
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.build import pct  # noqa: E402
from bench.serve import build_database  # noqa: E402
from hg_build import db, vectors  # noqa: E402
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
    args = ap.parse_args()
    load = lambda: " ".join(f"{x:.2f}" for x in os.getloadavg())  # noqa: E731
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"load {load()}; {args.entries} entries, {args.clusters} clusters")  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "gallery.db"
        print(f"built in {build_database(path, args.entries):.1f} s, vectors added in "
              f"{add_vectors(path, args.clusters):.1f} s; load {load()}")  # fmt: skip
        gallery = Gallery(path, Path(tmp) / "events.ndjson", readers=1)
        conn = db.connect(path, readonly=True)
        ids = [r[0] for r in conn.execute("SELECT id FROM entries")]
        seeds = random.Random(3).sample(ids, 2 * args.repeat + 2 * args.old + 1)
        rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        first, _ = timed(gallery.similar, seeds.pop())
        rss1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        print(f"first query (reads the matrix): {first:.0f} ms, max RSS +{(rss1 - rss0) >> 10} MiB")
        rows: dict[str, list[float]] = {
            "similar() (detail view, 201 rows)": [],
            "page(similar:ID) (grid, count + 500)": [],
            "page(not similar:ID) (every other entry scored)": [],
        }
        hits = []
        calls = (
            gallery.similar,
            lambda s: gallery.page(f"similar:{s}", (), 0, 500),
            lambda s: gallery.page(f"not similar:{s}", (), 0, 500),
        )
        for name, fn in zip(rows, calls, strict=True):
            for _ in range(args.repeat if "not" not in name else args.old):
                ms, out = timed(fn, seeds.pop())
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
        one = vectors.for_source(str(path)).groups[0]
        t0 = time.perf_counter()
        for _ in range(10):
            one.matrix @ one.matrix[0]
        print(f"the product alone: {(time.perf_counter() - t0) * 100:.1f} ms "
              f"({one.matrix.shape[0]}x{one.matrix.shape[1]} float32); load {load()}")  # fmt: skip
        gallery.close()


if __name__ == "__main__":
    main()
