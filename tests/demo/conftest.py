"""Shared fixtures for the demo tests: the generated sample archive (made once per session)
and the venv's hg executables."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).parents[2]
BIN = Path(sys.executable).parent


def hg_tool(name: str) -> str:
    """The venv's console script (the tests run the real executables)."""
    return str(BIN / name)


@pytest.fixture(scope="session")
def sample_archive(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("sample") / "source"
    subprocess.run(
        [sys.executable, str(REPO / "demo" / "make_sample_archive.py"), str(out)], check=True
    )
    return out


@pytest.fixture(scope="session")
def sample_manifest(sample_archive) -> dict:
    return json.loads((sample_archive / ".hg-sample.json").read_text(encoding="utf-8"))
