"""Browsing in Debian's Chromium against a real hg-serve: the folder view, the detail
view's downloads, keys and help, memories, the light theme and the slideshow."""

from __future__ import annotations

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
