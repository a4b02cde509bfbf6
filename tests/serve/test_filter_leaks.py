"""A user with a filter sees nothing outside it: not through /files/ (previews, -meta.json,
-exif.json with GPS), not through the live-event stream (other users' tag edits), and not
through a face or similar-images search seeded by an entry outside the filter."""

from __future__ import annotations

import time
from pathlib import Path

import requests

from tests.conftest import copy_media_parts
from tests.serve.conftest import listen, start_server
from tests.serve.pipeline import import_media
from tests.serve.test_auth import users_config, write_config

ANNA, BEN = ("anna", "anna-secret"), ("ben", "ben-secret")  # ben: filter = "tag:beach"


def tag(srv, ids: list[str], value: str) -> str:
    """Anna (no filter) adds a tag; the event's id."""
    action = {"action": "addTag", "value": value}
    r = srv.post("/api/events", auth=ANNA, json={"targetIds": ids, "actions": [action]})
    assert r.status_code == 201
    return r.json()["id"]


def storage_path(checksum: str, what: str) -> str:
    return f"/files/{checksum[:2]}/{checksum[2:4]}/{checksum[4:]}-{what}"


def test_files_outside_the_filter_are_not_served(own_home):
    write_config(own_home, users_config())
    srv = start_server(own_home)
    srv.url += "/g"
    try:
        hidden = srv.get("/api/entries", auth=ANNA, params={"q": "coolpix"}).json()["entries"][0]
        (mine,) = srv.get("/api/entries", auth=BEN).json()["entries"]
        full_hidden = srv.get(f"/api/entries/{hidden['id']}", auth=ANNA).json()
        full_mine = srv.get(f"/api/entries/{mine['id']}", auth=BEN).json()
        hidden_sum = full_hidden["files"][0]["checksum"]
        sidecar = next(f for f in full_mine["files"] if not f["primary"])  # the XMP
        size = hidden["sizes"][-1]
        preview = f"/files/{hidden['preview']}-image-preview-{size}.jpg"
        own = f"/files/{mine['preview']}-image-preview-{mine['sizes'][-1]}.jpg"
        leaks = [preview, storage_path(hidden_sum, "meta.json"),
                 storage_path(hidden_sum, "exif.json")]  # fmt: skip
        for path in leaks:
            assert srv.get(path, auth=ANNA).status_code == 200, path  # no filter: all of it
            assert srv.get(path, auth=BEN).status_code == 404, path
        assert b"GPS" in srv.get(leaks[2], auth=ANNA).content  # what ben must not read
        assert srv.get(own, auth=BEN).status_code == 200
        assert srv.get(storage_path(mine["id"], "meta.json"), auth=BEN).status_code == 200
        assert srv.get(storage_path(sidecar["checksum"], "meta.json"), auth=BEN).status_code == 200
        assert requests.head(srv.url + preview, auth=BEN, timeout=10).status_code == 404
        # a name that is no checksum's (an address cache): only for users without a filter
        assert srv.get("/files/aa/bb/not-a-checksum.json", auth=BEN).status_code == 404

        # A tag edit brings an entry into ben's filter: its files follow at once.
        tag(srv, [hidden["id"]], "beach")
        assert srv.get(preview, auth=BEN).status_code == 200
        assert srv.get(storage_path(hidden_sum, "exif.json"), auth=BEN).status_code == 200
    finally:
        srv.stop()


def test_a_filtered_users_previews_stay_fast(own_home):
    """Hundreds of preview requests (a grid) with a filter: the visibility check is made once
    per database version, so they cost about what they cost without one."""
    write_config(own_home, users_config())
    srv = start_server(own_home)
    srv.url += "/g"
    try:
        (mine,) = srv.get("/api/entries", auth=BEN).json()["entries"]
        any_item = srv.get("/api/entries", auth=ANNA).json()["entries"][0]
        paths = {
            BEN: f"/files/{mine['preview']}-image-preview-{mine['sizes'][-1]}.jpg",
            ANNA: f"/files/{any_item['preview']}-image-preview-{any_item['sizes'][-1]}.jpg",
        }
        took = {}
        for who in (ANNA, BEN, ANNA, BEN):  # twice each: the second round counts
            with requests.Session() as session:
                session.auth = who
                assert session.get(srv.url + paths[who]).status_code == 200  # Basic verified
                start = time.perf_counter()
                for _ in range(300):
                    assert session.get(srv.url + paths[who]).status_code == 200
                took[who[0]] = time.perf_counter() - start
        assert took["ben"] < took["anna"] * 2 + 0.5, took  # generous: a loaded 2-core box
    finally:
        srv.stop()


def test_folders_show_only_what_the_filter_lets_a_user_see(own_home):
    """The folder tree of a filtered user: no folder names, counts or covers of entries
    outside the filter, at the root, inside a hidden folder, or through a search."""
    write_config(own_home, users_config())
    srv = start_server(own_home)
    srv.url += "/g"
    try:
        (mine,) = srv.get("/api/entries", auth=BEN).json()["entries"]
        everything = srv.get("/api/folders", auth=ANNA).json()
        assert [f["name"] for f in everything["folders"]] == ["exif-samples", "tricky"]
        assert everything["count"] == 15
        root = srv.get("/api/folders", auth=BEN).json()
        assert root["count"] == 1 and root["direct"] == 0
        assert [(f["name"], f["count"]) for f in root["folders"]] == [("tricky", 1)]
        assert root["folders"][0]["cover"]["id"] == mine["id"]  # the cover is one of his
        tricky = srv.get("/api/folders", auth=BEN, params={"path": "tricky"}).json()
        assert tricky["direct"] == 0  # Straße_ümlaut.jpg and the video lie outside
        assert [(f["name"], f["count"]) for f in tricky["folders"]] == [("sidecar", 1)]
        assert srv.get("/api/folders", auth=ANNA, params={"path": "tricky"}).json()["direct"] == 2
        hidden = srv.get("/api/folders", auth=BEN, params={"path": "exif-samples"}).json()
        assert hidden == {"path": "exif-samples", "count": 0, "direct": 0, "folders": []}
        searched = srv.get("/api/folders", auth=BEN, params={"q": "coolpix"}).json()
        assert searched["count"] == 0 and searched["folders"] == []
        photos = srv.get("/api/entries", auth=BEN, params={"q": "folder:exif-samples"}).json()
        assert photos["total"] == 0
    finally:
        srv.stop()


def test_originals_only_for_entries_the_user_may_see(own_home):
    """/originals/<id>/<n> serves the file from its source, read-only, for an entry the
    user may see; any other entry is 404, as in the API."""
    write_config(own_home, users_config())
    srv = start_server(own_home)
    srv.url += "/g"
    try:
        hidden = srv.get("/api/entries", auth=ANNA, params={"q": "coolpix"}).json()["entries"][0]
        (mine,) = srv.get("/api/entries", auth=BEN).json()["entries"]
        files = srv.get(f"/api/entries/{mine['id']}", auth=BEN).json()["files"]
        on_disk = [Path(f["root"], f["path"]).read_bytes() for f in files]
        for n, data in enumerate(on_disk):  # the photo and its XMP sidecar
            r = srv.get(f"/originals/{mine['id']}/{n}", auth=BEN)
            assert r.status_code == 200 and r.content == data
            name = files[n]["path"].rsplit("/", 1)[-1]
            assert r.headers["content-disposition"] == f"attachment; filename*=UTF-8''{name}"
        hidden_path = f"/originals/{hidden['id']}/0"
        assert srv.get(hidden_path, auth=ANNA).status_code == 200
        assert srv.get(hidden_path, auth=BEN).status_code == 404
        assert requests.head(srv.url + hidden_path, auth=BEN, timeout=10).status_code == 404
        assert srv.get(f"/originals/{mine['id']}/{len(files)}", auth=BEN).status_code == 404
        assert srv.get(f"/originals/{mine['id']}/-1", auth=BEN).status_code == 404
        assert srv.get(hidden_path).status_code == 401  # no login, no file
        put = requests.put(srv.url + f"/originals/{mine['id']}/0", auth=BEN, data=b"x", timeout=10)
        assert put.status_code == 405
        assert Path(files[0]["root"], files[0]["path"]).read_bytes() == on_disk[0]
    finally:
        srv.stop()


def test_live_events_carry_only_the_entries_a_user_can_see(own_home):
    write_config(own_home, users_config())
    srv = start_server(own_home)
    srv.url += "/g"
    try:
        hidden = srv.get("/api/entries", auth=ANNA, params={"q": "coolpix"}).json()["entries"]
        (mine,) = srv.get("/api/entries", auth=BEN).json()["entries"]
        anna_hears, ben_hears = listen(srv, ANNA), listen(srv, BEN)

        secret = tag(srv, [hidden[0]["id"], hidden[1]["id"]], "secret-name")  # none of ben's
        mixed = tag(srv, [hidden[0]["id"], mine["id"]], "both")
        assert anna_hears.get(timeout=10)["id"] == secret
        got = anna_hears.get(timeout=10)
        assert got["id"] == mixed and len(got["targetIds"]) == 2
        first = ben_hears.get(timeout=10)  # not the secret one: nothing of it reaches ben
        assert first["id"] == mixed and first["targetIds"] == [mine["id"]]
        assert first["actions"] == [{"action": "addTag", "value": "both"}]
        assert ben_hears.empty()
    finally:
        srv.stop()


def test_duplicates_are_grouped_within_the_users_filter(own_home):
    """A group of near-duplicates is made among what the user sees: ben never gets an
    entry outside his filter, nor a group joined through one."""
    write_config(own_home, users_config())
    srv = start_server(own_home)
    srv.url += "/g"
    try:
        groups = srv.get("/api/duplicates", auth=ANNA).json()["groups"]
        biggest = max(groups, key=lambda g: len(g["entries"]))
        members = [e["id"] for e in biggest["entries"]]
        assert len(members) >= 3  # the corpus's orientation set: one picture, 8 files
        (mine,) = srv.get("/api/entries", auth=BEN).json()["entries"]
        assert srv.get("/api/duplicates", auth=BEN).json()["groups"] == []  # one entry seen
        tag(srv, members[:2], "beach")
        seen = {e["id"] for e in srv.get("/api/entries", auth=BEN).json()["entries"]}
        assert seen == {mine["id"], *members[:2]}
        groups = srv.get("/api/duplicates", auth=BEN).json()["groups"]
        ids = [{e["id"] for e in g["entries"]} for g in groups]
        assert any(set(members[:2]) <= g for g in ids)
        assert set().union(*ids) <= seen  # the rest of the group stays out of sight
        low = srv.get("/api/duplicates", auth=ANNA, params={"threshold": "-1"}).json()
        assert len(low["groups"]) == 1 and low["threshold"] == -1
        bad = srv.get("/api/duplicates", auth=ANNA, params={"threshold": "x"})
        assert bad.status_code == 400 and "threshold" in bad.json()["error"]
    finally:
        srv.stop()


def test_a_face_or_photo_outside_the_filter_finds_nothing(tmp_path):
    """face:<id>.<n> with a seed outside ben's filter finds nothing (not the photos of the
    same person that ben may see, nor an order by distance to it); within the filter the
    search works, its results within the filter too."""
    home = tmp_path / "home"
    import_media(copy_media_parts(["faces"], tmp_path / "src"), home)
    write_config(
        home,
        users_config().replace(
            'filter = "tag:beach"',
            'filter = "filename:obama-speech.jpg or filename:biden-portrait.jpg"',
        ),
    )
    srv = start_server(home)
    srv.url += "/g"

    def search(auth, q: str) -> list[str]:
        r = srv.get("/api/entries", auth=auth, params={"q": q})
        assert r.status_code == 200, r.text
        return [e["id"] for e in r.json()["entries"]]

    try:
        every = srv.get("/api/entries", auth=ANNA).json()["entries"]
        full = [srv.get(f"/api/entries/{e['id']}", auth=ANNA).json() for e in every]
        names = {d["id"]: Path(d["files"][0]["path"]).name for d in full}
        ids = {name: i for i, name in names.items()}
        portrait, speech = ids["obama-portrait.jpg"], ids["obama-speech.jpg"]
        # anna (no filter): the portrait's face finds the three photos of Obama
        assert {names[i] for i in search(ANNA, f"face:{portrait}.0")} == {
            "obama-portrait.jpg", "obama-speech.jpg", "obama-blue-room.jpg"
        }  # fmt: skip
        assert sorted(names[i] for i in search(BEN, "")) == [
            "biden-portrait.jpg", "obama-speech.jpg"
        ]  # fmt: skip
        # ben: the hidden portrait's face, by its id or a prefix, finds nothing, not even
        # the photo of Obama he may see; alone, ordered by it, or beside another term
        for q in (
            f"face:{portrait}.0",
            f"face:{portrait[:6]}.0",
            f"face:{portrait}.0 or filename:none.jpg",
            f"face:{portrait}.0 order by face",
        ):
            assert search(BEN, q) == [], q  # fmt: skip
        assert srv.get(f"/api/entries/{portrait}", auth=BEN).status_code == 404
        # a face ben may see: the search works, and shows only what he may see
        assert search(BEN, f"face:{speech}.0") == [speech]
        assert srv.get("/api/years", auth=BEN, params={"q": f"face:{portrait}.0"}).json() == []
        # the same for similar images: the hidden portrait is no seed for ben
        assert portrait in search(ANNA, f"similar:{portrait}")
        assert search(BEN, f"similar:{portrait}") == search(BEN, f"similar:{portrait[:6]}") == []
        assert speech in search(BEN, f"similar:{speech}")
    finally:
        srv.stop()
