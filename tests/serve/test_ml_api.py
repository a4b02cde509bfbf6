"""`hg-serve --ml-api` on 127.0.0.1: HomeGallery's api-server endpoints answered by the local
models, checked against the models run here, then used by the real `hg-extract --ml api URL`
(a Raspberry Pi's run) and compared with `--ml local` on the same photos."""

from __future__ import annotations

import hashlib
import io
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import orjson
import pytest
from PIL import Image

from hg_common import layout
from hg_extract.ml import faces as face_model
from hg_extract.ml import local
from hg_serve.passwords import hash_password
from tests.conftest import media_file, run_tool
from tests.extract.conftest import run_extract, run_index
from tests.serve.conftest import start_server

CARS = "exif-samples/jpg/gps/DSCN0029.jpg"  # parked cars
PERSON = "exif-samples/jpg/gps/DSCN0040.jpg"
PHOTOS = [CARS, PERSON, "exif-samples/jpg/gps/DSCN0010.jpg"]
FACES = ["faces/obama-portrait.jpg", "faces/obama-speech.jpg", "faces/biden-portrait.jpg"]
JPEG = {"Content-Type": "image/jpeg"}


@pytest.fixture(scope="module")
def ml_server(tmp_path_factory):
    """hg-serve --ml-api on an empty home (no gallery needed to lend the model)."""
    home = tmp_path_factory.mktemp("mlapi") / "home"
    home.mkdir()
    srv = start_server(home, "--ml-api")
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def model():
    return local.LocalModel(threads=1)


def cosine(a, b) -> float:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))


def labels(objects: dict, min_score: float = 0.3) -> set[str]:
    return {o["class"] for o in objects["data"] if o["score"] >= min_score}


@pytest.mark.parametrize("rel", [CARS, PERSON])
def test_the_answers_are_the_local_models_in_the_api_servers_shape(ml_server, model, rel):
    body = media_file(rel).read_bytes()
    emb = ml_server.post("/embeddings", data=body, headers=JPEG)
    obj = ml_server.post("/objects", data=body, headers=JPEG)
    assert emb.status_code == obj.status_code == 200
    assert emb.headers["content-type"] == "application/json"
    emb, obj = emb.json(), obj.json()
    sha1 = hashlib.sha1(body).hexdigest()
    assert set(emb) == {"srcSha1sum", "model", "version", "dim", "created", "data"}
    assert set(obj) == {"srcSha1sum", "model", "version", "created", "width", "height", "data"}
    assert emb["srcSha1sum"] == obj["srcSha1sum"] == sha1
    assert (emb["model"], emb["version"], emb["dim"]) == (
        local.MODEL_NAME,
        local.MODEL_VERSION,
        720,
    )
    with Image.open(io.BytesIO(body)) as img:
        assert (obj["width"], obj["height"]) == img.size
    here = model.analyse(media_file(rel))  # the same model in this process
    assert len(emb["data"]) == 720 and cosine(emb["data"], here.embedding) > 0.9999
    expected = local.objects_json(here)["data"]
    assert [o["class"] for o in obj["data"]] == [o["class"] for o in expected]
    for got, want in zip(obj["data"], expected, strict=True):
        assert set(got) == {"bbox", "class", "score"} and len(got["bbox"]) == 4
        assert got["score"] == pytest.approx(want["score"], abs=0.002)
    assert ("car" if rel == CARS else "person") in labels(obj)


def test_faces_are_dlibs_in_face_apis_shape_and_health_answers(ml_server):
    """/faces: the faces the local dlib pass finds on the same JPEG, in the shape of
    HomeGallery's api-server (face-api's results), under hg's face model and version."""
    here = face_model.FaceModel()
    for rel, count in [("faces/obama-portrait.jpg", 1), ("faces/biden-portrait.jpg", 1), (CARS, 0)]:
        body = media_file(rel).read_bytes()
        resp = ml_server.post("/faces", data=body, headers=JPEG)
        assert resp.status_code == 200, resp.text
        answer = resp.json()
        assert set(answer) == {"srcSha1sum", "model", "version", "created", "width", "height",
                               "data"}  # fmt: skip
        assert answer["srcSha1sum"] == hashlib.sha1(body).hexdigest()
        assert (answer["model"], answer["version"]) == (
            face_model.MODEL_NAME,
            face_model.MODEL_VERSION,
        )
        with Image.open(io.BytesIO(body)) as img:
            assert (answer["width"], answer["height"]) == img.size
            want = here.run(face_model.rgb_array(img.convert("RGB")))
        assert len(answer["data"]) == len(want.faces) == count, rel
        for got, face in zip(answer["data"], want.faces, strict=True):
            assert set(got) == {"alignedRect", "landmarks", "descriptor"}
            box = got["alignedRect"]["box"]
            assert [box[k] for k in ("x", "y", "width", "height")] == list(face.box)
            assert got["alignedRect"]["score"] == round(face.score, 3)
            assert len(got["landmarks"]["positions"]) == 5
            # face-api's Float32Array as JSON: {"0": …, "127": …}
            descriptor = [got["descriptor"][str(i)] for i in range(128)]
            assert len(got["descriptor"]) == 128
            assert np.abs(np.asarray(descriptor) - face.descriptor).max() < 1e-3
    health = ml_server.get("/health").json()
    assert health["health"] == "OK" and health["uptime"] >= 0


def _png() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (64, 48)).save(buf, "PNG")
    return buf.getvalue()


def _huge_jpeg() -> bytes:
    """A small JPEG whose frame header (SOF0) says 8000x8000 pixels (64 MP: under Pillow's
    own bomb limit, so hg's is what refuses it)."""
    buf = io.BytesIO()
    Image.new("RGB", (16, 16)).save(buf, "JPEG")
    data = bytearray(buf.getvalue())
    sof = data.index(b"\xff\xc0")
    data[sof + 5 : sof + 9] = (8000).to_bytes(2, "big") * 2  # height, width
    return bytes(data)


@pytest.mark.parametrize(
    "body,headers,status,message",
    [
        (b"", JPEG, 400, "the body is empty"),
        (b"hello, not a picture", JPEG, 400, "not a JPEG image"),
        ("png", JPEG, 400, "not a JPEG image"),
        ("truncated", JPEG, 400, "not a readable JPEG"),
        ("huge", JPEG, 400, "more than 40 megapixels"),
        (b"\xff\xd8" + b"\0" * (2 << 20), JPEG, 413, "larger than 2 MiB"),
        ("cars", {"Content-Type": "image/png"}, 415, "Content-Type must be image/jpeg"),
        ("cars", {}, 415, "Content-Type must be image/jpeg"),
    ],
)
def test_a_bad_body_is_a_4xx_json_error_and_the_server_goes_on(
    ml_server, body, headers, status, message
):
    if body == "png":
        body = _png()
    elif body == "truncated":
        body = media_file("tricky/truncated.jpg").read_bytes()
    elif body == "huge":
        body = _huge_jpeg()
    elif body == "cars":
        body = media_file(CARS).read_bytes()
    for endpoint in ("/embeddings", "/objects", "/faces"):
        resp = ml_server.post(endpoint, data=body, headers=headers)
        assert resp.status_code == status, resp.text
        assert message in resp.json()["error"]
    ok = ml_server.post("/objects", data=media_file(CARS).read_bytes(), headers=JPEG)
    assert ok.status_code == 200 and ml_server.proc.poll() is None


def test_a_body_larger_than_its_content_length_says_is_cut(ml_server):
    """Chunked (no Content-Length): the limit holds while reading."""

    def chunks():
        for _ in range(40):
            yield b"\xff" * (100 << 10)

    resp = ml_server.post("/objects", data=chunks(), headers=JPEG)
    assert resp.status_code == 413


def test_concurrent_requests_all_get_their_own_answer(ml_server):
    """Objects and faces at once (the two models have a lock each, one dlib model)."""
    bodies = [media_file(rel).read_bytes() for rel in [*PHOTOS, FACES[0]]] * 3
    asks = [(path, b) for b in bodies for path in ("/objects", "/faces")]
    with ThreadPoolExecutor(6) as pool:
        answers = list(
            pool.map(lambda a: ml_server.post(a[0], data=a[1], headers=JPEG).json(), asks)
        )
    assert [a["srcSha1sum"] for a in answers] == [hashlib.sha1(b).hexdigest() for _, b in asks]
    for n in range(8):  # each photo's objects and faces the same all three times
        assert answers[n]["data"] == answers[n + 8]["data"] == answers[n + 16]["data"]
    assert len(answers[7]["data"]) == 1  # the portrait's face


def test_without_the_flag_there_are_no_model_routes(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    srv = start_server(home)
    try:
        resp = srv.post("/objects", data=media_file(CARS).read_bytes(), headers=JPEG)
        assert resp.status_code in (404, 405)
    finally:
        srv.stop()


def test_the_config_key_turns_it_on(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    (home / "config.toml").write_text('[server]\nml_api = true\nbase_path = "/g"\n')
    srv = start_server(home)
    srv.url += "/g"  # the routes live under the base path like the rest
    try:
        resp = srv.post("/objects", data=media_file(CARS).read_bytes(), headers=JPEG)
        assert resp.status_code == 200 and "car" in labels(resp.json())
    finally:
        srv.stop()


def test_a_damaged_model_is_a_clear_503_and_the_gallery_stays_up(tmp_path):
    damaged = tmp_path / "model.onnx"
    data = bytearray(local.MODEL_FILE.read_bytes())
    data[len(data) // 2] ^= 0xFF
    damaged.write_bytes(bytes(data))
    home = tmp_path / "home"
    home.mkdir()
    srv = start_server(home, "--ml-api", env={local.MODEL_ENV: str(damaged)})
    try:
        body = media_file(CARS).read_bytes()
        for endpoint in ("/embeddings", "/objects", "/objects"):
            resp = srv.post(endpoint, data=body, headers=JPEG)
            assert resp.status_code == 503
            assert f"model file {damaged} is damaged: sha256" in resp.json()["error"]
        assert srv.get("/api/info").status_code == 200 and srv.get("/").status_code == 200
        assert srv.proc.poll() is None
        assert "is damaged" in srv.log.read_text()  # said at start, not only per request
    finally:
        srv.stop()


def test_a_damaged_face_model_is_a_503_of_faces_alone(tmp_path):
    models = tmp_path / "models"
    models.mkdir()
    for name in face_model.MODEL_SHA256:
        shutil.copyfile(face_model.models_dir() / name, models / name)
    damaged = models / face_model.DESCRIPTOR_FILE
    data = bytearray(damaged.read_bytes())
    data[len(data) // 2] ^= 0xFF
    damaged.write_bytes(bytes(data))
    home = tmp_path / "home"
    home.mkdir()
    srv = start_server(home, "--ml-api", env={face_model.MODELS_ENV: str(models)})
    try:
        body = media_file(FACES[0]).read_bytes()
        for _ in range(2):  # the same error again, without loading again
            resp = srv.post("/faces", data=body, headers=JPEG)
            assert resp.status_code == 503
            assert f"face model {damaged} is damaged: sha256" in resp.json()["error"]
        assert srv.post("/objects", data=body, headers=JPEG).status_code == 200
        assert "(reinstall face_recognition_models); /faces answer 503" in srv.log.read_text()
    finally:
        srv.stop()


def test_with_users_the_routes_need_a_login_basic_works(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    (home / "config.toml").write_text(
        f'[server]\nml_api = true\n\n[[server.users]]\nname = "pi"\n'
        f'password = "{hash_password("pi-secret")}"\nfilter = "tag:nothing"\n'
    )
    srv = start_server(home)
    try:
        body = media_file(CARS).read_bytes()
        anonymous = srv.post("/objects", data=body, headers=JPEG)
        assert anonymous.status_code == 401  # JSON, not a redirect to the login page
        assert anonymous.json() == {"error": "authentication required"}
        assert anonymous.headers["www-authenticate"] == 'Basic realm="hg"'
        wrong = srv.post("/objects", data=body, headers=JPEG, auth=("pi", "nope"))
        assert wrong.status_code == 401
        ok = srv.post("/objects", data=body, headers=JPEG, auth=("pi", "pi-secret"))
        assert ok.status_code == 200 and "car" in labels(ok.json())
    finally:
        srv.stop()


# -- a Raspberry Pi's hg-extract against it -------------------------------------------------


def _extract(home: Path, src: Path, *args: str) -> tuple[int, list[dict], str]:
    return run_extract(home, run_index(home, src), "--no-geo", "--no-video", *args)


def test_hg_extract_on_a_pi_gets_what_the_local_model_gives_and_cars_are_found(ml_server, tmp_path):
    src = tmp_path / "src"
    for rel in PHOTOS + FACES:
        (src / Path(rel).name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(media_file(rel), src / Path(rel).name)
    pi, here = tmp_path / "pi", tmp_path / "here"
    code, records, stderr = _extract(pi, src, "--ml", "api", ml_server.url)
    assert code == 0, stderr
    assert "not offered" not in stderr
    code, local_records, stderr = _extract(here, src, "--ml", "local", "--jobs", "1")
    assert code == 0, stderr
    ids = {e["files"][0]["path"]: e["id"] for e in records if e["type"] == "entry"}
    assert len(ids) == 6 and len([r for r in records if r["type"] == "ml"]) == 6
    for name, entry_id in ids.items():
        api_sim, local_sim = (
            orjson.loads(layout.path(h / "storage", entry_id, layout.SIMILARITY).read_bytes())
            for h in (pi, here)
        )
        api_obj, local_obj = (
            orjson.loads(layout.path(h / "storage", entry_id, layout.OBJECTS).read_bytes())
            for h in (pi, here)
        )
        assert (api_sim["model"], api_sim["version"]) == (local_sim["model"], local_sim["version"])
        assert cosine(api_sim["data"], local_sim["data"]) > 0.9999, name
        assert labels(api_obj) == labels(local_obj), name
        assert (api_obj["width"], api_obj["height"]) == (local_obj["width"], local_obj["height"])
    # hg-build makes searchable objects of them, and the same faces as of --ml local
    for home, recs in ((pi, records), (here, local_records)):
        stdin = b"".join(orjson.dumps(r) + b"\n" for r in recs)
        assert run_tool("hg-build", "-q", home=home, stdin=stdin).returncode == 0
    found = run_tool("hg-build", "query", "object:car", "--ids", home=pi)
    assert found.returncode == 0 and ids["DSCN0029.jpg"] in found.stdout.decode()
    person = run_tool("hg-build", "query", "object:person", "--ids", home=pi)
    assert ids["DSCN0040.jpg"] in person.stdout.decode()
    pi_faces, local_faces = (
        {r["id"]: r["faces"] for r in run_tool("hg-build", "query", "", home=h).records}
        for h in (pi, here)
    )
    assert pi_faces.keys() == local_faces.keys() == set(ids.values())
    assert sum(len(f) for f in pi_faces.values()) >= 3  # a face in each face photo
    for entry_id, got in pi_faces.items():
        want = local_faces[entry_id]
        assert len(got) == len(want), entry_id
        for a, b in zip(got, want, strict=True):
            for key in ("x", "y", "width", "height"):  # relative: 0.005 is 4 px of 800
                assert abs(a[key] - b[key]) <= 0.005, (entry_id, key)
            assert a["score"] == b["score"]
    # the Pi's descriptors are the local model's: the face search finds Obama, not Biden
    obama = ids["obama-portrait.jpg"]
    for home in (pi, here):
        same = run_tool("hg-build", "query", f"face:{obama}.0", "--ids", home=home)
        assert set(same.stdout.decode().split()) == {obama, ids["obama-speech.jpg"]}
    # a re-run asks nothing: all three answers are stored
    code, again, stderr = _extract(pi, src, "--ml", "api", ml_server.url)
    assert code == 0 and not [r for r in again if r["type"] == "ml"], stderr


def test_hg_extract_logs_in_with_credentials_in_the_url(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    (home / "config.toml").write_text(
        f'[server]\nml_api = true\n\n[[server.users]]\nname = "pi"\n'
        f'password = "{hash_password("pi-secret")}"\n'
    )
    srv = start_server(home)
    try:
        src = tmp_path / "src"
        src.mkdir()
        shutil.copyfile(media_file(CARS), src / "cars.jpg")
        host = srv.url.removeprefix("http://")
        code, records, stderr = _extract(
            tmp_path / "pi", src, "--ml", "api", f"http://pi:pi-secret@{host}"
        )
        assert code == 0, stderr
        [ml] = [r for r in records if r["type"] == "ml"]
        assert "car" in labels(ml["objects"])
        code, records, stderr = _extract(
            tmp_path / "pi2", src, "--ml", "api", f"http://pi:wrong@{host}"
        )
        assert code == 1
        [error] = [r for r in records if r["type"] == "error"]
        assert "HTTP 401" in error["error"] and "wrong" not in error["error"] + stderr
    finally:
        srv.stop()
