"""Security headers on a real server: private caching of files with users, no sniffing, no
framing, and a content security policy the web app runs under in a real browser."""

from __future__ import annotations

import re

import pytest
from starlette.datastructures import Headers

from hg_serve.headers import content_security_policy, not_modified, tile_source
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


@pytest.mark.parametrize("path", ["/", "/login"])
def test_pages_carry_no_inline_script_and_the_policy_allows_none(server, path):
    r = server.get(path)
    policy = r.headers["content-security-policy"]
    assert re.search(r"script-src ([^;]+)", policy).group(1) == "'self'"
    assert not re.findall(r"<script(?![^>]*\bsrc=)[^>]*>", r.text, re.I)
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


# The web app under this policy in Chromium: tests/serve/test_browser.py (one browser per
# test process: Playwright's sync API cannot start a second beside its fixture).


@pytest.mark.parametrize(
    ("sent", "hit"),
    [
        ([], False),
        (['"abc"'], True),
        (['W/"abc"'], True),  # weak comparison: a weak validator matches
        (['"abd"'], False),
        (['"x", W/"abc" , "y"'], True),  # a list, spaces around members
        (['"x"', '"abc"'], True),  # two header lines are one list
        (['"a,b", "c"'], False),  # a comma inside a tag does not split it
        (["*"], True),  # any current representation
        ([" * "], True),
        (['"abc'], False),  # unterminated: no tag
        (["abc"], False),  # unquoted: no tag
        (['"ABC"'], False),  # opaque tags compare exactly
    ],
)
def test_if_none_match_rfc_9110(sent, hit):
    headers = Headers(raw=[(b"if-none-match", v.encode()) for v in sent])
    assert not_modified(headers, '"abc"') is hit
    assert not_modified(headers, 'W/"abc"') is hit  # our own tag weak: the same rules


def test_if_none_match_with_a_comma_in_the_tag():
    headers = Headers(raw=[(b"if-none-match", b'"x", "a,b"')])
    assert not_modified(headers, '"a,b"') and not not_modified(headers, '"a"')
