"""GET /files/: immutable caching, ETag, Range for video, and confinement to storage."""

from __future__ import annotations

import http.client
import os
from urllib.parse import urlparse

import pytest
import requests


def raw_get(server, path: str) -> int:
    """Send the path byte for byte (clients would normalise '..' away)."""
    u = urlparse(server.url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
    conn.putrequest("GET", u.path + path, skip_accept_encoding=True)
    conn.endheaders()
    status = conn.getresponse().status
    conn.close()
    return status


def first(server, kind: str) -> dict:
    items = server.get("/api/entries").json()["entries"]
    return next(e for e in items if e["type"] == kind)


def test_preview_is_immutable_with_etag(server):
    item = first(server, "image")
    path = f"/files/{item['preview']}-image-preview-{item['sizes'][-1]}.jpg"
    r = server.get(path)
    assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg"
    assert r.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert r.content[:2] == b"\xff\xd8"
    again = server.get(path, headers={"If-None-Match": r.headers["etag"]})
    assert again.status_code == 304 and again.content == b""
    weak_in_list = f'"other", W/{r.headers["etag"]}'
    assert server.get(path, headers={"If-None-Match": weak_in_list}).status_code == 304
    assert server.get(path, headers={"If-None-Match": '"other"'}).status_code == 200


def test_video_supports_range_requests(server):
    video = server.get(f"/api/entries/{first(server, 'video')['id']}").json()["video"]
    whole = server.get(f"/files/{video}")
    assert whole.status_code == 200 and whole.headers["accept-ranges"] == "bytes"
    assert whole.headers["content-type"] == "video/mp4"
    part = server.get(f"/files/{video}", headers={"Range": "bytes=100-199"})
    assert part.status_code == 206
    assert part.headers["content-range"] == f"bytes 100-199/{len(whole.content)}"
    assert part.content == whole.content[100:200]
    tail = server.get(f"/files/{video}", headers={"Range": "bytes=-10"})
    assert tail.status_code == 206 and tail.content == whole.content[-10:]
    beyond = server.get(f"/files/{video}", headers={"Range": f"bytes={len(whole.content)}-"})
    assert beyond.status_code == 416


@pytest.mark.parametrize(
    "path",
    [
        "/files/../gallery.db",
        "/files/%2e%2e/gallery.db",
        "/files/%2E%2E%2Fgallery.db",
        "/files/ab/%2e%2e/%2e%2e/gallery.db",
        "/files/..%2fgallery.db",
        "/files//etc/passwd",
        "/files/%2fetc%2fpasswd",
        "/files/.%2f..%2fgallery.db",
        "/files/..%5cgallery.db",
        "/files/%00",
    ],
)
def test_traversal_is_refused(server, path):
    assert raw_get(server, path) in (403, 404)


def test_storage_files_only_not_the_home(server):
    assert requests.get(server.url + "/files/gallery.db", timeout=5).status_code == 404


def test_symlink_out_of_storage_is_forbidden(own_home):
    from tests.serve.conftest import start_server

    secret = own_home / "secret.txt"
    secret.write_text("not for the web")
    os.symlink(secret, own_home / "storage" / "ab-link.jpg")
    os.symlink(own_home, own_home / "storage" / "homedir")
    srv = start_server(own_home)
    try:
        assert srv.get("/files/ab-link.jpg").status_code == 403
        assert srv.get("/files/homedir/secret.txt").status_code == 403
        inside = next((own_home / "storage").glob("*/*/*.jpg"))
        os.symlink(inside, own_home / "storage" / "inside-link.jpg")
        assert srv.get("/files/inside-link.jpg").status_code == 200
    finally:
        srv.stop()
