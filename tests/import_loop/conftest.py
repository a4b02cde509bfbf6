"""Helpers for the import-loop tests: generated JPEG trees, running bin/hg-import, reading
the database through `hg-build query`."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import orjson
from PIL import Image, ImageDraw

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
VOLATILE = {"updated"}


def make_jpegs(root: Path, count: int, size: tuple[int, int] = (640, 480)) -> list[Path]:
    """`count` distinct JPEGs in a few folders (drawn, so each has its own checksum)."""
    paths = []
    for i in range(count):
        folder = root / f"{2000 + i % 3}" / f"event {i % 4}"
        folder.mkdir(parents=True, exist_ok=True)
        img = Image.new("RGB", size, ((i * 37) % 256, (i * 91) % 256, (i * 13) % 256))
        draw = ImageDraw.Draw(img)
        for k in range(12):
            x, y = (i * 17 + k * 53) % size[0], (i * 29 + k * 71) % size[1]
            draw.ellipse((x, y, x + 90, y + 60), fill=((k * 40) % 256, 255 - k * 20, i % 256))
        path = folder / f"IMG_{i:04d}.jpg"
        img.save(path, quality=85)
        paths.append(path)
    return paths


def env() -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("HG_")}
    return {**clean, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}


def hg_import(*args, home: Path, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(REPO / "bin" / "hg-import"), "--home", str(home), *map(str, args)],
        capture_output=True,
        text=True,
        env=env(),
        timeout=timeout,
    )


def hg(tool: str, *args, home: Path, stdin: bytes | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(BIN / tool), *map(str, args), "--home", str(home)],
        capture_output=True,
        input=stdin,
        env=env(),
        timeout=300,
    )


def gallery(home: Path) -> list[dict]:
    """Every entry of the database (`hg-build query ''`), minus volatile fields, by id."""
    proc = hg("hg-build", "query", "", home=home)
    assert proc.returncode == 0, proc.stderr.decode()
    records = [orjson.loads(line) for line in proc.stdout.splitlines()]
    return sorted(
        ({k: v for k, v in r.items() if k not in VOLATILE} for r in records),
        key=lambda r: r["id"],
    )


def gallery_paths(home: Path) -> set[str]:
    return {f["path"] for r in gallery(home) for f in r["files"]}
