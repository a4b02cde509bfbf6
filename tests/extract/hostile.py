"""Hostile and plain media made in the test: no sample corpus needed."""

from __future__ import annotations

import os
import random
import subprocess
import time
from pathlib import Path

from PIL import Image

import hg_extract.previews  # noqa: F401  # registers the HEIF opener


def photo(path: Path, seed: int, size: tuple[int, int] = (96, 64)) -> Path:
    """A small JPEG (or any format Pillow writes by the suffix) of its own content."""
    rnd = random.Random(seed)
    w, h = size
    img = Image.frombytes("RGB", (16, 16), rnd.randbytes(16 * 16 * 3)).resize((w, h))
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path)
    return path


def heic_that_raises(path: Path, seed: int = 1) -> Path:
    """A HEIC whose header reads fine and whose `img.load()` raises in pillow-heif (an
    EOFError "Decoder plugin generated an error: Unexpected end of file" before 1.x, a
    ValueError "NAL stream was rejected" in 1.9): the first HEVC unit in `mdat` claims 16 MB."""
    rnd = random.Random(seed)
    img = Image.frombytes("RGB", (64, 48), rnd.randbytes(64 * 48 * 3))
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path, format="HEIF")
    data = bytearray(path.read_bytes())
    at = data.index(b"mdat") + 4
    data[at : at + 4] = b"\x00\xff\xff\xff"
    path.write_bytes(bytes(data))
    return path


def unreadable_png(path: Path, size: int) -> Path:
    """A PNG signature and `size` bytes of noise: a name and size like a photo's, no image."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + random.Random(7).randbytes(size))
    return path


def xmp(path: Path, tag: str = "holiday") -> Path:
    path.write_text(
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF '
        'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" '
        'xmlns:dc="http://purl.org/dc/elements/1.1/"><rdf:Description><dc:subject><rdf:Bag>'
        f"<rdf:li>{tag}</rdf:li></rdf:Bag></dc:subject></rdf:Description></rdf:RDF>"
        "</x:xmpmeta>"
    )
    return path


def dead_pid() -> int:
    """The pid of a process that has ended (and was reaped)."""
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def descendants(pid: int) -> dict[int, str]:
    """Live processes below `pid` (pid -> command name), from /proc."""
    parents: dict[int, int] = {}
    names: dict[int, str] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        close = stat.rfind(")")
        fields = stat[close + 2 :].split()
        if fields[0] in ("Z", "X"):
            continue
        parents[int(entry)] = int(fields[1])
        names[int(entry)] = stat[stat.find("(") + 1 : close]
    found: dict[int, str] = {}
    todo = [pid]
    while todo:
        parent = todo.pop()
        for child, ppid in parents.items():
            if ppid == parent and child not in found:
                found[child] = names[child]
                todo.append(child)
    return found


def alive(pid: int) -> bool:
    """Exists and is no zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rfind(")") + 2] not in "ZX"


def wait_for(condition, timeout: float, step: float = 0.02) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(step)
    return condition()
