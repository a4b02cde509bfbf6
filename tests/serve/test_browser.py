"""The web app in Debian's Chromium (Playwright, headless) against a real hg-serve."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.conftest import REPO, media_file
from tests.serve.conftest import copy_media, start_server
from tests.serve.pipeline import import_media

sync_api = pytest.importorskip("playwright.sync_api")

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
        "--no-first-run", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--autoplay-policy=no-user-gesture-required"]  # fmt: skip
SHOTS = REPO / "docs" / "screenshots"


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} missing: run `make install` (bin/install-system-deps)")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    pg = context.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.set_default_timeout(20_000)
    yield pg
    context.close()
    assert not errors, errors


def shot(pg, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    pg.screenshot(path=str(SHOTS / f"{name}.png"))


def loaded(pg, count: int) -> None:
    pg.wait_for_function(
        "n => document.querySelectorAll('.cell img.loaded').length === n", arg=count
    )


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
    assert page.locator("#status").inner_text() == "15 entries"
    # Justified: cells of a full row have the same height and keep aspect ratios.
    box = page.locator(".cell[data-index='14']").bounding_box()
    assert abs(box["width"] / box["height"] - 640 / 480) < 0.02
    shot(page, "timeline")


def test_scroll_and_jump_to_year(server, browser):
    context = browser.new_context(viewport={"width": 900, "height": 360})
    pg = context.new_page()
    pg.set_default_timeout(10_000)
    pg.goto(server.url + "/")
    pg.wait_for_selector(".cell img.loaded")
    loaded_count = pg.locator(".cell").count()
    assert loaded_count < 15  # virtual: rows far below are not in the DOM yet
    pg.locator("#scrubber button[data-year='2008']").click()
    pg.wait_for_function("document.querySelector('#timeline').scrollTop > 300")
    pg.wait_for_selector(".cell[data-index='14'] img.loaded")
    assert pg.locator("#scrubber button.current").inner_text() == "2008"
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
    page.wait_for_function("Number(document.querySelector('.detail img').dataset.scale) > 1.5")
    img.dblclick()
    page.wait_for_function("document.querySelector('.detail img').dataset.scale === '1.000'")
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
    page.wait_for_function("document.querySelector('.detail video')?.src.endsWith('.mp4')")
    video.evaluate("v => { v.muted = true; return v.play(); }")
    page.wait_for_function("document.querySelector('.detail video').currentTime > 0.3")


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
    page.wait_for_function("!document.querySelector('#detail').hidden")


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
        page.wait_for_function("document.querySelector('#status').innerText.startsWith('Added')")
        page.goto(srv.url + "/?q=tag:toscana")
        loaded(page, 3)
    finally:
        srv.stop()


def test_live_reload_shows_a_new_photo(own_home, page, tmp_path):
    srv = start_server(own_home)
    try:
        page.goto(srv.url + "/")
        loaded(page, 15)
        page.wait_for_selector("body[data-live='1']")
        page.evaluate("window.marker = 'not reloaded'")
        src = tmp_path / "new"
        src.mkdir()
        shutil.copy2(media_file("exif-samples/jpg/orientation/landscape_2.jpg"), src)
        import_media(src, own_home)
        loaded(page, 16)
        assert page.evaluate("window.marker") == "not reloaded"
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
        page.fill("input[name=name]", "anna")
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
        pg.wait_for_function("Number(document.querySelector('.detail img').dataset.scale) > 1.5")
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
