"""The pure parts of `hg-import --fetch`: URLs, what to ask for, which names to accept."""

from __future__ import annotations

import pytest

from hg_import.fetch import (
    FetchError,
    plan,
    remove_records,
    safe_storage_path,
    split_url,
    state_entry,
    state_key,
    wanted_files,
)

C = "ab" * 32


def test_split_url_takes_the_login_out():
    assert split_url("http://anna:s%40cret@nas:3000/g/") == ("http://nas:3000/g", "anna", "s@cret")
    assert split_url("https://nas") == ("https://nas", None, None)
    with pytest.raises(FetchError):
        split_url("nas:3000")
    assert state_key("http://nas:3000/g", "anna") != state_key("http://nas:3000/g", "ben")
    assert state_key("http://nas:3000/g", "anna").startswith("nas-3000/g-anna-")


def test_plan_asks_for_new_and_changed_ids_and_drops_gone_ones():
    known = {"a": {"updated": "1"}, "b": {"updated": "1"}, "c": {"updated": "1"}}
    assert plan([["a", "1"], ["b", "2"], ["d", "1"]], known) == (["b", "d"], ["c"])
    assert plan([], {}) == ([], [])


def test_only_storage_artefact_names_are_accepted():
    good = f"ab/ab/{C[4:]}-image-preview-320.jpg"
    assert safe_storage_path(good)
    for bad in ("../etc/passwd", f"ab/../{good}", f"/{good}", "ab/ab/x.jpg", None, 3,
                f"ab\\ab/{C[4:]}-image-preview-320.jpg"):  # fmt: skip
        assert not safe_storage_path(bad), bad


def test_state_and_removes_of_an_entry():
    entry = {
        "id": C,
        "previews": ["p1", "p2"],
        "video": "v",
        "files": [
            {"source": "s", "root": "/r", "path": "a.jpg", "size": 1, "checksum": C, "meta": {}}
        ],
    }
    assert wanted_files(entry) == ["p1", "p2", "v"]
    kept = state_entry(entry, "t")
    assert kept == {
        "updated": "t",
        "files": [{"source": "s", "root": "/r", "path": "a.jpg", "size": 1, "checksum": C}],
    }
    assert remove_records({C: kept}, [C]) == [{"type": "remove", "v": 1, **kept["files"][0]}]
