"""Pure parts of hg-serve: settings, passwords, grid shaping, edit validation, confinement."""

from __future__ import annotations

import pytest

from hg_common.config import build_config
from hg_common.errors import ConfigError
from hg_serve import eventlog, face_crops, files, grid
from hg_serve.passwords import hash_password, is_hash, verify_password
from hg_serve.settings import is_loopback, normalise_base_path, server_settings


def test_base_path_and_loopback():
    assert normalise_base_path("/gallery/") == "/gallery"
    assert normalise_base_path("/") == normalise_base_path("") == ""
    with pytest.raises(ConfigError):
        normalise_base_path("gallery")
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.2")


def test_settings_from_config_and_flags(tmp_path):
    cfg = build_config(tmp_path, {"server": {"port": 8080, "host": "0.0.0.0"}})
    s = server_settings(cfg, port=9000)
    assert (s.host, s.port, s.base_path, s.auth_required) == ("0.0.0.0", 9000, "", False)
    with pytest.raises(ConfigError, match="unknown"):
        server_settings(build_config(tmp_path, {"server": {"prot": 1}}))
    with pytest.raises(ConfigError, match="unique"):
        h = hash_password("x")
        users = [{"name": "a", "password": h}, {"name": "a", "password": h}]
        server_settings(build_config(tmp_path, {"server": {"users": users}}))
    with pytest.raises(ConfigError, match="filter: .*position 5"):  # checked at start-up
        users = [{"name": "a", "password": hash_password("x"), "filter": "tag>>x"}]
        server_settings(build_config(tmp_path, {"server": {"users": users}}))


def test_password_hash_format():
    h = hash_password("pässword")
    assert is_hash(h) and verify_password("pässword", h) and not verify_password("password", h)
    assert not is_hash("{SHA}abc") and not verify_password("x", "{scrypt}broken")


def test_preview_sizes_and_grid_item():
    stem = "ab/cd/" + "e" * 60
    previews = [f"{stem}-image-preview-{s}.jpg" for s in (1920, 320, 800)] + [f"{stem}-x.json"]
    assert grid.preview_sizes(previews) == (stem, [1920, 800, 320])
    assert grid.preview_sizes([]) == (None, [])
    media = {"id": "i", "media_type": "video", "width": 4, "height": 3}
    media |= {"colors": ["#010203"], "previews": previews, "duration": 1.234}
    item = grid.grid_item(media)
    assert item["color"] == "#010203" and item["duration"] == 1.2 and item["type"] == "video"


def test_clean_tag():
    assert eventlog.clean_tag("  Cafe\u0301 ") == "Café"  # NFC
    for bad in ("", "   ", "a\tb", "x\u200by", "x" * 201, None):
        with pytest.raises(eventlog.EventError):
            eventlog.clean_tag(bad)


def test_confine(tmp_path):
    (tmp_path / "ab").mkdir()
    (tmp_path / "ab" / "f.jpg").write_bytes(b"x")
    assert files.confine(tmp_path, "ab/f.jpg") == (tmp_path / "ab" / "f.jpg").resolve()
    for bad in ("../x", "ab/../ab/f.jpg", "/etc/passwd", "ab//f.jpg", "ab\\f.jpg", "./ab/f.jpg"):
        assert files.confine(tmp_path, bad) == 404
    assert files.confine(tmp_path, "ab") == 404  # a folder is not a file


def test_response_cache_is_versioned_and_bounded():
    from hg_serve.cache import ResponseCache

    cache = ResponseCache(max_bytes=100)
    for key in "abcde":
        cache.put(key, 1, key.encode() * 20)
    assert cache.get("a", 1) == b"a" * 20 and cache.get("a", 2) is None  # another version
    cache.put("f", 1, b"f" * 20)  # over 100 bytes: the least recently used (b) goes
    assert cache.get("b", 1) is None and cache.get("a", 1) and cache.size == 100
    cache.put("big", 1, b"q" * 26)  # more than a quarter of the cache: not kept
    assert cache.get("big", 1) is None and cache.get("c", 1)


def test_map_snapshot_is_kept_per_database_version(tmp_path):
    from hg_build import db
    from hg_build.build import Builder
    from hg_serve.gallery import Gallery
    from tests.build.test_summaries import entry

    path = tmp_path / "gallery.db"
    conn = db.open_database(path)
    builder = Builder(conn, lambda r: None)
    builder.apply_chunk([entry(1, "2020:01:01 10:00:00", geo=(1.5, 2.5)), entry(2, "2021:01:01")])
    gallery = Gallery(path, tmp_path / "events.ndjson")
    try:
        assert gallery.geo()["lat"] == [1.5]
        snapshot = gallery._geo[1]
        assert gallery.geo("year:2021")["ids"] == [] and gallery._geo[1] is snapshot
        builder.apply_chunk([entry(3, "2022:01:01 10:00:00", geo=(3.5, 4.5))])
        gallery.reload()  # what the watcher does on a change; it also pre-warms
        gallery.prewarm().result()  # the map was used: the snapshot is re-taken at once
        assert gallery._geo[1] is not snapshot and len(gallery._geo[1]) == 2
        assert gallery.geo("year:2022")["lat"] == [3.5]
    finally:
        gallery.close()
        conn.close()


def test_page_totals_come_from_the_counts_cache_and_follow_commits(tmp_path, monkeypatch):
    """`Gallery.page` counts from hg_build.facets (issue 19) with the user's filter ANDed
    in; a commit makes the next total count the new entry."""
    from hg_build import db, facets
    from hg_build.build import Builder
    from hg_serve.gallery import Gallery
    from tests.build.test_summaries import entry

    monkeypatch.setattr(facets, "QUIET", 0.0)
    path = tmp_path / "gallery.db"
    conn = db.open_database(path)
    builder = Builder(conn, lambda r: None)
    builder.apply_chunk([entry(n, f"20{10 + n}:01:01", ["dog" if n % 2 else "cat"],
                               make="Nikon" if n % 3 else "Canon") for n in range(8)])  # fmt: skip
    gallery = Gallery(path, tmp_path / "events.ndjson")
    try:
        q, user = "tag:dog or tag:cat", ["make:nikon"]
        assert gallery.page(q, user, 0, 2)["total"] == 5  # 1, 2, 4, 5, 7
        held = facets._cache[str(path)]
        assert any(k.startswith("tag:") for k in held.loads)  # counted from the cache
        builder.apply_chunk([entry(20, "2030:01:01", ["Dog"], make="NIKON")])
        assert gallery.page(q, user, 0, 2)["total"] == 6
        assert facets._cache[str(path)] is not held
    finally:
        gallery.close()
        conn.close()


def test_face_crop_geometry():
    """A square around the face with a margin, moved into the image, never larger than its
    short side; the preview is the smallest that gives the face the pixels asked for."""
    assert face_crops.crop_rect((0.4, 0.4, 0.2, 0.2), 1000, 1000, margin=0.5) == (
        300, 300, 700, 700,
    )  # fmt: skip
    # at the left edge: moved right, still square and whole
    assert face_crops.crop_rect((0.0, 0.4, 0.2, 0.2), 1000, 500, margin=0.5) == (0, 50, 400, 450)
    # a face as tall as a landscape photo: the short side
    left, top, right, bottom = face_crops.crop_rect((0.4, 0.0, 0.3, 1.0), 800, 400)
    assert (top, bottom, right - left) == (0, 400, 400)
    assert face_crops.face_box({"x": 0.1, "y": 0.2, "width": 0.3, "height": 0.4}) == (
        0.1, 0.2, 0.3, 0.4,
    )  # fmt: skip
    for bad in ({"x": 0.1}, {"x": 0, "y": 0, "width": 0, "height": 0.1}, None,
                {"x": "a", "y": 0, "width": 0.1, "height": 0.1}):  # fmt: skip
        assert face_crops.face_box(bad) is None
    box = (0.45, 0.1, 0.1, 0.1)  # 10 % of the width of a 4000 x 3000 photo
    sizes = [1920, 1280, 800, 320, 128]
    assert face_crops.pick_size(sizes, box, 192, 4000, 3000) == 1280  # 1280 * .1 * 1.7 = 218
    assert face_crops.pick_size(sizes, box, 64, 4000, 3000) == 800
    assert face_crops.pick_size(sizes, box, 512, 4000, 3000) == 1920  # the largest there is
    # a small photo's previews are not larger than it: 1280 and 1920 are 600 px too
    assert face_crops.pick_size(sizes, box, 192, 600, 400) == 1920
