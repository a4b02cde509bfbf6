"""Browsing in Debian's Chromium against a real hg-serve: the folder view, the detail
view's downloads, keys and help, memories, the light theme and the slideshow."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

from PIL import Image

from tests.serve.conftest import start_server
from tests.serve.pipeline import import_media
from tests.serve.test_browser import loaded, make_jpeg, shot


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


def test_folder_view_walks_the_tree_and_combines_with_search(server, page):
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


def test_detail_downloads_the_original_and_the_largest_preview(server, page, tmp_path):
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


def test_detail_keys_move_jump_and_are_listed_by_question_mark(server, page):
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


def test_detail_m_opens_the_map_there_and_c_the_whole_timeline(server, page):
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


def test_memories_show_this_day_in_earlier_years(browser, tmp_path):
    today = date.today()
    other = today - timedelta(days=40)
    src = tmp_path / "src"
    for year, when, color in [(2015, today, (200, 40, 40)), (2020, today, (40, 200, 40)),
                              (today.year, today, (40, 40, 200)),  # this year: no memory yet
                              (2018, other, (90, 90, 90))]:  # fmt: skip
        stamp = f"{year}:{when.month:02d}:{when.day:02d} 12:00:00"
        make_jpeg(src / f"{year}-{when.month}-{when.day}.jpg", stamp, color=color)
    home = tmp_path / "home"
    import_media(src, home)
    srv = start_server(home)
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    pg = context.new_page()
    pg.set_default_timeout(20_000)
    errors: list[str] = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    try:
        pg.goto(srv.url + "/")
        loaded(pg, 4)
        pg.locator(".views a[data-view='memories']").click()
        pg.wait_for_url("**/memories")
        loaded(pg, 2)
        label = pg.locator(".mem-title").inner_text()
        assert label.startswith("On this day: ") and str(today.day) in label
        pg.wait_for_function(
            "() => document.querySelector('.mem-count').innerText === '2 photos from earlier years'"
        )
        headers = pg.locator(".month").all_inner_texts()
        assert [h[-4:] for h in headers] == ["2020", "2015"]  # newest first
        shot(pg, "memories")
        # the day after: nothing (a day before or after the 40 days back, too)
        pg.locator(".mem-next").click()
        after = today + timedelta(days=1)
        pg.wait_for_url(f"**/memories?day={after.month:02d}-{after.day:02d}")
        pg.locator("#empty").wait_for(state="visible")
        assert "in earlier years" in pg.locator("#empty-text").inner_text()
        pg.locator(".mem-prev").click()
        loaded(pg, 2)
        # a search within the memories
        pg.fill("#q", "year:2015")
        pg.press("#q", "Enter")
        pg.wait_for_url("**/memories?q=year%3A2015")
        pg.wait_for_function("() => document.querySelector('#count').innerText === '1 entry'")
        # a memory opens in the detail view and goes back to the memories
        pg.locator(".cell[data-index='0']").click()
        pg.wait_for_selector(".detail .info dl")
        pg.keyboard.press("Escape")
        pg.wait_for_url("**/memories?q=year%3A2015")
        # the query on its own, in the All view
        pg.goto(srv.url + "/?q=memories:today")
        pg.wait_for_function("() => document.querySelector('#count').innerText === '2 entries'")
        md = f"{other.month:02d}-{other.day:02d}"
        pg.goto(srv.url + f"/memories?day={md}")
        pg.wait_for_function("() => document.querySelector('#count').innerText === '1 entry'")
    finally:
        context.close()
        srv.stop()
    assert not errors, errors


def colors(pg, selector: str) -> tuple[str, str]:
    got = pg.eval_on_selector(
        selector, "e => [getComputedStyle(e).backgroundColor, getComputedStyle(e).color]"
    )
    return tuple(got)


def test_light_theme_follows_the_system_beside_the_dark_one(server, browser):
    seen = {}
    for scheme in ("light", "dark"):
        context = browser.new_context(viewport={"width": 1280, "height": 800}, color_scheme=scheme)
        pg = context.new_page()
        pg.set_default_timeout(20_000)
        pg.goto(server.url + "/")
        loaded(pg, 15)
        seen[scheme] = {"body": colors(pg, "body"), "bar": colors(pg, ".bar"),
                        "search": colors(pg, "#q")}  # fmt: skip
        if scheme == "light":
            shot(pg, "light-theme")
        pg.locator(".cell[data-index='0']").click()
        pg.wait_for_selector(".detail .info dl")
        seen[scheme]["detail"] = colors(pg, ".detail")
        context.close()
    light, dark = seen["light"], seen["dark"]
    assert light["body"] == ("rgb(250, 250, 250)", "rgb(26, 26, 26)")
    assert light["bar"][0] == "rgb(250, 250, 250)" and light["search"][0] == "rgb(255, 255, 255)"
    assert dark["body"] == ("rgb(17, 17, 17)", "rgb(238, 238, 238)")
    assert dark["search"][0] == "rgb(30, 30, 30)"
    assert light["detail"][0] == dark["detail"][0] == "rgb(0, 0, 0)"  # photos on black


def badge_is(pg, text: str) -> None:
    pg.wait_for_function(
        "t => document.querySelector('.detail .slideshow')?.innerText === t", arg=text
    )


def test_slideshow_steps_by_itself_plays_videos_and_pauses(server, page):
    page.goto(server.url + "/")
    loaded(page, 15)
    ids = page.eval_on_selector_all(".cell", "els => els.map(e => e.dataset.id)")
    items = server.get("/api/entries").json()["entries"]
    assert [it["id"] for it in items] == ids and items[4]["type"] == "video"
    page.locator(".cell[data-index='2']").click()
    page.wait_for_selector(".detail .info dl")
    page.keyboard.press("p")
    badge_is(page, "▶ 5 s")
    for _ in range(6):
        page.keyboard.press("-")  # down to the shortest, 1 s
    badge_is(page, "▶ 1 s")
    at(page, ids, 3)  # by itself
    badge_is(page, "▶ video")  # 4: the video plays to its end before the next
    page.wait_for_function("() => document.querySelector('.detail video').currentTime > 0.5")
    at(page, ids, 5)
    page.keyboard.press("Space")
    badge_is(page, "❚❚ paused")
    page.wait_for_timeout(2500)
    assert page.url.endswith(f"/view/{ids[5]}")  # paused: stays
    page.keyboard.press("ArrowRight")  # by hand while paused
    at(page, ids, 6)
    page.keyboard.press("p")
    at(page, ids, 7)
    page.keyboard.press("Escape")  # stops the slideshow, the photo stays
    page.wait_for_selector(".detail .slideshow", state="detached")
    page.wait_for_timeout(1500)
    assert page.url.endswith(f"/view/{ids[7]}") and page.locator("#detail").is_visible()
    page.keyboard.press("End")
    at(page, ids, 14)
    page.locator(".detail .play").click()  # the button; after the last one it stops
    badge_is(page, "▶ 1 s")  # the interval was kept
    page.wait_for_selector(".detail .slideshow", state="detached")
    assert page.url.endswith(f"/view/{ids[14]}")
    page.keyboard.press("Escape")
    page.locator("#detail").wait_for(state="hidden")
    page.keyboard.press("p")  # on the grid: from the first
    at(page, ids, 0)
    badge_is(page, "▶ 1 s")
    at(page, ids, 1)
    page.keyboard.press("Escape")
    page.keyboard.press("Escape")
    page.locator("#detail").wait_for(state="hidden")


def test_memories_of_real_photos_on_their_day(server, page):
    """The nine Nikon photos of the sample media were taken on 23 October 2008."""
    page.goto(server.url + "/memories?day=10-23")
    loaded(page, 9)
    assert page.locator(".mem-count").inner_text() == "9 photos from earlier years"
    assert page.locator(".month").all_inner_texts() == ["October 2008"]
    page.locator(".mem-prev").click()
    page.wait_for_url("**/memories?day=10-22")
    page.locator("#empty").wait_for(state="visible")
