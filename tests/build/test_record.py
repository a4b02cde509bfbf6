"""The media record read back from `entries` columns and `files` rows is the media dict
that was written, field for field and in order; the entry's own storage paths are stored
short."""

from __future__ import annotations

import copy

from hg_build import db, record
from hg_build.build import Builder
from hg_build.entries import media_from_entry
from hg_build.query.search import search_fields

from .test_fresh_build import entry

ID = "ab" + "cd" + "0123456789" * 6


def with_extras(n: int, **extra) -> dict:
    r = entry(n, "2021:07:04 12:34:56", ["sea"], sidecar=True)
    cid = f"{n:064x}" if "id" not in extra else extra["id"]
    r.update(id=cid, colors=["#a1b2c3"], video=f"{cid[:2]}/{cid[2:4]}/{cid[4:]}-video.mp4",
             previews=[f"{cid[:2]}/{cid[2:4]}/{cid[4:]}-image-preview-{s}.jpg" for s in (1920, 320)]
             + ["12/34/5678-image-preview-128.jpg"])  # fmt: skip
    r["files"][0]["checksum"] = cid
    r["files"][0]["meta"].update(iso=100, rating=5, focal_length=35.0)
    return {**r, **{k: v for k, v in extra.items() if k != "id"}}


def expected(rec: dict) -> dict:
    media = media_from_entry(rec)
    return {
        k: v
        for k, v in media.items()
        if k not in ("ts", "similarity", "face_descriptors", "extracted_tags")
    }


def test_records_read_back_what_was_written(tmp_path):
    conn = db.open_database(tmp_path / "g.db")
    recs = [with_extras(1), with_extras(2, id=ID), with_extras(3, colors=[], video=None)]
    Builder(conn, print).apply_chunk(copy.deepcopy(recs))
    got = db.records(conn, [r["id"] for r in recs] + ["f" * 64])
    assert len(got) == 3
    for rec in recs:
        media = {k: v for k, v in got[rec["id"]].items() if k not in ("type", "v")}
        tags, updated = media.pop("tags"), media.pop("updated")
        assert media == expected(rec) and list(media) == list(record.KEYS)
        assert tags == ["edited", "sea"] and updated
        assert type(media["iso"]) is int and type(media["focal_length"]) is float
        assert [f["type"] for f in media["files"]] == ["image", "meta"]  # primary first
    stored = conn.execute("SELECT previews, video FROM entries WHERE id = ?", (ID,)).fetchone()
    assert stored == (
        '["-image-preview-1920.jpg","-image-preview-320.jpg","12/34/5678-image-preview-128.jpg"]',
        "-video.mp4",
    )


def test_a_copy_elsewhere_is_listed_after_the_files_of_the_group_written_last(tmp_path):
    conn = db.open_database(tmp_path / "g.db")
    first = with_extras(4)
    copy_ = copy.deepcopy(first)
    copy_["files"] = [dict(copy_["files"][0], path="elsewhere/IMG_4.jpg")]
    builder = Builder(conn, print)
    builder.apply_chunk([copy.deepcopy(first)])
    builder.apply_chunk([copy.deepcopy(copy_)])
    files = db.records(conn, [first["id"]])[first["id"]]["files"]
    assert [f["path"] for f in files] == ["elsewhere/IMG_4.jpg", "d0/IMG_4.jpg", "d0/IMG_4.xmp"]
    builder.apply_chunk([copy.deepcopy(first)])
    files = db.records(conn, [first["id"]])[first["id"]]["files"]
    assert [f["path"] for f in files] == ["d0/IMG_4.jpg", "d0/IMG_4.xmp", "elsewhere/IMG_4.jpg"]


def test_grid_fields_are_the_records_fields(tmp_path):
    conn = db.open_database(tmp_path / "g.db")
    recs = [with_extras(n) for n in range(5, 9)]
    Builder(conn, print).apply_chunk(copy.deepcopy(recs))
    whole = db.records(conn, [r["id"] for r in recs])
    fields = ("date", "media_type", "width", "height", "colors", "previews", "duration", "video")
    for picked in (fields, ("files", "iso")):
        rows = list(search_fields(conn, "", picked))
        assert len(rows) == 4
        for row in rows:
            assert row == {"id": row["id"], **{f: whole[row["id"]][f] for f in picked}}
