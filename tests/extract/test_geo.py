"""Nominatim lookups against a real local HTTP server answering like `/reverse?format=jsonv2`."""

from __future__ import annotations

import http.server
import threading
import time
from urllib.parse import parse_qs, urlparse

import orjson
import pytest

from hg_extract.geo import USER_AGENT

from .conftest import copy_media, run_extract, run_index

GPS = [f"exif-samples/jpg/gps/DSCN00{n}.jpg" for n in (10, 21, 40)]


class Nominatim(http.server.ThreadingHTTPServer):
    def __init__(self, status: int = 200) -> None:
        self.status = status
        self.requests: list[tuple[float, str, dict]] = []
        super().__init__(("127.0.0.1", 0), Handler)


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - the http.server API
        url = urlparse(self.path)
        self.server.requests.append(
            (time.monotonic(), url.path, parse_qs(url.query), dict(self.headers))
        )
        if self.server.status != 200:
            self.send_response(self.server.status)
            self.end_headers()
            return
        q = parse_qs(url.query)
        body = {
            "place_id": 1,
            "lat": q["lat"][0],
            "lon": q["lon"][0],
            "display_name": "Via Roma, Arezzo, Toscana, Italia",
            "address": {
                "road": "Via Roma",
                "village": "Small",
                "town": "Arezzo",
                "state": "Toscana",
                "country": "Italia",
                "country_code": "it",
            },
        }
        data = orjson.dumps(body)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def server(request):
    srv = Nominatim(getattr(request, "param", 200))
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def _run(tmp_path, server, *args):
    src = copy_media(tmp_path / "src", GPS)
    home = tmp_path / "home"
    stdin = run_index(home, src)
    url = f"http://127.0.0.1:{server.server_address[1]}"
    return home, stdin, run_extract(home, stdin, "--jobs", "2", "--geo-server", url, *args)


def test_nominatim_polite_and_cached(tmp_path, server):
    home, stdin, (code, records, stderr) = _run(tmp_path, server)
    assert code == 0, stderr
    entries = [r for r in records if r["type"] == "entry"]
    assert len(entries) == 3
    for entry in entries:
        assert entry["address"]["city"] == "Arezzo"  # town wins over village, as HomeGallery
        assert entry["address"]["road"] == "Via Roma" and entry["address"]["country"] == "Italia"
    times = [t for t, *_ in server.requests]
    assert 1 <= len(times) <= 3
    assert all(b - a >= 0.95 for a, b in zip(times, times[1:], strict=False))
    for _, path, query, headers in server.requests:
        assert path == "/reverse" and set(query) == {"format", "lat", "lon"}
        assert query["format"] == ["jsonv2"] and headers["User-Agent"] == USER_AGENT
    count = len(server.requests)
    url = f"http://127.0.0.1:{server.server_address[1]}"
    code, again, _ = run_extract(home, stdin, "--force", "--no-video", "--geo-server", url)
    assert code == 0 and len(server.requests) == count  # answered from the storage cache


@pytest.mark.parametrize("server", [429], indirect=True)
def test_nominatim_429_stops_lookups(tmp_path, server):
    _, _, (code, records, stderr) = _run(tmp_path, server, "--jobs", "1")
    assert code == 0, stderr
    assert len(server.requests) == 1
    assert [r["address"] for r in records if r["type"] == "entry"] == [None, None, None]
    assert "429" in stderr
