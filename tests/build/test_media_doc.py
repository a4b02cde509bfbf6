"""The stored doc is compact, and unpacks to the whole media dict, key for key."""

from __future__ import annotations

import orjson

from hg_build import media_doc
from hg_build.entries import media_from_entry

from .test_fresh_build import entry

ID = "ab" + "cd" + "0123456789" * 6


def media(**extra) -> dict:
    record = entry(3, "2021:07:04 12:34:56", ["sea"], sidecar=True)
    record["id"] = ID
    record["files"][0]["checksum"] = ID
    record["previews"] = [f"ab/cd/{ID[4:]}-image-preview-{s}.jpg" for s in (1920, 320)]
    record["video"] = f"ab/cd/{ID[4:]}-video.mp4"
    return {**media_from_entry(record), **extra}


def full_doc(m: dict) -> dict:
    """What schema v3 stored: the media dict less three fields, nulls and all."""
    return {k: v for k, v in m.items() if k not in ("ts", "similarity", "extracted_tags")}


def test_a_doc_unpacks_to_the_whole_media_dict_in_order():
    m = media()
    stored = media_doc.pack(m, m["files"])
    assert media_doc.unpack(stored) == full_doc(m)
    assert list(media_doc.unpack(stored)) == list(full_doc(m)) == list(media_doc.KEYS)
    assert list(media_doc.unpack(stored)["files"][0]) == list(m["files"][0])


def test_the_stored_doc_leaves_out_nulls_and_the_id_repeated():
    m = media()
    stored = media_doc.pack(m, m["files"])
    doc = orjson.loads(stored)
    assert ID not in stored.replace(f'"id":"{ID}"', "")
    assert doc["previews"] == ["-image-preview-1920.jpg", "-image-preview-320.jpg"]
    assert doc["video"] == "-video.mp4"
    assert "lens" not in doc and "objects" not in doc and "checksum" not in doc["files"][0]
    assert doc["files"][1]["checksum"] == m["files"][1]["checksum"]  # the sidecar's own
    assert len(stored) < len(orjson.dumps(full_doc(m))) * 0.6


def test_paths_of_other_entries_and_copies_elsewhere_are_kept_as_they_are():
    m = media(previews=["12/34/5678-image-preview-320.jpg"], video=None)
    copy = {**m["files"][0], "path": "elsewhere/x.jpg", "primary": False}
    stored = media_doc.pack(m, [*m["files"], copy])
    back = media_doc.unpack(stored)
    assert back["previews"] == ["12/34/5678-image-preview-320.jpg"] and back["video"] is None
    assert back["files"][2] == copy  # a copy keeps its checksum (the id) and its place


def test_a_doc_stored_in_full_by_schema_v3_unpacks_to_itself():
    m = media(lens="50mm", objects=[{"class": "dog"}])
    assert media_doc.unpack(orjson.dumps(full_doc(m))) == full_doc(m)


def test_a_field_read_alone_reads_as_in_the_whole_dict():
    m = media(colors=[])
    stored = orjson.loads(media_doc.pack(m, m["files"]))
    whole = media_doc.unpack(orjson.dumps(stored))
    for key in ("previews", "video", "colors", "width", "lens", "files", "duration"):
        assert media_doc.unpack_field(ID, key, stored.get(key)) == whole[key], key
