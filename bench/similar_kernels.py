"""`similar:` kernels at 1M vectors (issue 19): the matrix-vector product that answers one
seed, in the forms that could replace the float32 numpy matrix, measured in one process on
the same data.

The vectors are made as bench/similar.py's: `--clusters` random centres (default one per 50
vectors), each vector its centre plus normal noise (sigma 0.75), scaled to length 1 and
rounded to float16 (the stored form). The float32 product over them is the reference; each
candidate prints p50/p95 over `--repeat` seeds (seeds drawn from the rows), the CPU time
of a call (all its threads: on a loaded machine the wall time mostly measures the wait
for a core, the CPU time what the kernel costs), the bytes it
holds, and how far it is from the reference: the largest |cosine difference|, the hits at
HomeGallery's 0.5 it adds or drops, and the pairs of hits it orders the other way although
their reference cosines differ by more than 0.002 (more than a near-tie).

Candidates: numpy float32 (today's route); int8 rows of length 1 (`hg_build.vectors.quantised`)
times the int8 seed through onnxruntime's MatMulInteger, rows as A (N x 1 out) with 1 and 2
threads; the same int8 rows transposed as B of DynamicQuantizeMatMul (1 x N out, float seed,
per-column scale; ORT packs B on every call); float16 rows through onnxruntime's MatMul.

Usage: .venv/bin/python bench/similar_kernels.py [--vectors 1000000] [--repeat 20]
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.build import pct  # noqa: E402
from hg_build import vectors  # noqa: E402

DIM = 720
MIN = 0.5  # hg_build.query.compile.SIMILAR_MIN
NEAR_TIE = 0.002


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def rss() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss >> 10


def clustered(n: int, clusters: int, seed: int = 2) -> np.ndarray:
    """float32 rows of length 1, rounded through float16 (see module doc)."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(clusters, DIM)).astype(np.float32)
    out = np.empty((n, DIM), np.float32)
    for start in range(0, n, 50_000):
        stop = min(n, start + 50_000)
        part = centres[rng.integers(0, clusters, stop - start)]
        part += rng.normal(scale=0.75, size=part.shape).astype(np.float32)
        part /= np.linalg.norm(part, axis=1)[:, None]
        out[start:stop] = part.astype(np.float16)
    out /= np.linalg.norm(out, axis=1)[:, None]
    return out


def session(nodes, inputs, outputs, threads: int):
    import onnxruntime as ort
    from onnx import helper

    graph = helper.make_graph(nodes, "g", inputs, outputs)
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.microsoft", 1)],
    )
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(model.SerializeToString(), options, ["CPUExecutionProvider"])


def compare(name: str, ms: list[float], held: int, ref: list, got: list, cpu=()) -> None:
    worst, extra, missing, swapped = 0.0, 0, 0, 0
    for exact, approx in zip(ref, got, strict=True):
        worst = max(worst, float(np.abs(exact - approx).max()))
        a, b = set(np.flatnonzero(exact >= MIN)), set(np.flatnonzero(approx >= MIN))
        extra, missing = extra + len(b - a), missing + len(a - b)
        both = np.array(sorted(a & b))
        if len(both) > 1:
            e, q = exact[both], approx[both]
            de, dq = e[:, None] - e[None, :], q[:, None] - q[None, :]
            swapped += int(((de > NEAR_TIE) & (dq < 0)).sum())
    print(
        f"{name}: p50 {pct(ms, 50):.1f} ms, p95 {pct(ms, 95):.1f} ms (CPU p50 "
        f"{pct(list(cpu) or [0], 50):.1f} ms), holds {held / 2**20:.0f} "
        f"MiB; max |diff| {worst:.4f}, hits +{extra} -{missing}, order swaps beyond "
        f"{NEAR_TIE}: {swapped}; load {load()}, max RSS {rss()} MiB",
        flush=True,
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--vectors", type=int, default=1_000_000)
    ap.add_argument("--clusters", type=int, default=0, help="default: vectors / 50")
    ap.add_argument("--repeat", type=int, default=20)
    ap.add_argument("--only", default="", help="comma-separated candidate names")
    args = ap.parse_args()
    from onnx import TensorProto, helper

    n = args.vectors
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, load "
          f"{load()}; {n} x {DIM} vectors, {args.clusters or n // 50} clusters")  # fmt: skip
    t0 = time.perf_counter()
    exact = clustered(n, args.clusters or n // 50)
    t1 = time.perf_counter()
    q8, scale = vectors.quantised(exact)
    print(f"made in {t1 - t0:.1f} s, quantised in {time.perf_counter() - t1:.1f} s; "
          f"load {load()}")  # fmt: skip
    seeds = np.random.default_rng(5).integers(0, n, args.repeat + 1).tolist()

    cpu: list[float] = []  # CPU ms (all threads) of the last run's calls

    def run(fn) -> tuple[list[float], list[np.ndarray]]:
        fn(seeds[0])  # warm: a session's first run allocates
        ms, out = [], []
        cpu.clear()
        for s in seeds[1:]:
            t, c = time.perf_counter(), time.process_time()
            out.append(fn(s))
            ms.append((time.perf_counter() - t) * 1000)
            cpu.append((time.process_time() - c) * 1000)
        return ms, out

    vi = helper.make_tensor_value_info
    ms, ref = run(lambda s: exact @ exact[s])
    compare("numpy float32 (today)", ms, exact.nbytes, ref, ref, cpu)
    only = set(filter(None, args.only.split(",")))
    for threads in (1, 2):
        if only and f"int8-{threads}" not in only:
            continue
        sess = session(
            [helper.make_node("MatMulInteger", ["A", "B"], ["Y"])],
            [vi("A", TensorProto.INT8, ["n", DIM]), vi("B", TensorProto.INT8, [DIM, 1])],
            [vi("Y", TensorProto.INT32, ["n", 1])],
            threads,
        )

        def int8(s: int, sess=sess) -> np.ndarray:
            y = sess.run(None, {"A": q8, "B": q8[s].reshape(DIM, 1)})[0].reshape(-1)
            y = y.astype(np.float32)
            y *= scale
            y *= scale[s]
            return y

        ms, out = run(int8)
        compare(f"int8 MatMulInteger rows x seed, {threads} thread(s)", ms,
                q8.nbytes + scale.nbytes, ref, out, cpu)  # fmt: skip
    if not only or "dqmm" in only:
        q8t = np.ascontiguousarray(q8.T)
        sess = session(
            [helper.make_node("DynamicQuantizeMatMul", ["A", "B", "S"], ["Y"],
                              domain="com.microsoft")],
            [vi("A", TensorProto.FLOAT, [1, DIM]), vi("B", TensorProto.INT8, [DIM, "n"]),
             vi("S", TensorProto.FLOAT, ["n"])],
            [vi("Y", TensorProto.FLOAT, [1, "n"])],
            2,
        )  # fmt: skip

        def dqmm(s: int) -> np.ndarray:
            seed = (q8[s] * scale[s]).astype(np.float32).reshape(1, DIM)
            return sess.run(None, {"A": seed, "B": q8t, "S": scale})[0].reshape(-1)

        ms, out = run(dqmm)
        compare("int8 DynamicQuantizeMatMul seed x rows^T, 2 threads", ms,
                q8t.nbytes + scale.nbytes, ref, out, cpu)  # fmt: skip
        del q8t, sess
    if not only or "f16" in only:
        f16 = exact.astype(np.float16)
        sess = session(
            [helper.make_node("MatMul", ["A", "B"], ["Y"])],
            [vi("A", TensorProto.FLOAT16, ["n", DIM]), vi("B", TensorProto.FLOAT16, [DIM, 1])],
            [vi("Y", TensorProto.FLOAT16, ["n", 1])],
            2,
        )
        ms, out = run(
            lambda s: (
                sess.run(None, {"A": f16, "B": f16[s].reshape(DIM, 1)})[0]
                .reshape(-1)
                .astype(np.float32)
            )
        )
        compare("float16 MatMul rows x seed, 2 threads", ms, f16.nbytes, ref, out, cpu)


if __name__ == "__main__":
    main()
