"""The web app in Debian's Chromium (Playwright, headless) against a real hg-serve."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import media_file
from tests.serve.conftest import copy_media, start_server
from tests.serve.pipeline import import_media

sync_api = pytest.importorskip("playwright.sync_api")

SHOTS = Path(os.environ["HG_SCREENSHOTS"]) if os.environ.get("HG_SCREENSHOTS") else None
"""Where the tests' screenshots go: `HG_SCREENSHOTS=docs/screenshots make test` renews
the pictures in docs/screenshots; by default none are written (a test run never changes
the checkout)."""


def shot(pg, name: str) -> None:
    if SHOTS is None:
        return
    SHOTS.mkdir(parents=True, exist_ok=True)
    pg.screenshot(path=str(SHOTS / f"{name}.png"))


# Playwright turns a wait_for_function expression into code with eval, which the app's
# Content-Security-Policy refuses: the tests pass functions ("() => …") instead.
def loaded(pg, count: int) -> None:
    pg.wait_for_function(
        "n => document.querySelectorAll('.cell img.loaded').length === n", arg=count
    )


def zoomed_past(pg, scale: float) -> None:
    pg.wait_for_function(
        "s => Number(document.querySelector('.detail img').dataset.scale) > s", arg=scale
    )


def toast_starts(pg, text: str) -> None:
    pg.wait_for_function("t => document.querySelector('#toast').innerText.startsWith(t)", arg=text)


BOX = (
    "e => { const r = e.getBoundingClientRect(); return {x: r.x, y: r.y, w: r.width, h: r.height} }"
)


def rect(pg, selector: str) -> dict:
    return pg.eval_on_selector(selector, BOX)


def rects(pg, selector: str) -> list[dict]:
    return pg.eval_on_selector_all(selector, f"els => els.map({BOX})")


def overlap(a: dict, b: dict) -> bool:
    return (
        a["x"] < b["x"] + b["w"] and b["x"] < a["x"] + a["w"]
        and a["y"] < b["y"] + b["h"] and b["y"] < a["y"] + a["h"]
    )  # fmt: skip


def covers_nothing(pg, selector: str) -> None:
    """The element does not lie over any photo or month header on screen."""
    own = rect(pg, selector)
    assert own["w"] > 0, f"{selector} is not shown"
    hit = [b for b in rects(pg, ".cell, .month") if overlap(own, b)]
    assert not hit, f"{selector} at {own} covers {hit[:3]}"


def first_header_at_top(pg) -> None:
    """The timeline is at its top and its first month header shows there, whole."""
    pg.wait_for_function(
        "() => { const t = document.querySelector('#timeline');"
        " const m = document.querySelector('.month');"
        " return m && t.scrollTop === 0"
        " && Math.abs(m.getBoundingClientRect().top - t.getBoundingClientRect().top) < 1; }"
    )


def make_jpeg(path: Path, taken: str, size=(320, 240), color=(120, 80, 40)) -> Path:
    """A small JPEG whose EXIF DateTimeOriginal is `taken` ("2005:06:01 12:00:00")."""
    from PIL import Image

    exif = Image.Exif()
    exif.get_ifd(0x8769)[0x9003] = taken
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, color).save(path, exif=exif.tobytes())
    return path


def test_timeline_renders_real_thumbnails(server, page):
    page.goto(server.url + "/")
    loaded(page, 15)
    sizes = page.eval_on_selector_all(
        ".cell img", "els => els.map(e => [e.naturalWidth, e.naturalHeight, e.src])"
    )
    assert all(w > 0 and h > 0 for w, h, _ in sizes)
    assert all("-image-preview-320.jpg" in src for _, _, src in sizes)  # 180 px rows, dpr 1
    headers = page.locator(".month").all_inner_texts()
    assert headers[-1] == "October 2008" and "July 2021" in headers
    assert page.locator("#count").inner_text() == "15 entries"
    covers_nothing(page, "#count")  # the count sits in the header, not over the photos
    # Justified: cells of a full row have the same height and keep aspect ratios.
    box = page.locator(".cell[data-index='14']").bounding_box()
    assert abs(box["width"] / box["height"] - 640 / 480) < 0.02
    shot(page, "timeline")
    page.eval_on_selector("#timeline", "t => { t.scrollTop = t.scrollHeight; }")
    page.wait_for_selector(".cell[data-index='14'] img.loaded")
    covers_nothing(page, "#count")


def test_scroll_and_jump_to_year(server, browser):
    context = browser.new_context(viewport={"width": 900, "height": 360})
    pg = context.new_page()
    pg.set_default_timeout(10_000)
    pg.goto(server.url + "/")
    pg.wait_for_selector(".cell img.loaded")
    loaded_count = pg.locator(".cell").count()
    assert loaded_count < 15  # virtual: rows far below are not in the DOM yet
    pg.locator("#scrubber button[data-year='2008']").click()
    pg.wait_for_function("() => document.querySelector('#timeline').scrollTop > 300")
    pg.wait_for_selector(".cell[data-index='14'] img.loaded")
    assert pg.locator("#scrubber button.current").inner_text() == "2008"
    context.close()


def test_a_year_jump_loads_from_the_years_offset_not_every_newer_entry(server, browser):
    """The years page's jump to the oldest year asks for the results from that year's
    offset (/api/years) and shows its photos while the load of the whole timeline is
    still under way (held here: at a million entries it takes minutes); scrolled up, the
    newer entries load in front of them, the view staying where it is."""
    years = server.get("/api/years").json()
    oldest = years[-1]
    assert oldest["year"] == 2008 and oldest["offset"] == 6
    wanted = {e["id"] for e in server.get("/api/entries?q=year:2008&limit=50").json()["entries"]}
    context = browser.new_context(viewport={"width": 900, "height": 360})
    pg = context.new_page()
    pg.set_default_timeout(15_000)
    held, asked = [], []

    def entries(route):
        query = dict(p.split("=", 1) for p in route.request.url.split("?", 1)[1].split("&"))
        asked.append(int(query["offset"]))
        if query["offset"] == "0" and len(asked) == 1:
            held.append(route)  # the timeline's full load from the top: not answered yet
        else:
            route.continue_()

    pg.route("**/api/entries?*", entries)
    try:
        pg.goto(server.url + "/years")
        pg.wait_for_selector(".years a.year[data-year='2008']")
        assert held and pg.locator(".cell").count() == 0
        pg.locator(".years a.year[data-year='2008']").click()
        pg.wait_for_url("**/")
        header_of_year_at_top(pg, 2008)
        assert asked[1] == 6  # from the year's offset, not from the top again
        # the photos in the view's top 300 px are 2008's (newer ones may come above them)
        pg.wait_for_function(
            "ids => { const t = document.querySelector('#timeline').getBoundingClientRect();"
            " const top = [...document.querySelectorAll('.cell')].filter(e => {"
            " const y = e.getBoundingClientRect().top - t.top; return y >= 0 && y < 300; });"
            " return top.length > 0 && top.every(e => ids.includes(e.dataset.id)); }",
            arg=sorted(wanted),
        )
        shown = set(pg.eval_on_selector_all(".cell", "els => els.map(e => e.dataset.id)"))
        assert wanted <= shown
        pg.wait_for_selector(".cell img.loaded")
        # scrolled to the top: the 6 newer entries are put in front (loadBefore)
        # the newer entries come in front of the year at once (its header was at the top
        # of what was loaded): the view stays on 2008
        pg.wait_for_function("() => document.querySelectorAll('.cell').length === 15")
        header_of_year_at_top(pg, 2008)
        pg.eval_on_selector("#timeline", "t => { t.scrollTop = 0; }")
        pg.wait_for_function(
            "() => document.querySelector('.cell[data-index=\"14\"]') !== null"
            " || document.querySelectorAll('.month').length >= 3"
        )
        pg.wait_for_selector(".month[data-month^='2021']")
        assert 0 in asked[2:]  # the chunk before the year's offset
    finally:
        for route in held:
            route.continue_()
        context.close()


def test_detail_keys_info_and_zoom(server, page):
    page.goto(server.url + "/")
    loaded(page, 15)
    ids = page.eval_on_selector_all(".cell", "els => els.map(e => e.dataset.id)")
    page.locator(".cell[data-index='5']").click()
    page.wait_for_selector(".detail .info dl")
    assert page.url.endswith(f"/view/{ids[5]}")
    page.keyboard.press("ArrowRight")
    page.wait_for_url(f"**/view/{ids[6]}")
    page.keyboard.press("ArrowLeft")
    page.keyboard.press("ArrowLeft")
    page.wait_for_url(f"**/view/{ids[4]}")
    page.wait_for_selector(".detail video")  # index 4 is the video
    page.keyboard.press("ArrowRight")
    page.wait_for_url(f"**/view/{ids[5]}")
    page.wait_for_selector(".info dt:text('Files')")
    shot(page, "detail")
    page.keyboard.press("i")
    assert page.locator(".detail .info").is_hidden()
    page.keyboard.press("i")
    assert page.locator(".detail .info").is_visible()
    img = page.locator(".detail img.media")
    page.mouse.move(400, 400)
    page.mouse.wheel(0, -400)
    zoomed_past(page, 1.5)
    img.dblclick()
    page.wait_for_function("() => document.querySelector('.detail img').dataset.scale === '1.000'")
    img.dblclick(position={"x": 200, "y": 200})
    assert float(img.get_attribute("data-scale")) == 2.5
    page.keyboard.press("Escape")
    assert page.locator("#detail").is_hidden() and "/view/" not in page.url


def test_search_narrows_and_bad_query_shows_error(server, page):
    page.goto(server.url + "/")
    loaded(page, 15)
    page.fill("#q", "coolpix")
    page.press("#q", "Enter")
    page.wait_for_url("**/?q=coolpix")
    loaded(page, 9)
    assert page.locator(".cell").count() == 9
    page.goto(server.url + "/?q=tag:beach")
    loaded(page, 1)
    page.fill("#q", "year>>2020")
    page.press("#q", "Enter")
    error = page.locator("#error")
    error.wait_for(state="visible")
    assert "Search problem" in error.inner_text() and "position 6" in error.inner_text()
    shot(page, "search-error")


def test_detail_links_search(server, page):
    page.goto(server.url + "/?q=beach")
    loaded(page, 1)
    page.locator(".cell").first.click()
    page.locator(".info a.tag", has_text="holiday").click()
    page.wait_for_url("**/?q=tag%3Aholiday")
    loaded(page, 1)


def test_video_plays(server, page):
    page.goto(server.url + "/videos")
    loaded(page, 1)
    page.locator(".cell").first.click()
    video = page.locator(".detail video")
    page.wait_for_function("() => document.querySelector('.detail video')?.src.endsWith('.mp4')")
    video.evaluate("v => { v.muted = true; return v.play(); }")
    page.wait_for_function("() => document.querySelector('.detail video').currentTime > 0.3")


def test_map_shows_markers_for_gps_photos(server, page):
    page.goto(server.url + "/map")
    page.wait_for_selector(".page[data-markers='10']")
    page.wait_for_selector(".marker-cluster, .leaflet-marker-icon")
    counted = page.eval_on_selector_all(
        ".leaflet-marker-icon",
        "els => els.reduce((n, e) => n + (e.classList.contains('marker-cluster')"
        " ? Number(e.innerText) : 1), 0)",
    )
    assert counted == 10
    shot(page, "map")
    # a marker opens its photo: the map's short id resolves to the entry
    lone = page.locator(".leaflet-marker-icon:not(.marker-cluster)").first
    title = lone.get_attribute("title")
    lone.click()
    page.wait_for_url("**/view/*")
    opened = page.url.split("/view/")[1].split("?")[0]
    assert len(opened) == 64 and opened.startswith(title)  # title: full id once loaded
    page.wait_for_function("() => !document.querySelector('#detail').hidden")


def test_years_and_tags_views(server, page):
    page.goto(server.url + "/years")
    page.wait_for_selector(".years a.year")
    assert page.locator(".years a.year").all_inner_texts()[-1] == "2008"
    shot(page, "years")
    page.goto(server.url + "/tags")
    page.wait_for_selector(".tagcloud a.tag")
    page.locator(".tagcloud a.tag[data-tag='forest']").click()
    page.wait_for_url("**/?q=tag%3Aforest")
    loaded(page, 1)


def test_tag_edit_on_selection_survives_reload(own_home, page):
    srv = start_server(own_home)
    try:
        page.goto(srv.url + "/?q=coolpix")
        loaded(page, 9)
        page.click("#select-toggle")
        page.locator(".cell[data-index='1']").click()
        page.locator(".cell[data-index='3']").click(modifiers=["Shift"])
        assert page.locator("#selection-count").inner_text() == "3 selected"
        page.fill("#tag-input", "toscana")
        shot(page, "select")
        page.click("#tag-add")
        toast_starts(page, "Added")
        page.goto(srv.url + "/?q=tag:toscana")
        loaded(page, 3)
    finally:
        srv.stop()


def test_live_reload_shows_a_new_photo(own_home, page, tmp_path):
    srv = start_server(own_home)
    try:
        page.goto(srv.url + "/")
        loaded(page, 15)
        first_header_at_top(page)  # not scrolled by the scrollbar that came with the photos
        page.wait_for_selector("body[data-live='1']")
        page.evaluate("window.marker = 'not reloaded'")
        src = tmp_path / "new"
        src.mkdir()
        shutil.copy2(media_file("exif-samples/jpg/orientation/landscape_2.jpg"), src)
        import_media(src, own_home)
        loaded(page, 16)
        assert page.evaluate("window.marker") == "not reloaded"
        first_header_at_top(page)  # a refresh at the top stays at the top
    finally:
        srv.stop()


def test_login_form_guards_the_app(own_home, page):
    from hg_serve.passwords import hash_password

    (own_home / "config.toml").write_text(
        f'[[server.users]]\nname = "anna"\npassword = "{hash_password("pw")}"\n'
    )
    srv = start_server(own_home)
    try:
        page.goto(srv.url + "/years")
        page.wait_for_selector("form.login")
        assert "/login?next=" in page.url
        page.fill("input[name=name]", "anna")
        page.fill("input[name=password]", "wrong")
        page.click("button[type=submit]")
        assert "Wrong name or password" in page.inner_text(".message")
        # the name stays, the password is to be typed again
        assert page.input_value("input[name=name]") == "anna"
        page.wait_for_function("() => document.activeElement?.name === 'password'")
        page.fill("input[name=password]", "pw")
        page.click("button[type=submit]")
        page.wait_for_url("**/years")
        page.wait_for_selector(".years a.year")
    finally:
        srv.stop()


def test_import_indicator_shows_a_running_import(own_home, page):
    """The header shows "importing: n / total — ETA" while hg-import's status says running."""
    import io

    from hg_import.progress import ImportProgress

    progress = ImportProgress(own_home / "import-status.json", "off", stream=io.StringIO())
    progress.set_total(50_000, 10**10)
    progress.start_batch(1, 40_000, 10**9)
    progress.start_chunk(1)
    progress.advance(1234, 10**6)
    progress.chunk_done(1234)  # writes the status file, as hg-import does after each chunk
    srv = start_server(own_home)
    try:
        page.goto(srv.url + "/")
        indicator = page.locator("#importing")
        indicator.wait_for(state="visible")
        assert indicator.inner_text().startswith("importing: 1,234 / 50,000")
        shot(page, "importing")
    finally:
        srv.stop()


def test_watched_source_shows_a_new_photo_without_reload(tmp_path, page):
    """`hg-serve --watch`: a photo copied into a source is imported in the background and the
    open page shows it through live reload, without a manual refresh."""
    src = tmp_path / "photos"
    src.mkdir()
    shutil.copy2(media_file("exif-samples/jpg/orientation/landscape_1.jpg"), src / "first.jpg")
    home = tmp_path / "home"
    home.mkdir()
    (home / "config.toml").write_text(
        f'[[sources]]\ndir = "{src}"\n\n[server]\nwatch_debounce = 0.5\n'
    )
    srv = start_server(home, "--watch")
    try:
        page.set_default_timeout(90_000)
        page.goto(srv.url + "/")
        loaded(page, 1)  # the import at start
        page.evaluate("window.__sameDocument = true")
        shutil.copy2(media_file("exif-samples/jpg/gps/DSCN0010.jpg"), src / "new.jpg")
        loaded(page, 2)
        assert page.evaluate("window.__sameDocument") is True  # no reload happened
    finally:
        srv.stop()


def test_phone_layout_tap_swipe_and_pinch(server, browser):
    """A phone-sized touch screen: the grid fits the width, a tap opens the detail view, a
    horizontal swipe goes to the next photo and a two-finger pinch zooms."""
    context = browser.new_context(
        viewport={"width": 390, "height": 844}, device_scale_factor=3, is_mobile=True,
        has_touch=True,
    )  # fmt: skip
    pg = context.new_page()
    pg.set_default_timeout(20_000)
    try:
        pg.goto(server.url + "/")
        pg.wait_for_selector(".cell img.loaded")
        assert pg.evaluate("document.documentElement.scrollWidth") <= 390  # no sideways scroll
        # every view and Select (tagging) are there on a phone, within the screen
        views = ("all", "years", "tags", "map", "videos")
        for sel in (*(f".views a[data-view='{v}']" for v in views), "#select-toggle"):
            b = rect(pg, sel)
            assert b["w"] > 0 and b["x"] >= 0 and b["x"] + b["w"] <= 390, (sel, b)
        covers_nothing(pg, "#count")
        # device pixel ratio 3: rows pick larger previews than on a desktop screen
        srcs = pg.eval_on_selector_all(".cell img", "els => els.map(e => e.src)")
        assert any("-image-preview-800.jpg" in s or "-image-preview-1280.jpg" in s for s in srcs)
        ids = pg.eval_on_selector_all(".cell", "els => els.map(e => e.dataset.id)")
        box = pg.locator(".cell[data-index='5']").bounding_box()
        pg.touchscreen.tap(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        pg.wait_for_url(f"**/view/{ids[5]}")
        pg.wait_for_selector(".detail img.media")
        shot(pg, "phone-detail")
        cdp = context.new_cdp_session(pg)

        def touch(kind, points):
            cdp.send("Input.dispatchTouchEvent", {
                "type": kind, "touchPoints": [{"x": x, "y": y, "id": i} for i, (x, y) in
                                              enumerate(points)],
            })  # fmt: skip

        touch("touchStart", [(300, 420)])
        for x in range(280, 60, -40):
            touch("touchMove", [(x, 422)])
        touch("touchEnd", [])
        pg.wait_for_url(f"**/view/{ids[6]}")
        pg.wait_for_selector(".detail img.media")
        touch("touchStart", [(180, 420), (210, 420)])
        for d in range(30, 200, 20):
            touch("touchMove", [(195 - d, 420), (195 + d, 420)])
        touch("touchEnd", [])
        zoomed_past(pg, 1.5)
        # with the info panel under the photo, ‹ › stay at the photo's middle, off the panel
        pg.locator(".detail .info-toggle").tap()
        pg.wait_for_selector(".detail .info dl")
        info, stage = rect(pg, ".detail .info"), rect(pg, ".detail .stage")
        assert info["y"] > 300  # under the photo
        for sel in (".detail .prev", ".detail .next"):
            b = rect(pg, sel)
            assert not overlap(b, info), (sel, b, info)
            middle = b["y"] + b["h"] / 2
            assert abs(middle - (stage["y"] + stage["h"] / 2)) < 2, (sel, b, stage)
        shot(pg, "phone-detail-info")
    finally:
        context.close()


def test_detail_shows_the_time_where_the_photo_was_taken(browser, tmp_path):
    # Taken 2022-08-14 14:12:31 at +03:00; the browser is in New York (UTC-4 in August).
    home = tmp_path / "home"
    import_media(copy_media(["exif-samples/jpg/mobile/HMD_Nokia_8.3_5G.jpg"], tmp_path / "s"), home)
    srv = start_server(home)
    context = browser.new_context(timezone_id="America/New_York", locale="en-GB")
    try:
        pg = context.new_page()
        pg.goto(srv.url + "/")
        loaded(pg, 1)
        pg.locator(".cell").first.click()
        pg.wait_for_selector(".detail .info dl")
        when = pg.locator(".detail .info dd").first.inner_text()
        assert "14:12" in when and "UTC+03:00" in when and "2022" in when, when
    finally:
        context.close()
        srv.stop()


# ---- issue 13: web app defects seen in a real browser ------------------------------------


def test_search_without_results_shows_an_empty_state(server, page):
    page.goto(server.url + "/?q=coolpix")
    loaded(page, 9)
    page.fill("#q", "nosuchthing")
    page.press("#q", "Enter")
    page.locator("#empty").wait_for(state="visible")
    assert "No photos match “nosuchthing”" in page.inner_text("#empty")
    assert page.locator(".cell").count() == 0  # nothing of the previous search stays
    assert page.inner_text("#count") == "0 entries"
    shot(page, "search-empty")
    page.click("#empty-all")
    loaded(page, 15)
    assert page.locator("#empty").is_hidden() and page.input_value("#q") == ""


def test_heic_with_exif_orientation_and_no_heif_rotation(browser, tmp_path):
    """MIAF: a HEIF's EXIF Orientation is not applied (libheif applies irot/imir only), so a
    HEIC saying Orientation 6 without an irot box shows, and measures, as stored."""
    import pillow_heif
    from PIL import Image, ImageDraw

    pillow_heif.register_heif_opener()
    src = tmp_path / "s"
    src.mkdir()
    img = Image.new("RGB", (480, 300), (30, 90, 160))
    ImageDraw.Draw(img).rectangle((0, 0, 120, 300), fill=(240, 200, 40))
    img.save(src / "o6.heic", quality=70)
    subprocess.run(["exiftool", "-q", "-overwrite_original", "-n", "-Orientation=6",
                    str(src / "o6.heic")], check=True)  # fmt: skip
    home = tmp_path / "home"
    import_media(src, home)
    srv = start_server(home)
    context = browser.new_context(viewport={"width": 1000, "height": 700})
    try:
        pg = context.new_page()
        pg.goto(srv.url + "/")
        loaded(pg, 1)
        cell = rect(pg, ".cell")
        w, h = pg.eval_on_selector(".cell img", "e => [e.naturalWidth, e.naturalHeight]")
        assert w > h and abs(cell["w"] / cell["h"] - w / h) < 0.02, (cell, w, h)
        pg.locator(".cell").click()
        size = pg.locator(".info dt:text-is('Size') + dd")
        size.wait_for()
        assert size.inner_text() == "480 × 300"
    finally:
        context.close()
        srv.stop()


@pytest.fixture(scope="module")
def years_server(tmp_path_factory):
    """A gallery of 24 years, one photo each (1996-2019): more years than the scrubber has
    room to label."""
    base = tmp_path_factory.mktemp("years")
    for i, year in enumerate(range(1996, 2020)):
        colour = (40 + 8 * i, 90, 140)
        make_jpeg(base / "src" / f"{year}.jpg", f"{year}:06:15 12:00:00", color=colour)
    import_media(base / "src", base / "home")
    srv = start_server(base / "home")
    yield srv
    srv.stop()


def header_of_year_at_top(pg, year: int) -> None:
    pg.wait_for_function(
        "y => { const t = document.querySelector('#timeline');"
        " const m = document.querySelector(`.month[data-month^='${y}']`);"
        " return m"
        " && Math.abs(m.getBoundingClientRect().top - t.getBoundingClientRect().top) < 1; }",
        arg=year,
    )


def test_year_scrubber_labels_never_overlap_and_a_year_lands_on_its_header(years_server, browser):
    context = browser.new_context(viewport={"width": 900, "height": 420})
    pg = context.new_page()
    pg.set_default_timeout(20_000)
    try:
        pg.goto(years_server.url + "/")
        pg.wait_for_selector(".cell img.loaded")
        assert pg.locator("#scrubber button").count() == 24  # every year is there
        labels = pg.eval_on_selector_all(
            "#scrubber button",
            "els => els.filter(e => e.textContent.trim())"
            f".map(e => ({{year: e.textContent, ...({BOX})(e)}}))",
        )
        labels.sort(key=lambda b: b["y"])
        assert len(labels) >= 6, labels
        for a, b in zip(labels, labels[1:], strict=False):
            assert a["y"] + a["h"] <= b["y"], f"labels {a} and {b} overlap"
        track = rect(pg, "#scrubber")
        assert labels[-1]["y"] + labels[-1]["h"] <= track["y"] + track["h"]
        shot(pg, "scrubber")
        # a click on a year puts that year's first month header at the top
        year = int(labels[2]["year"])
        pg.locator(f"#scrubber button[data-year='{year}']").click()
        header_of_year_at_top(pg, year)
        # and so does a year on the years page (the timeline was hidden meanwhile)
        pg.goto(years_server.url + "/years")
        pg.locator(".years a.year[data-year='2012']").click()
        pg.wait_for_url("**/")
        header_of_year_at_top(pg, 2012)
        # no jump left pending: a later refresh does not move the view
        pg.eval_on_selector("#timeline", "t => { t.scrollTop = 0; }")
        pg.locator(".views a[data-view='years']").click()
        pg.locator(".years a.year[data-year='2005']").click()
        header_of_year_at_top(pg, 2005)
    finally:
        context.close()


def make_sony_mts(path: Path) -> Path:
    """An AVCHD-like clip whose H.264 stream carries Sony's MDPM camera make (code 0x0108,
    which `exiftool -n` prints as 264): an ffmpeg test clip with one SEI inserted."""
    import struct

    raw = path.with_suffix(".h264")
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i",
                    "testsrc=size=320x240:rate=25", "-t", "1", "-c:v", "libx264", "-bf", "0",
                    "-pix_fmt", "yuv420p", "-f", "h264", str(raw)], check=True)  # fmt: skip
    uuid = bytes.fromhex("17ee8c60f84d11d98cd60800200c9a66")  # MDPM user data
    payload = uuid + b"MDPM" + bytes([1, 0xE0]) + struct.pack(">HH", 0x0108, 0)
    rbsp, zeros = bytearray(), 0
    for byte in bytes([5, len(payload)]) + payload + b"\x80":  # user_data_unregistered
        if zeros >= 2 and byte <= 3:
            rbsp.append(3)  # emulation prevention
            zeros = 0
        rbsp.append(byte)
        zeros = zeros + 1 if byte == 0 else 0
    data = raw.read_bytes()
    at = next(i for i in range(len(data) - 4)
              if data[i:i + 3] == b"\0\0\1" and data[i + 3] & 0x1F == 5)  # fmt: skip
    at -= data[at - 1] == 0  # a 4-byte start code
    raw.write_bytes(data[:at] + b"\0\0\0\1\6" + bytes(rbsp) + data[at:])
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-fflags", "+genpts", "-f", "h264",
                    "-framerate", "25", "-i", str(raw), "-c", "copy", "-f", "mpegts", str(path)],
                   check=True)  # fmt: skip
    raw.unlink()
    return path


def test_video_camera_make_is_a_name(browser, tmp_path):
    src = tmp_path / "s"
    src.mkdir()
    make_sony_mts(src / "clip.mts")
    home = tmp_path / "home"
    import_media(src, home, video=True)
    srv = start_server(home)
    context = browser.new_context()
    try:
        pg = context.new_page()
        pg.goto(srv.url + "/")
        loaded(pg, 1)
        pg.locator(".cell").click()
        camera = pg.locator(".info dt:text-is('Camera') + dd")
        camera.wait_for()
        assert camera.inner_text() == "Sony"
    finally:
        context.close()
        srv.stop()


def test_detail_date_names_the_year_once(server, page):
    page.goto(server.url + "/?q=coolpix")
    loaded(page, 9)
    page.locator(".cell[data-index='0']").click()
    when = page.locator(".info dt:text-is('Date') + dd")
    when.wait_for()
    assert when.inner_text().count("2008") == 1, when.inner_text()
    year = when.locator("a.search-link")
    assert year.inner_text() == "2008" and year.get_attribute("data-q") == "year:2008"
    year.click()
    page.wait_for_url("**/?q=year%3A2008")
    loaded(page, 9)


def test_tagging_on_a_phone(own_home, browser):
    srv = start_server(own_home)
    context = browser.new_context(
        viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True,
        has_touch=True,
    )  # fmt: skip
    try:
        pg = context.new_page()
        pg.goto(srv.url + "/?q=coolpix")
        pg.wait_for_selector(".cell img.loaded")
        pg.locator("#select-toggle").tap()
        pg.locator(".cell[data-index='0']").tap()
        pg.locator(".cell[data-index='2']").tap()
        assert pg.inner_text("#selection-count") == "2 selected"
        pg.fill("#tag-input", "phone")
        bar = rect(pg, "#selection")
        assert bar["x"] >= 0 and bar["x"] + bar["w"] <= 390
        assert rect(pg, "#timeline")["y"] >= bar["y"] + bar["h"]  # the bar covers no photo
        shot(pg, "phone-select")
        pg.locator("#tag-add").tap()
        toast_starts(pg, "Added")
        assert srv.get("/api/entries?q=tag:phone").json()["total"] == 2
    finally:
        context.close()
        srv.stop()


def land_pixels(pg) -> float:
    """The share of the screen in the world outline's land colour (#2b3038)."""
    import io

    from PIL import Image

    img = Image.open(io.BytesIO(pg.screenshot())).convert("RGB")
    colours = img.getcolors(img.width * img.height)
    land = sum(n for n, (r, g, b) in colours if abs(r - 43) + abs(g - 48) + abs(b - 56) < 6)
    return land / (img.width * img.height)


def test_map_tiles_from_the_config_and_an_outline_without_them(own_home, page):
    """Tiles come from `[server] map_tiles`; without internet (the tests have none) or with
    `map_tiles = ""` the markers sit on the world outline shipped with hg."""
    tiles = "http://127.0.0.1:9/tiles/{z}/{x}/{y}.png"  # nothing listens: no tile loads
    requested: list[str] = []
    page.on("request", lambda r: requested.append(r.url))
    for setting, expect_tiles in ((tiles, True), ("", False)):
        (own_home / "config.toml").write_text(f'[server]\nmap_tiles = "{setting}"\n')
        srv = start_server(own_home)
        try:
            requested.clear()
            page.goto(srv.url + "/map")
            page.wait_for_selector(".page[data-markers='10'][data-outline='1']")
            page.wait_for_selector(".marker-cluster, .leaflet-marker-icon")
            page.wait_for_timeout(300)
            assert land_pixels(page) > 0.05  # land drawn under the markers
            tile_requests = [u for u in requested if "/tiles/" in u]
            assert bool(tile_requests) == expect_tiles, tile_requests
            assert not [u for u in requested if "openstreetmap" in u]
            if expect_tiles:
                assert all(u.startswith("http://127.0.0.1:9/tiles/") for u in tile_requests)
                shot(page, "map-offline")
        finally:
            srv.stop()


def test_tiles_and_images_have_names_and_a_visible_focus_ring(server, page):
    page.goto(server.url + "/?q=coolpix")
    loaded(page, 9)
    names = page.eval_on_selector_all(".cell", "els => els.map(e => e.getAttribute('aria-label'))")
    assert all(n and n.startswith("Photo, ") and "2008" in n for n in names), names
    assert any(n.endswith("Arezzo, Italy") for n in names), names
    alts = page.eval_on_selector_all(".cell img", "els => els.map(e => e.alt)")
    assert alts == names
    first = page.get_by_role("link", name=names[0], exact=True)
    assert first.count() == 1
    # keyboard focus on a tile: a solid ring at least 3 px wide, in a colour that stands out
    page.focus("#select-toggle")
    page.keyboard.press("Tab")
    page.wait_for_function("() => document.activeElement?.matches('.cell:focus-visible')")
    ring = page.evaluate(
        "(() => { const s = getComputedStyle(document.activeElement);"
        " return [s.outlineStyle, parseFloat(s.outlineWidth), s.outlineColor]; })()"
    )
    assert ring[0] == "solid" and ring[1] >= 3, ring
    shot(page, "focus")
    import io

    from PIL import Image

    def amber_pixels() -> tuple[int, int]:
        cell = rect(page, ".cell:focus")
        clip = {"x": cell["x"], "y": cell["y"], "width": cell["w"], "height": cell["h"]}
        img = Image.open(io.BytesIO(page.screenshot(clip=clip))).convert("RGB")
        amber = sum(n for n, (r, g, b) in img.getcolors(img.width * img.height)
                    if r > 230 and 170 < g < 210 and b < 80)  # fmt: skip
        return amber, 3 * 2 * (img.width + img.height)  # a ring all around

    # painting follows focus a frame or more later on a loaded machine: look a few times
    for _ in range(20):
        amber, ring_size = amber_pixels()
        if amber >= ring_size:
            break
        page.wait_for_timeout(100)
    assert amber >= ring_size, amber
    page.keyboard.press("Enter")
    page.wait_for_selector(".detail img.media")
    assert page.get_attribute(".detail img.media", "alt") == names[0]


def strict(policy: str) -> str:
    """The server's policy without inline scripts or styles of any kind."""
    directives = [d.strip() for d in policy.split(";") if d.strip()]
    keep = [d for d in directives if not d.startswith(("script-src", "style-src"))]
    return "; ".join([*keep, "script-src 'self'", "style-src 'self'"])


def test_the_app_runs_under_a_strict_content_security_policy(server, page):
    """The server's policy, and a stricter one (no inline script, handler or style
    attribute at all), refuse nothing the app does on any of its pages."""
    from urllib.parse import urlparse

    violations: list[str] = []
    page.on(
        "console",
        lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None,
    )
    base = urlparse(server.url).path
    sent = server.get("/").headers.get("content-security-policy")
    assert sent and "frame-ancestors 'none'" in sent, sent

    def is_page(url: str) -> bool:
        path = urlparse(url).path
        return path.startswith(base) and not any(
            path.startswith(base + p) for p in ("/api/", "/files/", "/static/", "/vendor/")
        )

    def stricter(route):
        response = route.fetch()
        policy = strict(response.headers["content-security-policy"])
        route.fulfill(response=response, headers={**response.headers,
                                                  "content-security-policy": policy})  # fmt: skip

    for tighten in (False, True):
        if tighten:
            page.route(is_page, stricter)
        page.goto(server.url + "/")
        loaded(page, 15)
        page.locator(".cell[data-index='5']").click()
        page.wait_for_selector(".detail .info dl")
        page.keyboard.press("Escape")
        for view, ready in (("tags", ".tagcloud a.tag"), ("years", ".years a.year"),
                            ("map", ".page[data-outline='1'] .leaflet-marker-icon"),
                            ("people", ".page[data-view='people'][data-renders]"),
                            ("videos", ".cell img.loaded")):  # fmt: skip
            page.locator(f".views a[data-view='{view}']").click()
            page.wait_for_selector(ready)
        page.goto(server.url + "/?q=coolpix")  # a photo with a position: the detail's minimap
        loaded(page, 9)
        page.locator(".cell[data-index='0']").click()
        page.wait_for_selector(".detail .minimap.leaflet-container")
        page.goto(server.url + "/failures")
        page.wait_for_selector(".page[data-ready='1']")
        assert not violations, (tighten, violations)


def rows_shown(pg, n: int) -> None:
    pg.wait_for_function(
        "n => document.querySelectorAll('.failures-list tbody tr').length === n", arg=n
    )


def test_failures_show_in_the_header_and_in_the_failures_view(own_home, page, tmp_path):
    """Contract 5: "N failed" in the header when /api/info counts failures; /failures lists
    path, stage and reason, 100 a page, and follows new failures live."""
    from tests.serve.test_failures import add_failures

    src = tmp_path / "bad"
    src.mkdir()
    (src / "garbage.heic").write_bytes(b"\0\0\0\x18ftypheic" + bytes(range(256)) * 8)
    with pytest.raises(AssertionError):  # hg-build exits 1: an error record came in
        import_media(src, own_home)
    srv = start_server(own_home)
    try:
        page.goto(srv.url + "/")
        loaded(page, 15)
        link = page.locator("#failures")
        link.wait_for(state="visible")
        assert link.inner_text() == "1 failed"
        covers_nothing(page, "#failures")
        link.click()
        page.wait_for_url("**/failures")
        row = page.locator(".failures-list tbody tr")
        row.wait_for()
        cells = row.locator("td").all_inner_texts()
        assert cells[0] == "bad: garbage.heic" and cells[1] == "extract" and cells[2], cells
        page.wait_for_selector("body[data-live='1']")
        add_failures(own_home, 110)  # a later import: the open page follows
        link.filter(has_text="111 failed").wait_for()
        rows_shown(page, 100)
        assert "1–100 of 111" in page.inner_text(".pager")
        shot(page, "failures")
        page.locator(".pager a[rel='next']").click()
        page.wait_for_url("**/failures?offset=100")
        rows_shown(page, 11)
        page.go_back()
        rows_shown(page, 100)
    finally:
        srv.stop()


def test_detail_object_labels_and_similar_images(browser, tmp_path):
    """Real photos through the ML step: the info panel's object labels search for the
    object; "Similar images" shows a grid led by the re-saved copy of the photo, without
    month headers; the Duplicates page groups the two, and a thumbnail opens the photo."""
    src, home = tmp_path / "src", tmp_path / "home"
    src.mkdir()
    for name in ("DSCN0010", "DSCN0025", "DSCN0029", "DSCN0040"):
        shutil.copyfile(media_file(f"exif-samples/jpg/gps/{name}.jpg"), src / f"{name}.jpg")
    from PIL import Image

    with Image.open(src / "DSCN0029.jpg") as img:
        img.resize((400, 300)).save(src / "car-copy.jpg", quality=50)
    import_media(src, home)
    srv = start_server(home)
    pg = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.set_default_timeout(20_000)
    try:
        pg.goto(srv.url + "/?q=filename:DSCN0029.jpg")
        loaded(pg, 1)
        seed = pg.eval_on_selector(".cell", "e => e.dataset.id")
        pg.locator(".cell").first.click()
        objects = pg.locator(".info dt:text('Objects') + dd a")
        objects.first.wait_for()
        labels = objects.all_inner_texts()  # one link per class, "car ×3" for three cars
        assert any(t == "car" or t.startswith("car ×") for t in labels), labels
        assert len(labels) == len(set(labels))
        # "o" draws the boxes over the photo, inside the image's rectangle, with labels
        pg.keyboard.press("o")
        pg.wait_for_selector(".stage svg.boxes g.box")
        texts = pg.locator(".boxes text").all_text_contents()
        assert any(t.startswith("car ") and t.endswith("%") for t in texts), texts
        img = pg.locator(".stage img.media").bounding_box()
        for i in range(pg.locator(".boxes rect").count()):
            r = pg.locator(".boxes rect").nth(i).bounding_box()
            assert r["width"] > 0 and r["height"] > 0
            assert r["x"] >= img["x"] - 1 and r["y"] >= img["y"] - 1
            assert r["x"] + r["width"] <= img["x"] + img["width"] + 1
            assert r["y"] + r["height"] <= img["y"] + img["height"] + 1
        shot(pg, "detail-objects")
        pg.locator(".boxes-toggle").click()
        assert pg.locator(".boxes").count() == 0
        pg.locator(".boxes-toggle").click()  # on again, then off: remembered while browsing
        pg.wait_for_selector(".boxes g.box")
        pg.keyboard.press("o")
        assert pg.locator(".boxes").count() == 0
        pg.locator(".info dd a", has_text="car").first.click()
        pg.wait_for_url("**/?q=object%3Acar")
        pg.wait_for_function(  # the search's grid, not the one before it (the URL comes first)
            "() => document.querySelectorAll('.cell').length >= 2"
        )
        cars = pg.eval_on_selector_all(".cell", "els => els.map(e => e.dataset.id)")
        assert seed in cars and len(cars) >= 2
        # the photos' grid in date order has month headers (the copy has no EXIF date)
        pg.goto(srv.url + "/?q=filename:DSCN0029.jpg or filename:car-copy.jpg")
        loaded(pg, 2)
        assert pg.locator(".month").count() == 2
        pg.goto(f"{srv.url}/view/{seed}")
        pg.locator(".info a", has_text="Similar images").click()
        pg.wait_for_url("**/?q=similar%3A*")
        # the similar grid, not the timeline behind the detail view (the URL comes first)
        pg.wait_for_function("() => (document.body.dataset.loaded || '').startsWith('similar:')")
        pg.wait_for_selector(".cell img.loaded")
        order = pg.eval_on_selector_all(".cell", "els => els.map(e => e.dataset.id)")
        names = {r["id"]: r["files"][0]["path"] for r in srv_query(home, "")}
        assert [names[i] for i in order[:2]] == ["DSCN0029.jpg", "car-copy.jpg"]
        # most similar first is no date order: no month headers (nor years on the scrubber)
        assert pg.locator(".month").count() == 0
        assert pg.locator("#scrubber button").count() == 0
        shot(pg, "similar")
        pg.goto(f"{srv.url}/view/{seed}")  # the key s: the same search
        pg.wait_for_selector(".info a:text('Similar images')")
        pg.keyboard.press("s")
        pg.wait_for_url(f"**/?q=similar%3A{seed}")
        # the search's grid, not the timeline behind the detail view (the URL comes first)
        pg.wait_for_function("() => (document.body.dataset.loaded || '').startsWith('similar:')")
        pg.wait_for_function("() => document.querySelectorAll('.cell img.loaded').length >= 2")
        assert pg.eval_on_selector_all(".cell", "els => els.map(e => e.dataset.id)") == order
        # the near-duplicates page: the photo and its re-saved copy are the one group
        pg.locator(".views a[data-view='duplicates']").click()  # among the search's results
        pg.wait_for_selector("#page[data-ready='1'] .dup-group img")
        assert "/duplicates" in pg.url
        groups = pg.eval_on_selector_all(
            ".dup-group",
            "els => els.map(g => [...g.querySelectorAll('.dup-cell')].map(a => a.dataset.id))",
        )
        assert len(groups) == 1 and sorted(names[i] for i in groups[0]) == [
            "DSCN0029.jpg",
            "car-copy.jpg",
        ]
        pg.wait_for_function(
            "() => [...document.querySelectorAll('.dup-cell img')]"
            ".every(i => i.complete && i.naturalWidth > 0)"
        )
        shot(pg, "duplicates")
        pg.locator(f".dup-cell[data-id='{seed}']").click()
        pg.wait_for_selector(".detail img.media")
        assert f"/view/{seed}" in pg.url
    finally:
        pg.context.close()
        srv.stop()
    assert not errors, errors


def srv_query(home: Path, text: str) -> list[dict]:
    from tests.conftest import run_tool

    run = run_tool("hg-build", "query", text, "--home", str(home))
    assert run.returncode == 0, run.stderr
    return run.records


def test_detail_face_boxes_link_to_the_photos_of_that_face(browser, tmp_path):
    """Real face photos through the ML step (dlib): `f` or the button draws the faces over
    the photo, inside the image's rectangle; a photo without faces has no button; a face's
    box opens its form, whose "Similar faces" searches `face:<id>.<n>`, which finds the three
    photos of Obama and not Biden's; the info panel links each face to the same search."""
    src, home = tmp_path / "src", tmp_path / "home"
    copy_media(["faces"], src)
    make_jpeg(src / "wall.jpg", "2020:01:01 12:00:00", size=(640, 480))
    import_media(src, home)
    srv = start_server(home)
    names = {r["id"]: r["files"][0]["path"].rsplit("/", 1)[-1] for r in srv_query(home, "")}
    obama = {"obama-portrait.jpg", "obama-speech.jpg", "obama-blue-room.jpg"}
    pg = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.set_default_timeout(20_000)
    try:
        wall = next(i for i, n in names.items() if n == "wall.jpg")
        pg.goto(f"{srv.url}/view/{wall}")
        pg.wait_for_selector(".info dt:text('Size')")  # the record is there: no faces
        assert pg.locator(".faces-toggle").is_hidden()
        assert pg.locator(".info dt:text('Faces')").count() == 0
        pg.keyboard.press("f")
        assert pg.locator(".boxes").count() == 0

        seed = next(i for i, n in names.items() if n == "obama-portrait.jpg")
        pg.goto(f"{srv.url}/view/{seed}")
        links = pg.locator(".info dt:text('Faces') + dd a.face-link")
        links.first.wait_for()
        assert links.all_inner_texts() == ["face 1"]  # one face, no name yet
        assert pg.locator(".boxes").count() == 0  # hidden until asked for
        pg.keyboard.press("f")
        pg.wait_for_selector(".stage svg.boxes a.face-box")
        assert pg.locator(".faces-toggle").get_attribute("aria-pressed") == "true"
        # the buttons do not overlap (the object boxes' one is there too: a person, a tie)
        buttons = [rect(pg, f".detail .{c}") for c in ("faces-toggle", "boxes-toggle", "play")]
        assert all(b["w"] > 0 for b in buttons)
        assert not any(overlap(a, b) for i, a in enumerate(buttons) for b in buttons[i + 1 :])
        img = pg.locator(".stage img.media").bounding_box()
        boxes = pg.locator(".boxes .face-box rect")
        assert boxes.count() == 1
        r = boxes.first.bounding_box()
        assert r["width"] > 20 and r["height"] > 20
        assert r["x"] >= img["x"] - 1 and r["y"] >= img["y"] - 1
        assert r["x"] + r["width"] <= img["x"] + img["width"] + 1
        assert r["y"] + r["height"] <= img["y"] + img["height"] + 1
        # a portrait: the face is in the upper middle of the photo, not in a corner
        cx = (r["x"] + r["width"] / 2 - img["x"]) / img["width"]
        assert 0.2 < cx < 0.8, cx
        shot(pg, "detail-faces")
        pg.locator(".faces-toggle").click()
        assert pg.locator(".boxes").count() == 0
        pg.locator(".faces-toggle").click()
        pg.wait_for_selector(".boxes .face-box")
        pg.keyboard.press("f")
        assert pg.locator(".boxes").count() == 0
        pg.keyboard.press("f")  # on again: the box opens the face's form (the info panel's)
        pg.locator(".boxes .face-box").first.click()
        pg.locator(".info .face-form .face-similar").click()  # the photos with this face
        pg.wait_for_url(f"**/?q=face%3A{seed}.0")
        pg.wait_for_function("() => (document.body.dataset.loaded || '').startsWith('face:')")
        pg.wait_for_selector(".cell img.loaded")
        found = pg.eval_on_selector_all(".cell", "els => els.map(e => e.dataset.id)")
        assert found[0] == seed  # nearest first: the face itself
        assert {names[i] for i in found} == obama
        # the info panel's face link: the same search
        pg.goto(f"{srv.url}/view/{seed}")
        pg.locator(".info a.face-link").first.click()
        pg.wait_for_url(f"**/?q=face%3A{seed}.0")

        # a face with a name of its own (a field of HomeGallery's records; added to the real
        # answer here) is labelled with it, box and link
        def named(route):
            record = route.fetch().json()
            record["faces"][0]["name"] = "Barack <Obama>"
            route.fulfill(json=record)

        pg.route(f"**/api/entries/{seed}", named)
        pg.goto(f"{srv.url}/view/{seed}")
        pg.wait_for_selector(".boxes .face-box text")
        assert pg.locator(".boxes .face-box text").text_content() == "Barack <Obama>"
        assert pg.locator(".info a.face-link").all_inner_texts() == ["Barack <Obama>"]
    finally:
        pg.context.close()
        srv.stop()
    assert not errors, errors
