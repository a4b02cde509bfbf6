"""The ML step through the real `hg-index | hg-extract`: after the entries, on the 800 px
previews, stored beside its model, skipped when done, recomputed for a new model version,
off when asked; bad input (a damaged preview or model, a failing api server) is an error
record for that entry and nothing stored."""

from __future__ import annotations

import hashlib
import subprocess

import orjson
import pytest
from PIL import Image

from hg_common import layout
from hg_extract.ml import local
from tests.extract.api_server import FakeApiServer

from .conftest import BIN, copy_media, hg_env, run_extract, run_index

PICKS = [
    "exif-samples/jpg/gps/DSCN0010.jpg",
    "tricky/duplicates/DSCN0010 copy.jpg",  # the same bytes: one entry id, one pass
    "exif-samples/jpg/gps/DSCN0029.jpg",
    "exif-samples/jpg/gps/DSCN0040.jpg",
    "exif-samples/heic/mobile/iphone_13_pro_max.HEIC",  # 4032x3024: the model sees 800 px
    "tricky/rotated90-gps.mp4",  # a video: no ML step (as HomeGallery)
]
ML_FILES = (layout.SIMILARITY, layout.OBJECTS)


def entries(records):
    return [r for r in records if r["type"] == "entry"]


def kinds(records, kind):
    return [r for r in records if r["type"] == kind]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    base = tmp_path_factory.mktemp("ml")
    src = copy_media(base / "src", PICKS)
    home = base / "home"
    stdin = run_index(home, src)
    code, records, stderr = run_extract(home, stdin, "--jobs", "2", "--no-geo")
    assert code == 0, stderr
    return {"home": home, "src": src, "stdin": stdin, "records": records, "stderr": stderr}


def test_ml_records_follow_their_entries_one_per_photo(run):
    records, storage = run["records"], run["home"] / "storage"
    ml = kinds(records, "ml")
    images = {e["id"]: e for e in entries(records) if e["media_type"] == "image"}
    assert len(images) == 4 and len(entries(records)) == 6  # the copy is its own entry
    assert sorted(r["id"] for r in ml) == sorted(images)  # one pass for both copies
    position = {id(r): i for i, r in enumerate(records)}
    for rec in ml:
        first_entry = min(position[id(e)] for e in entries(records) if e["id"] == rec["id"])
        assert position[id(rec)] > first_entry  # the previews reached the gallery first
        sim, obj = rec["similarity"], rec["objects"]
        assert (sim["model"], sim["version"], sim["dim"]) == (
            local.MODEL_NAME,
            local.MODEL_VERSION,
            720,
        )
        assert len(sim["data"]) == 720 and obj["model"] == local.MODEL_NAME
        primaries = {e["files"][0]["path"] for e in entries(records) if e["id"] == rec["id"]}
        assert rec["path"] in primaries
        for what in ML_FILES:  # stored as they were printed
            assert orjson.loads(layout.path(storage, rec["id"], what).read_bytes()) == (
                sim if what == layout.SIMILARITY else obj
            )
        assert "similarity" not in images[rec["id"]]  # not yet in the entry record
    video = next(e for e in entries(records) if e["media_type"] == "video")
    assert not any(layout.path(storage, video["id"], w).exists() for w in ML_FILES)
    assert "4 analysed (similar images, objects, faces)" in run["stderr"]


def test_the_model_sees_the_800_px_preview_never_the_original(run):
    heic = next(e for e in entries(run["records"]) if e["files"][0]["path"].endswith(".HEIC"))
    objects = orjson.loads(
        layout.path(run["home"] / "storage", heic["id"], layout.OBJECTS).read_bytes()
    )
    assert heic["files"][0]["meta"]["width"] == 4032
    with Image.open(layout.path(run["home"] / "storage", heic["id"], layout.preview(800))) as p:
        assert (objects["width"], objects["height"]) == p.size and max(p.size) == 800


def test_labels_found_in_the_pipeline(run):
    labels = {
        r["path"].rsplit("/", 1)[-1]: {
            o["class"] for o in r["objects"]["data"] if o["score"] >= 0.3
        }
        for r in kinds(run["records"], "ml")
    }
    assert "car" in labels["DSCN0029.jpg"] and "person" in labels["DSCN0040.jpg"]


def test_a_rerun_skips_the_step_and_the_entries_carry_its_results(run):
    storage = run["home"] / "storage"
    stamps = {p: p.stat().st_mtime_ns for p in storage.rglob("*-similarity.json")}
    code, records, stderr = run_extract(run["home"], run["stdin"], "--jobs", "2", "--no-geo")
    assert code == 0, stderr
    assert kinds(records, "ml") == [] and "analysed" not in stderr
    first = {r["id"]: r for r in kinds(run["records"], "ml")}
    for entry in entries(records):
        if entry["id"] in first:
            assert entry["similarity"] == first[entry["id"]]["similarity"]
            assert entry["objects"] == first[entry["id"]]["objects"]
        else:
            assert "similarity" not in entry  # the video
    assert {p: p.stat().st_mtime_ns for p in storage.rglob("*-similarity.json")} == stamps


def test_a_new_model_version_is_computed_again(tmp_path):
    src = copy_media(tmp_path / "src", PICKS[2:4])
    home = tmp_path / "home"
    stdin = run_index(home, src)
    code, records, _ = run_extract(home, stdin, "--jobs", "1", "--no-geo")
    assert code == 0 and len(kinds(records, "ml")) == 2
    old = kinds(records, "ml")[0]["id"]
    path = layout.path(home / "storage", old, layout.SIMILARITY)
    value = orjson.loads(path.read_bytes())
    path.write_bytes(orjson.dumps({**value, "version": "older"}))
    code, records, _ = run_extract(home, stdin, "--jobs", "1", "--no-geo")
    assert code == 0 and [r["id"] for r in kinds(records, "ml")] == [old]
    assert orjson.loads(path.read_bytes())["version"] == local.MODEL_VERSION


def test_ml_off_per_run_and_in_config(tmp_path):
    src = copy_media(tmp_path / "src", PICKS[2:3])
    home = tmp_path / "home"
    stdin = run_index(home, src)
    code, records, _ = run_extract(home, stdin, "--ml", "off", "--no-geo")
    assert code == 0 and kinds(records, "ml") == [] and len(entries(records)) == 1
    assert not list((home / "storage").rglob("*-similarity.json"))
    (home / "config.toml").write_text('[extract]\nml = "off"\n')
    code, records, _ = run_extract(home, stdin, "--no-geo")
    assert code == 0 and kinds(records, "ml") == []
    code, records, _ = run_extract(home, stdin, "--ml", "local", "--no-geo")  # the flag wins
    assert code == 0 and len(kinds(records, "ml")) == 1


@pytest.mark.parametrize(
    "args,config,message",
    [
        (["--ml", "bogus"], "", "--ml must be local, api URL or off"),
        (["--ml", "api"], "", "--ml api needs the server's URL"),
        (["--ml", "local", "http://127.0.0.1:1"], "", "--ml local takes no URL"),
        (["--ml", "api", "ftp://x"], "", "must be http(s)"),
        ([], '[extract]\nml = "remote"\n', "must be one of local, api, off"),
        ([], "[extract]\napi_concurrency = 50\n", "must be 1..20"),
    ],
)
def test_bad_ml_settings_are_usage_errors(tmp_path, args, config, message):
    home = tmp_path / "home"
    home.mkdir()
    if config:
        (home / "config.toml").write_text(config)
    code, _, stderr = run_extract(home, b"", *args)
    assert code == 2 and message in stderr, stderr


def test_a_preview_the_model_cannot_read_is_that_entrys_error(tmp_path):
    src = copy_media(tmp_path / "src", PICKS[2:4])
    home = tmp_path / "home"
    stdin = run_index(home, src)
    code, records, _ = run_extract(home, stdin, "--ml", "off", "--no-geo")
    assert code == 0
    bad, good = entries(records)
    layout.path(home / "storage", bad["id"], layout.preview(800)).write_bytes(b"garbage")
    code, records, stderr = run_extract(home, stdin, "--no-geo")
    assert code == 1, stderr
    [error] = kinds(records, "error")
    assert error["ml"] is True and error["id"] == bad["id"]
    assert error["path"] == bad["files"][0]["path"] and error["stage"] == "extract"
    assert error["error"].startswith("similar images and objects: the preview cannot be read")
    assert [r["id"] for r in kinds(records, "ml")] == [good["id"]]
    assert len(entries(records)) == 2  # the photo itself is fine
    assert not any(layout.path(home / "storage", bad["id"], w).exists() for w in ML_FILES)


def test_a_damaged_model_is_a_clear_error_for_each_entry_nothing_stored(tmp_path):
    src = copy_media(tmp_path / "src", PICKS[2:4])
    home = tmp_path / "home"
    damaged = tmp_path / "model.onnx"
    data = bytearray(local.MODEL_FILE.read_bytes())
    data[len(data) // 3] ^= 0x55
    damaged.write_bytes(bytes(data))
    proc = subprocess.run(
        [BIN / "hg-extract", "--no-progress", "--no-geo", "--jobs", "2"],
        input=run_index(home, src),
        env={**hg_env(home), "HG_ML_MODEL": str(damaged)},
        capture_output=True,
        timeout=300,
    )
    records = [orjson.loads(line) for line in proc.stdout.splitlines()]
    assert proc.returncode == 1
    errors = kinds(records, "error")
    assert len(errors) == 2 and len(entries(records)) == 2
    # the face pass has models of its own: its results are kept
    assert all("similarity" not in r and "faces" in r for r in kinds(records, "ml"))
    assert all(f"model file {damaged} is damaged: sha256" in e["error"] for e in errors)
    assert not list((home / "storage").rglob("*-similarity.json"))
    assert not list((home / "storage").rglob("*-objects.json"))


# -- the api backend ------------------------------------------------------------------------


def test_api_backend_sends_the_800_px_preview_and_keeps_the_answers_verbatim(tmp_path):
    src = copy_media(tmp_path / "src", PICKS[2:5])
    home = tmp_path / "home"
    stdin = run_index(home, src)
    with FakeApiServer() as server:
        code, records, stderr = run_extract(home, stdin, "--ml", "api", server.url, "--no-geo")
    assert code == 0, stderr
    storage = home / "storage"
    ml = kinds(records, "ml")
    assert len(ml) == 3 and len(server.requests) == 9
    assert sorted({r["path"] for r in server.requests}) == ["/embeddings", "/faces", "/objects"]
    assert {r["content_type"] for r in server.requests} == {"image/jpeg"}
    for rec in ml:
        preview = layout.path(storage, rec["id"], layout.preview(800)).read_bytes()
        sha1 = hashlib.sha1(preview).hexdigest()  # the preview went, not the original
        assert {r["sha1"] for r in server.requests if r["sha1"] == sha1} == {sha1}
        for what in (layout.SIMILARITY, layout.OBJECTS, layout.FACES):
            stored = orjson.loads(layout.path(storage, rec["id"], what).read_bytes())
            assert stored["srcSha1sum"] == sha1
        assert rec["similarity"]["model"] == "mobilenet" and len(rec["similarity"]["data"]) == 1024
        assert rec["objects"]["data"] == server.objects
    # a re-run asks nothing: the three answers exist
    with FakeApiServer() as again:
        code, records, _ = run_extract(home, stdin, "--ml", "api", again.url, "--no-geo")
    assert code == 0 and again.requests == [] and kinds(records, "ml") == []


def test_api_asks_for_the_faces_alone_beside_hgs_own_pair(tmp_path):
    """hg's current pair stored without faces (by an hg-serve --ml-api from before it
    answered /faces, or --ml local --no-faces): --ml api asks /faces alone; a server without
    faces (501) is asked once a run, and that is no entry's error."""
    src = copy_media(tmp_path / "src", ["faces/obama-portrait.jpg", "faces/biden-portrait.jpg"])
    home = tmp_path / "home"
    stdin = run_index(home, src)
    code, records, stderr = run_extract(home, stdin, "--ml", "local", "--no-faces", "--no-geo")
    assert code == 0 and len(kinds(records, "ml")) == 2, stderr
    storage = home / "storage"
    assert not list(storage.rglob("*-faces.json"))
    for _ in range(2):  # each run asks the server that has none (once, but for the
        with FakeApiServer() as server:  # requests already in flight at its first 501)
            server.mode["faces"] = "501"
            code, records, stderr = run_extract(home, stdin, "--ml", "api", server.url, "--no-geo")
        assert code == 0, stderr
        assert set(server.paths()) == {"/faces"} and kinds(records, "ml") == []
        assert kinds(records, "error") == []
    with FakeApiServer() as server:
        code, records, stderr = run_extract(home, stdin, "--ml", "api", server.url, "--no-geo")
    assert code == 0, stderr
    assert server.paths() == ["/faces", "/faces"]
    ml = kinds(records, "ml")
    assert len(ml) == 2 and all("faces" in r and "objects" not in r for r in ml)
    assert all(len(r["faces"]["data"]) == 1 for r in ml)
    assert len(list(storage.rglob("*-faces.json"))) == 2
    with FakeApiServer() as again:  # now complete: nothing asked
        code, records, _ = run_extract(home, stdin, "--ml", "api", again.url, "--no-geo")
    assert code == 0 and again.requests == [] and kinds(records, "ml") == []


def test_api_errors_are_error_records_and_a_failing_detector_is_disabled(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    for n in range(8):
        Image.new("RGB", (300, 200), (n * 30, 100, 200 - n * 20)).save(src / f"p{n}.jpg")
    home = tmp_path / "home"
    (home).mkdir()
    (home / "config.toml").write_text("[extract]\napi_concurrency = 1\n")
    stdin = run_index(home, src)
    with FakeApiServer() as server:
        server.mode["objects"] = "500"
        server.mode["faces"] = "malformed"
        code, records, stderr = run_extract(home, stdin, "--ml", "api", server.url, "--no-geo")
    assert code == 1
    assert len(entries(records)) == 8 and len(kinds(records, "ml")) == 8  # embeddings came
    errors = kinds(records, "error")  # then both are disabled: the rest are not asked
    assert len(errors) == 8 and all(e["ml"] for e in errors)  # but still each one's error
    assert "HTTP 500: model failed" in errors[0]["error"]
    assert "/faces: the answer is not JSON" in errors[0]["error"]
    late = [e["error"] for e in errors if "not asked" in e["error"]]
    assert len(late) == 2 and all("/objects: not asked, disabled" in e for e in late)
    assert server.paths().count("/objects") == 6  # disabled after more than 5 errors
    assert "disabled for this run after 6 errors" in stderr
    storage = home / "storage"
    assert len(list(storage.rglob("*-similarity.json"))) == 8
    assert not list(storage.rglob("*-objects.json")) and not list(storage.rglob("*-faces.json"))
    assert all("objects" not in r for r in kinds(records, "ml"))


def test_an_api_server_that_does_not_answer_in_time(tmp_path):
    src = copy_media(tmp_path / "src", PICKS[2:3])
    home = tmp_path / "home"
    stdin = run_index(home, src)
    with FakeApiServer() as server:
        server.mode = dict.fromkeys(("embeddings", "objects", "faces"), "slow")
        server.delay = 2
        code, records, _ = run_extract(
            home, stdin, "--ml", "api", server.url, "--api-timeout", "0.3", "--no-geo"
        )
    assert code == 1 and len(entries(records)) == 1 and kinds(records, "ml") == []
    [error] = kinds(records, "error")
    assert error["error"].count("no answer within 0.3 s") == 3
    assert not list((home / "storage").rglob("*-similarity.json"))
