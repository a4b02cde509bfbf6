"""hg-serve benchmark: API latency at 100k entries through the real server, alone and under
200 concurrent clients, and the server's memory.

A synthetic gallery (bench/build.py's generator, written by hg-build's own Builder in chunks
of 500 as an import would) is served by the real `hg-serve` executable on 127.0.0.1. The
client is Python threads with `http.client` (one keep-alive connection per client; each
request sends `Accept-Encoding: gzip` as a browser does and reads the whole body). Loops
are bounded: `--repeat` sequential requests per call, then `--clients` threads x
`--per-client` requests.

Reference, measured in the same run: the same hg_serve.Gallery call in-process (SQL via
hg_build + shaping + JSON, no HTTP), so the ratio (cold HTTP p50 / in-process p50) shows
what HTTP, gzip and the thread hand-off add. "cold" requests carry a dummy parameter so
hg-serve's answer cache misses; "cached" repeat the same request (what every page load of
an unchanged gallery gets). The concurrent run mixes both halves.

Usage: .venv/bin/python bench/serve.py [--entries 100000] [--clients 200]
"""

from __future__ import annotations

import argparse
import http.client
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.build import pct, synthetic  # noqa: E402
from hg_build import db  # noqa: E402
from hg_build.build import Builder  # noqa: E402
from hg_common.home import DATABASE, EVENTS  # noqa: E402
from hg_serve.gallery import Gallery  # noqa: E402

CALLS = [  # (name, path, the same call in-process)
    ("first grid page (500)", "/api/entries?limit=500", lambda g: g.page("", (), 0, 500)),
    (
        "filtered page: year:2020",
        "/api/entries?q=year%3A2020&limit=500",
        lambda g: g.page("year:2020", (), 0, 500),
    ),
    (
        "filtered page: tag:beach",
        "/api/entries?q=tag%3Abeach&limit=500",
        lambda g: g.page("tag:beach", (), 0, 500),
    ),
    ("years summary", "/api/years", lambda g: g.years("", ())),
    ("folder tree: root", "/api/folders", lambda g: g.folders("", "", ())),
    ("folder tree: a year", "/api/folders?path=2020", lambda g: g.folders("2020", "", ())),
    (
        "folder tree: filtered",
        "/api/folders?q=tag%3Abeach",
        lambda g: g.folders("", "tag:beach", ()),
    ),
    ("map points", "/api/geo", lambda g: g.geo("", ())),
    ("map points: year:2020", "/api/geo?q=year%3A2020", lambda g: g.geo("year:2020", ())),
]


def build_database(path: Path, n: int) -> float:
    t0 = time.perf_counter()
    records = synthetic(n)
    conn = db.open_database(path)
    builder = Builder(conn, lambda r: None)
    for i in range(0, len(records), 500):
        builder.apply_chunk(records[i : i + 500])
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    return time.perf_counter() - t0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(home: Path) -> tuple[subprocess.Popen, int]:
    port = free_port()
    exe = Path(sys.executable).parent / "hg-serve"
    env = {k: v for k, v in os.environ.items() if not k.startswith("HG_")}
    proc = subprocess.Popen(
        [str(exe), "--home", str(home), "--port", str(port), "-q"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=open(home / "serve.log", "wb"),
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return proc, port
        except OSError:
            if proc.poll() is not None:
                break
            time.sleep(0.05)
    proc.kill()
    raise SystemExit(f"hg-serve did not start: {(home / 'serve.log').read_text()}")


def get(conn: http.client.HTTPConnection, path: str) -> tuple[float, int]:
    """One request: (seconds, body bytes); the status must be 200."""
    t0 = time.perf_counter()
    conn.request("GET", path, headers={"Accept-Encoding": "gzip"})
    resp = conn.getresponse()
    body = resp.read()
    elapsed = time.perf_counter() - t0
    if resp.status != 200:
        raise SystemExit(f"{path}: HTTP {resp.status} {body[:200]!r}")
    return elapsed, len(body)


def rss_kib(pid: int) -> dict[str, int]:
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            out[key] = int(value.split()[0])
    return out


def concurrent(port: int, clients: int, per_client: int) -> tuple[dict[str, list[float]], float]:
    """`clients` threads, each with its own connection, cycling through CALLS."""
    times: dict[str, list[float]] = {name: [] for name, _, _ in CALLS}
    barrier = threading.Barrier(clients + 1)
    lock = threading.Lock()
    errors: list[BaseException] = []

    def client(k: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        try:
            conn.connect()
            barrier.wait()
            for i in range(per_client):
                name, path, _ = CALLS[(k + i) % len(CALLS)]
                if k % 2:  # half the clients ask things nobody asked before (cache misses)
                    path += f"{'&' if '?' in path else '?'}nocache={k}-{i}"
                elapsed, _ = get(conn, path)
                with lock:
                    times[name].append(elapsed * 1000)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            conn.close()

    threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
    for t in threads:
        t.start()
    barrier.wait()
    t0 = time.perf_counter()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    if errors:
        raise SystemExit(f"{len(errors)} clients failed, first: {errors[0]!r}")
    return times, wall


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--entries", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=40)
    ap.add_argument("--clients", type=int, default=200)
    ap.add_argument("--per-client", type=int, default=5)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        build_s = build_database(home / DATABASE, args.entries)
        size = (home / DATABASE).stat().st_size
        print(f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}")
        print(
            f"entries: {args.entries}; database {size / 1e6:.0f} MB, built in {build_s:.0f} s "
            "(hg-build's Builder, chunks of 500)"
        )
        gallery = Gallery(home / DATABASE, home / EVENTS)
        ref: dict[str, float] = {}
        for name, _, call in CALLS:
            orjson.dumps(call(gallery))  # warm
            samples = []
            for _ in range(args.repeat):
                t0 = time.perf_counter()
                orjson.dumps(call(gallery))
                samples.append((time.perf_counter() - t0) * 1000)
            ref[name] = pct(samples, 50)
        changed = []  # the first map request after an import chunk, before any pre-warm
        for _ in range(args.repeat):
            gallery.reload()  # a new database version: the map's snapshot is re-taken
            t0 = time.perf_counter()
            orjson.dumps(gallery.geo("", ()))
            changed.append((time.perf_counter() - t0) * 1000)
        gallery.close()
        print(
            "in-process map points right after a database change (snapshot re-taken): "
            f"p50 {pct(changed, 50):.1f} ms, p95 {pct(changed, 95):.1f} ms"
        )

        proc, port = start_server(home)
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            print(
                f"\none client, {args.repeat} requests per call (HTTP, gzip accepted); cold: "
                "each request with another dummy parameter, so the answer cache misses"
            )
            print(
                f"{'call':28} {'bytes':>9} {'cold p50':>9} {'cold p95':>9} "
                f"{'in-process':>11} {'ratio':>6} {'cached p50':>11} {'cached p95':>11}"
            )
            worst = worst_cached = 0.0
            for name, path, _ in CALLS:
                sep = "&" if "?" in path else "?"
                get(conn, path)  # warm: SQLite's page cache, and the answer cache for `path`
                cold, cached, nbytes = [], [], 0
                for i in range(args.repeat):
                    elapsed, nbytes = get(conn, f"{path}{sep}nocache={i}")
                    cold.append(elapsed * 1000)
                    cached.append(get(conn, path)[0] * 1000)
                p50, p95 = pct(cold, 50), pct(cold, 95)
                worst, worst_cached = max(worst, p95), max(worst_cached, pct(cached, 95))
                print(
                    f"{name:28} {nbytes:>9,} {p50:9.1f} {p95:9.1f} {ref[name]:11.1f} "
                    f"{p50 / ref[name]:6.2f} {pct(cached, 50):11.1f} {pct(cached, 95):11.1f}"
                )
            conn.close()
            idle = rss_kib(proc.pid)
            print(
                f"worst p95 (one client): cold {worst:.1f} ms, cached {worst_cached:.1f} ms; "
                "target < 50 ms"
            )

            total = args.clients * args.per_client
            times, wall = concurrent(port, args.clients, args.per_client)
            print(
                f"\n{args.clients} concurrent clients x {args.per_client} requests "
                "(all calls mixed, half of them cache misses): "
                f"{total} requests in {wall:.1f} s = {total / wall:.0f} req/s"
            )
            print(f"{'call':28} {'n':>5} {'p50 ms':>8} {'p95 ms':>8}")
            for name, _, _ in CALLS:
                t = times[name]
                print(f"{name:28} {len(t):>5} {pct(t, 50):8.0f} {pct(t, 95):8.0f}")
            mem = rss_kib(proc.pid)
            print(
                f"\nserver RSS: {idle['VmRSS'] / 1024:.0f} MB after the single-client runs, "
                f"{mem['VmRSS'] / 1024:.0f} MB after the concurrent run, peak "
                f"{mem['VmHWM'] / 1024:.0f} MB; target < 300 MB"
            )
        finally:
            proc.terminate()
            proc.wait(10)


if __name__ == "__main__":
    main()
