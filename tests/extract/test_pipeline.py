"""The real `hg-index | hg-extract` on copies of ../shared/media: what lands in storage."""

from __future__ import annotations

import subprocess

from PIL import Image, ImageChops, ImageStat

from hg_common.layout import relpath
from tests.conftest import media_file


def _img(storage, rel):
    with Image.open(storage / rel) as img:
        img.load()
        return img.copy(), img.format, img.info


def test_run_reports_failures_and_finishes_the_rest(pipeline):
    assert pipeline["code"] == 1
    types = {r["type"] for r in pipeline["records"]}
    # scanned: hg-index's, passed on; ml: the similarity vectors and objects, after the entries
    assert types == {"entry", "error", "skip", "scanned", "ml"}
    entries = [r for r in pipeline["records"] if r["type"] == "entry"]
    primaries = sorted(r["files"][0]["path"] for r in entries)
    assert primaries == sorted(
        [
            "exif-samples/jpg/orientation/portrait_1.jpg",
            "exif-samples/jpg/orientation/portrait_6.jpg",
            "exif-samples/jpg/gps/DSCN0010.jpg",
            "exif-samples/heic/mobile/iphone_13_pro_max.HEIC",
            "exiftool/images/FujiFilm.raf",
            "exiftool/images/DNG.dng",
            "tricky/sidecar/IMG_0001.jpg",
            "tricky/sidecar/IMG_0002.jpg",
            "tricky/png-named.jpg",
            "tricky/generated.webp",
            "webp/generated.webp",
            "tricky/rotated90-gps.mp4",
            "tricky/Straße_ümlaut.jpg",
            "rawpair/IMG_9.RAF",
        ]
    )
    for rec in entries:
        assert rec["v"] == 1 and len(rec["id"]) == 64
        assert rec["files"][0]["primary"] and rec["files"][0]["checksum"] == rec["id"]


def test_preview_sizes_orientation_and_format(pipeline):
    st = pipeline["storage"]
    rec = pipeline["by_path"]["exif-samples/jpg/orientation/portrait_6.jpg"]
    assert rec["media_type"] == "image"
    # stored 600x450 with "rotate 90": previews are portrait, never upscaled
    sizes = [_img(st, p)[0].size for p in rec["previews"]]
    assert sizes == [(450, 600), (240, 320), (96, 128)]
    assert rec["previews"][-1] == relpath(rec["id"], "image-preview-128.jpg")
    small, fmt, info = _img(st, rec["previews"][0])
    assert fmt == "JPEG" and not info.get("progressive") and "exif" not in info
    # the same picture as portrait_1 (stored upright): rotated the right way, not mirrored
    ref = pipeline["by_path"]["exif-samples/jpg/orientation/portrait_1.jpg"]
    a, b = _img(st, rec["previews"][-1])[0], _img(st, ref["previews"][-1])[0]
    assert a.size == b.size

    def diff(x):
        return max(ImageStat.Stat(ImageChops.difference(x, b)).mean)

    wrong = [a.transpose(t) for t in Image.Transpose] + [a.rotate(180)]
    assert diff(a) < min(diff(w) for w in wrong if w.size == b.size)
    assert rec["colors"] and all(c.startswith("#") and len(c) == 7 for c in rec["colors"])


def test_exif_fields_and_offline_address(pipeline):
    rec = pipeline["by_path"]["exif-samples/jpg/gps/DSCN0010.jpg"]
    meta = rec["files"][0]["meta"]
    assert meta["make"] == "NIKON" and meta["model"] == "COOLPIX P6000"
    assert meta["dates"]["DateTimeOriginal"] == "2008:10:22 16:28:39"
    assert abs(meta["latitude"] - 43.4674) < 1e-3 and abs(meta["longitude"] - 11.8851) < 1e-3
    assert meta["iso"] == 64 and abs(meta["exposure"] - 1 / 75) < 1e-4
    assert meta["focal_length"] == 24 and meta["width"] == 640 and meta["height"] == 480
    assert rec["address"]["source"] == "offline"
    assert rec["address"]["country"] == "Italy" and rec["address"]["state"] == "Tuscany"
    stored = pipeline["storage"] / relpath(rec["id"], "exif.json")
    assert b'"Make":"NIKON"' in stored.read_bytes()
    meta_file = pipeline["storage"] / relpath(rec["id"], "meta.json")
    assert meta_file.is_file() and (meta_file.stat().st_mode & 0o044) == 0o044
    umlaut = pipeline["by_path"]["tricky/Straße_ümlaut.jpg"]["files"][0]["meta"]
    assert umlaut["dates"]["DateTimeOriginal"] == "2019:12:24 18:00:00"
    assert umlaut["dates"]["offset"] == "+01:00"


def test_xmp_sidecars_join_their_photo(pipeline):
    for jpg, xmp, tag in [
        ("tricky/sidecar/IMG_0001.jpg", "tricky/sidecar/IMG_0001.jpg.xmp", "holiday"),
        ("tricky/sidecar/IMG_0002.jpg", "tricky/sidecar/IMG_0002.xmp", "forest"),
    ]:
        rec = pipeline["by_path"][jpg]
        assert pipeline["by_path"][xmp] is rec
        files = {f["path"]: f for f in rec["files"]}
        assert files[jpg]["primary"] and files[xmp]["file_type"] == "meta"
        assert tag in files[xmp]["meta"]["tags"]
    xmp_meta = pipeline["by_path"]["tricky/sidecar/IMG_0001.jpg.xmp"]["files"][1]["meta"]
    assert xmp_meta["title"] == "Sidecar title" and xmp_meta["rating"] == 4
    assert xmp_meta["dates"]["DateTimeOriginal"] == "2021:07:14 10:30:00"


def test_heic_avif_webp(pipeline):
    st = pipeline["storage"]
    heic = pipeline["by_path"]["exif-samples/heic/mobile/iphone_13_pro_max.HEIC"]
    # libheif rotates (irot) itself: portrait, and not rotated a second time
    assert _img(st, heic["previews"][-1])[0].size == (96, 128)
    assert len(heic["previews"]) == 5
    # one base name: one entry, the larger file (the WebP here) is the primary
    pair = pipeline["by_path"]["tricky/generated.avif"]
    assert pipeline["by_path"]["tricky/generated.webp"] is pair
    assert pair["files"][0]["path"] == "tricky/generated.webp"
    assert pair["files"][1]["meta"]["mime"] == "image/avif"
    webp = pipeline["by_path"]["webp/generated.webp"]
    assert webp["files"][0]["meta"]["mime"] == "image/webp"
    assert _img(st, webp["previews"][-1])[0].size == (128, 96)


def test_raw_with_embedded_preview_with_sidecar_and_without(pipeline):
    st = pipeline["storage"]
    alone = pipeline["by_path"]["exiftool/images/FujiFilm.raf"]
    assert alone["media_type"] == "rawImage"
    assert (st / relpath(alone["id"], "raw-preview.jpg")).is_file()
    assert alone["previews"] and alone["files"][0]["meta"]["make"] == "FUJIFILM"
    pair = pipeline["by_path"]["rawpair/IMG_9.RAF"]
    assert [f["path"] for f in pair["files"]] == ["rawpair/IMG_9.RAF", "rawpair/IMG_9.JPG"]
    assert pair["media_type"] == "rawImage"
    assert pair["id"] != alone["id"]
    assert not (st / relpath(pair["id"], "raw-preview.jpg")).exists()
    jpg_size = Image.open(media_file("exif-samples/jpg/Fujifilm_FinePix_E500.jpg")).size
    assert _img(st, pair["previews"][0])[0].size == jpg_size  # made from the JPG sidecar
    bare = pipeline["by_path"]["exiftool/images/DNG.dng"]
    assert bare["type"] == "entry" and bare["previews"] == []
    assert bare["errors"][0]["warning"] and "no embedded preview" in bare["errors"][0]["error"]


def _top_level_boxes(path):
    boxes, data, pos = [], path.read_bytes(), 0
    while pos + 8 <= len(data):
        size = int.from_bytes(data[pos : pos + 4], "big")
        boxes.append(data[pos + 4 : pos + 8].decode("latin-1"))
        if size == 1:
            size = int.from_bytes(data[pos + 8 : pos + 16], "big")
        if size < 8:
            break
        pos += size
    return boxes


def test_video_transcode_is_web_friendly_and_upright(pipeline):
    rec = pipeline["by_path"]["tricky/rotated90-gps.mp4"]
    assert rec["media_type"] == "video" and rec["video"]
    out = pipeline["storage"] / rec["video"]
    probe = subprocess.run(
        ["ffprobe", "-v", "error", "-show_streams", "-of", "json", str(out)],
        capture_output=True,
        check=True,
        text=True,
    ).stdout
    import json

    video = [s for s in json.loads(probe)["streams"] if s["codec_type"] == "video"][0]
    assert video["codec_name"] == "h264" and video["pix_fmt"] == "yuv420p"
    assert (video["width"], video["height"]) == (240, 320) and video["height"] <= 720
    assert not video.get("side_data_list")  # no rotation left for players to apply twice
    boxes = _top_level_boxes(out)
    assert boxes.index("moov") < boxes.index("mdat")  # +faststart
    poster = pipeline["storage"] / relpath(rec["id"], "video-poster.jpg")
    assert Image.open(poster).size == (240, 320)
    assert _img(pipeline["storage"], rec["previews"][-1])[0].size == (96, 128)
    assert rec["address"]["country"] == "France"
    assert (pipeline["storage"] / relpath(rec["id"], "ffprobe.json")).is_file()


def test_every_broken_file_is_reported(pipeline):
    bp = pipeline["by_path"]
    for path, words in [
        ("tricky/truncated.jpg", "truncated"),
        ("tricky/not-an-image.jpg", "not a readable image"),
        ("bomb.png", "too large"),
        ("gone/vanished.jpg", "vanish"),
    ]:
        rec = bp[path]
        assert rec["type"] == "error" and rec["stage"] == "extract", (path, rec)
        assert words in rec["error"], (path, rec["error"])
        assert path in pipeline["stderr"]
    pdf = bp["exiftool/images/PDF.pdf"]  # not media: skipped, reported, not a failure
    assert pdf["type"] == "skip" and "unsupported file type" in pdf["reason"]
    assert bp["tricky/zero-byte.jpg"]["stage"] == "index"  # hg-index's error passes through
    png = bp["tricky/png-named.jpg"]
    assert png["type"] == "entry" and png["previews"]
    assert png["errors"] == [
        {
            "path": "tricky/png-named.jpg",
            "error": "content is image/png but the name says .jpg",
            "warning": True,
        }
    ]
