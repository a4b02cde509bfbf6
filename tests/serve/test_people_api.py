"""People through the real hg-serve: `/api/people`, `/api/people/{id}` and corrections
posted to `/api/people/events`, on a gallery imported from the real face photos
(tests/fixtures/media/faces); a user whose filter shows only Obama's photos knows only
Obama: counts, best face and corrections never reach the others."""

from __future__ import annotations

import pytest

from hg_serve.passwords import hash_password
from tests.conftest import face_photos
from tests.serve.conftest import listen, start_server
from tests.serve.pipeline import import_media

PHOTOS = ("obama-portrait.jpg", "obama-speech.jpg", "obama-blue-room.jpg",
          "biden-portrait.jpg", "astronaut-collins.jpg")  # fmt: skip
ANNA, BEN = ("anna", "anna-secret"), ("ben", "ben-secret")  # ben sees Obama's photos only

PEOPLE_EDITS = ("userAction", "personAction")  # what a page hears of edits


@pytest.fixture(scope="module")
def faces_home(tmp_path_factory):
    base = tmp_path_factory.mktemp("people-serve")
    src = face_photos(base / "src", PHOTOS)
    home = base / "home"
    import_media(src, home)
    (home / "config.toml").write_text(f"""
[[server.users]]
name = "anna"
password = "{hash_password("anna-secret")}"

[[server.users]]
name = "ben"
password = "{hash_password("ben-secret")}"
filter = "filename~obama"
""")
    return home


@pytest.fixture
def srv(faces_home):
    server = start_server(faces_home)
    yield server
    server.stop()


def entries(srv, q, auth=ANNA):
    r = srv.get("/api/entries", params={"q": q}, auth=auth)
    assert r.status_code == 200, r.text
    return {e["id"] for e in r.json()["entries"]}


def test_people_list_person_and_corrections_with_a_filtered_user(srv):
    r = srv.get("/api/people", auth=ANNA)
    assert r.status_code == 200
    listed = r.json()["people"]
    assert sorted((p["faces"], p["photos"]) for p in listed) == [(1, 1), (1, 1), (3, 3)]
    obama = next(p for p in listed if p["photos"] == 3)
    others = [p for p in listed if p is not obama]
    face = obama["face"]
    assert set(face) == {"entry", "n", "face", "score", "x", "y", "width", "height"}
    obama_ids = entries(srv, "filename~obama")
    assert face["entry"] in obama_ids

    # one person: their photos are a query
    detail = srv.get(f"/api/people/{obama['id']}", auth=ANNA).json()
    assert detail["query"] == f"person:{obama['id']}" and len(detail["faces_list"]) == 3
    assert entries(srv, detail["query"]) == obama_ids

    # ben sees Obama only, counted over his photos; the others do not exist for him
    mine = srv.get("/api/people", auth=BEN).json()["people"]
    assert [(p["id"], p["photos"]) for p in mine] == [(obama["id"], 3)]
    for p in others:
        assert srv.get(f"/api/people/{p['id']}", auth=BEN).status_code == 404
        assert srv.get(f"/api/people/{p['id']}", auth=ANNA).status_code == 200
        r = srv.post("/api/people/events", auth=BEN,
                     json={"action": "name", "person": p["id"], "name": "Secret"})  # fmt: skip
        assert r.status_code == 400 and "no such person" in r.json()["error"]
        r = srv.post("/api/people/events", auth=BEN,
                     json={"action": "merge", "person": obama["id"], "from": p["id"]})  # fmt: skip
        assert r.status_code == 400
        hidden_face = srv.get(f"/api/people/{p['id']}", auth=ANNA).json()["face"]["face"]
        move = {"action": "move", "face": hidden_face, "person": obama["id"]}
        r = srv.post("/api/people/events", auth=BEN, json=move)
        assert r.status_code == 400 and "no such face" in r.json()["error"]
    assert entries(srv, f"person:{others[0]['id']}", auth=BEN) == set()

    # ben names Obama: a personAction event, applied at once, seen by anna too
    r = srv.post("/api/people/events", auth=BEN,
                 json={"action": "name", "person": obama["id"], "name": "Barack"})  # fmt: skip
    assert r.status_code == 201, r.text
    event = r.json()
    assert event["type"] == "personAction" and event["face"].split(".")[0] in obama_ids
    assert [p["name"] for p in srv.get("/api/people", auth=ANNA).json()["people"]] == [
        "Barack", None, None,
    ]  # fmt: skip
    assert entries(srv, "person:barack") == obama_ids
    # the detail record names the person of each face (its boxes are labelled with it)
    for entry_id in obama_ids:
        faces = srv.get(f"/api/entries/{entry_id}", auth=BEN).json()["faces"]
        assert [f["person"] for f in faces] == [{"id": obama["id"], "name": "Barack"}]
    assert entries(srv, "not person:*") == entries(srv, "") - obama_ids

    # anna merges the two others, then takes a face back out (not this person); ben's page
    # hears nothing of it (the events name faces of photos he cannot see)
    anna_hears, ben_hears = listen(srv, ANNA, PEOPLE_EDITS), listen(srv, BEN, PEOPLE_EDITS)
    a, b = others
    r = srv.post("/api/people/events", auth=ANNA,
                 json={"action": "merge", "person": a["id"], "from": b["id"]})  # fmt: skip
    assert r.status_code == 201
    merged = srv.get(f"/api/people/{a['id']}", auth=ANNA).json()
    assert merged["photos"] == 2 and srv.get(f"/api/people/{b['id']}", auth=ANNA).status_code == 404
    r = srv.post("/api/people/events", auth=ANNA,
                 json={"action": "reject", "face": b["face"]["face"]})  # fmt: skip
    assert r.status_code == 201
    assert len(srv.get("/api/people", auth=ANNA).json()["people"]) == 3
    assert srv.get(f"/api/people/{a['id']}", auth=ANNA).json()["photos"] == 1
    assert [anna_hears.get(timeout=10)["action"] for _ in range(2)] == ["merge", "reject"]
    tagged = {"targetIds": [face["entry"]], "actions": [{"action": "addTag", "value": "x"}]}
    assert srv.post("/api/events", auth=ANNA, json=tagged).status_code == 201
    assert ben_hears.get(timeout=10)["type"] == "userAction"  # the first thing he hears

    # bad requests
    for body in ({"action": "frob"}, {"action": "name", "person": obama["id"], "name": 5},
                 {"action": "reject", "face": "nonsense"}, []):  # fmt: skip
        assert srv.post("/api/people/events", auth=ANNA, json=body).status_code == 400
    r = srv.post("/api/people/events", auth=ANNA, data=b"x",
                 headers={"content-type": "text/plain"})  # fmt: skip
    assert r.status_code == 415


def test_face_crops_are_the_faces_and_hold_the_users_filter(srv):
    """`GET /faces/<id>/<n>`: each person's best face, cut from the stored preview, is a
    square JPEG in which dlib finds that one face, in the middle; ben (filter: Obama's
    photos) gets Obama's and a 404 for the others' faces, also once anna's requests put
    them in the server's crop cache; bad sizes are 400, unknown faces 404, and the ETag
    gives a 304."""
    import io

    from PIL import Image

    from hg_extract.ml import faces

    listed = srv.get("/api/people", auth=ANNA).json()["people"]
    assert len(listed) >= 3
    obama_ids = entries(srv, "filename~obama")
    model = faces.model()
    for person in listed:
        face = person["face"]
        r = srv.get(f"/faces/{face['entry']}/{face['n']}", auth=ANNA)
        assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg"
        assert r.headers["cache-control"].startswith("private")  # users log in here
        with Image.open(io.BytesIO(r.content)) as img:
            assert img.width == img.height and 100 <= img.width <= 192, img.size
            found = model.run(faces.rgb_array(img)).faces
        assert len(found) == 1, person
        x, y, w, h = found[0].box
        assert abs((x + w / 2) / img.width - 0.5) < 0.15 and w > img.width / 3
        small = srv.get(f"/faces/{face['entry']}/{face['n']}", params={"size": 64}, auth=ANNA)
        assert Image.open(io.BytesIO(small.content)).size == (64, 64)
        again = srv.get(f"/faces/{face['entry']}/{face['n']}", auth=ANNA,
                        headers={"If-None-Match": r.headers["etag"]})  # fmt: skip
        assert again.status_code == 304
        as_ben = srv.get(f"/faces/{face['entry']}/{face['n']}", auth=BEN)
        if face["entry"] in obama_ids:
            assert as_ben.status_code == 200 and as_ben.content == r.content
        else:
            assert as_ben.status_code == 404 and as_ben.content == b"not found"
            assert srv.get(f"/faces/{face['entry']}/{face['n']}", params={"size": 64},
                           auth=BEN).status_code == 404  # fmt: skip
    face = listed[0]["face"]
    for size in ("5", "4096", "x"):
        r = srv.get(f"/faces/{face['entry']}/{face['n']}", params={"size": size}, auth=ANNA)
        assert r.status_code == 400
    assert srv.get(f"/faces/{face['entry']}/7", auth=ANNA).status_code == 404
    assert srv.get(f"/faces/{face['entry']}/x", auth=ANNA).status_code == 404
    assert srv.get(f"/faces/{'0' * 40}/0", auth=ANNA).status_code == 404
    assert srv.get(f"/faces/{face['entry']}/{face['n']}").status_code == 401  # no login
