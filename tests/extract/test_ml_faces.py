"""Faces through the real `hg-index | hg-extract` and `hg-build`, on real photos of people
(tests/fixtures/media/faces: three photos of one man, one of another, one of a woman): every
face found where it is, 128-d descriptors that tell the persons apart and hold for a scaled
re-saved copy, stored beside their model, skipped when done, recomputed for a new model
version, off with --no-faces; a damaged face model is an error record per entry and the
objects are still stored; hg-build's `count(faces)` and `face:<id>.<n>` queries."""

from __future__ import annotations

import hashlib
import json
import subprocess

import numpy as np
import orjson
import pytest
from PIL import Image

from hg_common import layout
from hg_extract.ml import faces as dlib_faces
from tests.build.conftest import hg_build, query
from tests.conftest import face_photos, media_file

from .api_server import FakeApiServer
from .conftest import BIN, hg_env, run_extract, run_index

PHOTOS = {
    # name: (person, the face's centre (x, y) and width relative to the photo)
    "obama-portrait.jpg": ("obama", (0.55, 0.24, 0.29)),
    "obama-speech.jpg": ("obama", (0.49, 0.38, 0.53)),
    "obama-blue-room.jpg": ("obama", (0.55, 0.19, 0.18)),
    "biden-portrait.jpg": ("biden", (0.62, 0.16, 0.37)),
    "astronaut-collins.jpg": ("collins", (0.43, 0.24, 0.18)),
}
SCALED = "obama-portrait-scaled.jpg"
"""obama-portrait.jpg at 60 %, re-saved at JPEG quality 70: the same face, other pixels."""
GROUP = "group.jpg"
"""Three of the photos side by side in one: three persons."""


def kinds(records, kind):
    return [r for r in records if r["type"] == kind]


def by_name(records):
    return {r["path"].rsplit("/", 1)[-1]: r for r in kinds(records, "ml")}


def name_of(record):
    return record["files"][0]["path"].rsplit("/", 1)[-1]


def descriptors(value):
    return [np.asarray(f["descriptor"], dtype=np.float64) for f in value["data"]]


def kept(value):
    """The faces hg-build keeps (score at or above dlib's threshold)."""
    return [f for f in value["data"] if f["score"] >= 0.3]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    base = tmp_path_factory.mktemp("faces")
    src = face_photos(base / "src", PHOTOS, group=GROUP)
    with Image.open(src / "obama-portrait.jpg") as img:
        small = img.resize((int(img.width * 0.6), int(img.height * 0.6)), Image.Resampling.BICUBIC)
        small.save(src / SCALED, quality=70)
    home = base / "home"
    stdin = run_index(home, src)
    code, records, stderr = run_extract(home, stdin, "--jobs", "2", "--no-geo")
    assert code == 0, stderr
    return {"home": home, "src": src, "stdin": stdin, "records": records}


def test_every_face_is_found_where_it_is(run):
    ml = by_name(run["records"])
    assert sorted(ml) == sorted([*PHOTOS, SCALED, GROUP])
    assert len(kept(ml[GROUP]["faces"])) == 3
    storage = run["home"] / "storage"
    for name, (_person, (cx, cy, cw)) in PHOTOS.items():
        value = ml[name]["faces"]
        assert (value["model"], value["version"]) == (
            dlib_faces.MODEL_NAME,
            dlib_faces.MODEL_VERSION,
        )
        [face] = kept(value)  # one person each
        x, y, w, h = face["box"]
        assert abs((x + w / 2) / value["width"] - cx) < 0.05, name
        assert abs((y + h / 2) / value["height"] - cy) < 0.05, name
        assert abs(w / value["width"] / cw - 1) < 0.25, name
        assert len(face["descriptor"]) == 128 and len(face["landmarks"]) == 5
        assert all(x <= px <= x + w and y <= py <= y + h for px, py in face["landmarks"])
        # the model saw the 800 px preview, and what was printed is what is stored
        with Image.open(layout.path(storage, ml[name]["id"], layout.preview(800))) as img:
            assert (value["width"], value["height"]) == img.size
        stored = layout.path(storage, ml[name]["id"], layout.FACES).read_bytes()
        assert orjson.loads(stored) == value


def test_descriptors_tell_persons_apart_and_hold_for_a_scaled_copy(run):
    ml = by_name(run["records"])
    vec = {n: descriptors({"data": kept(r["faces"])})[0] for n, r in ml.items() if n != GROUP}
    person = {name: p for name, (p, _) in PHOTOS.items()} | {SCALED: "obama"}
    distance = {(a, b): float(np.linalg.norm(vec[a] - vec[b])) for a in vec for b in vec if a < b}
    same = [d for (a, b), d in distance.items() if person[a] == person[b]]
    other = [d for (a, b), d in distance.items() if person[a] != person[b]]
    assert len(same) == 6 and max(same) < 0.55  # HomeGallery's face match
    assert min(other) > 0.7
    assert distance[("obama-portrait-scaled.jpg", "obama-portrait.jpg")] < 0.2


def test_a_rerun_skips_and_a_new_model_version_recomputes_faces_only(run, tmp_path):
    home, stdin = run["home"], run["stdin"]
    code, records, _ = run_extract(home, stdin, "--no-geo")
    assert code == 0 and kinds(records, "ml") == []
    entry = next(
        r for r in kinds(records, "entry") if r["files"][0]["path"].endswith("biden-portrait.jpg")
    )
    assert entry["faces"]["model"] == dlib_faces.MODEL_NAME  # read back into the entry record
    path = layout.path(home / "storage", entry["id"], layout.FACES)
    old = orjson.loads(path.read_bytes())
    path.write_bytes(orjson.dumps({**old, "version": "an older one"}))
    objects = layout.path(home / "storage", entry["id"], layout.OBJECTS).stat().st_mtime_ns
    code, records, _ = run_extract(home, stdin, "--no-geo")
    [rec] = kinds(records, "ml")
    assert code == 0 and rec["id"] == entry["id"]
    assert set(rec) & {"faces", "objects", "similarity"} == {"faces"}  # the faces pass only
    assert rec["faces"]["version"] == dlib_faces.MODEL_VERSION
    assert rec["faces"]["data"] == old["data"]  # the same faces again
    assert layout.path(home / "storage", entry["id"], layout.OBJECTS).stat().st_mtime_ns == objects


def test_no_faces_leaves_faces_out(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.jpg").write_bytes(media_file("faces/biden-portrait.jpg").read_bytes())
    home = tmp_path / "home"
    code, records, stderr = run_extract(home, run_index(home, src), "--no-faces", "--no-geo")
    assert code == 0, stderr
    [rec] = kinds(records, "ml")
    assert "faces" not in rec and "objects" in rec
    assert not list((home / "storage").rglob("*-faces.json"))


def test_a_damaged_face_model_is_an_error_record_and_the_objects_are_kept(tmp_path):
    src = face_photos(tmp_path / "src", ("obama-speech.jpg", "biden-portrait.jpg"))
    models = tmp_path / "models"
    models.mkdir()
    folder = dlib_faces.models_dir()
    for name in dlib_faces.MODEL_SHA256:
        data = bytearray((folder / name).read_bytes())
        if name == dlib_faces.DESCRIPTOR_FILE:
            data[len(data) // 2] ^= 0x55
        (models / name).write_bytes(bytes(data))
    home = tmp_path / "home"
    proc = subprocess.run(
        [BIN / "hg-extract", "--no-progress", "--no-geo", "--jobs", "2"],
        input=run_index(home, src),
        env={**hg_env(home), dlib_faces.MODELS_ENV: str(models)},
        capture_output=True,
        timeout=300,
    )
    records = [orjson.loads(line) for line in proc.stdout.splitlines()]
    assert proc.returncode == 1
    errors = kinds(records, "error")
    assert len(errors) == 2 and all(e["ml"] for e in errors)
    damaged = models / dlib_faces.DESCRIPTOR_FILE
    assert all(f"faces: face model {damaged} is damaged: sha256" in e["error"] for e in errors)
    assert [sorted(set(r) & {"faces", "objects"}) for r in kinds(records, "ml")] == [
        ["objects"]
    ] * 2
    assert not list((home / "storage").rglob("*-faces.json"))


def test_faces_on_a_party_photo_of_the_corpus(tmp_path):
    """Two people at a party (a 640x480 camera JPEG of 1999): both small faces are found
    and stored; the half-hidden one at the edge scores below hg-build's threshold."""
    src = tmp_path / "src"
    src.mkdir()
    party = media_file("exif-samples/jpg/exif-org/kodak-dc210.jpg")
    (src / "party.jpg").write_bytes(party.read_bytes())
    home = tmp_path / "home"
    code, records, stderr = run_extract(home, run_index(home, src), "--no-geo")
    assert code == 0, stderr
    [rec] = kinds(records, "ml")
    found = rec["faces"]["data"]
    assert len(found) == 2 and all(40 <= f["box"][2] <= 60 for f in found)
    assert [f["box"][:2] for f in kept(rec["faces"])] == [[291, 234]]


# -- hg-build ---------------------------------------------------------------------------------


def test_hg_build_counts_faces_and_finds_the_same_face(run):
    home = run["home"]
    hg_build(home, stdin=b"".join(json.dumps(r).encode() + b"\n" for r in run["records"]))
    every = query(home, "")
    assert len(every) == 7
    assert {name_of(r) for r in query(home, "count(faces) > 0")} == {
        *PHOTOS,
        SCALED,
        GROUP,
    }
    assert [name_of(r) for r in query(home, "count(faces) > 2")] == [GROUP]
    assert [name_of(r) for r in query(home, "count(faces) = 2")] == []
    portrait = next(r for r in every if name_of(r) == "obama-portrait.jpg")
    [face] = portrait["faces"]
    assert set(face) == {"x", "y", "width", "height", "score"}  # no descriptor in the record
    assert abs(face["x"] + face["width"] / 2 - 0.55) < 0.05
    found = query(home, f"face:{portrait['id'][:8]}.0")
    names = [name_of(r) for r in found]
    assert names[0] == "obama-portrait.jpg" and names[1] == SCALED  # nearest first
    assert sorted(names) == sorted(["obama-portrait.jpg", SCALED, "obama-speech.jpg",
                                    "obama-blue-room.jpg", GROUP])  # fmt: skip
    biden = next(r for r in every if name_of(r) == "biden-portrait.jpg")
    found = {name_of(r) for r in query(home, f"face:{biden['id'][:6]}.0")}
    assert found == {"biden-portrait.jpg", GROUP}
    assert query(home, f"face:{biden['id'][:6]}.1") == []  # no such face
    # a rebuild makes the same faces from the stored -faces.json
    hg_build(home, "--rebuild")
    faces = {r["id"]: r["faces"] for r in every}
    assert {r["id"]: r["faces"] for r in query(home, "")} == faces
    assert len(query(home, f"face:{portrait['id'][:8]}.0")) == 5


# -- the api backend --------------------------------------------------------------------------


def test_api_faces_are_stored_verbatim_and_mapped_as_homegallery_does(tmp_path):
    src = face_photos(
        tmp_path / "src", ("obama-portrait.jpg", "obama-speech.jpg", "biden-portrait.jpg")
    )
    home = tmp_path / "home"
    stdin = run_index(home, src)
    with FakeApiServer() as server:
        code, records, stderr = run_extract(home, stdin, "--ml", "api", server.url, "--no-geo")
    assert code == 0, stderr
    ml = by_name(records)
    storage = home / "storage"
    for rec in ml.values():
        value = rec["faces"]
        assert value["model"] == "face-api" and len(value["data"]) == 1
        preview = layout.path(storage, rec["id"], layout.preview(800)).read_bytes()
        assert value["srcSha1sum"] == hashlib.sha1(preview).hexdigest()
        assert orjson.loads(layout.path(storage, rec["id"], layout.FACES).read_bytes()) == value
        assert set(value["data"][0]["descriptor"]) == {str(i) for i in range(128)}
    hg_build(home, stdin=b"".join(orjson.dumps(r) + b"\n" for r in records))
    every = {name_of(r): r for r in query(home, "count(faces) = 1")}
    assert sorted(every) == sorted(ml)
    [face] = every["obama-speech.jpg"]["faces"]
    box = ml["obama-speech.jpg"]["faces"]["data"][0]["alignedRect"]["box"]
    width = ml["obama-speech.jpg"]["faces"]["width"]
    assert face["x"] == round(box["x"] / width, 3) and face["width"] == round(
        box["width"] / width, 2
    )
    # HomeGallery's mapper: age to 1 decimal, gender only above 0.7, top two expressions > 0.3
    assert (face["age"], face["gender"], face["expressions"]) == (
        34.6,
        "unknown",
        ["neutral", "happy"],
    )
    assert "descriptor" not in face and face["score"] >= 0.7
    # free text finds face expressions and the age decade, as HomeGallery's
    assert len(query(home, "happy")) == 3 and len(query(home, "30s")) == 3
    portrait = every["obama-portrait.jpg"]["id"]
    assert {name_of(r) for r in query(home, f"face:{portrait[:7]}.0")} == {
        "obama-portrait.jpg",
        "obama-speech.jpg",
    }
