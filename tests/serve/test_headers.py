"""Security headers on a real server: private caching of files with users, no sniffing, no
framing, and a content security policy the web app runs under in a real browser."""

from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path

import pytest

from hg_serve.headers import content_security_policy, tile_source
from tests.serve.conftest import start_server
from tests.serve.test_auth import users_config, write_config

ANNA = ("anna", "anna-secret")


def preview_of(srv, auth=None) -> str:
    item = srv.get("/api/entries", auth=auth).json()["entries"][0]
    return f"/files/{item['preview']}-image-preview-{item['sizes'][-1]}.jpg"


def assert_secured(response) -> None:
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]


def test_files_are_private_with_users_and_every_answer_is_secured(own_home):
    write_config(own_home, users_config())
    srv = start_server(own_home)
    srv.url += "/g"
    try:
        r = srv.get(preview_of(srv, ANNA), auth=ANNA)
        assert r.status_code == 200
        assert r.headers["cache-control"] == "private, max-age=31536000, immutable"
        assert_secured(r)
        for path in ("/api/entries", "/files/aa/bb/x", "/login", "/"):  # 401, 404, page, 303
            assert_secured(srv.get(path, allow_redirects=False))
        assert_secured(srv.get("/api/info", auth=ANNA))
    finally:
        srv.stop()


def test_without_users_files_stay_publicly_cacheable(server):
    r = server.get(preview_of(server))
    assert r.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert_secured(r)


def test_the_page_policy_allows_its_own_inline_scripts_only(server):
    r = server.get("/")
    policy = r.headers["content-security-policy"]
    scripts = re.search(r"script-src ([^;]+)", policy).group(1).split()
    inline = re.findall(r"<script(?![^>]*\bsrc=)[^>]*>(.*?)</script>", r.text, re.S)
    wanted = {
        f"'sha256-{base64.b64encode(hashlib.sha256(s.encode()).digest()).decode()}'" for s in inline
    }
    assert set(scripts) == {"'self'", *wanted}
    assert "'unsafe-inline'" not in scripts and "'unsafe-eval'" not in scripts
    assert "img-src 'self' data: blob: https://tile.openstreetmap.org" in policy


def test_tile_hosts_in_the_policy():
    assert tile_source("https://tile.openstreetmap.org/{z}/{x}/{y}.png") == (
        "https://tile.openstreetmap.org"
    )
    assert tile_source("https://{s}.tile.example.com:8443/{z}/{x}/{y}.png") == (
        "https://*.tile.example.com:8443"
    )
    assert tile_source("/tiles/{z}/{x}/{y}.png") is None  # this server: 'self'
    assert tile_source("") is None  # no tiles
    assert tile_source("https://t.{s}.example.com/{z}.png") == "https:"
    assert "img-src 'self' data: blob:;" in content_security_policy("")


sync_api = pytest.importorskip("playwright.sync_api")
CHROMIUM = "/usr/bin/chromium"


def test_the_web_app_runs_under_its_policy(server):
    """Every view in Chromium with the policy on: no violation reported."""
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} missing")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True,
                                    args=["--no-sandbox", "--disable-gpu"])  # fmt: skip
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            page.set_default_timeout(20_000)
            violations: list[str] = []
            page.on(
                "console",
                lambda m: violations.append(m.text) if "Content Security Policy" in m.text else 0,
            )
            # hooked before any script of the page runs: what the policy blocked
            page.add_init_script(
                "document.addEventListener('securitypolicyviolation', e => "
                "console.error('Content Security Policy: ' + e.violatedDirective + ' ' + "
                "e.blockedURI))"
            )
            page.route("https://tile.openstreetmap.org/**", lambda r: r.abort())  # offline
            page.goto(server.url + "/")
            page.wait_for_selector(".cell img")
            for view in ("years", "tags", "map", "videos"):
                page.goto(f"{server.url}/{view}")
                page.wait_for_load_state("networkidle")
            page.goto(server.url + "/")
            page.locator(".cell").first.click()
            page.wait_for_selector(".detail:not([hidden])")
            page.wait_for_load_state("networkidle")
            assert violations == []
        finally:
            browser.close()
