"""Browsing in Debian's Chromium against a real hg-serve: the folder view, the detail
view's downloads, keys and help, memories, the light theme and the slideshow."""

from __future__ import annotations

from pathlib import Path

from PIL import Image

from tests.serve.test_browser import browser, loaded, page, shot  # noqa: F401 (fixtures)


def cards(pg) -> list[tuple[str, str]]:
    return [
        (a.locator(".name").inner_text(), a.locator(".count").inner_text())
        for a in pg.locator("a.folder").all()
    ]


def folder_shown(pg, path: str) -> None:
    pg.wait_for_function(
        "p => document.querySelector('#page').dataset.path === p && "
        "document.querySelector('#page .crumbs')",
        arg=path,
    )


def test_folder_view_walks_the_tree_and_combines_with_search(server, page):  # noqa: F811
    page.goto(server.url + "/folders")
    folder_shown(page, "")
    assert cards(page) == [("exif-samples", "11 entries"), ("tricky", "4 entries")]
    page.wait_for_function(
        "() => [...document.querySelectorAll('a.folder img')]"
        ".every(i => i.complete && i.naturalWidth > 0)"
    )  # a real cover preview on each card
    assert page.locator(".views a.active").inner_text() == "Folders"
    page.locator("a.folder[data-path='exif-samples']").click()
    folder_shown(page, "exif-samples")
    assert "path=exif-samples" in page.url
    page.locator("a.folder[data-path='exif-samples/jpg']").click()
    folder_shown(page, "exif-samples/jpg")
    assert page.locator(".crumbs").inner_text().split() == [
        "Folders", "›", "exif-samples", "›", "jpg"
    ]  # fmt: skip
    assert cards(page) == [("gps", "9 entries"), ("orientation", "2 entries")]
    shot(page, "folders")
    # a folder without folders: its photos, as the query `folder:…`
    page.locator("a.folder[data-path='exif-samples/jpg/gps']").click()
    page.wait_for_url("**/?q=folder%3Aexif-samples%2Fjpg%2Fgps")
    loaded(page, 9)
    assert page.locator("#q").input_value() == "folder:exif-samples/jpg/gps"
    page.go_back()
    folder_shown(page, "exif-samples/jpg")
    page.locator(".crumbs a[data-path='']").click()
    folder_shown(page, "")
    # a search on the folder view: the counts (and folders) of what it finds
    page.fill("#q", "portrait")
    page.press("#q", "Enter")
    page.wait_for_function(
        "() => document.querySelector('#page .folder-here a')?.innerText === 'Show 1 entry'"
    )
    assert cards(page) == [("exif-samples", "1 entry")]
    page.locator("a.folder[data-path='exif-samples']").click()
    folder_shown(page, "exif-samples")
    assert "q=portrait" in page.url
    page.locator(".show-photos").click()
    page.wait_for_url("**/?q=folder%3Aexif-samples%20portrait")
    loaded(page, 1)


def at(pg, ids: list[str], i: int) -> None:
    pg.wait_for_url(f"**/view/{ids[i]}")


def test_detail_downloads_the_original_and_the_largest_preview(server, page, tmp_path):  # noqa: F811
    page.goto(server.url + "/?q=filename:DSCN0010.jpg")
    loaded(page, 1)
    page.locator(".cell[data-index='0']").click()
    page.wait_for_selector(".info .download-original")
    with page.expect_download() as got:
        page.locator(".info .download-original").click()
    original = got.value
    assert original.suggested_filename == "DSCN0010.jpg"
    source = server.home.parent / "src/exif-samples/jpg/gps/DSCN0010.jpg"
    assert Path(original.path()).read_bytes() == source.read_bytes()
    with page.expect_download() as got:
        page.keyboard.press("d")  # the key downloads the original too
    assert got.value.suggested_filename == "DSCN0010.jpg"
    item = server.get("/api/entries", params={"q": "filename:DSCN0010.jpg"}).json()["entries"][0]
    # the 800 px preview, of a 640 px photo: never enlarged
    largest = min(max(item["sizes"]), max(item["w"], item["h"]))
    assert largest == 640
    link = page.locator(".info .download-preview")
    assert link.inner_text() == f"Preview {largest} px"
    with page.expect_download() as got:
        link.click()
    with Image.open(got.value.path()) as img:
        assert max(img.size) == largest
    shot(page, "detail-downloads")


def test_detail_keys_move_jump_and_are_listed_by_question_mark(server, page):  # noqa: F811
    page.goto(server.url + "/")
    loaded(page, 15)
    ids = page.eval_on_selector_all(".cell", "els => els.map(e => e.dataset.id)")
    page.locator(".cell[data-index='0']").click()
    page.wait_for_selector(".detail .info dl")
    for key, i in [("End", 14), ("Home", 0), ("Space", 1), ("k", 2), ("j", 1), ("Backspace", 0),
                   ("Control+ArrowRight", 10), ("Control+ArrowRight", 14),  # clamped at the end
                   ("Control+ArrowLeft", 4), ("Control+Shift+ArrowLeft", 0)]:  # fmt: skip
        page.keyboard.press(key)
        at(page, ids, i)
    page.keyboard.press("?")
    help_box = page.locator("#help")
    help_box.wait_for(state="visible")
    text = help_box.inner_text()
    for words in ("Ctrl+→", "Home", "similar images", "on the map", "chronology", "original"):
        assert words in text, words
    shot(page, "help")
    page.keyboard.press("ArrowRight")  # the help takes the keys while it is open
    page.keyboard.press("Escape")  # closes the help only
    help_box.wait_for(state="hidden")
    assert page.locator("#detail").is_visible()
    at(page, ids, 0)
    page.keyboard.press("Escape")
    page.locator("#detail").wait_for(state="hidden")
    page.keyboard.press("?")  # on the grid too
    help_box.wait_for(state="visible")
    page.locator(".help-close").click()
    help_box.wait_for(state="hidden")


def test_detail_m_opens_the_map_there_and_c_the_whole_timeline(server, page):  # noqa: F811
    page.goto(server.url + "/?q=filename:DSCN0010.jpg")
    loaded(page, 1)
    (item,) = server.get("/api/entries", params={"q": "filename:DSCN0010.jpg"}).json()["entries"]
    full = server.get(f"/api/entries/{item['id']}").json()
    page.locator(".cell[data-index='0']").click()
    page.wait_for_selector(".detail .info dl")
    page.keyboard.press("m")
    page.wait_for_url("**/map?q=filename%3ADSCN0010.jpg")
    page.wait_for_function("() => document.querySelector('#page').dataset.zoom === '16'")
    lat, lon = map(float, page.locator("#page").get_attribute("data-center").split(","))
    assert abs(lat - full["latitude"]) < 1e-4 and abs(lon - full["longitude"]) < 1e-4
    page.go_back()
    page.go_back()
    # c: the photo in the whole timeline, scrolled to and focused
    page.goto(server.url + "/?q=coolpix")
    loaded(page, 9)
    last = page.eval_on_selector(".cell[data-index='8']", "e => e.dataset.id")
    page.locator(".cell[data-index='8']").click()
    page.wait_for_selector(".detail .info dl")
    page.keyboard.press("c")
    page.wait_for_function("id => document.activeElement?.dataset?.id === id", arg=last)
    assert page.url.endswith("/gallery/") and page.locator("#q").input_value() == ""
    assert page.locator("#detail").is_hidden()
    page.wait_for_function("() => document.querySelector('#count').innerText === '15 entries'")
