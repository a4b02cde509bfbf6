"""`hg-serve --ml-api` throughput: requests/s of `POST /objects` with a few concurrent clients,
against the same model called in this process one photo after the other (the ceiling: the
server runs one inference at a time with all cores).

A real hg-serve on 127.0.0.1 (an empty home: no gallery needed), 800 px JPEG previews made
here from the JPEGs of tests/fixtures/media (as hg-extract would send them), each client a
thread with its own HTTP session. Prints the machine's load: the cores may be shared.

Usage: python bench/mlapi.py [--clients 1,4] [--requests 80]
"""

from __future__ import annotations

import argparse
import io
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hg_extract.api import Analyser  # noqa: E402

MEDIA = ROOT / "tests" / "fixtures" / "media"


def previews(limit: int = 24) -> list[bytes]:
    """800 px JPEG previews (quality 85) of the fixtures' decodable JPEGs."""
    out = []
    for path in sorted(MEDIA.rglob("*.jpg")):
        try:
            with Image.open(path) as img:
                img.thumbnail((800, 800))
                buf = io.BytesIO()
                img.convert("RGB").save(buf, "JPEG", quality=85)
        except (OSError, ValueError, SyntaxError):
            continue
        out.append(buf.getvalue())
        if len(out) == limit:
            break
    return out


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def start(home: Path) -> tuple[subprocess.Popen, str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cmd = [str(ROOT / ".venv" / "bin" / "hg-serve"), "--home", str(home), "--port", str(port)]
    env = {k: v for k, v in os.environ.items() if not k.startswith("HG_")}
    proc = subprocess.Popen([*cmd, "--ml-api", "-q"], env=env)
    url = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            if requests.get(url + "/health", timeout=1).ok:
                return proc, url
        except requests.ConnectionError:
            time.sleep(0.05)
    proc.kill()
    raise SystemExit("hg-serve did not start")


def run(url: str, bodies: list[bytes], clients: int, count: int) -> tuple[float, list[float]]:
    """`count` requests from `clients` threads: (requests/s, latencies in ms)."""

    def client(n: int) -> list[float]:
        session, times = requests.Session(), []
        for i in range(n, count, clients):
            t = time.perf_counter()
            resp = session.post(
                url + "/objects",
                data=bodies[i % len(bodies)],
                headers={"Content-Type": "image/jpeg"},
                timeout=60,
            )
            resp.raise_for_status()
            times.append((time.perf_counter() - t) * 1000)
        return times

    t0 = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        latencies = [ms for times in pool.map(client, range(clients)) for ms in times]
    return count / (time.perf_counter() - t0), latencies


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--clients", default="1,4", help="comma-separated client counts")
    p.add_argument("--requests", type=int, default=80, help="requests per client count")
    args = p.parse_args()
    bodies = previews()
    kib = statistics.median(map(len, bodies)) // 1024
    print(f"{platform.machine()}, {len(os.sched_getaffinity(0))} cores, load {load()}; "
          f"{len(bodies)} previews, median {kib} KiB")  # fmt: skip
    analyser = Analyser()
    analyser.load()
    t0 = time.perf_counter()
    for i in range(args.requests):
        analyser.answer("objects", bodies[i % len(bodies)])
    print(f"in process, sequential ({analyser.threads} threads): "
          f"{args.requests / (time.perf_counter() - t0):.1f} photos/s")  # fmt: skip
    with tempfile.TemporaryDirectory() as home:
        proc, url = start(Path(home))
        try:
            run(url, bodies, 1, 4)  # warm up: connections, first requests
            for clients in (int(c) for c in args.clients.split(",")):
                rate, ms = run(url, bodies, clients, args.requests)
                q = statistics.quantiles(ms, n=20)
                print(f"POST /objects, {clients} client(s): {rate:.1f} requests/s, latency "
                      f"median {statistics.median(ms):.0f} ms, p95 {q[-1]:.0f} ms; "
                      f"load {load()}")  # fmt: skip
        finally:
            proc.terminate()
            proc.wait(10)


if __name__ == "__main__":
    main()
