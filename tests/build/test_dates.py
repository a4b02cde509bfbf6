"""Date priority (HomeGallery's order) on entry records, pure."""

import random
from datetime import UTC, datetime, timedelta, timezone

from hg_build.dates import iso, parse_date, sort_key
from hg_build.entries import media_from_entry


def f(path, size, kind, dates, primary=False):
    return {"source": "s", "path": path, "size": size, "mtime": 0.0, "checksum": path,
            "file_type": kind, "primary": primary, "meta": {"dates": dates}}  # fmt: skip


def entry(*files):
    return media_from_entry({"type": "entry", "v": 1, "id": "x" * 64, "files": list(files)})


RAW = f("IMG_1.CR2", 900, "rawImage", {"DateTimeOriginal": "2019:04:28 08:48:49"}, True)
JPG = f("IMG_1.JPG", 300, "image", {"DateTimeOriginal": "2019:04:28 09:00:00"})
XMP = f("IMG_1.xmp", 2, "meta", {"DateTimeOriginal": "2019:04:29 02:48:49"})
XMP2 = f("IMG_1.CR2.xmp", 2, "meta", {"CreateDate": "2020:01:01 00:00:00"})


def test_xmp_first_then_primary_then_sidecars():
    assert entry(RAW, JPG, XMP)["date"] == "2019-04-29T02:48:49"
    assert entry(RAW, JPG)["date"] == "2019-04-28T08:48:49"
    assert entry({**RAW, "meta": {}}, JPG)["date"] == "2019-04-28T09:00:00"
    # the shorter-named XMP (IMG_1.xmp) before IMG_1.CR2.xmp, as HomeGallery
    assert entry(RAW, XMP2, XMP)["date"] == "2019-04-29T02:48:49"


def test_key_order_within_a_file_and_invalid_dates():
    dates = {"GPSDateTime": "2019:04:28 06:48:49Z", "DateTimeOriginal": "2019:04:28 08:48:49",
             "offset": "+02:00"}  # fmt: skip
    assert entry({**RAW, "meta": {"dates": dates}})["date"] == "2019-04-28T08:48:49+02:00"
    bad = {"SubSecDateTimeOriginal": "0000:00:00 00:00:00", "CreateDate": "2001:02:03 04:05:06"}
    assert entry({**RAW, "meta": {"dates": bad}})["date"] == "2001-02-03T04:05:06"


def test_mtime_fallback_and_timezones():
    assert entry({**RAW, "mtime": 86400.5, "meta": {}})["date"] == "1970-01-02T00:00:00.500Z"
    assert parse_date("2021:07:04 12:34:56.12+02:00").isoformat() == (
        "2021-07-04T12:34:56.120000+02:00"
    )
    assert parse_date("2021:13:04 12:34:56") is None
    assert parse_date(None) is None


def test_iso_and_sort_key_agree_with_the_standard_library():
    """`iso` and `sort_key` take shortcuts; they give what isoformat()/timestamp() give."""
    rng = random.Random(5)
    zones = [None, UTC, timezone(timedelta(hours=5, minutes=45)), timezone(-timedelta(hours=8))]
    for _ in range(20000):
        dt = datetime(1, 1, 1) + timedelta(
            seconds=rng.randrange(315537897599), microseconds=rng.choice([0, rng.randrange(10**6)])
        )
        dt = dt.replace(tzinfo=rng.choice(zones))
        assert sort_key(dt) == (dt if dt.tzinfo else dt.replace(tzinfo=UTC)).timestamp()
        text = dt.isoformat(timespec="milliseconds" if dt.microsecond else "seconds")
        assert iso(dt) == (text[:-6] + "Z" if text.endswith("+00:00") else text)
