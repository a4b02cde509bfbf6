"""The JSON API of a real hg-serve on 127.0.0.1, over a gallery built from ../shared/media."""

from __future__ import annotations

import json

import pytest


def test_entries_page_has_what_the_grid_needs(server):
    data = server.get("/api/entries").json()
    assert data["total"] == 15 and data["offset"] == 0 and len(data["entries"]) == 15
    dates = [e["date"] for e in data["entries"]]
    assert dates == sorted(dates, reverse=True)  # newest first
    item = next(e for e in data["entries"] if e["date"].startswith("2008-10-23T14:27:07"))
    assert set(item) == {"id", "date", "type", "w", "h", "color", "preview", "sizes", "place"}
    assert item["place"] == "Arezzo, Italy"  # for the tile's accessible name
    assert (item["w"], item["h"]) == (640, 480) and item["type"] == "image"
    assert item["sizes"] == [800, 320, 128] and item["color"].startswith("#")
    video = next(e for e in data["entries"] if e["type"] == "video")
    assert (video["w"], video["h"]) == (240, 320)  # rotated 90: displayed portrait
    assert 1.4 < video["duration"] < 1.7


def test_entries_paging(server):
    whole = server.get("/api/entries").json()["entries"]
    page = server.get("/api/entries", params={"offset": 5, "limit": 4}).json()
    assert page["total"] == 15 and [e["id"] for e in page["entries"]] == [
        e["id"] for e in whole[5:9]
    ]
    bad = server.get("/api/entries", params={"limit": "-1"})
    assert bad.status_code == 400 and "limit" in bad.json()["error"]


def test_query_narrows_and_errors_point_at_the_problem(server):
    data = server.get("/api/entries", params={"q": "coolpix"}).json()
    assert data["total"] == 9
    assert server.get("/api/entries", params={"q": "beach"}).json()["total"] == 1
    bad = server.get("/api/entries", params={"q": "beach year>>2020"})
    assert bad.status_code == 400
    assert "position 12" in bad.json()["error"]  # the second ">"


def test_detail_and_unknown_id(server):
    item = server.get("/api/entries", params={"q": "beach"}).json()["entries"][0]
    detail = server.get(f"/api/entries/{item['id']}").json()
    assert detail["tags"] == ["beach", "holiday"]
    assert detail["make"] == "TestCam" and detail["files"][0]["path"].endswith("IMG_0001.jpg")
    assert detail["sizes"] == item["sizes"] and detail["faces"] == []
    assert server.get("/api/entries/" + "0" * 64).status_code == 404


def test_years_tags_geo(server):
    years = server.get("/api/years").json()
    assert [y["year"] for y in years][-4:] == [2021, 2020, 2019, 2008]
    y2008 = years[-1]
    assert y2008["count"] == 9 and y2008["months"] == [{"month": 10, "count": 9}]
    assert sum(y["count"] for y in years) == 15
    assert y2008["offset"] == 6  # its first entry's place in /api/entries (the year jump)
    first = server.get("/api/entries?offset=6&limit=1").json()["entries"][0]
    assert first["date"].startswith("2008") and years[0]["offset"] == 0
    tags = server.get("/api/tags").json()
    assert {t["tag"]: t["count"] for t in tags} == {"beach": 1, "holiday": 1, "forest": 1}
    geo = server.get("/api/geo").json()
    assert len(geo["ids"]) == len(geo["lat"]) == len(geo["lon"]) == 10  # 9 photos + video
    # ids are the shortest unique prefixes (10 hex digits for a gallery this size)
    assert geo["idLength"] == 10 and {len(i) for i in geo["ids"]} == {10}
    paris = geo["ids"][geo["lat"].index(48.8584)]
    found = server.get("/api/entries", params={"q": f"id:{paris} exists(geo)"}).json()
    assert found["total"] == 1 and found["entries"][0]["type"] == "video"
    assert server.get(f"/api/entries/{found['entries'][0]['id']}").json()["type"] == "video"
    assert server.get("/api/geo", params={"q": "coolpix"}).json()["ids"].__len__() == 9


def test_similar_lists_other_photos_and_is_empty_for_a_video(server):
    entries = server.get("/api/entries", params={"limit": 100}).json()["entries"]
    photo = next(e for e in entries if e["type"] == "image")
    similar = server.get(f"/api/entries/{photo['id']}/similar").json()["entries"]
    # hg-extract's ML step gave every photo a vector; the photo itself is not listed
    assert similar and photo["id"] not in [e["id"] for e in similar]
    assert server.get(f"/api/entries/{photo['id']}").json()["has_similar"] is True
    # the search grid of similar:ID is most similar first: not in date order
    grid = server.get("/api/entries", params={"q": f"similar:{photo['id']}"}).json()
    assert grid["dated"] is False and grid["entries"][0]["id"] == photo["id"]
    assert server.get("/api/entries", params={"limit": 1}).json()["dated"] is True
    video = next(e for e in entries if e["type"] == "video")  # no ML step for videos
    assert server.get(f"/api/entries/{video['id']}/similar").json() == {"entries": []}


def test_app_shell_manifest_and_vendor_assets(server):
    page = server.get("/")
    assert page.status_code == 200 and "/gallery/static/" in page.text
    manifest = server.get("/manifest.webmanifest").json()
    assert manifest["start_url"] == "/gallery/" and manifest["display"] == "standalone"
    leaflet = server.get("/vendor/leaflet/leaflet.js")
    assert leaflet.status_code == 200 and "Leaflet" in leaflet.text[:2000]
    assert server.get("/vendor/markercluster/leaflet.markercluster.js").status_code == 200
    redirect = server.get("", allow_redirects=False)  # /gallery -> /gallery/
    assert redirect.status_code in (301, 302, 307, 308)


def test_api_responses_are_compressed(server):
    r = server.get("/api/entries", headers={"Accept-Encoding": "gzip"})
    assert r.headers.get("content-encoding") == "gzip"
    assert json.loads(r.content)["total"] == 15  # requests decoded it


@pytest.mark.parametrize("path", ["/api/nope", "/files/"])
def test_unknown_paths_are_404(server, path):
    assert server.get(path).status_code == 404
