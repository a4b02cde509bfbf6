"""The real pipeline for hg-serve's tests: `hg-index SRC | hg-extract | hg-build` into a home.

The three real executables run as one shell-style pipe of subprocesses (real exiftool,
ffmpeg and SQLite underneath), exactly what a user runs before `hg-serve`.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from tests.conftest import tool


def import_media(src: Path, home: Path, video: bool = False) -> str:
    """Import src into home; every stage must exit 0. Returns the stages' stderr."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HG_")}
    env["HG_HOME"] = str(home)
    extract_args = ["--no-progress", "-j", "2", *([] if video else ["--no-video"])]
    logs = [home.parent / f".{name}.log" for name in ("index", "extract", "build")]
    home.parent.mkdir(parents=True, exist_ok=True)
    with open(logs[0], "wb") as e0, open(logs[1], "wb") as e1, open(logs[2], "wb") as e2:
        index = subprocess.Popen(
            [tool("hg-index"), str(src), "--no-progress"],
            stdout=subprocess.PIPE,
            stderr=e0,
            env=env,
        )
        extract = subprocess.Popen(
            [tool("hg-extract"), *extract_args],
            stdin=index.stdout, stdout=subprocess.PIPE, stderr=e1, env=env,
        )  # fmt: skip
        index.stdout.close()
        build = subprocess.Popen(
            [tool("hg-build"), "-q"], stdin=extract.stdout, stdout=subprocess.PIPE, stderr=e2,
            env=env,
        )  # fmt: skip
        extract.stdout.close()
        out, _ = build.communicate(timeout=300)
        codes = (index.wait(60), extract.wait(60), build.returncode)
    stderr = "".join(p.read_text(errors="replace") for p in logs)
    assert codes == (0, 0, 0), f"pipeline exited {codes}: {stderr}\n{out.decode()}"
    return stderr
