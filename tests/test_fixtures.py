"""The committed sample media is complete and unchanged (and equal to the corpus beside it)."""

from __future__ import annotations

import hashlib

import pytest

from tests.conftest import FIXTURES, MEDIA


def manifest() -> dict[str, str]:
    lines = (FIXTURES / "MANIFEST.sha256").read_text(encoding="utf-8").splitlines()
    return {line[66:]: line[:64] for line in lines if line.strip()}


def sha256(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_every_committed_file_is_listed_and_intact():
    listed = manifest()
    on_disk = {
        p.relative_to(FIXTURES).as_posix()
        for p in FIXTURES.rglob("*")
        if p.is_file() and p.name not in ("MANIFEST.sha256", "LICENSES.md")
    }
    assert on_disk == set(listed)
    assert {rel: sha256(FIXTURES / rel) for rel in listed} == listed
    assert sum((FIXTURES / rel).stat().st_size for rel in listed) < 10 * 2**20  # a few MB


NOT_FROM_CORPUS = ("faces/",)
"""Fixture folders taken from registry packages, not from ../shared/media (LICENSES.md)."""


def test_fixtures_are_copies_of_the_shared_corpus():
    if not MEDIA.is_dir():
        pytest.skip("../shared/media is not beside the checkout")
    differ = [
        rel
        for rel, digest in manifest().items()
        if not rel.startswith(NOT_FROM_CORPUS) and sha256(MEDIA / rel) != digest
    ]
    assert differ == []
