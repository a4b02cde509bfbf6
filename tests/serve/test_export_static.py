"""`hg-serve export static` on the real gallery, served by a plain static file server
(http.server on 127.0.0.1) under a base path and opened in Chromium."""

from __future__ import annotations

import functools
import http.server
import json
import os
import subprocess
import threading
import zipfile
from pathlib import Path

import pytest

from tests.conftest import tool

sync_api = pytest.importorskip("playwright.sync_api")

SUBSET = "not type:video and not tag:forest"  # a strict subset of the gallery, with tags


def run(home: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HG_")}
    return subprocess.run(
        [tool("hg-serve"), "export", "static", "--home", str(home), *args],
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip


def ids(home: Path, query: str) -> list[str]:
    out = subprocess.run(
        [tool("hg-build"), "query", "--home", str(home), "--ids", query],
        capture_output=True, text=True, check=True, timeout=60,
    ).stdout  # fmt: skip
    return out.split()


class Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def static_host():
    """A plain static file server for a folder: `start(folder)` -> its root URL."""
    servers = []

    def start(folder: Path) -> str:
        handler = functools.partial(Quiet, directory=str(folder))
        srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        servers.append(srv)
        return f"http://127.0.0.1:{srv.server_port}"

    yield start
    for srv in servers:
        srv.shutdown()
        srv.server_close()


def cell_ids(pg) -> list[str]:
    return pg.eval_on_selector_all(".cell", "els => els.map(e => e.dataset.id)")


def wait_cells(pg, n: int) -> None:
    pg.wait_for_function("n => document.querySelectorAll('.cell').length === n", arg=n)


def test_export_in_browser(gallery_home, tmp_path, static_host, page):
    everything = ids(gallery_home, "")
    wanted = ids(gallery_home, SUBSET)
    assert 0 < len(wanted) < len(everything)  # else the test proves nothing
    site = tmp_path / "site"
    done = run(gallery_home, "--query", SUBSET, "--dir", str(site), "--base-path", "photos/2008")
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["entries"] == len(wanted) and summary["missing"] == []
    app = site / "photos" / "2008"
    assert (app / "index.html").is_file() and not (app / "originals").exists()
    # only the subset's previews: every stored file belongs to an exported entry
    keys = {w[:4] + w[4:][:8] for w in wanted}
    stored = [p for p in (app / "files").rglob("*") if p.is_file()]
    assert stored and all(p.parts[-3] + p.parts[-2] + p.name[:8] in keys for p in stored)

    # opened as a file the browser refuses the modules: the page says how to serve it
    page.goto((app / "index.html").as_uri())
    page.wait_for_selector("#static-hint")
    assert "python3 -m http.server" in page.inner_text("#static-hint")
    assert page.evaluate("() => document.body.classList.contains('static')") is False

    root = static_host(site)
    base = f"{root}/photos/2008/"
    outside, failed = [], []
    page.on("request", lambda r: None if r.url.startswith(base) else outside.append(r.url))
    page.on("requestfailed", lambda r: failed.append(r.url))
    page.on("response", lambda r: r.status >= 400 and failed.append(f"{r.status} {r.url}"))

    page.goto(base)
    wait_cells(page, len(wanted))
    assert page.locator("#static-hint").count() == 0
    page.wait_for_function(
        "n => document.querySelectorAll('.cell img.loaded').length === n", arg=len(wanted)
    )
    assert sorted(cell_ids(page)) == sorted(wanted)
    assert page.is_hidden("#select-toggle")  # no edits in an export

    # a detail view with its preview, from the exported files
    page.click(".cell >> nth=0")
    page.wait_for_selector(".detail img.media")
    page.wait_for_function(
        "() => { const i = document.querySelector('.detail img.media');"
        " return i && i.complete && i.naturalWidth > 0 }"
    )
    src = page.get_attribute(".detail img.media", "src")
    assert "files/" in src
    page.wait_for_selector(".detail .info dl")
    assert page.locator(".detail .detail-tag-form").is_hidden()
    assert page.locator(".detail a.download-original").count() == 0
    assert "#/view/" in page.url
    page.keyboard.press("Escape")

    # search inside the export narrows the grid to what hg-build's search finds
    beach = ids(gallery_home, f"({SUBSET}) and tag:beach")
    assert 0 < len(beach) < len(wanted)
    page.fill("#q", "tag:beach")
    page.press("#q", "Enter")
    wait_cells(page, len(beach))
    assert sorted(cell_ids(page)) == sorted(beach)
    # free text and year: the same answers as the server's query language
    for q in (
        "2008",
        "year:2008",
        "not tag:beach",
        "folder:exif-samples/jpg",
        "landscape or portrait",
    ):
        expected = ids(gallery_home, f"({SUBSET}) and {q}")
        page.fill("#q", q)
        page.press("#q", "Enter")
        wait_cells(page, len(expected))
        assert sorted(cell_ids(page)) == sorted(expected), q
    # an unsupported term says so instead of answering wrongly
    for q in ("near:48.85,2.29,5km", "year in [2008:2009]", "(tag:beach)", "2008 order by date"):
        page.fill("#q", "")
        page.press("#q", "Enter")
        wait_cells(page, len(wanted))
        page.fill("#q", q)
        page.press("#q", "Enter")
        page.wait_for_selector("#error:not([hidden])")
        assert "not supported" in page.inner_text("#error"), q

    # similar images within the export, in hg-build's order (the local model's vectors)
    data = json.loads((app / "data/gallery.json").read_text())
    seed = next(i for i in wanted if data["details"][i].get("has_similar"))
    assert set(data["details"][seed]["similar"]) <= set(wanted)
    expected = ids(gallery_home, f"({SUBSET}) and similar:{seed}")
    assert len(expected) > 1
    page.fill("#q", f"similar:{seed}")
    page.press("#q", "Enter")
    wait_cells(page, len(expected))
    assert cell_ids(page) == expected

    # memories: the same day in earlier years, as hg-build's memories:MM-DD
    dates = [data["details"][i]["date"] for i in wanted]
    day = next(d for d in dates if d[:4] == "2008")[5:10]  # the Nikon photos' year
    on_day = ids(gallery_home, f"({SUBSET}) and memories:{day}")
    assert on_day
    page.goto(f"{base}#/memories?day={day}")
    wait_cells(page, len(on_day))
    assert sorted(cell_ids(page)) == sorted(on_day)

    # the folder view: hg-build's tree of the subset (names, counts), and a folder's photos
    from hg_serve.gallery import Gallery

    gallery = Gallery(gallery_home / "gallery.db", gallery_home / "events.ndjson", readers=1)
    try:
        tree = gallery.folders("", SUBSET)
    finally:
        gallery.close()
    page.click('.views a[data-view="all"]')
    wait_cells(page, len(wanted))
    page.click('.views a[data-view="folders"]')
    page.wait_for_selector("#page[data-ready] ul.folders a.folder")
    cards = page.eval_on_selector_all(
        "ul.folders a.folder",
        "els => els.map(a => [a.dataset.path, a.querySelector('.count').textContent])",
    )
    assert cards == [[f["path"], f"{f['count']} entr{'y' if f['count'] == 1 else 'ies'}"]
                     for f in tree["folders"]]  # fmt: skip
    page.click(".show-photos")
    wait_cells(page, tree["count"])
    first = tree["folders"][0]["path"]
    page.goto(base + "#/folders")
    page.wait_for_selector("#page[data-ready] ul.folders a.folder")
    page.click(f'a.folder[data-path="{first}"]')
    page.wait_for_selector(f'#page[data-path="{first}"] .show-photos')
    page.click(".show-photos")
    inside = ids(gallery_home, f'({SUBSET}) and folder:"{first}"')
    wait_cells(page, len(inside))
    assert sorted(cell_ids(page)) == sorted(inside)

    # years and tags views answer from the export's data
    page.goto(base + "#/tags")
    page.wait_for_selector("#page .tagcloud a.tag")
    assert "forest" not in page.inner_text("#page")
    page.reload()  # a reload of a hash route
    page.wait_for_selector("#page .tagcloud a.tag")
    assert not outside, outside
    assert not failed, failed


def test_video_export(gallery_home, tmp_path, static_host, page):
    """A video's web version is exported and plays from the static host."""
    wanted = ids(gallery_home, "type:video")
    assert wanted
    site = tmp_path / "v"
    done = run(gallery_home, "--query", "type:video", "--dir", str(site))
    assert done.returncode == 0, done.stderr
    assert list(site.rglob("*-video-720.mp4"))
    root = static_host(site)
    page.goto(root + "/#/videos")
    wait_cells(page, len(wanted))
    page.click(".cell >> nth=0")
    page.wait_for_function(
        "() => { const v = document.querySelector('.detail video');"
        " return v && v.readyState >= 1 && v.duration > 0 }"
    )
    assert page.get_attribute(".detail video", "src").startswith("./files/")


def test_originals_archive_and_refusal(gallery_home, tmp_path, static_host, page):
    wanted = ids(gallery_home, "tag:beach")
    site = tmp_path / "site"
    done = run(gallery_home, "--query", "tag:beach", "--dir", str(site), "--originals")
    assert done.returncode == 0, done.stderr
    data = json.loads((site / "data/gallery.json").read_text())
    assert sorted(data["details"]) == sorted(wanted)
    for d in data["details"].values():
        assert all("root" not in f for f in d["files"])  # no server paths in an export
        for rel, f in zip(d["originals"], d["files"], strict=True):
            assert (site / rel).stat().st_size == f["size"]
    root = static_host(site)
    page.goto(root + "/#/view/" + wanted[0])
    page.wait_for_selector(".detail a.download-original")
    href = page.get_attribute(".detail a.download-original", "href")
    assert href.startswith("./originals/" + wanted[0])

    # an existing export is not replaced without --force; with it, whole
    again = run(gallery_home, "--query", "", "--dir", str(site))
    assert again.returncode == 2 and "--force" in again.stderr
    assert (site / "originals").is_dir()
    again = run(gallery_home, "--query", "tag:forest", "--dir", str(site), "--force")
    assert again.returncode == 0, again.stderr
    assert not (site / "originals").exists()
    assert sorted(json.loads((site / "data/gallery.json").read_text())["details"]) == sorted(
        ids(gallery_home, "tag:forest")
    )
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temp left
    # --force replaces only an export: never a folder or file of something else
    other = tmp_path / "photos"
    (other / "keep").mkdir(parents=True)
    refused = run(gallery_home, "--dir", str(other), "--force")
    assert refused.returncode == 2 and "not an hg export" in refused.stderr
    assert (other / "keep").is_dir()

    # --archive: one .zip of the folder, no folder
    packed = run(gallery_home, "--query", "tag:beach", "--dir", str(tmp_path / "pack"), "--archive")
    assert packed.returncode == 0, packed.stderr
    assert not (tmp_path / "pack").exists()
    with zipfile.ZipFile(tmp_path / "pack.zip") as zf:
        assert zf.testzip() is None
        names = zf.namelist()
    assert "pack/index.html" in names and "pack/data/gallery.json" in names
    assert any(n.startswith("pack/files/") and n.endswith(".jpg") for n in names)

    bad = run(gallery_home, "--query", "year:", "--dir", str(tmp_path / "bad"))
    assert bad.returncode == 2 and not (tmp_path / "bad").exists()


def test_shell_is_relative():
    """The exported index.html names nothing by an absolute path or hg-serve's base."""
    from hg_serve.app_paths import STATIC
    from hg_serve.export_static import index_html

    html = index_html((STATIC / "index.html").read_text())
    assert "%BASE%" not in html and 'name="hg-static" content="data/gallery.json"' in html
    assert 'href="/' not in html and 'src="/' not in html
    assert 'href="#/years" data-nav' in html and 'src="static/main.js"' in html


def test_hg_build_names_the_command(tmp_path):
    """HomeGallery's (and issue 18's) name for it says where the command is."""
    proc = subprocess.run(
        [tool("hg-build"), "export", "static", "--dir", str(tmp_path / "x")],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 2 and "hg-serve export static" in proc.stderr
    assert not (tmp_path / "x").exists()


def test_user_filter(gallery_home, tmp_path):
    """--user exports only what that user's filter lets them see, similar lists too."""
    from hg_serve.passwords import hash_password

    config = tmp_path / "config.toml"
    config.write_text(
        f'[[server.users]]\nname = "anna"\npassword = "{hash_password("pw")}"\n'
        'filter = "not tag:beach"\n'
    )
    site = tmp_path / "anna"
    done = run(gallery_home, "--config", str(config), "--user", "anna", "--dir", str(site))
    assert done.returncode == 0, done.stderr
    data = json.loads((site / "data/gallery.json").read_text())
    allowed = ids(gallery_home, "not tag:beach")
    assert sorted(data["details"]) == sorted(allowed)
    assert all(set(d.get("similar", [])) <= set(allowed) for d in data["details"].values())
    missing = run(gallery_home, "--config", str(config), "--user", "bob", "--dir", str(site))
    assert missing.returncode == 2 and "bob" in missing.stderr


def test_missing_preview_and_stale_temp(own_home, tmp_path):
    """A preview gone from the storage is left out and named (exit 1), the rest exported; a
    killed export's temp folder (its pid gone) is swept by the next one."""
    wanted = ids(own_home, "tag:beach")
    data_before = run(own_home, "--query", "tag:beach", "--dir", str(tmp_path / "a"))
    assert data_before.returncode == 0, data_before.stderr
    previews = sorted((tmp_path / "a" / "files").rglob("*-image-preview-*.jpg"))
    gone = previews[0].relative_to(tmp_path / "a" / "files")
    (own_home / "storage" / gone).unlink()
    dead = subprocess.Popen(["true"])
    dead.wait()
    stale = tmp_path / f".b.{dead.pid}.x1y2.tmp"
    (stale / "site").mkdir(parents=True)
    done = run(own_home, "--query", "tag:beach", "--dir", str(tmp_path / "b"))
    assert done.returncode == 1, done.stderr
    summary = json.loads(done.stdout)
    assert summary["missing"] == [gone.as_posix()] and summary["entries"] == len(wanted)
    assert summary["files"] == len(previews) - 1
    assert not stale.exists()
    assert not (tmp_path / "b" / "files" / gone).exists()
