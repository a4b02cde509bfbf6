"""Query results on a database built from real media (../shared/media)."""

from __future__ import annotations

import sqlite3

import pytest

from tests.build.conftest import hg_build, names, query


def test_everything_newest_first(gallery):
    results = query(gallery, "")
    dates = [r["date"] for r in results]
    assert len(results) == 24
    assert all(r["type"] == "media" and r["v"] == 1 for r in results)
    ts = [r["date"][:10] for r in results]
    assert ts == sorted(ts, reverse=True), dates


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("tag:beach", {"IMG_0001.jpg"}),
        ("tag:BEACH", {"IMG_0001.jpg"}),
        ("tags all in (beach, holiday)", {"IMG_0001.jpg"}),
        ("tags all in (beach, forest)", set()),
        ("tag in (beach forest)", {"IMG_0001.jpg", "IMG_0002.jpg"}),
        ("tag ~ fore", {"IMG_0002.jpg"}),
        ("year:2019", {"Straße_ümlaut.jpg"}),
        ("year = 2019 and month = 12 and d = 24", {"Straße_ümlaut.jpg"}),
        ("date:2019-12-24", {"Straße_ümlaut.jpg"}),
        ("straße", {"Straße_ümlaut.jpg"}),  # free text: file name, non-ASCII
        ("STRASSE", {"Straße_ümlaut.jpg"}),  # casefolding: ß == ss
        ("filename:Straße_ümlaut.jpg", {"Straße_ümlaut.jpg"}),
        ("type:video", {"rotated90-gps.mp4", "with-gps.mp4"}),  # live photo: HEIC is larger
        ("type:rawImage", set()),  # HEIC is an image (pillow-heif decodes it)
        ("type:image and filename:IMG_0100.HEIC", {"IMG_0100.HEIC"}),
        ("ratio:portrait type:video", {"rotated90-gps.mp4"}),
        ("duration > '0:01'", {"rotated90-gps.mp4", "IMG_0100.HEIC"}),
        # same-as-portrait_6.JPG has the same bytes: one entry, two primary copies
        ("path:orientation ratio:portrait", {"portrait_6.jpg", "same-as-portrait_6.JPG"}),
        ("width = 450 and height = 600", {"portrait_6.jpg", "same-as-portrait_6.JPG"}),
        ("ext:jpeg", {"UPPER_CASE.JPEG"}),
        (
            "file ~ duplicates/",
            {"DSCN0010 copy.jpg", "DSCN0010.jpg", "portrait_6.jpg", "same-as-portrait_6.JPG"},
        ),  # fmt: skip
        (
            "make:nikon and model ~ p6000 and path:gps",
            {f"DSCN00{n}.jpg" for n in ("10", "12", "21", "25", "27", "29", "38", "40", "42")}
            | {"DSCN0010 copy.jpg"},
        ),  # fmt: skip
        ("near:51.4169,-0.0806,1km", {"with-gps.mp4"}),
        ("lat in [48:49] and lon in [2:3]", {"rotated90-gps.mp4"}),
        ("title:'Sidecar title'", {"IMG_0001.jpg"}),
        ("not exists(make) and tag:beach", set()),
        ("count(files) = 2 and tag:holiday", {"IMG_0001.jpg"}),
        ("filesize > 1MB", set()),
        # any file of the entry: XMP sidecars, the AVIF beside generated.webp, a small PNG
        (
            "filesize in [1k:5kb]",
            {"IMG_0001.jpg", "IMG_0002.jpg", "png-named.jpg", "generated.webp"},
        ),  # fmt: skip
        ("index:photos and tag:forest", {"IMG_0002.jpg"}),
    ],
)
def test_queries(gallery, text, expected):
    assert names(query(gallery, text)) == expected


def test_xmp_sidecar_date_wins_over_primary(gallery):
    # P1.jpg has GPSDateTime 2008-… and DateTimeOriginal; its XMP sidecar says 2022-03-04.
    (entry,) = query(gallery, "filename:P1.jpg")
    assert entry["date"] == "2022-03-04T05:06:07"
    assert "xmp-tag" in entry["tags"]
    assert [f["type"] for f in entry["files"]] == ["image", "meta"]


def test_dates_keep_the_timezone(gallery):
    (entry,) = query(gallery, "year:2019")
    assert entry["date"] == "2019-12-24T18:00:00+01:00"


def test_width_height_after_orientation(gallery):
    (portrait,) = query(gallery, "filename:portrait_6.jpg")
    assert (portrait["width"], portrait["height"], portrait["orientation"]) == (450, 600, 6)
    (video,) = query(gallery, "filename:rotated90-gps.mp4")
    assert (video["width"], video["height"]) == (240, 320)


def test_duplicates_share_one_entry(gallery):
    (entry,) = query(gallery, "file ~ 'DSCN0010 copy'")
    assert {f["path"] for f in entry["files"]} == {
        "gps/DSCN0010.jpg",
        "tricky/duplicates/DSCN0010 copy.jpg",
    }


def test_order_by(gallery):
    asc = query(gallery, "path:gps order by date asc")
    assert [r["date"] for r in asc] == sorted(r["date"] for r in asc)
    wide = query(gallery, "order by width desc")
    widths = [r["width"] or 0 for r in wide]
    assert widths == sorted(widths, reverse=True)
    by_tags = query(gallery, "order by count(tags)")
    assert by_tags[0]["tags"] == ["beach", "holiday"]


def test_ids_for_scripts(gallery):
    out = hg_build(gallery, "query", "tag:forest", "--ids").stdout.decode().split()
    assert len(out) == 1 and len(out[0]) == 64
    assert names(query(gallery, f"id:{out[0][:8]}")) == {"IMG_0002.jpg"}


@pytest.mark.parametrize(
    "evil",
    [
        "x' OR '1'='1",
        "'; DROP TABLE entries; --",
        '" OR 1=1 --',
        "%",
        "beach' UNION SELECT doc, tags, updated FROM entries --",
    ],
)
def test_sql_injection_returns_nothing_and_breaks_nothing(gallery, evil):
    quoted = '"' + evil.replace('"', '\\"') + '"'
    for text in (quoted, f"tag:{quoted}", f"make = {quoted}", f"file ~ {quoted}",
                 f"tag in ({quoted}, x)"):  # fmt: skip
        assert query(gallery, text) == []
    conn = sqlite3.connect(gallery / "gallery.db")
    assert conn.execute("SELECT count(*) FROM entries").fetchone()[0] == 24
    conn.close()


def test_query_errors_exit_2_with_position(gallery):
    proc = hg_build(gallery, "query", "year:2020 colour:red", check=False)
    assert proc.returncode == 2
    assert b"unknown key 'colour' at position 11" in proc.stderr
    assert proc.stdout == b""
