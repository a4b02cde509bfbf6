"""Grouping faces into people (`hg_build.people`) at gallery scale, on synthetic descriptors:
`--people` persons (random centres ~0.85 apart, like different persons' dlib descriptors)
with `--faces` faces in all (each ~0.17 from its person's others, like one person's).

Measured: the incremental assignment of one imported chunk (`--chunk` new faces, half of
them of known people) against all known faces, and a full re-clustering (the graph of pairs
closer than 0.6, then Chinese whispers): wall time and peak memory of numpy's arrays
(tracemalloc), plus how well the clusters match the persons.

Usage: python bench/people.py [--faces 100000] [--people 2000] [--chunk 500] [--no-full]
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
    args = p.parse_args()
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


if __name__ == "__main__":
    main()
