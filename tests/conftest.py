"""Shared test helpers: where the real sample media is, and how to run the real tools."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import orjson
import pytest
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
MEDIA = (REPO.parent / "shared" / "media").resolve()
"""The larger corpus beside the checkout (an extra: tests that need it skip without it)."""
FIXTURES = REPO / "tests" / "fixtures" / "media"
"""The small set of real files committed with the repository, at their paths under MEDIA."""
BIN = Path(sys.executable).parent


@dataclass
class Run:
    returncode: int
    records: list[dict]
    stderr: str
    stdout: bytes = b""

    def of_type(self, kind: str) -> list[dict]:
        return [r for r in self.records if r["type"] == kind]

    def paths(self, kind: str) -> list[str]:
        return sorted(r["path"] for r in self.of_type(kind))


def tool(name: str) -> str:
    path = BIN / name
    assert path.exists(), f"{path} missing: run `make install`"
    return str(path)


def run_tool(
    name: str,
    *args: str,
    home: Path | None = None,
    stdin: bytes | None = None,
    env: dict | None = None,
    timeout: float = 120,
    user: str | None = None,
) -> Run:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("HG_")}
    if home is not None:
        full_env["HG_HOME"] = str(home)
    full_env.update(env or {})
    cmd = [tool(name), *args]
    if user:
        import pwd

        pw = pwd.getpwnam(user)
        cmd = ["setpriv", f"--reuid={pw.pw_uid}", f"--regid={pw.pw_gid}", "--clear-groups", *cmd]
    proc = subprocess.run(cmd, input=stdin, capture_output=True, env=full_env, timeout=timeout)
    lines = [line for line in proc.stdout.splitlines() if line.strip()]
    records = [orjson.loads(line) for line in lines if line.startswith(b"{")]
    return Run(proc.returncode, records, proc.stderr.decode(errors="replace"), proc.stdout)


def media_file(rel: str) -> Path:
    """A sample file by its path under ../shared/media: the committed copy in
    tests/fixtures/media when there is one, else the shared corpus; the test is skipped
    (saying which file) when neither has it."""
    for base in (FIXTURES, MEDIA):
        path = base / rel
        if path.exists():
            return path
    pytest.skip(f"needs ../shared/media/{rel} (not in tests/fixtures/media)")


@pytest.fixture
def copy_media(tmp_path):
    """Copy sample files or folders (paths under ../shared/media) into a temp source folder."""

    def copy(*parts: str, dest: str = "src") -> Path:
        return copy_media_parts(list(parts), tmp_path / dest)

    return copy


def copy_media_parts(parts: list[str], root: Path) -> Path:
    """Copy files or folders of the sample media (paths under ../shared/media, found by
    `media_file`: a committed folder is complete) into root; returns root."""
    for part in parts:
        src, target = media_file(part), root / part
        if src.is_dir():
            shutil.copytree(src, target, dirs_exist_ok=True)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, target)
    return root


FACE_GROUP = ("obama-portrait.jpg", "biden-portrait.jpg", "astronaut-collins.jpg")


def face_photos(src: Path, names: Iterable[str], group: str | None = None) -> Path:
    """Copy photos of tests/fixtures/media/faces into `src` (flat); with `group`, also a
    photo of that name made of FACE_GROUP side by side: three persons in one photo."""
    src.mkdir(parents=True, exist_ok=True)
    for name in names:
        (src / name).write_bytes(media_file(f"faces/{name}").read_bytes())
    if group:
        photo = Image.new("RGB", (1500, 700), "white")
        for i, name in enumerate(FACE_GROUP):
            with Image.open(media_file(f"faces/{name}")) as img:
                img.thumbnail((500, 700))
                photo.paste(img, (500 * i, 0))
        photo.save(src / group, quality=90)
    return src


@contextmanager
def tmpfs(size: str, path: Path | None = None) -> Iterator[Path]:
    """A small filesystem of its own at `path` (default: a new temp folder), to fill a disk
    without filling /tmp; root only: the test is skipped where mounting is refused."""
    where = path or Path(tempfile.mkdtemp(prefix="hg-tmpfs-"))
    where.mkdir(parents=True, exist_ok=True)
    try:
        mounted = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)],
            capture_output=True,
        )
        if mounted.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
        try:
            yield where
        finally:
            subprocess.run(["umount", "-l", str(where)], check=False)
    finally:
        if path is None:
            shutil.rmtree(where, ignore_errors=True)
