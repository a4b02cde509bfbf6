"""hg-build benchmark: synthetic 100k entries -> SQLite; chunk upsert; query latency; size.

Prints figures and ratios against references measured in the same run:
- build: HomeGallery's way of writing its database (all media as one gzip'd JSON document);
- queries: a linear scan over the media held in memory (HomeGallery's in-memory filtering).

Usage: .venv/bin/python bench/build.py [--entries 100000]
"""

from __future__ import annotations

import argparse
import gzip
import os
import random
import resource
import sys
import tempfile
import time
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hg_build import db, store  # noqa: E402
from hg_build.build import Builder  # noqa: E402
from hg_build.entries import media_from_entry  # noqa: E402
from hg_build.parallel import default_workers  # noqa: E402
from hg_build.query.search import search  # noqa: E402
from hg_common import layout  # noqa: E402
from hg_index.config import load_config  # noqa: E402

TAGS = [
    "beach",
    "holiday",
    "family",
    "snow",
    "alps",
    "birthday",
    "sea",
    "sun",
    "dog",
    "cat",
    "forest",
    "city",
    "night",
    "food",
    "car",
    "private",
    "vacation",
    "friends",
    "work",
    "art",
]
CAMERAS = [
    ("Canon", "EOS 5D Mark IV"),
    ("NIKON", "COOLPIX P6000"),
    ("Apple", "iPhone 13 Pro"),
    ("SONY", "ILCE-7M3"),
    ("FUJIFILM", "X-T3"),
    ("samsung", "SM-G991B"),
]
PLACES = [
    ("Italy", "Toscana", "Siena", "Via di Città", 43.318, 11.331),
    ("Germany", "Baden-Württemberg", "Heidelberg", "Plöck", 49.41, 8.70),
    ("France", "Île-de-France", "Paris", "Avenue Anatole France", 48.858, 2.294),
    ("United States", "New York", "New York", "5th Avenue", 40.75, -73.98),
]
QUERIES = [
    "",
    "year:2020",
    "tag:beach",
    "year:2019 and tag:holiday order by date asc",
    "city:heidelberg",
    "road:plöck",
    "make:canon and iso > 800",
    '"New York" not private',
    "tag in (sea sun) year >= 2015 count(tags) > 2",
    "ratio:landscape width > 3000 order by filesize",
]


def synthetic(n: int, seed: int = 1) -> list[dict]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        cid = f"{rng.getrandbits(256):064x}"
        year = rng.randint(2004, 2024)
        make, model = rng.choice(CAMERAS)
        dates = {
            "DateTimeOriginal": f"{year}:{rng.randint(1, 12):02d}:{rng.randint(1, 28):02d} "
            f"{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:00"
        }
        meta = {
            "width": rng.choice([4000, 6000, 3024]),
            "height": rng.choice([3000, 4000, 4032]),
            "orientation": rng.choice([1, 1, 1, 6]),
            "dates": dates,
            "make": make,
            "model": model,
            "iso": rng.choice([100, 200, 400, 800, 1600, 3200]),
            "aperture": 2.8,
            "exposure": 0.004,
            "focal_length": 35.0,
            "tags": rng.sample(TAGS, rng.randint(0, 4)),
        }
        place = rng.choice(PLACES) if rng.random() < 0.4 else None
        if place:
            meta["latitude"], meta["longitude"] = place[4], place[5]
        files = [
            {
                "source": "pictures",
                "root": "/nas/pictures",
                "path": f"{year}/d{i // 200}/IMG_{i}.jpg",
                "size": rng.randint(1 << 20, 12 << 20),
                "mtime": 1.6e9,
                "checksum": cid,
                "file_type": "image",
                "primary": True,
                "meta": meta,
            }
        ]
        if rng.random() < 0.2:
            files.append(
                {
                    **files[0],
                    "path": files[0]["path"][:-3] + "xmp",
                    "size": 4000,
                    "checksum": f"{rng.getrandbits(256):064x}",
                    "file_type": "meta",
                    "primary": False,
                    "meta": {"tags": ["edited"]},
                }
            )
        out.append(
            {
                "type": "entry",
                "v": 1,
                "id": cid,
                "media_type": "image",
                "files": files,
                "previews": [
                    layout.relpath(cid, layout.preview(s)) for s in (1920, 1280, 800, 320, 128)
                ],
                "video": None,
                "colors": ["#a1b2c3", "#112233"],
                "address": dict(zip(("country", "state", "city", "road"), place[:4], strict=True))
                if place
                else None,
            }
        )
    return out


def cpu() -> float:
    """CPU seconds (user + system) of this process and its ended children (the build's
    workers): less moved by a busy machine than wall time."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    c = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime + c.ru_utime + c.ru_stime


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--entries", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=20)
    ap.add_argument("--workers", type=int, help="hg-build's worker processes (default: cores)")
    args = ap.parse_args()
    records = synthetic(args.entries)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "gallery.db"
        cfg = load_config(home=tmp, env={})
        # what `hg-build` does with its input: NDJSON lines, parsed by its workers, in a
        # first build (a fresh file for up to 30 s)
        lines = [(n, orjson.dumps(r) + b"\n") for n, r in enumerate(records, 1)]
        n = store.READ_CHUNK  # as the CLI reads, then cuts to 500 per live transaction
        chunks = (lines[i : i + n] for i in range(0, len(lines), n))
        workers = args.workers or default_workers()
        t0, c0 = time.perf_counter(), cpu()
        store.build(
            cfg, path, Path(tmp) / "events.ndjson", chunks, lambda r: None,
            workers=workers, chunk_size=500,
        )  # fmt: skip
        build_s, build_cpu = time.perf_counter() - t0, cpu() - c0
        del lines
        conn = db.open_database(path)
        builder = Builder(conn, lambda r: None)

        t0, c0 = time.perf_counter(), cpu()
        media = [media_from_entry(r) for r in records]
        ref_buf = gzip.compress(orjson.dumps({"type": "database", "data": media}), 6)
        ref_build_s, ref_cpu = time.perf_counter() - t0, cpu() - c0

        chunk_ms = []
        for seed in (2, 3, 3):  # new entries, then the same 500 again (updates)
            upd = synthetic(500, seed=seed)
            t0 = time.perf_counter()
            builder.apply_chunk(upd)
            chunk_ms.append((time.perf_counter() - t0) * 1000)

        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        size = path.stat().st_size
        print(f"machine: {sys.platform}, Python {sys.version.split()[0]}, load {os.getloadavg()}")
        print(f"entries: {args.entries}, build workers: {workers}")
        print(
            f"first build: {build_s:.2f} s  ({args.entries / build_s:,.0f} entries/s)"
            f", CPU {build_cpu:.2f} s; reference gzip JSON write {ref_build_s:.2f} s"
            f" (CPU {ref_cpu:.2f} s); ratio {build_s / ref_build_s:.2f}"
        )
        print(
            "incremental upsert of 500 entries: {:.0f} ms new, {:.0f} ms new, "
            "{:.0f} ms the same 500 again".format(*chunk_ms)
        )
        print(
            f"database size: {size / 1e6:.1f} MB ({size / args.entries:.0f} B/entry); "
            f"reference gzip JSON {len(ref_buf) / 1e6:.1f} MB"
        )
        texts = [(m, "\n".join(str(v) for v in m.values() if v).casefold()) for m in media]
        print(f"{'query':58} {'hits':>6} {'p50 ms':>7} {'p95 ms':>7}")
        p95s = []
        for q in QUERIES:
            times = []
            for _ in range(args.repeat):
                t0 = time.perf_counter()
                hits = sum(1 for _ in search(conn, q, limit=100))
                times.append((time.perf_counter() - t0) * 1000)
            p95s.append(pct(times, 95))
            print(
                f"{q or '(all, newest first)':58} {hits:>6} "
                f"{pct(times, 50):7.1f} {pct(times, 95):7.1f}"
            )
        t0 = time.perf_counter()
        for _ in range(args.repeat):
            [m for m, t in texts if "new york" in t and "private" not in t][:100]
        ref_q = (time.perf_counter() - t0) * 1000 / args.repeat
        print(f"worst p95 {max(p95s):.1f} ms; reference in-memory scan (free text) {ref_q:.1f} ms")
        conn.close()


if __name__ == "__main__":
    main()
