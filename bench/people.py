"""Grouping faces into people (`hg_build.people`) at gallery scale, on synthetic descriptors:
`--people` persons (random centres ~0.85 apart, like different persons' dlib descriptors)
with `--faces` faces in all (each ~0.17 from its person's others, like one person's).

Measured: the incremental assignment of one imported chunk (`--chunk` new faces, half of
them of known people) against all known faces, and a full re-clustering (the graph of pairs
closer than 0.6, then Chinese whispers): wall time and peak memory of numpy's arrays
(tracemalloc), plus how well the clusters match the persons.

With `--database`: the same inside hg-build (`hg_build.people_db`): a database whose
`person_faces` holds the known faces (two per entry), then two chunks of `--chunk` / 2 new
entries with two faces each through one hg-build `Builder` (the chunk's transaction, the
triggers, the known descriptors of the model, `people.assign`, the rows): the first reads
every known descriptor, the second only the faces' keys and persons (`KnownFaces`, kept by
the Builder between chunks); and the people list hg-serve's `/api/people` answers (counts
and best face per person).

Usage: python bench/people.py [--faces 100000] [--people 2000] [--chunk 500] [--no-full]
       [--database]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hg_build import people  # noqa: E402


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def synthetic(n_faces: int, n_people: int, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(n_people, 128)).astype(np.float32)
    centres *= 0.6 / np.linalg.norm(centres, axis=1, keepdims=True)
    truth = rng.integers(0, n_people, n_faces)
    noise = rng.normal(size=(n_faces, 128)).astype(np.float32) * np.float32(0.12 / np.sqrt(128))
    return centres[truth] + noise, truth


def measured(fn, *args):
    tracemalloc.start()
    t = time.perf_counter()
    result = fn(*args)
    seconds = time.perf_counter() - t
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return result, seconds, peak / 2**20


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--faces", type=int, default=100_000)
    p.add_argument("--people", type=int, default=2000)
    p.add_argument("--chunk", type=int, default=500)
    p.add_argument("--no-full", action="store_true", help="skip the full re-clustering")
    p.add_argument("--database", action="store_true", help="measure inside hg-build")
    args = p.parse_args()
    if args.database:
        in_database(args)
        return
    vectors, truth = synthetic(args.faces + args.chunk, args.people)
    known, known_truth = vectors[: args.faces], truth[: args.faces]
    new, new_truth = vectors[args.faces :], truth[args.faces :]
    print(f"{os.cpu_count()} cores, load {load()}; {args.faces} known faces of "
          f"{args.people} people, a chunk of {args.chunk}")  # fmt: skip
    ids, secs, mib = measured(people.assign, known, known_truth, new, args.people)
    seen = np.isin(new_truth, known_truth)
    right = (ids[seen] == new_truth[seen]).mean() if seen.any() else 1.0
    print(f"assign one chunk: {secs:6.2f} s, peak {mib:6.1f} MiB; {right:.1%} of the chunk's "
          f"known people's faces joined them; load {load()}")  # fmt: skip
    if args.no_full:
        return
    labels, secs, mib = measured(people.cluster, known)
    clusters = len(set(labels.tolist()))
    pure = np.mean([len(set(truth_[labels == c])) == 1 for c in range(clusters)
                    for truth_ in [known_truth]])  # fmt: skip
    split = np.mean([len(set(labels[known_truth == q])) > 1 for q in set(known_truth.tolist())])
    print(f"full re-clustering: {secs:6.1f} s, peak {mib:6.1f} MiB; {clusters} clusters of "
          f"{len(set(known_truth.tolist()))} people, {pure:.1%} pure, {split:.1%} of the "
          f"people split; load {load()}")  # fmt: skip


def in_database(args) -> None:
    import tempfile

    from hg_build import db, people_db
    from hg_build.build import Builder

    vectors, truth = synthetic(args.faces + 2 * args.chunk, args.people)
    known, new = vectors[: args.faces], vectors[args.faces :]
    with tempfile.TemporaryDirectory() as tmp:
        conn = db.open_database(Path(tmp) / "g.db")
        t = time.perf_counter()
        with db.transaction(conn):
            entries = args.faces // 2
            conn.execute(
                "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < ?) "
                "INSERT INTO entries (id, type, date, ts, updated, files_count, tags_count, "
                "text, tags, extracted_tags, faces) SELECT printf('%064x', i), 'image', "
                "'2020-01-01T00:00:00', 0, '', 1, 0, '', '[]', '[]', "
                '\'[{"x":0.1,"y":0.1,"width":0.2,"height":0.2,"score":1.0},'
                '{"x":0.5,"y":0.1,"width":0.1,"height":0.1,"score":0.9}]\' '
                "FROM n",
                (entries - 1,),
            )
            pids = [f"{q:010x}" for q in range(args.people)]
            conn.executemany("INSERT INTO people (id) VALUES (?)", [(q,) for q in pids])
            half = known.astype(np.float16)
            conn.executemany(
                "INSERT INTO person_faces VALUES (?, ?, ?, 'dlib-resnet-v1/1', ?, 1.0, 0.04)",
                ((f"{i // 2:064x}", i % 2, pids[truth[i]], half[i].tobytes())
                 for i in range(args.faces)),
            )  # fmt: skip
        made = time.perf_counter() - t
        print(f"{os.cpu_count()} cores, load {load()}; a database with {args.faces} known "
              f"faces of {args.people} people ({made:.1f} s to make)")  # fmt: skip
        chunk = []
        for i in range(0, len(new) - 1, 2):
            rec = {"type": "entry", "v": 1, "id": f"{10**9 + i:064x}", "media_type": "image",
                   "files": [{"source": "s", "root": "/r", "path": f"new/{i}.jpg", "size": 1,
                              "mtime": 1.0, "checksum": f"{10**9 + i:064x}",
                              "file_type": "image", "primary": True,
                              "meta": {"dates": {"DateTimeOriginal": "2021:01:01 10:00:00"}}}],
                   "faces": {"model": "dlib-resnet-v1", "version": "1", "width": 100,
                             "height": 100, "data": [
                                 {"box": [10, 10, 20, 20], "score": 1.0,
                                  "descriptor": new[i].tolist()},
                                 {"box": [50, 10, 20, 20], "score": 1.0,
                                  "descriptor": new[i + 1].tolist()}]}}  # fmt: skip
            chunk.append(rec)
        update = people_db.update
        builder = Builder(conn, print)
        middle = len(chunk) // 2
        for which, part in (("first", chunk[:middle]), ("second", chunk[middle:])):
            spent = [0.0]

            def timed(conn_, cache=None, spent=spent):
                t0 = time.perf_counter()
                try:
                    return update(conn_, cache)
                finally:
                    spent[0] += time.perf_counter() - t0

            people_db.update = timed
            before = conn.execute("SELECT count(*) FROM person_faces").fetchone()[0]
            tracemalloc.start()
            t = time.perf_counter()
            builder.apply_chunk(part)
            total = time.perf_counter() - t
            peak = tracemalloc.get_traced_memory()[1] / 2**20
            tracemalloc.stop()
            people_db.update = update
            assigned = conn.execute("SELECT count(*) FROM person_faces").fetchone()[0] - before
            print(f"the {which} chunk of {len(part)} entries ({assigned} faces): {total:.2f} s, "
                  f"of which grouping the faces {spent[0]:.2f} s; peak {peak:.0f} MiB "
                  f"(Python); load {load()}")  # fmt: skip
        t = time.perf_counter()
        listed = people_db.list_people(conn)
        took = time.perf_counter() - t
        print(f"the people list ({len(listed)} people): {took:.2f} s; load {load()}")
        t = time.perf_counter()
        half_of_them = people_db.list_people(conn, "e.id < ?", [f"{entries // 2:064x}"])
        took = time.perf_counter() - t
        print(f"filtered to half the entries ({len(half_of_them)} people): {took:.2f} s; "
              f"load {load()}")  # fmt: skip
        conn.close()


if __name__ == "__main__":
    main()
